// SPDX-License-Identifier: Apache-2.0

// Package sink is an OTLP/gRPC trace server that only counts spans: requests
// are read as raw bytes and walked once to count their spans.
package sink // import "github.com/otelcol-edge/otelcol-edge/bench/internal/sink"

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	// Exporters compress with gzip by default (the upstream otlp exporter does).
	_ "google.golang.org/grpc/encoding/gzip"

	"github.com/otelcol-edge/otelcol-edge/bench/internal/otlpwire"
)

// Sink counts the spans it receives. It can be started after the collectors
// that export to it (replay scenarios) and stopped and started again.
type Sink struct {
	addr string

	spans    atomic.Int64
	requests atomic.Int64
	bytes    atomic.Int64
	firstNs  atomic.Int64 // unix ns of the first request with spans, 0 before
	lastNs   atomic.Int64 // unix ns of the latest request with spans

	capture  atomic.Bool
	captured atomic.Pointer[[]byte]

	// Span ID tracking (TrackIDs): how often each span ID arrived.
	trackIDs atomic.Bool
	idsMu    sync.Mutex
	ids      map[uint64]uint32
	dupSpans int64 // spans whose ID had arrived before (under idsMu)

	// Error injection (FailEvery): every failEvery-th request is answered
	// with failCode and its spans are not counted as received.
	reqSeq      atomic.Int64
	failEvery   atomic.Int64
	failCode    atomic.Uint32
	failedSpans atomic.Int64
	failedReqs  atomic.Int64

	// Latency probes (TrackProbes): arrival time minus the end timestamp of
	// every probe span received.
	trackProbes atomic.Bool
	probeMu     sync.Mutex
	probeLat    []time.Duration

	mu  sync.Mutex
	srv *grpc.Server
	lis net.Listener
}

// CaptureNext asks the sink to keep a copy of the next request with spans.
func (s *Sink) CaptureNext() {
	s.captured.Store(nil)
	s.capture.Store(true)
}

// Captured returns the request kept after CaptureNext, or nil.
func (s *Sink) Captured() []byte {
	if p := s.captured.Load(); p != nil {
		return *p
	}
	return nil
}

// New returns a sink that will listen on addr (host:port) once started.
func New(addr string) *Sink {
	return &Sink{addr: addr}
}

// Addr is the listen address.
func (s *Sink) Addr() string { return s.addr }

type traceService interface{}

func (s *Sink) export(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	c := otlpwire.SpanCount{Keep: s.capture.Load(), IDs: s.trackIDs.Load(), Probes: s.trackProbes.Load()}
	if err := dec(&c); err != nil {
		return nil, err
	}
	if len(c.ProbeEnds) > 0 {
		now := time.Now().UnixNano()
		s.probeMu.Lock()
		for _, end := range c.ProbeEnds {
			s.probeLat = append(s.probeLat, time.Duration(now-end))
		}
		s.probeMu.Unlock()
	}
	n := s.reqSeq.Add(1)
	if every := s.failEvery.Load(); every > 0 && n%every == 0 {
		s.failedSpans.Add(c.Spans)
		s.failedReqs.Add(1)
		return nil, status.Error(codes.Code(s.failCode.Load()), "sink: injected error")
	}
	if c.IDs {
		s.idsMu.Lock()
		if s.ids == nil {
			s.ids = make(map[uint64]uint32, 1<<16)
		}
		for _, id := range c.SpanIDs {
			k := s.ids[id]
			if k > 0 {
				s.dupSpans++
			}
			s.ids[id] = k + 1
		}
		s.idsMu.Unlock()
	}
	if c.Keep && c.Spans > 0 && s.capture.CompareAndSwap(true, false) {
		s.captured.Store(&c.Raw)
	}
	if c.Spans > 0 {
		now := time.Now().UnixNano()
		s.firstNs.CompareAndSwap(0, now)
		s.lastNs.Store(now)
	}
	s.spans.Add(c.Spans)
	s.requests.Add(1)
	s.bytes.Add(c.Bytes)
	// An empty ExportTraceServiceResponse: full success.
	return []byte{}, nil
}

// Start begins listening. It is an error to start a running sink.
func (s *Sink) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("sink: already running")
	}
	lis, err := net.Listen("tcp", s.addr)
	if err != nil {
		return err
	}
	srv := grpc.NewServer(grpc.ForceServerCodec(otlpwire.RawCodec{}), grpc.MaxRecvMsgSize(256<<20))
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: otlpwire.ServiceName,
		HandlerType: (*traceService)(nil),
		Methods:     []grpc.MethodDesc{{MethodName: "Export", Handler: s.export}},
		Metadata:    "opentelemetry/proto/collector/trace/v1/trace_service.proto",
	}, struct{}{})
	s.srv, s.lis = srv, lis
	go func() { _ = srv.Serve(lis) }()
	return nil
}

