// SPDX-License-Identifier: Apache-2.0

package main // import "github.com/otelcol-edge/otelcol-edge/bench/cmd/reliability"

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/otelcol-edge/otelcol-edge/bench/internal/procstat"
)

// runSoak is R6: a fixed load at a share of our max rate for a long time,
// RSS sampled periodically: after the warm-up it must stay within ±10 % of
// its median, with zero loss.
func (h *harness) runSoak(ctx context.Context) error {
	s := &scenario{
		id:    "R6",
		title: "soak",
		extraCols: []string{"rate spans/s", "RSS samples after warm-up", "RSS min MiB", "RSS max MiB", "RSS median MiB",
			"within ±10 % of median", "zero loss"},
	}
	h.rep.add(s)
	rate := h.o.soakRate
	how := "given with -soak-rate"
	if rate <= 0 {
		max, err := h.measureMaxRate(ctx)
		if err != nil {
			return fmt.Errorf("measuring our max rate: %w", err)
		}
		rate = h.o.soakFraction * max
		how = fmt.Sprintf("%.0f %% of our max rate, %.0f spans/s, measured just before over %s with the sink up", 100*h.o.soakFraction, max, h.o.maxRateDur)
	}
	s.setup = fmt.Sprintf("Sink up, fixed load of %.0f spans/s (%s) for %s; VmRSS sampled every %s; the first %s are warm-up. "+
		"The check: every sample after the warm-up within ±10 %% of their median, and the sink received every acknowledged span "+
		"(counted, not per ID: IDs of hundreds of millions of spans are not kept). Configs unchanged.",
		rate, how, h.o.soakDuration, h.o.soakSample, h.o.soakWarmup)
	variants := []struct {
		label  string
		anchor bool
	}{{labelOurs, false}}
	if h.o.soakAnchor {
		variants = append(variants, struct {
			label  string
			anchor bool
		}{labelAnchor, true})
	} else {
		s.notes = append(s.notes, "The anchor was not soaked (optional, -soak-anchor): the long suite must stay under ~30 minutes.")
	}
	for _, v := range variants {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := h.soakRun(ctx, v.label, v.anchor, rate)
		if err != nil {
			r = newRow(v.label).failed(err)
		}
		s.rows = append(s.rows, r)
	}
	return nil
}

func (h *harness) measureMaxRate(ctx context.Context) (float64, error) {
	sk, port, err := newSink(false)
	if err != nil {
		return 0, err
	}
	defer sk.Stop()
	if err := sk.Start(); err != nil {
		return 0, err
	}
	in, err := h.newInstance("ours (max rate)", false, port, "")
	if err != nil {
		return 0, err
	}
	defer in.close()
	if err := in.start(ctx, 60*time.Second); err != nil {
		return 0, err
	}
	lr, err := h.load(ctx, loadSpec{addr: in.inAddr(), dur: h.o.maxRateDur})
	if err != nil {
		return 0, err
	}
	if lr.Accepted == 0 {
		return 0, fmt.Errorf("nothing accepted: %s", lr.LastError)
	}
	h.logf("R6: our max rate %.0f spans/s", lr.SpansPerSecond())
	return lr.SpansPerSecond(), nil
}

type rssSample struct {
	at  time.Duration
	kib int64
}

