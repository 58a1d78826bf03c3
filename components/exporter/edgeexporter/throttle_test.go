// SPDX-License-Identifier: Apache-2.0

package edgeexporter

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, value string
		want        time.Duration
	}{
		{"empty", "", 0},
		{"zero", "0", 0},
		{"seconds", "120", 120 * time.Second},
		{"seconds with spaces", " 7 ", 7 * time.Second},
		{"63 years, kept for the cap", "2000000000", 2000000000 * time.Second},
		{"overflows a duration: saturates", "9300000000", math.MaxInt64},
		{"overflows uint64: saturates", "99999999999999999999999", math.MaxInt64},
		{"negative", "-5", 0},
		{"plus sign", "+5", 0},
		{"fraction", "1.5", 0},
		{"garbage", "soon", 0},
		{"digits then garbage", "5s", 0},
		{"IMF-fixdate", "Tue, 01 Dec 2026 10:01:30 GMT", 90 * time.Second},
		{"RFC 850 date", "Tuesday, 01-Dec-26 10:00:10 GMT", 10 * time.Second},
		{"asctime date", "Tue Dec  1 10:00:05 2026", 5 * time.Second},
		{"date in the past", "Mon, 30 Nov 2026 10:00:00 GMT", 0},
		{"date far ahead", "Fri, 31 Dec 9999 23:59:59 GMT", math.MaxInt64},
		{"malformed date", "Tue, 41 Dec 2026 10:01:30 GMT", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, parseRetryAfter(tc.value, now))
		})
	}
}

func TestGRPCRetryDelay(t *testing.T) {
	withDelay := func(d *durationpb.Duration) *status.Status {
		st, err := status.New(codes.Unavailable, "slow down").WithDetails(&errdetails.RetryInfo{RetryDelay: d})
		require.NoError(t, err)
		return st
	}
	for _, tc := range []struct {
		name string
		st   *status.Status
		want time.Duration
	}{
		{"no details", status.New(codes.Unavailable, "down"), 0},
		{"other detail", func() *status.Status {
			st, err := status.New(codes.Unavailable, "down").WithDetails(&errdetails.ErrorInfo{Reason: "x"})
			require.NoError(t, err)
			return st
		}(), 0},
		{"no delay", withDelay(nil), 0},
		{"delay", withDelay(durationpb.New(1500 * time.Millisecond)), 1500 * time.Millisecond},
		{"negative", withDelay(durationpb.New(-time.Minute)), 0},
		{"1000 years: saturates", withDelay(&durationpb.Duration{Seconds: 1000 * 365 * 86400}), math.MaxInt64},
		{"invalid (nanos and seconds of opposite signs)", withDelay(&durationpb.Duration{Seconds: 5, Nanos: -1}), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, grpcRetryDelay(tc.st))
		})
	}
}

// throttlingBackend refuses the first request with a retry hint and accepts
// every later one; it records when each request arrived.
type throttlingBackend struct {
	mu    sync.Mutex
	times []time.Time
}

// arrive records a request and reports whether it is the first.
func (b *throttlingBackend) arrive() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.times = append(b.times, time.Now())
	return len(b.times) == 1
}

// gap is the time between the refused request and the next one.
func (b *throttlingBackend) gap() (time.Duration, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.times) < 2 {
		return 0, false
	}
	return b.times[1].Sub(b.times[0]), true
}

// startRetryAfterHTTP runs an OTLP/HTTP backend on 127.0.0.1 that answers the
// first request 429 with this Retry-After value.
func startRetryAfterHTTP(t *testing.T, retryAfter string) (string, *throttlingBackend) {
	t.Helper()
	b := &throttlingBackend{}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/traces", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if b.arrive() {
			w.Header().Set("Retry-After", retryAfter)
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		out, _ := ptraceotlp.NewExportResponse().MarshalProto()
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: time.Second}
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(l) })
	t.Cleanup(func() { _ = srv.Close(); wg.Wait() })
	return "http://" + l.Addr().String(), b
}

type retryInfoTraces struct {
	ptraceotlp.UnimplementedGRPCServer
	b     *throttlingBackend
	delay time.Duration
}

func (s *retryInfoTraces) Export(context.Context, ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	if s.b.arrive() {
		st, err := status.New(codes.ResourceExhausted, "slow down").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(s.delay)})
		if err != nil {
			return ptraceotlp.NewExportResponse(), err
		}
		return ptraceotlp.NewExportResponse(), st.Err()
	}
	return ptraceotlp.NewExportResponse(), nil
}

// startRetryInfoGRPC runs an OTLP/gRPC backend on 127.0.0.1 that answers the
// first request ResourceExhausted with a RetryInfo of this delay.
func startRetryInfoGRPC(t *testing.T, delay time.Duration) (string, *throttlingBackend) {
	t.Helper()
	b := &throttlingBackend{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, &retryInfoTraces{b: b, delay: delay})
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(l) })
	t.Cleanup(func() { srv.Stop(); wg.Wait() })
	return l.Addr().String(), b
}

