// SPDX-License-Identifier: Apache-2.0

package main // import "github.com/otelcol-edge/otelcol-edge/bench/cmd/reliability"

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otelcol-edge/otelcol-edge/bench/internal/loadgen"
	"github.com/otelcol-edge/otelcol-edge/bench/internal/otlpwire"
	"github.com/otelcol-edge/otelcol-edge/bench/internal/procstat"
	"github.com/otelcol-edge/otelcol-edge/bench/internal/sink"
)

// Collector labels in the tables.
const (
	labelOurs   = "ours"
	labelAnchor = "anchor"
)

type harness struct {
	o       options
	payload []byte
	offs    []otlpwire.SpanIDOffsets
	tmp     string
	rep     *report
	seq     int
	idSeed  atomic.Uint64
	logMu   sync.Mutex
}

func newHarness(o options, req []byte, tmp string) (*harness, error) {
	offs, err := otlpwire.IDOffsets(req)
	if err != nil {
		return nil, err
	}
	return &harness{o: o, payload: req, offs: offs, tmp: tmp, rep: newReport(o)}, nil
}

func (h *harness) logf(format string, args ...any) {
	h.logMu.Lock()
	defer h.logMu.Unlock()
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (h *harness) write() error {
	if err := os.MkdirAll(filepath.Dir(h.o.out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(h.o.out, []byte(h.rep.markdown()), 0o644)
}

// runScenarios runs the selected scenarios in the order given; after each,
// checkpoint is called (the report is rewritten so a cut-short run still
// leaves the tables done so far).
func (h *harness) runScenarios(ctx context.Context, checkpoint func()) error {
	all := map[string]func(context.Context) error{
		"r1": h.runOutage,
		"r2": h.runBudget,
		"r3": h.runFlapping,
		"r4": h.runCorruption,
		"r5": h.runPermanentErrors,
		"r6": h.runSoak,
		"r7": h.runInvalidConfigs,
		"r8": h.runLiveFirst,
	}
	for _, s := range strings.Split(h.o.scenarios, ",") {
		s = strings.TrimSpace(strings.ToLower(s))
		fn, ok := all[s]
		if !ok {
			return fmt.Errorf("unknown scenario %q (r1..r8)", s)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		start := time.Now()
		h.logf("=== %s", strings.ToUpper(s))
		if err := fn(ctx); err != nil {
			h.rep.failure(strings.ToUpper(s), err)
			h.logf("%s failed: %v", strings.ToUpper(s), err)
		}
		h.rep.durations = append(h.rep.durations, fmt.Sprintf("%s %s", strings.ToUpper(s), time.Since(start).Round(time.Second)))
		checkpoint()
	}
	return ctx.Err()
}

// instance is one collector set-up that can be started, killed and started
// again on the same ports and buffer directory.
type instance struct {
	h        *harness
	label    string
	anchor   bool
	outPort  int
	inPort   int
	metrics  int
	health   int
	runDir   string
	bufDir   string
	overlays []string
	proc     *procstat.Proc
	starts   int

	maxDisk    atomic.Int64
	stopSample chan struct{}
	sampleDone chan struct{}
}

// newInstance prepares label (ours or the anchor) exporting to
// 127.0.0.1:outPort, with overlay (YAML merged over the base config; empty
// for none). Disk usage of the buffer directory is sampled every 200 ms from
// now until close.
func (h *harness) newInstance(label string, anchor bool, outPort int, overlay string) (*instance, error) {
	h.seq++
	name := strings.NewReplacer(" ", "-", "(", "", ")", "", "/", "-").Replace(label)
	runDir := filepath.Join(h.tmp, fmt.Sprintf("run-%03d-%s", h.seq, name))
	bufDir := filepath.Join(runDir, "buffer")
	if err := os.MkdirAll(bufDir, 0o700); err != nil {
		return nil, err
	}
	var ports []int
	for {
		p, err := procstat.FreePorts(3)
		if err != nil {
			return nil, err
		}
		if p[0] != outPort && p[1] != outPort && p[2] != outPort {
			ports = p
			break
		}
	}
	in := &instance{
		h: h, label: label, anchor: anchor, outPort: outPort,
		inPort: ports[0], metrics: ports[1], health: ports[2],
		runDir: runDir, bufDir: bufDir,
		stopSample: make(chan struct{}), sampleDone: make(chan struct{}),
	}
	if overlay != "" {
		p := filepath.Join(runDir, "overlay.yaml")
		if err := os.WriteFile(p, []byte(overlay), 0o600); err != nil {
			return nil, err
		}
		in.overlays = append(in.overlays, p)
	}
	go in.sampleDisk()
	return in, nil
}

func (in *instance) sampleDisk() {
	defer close(in.sampleDone)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		if alloc, _, err := procstat.DiskUsage(in.bufDir); err == nil && alloc > in.maxDisk.Load() {
			in.maxDisk.Store(alloc)
		}
		select {
		case <-in.stopSample:
			return
		case <-t.C:
		}
	}
}

func (in *instance) inAddr() string { return fmt.Sprintf("127.0.0.1:%d", in.inPort) }
func (in *instance) metricsURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d/metrics", in.metrics)
}

// start runs the collector and waits (up to timeout) until it serves health
// (ours) or metrics (anchor) and its OTLP receiver accepts connections.
func (in *instance) start(ctx context.Context, timeout time.Duration) error {
	o := in.h.o
	in.starts++
	var bin string
	var args, env []string
	if in.anchor {
		bin = o.anchorBin
		args = []string{"--config", o.anchorConfig}
		env = []string{
			"ANCHOR_IN_PORT=" + strconv.Itoa(in.inPort),
			"ANCHOR_OUT_PORT=" + strconv.Itoa(in.outPort),
			"ANCHOR_METRICS_PORT=" + strconv.Itoa(in.metrics),
			"ANCHOR_QUEUE_DIR=" + in.bufDir,
			"ANCHOR_FSYNC=false",
		}
	} else {
		bin = o.oursBin
		args = []string{"--config", o.oursConfig}
		env = []string{
			"BENCH_IN_PORT=" + strconv.Itoa(in.inPort),
			"BENCH_OUT_PORT=" + strconv.Itoa(in.outPort),
			"BENCH_METRICS_PORT=" + strconv.Itoa(in.metrics),
			"BENCH_HEALTH_PORT=" + strconv.Itoa(in.health),
			"BENCH_BUFFER_DIR=" + in.bufDir,
			"BENCH_FSYNC=interval",
		}
	}
	for _, ov := range in.overlays {
		args = append(args, "--config", ov)
	}
	p, err := procstat.Start(in.label, bin, args, env, filepath.Join(in.runDir, fmt.Sprintf("collector-%d.log", in.starts)))
	if err != nil {
		return err
	}
	in.proc = p
	ready := in.metricsURL()
	if !in.anchor {
		ready = fmt.Sprintf("http://127.0.0.1:%d/", in.health)
	}
	deadline := time.Now().Add(timeout)
	if err := p.WaitHTTP(ctx, ready, timeout); err != nil {
		return err
	}
	if err := p.WaitTCP(ctx, in.inAddr(), time.Until(deadline)+time.Second); err != nil {
		return err
	}
	return nil
}

// alive reports whether the current process is running.
func (in *instance) alive() bool { return in.proc != nil && !in.proc.Exited() }

// kill9 kills the collector with SIGKILL.
func (in *instance) kill9() {
	if in.proc != nil {
		in.proc.Kill()
	}
}

// stop ends the collector with SIGTERM (SIGKILL after grace).
func (in *instance) stop(grace time.Duration) {
	if in.proc != nil {
		in.proc.Stop(grace)
	}
}

// close kills the collector, stops the disk sampler and removes the run
// directory.
func (in *instance) close() {
	in.kill9()
	select {
	case <-in.stopSample:
	default:
		close(in.stopSample)
	}
	<-in.sampleDone
	_ = os.RemoveAll(in.runDir)
}

// logLines returns up to n distinct lines of every log of this instance at
// level error or warn that contain one of the words (all error lines when
// words is empty), cut to 300 bytes.
func (in *instance) logLines(n int, words ...string) []string {
	var out []string
	seen := map[string]bool{}
	for i := 1; i <= in.starts; i++ {
		b, err := os.ReadFile(filepath.Join(in.runDir, fmt.Sprintf("collector-%d.log", i)))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			isErr := strings.Contains(l, "\terror\t") || strings.Contains(l, "panic") || strings.HasPrefix(l, "Error:")
			if !isErr && !strings.Contains(l, "\twarn\t") {
				continue
			}
			match := len(words) == 0 && isErr
			for _, w := range words {
				if strings.Contains(l, w) {
					match = true
				}
			}
			if !match {
				continue
			}
			key := logKey(l)
			if seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, cut(key, 240))
			if len(out) >= n {
				return out
			}
		}
	}
	return out
}