func (h *harness) soakRun(ctx context.Context, label string, anchor bool, rate float64) (*row, error) {
	r := newRow(label)
	sk, port, err := newSink(false)
	if err != nil {
		return nil, err
	}
	defer sk.Stop()
	if err := sk.Start(); err != nil {
		return nil, err
	}
	in, err := h.newInstance(label, anchor, port, "")
	if err != nil {
		return nil, err
	}
	defer in.close()
	if err := in.start(ctx, 60*time.Second); err != nil {
		return nil, err
	}
	pid := in.proc.Pid()
	cpu0, _ := procstat.CPUSeconds(pid)
	start := time.Now()
	var samples []rssSample
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(h.o.soakSample)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if _, rss, err := procstat.MemoryKB(pid); err == nil {
					samples = append(samples, rssSample{time.Since(start), rss})
				}
			}
		}
	}()
	h.logf("R6 %s: %.0f spans/s for %s", label, rate, h.o.soakDuration)
	lr, err := h.load(ctx, loadSpec{addr: in.inAddr(), rate: rate, dur: h.o.soakDuration})
	close(stop)
	<-done
	if err != nil {
		return nil, err
	}
	cpu1, _ := procstat.CPUSeconds(pid)
	// Drain: counts only.
	deadline := time.Now().Add(h.o.drainMax)
	last, lastChange := int64(-1), time.Now()
	for time.Now().Before(deadline) && ctx.Err() == nil && sk.Spans() < lr.Accepted {
		if n := sk.Spans(); n != last {
			last, lastChange = n, time.Now()
		}
		if time.Since(lastChange) > 15*time.Second {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	received := sk.Spans()
	r.sent = lr.Accepted
	r.received = received
	r.lost = max(0, lr.Accepted-received)
	r.dup = max(0, received-lr.Accepted)
	r.maxDisk = in.maxDisk.Load()
	r.extra["rate spans/s"] = fmt.Sprintf("%.0f (achieved %.0f)", rate, lr.SpansPerSecond())
	var after []int64
	var all []string
	for _, s := range samples {
		all = append(all, fmt.Sprintf("%ds:%.0f", int(s.at.Seconds()), float64(s.kib)/1024))
		if s.at > h.o.soakWarmup {
			after = append(after, s.kib)
		}
	}
	stable := false
	if len(after) > 0 {
		sorted := append([]int64(nil), after...)
		sort.Slice(sorted, func(a, b int) bool { return sorted[a] < sorted[b] })
		med := float64(sorted[len(sorted)/2])
		if len(sorted)%2 == 0 {
			med = float64(sorted[len(sorted)/2-1]+sorted[len(sorted)/2]) / 2
		}
		lo, hi := float64(sorted[0]), float64(sorted[len(sorted)-1])
		stable = lo >= 0.9*med && hi <= 1.1*med
		r.extra["RSS samples after warm-up"] = fmt.Sprintf("%d", len(after))
		r.extra["RSS min MiB"] = fmt.Sprintf("%.1f", lo/1024)
		r.extra["RSS max MiB"] = fmt.Sprintf("%.1f", hi/1024)
		r.extra["RSS median MiB"] = fmt.Sprintf("%.1f", med/1024)
		r.extra["within ±10 % of median"] = map[bool]string{true: "yes", false: "NO"}[stable]
		// Growth (a leak) versus oscillation (GC): the mean of the last third
		// of the samples against the first third.
		if third := len(after) / 3; third > 0 {
			mean := func(v []int64) float64 {
				var t float64
				for _, x := range v {
					t += float64(x)
				}
				return t / float64(len(v))
			}
			first, last := mean(after[:third]), mean(after[len(after)-third:])
			outside := 0
			for _, x := range after {
				if float64(x) < 0.9*med || float64(x) > 1.1*med {
					outside++
				}
			}
			r.note(fmt.Sprintf("trend: mean RSS of the first third %.1f MiB, last third %.1f MiB (%+.1f %%); %d of %d samples outside ±10 %%",
				first/1024, last/1024, 100*(last-first)/first, outside, len(after)))
		}
	} else {
		r.note("no RSS sample after the warm-up")
	}
	zero := r.lost == 0 && lr.Rejected == 0
	r.extra["zero loss"] = map[bool]string{true: "yes", false: "NO"}[zero]
	r.note("RSS samples (s:MiB): " + strings.Join(all, " "))
	if lr.Accepted > 0 {
		r.note(fmt.Sprintf("collector CPU %.2f s per million spans", (cpu1-cpu0)/(float64(lr.Accepted)/1e6)))
	}
	if lr.Rejected > 0 {
		r.note(fmt.Sprintf("client saw %d spans rejected (last error: %s)", lr.Rejected, cut(lr.LastError, 160)))
	}
	if hwm, _, err := procstat.MemoryKB(pid); err == nil {
		r.note(fmt.Sprintf("peak RSS (VmHWM) %.1f MiB", float64(hwm)/1024))
	}
	r.note(in.metricNote(ctx, collectorMetrics(anchor)...))
	if !in.alive() {
		r.note(fmt.Sprintf("collector exited: %v", in.proc.ExitError()))
	}
	r.verdict = fmt.Sprintf("RSS within ±10 %%: %s; zero loss: %s", r.extra["within ±10 % of median"], r.extra["zero loss"])
	h.logf("  sent %d received %d; RSS %s", r.sent, r.received, strings.Join(all, " "))
	return r, nil
}
