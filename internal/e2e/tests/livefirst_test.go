// SPDX-License-Identifier: Apache-2.0

package tests // import "github.com/otelcol-edge/otelcol-edge/internal/e2e/tests"

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-edge/otelcol-edge/internal/e2e"
)

// liveFirstOverlay is merged over testdata/edge.yaml: the replay order and
// share under test.
const liveFirstOverlay = `
exporters:
  edge:
    replay:
      order: ${env:EDGE_REPLAY_ORDER}
      min_share: ${env:EDGE_REPLAY_MIN_SHARE}
      max_bytes_per_second: ${env:EDGE_REPLAY_MAX_BPS:-0}
`

// liveBase is the first span ID sequence of live spans; the backlog uses
// 0..liveBase-1.
const liveBase = uint64(1) << 40

// smallTraces returns n small spans (one resource, one scope) with span IDs
// SpanIDFor(from..from+n-1) and end timestamp end: about 60 bytes each, so a
// backlog of a million spans stays cheap to build, send and decode.
func smallTraces(from uint64, n int, end time.Time) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "livefirst")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	spans.EnsureCapacity(n)
	ts := pcommon.NewTimestampFromTime(end)
	for i := range n {
		seq := from + uint64(i)
		s := spans.AppendEmpty()
		var tid [16]byte
		binary.BigEndian.PutUint64(tid[8:], seq/8+1)
		s.SetTraceID(tid)
		s.SetSpanID(e2e.SpanIDFor(seq))
		s.SetName("op")
		s.SetStartTimestamp(ts - 1000)
		s.SetEndTimestamp(ts)
	}
	return td
}

// arrivalLog records, at the backend, when each request arrives and what it
// holds: backlog or live spans (the exporter never mixes the two streams in
// one request with live_first), their bytes, and each live span's delay
// (arrival minus its end timestamp, which the sender set to the send time).
type arrivalLog struct {
	mu            sync.Mutex
	liveDelays    []time.Duration
	backlogSpans  int
	backlogBytes  int64 // while both streams were flowing
	liveBytes     int64 // idem
	lastBacklogAt time.Time
	firstAt       time.Time
	mixed         int
}

