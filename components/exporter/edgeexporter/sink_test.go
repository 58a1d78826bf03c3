// SPDX-License-Identifier: Apache-2.0

package edgeexporter

import (
	"context"
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// testSink is a real OTLP/gRPC backend on 127.0.0.1 that records span order,
// can be stopped and started on the same port, and can answer with errors.
type testSink struct {
	t    *testing.T
	addr string

	mu          sync.Mutex
	srv         *grpc.Server
	spanSeqs    []uint64 // span "sequence" numbers in arrival order
	points      int
	logs        int
	requests    int
	bytes       int64
	failCode    codes.Code
	partial     int64
	firstAt     time.Time
	lastAt      time.Time
	onRequest   func()
	failPerCall func(n int) codes.Code
	maxRecv     int // bytes; 0 = gRPC's default
	// serverOpts are added to the gRPC server's options (TLS credentials).
	serverOpts []grpc.ServerOption
	// failTraces, when set, answers a traces request with its code unless it
	// is OK (the request's spans are then not recorded).
	failTraces func(ptrace.Traces) codes.Code
}

type sinkTraces struct {
	ptraceotlp.UnimplementedGRPCServer
	s *testSink
}
type sinkMetrics struct {
	pmetricotlp.UnimplementedGRPCServer
	s *testSink
}
type sinkLogs struct {
	plogotlp.UnimplementedGRPCServer
	s *testSink
}

func newTestSink(t *testing.T) *testSink {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &testSink{t: t, addr: l.Addr().String()}
	s.serve(l)
	t.Cleanup(s.stop)
	return s
}

// newStoppedSink reserves a port for a sink that is not running yet.
func newStoppedSink(t *testing.T) *testSink {
	s := newTestSink(t)
	s.stop()
	return s
}

func (s *testSink) serve(l net.Listener) {
	var opts []grpc.ServerOption
	if s.maxRecv > 0 {
		opts = append(opts, grpc.MaxRecvMsgSize(s.maxRecv))
	}
	opts = append(opts, s.serverOpts...)
	srv := grpc.NewServer(opts...)
	ptraceotlp.RegisterGRPCServer(srv, &sinkTraces{s: s})
	pmetricotlp.RegisterGRPCServer(srv, &sinkMetrics{s: s})
	plogotlp.RegisterGRPCServer(srv, &sinkLogs{s: s})
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

func (s *testSink) start() {
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if l, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(s.t, err)
	s.serve(l)
}

func (s *testSink) stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}

func (s *testSink) setFail(c codes.Code) {
	s.mu.Lock()
	s.failCode = c
	s.mu.Unlock()
}

// admit decides the answer to one request and records its size.
func (s *testSink) admit(size int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	code := s.failCode
	if s.failPerCall != nil {
		code = s.failPerCall(s.requests)
	}
	if code != codes.OK {
		return status.Error(code, "injected failure")
	}
	now := time.Now()
	if s.firstAt.IsZero() {
		s.firstAt = now
	}
	s.lastAt = now
	s.bytes += int64(size)
	return nil
}

func (st *sinkTraces) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s := st.s
	s.mu.Lock()
	filter := s.failTraces
	s.mu.Unlock()
	if filter != nil {
		if code := filter(req.Traces()); code != codes.OK {
			s.mu.Lock()
			s.requests++
			s.mu.Unlock()
			return ptraceotlp.NewExportResponse(), status.Error(code, "injected failure for this request")
		}
	}
	if err := s.admit(req.Traces().SpanCount()); err != nil {
		return ptraceotlp.NewExportResponse(), err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rss := req.Traces().ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				id := spans.At(k).SpanID()
				s.spanSeqs = append(s.spanSeqs, binary.BigEndian.Uint64(id[:]))
			}
		}
	}
	resp := ptraceotlp.NewExportResponse()
	if s.partial > 0 {
		resp.PartialSuccess().SetRejectedSpans(s.partial)
		resp.PartialSuccess().SetErrorMessage("too old")
	}
	return resp, nil
}

func (sm *sinkMetrics) Export(_ context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	if err := sm.s.admit(req.Metrics().DataPointCount()); err != nil {
		return pmetricotlp.NewExportResponse(), err
	}
	sm.s.mu.Lock()
	sm.s.points += req.Metrics().DataPointCount()
	sm.s.mu.Unlock()
	return pmetricotlp.NewExportResponse(), nil
}

func (sl *sinkLogs) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	if err := sl.s.admit(req.Logs().LogRecordCount()); err != nil {
		return plogotlp.NewExportResponse(), err
	}
	sl.s.mu.Lock()
	sl.s.logs += req.Logs().LogRecordCount()
	sl.s.mu.Unlock()
	return plogotlp.NewExportResponse(), nil
}

func (s *testSink) spanCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.spanSeqs)
}

func (s *testSink) seqs() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint64(nil), s.spanSeqs...)
}

// genTraces makes n spans whose span IDs encode start, start+1, ... so tests
// can check exactly which spans arrived and in what order.
func genTraces(start uint64, n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for i := 0; i < n; i++ {
		sp := spans.AppendEmpty()
		var id [8]byte
		binary.BigEndian.PutUint64(id[:], start+uint64(i))
		sp.SetSpanID(id)
		sp.SetTraceID([16]byte{1, byte(i)})
		sp.SetName("GET /cart")
		sp.Attributes().PutStr("http.route", "/cart")
		sp.Attributes().PutInt("http.status_code", 200)
		sp.Attributes().PutStr("user.session", "3f1c0a9e-52b7-4c2e-9d0b-7e1f4b0c6a11")
	}
	return td
}
