// SPDX-License-Identifier: Apache-2.0

package main // import "github.com/otelcol-edge/otelcol-edge/bench/cmd/reliability"

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otelcol-edge/otelcol-edge/bench/internal/otlpwire"
)

// R8, live data first after an outage: the backend is down while a backlog
// builds up; when it returns, live data (one probe span every
// liveProbeInterval, end timestamp = send time, on a connection of its own)
// is sent until the backlog has drained, and the backend records each probe's
// arrival minus its end timestamp. Ours runs with replay.order live_first and
// the link budget replay.max_bytes_per_second set so that the backlog takes
// about r8TargetDrain to drain; "ours (in_order)" is the same with the
// replay.order in_order; the anchor has no replay order or link budget (its live data
// joins the end of its persistent queue), so it drains at full speed.
const (
	liveProbeInterval = 10 * time.Millisecond
	liveProbeAfter    = time.Second // live data goes on this long after the drain
)

// liveFirstOverlay returns the overlay of ours for R8.
func liveFirstOverlay(order string, linkBPS int64) string {
	return fmt.Sprintf(`exporters:
  edge:
    replay:
      order: %s
      min_share: 0.2
      max_bytes_per_second: %d
`, order, linkBPS)
}

func (h *harness) runLiveFirst(ctx context.Context) error {
	spans, drain := int64(1_000_000), 30*time.Second
	if h.o.quick {
		spans, drain = 200_000, 10*time.Second
	}
	// The link budget (wire bytes: ours sends gzip): the backlog's bytes,
	// gzip-compressed as the payload compresses, over the target drain.
	bytesPerSpan := float64(len(h.payload)) / float64(h.o.spansPerReq)
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, _ = zw.Write(h.payload)
	_ = zw.Close()
	ratio := float64(z.Len()) / float64(len(h.payload))
	linkBPS := int64(float64(spans) * bytesPerSpan * ratio / drain.Seconds())
	s := &scenario{
		id:        "R8",
		title:     "live-first after outage",
		extraCols: []string{"drain s", "live probes sent / received", "live delay p50 ms", "live delay p99 ms", "live delay max ms"},
	}
	s.setup = fmt.Sprintf("The sink is down from the start; %d spans are acknowledged (max rate, unique IDs), then the sink starts. "+
		"From the sink's first request on, one live span every %s (its own connection, end timestamp = send time) until the backlog has drained "+
		"and %s more; the sink records arrival minus end timestamp of each. Ours: bench/configs/edge.yaml with replay.order live_first, "+
		"min_share 0.2 and the link budget replay.max_bytes_per_second %d (wire bytes: the backlog's bytes gzip-compressed as the payload compresses, over %s); "+
		"\"ours (in_order)\" the same with replay.order in_order (the whole log in append order); anchor: bench/anchor/pipeline.yaml unchanged (no replay order, no link budget: "+
		"it drains at full speed and its live data waits behind its queue).", spans, liveProbeInterval, liveProbeAfter, linkBPS, drain)
	h.rep.add(s)
	variants := []struct {
		label, overlay string
		anchor         bool
	}{
		{labelOurs + " (live_first)", liveFirstOverlay("live_first", linkBPS), false},
		{labelOurs + " (in_order)", liveFirstOverlay("in_order", linkBPS), false},
		{labelAnchor, "", true},
	}
	for _, v := range variants {
		if err := ctx.Err(); err != nil {
			return err
		}
		h.logf("R8 %s", v.label)
		r, err := h.liveFirstRun(ctx, v.label, v.anchor, v.overlay, spans)
		if err != nil {
			r = newRow(v.label).failed(err)
		}
		s.rows = append(s.rows, r)
	}
	s.notes = append(s.notes, "Live delay = arrival at the sink minus the span's end timestamp (its send time), for live spans sent after the sink's "+
		"first request; the drain is from that request to the last backlog span. The anchor drains without a cap, so its live delay is its "+
		"full-speed drain time; ours is capped on purpose (a metered link) and still delivers live data first.")
	return nil
}