// logKey drops the timestamp and the JSON fields of a zap console line
// (keeping "error" and "dropped_items" fields) so repeated messages compare
// equal.
func logKey(l string) string {
	if i := strings.IndexByte(l, '\t'); i > 0 && strings.HasPrefix(l, "20") {
		l = l[i+1:]
	}
	var extra []string
	if i := strings.Index(l, "\t{"); i > 0 {
		fields := l[i+1:]
		l = l[:i]
		for _, k := range []string{`"error": "`, `"dropped_items": `, `"reason": "`} {
			if j := strings.Index(fields, k); j >= 0 {
				v := fields[j+len(k):]
				if e := strings.IndexAny(v, `",}`); e >= 0 {
					v = v[:e]
				}
				extra = append(extra, strings.Trim(k, `": `)+"="+cut(v, 160))
			}
		}
	}
	l = strings.Join(strings.Fields(l), " ")
	if len(extra) > 0 {
		l += " (" + strings.Join(extra, ", ") + ")"
	}
	return l
}

func cut(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// tracker keeps the span IDs of every acknowledged request in the order
// they were acknowledged.
type tracker struct {
	h   *harness
	mu  sync.Mutex
	ids []uint64
}

func (h *harness) newTracker() *tracker { return &tracker{h: h} }

func (t *tracker) onAccepted(b []byte) {
	t.mu.Lock()
	for _, o := range t.h.offs {
		t.ids = append(t.ids, otlpwire.SpanID(b, o.Span))
	}
	t.mu.Unlock()
}

func (t *tracker) len() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return int64(len(t.ids))
}

