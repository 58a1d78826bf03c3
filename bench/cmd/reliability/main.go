// SPDX-License-Identifier: Apache-2.0

// Command reliability runs otelcol-edge and the upstream anchor collector
// through the same fault scenarios (backend outage with kill -9 restarts, disk
// budget exceeded, flapping backend, corrupted buffer files, permanent errors
// from the backend, a soak) and checks the invalid configurations of
// testdata/invalid/; it writes one markdown table per scenario and an overall
// table (sent, received, lost, duplicated, max disk used). See bench/README.md.
package main // import "github.com/otelcol-edge/otelcol-edge/bench/cmd/reliability"

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/otelcol-edge/otelcol-edge/bench/internal/payload"
	"github.com/otelcol-edge/otelcol-edge/bench/internal/procstat"
)

type options struct {
	repo         string
	quick        bool
	out          string
	oursBin      string
	anchorBin    string
	oursConfig   string
	anchorConfig string
	invalidDir   string
	scenarios    string
	command      string
	tmpRoot      string
	seed         int64

	spansPerReq int
	conns       int
	workers     int

	drainMax  time.Duration
	drainIdle time.Duration

	// R1
	outageSpans int64
	outageHold  time.Duration
	// outageBatchAnchor adds the anchor with a batch processor in front of
	// its persistent queue (anchorBatchOverlay).
	outageBatchAnchor bool
	// R2
	budgetBytes       int64
	zstdBudgetBytes   int64
	zstdBytesPerSpan  float64
	budgetZstdVariant bool
	// R3
	flapDuration time.Duration
	flapRate     float64
	flapMin      time.Duration
	flapMax      time.Duration
	// R4
	corruptTrials  int
	corruptSpans   int64
	corruptMaxTime time.Duration
	// R5
	errorEvery    int64
	errorRate     float64
	errorDuration time.Duration
	// R6
	soakDuration time.Duration
	soakWarmup   time.Duration
	soakSample   time.Duration
	soakRate     float64
	maxRateDur   time.Duration
	soakFraction float64
	soakAnchor   bool
}

