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
	c := otlpwire.SpanCount{Keep: s.capture.Load()}
	if err := dec(&c); err != nil {
		return nil, err
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
}

// WaitFor waits until at least want spans arrived, or until no span arrived
// for idle (when idle > 0), or until timeout or ctx ends. It reports whether
// want was reached.
func (s *Sink) WaitFor(ctx context.Context, want int64, idle, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	last := s.Spans()
	lastChange := time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		n := s.Spans()
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