// outcome compares the acknowledged IDs with what the sink received.
type outcome struct {
	sent, received, lost, dup, extra int64
	// newest and oldest are the delivered shares of the last and first
	// tenth of the acknowledged spans.
	newest, oldest float64
}

func (t *tracker) outcome(sk *sink.Sink) outcome {
	t.mu.Lock()
	ids := append([]uint64(nil), t.ids...)
	t.mu.Unlock()
	var o outcome
	o.sent = int64(len(ids))
	tenth := len(ids) / 10
	var newOK, oldOK int
	sk.IDCounts(ids, func(i int, n uint32) {
		if n == 0 {
			o.lost++
			return
		}
		if i < tenth {
			oldOK++
		}
		if i >= len(ids)-tenth {
			newOK++
		}
	})
	o.received = sk.UniqueSpans()
	o.dup = sk.DuplicateSpans()
	o.extra = o.received - (o.sent - o.lost)
	if tenth > 0 {
		o.newest = float64(newOK) / float64(tenth)
		o.oldest = float64(oldOK) / float64(tenth)
	}
	return o
}

// loadSpec is one load run.
type loadSpec struct {
	addr     string
	rate     float64
	dur      time.Duration
	maxSpans int64
	track    *tracker
	progress *atomic.Int64
	stop     *atomic.Bool
}

func (h *harness) load(ctx context.Context, ls loadSpec) (loadgen.Result, error) {
	if ls.dur <= 0 {
		ls.dur = time.Hour
	}
	cfg := loadgen.Config{
		Endpoint:    ls.addr,
		Payload:     h.payload,
		Connections: h.o.conns,
		Workers:     h.o.workers,
		Rate:        ls.rate,
		Duration:    ls.dur,
		MaxSpans:    ls.maxSpans,
		UniqueIDs:   true,
		IDSeed:      h.idSeed.Add(1),
		Timeout:     15 * time.Second,
		Progress:    ls.progress,
		Stop:        ls.stop,
	}
	if ls.track != nil {
		cfg.OnAccepted = ls.track.onAccepted
	}
	return loadgen.Run(ctx, cfg)
}

// newSink returns a sink on a free port that tracks span IDs; it is not
// started.
func newSink(trackIDs bool) (*sink.Sink, int, error) {
	ports, err := procstat.FreePorts(1)
	if err != nil {
		return nil, 0, err
	}
	sk := sink.New(fmt.Sprintf("127.0.0.1:%d", ports[0]))
	sk.TrackIDs(trackIDs)
	return sk, ports[0], nil
}

// waitDrain waits until every acknowledged span arrived (exact check), or,
// once spans started to arrive, until neither the received nor the failed
// count moved for idle, or until max or ctx ends. It returns whether
// everything arrived and how long it waited.
func (h *harness) waitDrain(ctx context.Context, sk *sink.Sink, t *tracker, idle, max time.Duration) (bool, time.Duration) {
	start := time.Now()
	deadline := start.Add(max)
	last := sk.Spans() + sk.FailedSpans()
	lastChange := time.Now()
	lastExact := time.Time{}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		n := sk.Spans() + sk.FailedSpans()
		if n != last {
			last, lastChange = n, time.Now()
		}
		if sk.UniqueSpans()+sk.FailedSpans() >= t.len() && time.Since(lastExact) > time.Second {
			lastExact = time.Now()
			if sk.FailedSpans() > 0 || t.outcome(sk).lost == 0 {
				return true, time.Since(start)
			}
		}
		if (n > 0 && time.Since(lastChange) > idle) || time.Now().After(deadline) {
			return false, time.Since(start)
		}
		select {
		case <-ctx.Done():
			return false, time.Since(start)
		case <-tick.C:
		}
	}
}