func (h *harness) liveFirstRun(ctx context.Context, label string, anchor bool, overlay string, spans int64) (*row, error) {
	r := newRow(label)
	sk, port, err := newSink(true)
	if err != nil {
		return nil, err
	}
	defer sk.Stop()
	sk.TrackProbes(true)
	in, err := h.newInstance(label, anchor, port, overlay)
	if err != nil {
		return nil, err
	}
	defer in.close()
	if err := in.start(ctx, 60*time.Second); err != nil {
		return nil, err
	}
	tr := h.newTracker()
	lr, err := h.load(ctx, loadSpec{addr: in.inAddr(), track: tr, maxSpans: spans, dur: 5 * time.Minute})
	if err != nil {
		return nil, err
	}
	h.logf("  backlog: %d spans acknowledged", lr.Accepted)
	if err := sk.Start(); err != nil {
		return nil, err
	}
	first := time.Now()
	for sk.Spans() == 0 && time.Since(first) < time.Minute && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	up := time.Now()
	pctx, stopProbes := context.WithCancel(ctx)
	ps := &liveProbeStats{}
	probesDone := make(chan struct{})
	go func() { defer close(probesDone); sendLiveProbes(pctx, in.inAddr(), ps) }()
	all, _ := h.waitDrain(ctx, sk, tr, h.o.drainIdle, h.o.drainMax)
	_, last := sk.FirstLast()
	drain := last.Sub(up)
	time.Sleep(liveProbeAfter)
	stopProbes()
	<-probesDone
	time.Sleep(time.Second) // the last probes in flight
	if !all {
		r.note(fmt.Sprintf("drain incomplete after %.0f s", time.Since(up).Seconds()))
	}
	lats := sk.ProbeLatencies()
	slices.Sort(lats)
	pct := func(p float64) string {
		if len(lats) == 0 {
			return "n/a"
		}
		i := min(len(lats)-1, max(0, int(p*float64(len(lats))+0.5)-1))
		return fmt.Sprintf("%.0f", float64(lats[i])/float64(time.Millisecond))
	}
	r.extra["drain s"] = fmt.Sprintf("%.1f", drain.Seconds())
	r.extra["live probes sent / received"] = fmt.Sprintf("%d / %d", ps.accepted.Load(), len(lats))
	r.extra["live delay p50 ms"] = pct(0.50)
	r.extra["live delay p99 ms"] = pct(0.99)
	r.extra["live delay max ms"] = pct(1)
	o := tr.outcome(sk)
	// The live probes are not tracked load: leave them out of received.
	o.received -= int64(len(lats))
	o.extra -= int64(len(lats))
	r.fromOutcome(o)
	r.maxDisk = in.maxDisk.Load()
	r.note(in.metricNote(ctx, collectorMetrics(anchor)...))
	if e := ps.lastErr.Load(); e != nil {
		r.note("last live probe error: " + cut(*e, 200))
	}
	r.verdict = verdictLoss(o)
	h.logf("  drain %.1fs; live probes %d: p50 %s p99 %s max %s ms; sent %d received %d lost %d dup %d",
		drain.Seconds(), len(lats), pct(0.5), pct(0.99), pct(1), o.sent, o.received, o.lost, o.dup)
	return r, nil
}

type liveProbeStats struct {
	accepted atomic.Int64
	lastErr  atomic.Pointer[string]
}

// sendLiveProbes sends one fresh span every liveProbeInterval until ctx ends
// (at most 256 outstanding; more are skipped).
func sendLiveProbes(ctx context.Context, addr string, st *liveProbeStats) {
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(otlpwire.RawCodec{})))
	if err != nil {
		e := err.Error()
		st.lastErr.Store(&e)
		return
	}
	defer conn.Close()
	var wg sync.WaitGroup
	var inFlight atomic.Int64
	tick := time.NewTicker(liveProbeInterval)
	defer tick.Stop()
	for n := uint64(1); ctx.Err() == nil; n++ {
		select {
		case <-tick.C:
		case <-ctx.Done():
			continue
		}
		if inFlight.Load() >= 256 {
			continue
		}
		body, err := liveProbeRequest(n, time.Now())
		if err != nil {
			continue
		}
		inFlight.Add(1)
		wg.Add(1)
		go func() {
			defer func() { inFlight.Add(-1); wg.Done() }()
			cctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			var resp []byte
			if err := conn.Invoke(cctx, otlpwire.ExportMethod, body, &resp); err != nil {
				e := err.Error()
				st.lastErr.Store(&e)
				return
			}
			st.accepted.Add(1)
		}()
	}
	wg.Wait()
}

// liveProbeRequest is an export request with one probe span n (trace ID
// otlpwire.ProbeMarker + n, span ID with the top bits set so it cannot meet
// the load's IDs in practice), ending at end.
func liveProbeRequest(n uint64, end time.Time) ([]byte, error) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "live-probe")
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	var tid [16]byte
	copy(tid[:8], otlpwire.ProbeMarker[:])
	binary.BigEndian.PutUint64(tid[8:], n)
	var sid [8]byte
	binary.BigEndian.PutUint64(sid[:], n|0xfeed<<48)
	sp.SetTraceID(tid)
	sp.SetSpanID(sid)
	sp.SetName("live")
	sp.SetKind(ptrace.SpanKindClient)
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-time.Millisecond)))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
	return ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
}
