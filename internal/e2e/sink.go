// SPDX-License-Identifier: Apache-2.0

package e2e // import "github.com/otelcol-edge/otelcol-edge/internal/e2e"

import (
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	_ "google.golang.org/grpc/encoding/gzip" // accept gzip-compressed gRPC requests, the collector's default
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Signal names a telemetry signal.
type Signal string

// The OTLP signals the sink receives.
const (
	SignalTraces  Signal = "traces"
	SignalMetrics Signal = "metrics"
	SignalLogs    Signal = "logs"
)

// Transport names of the sink's two OTLP listeners, as found in RequestInfo.
const (
	TransportGRPC = "grpc"
	TransportHTTP = "http"
)

// FailureMode is how the sink answers a request.
type FailureMode int

// Failure modes. Each maps to a gRPC status code and an HTTP status.
const (
	// FailNone accepts the request.
	FailNone FailureMode = iota
	// FailUnavailable answers gRPC Unavailable / HTTP 503 (retryable).
	FailUnavailable
	// FailInvalidArgument answers gRPC InvalidArgument / HTTP 400 (permanent).
	FailInvalidArgument
	// FailResourceExhausted answers gRPC ResourceExhausted / HTTP 429.
	FailResourceExhausted
	// FailInternal answers gRPC Internal / HTTP 500 (a live backend failing
	// on the request: retryable).
	FailInternal
)

// String implements fmt.Stringer.
func (m FailureMode) String() string {
	switch m {
	case FailNone:
		return "none"
	case FailUnavailable:
		return "unavailable"
	case FailInvalidArgument:
		return "invalid-argument"
	case FailResourceExhausted:
		return "resource-exhausted"
	case FailInternal:
		return "internal"
	}
	return "FailureMode(" + strconv.Itoa(int(m)) + ")"
}

// grpcCode is the gRPC status code of a failure mode.
func (m FailureMode) grpcCode() codes.Code {
	switch m {
	case FailUnavailable:
		return codes.Unavailable
	case FailInvalidArgument:
		return codes.InvalidArgument
	case FailResourceExhausted:
		return codes.ResourceExhausted
	case FailInternal:
		return codes.Internal
	}
	return codes.OK
}

// httpStatus is the HTTP status of a failure mode.
func (m FailureMode) httpStatus() int {
	switch m {
	case FailUnavailable:
		return http.StatusServiceUnavailable
	case FailInvalidArgument:
		return http.StatusBadRequest
	case FailResourceExhausted:
		return http.StatusTooManyRequests
	case FailInternal:
		return http.StatusInternalServerError
	}
	return http.StatusOK
}

// RequestInfo describes one request, for a FailureFunc.
type RequestInfo struct {
	// Signal is the request's signal.
	Signal Signal
	// Transport is TransportGRPC or TransportHTTP.
	Transport string
	// Items is the number of spans, data points or log records.
	Items int
	// Seq is the 1-based number of the request among all the sink received
	// since creation or Reset, over all signals.
	Seq int64
	// Headers holds the HTTP headers or gRPC metadata (lower-case keys for
	// gRPC).
	Headers map[string][]string
	// Traces is the request's data for SignalTraces (zero otherwise).
	Traces ptrace.Traces
}

// FailureFunc decides per request how the sink answers.
type FailureFunc func(RequestInfo) FailureMode

// SinkOptions configures NewSink.
type SinkOptions struct {
	// GRPCPort is the OTLP/gRPC port on 127.0.0.1; 0 picks a free one.
	GRPCPort int
	// HTTPPort is the OTLP/HTTP port on 127.0.0.1; 0 picks a free one.
	HTTPPort int
	// DisableSpanIDs turns off recording of span IDs (SpanIDs), saving
	// memory in load tests. Span IDs are recorded by default.
	DisableSpanIDs bool
	// KeepData keeps copies of the accepted payloads (ReceivedTraces etc.).
	KeepData bool
	// MaxKeptRequests bounds the payloads kept per signal, the oldest
	// being dropped first; 0 means 1000.
	MaxKeptRequests int
	// TLS, when set, serves both listeners over TLS with this config (set
	// ClientAuth to require client certificates); see TestCA.
	TLS *tls.Config
}

// maxHTTPBody bounds an OTLP/HTTP request body (after decompression).
const maxHTTPBody = 256 << 20

// Sink is a real OTLP backend for traces, metrics and logs listening on
// 127.0.0.1 over gRPC and HTTP (protobuf or JSON, optionally gzip or
// deflate compressed). It counts what it accepts, can fail, be slow or
// answer partial success on demand, and can be stopped and started again on
// the same ports. All methods are safe for concurrent use; those taking or
// holding a testing.TB fail the test and must run on the test goroutine.
type Sink struct {
	t        testing.TB
	opts     SinkOptions
	grpcPort int
	httpPort int

	lifeMu  sync.Mutex // serializes Start and Stop
	running bool
	grpcSrv *grpc.Server
	httpSrv *http.Server
	serveWG sync.WaitGroup

	mu              sync.Mutex
	quit            chan struct{} // closed by Stop to end delays
	spans           int
	dataPoints      int
	logRecords      int
	requests        int64
	emptyRequests   int64 // requests without items (the exporter's idle probes)
	failed          int64
	signalRequests  map[Signal]int64
	spanIDs         map[[8]byte]int
	lastResAttrs    map[Signal][]map[string]any
	lastHeaders     map[Signal]map[string][]string
	traces          []ptrace.Traces
	metrics         []pmetric.Metrics
	logs            []plog.Logs
	failure         FailureMode
	failureFn       FailureFunc
	delay           time.Duration
	partialRejected int64
	partialMsg      string
}

// NewSink creates and starts a Sink; it is stopped on cleanup.
func NewSink(t testing.TB, opts SinkOptions) *Sink {
	t.Helper()
	if opts.MaxKeptRequests <= 0 {
		opts.MaxKeptRequests = 1000
	}
	s := &Sink{t: t, opts: opts, grpcPort: opts.GRPCPort, httpPort: opts.HTTPPort}
	s.resetLocked()
	if s.grpcPort == 0 || s.httpPort == 0 {
		ports := FreePorts(t, 3)
		for _, p := range ports { // avoid colliding with an explicitly given port
			if p == s.grpcPort || p == s.httpPort {
				continue
			}
			if s.grpcPort == 0 {
				s.grpcPort = p
			} else if s.httpPort == 0 {
				s.httpPort = p
			}
		}
	}
	t.Cleanup(s.Stop)
	s.Start()
	return s
}

// Start (re)starts both listeners on the sink's ports. It retries briefly
// while a port is still in use and fails the test if it cannot bind. It is
// a no-op if the sink is running.
func (s *Sink) Start() {
	s.t.Helper()
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.running {
		return
	}
	grpcLn, err := listenRetry(s.grpcPort)
	if err != nil {
		s.t.Fatalf("Sink.Start: gRPC listener: %v", err)
	}
	httpLn, err := listenRetry(s.httpPort)
	if err != nil {
		_ = grpcLn.Close()
		s.t.Fatalf("Sink.Start: HTTP listener: %v", err)
	}

	quit := make(chan struct{})
	s.mu.Lock()
	s.quit = quit
	s.mu.Unlock()

	gsOpts := []grpc.ServerOption{grpc.MaxRecvMsgSize(maxHTTPBody)}
	if s.opts.TLS != nil {
		gsOpts = append(gsOpts, grpc.Creds(credentials.NewTLS(s.opts.TLS)))
		httpLn = tls.NewListener(httpLn, s.opts.TLS)
	}
	gs := grpc.NewServer(gsOpts...)
	ptraceotlp.RegisterGRPCServer(gs, &traceServer{s: s})
	pmetricotlp.RegisterGRPCServer(gs, &metricsServer{s: s})
	plogotlp.RegisterGRPCServer(gs, &logsServer{s: s})

	mux := http.NewServeMux()
	mux.HandleFunc("/v1/traces", s.serveHTTP(SignalTraces))
	mux.HandleFunc("/v1/metrics", s.serveHTTP(SignalMetrics))
	mux.HandleFunc("/v1/logs", s.serveHTTP(SignalLogs))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	s.grpcSrv, s.httpSrv, s.running = gs, hs, true
	s.serveWG.Add(2)
	go func() {
		defer s.serveWG.Done()
		_ = gs.Serve(grpcLn)
	}()
	go func() {
		defer s.serveWG.Done()
		_ = hs.Serve(httpLn)
	}()
}

// listenRetry listens on 127.0.0.1:port, retrying for up to 5s on
// EADDRINUSE.
func listenRetry(port int) (net.Listener, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	var err error
	for range 50 {
		var ln net.Listener
		ln, err = net.Listen("tcp", addr)
		if err == nil {
			return ln, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, err
}

// Stop closes both listeners and all connections at once, as a crashing
// backend would; in-flight delayed requests are answered Unavailable.
// Recorded data is kept. It is a no-op if the sink is stopped.
func (s *Sink) Stop() {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if !s.running {
		return
	}
	s.mu.Lock()
	close(s.quit)
	s.mu.Unlock()
	s.grpcSrv.Stop()
	_ = s.httpSrv.Close()
	s.serveWG.Wait()
	s.grpcSrv, s.httpSrv, s.running = nil, nil, false
}

// Running reports whether the sink is started.
func (s *Sink) Running() bool {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	return s.running
}

// GRPCPort returns the OTLP/gRPC port.
func (s *Sink) GRPCPort() int { return s.grpcPort }

// HTTPPort returns the OTLP/HTTP port.
func (s *Sink) HTTPPort() int { return s.httpPort }

// GRPCEndpoint returns "127.0.0.1:<grpc port>".
func (s *Sink) GRPCEndpoint() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.grpcPort))
}