func (a *arrivalLog) observe(info e2e.RequestInfo) e2e.FailureMode {
	now := time.Now()
	if info.Signal != e2e.SignalTraces {
		return e2e.FailNone
	}
	var m ptrace.ProtoMarshaler
	size := int64(m.TracesSize(info.Traces))
	var live, backlog int
	var delays []time.Duration
	rss := info.Traces.ResourceSpans()
	for i := range rss.Len() {
		sss := rss.At(i).ScopeSpans()
		for j := range sss.Len() {
			spans := sss.At(j).Spans()
			for k := range spans.Len() {
				s := spans.At(k)
				if n, _ := e2e.SpanIDSeq(s.SpanID()); n >= liveBase {
					live++
					delays = append(delays, now.Sub(s.EndTimestamp().AsTime()))
				} else {
					backlog++
				}
			}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.firstAt.IsZero() {
		a.firstAt = now
	}
	if live > 0 && backlog > 0 {
		a.mixed++
	}
	a.liveDelays = append(a.liveDelays, delays...)
	if backlog > 0 {
		a.backlogSpans += backlog
		a.lastBacklogAt = now
		a.backlogBytes += size
	} else if live > 0 {
		a.liveBytes += size
	}
	return e2e.FailNone
}

// percentile returns the p-th percentile (0..1) of ds (sorted in place).
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(p*float64(len(ds))+0.5) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

// liveFirstRun is the outcome of one outage-and-drain run.
type liveFirstRun struct {
	p50, p99, max time.Duration
	liveSpans     int
	drain         time.Duration // first request after the outage to the last backlog request
	share         float64       // backlog bytes / all bytes sent while the backlog drained
	duplicates    int
}

// startLiveFirstEdge starts the binary with testdata/edge.yaml and
// liveFirstOverlay (replay.order order, min_share 0.2, max_in_flight 2), its
// edge exporter sending to sink, and the variables in extra on top.
func startLiveFirstEdge(t *testing.T, sink *e2e.Sink, order string, extra map[string]string) *edgeCollector {
	t.Helper()
	overlay := filepath.Join(t.TempDir(), "livefirst.yaml")
	if err := os.WriteFile(overlay, []byte(liveFirstOverlay), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"EDGE_REPLAY_ORDER":     order,
		"EDGE_REPLAY_MIN_SHARE": "0.2",
		"EDGE_MAX_IN_FLIGHT":    "2",
	}
	maps.Copy(vars, extra)
	bufferDir := filepath.Join(t.TempDir(), "buffer")
	env, ports := edgeEnv(t, sink, bufferDir, vars)
	return &edgeCollector{Collector: e2e.StartCollector(t, e2e.CollectorOptions{
		ConfigPaths: []string{filepath.Join(e2e.RepoRoot(t), "testdata", "edge.yaml"), overlay},
		Env:         env,
		HealthURL:   fmt.Sprintf("http://127.0.0.1:%d/", ports[2]),
		MetricsURL:  fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[3]),
	}), grpcPort: ports[0], httpPort: ports[1], healthPort: ports[2], metricsPort: ports[3], bufferDir: bufferDir}
}

// runOutageDrain runs the binary with its backend down, builds a backlog of
// backlog spans (sent over outage at the least), brings the backend back,
// and sends live spans (liveEvery, liveBatch spans each) until the backlog
// has drained. It asserts zero loss by span ID, at most one request of
// duplicates (one reconnect) and no drop, and returns the live delays.
func runOutageDrain(t *testing.T, order string, backlog int, outage time.Duration, replayBPS int, batchItems int) liveFirstRun {
	t.Helper()
	const (
		liveEvery = 50 * time.Millisecond
		liveBatch = 5
		perReq    = 1000
	)
	sink := newStoppedSink(t, e2e.SinkOptions{})
	arrivals := &arrivalLog{}
	sink.SetFailureFunc(arrivals.observe)
	c := startLiveFirstEdge(t, sink, order, map[string]string{
		"EDGE_REPLAY_BPS":      strconv.Itoa(replayBPS),
		"EDGE_BATCH_MAX_ITEMS": strconv.Itoa(batchItems),
	})
	client := e2e.NewGRPCClient(t, c.grpcEndpoint())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// The outage: the backlog arrives spread over it.
	start := time.Now()
	reqs := backlog / perReq
	for i := range reqs {
		if err := client.SendTraces(ctx, smallTraces(uint64(i*perReq), perReq, time.Now())); err != nil {
			t.Fatalf("backlog request %d: %v", i, err)
		}
		if outage > 0 {
			time.Sleep(time.Until(start.Add(outage * time.Duration(i+1) / time.Duration(reqs))))
		}
	}
	e2e.Eventually(t, time.Minute, 100*time.Millisecond, func() bool {
		return c.edgeMetric("exporter_edge_buffer_items", nil) == float64(backlog)
	}, "the backlog of %d spans buffered (buffer_items %v)", backlog, c.edgeMetric("exporter_edge_buffer_items", nil))
	t.Logf("%s: backlog of %d spans buffered in %v", order, backlog, time.Since(start).Round(time.Millisecond))

	// The backend returns; live data starts once it has answered the
	// exporter (data sent before that is part of the outage's backlog).
	sink.Start()
	e2e.Eventually(t, 30*time.Second, 5*time.Millisecond, func() bool { return sink.SpanCount() > 0 },
		"the backend's first request after the outage")
	var liveSent atomic.Int64
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		tick := time.NewTicker(liveEvery)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				done <- nil
				return
			case <-tick.C:
			}
			n := uint64(liveSent.Load())
			if err := client.SendTraces(ctx, smallTraces(liveBase+n, liveBatch, time.Now())); err != nil {
				done <- fmt.Errorf("live request at %d: %w", n, err)
				return
			}
			liveSent.Add(liveBatch)
		}
	}()
	drainTimeout := 5*time.Minute + time.Duration(int64(backlog)*70/int64(max(replayBPS, 1)))*time.Second
	deadline := time.Now().Add(drainTimeout)
	for {
		arrivals.mu.Lock()
		got := arrivals.backlogSpans
		arrivals.mu.Unlock()
		if got >= backlog || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second) // live data a little beyond the drain
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	ids := append(seqRange(0, uint64(backlog)), seqRange(liveBase, liveBase+uint64(liveSent.Load()))...)
	waitAllSpans(t, sink, ids, 30*time.Second)
	e2e.Eventually(t, 30*time.Second, 100*time.Millisecond, func() bool {
		return c.edgeMetric("exporter_edge_state", nil) == 0 && c.edgeMetric("exporter_edge_buffer_items", nil) == 0
	}, "online with an empty buffer (state %v, buffer_items %v)", c.edgeMetric("exporter_edge_state", nil), c.edgeMetric("exporter_edge_buffer_items", nil))
	m := c.Metrics()
	if d := metricValue(m, "exporter_edge_items_dropped", nil); d != 0 {
		t.Errorf("items_dropped = %v, want 0 (no budget pressure)", d)
	}
	dups := sink.DuplicateSpanCount()
	if dups > batchItems {
		t.Errorf("%d duplicate spans, want at most one request (%d spans) for the one reconnect", dups, batchItems)
	}

	arrivals.mu.Lock()
	defer arrivals.mu.Unlock()
	if arrivals.mixed > 0 {
		t.Errorf("%d requests mixed live and backlog spans", arrivals.mixed)
	}
	res := liveFirstRun{
		liveSpans:  len(arrivals.liveDelays),
		drain:      arrivals.lastBacklogAt.Sub(arrivals.firstAt),
		duplicates: dups,
	}
	if tot := arrivals.backlogBytes + arrivals.liveBytes; tot > 0 {
		res.share = float64(arrivals.backlogBytes) / float64(tot)
	}
	delays := slices.Clone(arrivals.liveDelays)
	res.p50, res.p99, res.max = percentile(delays, 0.50), percentile(delays, 0.99), percentile(delays, 1)
	t.Logf("%s: %d backlog spans drained in %v at %d B/s; %d live spans: delay p50 %v p99 %v max %v; backlog share of the bytes %.3f; %d duplicates",
		order, backlog, res.drain.Round(time.Millisecond), replayBPS, res.liveSpans,
		res.p50.Round(time.Millisecond), res.p99.Round(time.Millisecond), res.max.Round(time.Millisecond), res.share, dups)
	return res
}

