// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otelcol-edge/otelcol-edge/bench/internal/loadgen"
	"github.com/otelcol-edge/otelcol-edge/bench/internal/otlpwire"
	"github.com/otelcol-edge/otelcol-edge/bench/internal/procstat"
	"github.com/otelcol-edge/otelcol-edge/bench/internal/sink"
)

// Latency scenario (L): the latency a collector adds to one span on top of a
// background load. A probe client sends one fresh span every probeInterval
// with its end timestamp = the time it is sent; the sink records arrival time
// minus end timestamp of every probe span. The background load runs at a
// fraction of the anchor's max online rate (S1).

const (
	probeInterval    = 10 * time.Millisecond
	probeMaxInFlight = 64
	probeWaitAfter   = 10 * time.Second // bound on the wait for the last probes
)

// latLevels parses -lat-levels ("10,50,90", percent of the anchor's max rate).
func latLevels(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 || n > 100 {
			return nil, fmt.Errorf("-lat-levels: %q is not a percentage in 1..100", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-lat-levels is empty")
	}
	return out, nil
}

// latKey names the results of one load level.
func latKey(level int) string { return fmt.Sprintf("L%d", level) }

// latVariants are the collectors measured at each level, interleaved.
func (h *harness) latVariants() []variant {
	vs := []variant{
		{label: labelOurs, fsync: "interval"},
		{label: labelAnchor, anchor: true, fsync: "false"},
		{label: labelOursAlways, fsync: "always"},
	}
	if h.o.oursBeforeBin != "" {
		vs = append(vs, variant{label: labelOursBefore, fsync: "interval", bin: h.o.oursBeforeBin})
	}
	return vs
}

// anchorMaxRate is the anchor's max online rate: the median of S1 when it ran,
// -lat-anchor-rate when given, else one S1 run of the anchor now.
func (h *harness) anchorMaxRate(ctx context.Context) (float64, error) {
	if h.o.latAnchorRate > 0 {
		return h.o.latAnchorRate, nil
	}
	if v, _, ok := h.res.median("S1", labelAnchor, "accepted spans/s"); ok && v > 0 {
		return v, nil
	}
	h.logf("L: measuring the anchor's max rate (one S1 run)")
	if err := h.runS1(ctx, variant{label: labelAnchor, anchor: true, fsync: "false"}); err != nil {
		return 0, err
	}
	if v, _, ok := h.res.median("S1", labelAnchor, "accepted spans/s"); ok && v > 0 {
		return v, nil
	}
	return 0, fmt.Errorf("no anchor max rate")
}

func (h *harness) runLatencyScenario(ctx context.Context) error {
	levels, err := latLevels(h.o.latLevels)
	if err != nil {
		return err
	}
	maxRate, err := h.anchorMaxRate(ctx)
	if err != nil {
		return err
	}
	h.latMaxRate = maxRate
	for _, level := range levels {
		rate := maxRate * float64(level) / 100
		for i := range h.o.latRuns {
			for _, v := range h.latVariants() {
				if err := ctx.Err(); err != nil {
					return err
				}
				h.logf("L %d%% (%.0f spans/s) run %d/%d: %s", level, rate, i+1, h.o.latRuns, v.label)
				if err := h.runLatency(ctx, v, level, rate); err != nil {
					h.res.fail(latKey(level), v.label, err)
					h.logf("L %s failed: %v", v.label, err)
				}
			}
		}
	}
	return nil
}

func (h *harness) runLatency(ctx context.Context, v variant, level int, rate float64) error {
	ports, err := procstat.FreePorts(1)
	if err != nil {
		return err
	}
	sk := sink.New(fmt.Sprintf("127.0.0.1:%d", ports[0]))
	sk.TrackProbes(true)
	if err := sk.Start(); err != nil {
		return err
	}
	defer sk.Stop()
	c, err := h.startCollector(ctx, v, ports[0])
	if err != nil {
		return err
	}
	defer c.stop()

	var (
		lr   loadgen.Result
		lerr error
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		lr, lerr = h.load(ctx, c.inAddr, rate, h.o.latWarmup+h.o.latDuration, 0, nil)
	}()
	select {
	case <-time.After(h.o.latWarmup):
	case <-ctx.Done():
	}
	ps := sendProbes(ctx, c.inAddr, h.o.latDuration)
	<-done
	if lerr != nil {
		return lerr
	}
	deadline := time.Now().Add(probeWaitAfter)
	for int64(len(sk.ProbeLatencies())) < ps.accepted && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	lats := sk.ProbeLatencies()
	key := latKey(level)
	m := h.res.add(key, v.label)
	if v.fsync == "always" {
		// The exporter's own fsync latency histogram, over the whole run.
		n, ok1, _ := procstat.Metric(ctx, c.metricsURL, "otelcol_exporter_edge_fsync_latency_count")
		sum, ok2, _ := procstat.Metric(ctx, c.metricsURL, "otelcol_exporter_edge_fsync_latency_sum")
		if ok1 && ok2 && n > 0 {
			m["fsyncs"] = n
			m["mean fsync ms"] = 1000 * sum / n
		}
	}
	m["target spans/s"] = rate
	m["background spans/s"] = lr.SpansPerSecond()
	m["probes sent"] = float64(ps.sent)
	m["probes accepted"] = float64(ps.accepted)
	m["probes received"] = float64(len(lats))
	m["probes skipped (64 in flight)"] = float64(ps.skipped)
	q := quantiles(lats)
	for _, k := range quantileNames {
		m[k] = q[k]
	}
	if h.latPool[key] == nil {
		h.latPool[key] = map[string][]time.Duration{}
	}
	h.latPool[key][v.label] = append(h.latPool[key][v.label], lats...)
	h.logf("  background %.0f spans/s (target %.0f), probes sent %d accepted %d received %d; p50 %.1f p90 %.1f p99 %.1f max %.1f ms",
		lr.SpansPerSecond(), rate, ps.sent, ps.accepted, len(lats), q["p50 ms"], q["p90 ms"], q["p99 ms"], q["max ms"])
	if ps.lastErr != "" {
		h.res.note(key, v.label, "last probe error: "+ps.lastErr)
	}
	if lr.LastError != "" {
		h.res.note(key, v.label, "last load error: "+lr.LastError)
	}
	for _, l := range c.errorLines(3) {
		h.res.note(key, v.label, "log: "+l)
	}
	return nil
}

var quantileNames = []string{"p50 ms", "p90 ms", "p99 ms", "max ms"}

// quantiles are nearest-rank percentiles in milliseconds (NaN without data).
func quantiles(lats []time.Duration) map[string]float64 {
	out := map[string]float64{}
	s := slices.Clone(lats)
	slices.Sort(s)
	at := func(p float64) float64 {
		if len(s) == 0 {
			return math.NaN()
		}
		i := int(math.Ceil(p*float64(len(s)))) - 1
		i = min(max(i, 0), len(s)-1)
		return float64(s[i]) / float64(time.Millisecond)
	}
	out["p50 ms"], out["p90 ms"], out["p99 ms"], out["max ms"] = at(0.50), at(0.90), at(0.99), at(1)
	return out
}

type probeStats struct {
	sent, accepted, skipped int64
	lastErr                 string
}

// sendProbes sends one fresh span every probeInterval for dur on a
// connection of its own; each span's end timestamp is the time it is sent.
// At most probeMaxInFlight probes are outstanding (a probe that would exceed
// it is skipped and counted).
func sendProbes(ctx context.Context, addr string, dur time.Duration) probeStats {
	var st probeStats
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(otlpwire.RawCodec{})))
	if err != nil {
		st.lastErr = err.Error()
		return st
	}
	defer conn.Close()
	var (
		wg       sync.WaitGroup
		inFlight atomic.Int64
		accepted atomic.Int64
		errMu    sync.Mutex
	)
	tick := time.NewTicker(probeInterval)
	defer tick.Stop()
	end := time.Now().Add(dur)
	for n := uint64(1); time.Now().Before(end) && ctx.Err() == nil; n++ {
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
		if inFlight.Load() >= probeMaxInFlight {
			st.skipped++
			continue
		}
		body, err := probeRequest(n, time.Now())
		if err != nil {
			st.lastErr = err.Error()
			continue
		}
		st.sent++
		inFlight.Add(1)
		wg.Add(1)
		go func() {
			defer func() { inFlight.Add(-1); wg.Done() }()
			cctx, cancel := context.WithTimeout(ctx, probeWaitAfter)
			defer cancel()
			var resp []byte
			if err := conn.Invoke(cctx, otlpwire.ExportMethod, body, &resp); err != nil {
				errMu.Lock()
				st.lastErr = err.Error()
				errMu.Unlock()
				return
			}
			accepted.Add(1)
		}()
	}
	wg.Wait()
	st.accepted = accepted.Load()
	return st
}