func main() {
	var o options
	flag.StringVar(&o.repo, "repo", "..", "repository root (holds _build/, testdata/invalid/ and bench/anchor/)")
	flag.BoolVar(&o.quick, "quick", false, "short version: smaller counts and durations (< 5 minutes)")
	flag.StringVar(&o.out, "out", "", "markdown output (default <repo>/bench/results/reliability.md)")
	flag.StringVar(&o.oursBin, "ours-bin", "", "otelcol-edge binary (default <repo>/_build/otelcol-edge/otelcol-edge)")
	flag.StringVar(&o.anchorBin, "anchor-bin", "", "anchor binary (default <repo>/_build/anchor/otelcol-anchor)")
	flag.StringVar(&o.oursConfig, "ours-config", "", "otelcol-edge config (default <repo>/bench/configs/edge.yaml)")
	flag.StringVar(&o.anchorConfig, "anchor-config", "", "anchor config (default <repo>/bench/anchor/pipeline.yaml)")
	flag.StringVar(&o.invalidDir, "invalid-dir", "", "invalid configs for R7 (default <repo>/testdata/invalid)")
	flag.StringVar(&o.scenarios, "scenarios", "r7,r1,r2,r3,r5,r4,r6,r8", "comma-separated scenarios, run in this order")
	flag.StringVar(&o.command, "command", "", "how the suite was invoked, for the report (default: the command line)")
	flag.StringVar(&o.tmpRoot, "tmp", "", "parent of the temporary run directories (default $TMPDIR)")
	flag.Int64Var(&o.seed, "seed", 1, "seed of the random choices (flapping schedule, corruption trials)")
	flag.IntVar(&o.spansPerReq, "spans-per-request", 500, "spans per export request")
	flag.IntVar(&o.conns, "connections", 4, "gRPC connections of the load generator")
	flag.IntVar(&o.workers, "workers", 2, "concurrent requests per connection")
	flag.DurationVar(&o.drainMax, "drain-max", 0, "bound of every wait for the backlog to arrive once the backend is up (default 150s, 90s quick)")
	flag.DurationVar(&o.drainIdle, "drain-idle", 0, "a drain wait also ends after this long without a new span (default 60s, 45s quick)")
	flag.Int64Var(&o.outageSpans, "outage-spans", 0, "R1: spans acknowledged during the outage (default 500000, 150000 quick)")
	flag.DurationVar(&o.outageHold, "outage-hold", 0, "R1: keep the backend down at least this long after the first span; >= 300s adds the \"anchor (default retry)\" variant")
	flag.BoolVar(&o.outageBatchAnchor, "outage-batch-anchor", true, "R1: also run the anchor with a batch processor in front of its persistent queue (the old anchor pipeline's shape: it acknowledges spans before they are on disk)")
	flag.Int64Var(&o.budgetBytes, "budget-bytes", 0, "R2: disk budget B (default 64 MiB, 32 MiB quick); 3*B of OTLP wire bytes are sent")
	flag.Int64Var(&o.zstdBudgetBytes, "zstd-budget-bytes", 0, "R2: budget of the variant with our default on-disk compression (default B/2)")
	flag.Float64Var(&o.zstdBytesPerSpan, "zstd-bytes-per-span", 42.5, "R2: our on-disk bytes per span with zstd (make bench S2), to send 3x that budget")
	flag.BoolVar(&o.budgetZstdVariant, "budget-zstd-variant", true, "R2: also run ours with its default zstd on-disk compression at 3x its budget")
	flag.DurationVar(&o.flapDuration, "flap-duration", 0, "R3: flapping period (default 60s, 30s quick)")
	flag.Float64Var(&o.flapRate, "flap-rate", 20000, "R3: fixed load in spans/s per collector")
	flag.DurationVar(&o.flapMin, "flap-min", 2*time.Second, "R3: shortest up or down phase of the backend")
	flag.DurationVar(&o.flapMax, "flap-max", 5*time.Second, "R3: longest up or down phase of the backend")
	flag.IntVar(&o.corruptTrials, "corrupt-trials", 0, "R4: damaged-buffer trials per collector (default 100, 5 quick)")
	flag.Int64Var(&o.corruptSpans, "corrupt-spans", 10000, "R4: spans buffered before the damage")
	flag.DurationVar(&o.corruptMaxTime, "corrupt-max-time", 0, "R4: time cap of the trials (default 7m, 90s quick); fewer trials are reported if it is hit")
	flag.Int64Var(&o.errorEvery, "error-every", 10, "R5: the backend answers every n-th request with InvalidArgument")
	flag.Float64Var(&o.errorRate, "error-rate", 20000, "R5: fixed load in spans/s per collector")
	flag.DurationVar(&o.errorDuration, "error-duration", 0, "R5: load duration (default 15s, 5s quick)")
	flag.DurationVar(&o.soakDuration, "soak-duration", 0, "R6: soak duration (default 10m, 60s quick)")
	flag.DurationVar(&o.soakWarmup, "soak-warmup", 0, "R6: warm-up excluded from the RSS check (default 60s, 20s quick)")
	flag.DurationVar(&o.soakSample, "soak-sample", 10*time.Second, "R6: RSS sampling period")
	flag.Float64Var(&o.soakRate, "soak-rate", 0, "R6: fixed rate in spans/s (default: soak-fraction of our max rate, measured first)")
	flag.DurationVar(&o.maxRateDur, "max-rate-duration", 0, "R6: duration of the max-rate measurement (default 8s, 5s quick)")
	flag.Float64Var(&o.soakFraction, "soak-fraction", 0.7, "R6: share of our measured max rate")
	flag.BoolVar(&o.soakAnchor, "soak-anchor", false, "R6: also soak the anchor at the same rate")
	flag.Parse()

	if err := o.fill(); err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
		os.Exit(2)
	}
	if o.command == "" {
		o.command = strings.Join(os.Args, " ")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
		os.Exit(1)
	}
}