// TestLiveFirstAfterOutage runs the binary with its backend down while a
// backlog builds up (200,000 spans; OTELCOL_EDGE_LONG=1: a 60 s outage with
// 1,000,000 spans), then brings the backend back behind a replay byte cap
// low enough that the drain takes several seconds, and sends live spans
// (unique IDs, end timestamp = send time) all along the drain. With
// replay.order live_first the live spans' delay at the backend has p99
// under 2 s while the backlog drains; nothing is lost (by span ID), at most
// one request is duplicated for the one reconnect, nothing is dropped. The
// same run with in_order (the default) is reported for comparison: there
// live data waits behind the backlog (and the test asserts it does, so the
// comparison means something).
func TestLiveFirstAfterOutage(t *testing.T) {
	backlog, outage, bps := 200_000, time.Duration(0), 2_000_000
	if long() {
		backlog, outage, bps = 1_000_000, 60*time.Second, 3_000_000
	}
	const batchItems = 2000
	runs := map[string]liveFirstRun{}
	for _, order := range []string{"live_first", "in_order"} {
		t.Run(order, func(t *testing.T) {
			runs[order] = runOutageDrain(t, order, backlog, outage, bps, batchItems)
		})
	}
	lf, io2 := runs["live_first"], runs["in_order"]
	if lf.liveSpans == 0 || io2.liveSpans == 0 {
		t.Fatalf("a run sent no live spans: %+v %+v", lf, io2)
	}
	if lf.drain < 3*time.Second {
		t.Errorf("live_first: the backlog drained in %v: too fast for the cap to matter", lf.drain)
	}
	if lf.p99 >= 2*time.Second {
		t.Errorf("live_first: live delay p99 %v, want < 2s while the backlog drains (%v)", lf.p99, lf.drain)
	}
	if io2.p99 < 2*time.Second {
		t.Errorf("in_order: live delay p99 %v: live data should wait behind a backlog that drains in %v", io2.p99, io2.drain)
	}
	t.Logf("live delay p50/p99: live_first %v/%v, in_order %v/%v (drain %v / %v)",
		lf.p50.Round(time.Millisecond), lf.p99.Round(time.Millisecond), io2.p50.Round(time.Millisecond), io2.p99.Round(time.Millisecond),
		lf.drain.Round(time.Millisecond), io2.drain.Round(time.Millisecond))
}

