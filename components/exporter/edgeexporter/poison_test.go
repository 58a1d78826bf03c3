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
// so every other record is delivered; the marked record, alone, is held aside
// after retry.max_attempts_per_record answers, and given up when the backend
// accepts the data behind it but still fails on it: written to the dead
// letter and counted once (reason poison); delivery goes on behind it.
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
			markPoison(td)
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
	assert.GreaterOrEqual(t, poisonRequests.Load(), int32(4), "the marked record was sent alone max_attempts_per_record times, then once more")

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

// markPoison renames every span of td so the sink fails on it.
func markPoison(td ptrace.Traces) ptrace.Traces {
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for k := 0; k < spans.Len(); k++ {
		spans.At(k).SetName(poisonName)
	}
	return td
}

// TestPoisonRunIsDeadLettered: several poison records in a row are held aside
// one after the other until a good record behind them gets through; then each
// is given up, and everything else is delivered.
func TestPoisonRunIsDeadLettered(t *testing.T) {
	sink := newStoppedSink(t)
	sink.setFailTraces(func(td ptrace.Traces) codes.Code {
		if hasPoison(td) {
			return codes.Internal
		}
		return codes.OK
	})
	cfg := testConfig(t, sink.addr)
	cfg.Retry.MaxAttemptsPerRecord = 2
	h := startExporter(t, cfg)
	for i := range 10 {
		td := genTraces(uint64(i*10), 10)
		if i >= 3 && i <= 5 {
			markPoison(td)
		}
		require.NoError(t, h.traces.ConsumeTraces(t.Context(), td))
	}
	sink.start()
	waitFor(t, 30*time.Second, func() bool { return h.pending() == 0 }, "the log drains past the poison records (pending %d)", h.pending())
	got := map[uint64]bool{}
	for _, s := range sink.seqs() {
		got[s] = true
	}
	for i := range uint64(100) {
		assert.Equal(t, i < 30 || i >= 60, got[i], "span %d delivered iff not marked", i)
	}
	assert.Equal(t, int64(30), h.sum("otelcol_exporter_edge_items_dropped", "reason", "poison"))
	assert.Equal(t, int64(30), h.sum("otelcol_exporter_edge_items_dropped"))
	assert.Equal(t, 0, h.traces.e.poison.heldCount())
}

// TestBackendFailingEverythingLosesNothing: a backend that answers Internal to
// every request (its storage is down, say) is an outage, not poison: records
// reach max_attempts_per_record and are held aside, but none is given up, as
// the backend accepts nothing else; when it recovers, everything is delivered.
func TestBackendFailingEverythingLosesNothing(t *testing.T) {
	sink := newTestSink(t)
	sink.setFail(codes.Internal)
	cfg := testConfig(t, sink.addr)
	cfg.Retry.MaxAttemptsPerRecord = 2
	h := startExporter(t, cfg)
	for i := range 5 {
		h.sendSpans(uint64(i*10), 10)
	}
	waitFor(t, 20*time.Second, func() bool { return h.traces.e.poison.heldCount() >= 3 }, "several records held aside (held %d)", h.traces.e.poison.heldCount())
	assert.Equal(t, int64(0), h.sum("otelcol_exporter_edge_items_dropped"), "nothing given up while the backend fails on everything")
	h.sendSpans(50, 10) // new data during the outage
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, int64(0), h.sum("otelcol_exporter_edge_items_dropped"))

	sink.setFail(codes.OK)
	waitFor(t, 20*time.Second, func() bool { return h.pending() == 0 }, "delivery after the backend recovered (pending %d)", h.pending())
	got := map[uint64]bool{}
	for _, s := range sink.seqs() {
		got[s] = true
	}
	assert.Len(t, got, 60)
	assert.Equal(t, int64(0), h.sum("otelcol_exporter_edge_items_dropped"))
	assert.NoFileExists(t, filepath.Join(h.traces.e.bufferDir(), "deadletter-traces.jsonl"))
}

// TestPoisonTracker: the tracker's decisions, step by step.
func TestPoisonTracker(t *testing.T) {
	var p poisonTracker
	// Server errors of one record count; another record starts over.
	for i := range 2 {
		giveUp, held := p.serverError(7, 3)
		require.False(t, giveUp, "attempt %d", i+1)
		require.False(t, held, "attempt %d", i+1)
	}
	giveUp, held := p.serverError(8, 3)
	require.False(t, giveUp || held, "a new record starts over")
	_, _ = p.serverError(7, 3)
	_, _ = p.serverError(7, 3)
	giveUp, held = p.serverError(7, 3)
	require.False(t, giveUp)
	require.True(t, held, "held at the limit")
	assert.True(t, p.skip(7), "held records are left out while there is no evidence")
	assert.False(t, p.skip(8))

	// Without evidence a held record is never given up.
	giveUp, _ = p.serverError(7, 3)
	assert.False(t, giveUp)

	// Another record accepted: evidence, go back to the held one.
	assert.True(t, p.accepted([]uint64{9, 10}))
	assert.False(t, p.accepted([]uint64{11}), "only the first evidence asks to go back")
	assert.False(t, p.skip(7), "sent again once there is evidence")
	// An outage makes the evidence stale.
	p.outage()
	assert.True(t, p.skip(7))
	assert.True(t, p.accepted([]uint64{12}))
	giveUp, _ = p.serverError(7, 3)
	assert.True(t, giveUp, "fails again while the backend accepts other data: poison")
	assert.Equal(t, 0, p.heldCount())

	// A held record that gets through is delivered, not given up.
	for range 3 {
		_, held = p.serverError(20, 3)
	}
	require.True(t, held)
	p.accepted([]uint64{21})
	assert.False(t, p.accepted([]uint64{20}))
	assert.Equal(t, 0, p.heldCount())

	// done forgets held records acknowledged otherwise.
	for range 3 {
		_, held = p.serverError(30, 3)
	}
	require.True(t, held)
	p.done(30)
	assert.Equal(t, 0, p.heldCount())

	// doneThrough forgets held records the log acknowledged or evicted.
	for _, seq := range []uint64{40, 50} {
		for range 3 {
			_, held = p.serverError(seq, 3)
		}
		require.True(t, held)
	}
	p.doneThrough(45)
	assert.True(t, p.skip(50))
	assert.False(t, p.skip(40))
	assert.Equal(t, 1, p.heldCount())
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