func (o *options) fill() error {
	abs, err := filepath.Abs(o.repo)
	if err != nil {
		return err
	}
	o.repo = abs
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&o.out, filepath.Join(o.repo, "bench", "results", "reliability.md"))
	def(&o.oursBin, filepath.Join(o.repo, "_build", "otelcol-edge", "otelcol-edge"))
	def(&o.anchorBin, filepath.Join(o.repo, "_build", "anchor", "otelcol-anchor"))
	def(&o.oursConfig, filepath.Join(o.repo, "bench", "configs", "edge.yaml"))
	def(&o.anchorConfig, filepath.Join(o.repo, "bench", "anchor", "pipeline.yaml"))
	def(&o.invalidDir, filepath.Join(o.repo, "testdata", "invalid"))
	dur := func(p *time.Duration, full, quick time.Duration) {
		if *p <= 0 {
			*p = full
			if o.quick {
				*p = quick
			}
		}
	}
	i64 := func(p *int64, full, quick int64) {
		if *p <= 0 {
			*p = full
			if o.quick {
				*p = quick
			}
		}
	}
	dur(&o.drainMax, 150*time.Second, 90*time.Second)
	dur(&o.drainIdle, 60*time.Second, 45*time.Second)
	i64(&o.outageSpans, 500_000, 150_000)
	i64(&o.budgetBytes, 64<<20, 32<<20)
	if o.zstdBudgetBytes <= 0 {
		o.zstdBudgetBytes = o.budgetBytes / 2
	}
	dur(&o.flapDuration, 60*time.Second, 30*time.Second)
	if o.corruptTrials <= 0 {
		o.corruptTrials = 100
		if o.quick {
			o.corruptTrials = 5
		}
	}
	dur(&o.corruptMaxTime, 7*time.Minute, 90*time.Second)
	dur(&o.errorDuration, 15*time.Second, 5*time.Second)
	dur(&o.soakDuration, 10*time.Minute, 60*time.Second)
	dur(&o.soakWarmup, 60*time.Second, 20*time.Second)
	dur(&o.maxRateDur, 8*time.Second, 5*time.Second)
	if o.spansPerReq < 1 || o.conns < 1 || o.workers < 1 {
		return errors.New("spans-per-request, connections and workers must be >= 1")
	}
	if o.flapMin <= 0 || o.flapMax < o.flapMin {
		return errors.New("need 0 < flap-min <= flap-max")
	}
	for _, f := range []string{o.oursBin, o.anchorBin, o.oursConfig, o.anchorConfig, o.invalidDir} {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("missing %s (build with `make build bench-anchor` or pass a flag): %w", f, err)
		}
	}
	return nil
}

func run(ctx context.Context, o options) error {
	req, err := payload.Build(o.spansPerReq)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(o.tmpRoot, "otelcol-edge-reliability-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// Private copies: a rebuild during the run cannot mix versions.
	for _, b := range []*string{&o.oursBin, &o.anchorBin} {
		cp, desc, err := procstat.CopyExecutable(*b, tmp)
		if err != nil {
			return err
		}
		binInfo[cp] = desc
		*b = cp
	}
	h, err := newHarness(o, req, tmp)
	if err != nil {
		return err
	}
	h.logf("payload: %d spans/request, %d bytes (%d bytes/span); quick=%v", o.spansPerReq, len(req), len(req)/o.spansPerReq, o.quick)
	start := time.Now()
	runErr := h.runScenarios(ctx, func() {
		h.rep.total = time.Since(start)
		if err := h.write(); err != nil {
			h.logf("writing %s: %v", o.out, err)
		}
	})
	h.rep.total = time.Since(start)
	h.rep.loadAfter = procstat.LoadAvg()
	if err := h.write(); err != nil {
		h.logf("writing %s: %v", o.out, err)
	}
	fmt.Println(h.rep.markdown())
	fmt.Fprintf(os.Stderr, "reliability: wrote %s\n", o.out)
	return runErr
}

// binInfo describes the binaries that were copied, for the report.
var binInfo = map[string]string{}
