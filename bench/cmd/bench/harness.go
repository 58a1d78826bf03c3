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
	labelOursAlways   = "ours (fsync always)"
	// labelOursBefore is the binary of -ours-before-bin (A/B of a change).
	labelOursBefore = "ours (before)"
)

// variant is one collector set-up.
type variant struct {
	label  string
	anchor bool
	fsync  string // ours: always|interval|never; anchor: true|false
	// compression on the export connection of ours: "" keeps the
	// distribution default (gzip, like the anchor's otlp exporter).
	compression string
	// bin replaces the ours binary (-ours-before-bin); "" is -ours-bin.
	bin string
	// encrypted adds buffer.encryption (-ours-encryption-config and the
	// runner's key) to ours.
	encrypted bool
}

type harness struct {
	o       options
	payload []byte
	tmp     string
	res     *results
	seq     int
	// dropsPerRequest is the number of health-check spans per request, which
	// both pipelines' filter drops.
	dropsPerRequest int

	loadBefore string
	// bufferKey is the key of the encrypted variants (newBufferKey).
	bufferKey string

	// L scenario: every probe latency per level key and label, and the
	// anchor max rate the levels refer to.
	latPool    map[string]map[string][]time.Duration
	latMaxRate float64
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
			vs := []variant{
				{label: labelOurs, fsync: "interval"},
				{label: labelAnchor, anchor: true, fsync: "false"},
				{label: labelOursZstd, fsync: "interval", compression: "zstd"},
				{label: labelOursNone, fsync: "interval", compression: "none"},
			}
			if h.o.encryption {
				vs = append(vs, variant{label: labelOursEnc, fsync: "interval", encrypted: true})
			}
			if h.o.oursBeforeBin != "" {
				vs = append(vs, variant{label: labelOursBefore, fsync: "interval", bin: h.o.oursBeforeBin})
			}
			vs = h.o.pickS1(vs)
			for _, v := range vs {
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
			for _, v := range h.s2Variants() {
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
	if want["lat"] {
		if err := h.runLatencyScenario(ctx); err != nil {
			h.res.fail("L", "all", err)
			h.logf("L failed: %v", err)
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

// s2Variants are the collectors of S2+S3, interleaved: ours fsync always, the
// anchor, ours fsync interval and, with -encryption, ours fsync interval
// encrypted; -s2-variants keeps some of them.
func (h *harness) s2Variants() []variant {
	vs := []variant{
		{label: labelOurs, fsync: "always"},
		{label: labelAnchor, anchor: true, fsync: "true"},
		{label: labelOursInterval, fsync: "interval"},
	}
	if h.o.encryption {
		vs = append(vs, variant{label: labelOursIntervalEnc, fsync: "interval", encrypted: true})
	}
	return pickVariants(vs, h.o.s2Variants, map[string]string{labelOurs: "always", labelAnchor: "anchor", labelOursInterval: "interval", labelOursIntervalEnc: "encrypted"})
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
		if v.bin != "" {
			bin = v.bin
		}
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
		ea, ee := h.encryptionArgs(v)
		args = append(args, ea...)
		env = append(env, ee...)
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

func (h *harness) load(ctx context.Context, addr string, rate float64, dur time.Duration, maxSpans int64, tr *idTracker) (loadgen.Result, error) {
	cfg := loadgen.Config{
		Endpoint:    addr,
		Payload:     h.payload,
		Connections: h.o.conns,
		Workers:     h.o.workers,
		Rate:        rate,
		Duration:    dur,
		MaxSpans:    maxSpans,
		UniqueIDs:   h.o.uniqueIDs,
		Timeout:     15 * time.Second,
	}
	if tr != nil {
		cfg.OnAccepted = tr.onAccepted
	}
	return loadgen.Run(ctx, cfg)
}

// newTracker returns an ID tracker for the payload, or nil when IDs are not
// unique (then loss is counted as spans expected - spans received).
func (h *harness) newTracker() (*idTracker, error) {
	if !h.o.uniqueIDs {
		return nil, nil
	}
	return newIDTracker(h.payload)
}

// delivery is what arrived at the sink for one load run.
type delivery struct {
	expected int64 // spans that must arrive (acknowledged minus health checks)
	received int64 // distinct span IDs received (spans without unique IDs)
	lost     int64
	leaked   int64 // health checks that arrived
	dup      int64
}

// deliveryOf counts what the sink has against what was acknowledged: by span
// ID with a tracker, else by counts (accepted spans minus the health checks
// in them).
func (h *harness) deliveryOf(sk *sink.Sink, tr *idTracker, lr loadgen.Result) delivery {
	if tr != nil {
		o := tr.outcome(sk)
		return delivery{expected: o.expected, received: o.received, lost: o.lost, leaked: o.leaked, dup: o.dup}
	}
	want := h.expected(nil, lr)
	return delivery{expected: want, received: sk.Spans(), lost: max(want-sk.Spans(), 0), leaked: -1, dup: -1}
}

// expected is the number of spans that must arrive at the backend.
func (h *harness) expected(tr *idTracker, lr loadgen.Result) int64 {
	if tr != nil {
		return tr.expected()
	}
	return lr.Accepted - lr.Accepted/int64(h.o.spansPerReq)*int64(h.dropsPerRequest)
}

// record puts the delivery metrics of a run into m and notes what does not
// add up.
func (h *harness) record(m map[string]float64, scenario, label string, d delivery, tr *idTracker, lr loadgen.Result) {
	m["loss (unique span IDs)"] = float64(d.lost)
	m["spans expected at the backend"] = float64(d.expected)
	if d.leaked >= 0 {
		m["health checks delivered (filter leak)"] = float64(d.leaked)
		m["duplicate spans"] = float64(d.dup)
	}
	if tr != nil && tr.tracked() != lr.Accepted {
		h.res.note(scenario, label, fmt.Sprintf("%d spans accepted but only %d in fully accepted requests (partial successes are not tracked by ID)", lr.Accepted, tr.tracked()))
	}
}

func (h *harness) runS1(ctx context.Context, v variant) error {
	ports, err := procstat.FreePorts(1)
	if err != nil {
		return err
	}
	sk := sink.New(fmt.Sprintf("127.0.0.1:%d", ports[0]))
	tr, err := h.newTracker()
	if err != nil {
		return err
	}
	sk.TrackIDs(tr != nil)
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
	self0 := selfCPUSeconds()
	lr, err := h.load(ctx, c.inAddr, h.o.rate, h.o.s1Duration, 0, tr)
	if err != nil {
		return err
	}
	loadEnd := time.Now()
	drained := h.waitDelivered(ctx, sk, tr, lr, 15*time.Second, 90*time.Second)
	drain := time.Since(loadEnd)
	cpu1, err := procstat.CPUSeconds(pid)
	if err != nil {
		return fmt.Errorf("collector died: %w\n%s", err, c.proc.LogTail(2000))
	}
	self1 := selfCPUSeconds()
	hwm, _, _ := procstat.MemoryKB(pid)
	d := h.deliveryOf(sk, tr, lr)
	m := h.res.add("S1", v.label)
	// The load generator, the sink (gzip decompression, decoding) and the
	// span ID bookkeeping run in this process, on the same CPUs: their cost
	// per span bounds the max rate of either collector.
	m["harness CPU-s per M spans (load + sink)"] = (self1 - self0) / (float64(lr.Accepted) / 1e6)
	m["accepted spans/s"] = lr.SpansPerSecond()
	m["CPU-s per M spans"] = (cpu1 - cpu0) / (float64(lr.Accepted) / 1e6)
	m["peak RSS MiB"] = float64(hwm) / 1024
	h.record(m, "S1", v.label, d, tr, lr)
	m["rejected spans"] = float64(lr.Rejected)
	m["drain after load s"] = drain.Seconds()
	m["accepted spans"] = float64(lr.Accepted)
	h.logf("  accepted %d (%.0f/s) rejected %d; expected at the sink %d, received %d, lost %d, health checks delivered %d, duplicates %d; drained=%v in %.1fs cpu %.1fs hwm %d MiB",
		lr.Accepted, lr.SpansPerSecond(), lr.Rejected, d.expected, d.received, d.lost, d.leaked, d.dup, drained, drain.Seconds(), cpu1-cpu0, hwm/1024)
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
	tr, err := h.newTracker()
	if err != nil {
		return err
	}
	sk.TrackIDs(tr != nil)
	c, err := h.startCollector(ctx, v, ports[0])
	if err != nil {
		return err
	}
	defer c.stop()
	pid := c.proc.Pid()
	s2 := h.res.add("S2", v.label)

	cpu0, _ := procstat.CPUSeconds(pid)
	lr, err := h.load(ctx, c.inAddr, 0, h.o.s2MaxTime, h.o.s2Spans, tr)
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
		// The filter drops the health checks before the buffer.
		if n, ok, _ := procstat.Metric(ctx, c.metricsURL, "otelcol_exporter_edge_buffer_items"); ok && int64(n) != h.expected(tr, lr) {
			h.res.note("S2", v.label, fmt.Sprintf("buffer_items %.0f != accepted %d minus health checks", n, lr.Accepted))
		}
	}

	// S3: the backend comes back.
	sinkStart := time.Now()
	if err := sk.Start(); err != nil {
		return err
	}
	cpu2, _ := procstat.CPUSeconds(pid)
	self2 := selfCPUSeconds()
	want := h.expected(tr, lr)
	count := sk.Spans
	if tr != nil {
		count = sk.UniqueSpans
	}
	reached, t95 := waitWithMilestone(ctx, count, want, 0.95, h.o.replayMax)
	drain := time.Since(sinkStart)
	cpu3, _ := procstat.CPUSeconds(pid)
	self3 := selfCPUSeconds()
	received := count()
	first, last := sk.FirstLast()
	s3 := h.res.add("S3", v.label)
	if !first.IsZero() {
		s3["time to first span s"] = first.Sub(sinkStart).Seconds()
		if d := last.Sub(first).Seconds(); d > 0 {
			s3["replay spans/s (first to last span)"] = float64(received) / d
		}
		if !t95.IsZero() {
			if d := t95.Sub(first).Seconds(); d > 0 {
				s3["replay spans/s (first span to 95%)"] = 0.95 * float64(want) / d
			}
		}
	}
	if reached {
		s3["drain time s"] = drain.Seconds()
		s3["replay spans/s (from backend up)"] = float64(received) / drain.Seconds()
	} else {
		h.res.note("S3", v.label, fmt.Sprintf("drain not complete after %s: %d of %d spans", h.o.replayMax, received, want))
	}
	s3["CPU-s per M spans replayed"] = (cpu3 - cpu2) / (float64(max(received, 1)) / 1e6)
	s3["harness CPU-s per M spans replayed (sink)"] = (self3 - self2) / (float64(max(received, 1)) / 1e6)
	// A moment for acknowledgements to be recorded and files to be released.
	time.Sleep(2 * time.Second)
	allocAfter, _, _ := procstat.DiskUsage(c.bufDir)
	hwm, _, _ := procstat.MemoryKB(pid)
	s3["bytes on disk after drain"] = float64(allocAfter)
	s3["peak RSS MiB (whole S2+S3)"] = float64(hwm) / 1024
	d := h.deliveryOf(sk, tr, lr)
	h.record(s3, "S3", v.label, d, tr, lr)
	h.logf("  S3 received %d/%d reached=%v lost %d health checks delivered %d duplicates %d; drain %.1fs first span after %.1fs; disk after %d B; hwm %d MiB",
		d.received, d.expected, reached, d.lost, d.leaked, d.dup, drain.Seconds(), first.Sub(sinkStart).Seconds(), allocAfter, hwm/1024)
	for _, l := range c.errorLines(3) {
		h.res.note("S2", v.label, "log: "+l)
	}
	return nil
}

// waitDelivered waits until every span that must arrive did (distinct span
// IDs with a tracker), no span arrived for idle, or timeout.
func (h *harness) waitDelivered(ctx context.Context, sk *sink.Sink, tr *idTracker, lr loadgen.Result, idle, timeout time.Duration) bool {
	want := h.expected(tr, lr)
	if tr != nil {
		return sk.WaitForUnique(ctx, want, idle, timeout)
	}
	return sk.WaitFor(ctx, want, idle, timeout)
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

// selfCPUSeconds is this process's CPU time (user + system): the load
// generator's, the sink's and the span ID tracker's.
func selfCPUSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return tv(ru.Utime) + tv(ru.Stime)
}

func tv(t syscall.Timeval) float64 {
	return float64(t.Sec) + float64(t.Usec)/1e6
}

// waitWithMilestone waits until count reaches want (or timeout/ctx) and also
// returns when it first reached frac*want.
func waitWithMilestone(ctx context.Context, count func() int64, want int64, frac float64, timeout time.Duration) (bool, time.Time) {
	var tm time.Time
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		n := count()
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

// pickS1 keeps the S1 variants named by -s1-variants (all when empty).
func (o options) pickS1(vs []variant) []variant {
	names := map[string]string{labelOurs: "ours", labelAnchor: "anchor", labelOursZstd: "zstd", labelOursNone: "none", labelOursBefore: "before", labelOursEnc: "encrypted"}
	return pickVariants(vs, o.s1Variants, names)
}

// pickVariants keeps the variants whose short name (names[label]) is in the
// comma-separated list sel, all when sel is empty.
func pickVariants(vs []variant, sel string, names map[string]string) []variant {
	if strings.TrimSpace(sel) == "" {
		return vs
	}
	want := map[string]bool{}
	for _, n := range strings.Split(sel, ",") {
		want[strings.TrimSpace(n)] = true
	}
	var out []variant
	for _, v := range vs {
		if want[names[v.label]] {
			out = append(out, v)
		}
	}
	return out
}
