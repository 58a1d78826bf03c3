// SPDX-License-Identifier: Apache-2.0

// Command bench runs otelcol-edge and the upstream anchor collector side by
// side, interleaved (ours, anchor, ours, anchor, ...), through the scenarios of
// bench/README.md and writes a markdown table of medians.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/otelcol-edge/otelcol-edge/bench/internal/payload"
	"github.com/otelcol-edge/otelcol-edge/bench/internal/procstat"
)

type options struct {
	repo         string
	quick        bool
	runs         int
	out          string
	oursBin      string
	anchorBin    string
	oursConfig   string
	anchorConfig string
	scenarios    string
	s1Duration   time.Duration
	s2Spans      int64
	s2MaxTime    time.Duration
	replayMax    time.Duration
	spansPerReq  int
	conns        int
	workers      int
	rate         float64
	uniqueIDs    bool
	healthChecks bool
	tmpRoot      string
	command      string

	// A/B: a second ours binary run interleaved in S1 and L.
	oursBeforeBin string
	// s1Variants limits S1 to some variants (A/B runs).
	s1Variants string
	// s2Variants limits S2+S3 to some variants.
	s2Variants string
	// encryption adds the encrypted variants of ours (S1, S2+S3) with the
	// overlay encConfig.
	encryption bool
	encConfig  string
	// L scenario
	latLevels     string
	latRuns       int
	latDuration   time.Duration
	latWarmup     time.Duration
	latAnchorRate float64
}

func main() {
	var o options
	flag.StringVar(&o.repo, "repo", "..", "repository root (holds _build/ and bench/anchor/)")
	flag.BoolVar(&o.quick, "quick", false, "short durations, smaller counts, 1 run each unless -runs is given")
	flag.IntVar(&o.runs, "runs", 0, "runs per collector and scenario (default 3, 1 with -quick)")
	flag.StringVar(&o.out, "out", "", "markdown output (default <repo>/bench/results/results.md)")
	flag.StringVar(&o.oursBin, "ours-bin", "", "otelcol-edge binary (default <repo>/_build/otelcol-edge/otelcol-edge)")
	flag.StringVar(&o.anchorBin, "anchor-bin", "", "anchor binary (default <repo>/_build/anchor/otelcol-anchor)")
	flag.StringVar(&o.oursConfig, "ours-config", "", "otelcol-edge config (default <repo>/bench/configs/edge.yaml)")
	flag.StringVar(&o.anchorConfig, "anchor-config", "", "anchor config (default <repo>/bench/anchor/pipeline.yaml)")
	flag.StringVar(&o.scenarios, "scenarios", "s1,s2,s4,lat", "comma-separated scenarios; s2 includes the s3 replay; lat is the latency under load (L)")
	flag.StringVar(&o.oursBeforeBin, "ours-before-bin", "", "a second otelcol-edge binary (e.g. before a change), run interleaved as \"ours (before)\" in S1 and L")
	flag.StringVar(&o.s1Variants, "s1-variants", "", "S1: comma-separated subset of ours,anchor,zstd,none,encrypted,before (default all)")
	flag.StringVar(&o.s2Variants, "s2-variants", "", "S2+S3: comma-separated subset of always,anchor,interval,encrypted (default all)")
	flag.BoolVar(&o.encryption, "encryption", true, "also run ours with buffer.encryption (\"ours (encrypted)\" in S1, \"ours (fsync interval, encrypted)\" in S2+S3) with a key generated at start")
	flag.StringVar(&o.encConfig, "ours-encryption-config", "", "overlay merged over the ours config for the encrypted variants (default <repo>/bench/configs/edge-encrypted.yaml)")
	flag.StringVar(&o.latLevels, "lat-levels", "10,50,90", "L: background load levels, percent of the anchor's max online rate")
	flag.IntVar(&o.latRuns, "lat-runs", 1, "L: runs per collector and level (percentiles pool every probe)")
	flag.DurationVar(&o.latDuration, "lat-duration", 0, "L: probe window per run (default 15s, 6s with -quick)")
	flag.DurationVar(&o.latWarmup, "lat-warmup", 0, "L: background load before the probes start (default 2s, 1s with -quick)")
	flag.Float64Var(&o.latAnchorRate, "lat-anchor-rate", 0, "L: the anchor's max rate in spans/s (default: median of S1's anchor runs, or one S1 anchor run)")
	flag.DurationVar(&o.s1Duration, "s1-duration", 0, "S1 load duration (default 20s, 8s with -quick)")
	flag.Int64Var(&o.s2Spans, "s2-spans", 0, "spans sent while the sink is down in S2 (default 1000000, 300000 with -quick)")
	flag.DurationVar(&o.s2MaxTime, "s2-max-time", 0, "time cap of the S2 load (default 60s, 30s with -quick)")
	flag.DurationVar(&o.replayMax, "replay-max-time", 0, "time cap of the S3 drain (default 150s, 75s with -quick)")
	flag.IntVar(&o.spansPerReq, "spans-per-request", 500, "spans per export request")
	flag.IntVar(&o.conns, "connections", 4, "gRPC connections of the load generator")
	flag.IntVar(&o.workers, "workers", 2, "concurrent requests per connection")
	flag.Float64Var(&o.rate, "rate", 0, "S1 fixed rate in spans/s (0: as fast as accepted)")
	flag.BoolVar(&o.uniqueIDs, "unique-ids", true, "patch trace/span IDs so every span sent is unique; loss is then counted by span ID")
	flag.BoolVar(&o.healthChecks, "health-checks", true, "every tenth span is a health check (http.route /healthz) that both pipelines' filter drops")
	flag.StringVar(&o.tmpRoot, "tmp", "", "parent of the temporary run directories (default $TMPDIR)")
	flag.StringVar(&o.command, "command", "", "how the harness was invoked, for the report (default: the command line)")
	flag.Parse()

	if err := o.fill(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
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
	def(&o.out, filepath.Join(o.repo, "bench", "results", "results.md"))
	def(&o.oursBin, filepath.Join(o.repo, "_build", "otelcol-edge", "otelcol-edge"))
	def(&o.anchorBin, filepath.Join(o.repo, "_build", "anchor", "otelcol-anchor"))
	def(&o.oursConfig, filepath.Join(o.repo, "bench", "configs", "edge.yaml"))
	def(&o.anchorConfig, filepath.Join(o.repo, "bench", "anchor", "pipeline.yaml"))
	def(&o.encConfig, filepath.Join(o.repo, "bench", "configs", "edge-encrypted.yaml"))
	pick := func(full, quick time.Duration) time.Duration {
		if o.quick {
			return quick
		}
		return full
	}
	if o.runs <= 0 {
		o.runs = 3
		if o.quick {
			o.runs = 1
		}
	}
	if o.s1Duration <= 0 {
		o.s1Duration = pick(20*time.Second, 8*time.Second)
	}
	if o.s2Spans <= 0 {
		o.s2Spans = 1_000_000
		if o.quick {
			o.s2Spans = 300_000
		}
	}
	if o.s2MaxTime <= 0 {
		o.s2MaxTime = pick(60*time.Second, 30*time.Second)
	}
	if o.replayMax <= 0 {
		o.replayMax = pick(150*time.Second, 75*time.Second)
	}
	if o.latDuration <= 0 {
		o.latDuration = pick(15*time.Second, 6*time.Second)
	}
	if o.latWarmup <= 0 {
		o.latWarmup = pick(2*time.Second, time.Second)
	}
	if o.latRuns < 1 {
		o.latRuns = 1
	}
	if o.spansPerReq < 1 || o.conns < 1 || o.workers < 1 {
		return errors.New("spans-per-request, connections and workers must be >= 1")
	}
	files := []string{o.oursBin, o.anchorBin, o.oursConfig, o.anchorConfig}
	if o.oursBeforeBin != "" {
		files = append(files, o.oursBeforeBin)
	}
	if o.encryption {
		files = append(files, o.encConfig)
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("missing %s (build with `make -f bench/bench.mk` targets or pass a flag): %w", f, err)
		}
	}
	return nil
}

