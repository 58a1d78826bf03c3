// SPDX-License-Identifier: Apache-2.0

package main // import "github.com/otelcol-edge/otelcol-edge/bench/cmd/reliability"

import (
	"context"
	"fmt"
	"time"
)

// runBudget is R2: with the backend down, three times the disk budget is
// sent; then the backend comes up. Which data survive, and does the disk stay
// within the budget?
func (h *harness) runBudget(ctx context.Context) error {
	b := h.o.budgetBytes
	wire := float64(len(h.payload)) / float64(h.o.spansPerReq)
	spans := int64(3 * float64(b) / wire)
	s := &scenario{
		id:        "R2",
		title:     "disk budget exceeded (3x budget)",
		extraCols: []string{"budget (bytes)", "max disk / budget", "oldest 10 % delivered", "newest 10 % delivered", "drops counted"},
	}
	s.setup = fmt.Sprintf("Budget B = %d bytes (%.0f MiB). The sink is down; %d spans (3 x B of OTLP wire bytes at %.0f bytes/span) are sent at max rate, "+
		"then the sink starts and the drain is awaited. Ours: `buffer.max_disk_bytes: B`, `when_full: drop_oldest`, `compression: false` "+
		"(so that B holds about as many spans as the anchor's B; our default zstd compression stores ~%.0f bytes/span and would never reach the budget with this volume); "+
		"anchor: `sending_queue.sizer: bytes`, `queue_size: B` — v0.161 supports the bytes sizer with a persistent queue; it counts the uncompressed "+
		"protobuf size of the queued requests, not the bbolt file, and there is no drop-oldest (when full it rejects the newest data).",
		b, float64(b)/(1<<20), spans, wire, h.o.zstdBytesPerSpan)
	h.rep.add(s)

	oursOverlay := fmt.Sprintf(`exporters:
  edge:
    buffer:
      max_disk_bytes: %d
      when_full: drop_oldest
      compression: false
`, b)
	anchorOverlay := fmt.Sprintf(`exporters:
  otlp:
    sending_queue:
      sizer: bytes
      queue_size: %d
`, b)
	type v struct {
		label, overlay string
		anchor         bool
		budget, spans  int64
	}
	variants := []v{
		{"ours (drop_oldest, no disk compression)", oursOverlay, false, b, spans},
		{labelAnchor + " (sizer bytes)", anchorOverlay, true, b, spans},
	}
	if h.o.budgetZstdVariant {
		bz := h.o.zstdBudgetBytes
		zspans := int64(3 * float64(bz) / h.o.zstdBytesPerSpan)
		variants = append(variants, v{"ours (default zstd on disk)", fmt.Sprintf(`exporters:
  edge:
    buffer:
      max_disk_bytes: %d
      when_full: drop_oldest
`, bz), false, bz, zspans})
		s.notes = append(s.notes, fmt.Sprintf("\"ours (default zstd on disk)\": our default on-disk compression, budget %d bytes (%.0f MiB), %d spans sent "+
			"(3 x that budget at the ~%.1f bytes/span on disk measured by `make bench` S2).", bz, float64(bz)/(1<<20), zspans, h.o.zstdBytesPerSpan))
	}
	for _, vr := range variants {
		if err := ctx.Err(); err != nil {
			return err
		}
		h.logf("R2 %s: %d spans, budget %d", vr.label, vr.spans, vr.budget)
		r, err := h.budgetRun(ctx, vr.label, vr.anchor, vr.overlay, vr.budget, vr.spans)
		if err != nil {
			r = newRow(vr.label).failed(err)
		}
		s.rows = append(s.rows, r)
	}
	s.notes = append(s.notes, "Loss is expected here (3x the budget cannot fit); what matters is which data survive, "+
		"whether every drop is counted (ours: items_dropped{reason=budget}; anchor: enqueue_failed_spans) and whether the disk stays within the budget "+
		"(ours works in whole segments, so it may exceed B by up to one segment while evicting).")
	return nil
}