// TestBackendRetryHintHonouredButCapped: a real backend refuses the first
// request with a retry hint. The exporter waits at least the hint, but never
// longer than retry.max_interval: the endpoint is retried within the cap
// however long the backend asked for (63 years, a date in 2100, a number too
// large for any integer). A hint that is no number or date is ignored: only
// the exporter's own backoff applies.
func TestBackendRetryHintHonouredButCapped(t *testing.T) {
	const slack = 2 * time.Second // scheduling, flush interval, -race on a busy machine
	for _, tc := range []struct {
		name        string
		protocol    string
		retryAfter  string        // HTTP
		retryInfo   time.Duration // gRPC
		maxInterval time.Duration
		// the refused request's endpoint is retried in [minGap, maxGap)
		minGap, maxGap time.Duration
	}{
		{name: "http seconds honoured", protocol: ProtocolHTTP, retryAfter: "2", maxInterval: 5 * time.Second,
			minGap: 2 * time.Second, maxGap: 2*time.Second + slack},
		{name: "http 63 years capped", protocol: ProtocolHTTP, retryAfter: "2000000000", maxInterval: 500 * time.Millisecond,
			minGap: 500 * time.Millisecond, maxGap: 500*time.Millisecond + slack},
		{name: "http overflowing number capped", protocol: ProtocolHTTP, retryAfter: "99999999999999999999999", maxInterval: 500 * time.Millisecond,
			minGap: 500 * time.Millisecond, maxGap: 500*time.Millisecond + slack},
		{name: "http date capped", protocol: ProtocolHTTP, retryAfter: "Fri, 31 Dec 2100 23:59:59 GMT", maxInterval: 500 * time.Millisecond,
			minGap: 500 * time.Millisecond, maxGap: 500*time.Millisecond + slack},
		{name: "http negative ignored", protocol: ProtocolHTTP, retryAfter: "-2000000000", maxInterval: 3 * time.Second,
			minGap: 0, maxGap: slack},
		{name: "http garbage ignored", protocol: ProtocolHTTP, retryAfter: "in a while", maxInterval: 3 * time.Second,
			minGap: 0, maxGap: slack},
		{name: "grpc RetryInfo honoured", protocol: ProtocolGRPC, retryInfo: 1500 * time.Millisecond, maxInterval: 5 * time.Second,
			minGap: 1500 * time.Millisecond, maxGap: 1500*time.Millisecond + slack},
		{name: "grpc RetryInfo of 63 years capped", protocol: ProtocolGRPC, retryInfo: 2000000000 * time.Second, maxInterval: 500 * time.Millisecond,
			minGap: 500 * time.Millisecond, maxGap: 500*time.Millisecond + slack},
		{name: "grpc negative RetryInfo ignored", protocol: ProtocolGRPC, retryInfo: -time.Hour, maxInterval: 3 * time.Second,
			minGap: 0, maxGap: slack},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var addr string
			var b *throttlingBackend
			if tc.protocol == ProtocolHTTP {
				addr, b = startRetryAfterHTTP(t, tc.retryAfter)
			} else {
				addr, b = startRetryInfoGRPC(t, tc.retryInfo)
			}
			cfg := testConfig(t, sink0(t))
			cfg.Protocol = tc.protocol
			cfg.Endpoints = []string{addr}
			cfg.Retry.MaxInterval = tc.maxInterval
			require.NoError(t, cfg.Validate())
			h := startExporter(t, cfg)
			h.sendSpans(0, 10)

			var gap time.Duration
			require.Eventually(t, func() bool {
				var ok bool
				gap, ok = b.gap()
				return ok
			}, tc.maxGap+time.Second, 10*time.Millisecond, "the endpoint was not retried within %s (retry.max_interval %s)", tc.maxGap, tc.maxInterval)
			assert.GreaterOrEqual(t, gap, tc.minGap, "the backend's hint was not honoured")
			assert.Less(t, gap, tc.maxGap, "the backend's hint was not capped")
			require.Eventually(t, func() bool { return h.pending() == 0 }, 5*time.Second, 10*time.Millisecond, "delivered after the retry")
		})
	}
}

func TestCapRetryAfter(t *testing.T) {
	for _, tc := range []struct{ hint, maxInterval, want time.Duration }{
		{0, 30 * time.Second, 0},
		{-time.Second, 30 * time.Second, 0},
		{5 * time.Second, 30 * time.Second, 5 * time.Second},
		{math.MaxInt64, 30 * time.Second, 30 * time.Second},
	} {
		t.Run(fmt.Sprintf("%s_max_%s", tc.hint, tc.maxInterval), func(t *testing.T) {
			assert.Equal(t, tc.want, capRetryAfter(tc.hint, tc.maxInterval))
		})
	}
}