func run(ctx context.Context, o options) error {
	build := payload.Build
	if o.healthChecks {
		build = payload.BuildWithHealthChecks
	}
	req, err := build(o.spansPerReq)
	if err != nil {
		return err
	}
	plan, err := newIDTracker(req)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(o.tmpRoot, "otelcol-edge-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// Private copies: a rebuild of either binary during the run must not mix
	// versions between runs.
	bins := []*string{&o.oursBin, &o.anchorBin}
	if o.oursBeforeBin != "" {
		bins = append(bins, &o.oursBeforeBin)
	}
	for _, b := range bins {
		cp, desc, err := procstat.CopyExecutable(*b, tmp)
		if err != nil {
			return err
		}
		binInfo[cp] = desc
		*b = cp
	}
	h := &harness{o: o, payload: req, tmp: tmp, res: newResults(), loadBefore: procstat.LoadAvg(), dropsPerRequest: plan.dropsPerRequest(),
		latPool: map[string]map[string][]time.Duration{}}
	if o.encryption {
		if h.bufferKey, err = newBufferKey(); err != nil {
			return err
		}
	}
	h.logf("payload: %d spans/request (%d health checks the filter drops), %d bytes (%d bytes/span); runs=%d quick=%v",
		o.spansPerReq, h.dropsPerRequest, len(req), len(req)/o.spansPerReq, o.runs, o.quick)
	start := time.Now()
	err = h.runScenarios(ctx)
	h.res.total = time.Since(start)
	md := h.report(err)
	if werr := os.MkdirAll(filepath.Dir(o.out), 0o755); werr == nil {
		werr = os.WriteFile(o.out, []byte(md), 0o644)
		if werr != nil {
			h.logf("writing %s: %v", o.out, werr)
		}
	}
	fmt.Println(md)
	fmt.Fprintf(os.Stderr, "bench: wrote %s\n", o.out)
	return err
}

// binInfo describes the binaries that were copied, for the report.
var binInfo = map[string]string{}
