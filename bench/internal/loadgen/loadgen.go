// SPDX-License-Identifier: Apache-2.0

// Package loadgen sends a pre-encoded OTLP trace export request as raw bytes
// over several gRPC connections, at the highest rate the server accepts or at a
// fixed rate, and counts accepted and rejected spans.
package loadgen // import "github.com/otelcol-edge/otelcol-edge/bench/internal/loadgen"

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otelcol-edge/otelcol-edge/bench/internal/otlpwire"
)

// Config describes one load run. A run stops at whichever comes first:
// Duration elapsed or MaxSpans attempted (0 disables either bound, but at least
// one must be set).
type Config struct {
	// Endpoint is the host:port of the OTLP/gRPC receiver (127.0.0.1 only).
	Endpoint string
	// Payload is the encoded ExportTraceServiceRequest sent on every call.
	Payload []byte
	// Connections is the number of gRPC connections.
	Connections int
	// Workers is the number of concurrent callers per connection; the in-flight
	// requests are bounded by Connections*Workers.
	Workers int
	// Rate is the target rate in spans per second; 0 means as fast as accepted.
	Rate float64
	// Duration bounds the run time.
	Duration time.Duration
	// MaxSpans bounds the spans attempted (accepted or rejected).
	MaxSpans int64
	// UniqueIDs rewrites the trace and span IDs of every request in place so
	// that no two spans sent share an ID.
	UniqueIDs bool
	// Timeout bounds one call.
	Timeout time.Duration
	// ErrorBackoff is how long a worker pauses after a failed call.
	ErrorBackoff time.Duration
	// Progress, when set, is increased by the accepted spans as they are
	// acknowledged, so a caller can follow a run while it goes on.
	Progress *atomic.Int64
	// OnAccepted, when set, is called after every fully accepted request
	// with the bytes that were sent (the caller must copy what it keeps:
	// the buffer is rewritten for the next request). Calls come from
	// several workers at once.
	OnAccepted func(req []byte)
	// Stop, when set, ends the run once it is true: workers finish the call
	// they have in flight (so its outcome is known) and send no more.
	Stop *atomic.Bool
	// IDSeed selects the sequence of unique IDs (UniqueIDs): runs with
	// different seeds send different IDs; runs with the same seed repeat them.
	IDSeed uint64
}

// Result is the outcome of a run.
type Result struct {
	Accepted  int64
	Rejected  int64
	Requests  int64
	Failures  int64
	Elapsed   time.Duration
	LastError string
}

// SpansPerSecond is the accepted rate.
func (r Result) SpansPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Accepted) / r.Elapsed.Seconds()
}

// Run executes one load run and returns its counts.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Duration <= 0 && cfg.MaxSpans <= 0 {
		return Result{}, errors.New("loadgen: set Duration or MaxSpans")
	}
	spansPerReq, err := otlpwire.CountSpans(cfg.Payload)
	if err != nil || spansPerReq == 0 {
		return Result{}, fmt.Errorf("loadgen: bad payload (%d spans): %v", spansPerReq, err)
	}
	if cfg.Connections < 1 {
		cfg.Connections = 1
	}
	if cfg.Workers < 1 {
		cfg.Workers = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.ErrorBackoff <= 0 {
		cfg.ErrorBackoff = 20 * time.Millisecond
	}
	var ids *idPlan
	if cfg.UniqueIDs {
		if ids, err = newIDPlan(cfg.Payload); err != nil {
			return Result{}, err
		}
	}

	conns := make([]*grpc.ClientConn, 0, cfg.Connections)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for range cfg.Connections {
		c, err := grpc.NewClient(cfg.Endpoint,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.ForceCodec(otlpwire.RawCodec{}), grpc.MaxCallSendMsgSize(64<<20)),
		)
		if err != nil {
			return Result{}, err
		}
		conns = append(conns, c)
	}

	runCtx := ctx
	var cancel context.CancelFunc = func() {}
	if cfg.Duration > 0 {
		runCtx, cancel = context.WithTimeout(ctx, cfg.Duration)
	}
	defer cancel()

	var (
		accepted, rejected, requests, failures atomic.Int64
		slots                                  atomic.Int64 // requests handed out
		lastErr                                atomic.Value
	)
	maxReqs := int64(-1)
	if cfg.MaxSpans > 0 {
		maxReqs = (cfg.MaxSpans + spansPerReq - 1) / spansPerReq
	}
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(spansPerReq) / cfg.Rate)
	}
	start := time.Now()
	var wg sync.WaitGroup
	workerID := 0
	for _, conn := range conns {
		for range cfg.Workers {
			workerID++
			wg.Add(1)
			go func(conn *grpc.ClientConn, id int) {
				defer wg.Done()
				buf := cfg.Payload
				if cfg.UniqueIDs {
					buf = append([]byte(nil), cfg.Payload...)
				}
				var resp []byte
				var rw *idRewriter
				if ids != nil {
					rw = ids.rewriter(uint64(id), cfg.IDSeed)
				}
				for runCtx.Err() == nil {
					if cfg.Stop != nil && cfg.Stop.Load() {
						return
					}
					k := slots.Add(1) - 1
					if maxReqs >= 0 && k >= maxReqs {
						return
					}
					if interval > 0 {
						due := start.Add(time.Duration(k) * interval)
						if d := time.Until(due); d > 0 {
							t := time.NewTimer(d)
							select {
							case <-runCtx.Done():
								t.Stop()
								return
							case <-t.C:
							}
						}
					}
					if rw != nil {
						rw.rewrite(buf)
					}
					callCtx, callCancel := context.WithTimeout(ctx, cfg.Timeout)
					err := conn.Invoke(callCtx, otlpwire.ExportMethod, buf, &resp)
					callCancel()
					requests.Add(1)
					if err != nil {
						failures.Add(1)
						rejected.Add(spansPerReq)
						lastErr.Store(err.Error())
						select {
						case <-runCtx.Done():
						case <-time.After(cfg.ErrorBackoff):
						}
						continue
					}
					rej, _ := otlpwire.RejectedSpans(resp)
					if rej > spansPerReq {
						rej = spansPerReq
					}
					rejected.Add(rej)
					accepted.Add(spansPerReq - rej)
					if cfg.Progress != nil {
						cfg.Progress.Add(spansPerReq - rej)
					}
					if rej == 0 && cfg.OnAccepted != nil {
						cfg.OnAccepted(buf)
					}
				}
			}(conn, workerID)
		}
	}
	wg.Wait()
	res := Result{
		Accepted: accepted.Load(),
		Rejected: rejected.Load(),
		Requests: requests.Load(),
		Failures: failures.Load(),
		Elapsed:  time.Since(start),
	}
	if s, ok := lastErr.Load().(string); ok {
		res.LastError = s
	}
	return res, nil
}

