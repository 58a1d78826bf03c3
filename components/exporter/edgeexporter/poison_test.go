// SPDX-License-Identifier: Apache-2.0

package edgeexporter

import (
	"errors"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const poisonName = "poison"

// hasPoison reports whether a request holds a span marked as poison.
func hasPoison(td ptrace.Traces) bool {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				if spans.At(k).Name() == poisonName {
					return true
				}
			}
		}
	}
	return false
}

func (s *testSink) setFailTraces(f func(ptrace.Traces) codes.Code) {
	s.mu.Lock()
	s.failTraces = f
	s.mu.Unlock()
}

func (s *testSink) requestCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// TestPoisonRecordIsDeadLettered: a live backend answers Internal to every
// request that holds one marked record. The batches around it are bisected
// so every other record is delivered; the marked record, alone, is given up
// after retry.max_attempts_per_record answers, written to the dead letter and
// counted once (reason poison); delivery goes on behind it.
func TestPoisonRecordIsDeadLettered(t *testing.T) {
	sink := newStoppedSink(t)
	var poisonRequests atomic.Int32
	sink.setFailTraces(func(td ptrace.Traces) codes.Code {
		if hasPoison(td) {
			poisonRequests.Add(1)
			return codes.Internal
		}
		return codes.OK
	})
	cfg := testConfig(t, sink.addr)
	cfg.Retry.MaxAttemptsPerRecord = 3
	h := startExporter(t, cfg)
	// Buffered while the backend is down, so the first requests are batches
	// of several records, one of them marked.
	for i := range 10 {
		td := genTraces(uint64(i*10), 10)
		if i == 4 {
			spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
			for k := 0; k < spans.Len(); k++ {
				spans.At(k).SetName(poisonName)
			}
		}
		require.NoError(t, h.traces.ConsumeTraces(t.Context(), td))
	}
	sink.start()
	waitFor(t, 20*time.Second, func() bool { return h.pending() == 0 }, "the log drains past the poison record (pending %d)", h.pending())

	got := map[uint64]bool{}
	for _, s := range sink.seqs() {
		got[s] = true
	}
	for i := range uint64(100) {
		assert.Equal(t, i < 40 || i >= 50, got[i], "span %d delivered iff not marked", i)
	}
	assert.Equal(t, int64(10), h.sum("otelcol_exporter_edge_items_dropped", "reason", "poison"))
	assert.Equal(t, int64(0), h.sum("otelcol_exporter_edge_items_dropped", "reason", "dead_letter"))
	assert.Equal(t, int64(90), h.sum("otelcol_exporter_edge_items_sent", "signal", "traces"))
	assert.GreaterOrEqual(t, poisonRequests.Load(), int32(3), "the marked record was sent alone max_attempts_per_record times")

	// Delivery goes on; the poison record was counted once.
	h.sendSpans(1000, 10)
	waitFor(t, 10*time.Second, func() bool { return sink.spanCount() >= 100 }, "new data delivered")
	assert.Equal(t, int64(10), h.sum("otelcol_exporter_edge_items_dropped", "reason", "poison"))
	assert.Equal(t, int64(10), h.sum("otelcol_exporter_edge_items_dropped"))

	path := filepath.Join(h.traces.e.bufferDir(), "deadletter-traces.jsonl")
	h.stop()
	lines := readTraceLines(t, path)
	require.Len(t, lines, 1, "the poison record, once")
	assert.Equal(t, 10, lines[0].SpanCount())
	assert.True(t, hasPoison(lines[0]))
}

// TestOutageNeverDeadLetters: connection refused, Unavailable, real timeouts,
// ResourceExhausted, Aborted and authentication errors, however many, never
// send data to the dead letter, even with max_attempts_per_record 1.
func TestOutageNeverDeadLetters(t *testing.T) {
	sink := newStoppedSink(t)
	cfg := testConfig(t, sink.addr)
	cfg.Retry.MaxAttemptsPerRecord = 1
	cfg.Timeout = 300 * time.Millisecond
	cfg.Sending.MaxInFlight = 1
	h := startExporter(t, cfg)
	h.sendSpans(0, 10)
	h.sendSpans(10, 10)
	waitFor(t, 5*time.Second, func() bool { return h.sum("otelcol_exporter_edge_send_failures", "kind", "retryable") >= 3 },
		"connection refused, retried")

	// A backend that times out (the exporter's timeout is 300 ms).
	sink.setFailTraces(func(ptrace.Traces) codes.Code {
		time.Sleep(500 * time.Millisecond)
		return codes.Unavailable
	})
	sink.start()
	waitFor(t, 10*time.Second, func() bool { return sink.requestCount() >= 2 }, "timeouts")
	sink.setFailTraces(nil)
	for _, code := range []codes.Code{codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted, codes.Unauthenticated, codes.PermissionDenied} {
		before := sink.requestCount()
		sink.setFail(code)
		waitFor(t, 10*time.Second, func() bool { return sink.requestCount() >= before+2 }, "%v answered twice", code)
	}
	assert.Equal(t, int64(0), h.sum("otelcol_exporter_edge_items_dropped"), "nothing dropped during the outage")
	sink.setFail(codes.OK)
	waitFor(t, 10*time.Second, func() bool { return h.pending() == 0 }, "delivery after the outage")
	got := map[uint64]bool{}
	for _, s := range sink.seqs() {
		got[s] = true
	}
	assert.Len(t, got, 20)
	assert.Equal(t, int64(0), h.sum("otelcol_exporter_edge_items_dropped"))
	assert.NoFileExists(t, filepath.Join(h.traces.e.bufferDir(), "deadletter-traces.jsonl"))
}

// TestClassifyServerErrors: only answers in which a live backend failed on the
// request count toward max_attempts_per_record.
func TestClassifyServerErrors(t *testing.T) {
	for _, tc := range []struct {
		code              codes.Code
		permanent, server bool
	}{
		{codes.Internal, false, true},
		{codes.Unknown, false, true},
		{codes.Unavailable, false, false},
		{codes.DeadlineExceeded, false, false},
		{codes.Canceled, false, false},
		{codes.ResourceExhausted, false, false},
		{codes.Aborted, false, false},
		{codes.Unauthenticated, false, false},
		{codes.PermissionDenied, false, false},
		{codes.DataLoss, false, false},
		{codes.InvalidArgument, true, false},
		{codes.Unimplemented, true, false},
	} {
		t.Run("grpc "+tc.code.String(), func(t *testing.T) {
			se := classifyGRPC(status.Error(tc.code, "x"))
			assert.Equal(t, tc.permanent, se.permanent)
			assert.Equal(t, tc.server, se.serverError)
		})
	}
	assert.False(t, classifyGRPC(errors.New("connection refused")).serverError)
	for _, tc := range []struct {
		code              int
		permanent, server bool
	}{
		{http.StatusInternalServerError, false, true},
		{http.StatusBadGateway, false, false},
		{http.StatusServiceUnavailable, false, false},
		{http.StatusGatewayTimeout, false, false},
		{http.StatusTooManyRequests, false, false},
		{http.StatusRequestTimeout, false, false},
		{http.StatusUnauthorized, false, false},
		{http.StatusBadRequest, true, false},
		{http.StatusNotImplemented, true, false},
	} {
		t.Run("http "+http.StatusText(tc.code), func(t *testing.T) {
			se := classifyHTTP(tc.code, errors.New("x"), "")
			assert.Equal(t, tc.permanent, se.permanent)
			assert.Equal(t, tc.server, se.serverError)
		})
	}
}
