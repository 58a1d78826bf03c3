// SPDX-License-Identifier: Apache-2.0

package edgeexporter

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/grpc/codes"
)

// TestLinkBudgetShared: replay.max_bytes_per_second caps live data and
// backlog together, in wire bytes (gRPC with gzip, the default: the sink
// compresses each request it receives with the exporter's gzip to know its
// wire size, plus the 5-byte message header). A backlog builds up while the backend is down; once it
// answers, live data arrives at about 2.5 times the link budget. While both
// wait, the bytes the backend receives per second stay within the budget
// (+15 %), the link is used (at least 35 % of it: see below) and the backlog gets
// replay.min_share of the bytes (±0.1). Without the budget, live data would
// leave unpaced (the cap assertion fails).
func TestLinkBudgetShared(t *testing.T) {
	const (
		budget   = 20_000 // bytes per second
		minShare = 0.3
		liveBase = 1 << 20
	)
	type arrival struct {
		at      time.Time
		bytes   int // uncompressed (what min_share counts)
		wire    int // gzip + 5
		backlog bool
	}
	var mu sync.Mutex
	var arrivals []arrival
	sink := newTestSink(t)
	sink.failTraces = func(td ptrace.Traces) codes.Code {
		var m ptrace.ProtoMarshaler
		id := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SpanID()
		backlog := binary.BigEndian.Uint64(id[:]) < liveBase
		now := time.Now()
		body, err := m.MarshalTraces(td)
		require.NoError(t, err)
		var z sliceWriter
		require.NoError(t, gzipAppend(&z, body))
		mu.Lock()
		arrivals = append(arrivals, arrival{now, len(body), len(z.b) + 5, backlog})
		mu.Unlock()
		return codes.OK
	}
	cfg := testConfig(t, sink.addr)
	cfg.Sending.MaxInFlight = 1
	cfg.Sending.BatchMaxItems = 10
	cfg.Replay = ReplayConfig{Order: ReplayLiveFirst, MinShare: minShare, MaxBytesPerSecond: budget}
	h := startExporter(t, cfg)

	sink.setFail(codes.Unavailable)
	for i := range 250 {
		h.sendSpans(uint64(i*10), 10) // ~250 KB (~45 KB gzip): the backlog outlasts the window
	}
	waitFor(t, 10*time.Second, func() bool { return h.traces.e.state.Load() == stateOffline }, "offline")
	sink.setFail(codes.OK)
	waitFor(t, 10*time.Second, func() bool { return sink.spanCount() > 0 }, "the backend to answer again")
	start := time.Now()
	for i := uint64(0); time.Since(start) < 3500*time.Millisecond; i++ {
		h.sendSpans(liveBase+i*5, 5) // ~25 KB/s... in 20 ms steps: ~2.5x the budget
		time.Sleep(10 * time.Millisecond)
	}

	page := h.traces.e.currentSummary(false)
	if assert.NotNil(t, page.LiveFirst, "the status page shows the live-first split while the range is open") {
		t.Logf("status page: %+v", *page.LiveFirst)
		assert.InDelta(t, minShare, page.LiveFirst.BacklogShare, 0.1, "share achieved on the status page")
		assert.Positive(t, page.LiveFirst.LiveBytes)
	}

	mu.Lock()
	defer mu.Unlock()
	from, to := start.Add(500*time.Millisecond), start.Add(3500*time.Millisecond)
	var total, backlog, wire int
	for _, a := range arrivals {
		if a.at.Before(from) || !a.at.Before(to) {
			continue
		}
		total += a.bytes
		wire += a.wire
		if a.backlog {
			backlog += a.bytes
		}
	}
	rate := float64(wire) / to.Sub(from).Seconds()
	share := float64(backlog) / float64(max(total, 1))
	nb := 0
	for _, a := range arrivals {
		if a.backlog {
			nb++
		}
	}
	t.Logf("%d backlog requests of %d", nb, len(arrivals))
	t.Logf("link: %.0f wire B/s (%.0f uncompressed) against a budget of %d; backlog share %.3f (min_share %.2f); %d requests",
		rate, float64(total)/to.Sub(from).Seconds(), budget, share, minShare, len(arrivals))
	assert.LessOrEqual(t, rate, budget*1.15, "the link budget holds for live data and backlog together")
	// The link is used: the backlog always waits, so only the exporter's
	// own speed keeps it below the budget. Under -race on two cores shared
	// with other test packages (load average 11) 45 % was measured with
	// these 1 KB requests, 70-100 % on a quiet machine: the floor is 35 %,
	// which a pacer that over-charges (e.g. uncompressed bytes for wire
	// bytes: about 17 % here) still fails.
	assert.GreaterOrEqual(t, rate, budget*0.35, "the link is used")
	assert.InDelta(t, minShare, share, 0.1, "the backlog's share of the capped link")
	require.Positive(t, h.pending(), "the backlog outlasted the window")
}