// TestKill9DuringLiveFirstReplay: a backlog of 100,000 spans builds up with
// the backend down; the backend comes back behind a replay cap (about 22 s of
// drain) and live spans flow fast (5 spans a request, 4 senders back to back),
// so that the live range runs more than 4,000 records ahead of the backlog
// (beyond the cursor's 3,456-record window of out-of-order acknowledgements:
// the live range's own acknowledged prefix must carry them); mid-drain the
// collector is killed with SIGKILL and started again on the same buffer
// directory (the live range and its acknowledgements come back from the
// cursor file). Every span the collector acknowledged reaches the backend
// (received ⊇ accepted, by span ID), no item is counted as dropped in either
// life (no budget pressure), the buffer empties to exactly 0 and the state
// returns to online, and the duplicates are bounded by the requests in flight
// at the kill (max_in_flight 2) plus one per reconnect: forgetting the live
// range's acknowledgements would send the ~20,000 live spans again.
func TestKill9DuringLiveFirstReplay(t *testing.T) {
	const (
		backlog    = 100_000
		perReq     = 1000
		batchItems = 2000
		inFlight   = 2
		liveBatch  = 5
	)
	sink := newStoppedSink(t, e2e.SinkOptions{})
	arrivals := &arrivalLog{}
	sink.SetFailureFunc(arrivals.observe)
	c := startLiveFirstEdge(t, sink, "live_first", map[string]string{
		"EDGE_REPLAY_BPS":      "250000",
		"EDGE_BATCH_MAX_ITEMS": strconv.Itoa(batchItems),
	})
	client := e2e.NewGRPCClient(t, c.grpcEndpoint())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for i := range backlog / perReq {
		if err := client.SendTraces(ctx, smallTraces(uint64(i*perReq), perReq, time.Now())); err != nil {
			t.Fatalf("backlog request %d: %v", i, err)
		}
	}
	e2e.Eventually(t, time.Minute, 100*time.Millisecond, func() bool {
		return c.edgeMetric("exporter_edge_buffer_items", nil) == backlog
	}, "the backlog buffered")
	sink.Start()
	e2e.Eventually(t, 30*time.Second, 5*time.Millisecond, func() bool { return sink.SpanCount() > 0 },
		"the backend's first request after the outage")

	// Live spans all along, through the kill, from 4 senders: only
	// acknowledged ones count.
	var mu sync.Mutex
	var accepted []uint64
	var next atomic.Uint64
	stop := make(chan struct{})
	var senders sync.WaitGroup
	for range 4 {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				from := liveBase + next.Add(liveBatch) - liveBatch
				td := smallTraces(from, liveBatch, time.Now())
				if ok, _, _ := sendUntilAccepted(ctx, client, td, time.Now().Add(30*time.Second)); ok {
					mu.Lock()
					accepted = append(accepted, seqRange(from, from+liveBatch)...)
					mu.Unlock()
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { senders.Wait(); close(done) }()
	const liveAhead = 4000 * liveBatch // live records beyond the cursor's out-of-order window
	e2e.Eventually(t, time.Minute, 20*time.Millisecond, func() bool {
		mu.Lock()
		n := len(accepted)
		mu.Unlock()
		return n >= liveAhead
	}, "%d live spans acknowledged", liveAhead)
	arrivals.mu.Lock()
	if arrivals.backlogSpans >= backlog {
		t.Fatalf("the backlog drained before the kill: raise the backlog or lower the cap")
	}
	arrivals.mu.Unlock()
	time.Sleep(time.Second) // their acknowledgements by the backend reach the cursor file
	if d := c.edgeMetric("exporter_edge_items_dropped", nil); d != 0 {
		t.Errorf("first life: items_dropped = %v before the kill, want 0", d)
	}
	if st := c.edgeMetric("exporter_edge_state", nil); st != 2 {
		t.Errorf("state = %v mid-drain, want 2 (replaying)", st)
	}
	arrivals.mu.Lock()
	atKill := arrivals.backlogSpans
	arrivals.mu.Unlock()
	if code := c.Kill(); code != 137 {
		t.Fatalf("kill -9: exit code %d", code)
	}
	mu.Lock()
	liveAtKill := len(accepted)
	mu.Unlock()
	t.Logf("killed with %d of %d backlog spans and %d live spans delivered", atKill, backlog, liveAtKill)
	c.Restart()

	e2e.Eventually(t, 2*time.Minute, 100*time.Millisecond, func() bool {
		arrivals.mu.Lock()
		defer arrivals.mu.Unlock()
		return arrivals.backlogSpans >= backlog
	}, "the backlog delivered after the restart")
	time.Sleep(500 * time.Millisecond)
	close(stop)
	<-done
	mu.Lock()
	ids := append(seqRange(0, backlog), accepted...)
	mu.Unlock()
	// The four senders are not paced: on a loaded machine (the -race sink
	// shares the CPUs) the collector accepts live spans faster than they
	// reach the backend, and 80,000 to 120,000 of them were still on their
	// way 30 s after the backlog drained (load average 10). They are in the
	// buffer, not lost: the wait is bounded by what they need.
	waitAllSpans(t, sink, ids, 2*time.Minute)
	e2e.Eventually(t, 30*time.Second, 100*time.Millisecond, func() bool {
		return c.edgeMetric("exporter_edge_state", nil) == 0 && c.edgeMetric("exporter_edge_buffer_items", nil) == 0
	}, "online with an empty buffer after the restart (state %v, buffer_items %v)",
		c.edgeMetric("exporter_edge_state", nil), c.edgeMetric("exporter_edge_buffer_items", nil))
	m := c.Metrics()
	if d := metricValue(m, "exporter_edge_items_dropped", nil); d != 0 {
		t.Errorf("second life: items_dropped = %v, want 0 (nothing lost, nothing counted twice)", d)
	}
	if sent, appended := metricValue(m, "exporter_edge_items_sent", nil), metricValue(m, "exporter_edge_items_appended", nil); sent < appended {
		t.Errorf("second life: items_sent %v < items_appended %v with an empty buffer", sent, appended)
	}
	dups := sink.DuplicateSpanCount()
	// The requests in flight at the kill, and one request per reconnect
	// (after the outage and after the restart).
	if limit := inFlight*batchItems + 2*batchItems; dups > limit {
		t.Errorf("%d duplicate spans, want at most %d", dups, limit)
	}
	t.Logf("%d backlog + %d live spans delivered, %d duplicates", backlog, len(ids)-backlog, dups)
}

// TestLiveFirstLinkBudgetShare runs the binary with the link budget
// replay.max_bytes_per_second (20,000 wire bytes per second) shared by live
// data and backlog: a backlog of 20,000 spans builds up with the backend
// down; once it is back, live spans arrive at about twice the budget. Over
// 5 s while both wait, the wire bytes (gRPC with gzip, the default; the
// backend gzips each request it receives at the default level to estimate
// them, plus the 5-byte message header) stay within the budget (+30 %: the
// collector's gzip is not the standard library's, measured 0.76 to 1.12 x) and the backlog's share of
// the (uncompressed) bytes is min_share (0.2) ± 0.1 (the issue's ±10 %, in
// share points); nothing is lost once the live load stops and everything
// drains.
func TestLiveFirstLinkBudgetShare(t *testing.T) {
	const (
		backlog  = 20_000
		budget   = 20_000
		minShare = 0.2
	)
	sink := newStoppedSink(t, e2e.SinkOptions{})
	arrivals := &arrivalLog{}
	type req struct {
		at          time.Time
		bytes, wire int64
		backlog     bool
	}
	var mu sync.Mutex
	var reqs []req
	sink.SetFailureFunc(func(info e2e.RequestInfo) e2e.FailureMode {
		if info.Signal == e2e.SignalTraces && info.Traces.SpanCount() > 0 {
			var m ptrace.ProtoMarshaler
			id := info.Traces.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SpanID()
			n, _ := e2e.SpanIDSeq(id)
			now := time.Now()
			body, _ := m.MarshalTraces(info.Traces)
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			_, _ = zw.Write(body)
			_ = zw.Close()
			mu.Lock()
			reqs = append(reqs, req{now, int64(len(body)), int64(z.Len() + 5), n < liveBase})
			mu.Unlock()
		}
		return arrivals.observe(info)
	})
	c := startLiveFirstEdge(t, sink, "live_first", map[string]string{
		"EDGE_REPLAY_MAX_BPS":  strconv.Itoa(budget),
		"EDGE_BATCH_MAX_ITEMS": "500",
	})
	client := e2e.NewGRPCClient(t, c.grpcEndpoint())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for i := range backlog / 1000 {
		if err := client.SendTraces(ctx, smallTraces(uint64(i*1000), 1000, time.Now())); err != nil {
			t.Fatalf("backlog request %d: %v", i, err)
		}
	}
	e2e.Eventually(t, time.Minute, 100*time.Millisecond, func() bool {
		return c.edgeMetric("exporter_edge_buffer_items", nil) == backlog
	}, "the backlog buffered")
	sink.Start()
	e2e.Eventually(t, 30*time.Second, 5*time.Millisecond, func() bool { return sink.SpanCount() > 0 },
		"the backend's first request after the outage")
	// Live data at ~2x the budget: 550 small spans (~33 KB) every 50 ms.
	start := time.Now()
	var live uint64
	for time.Since(start) < 6*time.Second {
		if err := client.SendTraces(ctx, smallTraces(liveBase+live, 550, time.Now())); err != nil {
			t.Fatalf("live request: %v", err)
		}
		live += 550
		time.Sleep(time.Until(start.Add(time.Duration(live/550) * 50 * time.Millisecond)))
	}
	t.Logf("%d live spans sent in %v", live, time.Since(start))
	from, to := start.Add(time.Second), start.Add(6*time.Second)
	mu.Lock()
	var total, bl, wire int64
	for _, r := range reqs {
		if r.at.Before(from) || !r.at.Before(to) {
			continue
		}
		total += r.bytes
		wire += r.wire
		if r.backlog {
			bl += r.bytes
		}
	}
	mu.Unlock()
	rate := float64(wire) / to.Sub(from).Seconds()
	share := float64(bl) / float64(max(total, 1))
	t.Logf("link %.0f wire B/s (%.0f uncompressed) against a budget of %d; backlog share %.3f (min_share %.2f)",
		rate, float64(total)/to.Sub(from).Seconds(), budget, share, minShare)
	if rate > budget*1.3 || rate < budget*0.6 {
		t.Errorf("link rate %.0f wire B/s, want within [0.6, 1.3] x %d", rate, budget)
	}
	if share < minShare-0.1 || share > minShare+0.1 {
		t.Errorf("backlog share %.3f, want %.2f ± 0.1", share, minShare)
	}
	if c.edgeMetric("exporter_edge_buffer_items", nil) == 0 {
		t.Errorf("the buffer drained within the window: the budget did not bind")
	}
	ids := append(seqRange(0, backlog), seqRange(liveBase, liveBase+live)...)
	waitAllSpans(t, sink, ids, 2*time.Minute)
	if d := c.edgeMetric("exporter_edge_items_dropped", nil); d != 0 {
		t.Errorf("items_dropped = %v, want 0", d)
	}
}