// HTTPEndpoint returns "http://127.0.0.1:<http port>" ("https://" with TLS).
func (s *Sink) HTTPEndpoint() string {
	scheme := "http://"
	if s.opts.TLS != nil {
		scheme = "https://"
	}
	return scheme + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.httpPort))
}

// SetFailure makes the sink answer every following request with mode
// (FailNone to accept again). It clears any FailureFunc.
func (s *Sink) SetFailure(mode FailureMode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failure, s.failureFn = mode, nil
}

// SetFailureFunc makes fn decide the answer to each following request; nil
// restores SetFailure's mode. fn is called without the sink's lock held.
func (s *Sink) SetFailureFunc(fn FailureFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failureFn = fn
}

// SetDelay makes the sink wait d before answering each request (0 to
// answer at once). The wait ends early if the client gives up or the sink
// is stopped.
func (s *Sink) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// SetPartialSuccess makes accepted requests answer with an OTLP partial
// success rejecting the given number of items with msg; (0, "") turns it
// off. The sink still records every item it received.
func (s *Sink) SetPartialSuccess(rejected int64, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partialRejected, s.partialMsg = rejected, msg
}

// Reset clears everything recorded (counts, span IDs, attributes, headers,
// kept payloads) but not the failure, delay and partial-success settings.
func (s *Sink) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
}

