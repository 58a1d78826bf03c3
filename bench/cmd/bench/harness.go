// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otelcol-edge/otelcol-edge/bench/internal/loadgen"
	"github.com/otelcol-edge/otelcol-edge/bench/internal/procstat"
	"github.com/otelcol-edge/otelcol-edge/bench/internal/sink"
)

// Labels of the collector variants in the results.
const (
	labelOurs         = "ours"
	labelOursInterval = "ours (fsync interval)"
	labelAnchor       = "anchor"
	labelOursZstd     = "ours (zstd to backend)"
	labelOursNone     = "ours (no compression to backend)"
)

// variant is one collector set-up.
type variant struct {
	label  string
	anchor bool
	fsync  string // ours: always|interval|never; anchor: true|false
	// compression on the export connection of ours: "" keeps the
	// distribution default (gzip, like the anchor's otlp exporter).
	compression string
}

type harness struct {
	o       options
	payload []byte
	tmp     string
	res     *results
	seq     int

	loadBefore string
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (h *harness) runScenarios(ctx context.Context) error {
	want := map[string]bool{}
	for _, s := range strings.Split(h.o.scenarios, ",") {
		want[strings.TrimSpace(strings.ToLower(s))] = true
	}
	if want["s1"] {
		for i := range h.o.runs {
			for _, v := range []variant{{labelOurs, false, "interval", ""}, {labelAnchor, true, "false", ""}, {labelOursZstd, false, "interval", "zstd"}, {labelOursNone, false, "interval", "none"}} {
				if err := ctx.Err(); err != nil {
					return err
				}
				h.logf("S1 run %d/%d: %s", i+1, h.o.runs, v.label)
				if err := h.runS1(ctx, v); err != nil {
					h.res.fail("S1", v.label, err)
					h.logf("S1 %s failed: %v", v.label, err)
				}
			}
		}
	}
	if want["s2"] || want["s3"] {
		for i := range h.o.runs {
			for _, v := range []variant{{labelOurs, false, "always", ""}, {labelAnchor, true, "true", ""}, {labelOursInterval, false, "interval", ""}} {
				if err := ctx.Err(); err != nil {
					return err
				}
				h.logf("S2+S3 run %d/%d: %s", i+1, h.o.runs, v.label)
				if err := h.runS2S3(ctx, v); err != nil {
					h.res.fail("S2", v.label, err)
					h.logf("S2+S3 %s failed: %v", v.label, err)
				}
			}
		}
	}
	if want["s4"] {
		for i := range h.o.runs {
			if err := ctx.Err(); err != nil {
				return err
			}
			h.logf("S4 run %d/%d", i+1, h.o.runs)
			h.runS4()
		}
	}
	return nil
}

// collector is one running collector process.
type collector struct {
	v          variant
	proc       *procstat.Proc
	inAddr     string
	metricsURL string
	bufDir     string
	runDir     string
}

// startCollector starts v with an empty buffer directory, exporting only to
// 127.0.0.1:outPort, and waits until it is ready.
func (h *harness) startCollector(ctx context.Context, v variant, outPort int) (*collector, error) {
	h.seq++
	runDir := filepath.Join(h.tmp, fmt.Sprintf("run-%03d-%s", h.seq, strings.Fields(v.label)[0]))
	bufDir := filepath.Join(runDir, "buffer")
	if err := os.MkdirAll(bufDir, 0o700); err != nil {
		return nil, err
	}
	ports, err := procstat.FreePorts(3)
	if err != nil {
		return nil, err
	}
	for _, p := range ports {
		if p == outPort {
			return nil, fmt.Errorf("port %d chosen twice", p)
		}
	}
	inPort, metricsPort, healthPort := ports[0], ports[1], ports[2]
	c := &collector{
		v:          v,
		inAddr:     fmt.Sprintf("127.0.0.1:%d", inPort),
		metricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort),
		bufDir:     bufDir,
		runDir:     runDir,
	}
	var bin string
	var args, env []string
	if v.anchor {
		bin = h.o.anchorBin
		args = []string{"--config", h.o.anchorConfig}
		env = []string{
			"ANCHOR_IN_PORT=" + strconv.Itoa(inPort),
			"ANCHOR_OUT_PORT=" + strconv.Itoa(outPort),
			"ANCHOR_METRICS_PORT=" + strconv.Itoa(metricsPort),
			"ANCHOR_QUEUE_DIR=" + bufDir,
			"ANCHOR_FSYNC=" + v.fsync,
		}
	} else {
		bin = h.o.oursBin
		args = []string{"--config", h.o.oursConfig}
		env = []string{
			"BENCH_IN_PORT=" + strconv.Itoa(inPort),
			"BENCH_OUT_PORT=" + strconv.Itoa(outPort),
			"BENCH_METRICS_PORT=" + strconv.Itoa(metricsPort),
			"BENCH_HEALTH_PORT=" + strconv.Itoa(healthPort),
			"BENCH_BUFFER_DIR=" + bufDir,
			"BENCH_FSYNC=" + v.fsync,
		}
		if v.compression != "" {
			env = append(env, "BENCH_GRPC_COMPRESSION="+v.compression)
		}
	}
	p, err := procstat.Start(v.label, bin, args, env, filepath.Join(runDir, "collector.log"))
	if err != nil {
		return nil, err
	}
	c.proc = p
	readyURL := c.metricsURL
	if !v.anchor {
		readyURL = fmt.Sprintf("http://127.0.0.1:%d/", healthPort)
	}
	if err := p.WaitHTTP(ctx, readyURL, 60*time.Second); err != nil {
		c.stop()
		return nil, err
	}
	if err := p.WaitTCP(ctx, c.inAddr, 30*time.Second); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// stop ends the process group and removes the run directory.
func (c *collector) stop() {
	c.proc.Stop(15 * time.Second)
	_ = os.RemoveAll(c.runDir)
}

// errorLines returns up to n log lines at level error (or panics).
func (c *collector) errorLines(n int) []string {
	b, err := os.ReadFile(c.proc.LogPath)
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "\terror\t") || strings.Contains(l, "panic") {
			if len(l) > 400 {
				l = l[:400] + "..."
			}
			out = append(out, l)
			if len(out) >= n {
				break
			}
		}
	}
	return out
}