// TestLinkBudgetOutageGoesOffline: a request charged against a small link
// budget that fails (backend down) gives its link time back, and the
// exporter goes offline at once instead of waiting the budget out (it then
// opens the live range when the backend answers). Before the refund, a
// 10 s charge kept the state online through the whole outage.
func TestLinkBudgetOutageGoesOffline(t *testing.T) {
	sink := newStoppedSink(t)
	cfg := testConfig(t, sink.addr)
	cfg.Replay = ReplayConfig{Order: ReplayLiveFirst, MinShare: 0.2, MaxBytesPerSecond: 1000}
	h := startExporter(t, cfg)
	h.sendSpans(0, 100) // ~10 KB: 10 s of budget at ratio 1
	waitFor(t, 3*time.Second, func() bool { return h.traces.e.state.Load() == stateOffline }, "offline within 3 s")
	sink.start()
	waitFor(t, 10*time.Second, func() bool { return sink.spanCount() == 100 }, "delivery after the outage")
}

// TestWireBytesReported: an answered request reports its wire size, what the
// link budget charges. Over HTTP the body as sent (gzip, the default); over
// gRPC the compressed message with its 5-byte header, and nothing (no stats
// handler) without replay.max_bytes_per_second.
func TestWireBytesReported(t *testing.T) {
	body := realisticTraces(200)
	t.Run("http", func(t *testing.T) {
		got := make(chan int, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			got <- len(b)
			w.Header().Set("Content-Type", "application/x-protobuf")
			w.WriteHeader(http.StatusOK)
		}))
		defer srv.Close()
		cfg := createDefaultConfig().(*Config)
		c, err := newHTTPClient(context.Background(), cfg, srv.URL, componenttest.NewNopHost(), componenttest.NewNopTelemetrySettings(), "test")
		require.NoError(t, err)
		defer c.close()
		res, serr := c.export(context.Background(), kindTraces, body)
		require.Nil(t, serr)
		n := <-got
		assert.Equal(t, n, res.wireBytes)
		assert.Less(t, n, len(body)/2, "gzip on the wire")
	})
	for _, budget := range []int64{0, 1 << 20} {
		t.Run(fmt.Sprintf("grpc_budget_%d", budget), func(t *testing.T) {
			sink := newTestSink(t)
			cfg := testConfig(t, sink.addr)
			cfg.Replay.MaxBytesPerSecond = budget
			c, err := newGRPCClient(context.Background(), cfg, sink.addr, componenttest.NewNopHost(), componenttest.NewNopTelemetrySettings(), "test")
			require.NoError(t, err)
			defer func() { _ = c.close() }()
			res, serr := c.export(context.Background(), kindTraces, body)
			require.Nil(t, serr)
			if budget == 0 {
				assert.Zero(t, res.wireBytes)
				return
			}
			var z sliceWriter
			require.NoError(t, gzipAppend(&z, body))
			assert.Equal(t, len(z.b)+5, res.wireBytes, "the gzip message and its header")
		})
	}
}