// resetLocked clears the recorded state; s.mu must be held (or s unshared).
func (s *Sink) resetLocked() {
	s.spans, s.dataPoints, s.logRecords = 0, 0, 0
	s.requests, s.failed = 0, 0
	s.signalRequests = make(map[Signal]int64)
	s.spanIDs = make(map[[8]byte]int)
	s.lastResAttrs = make(map[Signal][]map[string]any)
	s.lastHeaders = make(map[Signal]map[string][]string)
	s.traces, s.metrics, s.logs = nil, nil, nil
}

// SpanCount returns the number of spans accepted.
func (s *Sink) SpanCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.spans
}

// DataPointCount returns the number of metric data points accepted.
func (s *Sink) DataPointCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dataPoints
}

// LogCount returns the number of log records accepted.
func (s *Sink) LogCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logRecords
}

// Requests returns the number of export requests received over all signals
// and transports, including those answered with a failure.
func (s *Sink) Requests() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// DataRequests returns the number of export requests that carried items:
// Requests without the edge exporter's empty probes of idle endpoints.
func (s *Sink) DataRequests() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests - s.emptyRequests
}

// SignalRequests returns the number of export requests received for sig.
func (s *Sink) SignalRequests(sig Signal) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signalRequests[sig]
}

// FailedRequests returns the number of requests answered with a failure
// (including those whose delay was cut short).
func (s *Sink) FailedRequests() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// SpanIDs returns a copy of the map from each accepted span ID to the number
// of times it was received (empty if DisableSpanIDs).
func (s *Sink) SpanIDs() map[[8]byte]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[[8]byte]int, len(s.spanIDs))
	for k, v := range s.spanIDs {
		out[k] = v
	}
	return out
}