func (h *harness) load(ctx context.Context, addr string, rate float64, dur time.Duration, maxSpans int64) (loadgen.Result, error) {
	return loadgen.Run(ctx, loadgen.Config{
		Endpoint:    addr,
		Payload:     h.payload,
		Connections: h.o.conns,
		Workers:     h.o.workers,
		Rate:        rate,
		Duration:    dur,
		MaxSpans:    maxSpans,
		UniqueIDs:   h.o.uniqueIDs,
		Timeout:     15 * time.Second,
	})
}

func (h *harness) runS1(ctx context.Context, v variant) error {
	ports, err := procstat.FreePorts(1)
	if err != nil {
		return err
	}
	sk := sink.New(fmt.Sprintf("127.0.0.1:%d", ports[0]))
	if err := sk.Start(); err != nil {
		return err
	}
	defer sk.Stop()
	c, err := h.startCollector(ctx, v, ports[0])
	if err != nil {
		return err
	}
	defer c.stop()

	pid := c.proc.Pid()
	cpu0, err := procstat.CPUSeconds(pid)
	if err != nil {
		return err
	}
	sk.CaptureNext()
	lr, err := h.load(ctx, c.inAddr, h.o.rate, h.o.s1Duration, 0)
	if err != nil {
		return err
	}
	loadEnd := time.Now()
	drained := sk.WaitFor(ctx, lr.Accepted, 15*time.Second, 90*time.Second)
	drain := time.Since(loadEnd)
	cpu1, err := procstat.CPUSeconds(pid)
	if err != nil {
		return fmt.Errorf("collector died: %w\n%s", err, c.proc.LogTail(2000))
	}
	hwm, _, _ := procstat.MemoryKB(pid)
	received := sk.Spans()
	m := h.res.add("S1", v.label)
	m["accepted spans/s"] = lr.SpansPerSecond()
	m["CPU-s per M spans"] = (cpu1 - cpu0) / (float64(lr.Accepted) / 1e6)
	m["peak RSS MiB"] = float64(hwm) / 1024
	m["loss (accepted - received)"] = float64(lr.Accepted - received)
	m["rejected spans"] = float64(lr.Rejected)
	m["drain after load s"] = drain.Seconds()
	m["accepted spans"] = float64(lr.Accepted)
	h.logf("  accepted %d (%.0f/s) rejected %d received %d drained=%v in %.1fs cpu %.1fs hwm %d MiB",
		lr.Accepted, lr.SpansPerSecond(), lr.Rejected, received, drained, drain.Seconds(), cpu1-cpu0, hwm/1024)
	if lr.LastError != "" {
		h.res.note("S1", v.label, "last load error: "+lr.LastError)
	}
	if msg := checkProcessed(sk.Captured()); msg != "" {
		h.res.note("S1", v.label, "pipeline check: "+msg)
	}
	for _, l := range c.errorLines(3) {
		h.res.note("S1", v.label, "log: "+l)
	}
	return nil
}