// TrackIDs turns on (or off) counting of span IDs: UniqueSpans,
// DuplicateSpans and IDCount.
func (s *Sink) TrackIDs(on bool) { s.trackIDs.Store(on) }

// TrackProbes turns on (or off) the latency measurement of probe spans
// (trace_id starting with otlpwire.ProbeMarker): ProbeLatencies.
func (s *Sink) TrackProbes(on bool) { s.trackProbes.Store(on) }

// ProbeLatencies returns, for every probe span received so far, its arrival
// time at the sink minus its end timestamp, in arrival order.
func (s *Sink) ProbeLatencies() []time.Duration {
	s.probeMu.Lock()
	defer s.probeMu.Unlock()
	return append([]time.Duration(nil), s.probeLat...)
}

// FailEvery makes the sink answer every n-th request (counted from the
// start, over all requests) with the gRPC status code; its spans are counted
// in FailedSpans, not in Spans. n <= 0 turns injection off.
func (s *Sink) FailEvery(n int64, code codes.Code) {
	s.failCode.Store(uint32(code))
	s.failEvery.Store(n)
}

// FailedSpans is the number of spans in requests answered with an injected
// error; FailedRequests the number of such requests.
func (s *Sink) FailedSpans() int64 { return s.failedSpans.Load() }

// FailedRequests is the number of requests answered with an injected error.
func (s *Sink) FailedRequests() int64 { return s.failedReqs.Load() }

// UniqueSpans is the number of distinct span IDs received (TrackIDs).
func (s *Sink) UniqueSpans() int64 {
	s.idsMu.Lock()
	defer s.idsMu.Unlock()
	return int64(len(s.ids))
}

// DuplicateSpans is the number of spans received whose ID had been received
// before (TrackIDs).
func (s *Sink) DuplicateSpans() int64 {
	s.idsMu.Lock()
	defer s.idsMu.Unlock()
	return s.dupSpans
}

// IDCounts calls fn with the number of times each of ids was received
// (TrackIDs), under one lock.
func (s *Sink) IDCounts(ids []uint64, fn func(i int, n uint32)) {
	s.idsMu.Lock()
	defer s.idsMu.Unlock()
	for i, id := range ids {
		fn(i, s.ids[id])
	}
}

// Kill stops the sink abruptly, like a backend that crashes: the listener and
// every connection are closed at once and requests in flight fail (their
// spans may have been counted already: the sender sees a failure and may
// send them again).
func (s *Sink) Kill() {
	s.mu.Lock()
	srv := s.srv
	s.srv, s.lis = nil, nil
	s.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}

// Running reports whether the sink is listening.
func (s *Sink) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv != nil
}

// Stop closes the listener and every connection (bounded wait for handlers).
func (s *Sink) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv, s.lis = nil, nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	done := make(chan struct{})
	go func() { srv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		srv.Stop()
		<-done
	}
}

// Spans is the number of spans received so far.
func (s *Sink) Spans() int64 { return s.spans.Load() }

// Requests is the number of requests received so far.
func (s *Sink) Requests() int64 { return s.requests.Load() }

// Bytes is the number of request bytes received so far.
func (s *Sink) Bytes() int64 { return s.bytes.Load() }

// FirstLast returns the arrival times of the first and latest requests that
// carried spans (zero before any).
func (s *Sink) FirstLast() (time.Time, time.Time) {
	f, l := s.firstNs.Load(), s.lastNs.Load()
	if f == 0 {
		return time.Time{}, time.Time{}
	}
	return time.Unix(0, f), time.Unix(0, l)
}

// Reset zeroes the counters.
func (s *Sink) Reset() {
	s.spans.Store(0)
	s.requests.Store(0)
	s.bytes.Store(0)
	s.firstNs.Store(0)
	s.lastNs.Store(0)
	s.reqSeq.Store(0)
	s.failedSpans.Store(0)
	s.failedReqs.Store(0)
	s.idsMu.Lock()
	s.ids = nil
	s.dupSpans = 0
	s.idsMu.Unlock()
}

// WaitFor waits until at least want spans arrived, or until no span arrived
// for idle (when idle > 0), or until timeout or ctx ends. It reports whether
// want was reached.
func (s *Sink) WaitFor(ctx context.Context, want int64, idle, timeout time.Duration) bool {
	return waitCount(ctx, s.Spans, want, idle, timeout)
}

// WaitForUnique is WaitFor counting distinct span IDs (TrackIDs) instead of
// spans, so that duplicates do not end the wait early.
func (s *Sink) WaitForUnique(ctx context.Context, want int64, idle, timeout time.Duration) bool {
	return waitCount(ctx, s.UniqueSpans, want, idle, timeout)
}

func waitCount(ctx context.Context, count func() int64, want int64, idle, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	last := count()
	lastChange := time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		n := count()
		if n >= want {
			return true
		}
		if n != last {
			last, lastChange = n, time.Now()
		}
		if idle > 0 && time.Since(lastChange) > idle {
			return false
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}