// UniqueSpanCount returns the number of distinct span IDs accepted.
func (s *Sink) UniqueSpanCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.spanIDs)
}

// DuplicateSpanCount returns how many accepted spans repeated a span ID
// already received (the sum over IDs of count-1).
func (s *Sink) DuplicateSpanCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	dups := 0
	for _, n := range s.spanIDs {
		dups += n - 1
	}
	return dups
}

// LastResourceAttributes returns the resource attributes of each resource
// in the last accepted request of sig, in order (nil if none).
func (s *Sink) LastResourceAttributes(sig Signal) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastResAttrs[sig]
}

// LastHeaders returns the HTTP headers or gRPC metadata of the last request
// received for sig (nil if none).
func (s *Sink) LastHeaders(sig Signal) map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastHeaders[sig]
}

// ReceivedTraces returns copies of the accepted trace payloads (KeepData).
func (s *Sink) ReceivedTraces() []ptrace.Traces {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ptrace.Traces(nil), s.traces...)
}

// ReceivedMetrics returns copies of the accepted metric payloads (KeepData).
func (s *Sink) ReceivedMetrics() []pmetric.Metrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]pmetric.Metrics(nil), s.metrics...)
}

// ReceivedLogs returns copies of the accepted log payloads (KeepData).
func (s *Sink) ReceivedLogs() []plog.Logs {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]plog.Logs(nil), s.logs...)
}

// WaitForSpans waits up to timeout until at least n spans were accepted,
// failing the test with the current count otherwise.
func (s *Sink) WaitForSpans(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	waitForCount(t, "spans", s.SpanCount, n, timeout)
}

// WaitForDataPoints waits up to timeout until at least n data points were
// accepted, failing the test with the current count otherwise.
func (s *Sink) WaitForDataPoints(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	waitForCount(t, "data points", s.DataPointCount, n, timeout)
}

// WaitForLogs waits up to timeout until at least n log records were
// accepted, failing the test with the current count otherwise.
func (s *Sink) WaitForLogs(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	waitForCount(t, "log records", s.LogCount, n, timeout)
}

// WaitForRequests waits up to timeout until at least n requests were
// received, failing the test with the current count otherwise.
func (s *Sink) WaitForRequests(t testing.TB, n int64, timeout time.Duration) {
	t.Helper()
	waitForCount(t, "requests", func() int { return int(s.Requests()) }, int(n), timeout)
}

// waitForCount polls get every 50ms until it reaches n or timeout passes.
func waitForCount(t testing.TB, what string, get func() int, n int, timeout time.Duration) {
	t.Helper()
	const interval = 50 * time.Millisecond
	deadline := time.Now().Add(timeout)
	for range int(timeout/interval) + 2 {
		if get() >= n {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(interval)
	}
	if got := get(); got < n {
		t.Fatalf("sink: want at least %d %s within %v, have %d", n, what, timeout, got)
	}
}

// outcome is the sink's decision for one request.
type outcome struct {
	mode     FailureMode
	err      error // set when the delay was cut short
	rejected int64
	msg      string
}

// handle runs the shared per-request logic; record is called (without the
// lock) only if the request is accepted.
func (s *Sink) handle(ctx context.Context, sig Signal, transport string, items int, headers map[string][]string, td ptrace.Traces, record func()) outcome {
	s.mu.Lock()
	s.requests++
	if items == 0 {
		s.emptyRequests++
	}
	seq := s.requests
	s.signalRequests[sig]++
	s.lastHeaders[sig] = headers
	delay, quit, mode, fn := s.delay, s.quit, s.failure, s.failureFn
	s.mu.Unlock()

	if delay > 0 {
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			s.countFailed()
			return outcome{mode: FailUnavailable, err: ctx.Err()}
		case <-quit:
			timer.Stop()
			s.countFailed()
			return outcome{mode: FailUnavailable, err: errors.New("sink stopped")}
		}
	}
	if fn != nil {
		mode = fn(RequestInfo{Signal: sig, Transport: transport, Items: items, Seq: seq, Headers: headers, Traces: td})
	}
	if mode != FailNone {
		s.countFailed()
		return outcome{mode: mode}
	}
	record()
	s.mu.Lock()
	defer s.mu.Unlock()
	return outcome{rejected: s.partialRejected, msg: s.partialMsg}
}