func (h *harness) runS2S3(ctx context.Context, v variant) error {
	ports, err := procstat.FreePorts(1)
	if err != nil {
		return err
	}
	// The sink port is chosen but nothing listens on it yet: the backend is down.
	sk := sink.New(fmt.Sprintf("127.0.0.1:%d", ports[0]))
	defer sk.Stop()
	c, err := h.startCollector(ctx, v, ports[0])
	if err != nil {
		return err
	}
	defer c.stop()
	pid := c.proc.Pid()
	s2 := h.res.add("S2", v.label)

	cpu0, _ := procstat.CPUSeconds(pid)
	lr, err := h.load(ctx, c.inAddr, 0, h.o.s2MaxTime, h.o.s2Spans)
	if err != nil {
		return err
	}
	// Let batchers and interval fsyncs settle before measuring the disk.
	time.Sleep(time.Second)
	cpu1, err := procstat.CPUSeconds(pid)
	if err != nil {
		return fmt.Errorf("collector died: %w\n%s", err, c.proc.LogTail(2000))
	}
	alloc, apparent, err := procstat.DiskUsage(c.bufDir)
	if err != nil {
		return err
	}
	s2["spans/s written"] = lr.SpansPerSecond()
	s2["bytes on disk per span (du)"] = float64(alloc) / float64(max(lr.Accepted, 1))
	s2["apparent bytes per span"] = float64(apparent) / float64(max(lr.Accepted, 1))
	s2["CPU-s per M spans"] = (cpu1 - cpu0) / (float64(max(lr.Accepted, 1)) / 1e6)
	s2["accepted spans"] = float64(lr.Accepted)
	s2["rejected spans"] = float64(lr.Rejected)
	h.logf("  S2 accepted %d (%.0f/s) rejected %d du %d B (%.0f B/span) apparent %d B",
		lr.Accepted, lr.SpansPerSecond(), lr.Rejected, alloc, float64(alloc)/float64(max(lr.Accepted, 1)), apparent)
	if lr.LastError != "" {
		h.res.note("S2", v.label, "last load error: "+lr.LastError)
	}
	if sk.Spans() != 0 {
		return fmt.Errorf("sink received spans while down")
	}
	if !v.anchor {
		// The exporter's own view: fsyncs done and items on disk.
		if n, ok, _ := procstat.Metric(ctx, c.metricsURL, "otelcol_exporter_edge_fsync_latency_count"); ok {
			s2["fsync calls per 1k spans"] = n / (float64(max(lr.Accepted, 1)) / 1000)
		} else {
			h.res.note("S2", v.label, "otelcol_exporter_edge_fsync_latency not exported on /metrics")
		}
		if n, ok, _ := procstat.Metric(ctx, c.metricsURL, "otelcol_exporter_edge_buffer_items"); ok && int64(n) != lr.Accepted {
			h.res.note("S2", v.label, fmt.Sprintf("buffer_items %.0f != accepted %d", n, lr.Accepted))
		}
	}

	// S3: the backend comes back.
	sinkStart := time.Now()
	if err := sk.Start(); err != nil {
		return err
	}
	cpu2, _ := procstat.CPUSeconds(pid)
	reached, t95 := waitWithMilestone(ctx, sk, lr.Accepted, 0.95, h.o.replayMax)
	drain := time.Since(sinkStart)
	cpu3, _ := procstat.CPUSeconds(pid)
	received := sk.Spans()
	first, last := sk.FirstLast()
	s3 := h.res.add("S3", v.label)
	if !first.IsZero() {
		s3["time to first span s"] = first.Sub(sinkStart).Seconds()
		if d := last.Sub(first).Seconds(); d > 0 {
			s3["replay spans/s (first to last span)"] = float64(received) / d
		}
		if !t95.IsZero() {
			if d := t95.Sub(first).Seconds(); d > 0 {
				s3["replay spans/s (first span to 95%)"] = 0.95 * float64(lr.Accepted) / d
			}
		}
	}
	if reached {
		s3["drain time s"] = drain.Seconds()
		s3["replay spans/s (from backend up)"] = float64(received) / drain.Seconds()
	} else {
		h.res.note("S3", v.label, fmt.Sprintf("drain not complete after %s: %d of %d spans", h.o.replayMax, received, lr.Accepted))
	}
	s3["CPU-s per M spans replayed"] = (cpu3 - cpu2) / (float64(max(received, 1)) / 1e6)
	// A moment for acknowledgements to be recorded and files to be released.
	time.Sleep(2 * time.Second)
	allocAfter, _, _ := procstat.DiskUsage(c.bufDir)
	hwm, _, _ := procstat.MemoryKB(pid)
	s3["bytes on disk after drain"] = float64(allocAfter)
	s3["peak RSS MiB (whole S2+S3)"] = float64(hwm) / 1024
	s3["loss (accepted - received)"] = float64(lr.Accepted - sk.Spans())
	h.logf("  S3 received %d/%d reached=%v drain %.1fs first span after %.1fs; disk after %d B; hwm %d MiB",
		received, lr.Accepted, reached, drain.Seconds(), first.Sub(sinkStart).Seconds(), allocAfter, hwm/1024)
	for _, l := range c.errorLines(3) {
		h.res.note("S2", v.label, "log: "+l)
	}
	return nil
}