// metricSample is one line of a Prometheus text exposition.
type metricSample struct {
	name   string
	labels map[string]string
	value  float64
}

func scrape(ctx context.Context, url string) ([]metricSample, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := (&http.Client{Timeout: 3 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out []metricSample
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if s, ok := parseSample(sc.Text()); ok {
			out = append(out, s)
		}
	}
	return out, sc.Err()
}

// parseSample parses `name{a="b",c="d"} value [timestamp]`.
func parseSample(line string) (metricSample, bool) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return metricSample{}, false
	}
	s := metricSample{labels: map[string]string{}}
	rest := line
	if i := strings.IndexAny(line, "{ "); i > 0 {
		s.name = line[:i]
		rest = line[i:]
	} else {
		return metricSample{}, false
	}
	if rest[0] == '{' {
		j := strings.LastIndexByte(rest, '}')
		if j < 0 {
			return metricSample{}, false
		}
		for _, kv := range splitLabels(rest[1:j]) {
			k, v, ok := strings.Cut(kv, "=")
			if ok {
				s.labels[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
			}
		}
		rest = rest[j+1:]
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return metricSample{}, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return metricSample{}, false
	}
	s.value = v
	return s, true
}

// splitLabels splits a="b",c="d,e" at the commas outside quotes.
func splitLabels(s string) []string {
	var out []string
	inQ := false
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			inQ = !inQ
		case ',':
			if !inQ {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// metricSum sums the samples of name (or name_total) whose labels include
// every pair of want; ok is false when there is none.
func metricSum(samples []metricSample, name string, want map[string]string) (float64, bool) {
	var sum float64
	found := false
	for _, s := range samples {
		if s.name != name && s.name != name+"_total" {
			continue
		}
		match := true
		for k, v := range want {
			if s.labels[k] != v {
				match = false
				break
			}
		}
		if match {
			sum += s.value
			found = true
		}
	}
	return sum, found
}

// metricNote scrapes in and formats the given metrics (name -> label filter)
// for the notes, e.g. "items_dropped{reason=budget}=123".
func (in *instance) metricNote(ctx context.Context, names ...metricRef) string {
	samples, err := scrape(ctx, in.metricsURL())
	if err != nil {
		return "metrics not scraped: " + err.Error()
	}
	var parts []string
	for _, r := range names {
		v, ok := metricSum(samples, r.name, r.labels)
		if !ok {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%.0f", r.short(), v))
	}
	return strings.Join(parts, ", ")
}

// metricRef names a metric with an optional label filter.
type metricRef struct {
	name   string
	labels map[string]string
}

func (r metricRef) short() string {
	s := strings.TrimPrefix(r.name, "otelcol_")
	s = strings.TrimPrefix(s, "exporter_edge_")
	if len(r.labels) > 0 {
		var kv []string
		for k, v := range r.labels {
			kv = append(kv, k+"="+v)
		}
		s += "{" + strings.Join(kv, ",") + "}"
	}
	return s
}

func dropped(reason string) metricRef {
	return metricRef{"otelcol_exporter_edge_items_dropped", map[string]string{"reason": reason}}
}

var (
	mEdgeBufferItems  = metricRef{name: "otelcol_exporter_edge_buffer_items"}
	mEdgeBufferBytes  = metricRef{name: "otelcol_exporter_edge_buffer_bytes"}
	mAnchorSendFailed = metricRef{name: "otelcol_exporter_send_failed_spans"}
	mAnchorEnqFailed  = metricRef{name: "otelcol_exporter_enqueue_failed_spans"}
	mAnchorQueueSize  = metricRef{name: "otelcol_exporter_queue_size"}
	mAnchorSent       = metricRef{name: "otelcol_exporter_sent_spans"}
)

// collectorMetrics are the counters shown in the notes of every scenario.
func collectorMetrics(anchor bool) []metricRef {
	if anchor {
		return []metricRef{mAnchorSent, mAnchorSendFailed, mAnchorEnqFailed, mAnchorQueueSize}
	}
	return []metricRef{dropped("budget"), dropped("corrupt"), dropped("dead_letter"), dropped("rejected"), dropped("max_age"), mEdgeBufferItems}
}