// countFailed counts one failed request.
func (s *Sink) countFailed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed++
}

// recordTraces records an accepted trace payload.
func (s *Sink) recordTraces(td ptrace.Traces) {
	var kept ptrace.Traces
	if s.opts.KeepData {
		kept = ptrace.NewTraces()
		td.CopyTo(kept)
	}
	rss := td.ResourceSpans()
	attrs := make([]map[string]any, 0, rss.Len())
	var ids [][8]byte
	for i := range rss.Len() {
		rs := rss.At(i)
		attrs = append(attrs, rs.Resource().Attributes().AsRaw())
		if s.opts.DisableSpanIDs {
			continue
		}
		for j := range rs.ScopeSpans().Len() {
			spans := rs.ScopeSpans().At(j).Spans()
			for k := range spans.Len() {
				ids = append(ids, spans.At(k).SpanID())
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spans += td.SpanCount()
	for _, id := range ids {
		s.spanIDs[id]++
	}
	s.lastResAttrs[SignalTraces] = attrs
	if s.opts.KeepData {
		s.traces = appendBounded(s.traces, kept, s.opts.MaxKeptRequests)
	}
}

// recordMetrics records an accepted metric payload.
func (s *Sink) recordMetrics(md pmetric.Metrics) {
	var kept pmetric.Metrics
	if s.opts.KeepData {
		kept = pmetric.NewMetrics()
		md.CopyTo(kept)
	}
	rms := md.ResourceMetrics()
	attrs := make([]map[string]any, 0, rms.Len())
	for i := range rms.Len() {
		attrs = append(attrs, rms.At(i).Resource().Attributes().AsRaw())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dataPoints += md.DataPointCount()
	s.lastResAttrs[SignalMetrics] = attrs
	if s.opts.KeepData {
		s.metrics = appendBounded(s.metrics, kept, s.opts.MaxKeptRequests)
	}
}

// recordLogs records an accepted log payload.
func (s *Sink) recordLogs(ld plog.Logs) {
	var kept plog.Logs
	if s.opts.KeepData {
		kept = plog.NewLogs()
		ld.CopyTo(kept)
	}
	rls := ld.ResourceLogs()
	attrs := make([]map[string]any, 0, rls.Len())
	for i := range rls.Len() {
		attrs = append(attrs, rls.At(i).Resource().Attributes().AsRaw())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logRecords += ld.LogRecordCount()
	s.lastResAttrs[SignalLogs] = attrs
	if s.opts.KeepData {
		s.logs = appendBounded(s.logs, kept, s.opts.MaxKeptRequests)
	}
}

// appendBounded appends v and drops the oldest items beyond limit.
func appendBounded[T any](list []T, v T, limit int) []T {
	list = append(list, v)
	if len(list) > limit {
		list = append(list[:0:0], list[len(list)-limit:]...)
	}
	return list
}

// grpcError converts an outcome into a gRPC error (nil if accepted).
func (o outcome) grpcError() error {
	if o.err != nil {
		// A handler whose context ended answers as a real gRPC server
		// does: DeadlineExceeded or Canceled. The server's deadline
		// (from grpc-timeout) can pass a moment before the client's, so
		// an Unavailable here would race the client's own status.
		if errors.Is(o.err, context.DeadlineExceeded) || errors.Is(o.err, context.Canceled) {
			return status.FromContextError(o.err).Err()
		}
		return status.Error(codes.Unavailable, "sink: "+o.err.Error())
	}
	if o.mode != FailNone {
		return status.Error(o.mode.grpcCode(), "sink: simulated "+o.mode.String())
	}
	return nil
}

// grpcHeaders returns the incoming gRPC metadata as a plain map.
func grpcHeaders(ctx context.Context) map[string][]string {
	md, _ := metadata.FromIncomingContext(ctx)
	out := make(map[string][]string, len(md))
	for k, v := range md {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// traceServer is the sink's OTLP/gRPC trace service.
type traceServer struct {
	ptraceotlp.UnimplementedGRPCServer
	s *Sink
}

// Export implements ptraceotlp.GRPCServer.
func (ts *traceServer) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	td := req.Traces()
	o := ts.s.handle(ctx, SignalTraces, TransportGRPC, td.SpanCount(), grpcHeaders(ctx), td, func() { ts.s.recordTraces(td) })
	if err := o.grpcError(); err != nil {
		return ptraceotlp.NewExportResponse(), err
	}
	return traceResponse(o), nil
}

// metricsServer is the sink's OTLP/gRPC metrics service.
type metricsServer struct {
	pmetricotlp.UnimplementedGRPCServer
	s *Sink
}

// Export implements pmetricotlp.GRPCServer.
func (ms *metricsServer) Export(ctx context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	md := req.Metrics()
	o := ms.s.handle(ctx, SignalMetrics, TransportGRPC, md.DataPointCount(), grpcHeaders(ctx), ptrace.Traces{}, func() { ms.s.recordMetrics(md) })
	if err := o.grpcError(); err != nil {
		return pmetricotlp.NewExportResponse(), err
	}
	return metricsResponse(o), nil
}

// logsServer is the sink's OTLP/gRPC logs service.
type logsServer struct {
	plogotlp.UnimplementedGRPCServer
	s *Sink
}

// Export implements plogotlp.GRPCServer.
func (ls *logsServer) Export(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	ld := req.Logs()
	o := ls.s.handle(ctx, SignalLogs, TransportGRPC, ld.LogRecordCount(), grpcHeaders(ctx), ptrace.Traces{}, func() { ls.s.recordLogs(ld) })
	if err := o.grpcError(); err != nil {
		return plogotlp.NewExportResponse(), err
	}
	return logsResponse(o), nil
}

// traceResponse builds the export response for an accepted request.
func traceResponse(o outcome) ptraceotlp.ExportResponse {
	resp := ptraceotlp.NewExportResponse()
	if o.rejected != 0 || o.msg != "" {
		resp.PartialSuccess().SetRejectedSpans(o.rejected)
		resp.PartialSuccess().SetErrorMessage(o.msg)
	}
	return resp
}

// metricsResponse builds the export response for an accepted request.
func metricsResponse(o outcome) pmetricotlp.ExportResponse {
	resp := pmetricotlp.NewExportResponse()
	if o.rejected != 0 || o.msg != "" {
		resp.PartialSuccess().SetRejectedDataPoints(o.rejected)
		resp.PartialSuccess().SetErrorMessage(o.msg)
	}
	return resp
}

// logsResponse builds the export response for an accepted request.
func logsResponse(o outcome) plogotlp.ExportResponse {
	resp := plogotlp.NewExportResponse()
	if o.rejected != 0 || o.msg != "" {
		resp.PartialSuccess().SetRejectedLogRecords(o.rejected)
		resp.PartialSuccess().SetErrorMessage(o.msg)
	}
	return resp
}

// Content types of OTLP/HTTP.
const (
	contentTypeProto = "application/x-protobuf"
	contentTypeJSON  = "application/json"
)

// serveHTTP returns the OTLP/HTTP handler of one signal.
func (s *Sink) serveHTTP(sig Signal) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || (mediaType != contentTypeProto && mediaType != contentTypeJSON) {
			http.Error(w, "unsupported content type "+r.Header.Get("Content-Type"), http.StatusUnsupportedMediaType)
			return
		}
		isJSON := mediaType == contentTypeJSON
		body, err := readBody(r)
		if err != nil {
			writeHTTPStatus(w, isJSON, http.StatusBadRequest, codes.InvalidArgument, err.Error())
			return
		}
		headers := map[string][]string(r.Header.Clone())

		var (
			items  int
			record func()
			encode func(outcome) ([]byte, error)
			data   ptrace.Traces
		)
		switch sig {
		case SignalTraces:
			req := ptraceotlp.NewExportRequest()
			err = unmarshalRequest(isJSON, body, req.UnmarshalJSON, req.UnmarshalProto)
			td := req.Traces()
			items, record, data = td.SpanCount(), func() { s.recordTraces(td) }, td
			encode = func(o outcome) ([]byte, error) {
				return marshalResponse(isJSON, traceResponse(o).MarshalJSON, traceResponse(o).MarshalProto)
			}
		case SignalMetrics:
			req := pmetricotlp.NewExportRequest()
			err = unmarshalRequest(isJSON, body, req.UnmarshalJSON, req.UnmarshalProto)
			md := req.Metrics()
			items, record = md.DataPointCount(), func() { s.recordMetrics(md) }
			encode = func(o outcome) ([]byte, error) {
				return marshalResponse(isJSON, metricsResponse(o).MarshalJSON, metricsResponse(o).MarshalProto)
			}
		default:
			req := plogotlp.NewExportRequest()
			err = unmarshalRequest(isJSON, body, req.UnmarshalJSON, req.UnmarshalProto)
			ld := req.Logs()
			items, record = ld.LogRecordCount(), func() { s.recordLogs(ld) }
			encode = func(o outcome) ([]byte, error) {
				return marshalResponse(isJSON, logsResponse(o).MarshalJSON, logsResponse(o).MarshalProto)
			}
		}
		if err != nil {
			writeHTTPStatus(w, isJSON, http.StatusBadRequest, codes.InvalidArgument, "cannot decode request: "+err.Error())
			return
		}

		o := s.handle(r.Context(), sig, TransportHTTP, items, headers, data, record)
		if o.err != nil {
			writeHTTPStatus(w, isJSON, http.StatusServiceUnavailable, codes.Unavailable, "sink: "+o.err.Error())
			return
		}
		if o.mode != FailNone {
			writeHTTPStatus(w, isJSON, o.mode.httpStatus(), o.mode.grpcCode(), "sink: simulated "+o.mode.String())
			return
		}
		out, err := encode(o)
		if err != nil {
			writeHTTPStatus(w, isJSON, http.StatusInternalServerError, codes.Internal, err.Error())
			return
		}
		w.Header().Set("Content-Type", mediaType)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(out)
	}
}

// readBody reads a request body, undoing gzip or deflate content encoding.
func readBody(r *http.Request) ([]byte, error) {
	var rd io.Reader = r.Body
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		rd = zr
	case "deflate":
		zr, err := zlib.NewReader(r.Body)
		if err != nil {
			return nil, fmt.Errorf("deflate: %w", err)
		}
		defer zr.Close()
		rd = zr
	default:
		return nil, fmt.Errorf("unsupported content encoding %q", enc)
	}
	body, err := io.ReadAll(io.LimitReader(rd, maxHTTPBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxHTTPBody {
		return nil, fmt.Errorf("body larger than %d bytes", maxHTTPBody)
	}
	return body, nil
}

// unmarshalRequest decodes body as JSON or protobuf.
func unmarshalRequest(isJSON bool, body []byte, fromJSON, fromProto func([]byte) error) error {
	if isJSON {
		return fromJSON(body)
	}
	return fromProto(body)
}

// marshalResponse encodes a response as JSON or protobuf.
func marshalResponse(isJSON bool, toJSON, toProto func() ([]byte, error)) ([]byte, error) {
	if isJSON {
		return toJSON()
	}
	return toProto()
}

// writeHTTPStatus writes an OTLP/HTTP error: the HTTP status with a
// google.rpc.Status body in the request's encoding.
func writeHTTPStatus(w http.ResponseWriter, isJSON bool, httpStatus int, code codes.Code, msg string) {
	st := status.New(code, msg).Proto()
	var (
		body []byte
		err  error
	)
	if isJSON {
		body, err = protojson.Marshal(st)
		w.Header().Set("Content-Type", contentTypeJSON)
	} else {
		body, err = proto.Marshal(st)
		w.Header().Set("Content-Type", contentTypeProto)
	}
	if err != nil {
		body = []byte(msg)
	}
	w.WriteHeader(httpStatus)
	_, _ = w.Write(body)
}