func (h *harness) runS4() {
	dur := 2 * time.Second
	if h.o.quick {
		dur = time.Second
	}
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now()
	iters := 0
	for time.Since(start) < dur {
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(h.payload); err != nil {
			h.res.fail("S4", "floor", err)
			return
		}
		if _, err := req.MarshalProto(); err != nil {
			h.res.fail("S4", "floor", err)
			return
		}
		iters++
	}
	wall := time.Since(start)
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := tv(ru1.Utime) + tv(ru1.Stime) - tv(ru0.Utime) - tv(ru0.Stime)
	spans := float64(iters * h.o.spansPerReq)
	m := h.res.add("S4", "floor")
	m["CPU-s per M spans"] = cpu / (spans / 1e6)
	m["spans/s on one goroutine"] = spans / wall.Seconds()
	h.logf("  S4 %d iterations, %.2f CPU-s per M spans", iters, cpu/(spans/1e6))
}

func tv(t syscall.Timeval) float64 {
	return float64(t.Sec) + float64(t.Usec)/1e6
}

// waitWithMilestone waits until sk has want spans (or timeout/ctx) and also
// returns when it first had frac*want of them.
func waitWithMilestone(ctx context.Context, sk *sink.Sink, want int64, frac float64, timeout time.Duration) (bool, time.Time) {
	var tm time.Time
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		n := sk.Spans()
		if tm.IsZero() && float64(n) >= frac*float64(want) {
			tm = time.Now()
		}
		if n >= want {
			return true, tm
		}
		if time.Now().After(deadline) {
			return false, tm
		}
		select {
		case <-ctx.Done():
			return false, tm
		case <-tick.C:
		}
	}
}

// checkProcessed checks that a request received by the sink went through the
// same processing in both collectors: resource deployment.environment.name=edge
// and host.name=edge-01, span attribute team=payments. It returns "" when all
// is there.
func checkProcessed(raw []byte) string {
	if raw == nil {
		return "no request captured"
	}
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(raw); err != nil {
		return "captured request does not decode: " + err.Error()
	}
	rss := req.Traces().ResourceSpans()
	if rss.Len() == 0 || rss.At(0).ScopeSpans().Len() == 0 || rss.At(0).ScopeSpans().At(0).Spans().Len() == 0 {
		return "captured request has no spans"
	}
	var missing []string
	ra := rss.At(0).Resource().Attributes()
	for k, want := range map[string]string{"deployment.environment.name": "edge", "host.name": "edge-01"} {
		if v, ok := ra.Get(k); !ok || v.AsString() != want {
			missing = append(missing, "resource "+k+"="+want)
		}
	}
	sa := rss.At(0).ScopeSpans().At(0).Spans().At(0).Attributes()
	if v, ok := sa.Get("team"); !ok || v.AsString() != "payments" {
		missing = append(missing, "span team=payments")
	}
	if len(missing) == 0 {
		return ""
	}
	sort.Strings(missing)
	return "missing " + strings.Join(missing, ", ")
}