func (h *harness) budgetRun(ctx context.Context, label string, anchor bool, overlay string, budget, spans int64) (*row, error) {
	r := newRow(label)
	sk, port, err := newSink(true)
	if err != nil {
		return nil, err
	}
	defer sk.Stop()
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
	time.Sleep(2 * time.Second)
	before := in.metricNote(ctx, collectorMetrics(anchor)...)
	if !in.alive() {
		r.note(fmt.Sprintf("collector exited during the load: %v", in.proc.ExitError()))
	}
	if err := sk.Start(); err != nil {
		return nil, err
	}
	// Loss is certain here, so the drain always ends on idle. Ours replays
	// its log in order without gaps: 10 s without a span is the end. The
	// anchor's queue consumers back off independently (up to 30 s x 1.5),
	// so it gets the full idle time.
	idle := 10 * time.Second
	if anchor {
		idle = h.o.drainIdle
	}
	all, drain := h.waitDrain(ctx, sk, tr, idle, h.o.drainMax)
	// Everything that will come has come when the drain went idle; when all
	// arrived, leave a moment for duplicates.
	if all {
		time.Sleep(time.Second)
	}
	o := tr.outcome(sk)
	r.fromOutcome(o)
	r.maxDisk = in.maxDisk.Load()
	r.extra["budget (bytes)"] = fmt.Sprintf("%d", budget)
	r.extra["max disk / budget"] = fmt.Sprintf("%.2f", float64(r.maxDisk)/float64(budget))
	r.extra["oldest 10 % delivered"] = pct(o.oldest)
	r.extra["newest 10 % delivered"] = pct(o.newest)
	samples, err := scrape(ctx, in.metricsURL())
	if err == nil {
		var counted float64
		if anchor {
			counted, _ = metricSum(samples, mAnchorEnqFailed.name, nil)
			sf, _ := metricSum(samples, mAnchorSendFailed.name, nil)
			counted += sf
		} else {
			counted, _ = metricSum(samples, "otelcol_exporter_edge_items_dropped", map[string]string{"reason": "budget"})
		}
		r.extra["drops counted"] = fmt.Sprintf("%.0f", counted)
		if int64(counted) != o.lost {
			r.note(fmt.Sprintf("drops counted by the collector (%.0f) != acknowledged spans lost (%d)", counted, o.lost))
		}
	}
	r.note(fmt.Sprintf("client: %d accepted, %d rejected", lr.Accepted, lr.Rejected))
	if lr.Rejected > 0 && lr.LastError != "" {
		r.note("last client error: " + cut(lr.LastError, 160))
	}
	r.note("before the drain: " + before)
	if !all {
		r.note(fmt.Sprintf("drain ended after %.0f s (idle or time cap)", drain.Seconds()))
	}
	for _, l := range in.logLines(2, "full", "Dropping", "dropped", "evict", "panic") {
		r.note("log: " + l)
	}
	switch {
	case o.sent == 0:
		r.verdict = "nothing acknowledged"
	case o.newest >= 0.99:
		r.verdict = fmt.Sprintf("newest kept (%s of newest 10 %%); lost %.0f %%; disk %.2f x budget", pct(o.newest), 100*float64(o.lost)/float64(o.sent), float64(r.maxDisk)/float64(budget))
	default:
		r.verdict = fmt.Sprintf("NEWEST LOST (%s of newest 10 %% delivered); lost %.0f %%; disk %.2f x budget", pct(o.newest), 100*float64(o.lost)/float64(o.sent), float64(r.maxDisk)/float64(budget))
	}
	h.logf("  sent %d received %d lost %d dup %d newest %.2f oldest %.2f maxdisk %d", o.sent, o.received, o.lost, o.dup, o.newest, o.oldest, r.maxDisk)
	return r, nil
}