// idPlan says, for every span of the payload, where its IDs are, which span
// of the request is the first of its trace and which one is its parent.
type idPlan struct {
	offs []otlpwire.SpanIDOffsets
	// traceFirst is the index of the first span of the request with the same
	// trace ID (the span itself when it starts the trace): the spans of one
	// trace need not be contiguous (a health check may sit between them).
	traceFirst []int
	parent     []int // index of the parent span in the request, -1 if none
}

func newIDPlan(req []byte) (*idPlan, error) {
	offs, err := otlpwire.IDOffsets(req)
	if err != nil {
		return nil, err
	}
	p := &idPlan{offs: offs, traceFirst: make([]int, len(offs)), parent: make([]int, len(offs))}
	bySpanID := make(map[string]int, len(offs))
	byTraceID := make(map[string]int, len(offs))
	for i, o := range offs {
		bySpanID[string(req[o.Span:o.Span+8])] = i
	}
	for i, o := range offs {
		tid := string(req[o.Trace : o.Trace+16])
		first, ok := byTraceID[tid]
		if !ok {
			first = i
			byTraceID[tid] = i
		}
		p.traceFirst[i] = first
		p.parent[i] = -1
		if o.Parent >= 0 {
			if j, ok := bySpanID[string(req[o.Parent:o.Parent+8])]; ok {
				p.parent[i] = j
			}
		}
	}
	return p, nil
}

// idRewriter gives every span sent by one worker fresh random-looking IDs
// (splitmix64 of a per-worker counter), keeps the spans of one trace together
// and keeps parent links inside the request.
type idRewriter struct {
	plan  *idPlan
	state uint64
	span  []uint64
	trace [][2]uint64 // new trace ID by span index (set at the first span of each trace)
}

func (p *idPlan) rewriter(worker, seed uint64) *idRewriter {
	return &idRewriter{plan: p, state: worker<<56 + seed<<32, span: make([]uint64, len(p.offs)), trace: make([][2]uint64, len(p.offs))}
}

func (r *idRewriter) next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *idRewriter) rewrite(buf []byte) {
	for i, o := range r.plan.offs {
		f := r.plan.traceFirst[i]
		if f == i {
			r.trace[i] = [2]uint64{r.next(), r.next()}
		}
		binary.BigEndian.PutUint64(buf[o.Trace:], r.trace[f][0])
		binary.BigEndian.PutUint64(buf[o.Trace+8:], r.trace[f][1])
		r.span[i] = r.next() | 1
		binary.BigEndian.PutUint64(buf[o.Span:], r.span[i])
	}
	for i, o := range r.plan.offs {
		if j := r.plan.parent[i]; j >= 0 {
			binary.BigEndian.PutUint64(buf[o.Parent:], r.span[j])
		}
	}
}