// probeRequest is an export request with one span n: trace ID
// otlpwire.ProbeMarker + n, ending at end (started 1 ms before).
func probeRequest(n uint64, end time.Time) ([]byte, error) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "latency-probe")
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	var tid [16]byte
	copy(tid[:8], otlpwire.ProbeMarker[:])
	binary.BigEndian.PutUint64(tid[8:], n)
	var sid [8]byte
	binary.BigEndian.PutUint64(sid[:], n)
	sp.SetTraceID(tid)
	sp.SetSpanID(sid)
	sp.SetName("probe")
	sp.SetKind(ptrace.SpanKindClient)
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-time.Millisecond)))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
	return ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
}

// latencyReport is the markdown section of the L scenario: percentiles pooled
// over every run of each collector and level.
func (h *harness) latencyReport() string {
	levels, err := latLevels(h.o.latLevels)
	if err != nil || len(h.latPool) == 0 {
		return ""
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("\n## Latency under load (L)\n\n")
	w("Added latency of one span: a probe client sends one fresh span every %s (its own connection, end timestamp = send time); "+
		"the backend records arrival time minus end timestamp. Background load at %s of the anchor's max online rate (%.0f spans/s%s), "+
		"%s of warm-up, then %s of probes; %d run(s) per collector and level, interleaved, percentiles over all probes received.\n\n",
		probeInterval, levelsText(levels), h.latMaxRate, h.latRateSource(), h.o.latWarmup, h.o.latDuration, h.o.latRuns)
	w("| load | collector | background spans/s | probes sent / received | p50 ms | p90 ms | p99 ms | max ms | mean fsync ms |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, level := range levels {
		key := latKey(level)
		for _, v := range h.latVariants() {
			runs := h.res.runs[key][v.label]
			if len(runs) == 0 {
				continue
			}
			var bg, sent, fsyncs, fsyncMs float64
			for _, m := range runs {
				bg += m["background spans/s"]
				sent += m["probes sent"]
				fsyncs += m["fsyncs"]
				fsyncMs += m["mean fsync ms"] * m["fsyncs"]
			}
			fs := "-"
			if fsyncs > 0 {
				fs = fmt.Sprintf("%.2f", fsyncMs/fsyncs)
			}
			lats := h.latPool[key][v.label]
			q := quantiles(lats)
			w("| %d %% | %s | %.0f | %.0f / %d | %.1f | %.1f | %.1f | %.1f | %s |\n", level, v.label, bg/float64(len(runs)), sent, len(lats),
				q["p50 ms"], q["p90 ms"], q["p99 ms"], q["max ms"], fs)
		}
	}
	return b.String()
}

func (h *harness) latRateSource() string {
	switch {
	case h.o.latAnchorRate > 0:
		return ", from -lat-anchor-rate"
	default:
		return ", the median of the anchor's S1 runs"
	}
}

func levelsText(levels []int) string {
	parts := make([]string, len(levels))
	for i, l := range levels {
		parts[i] = fmt.Sprintf("%d %%", l)
	}
	return strings.Join(parts, ", ")
}
