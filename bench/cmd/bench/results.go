// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/otelcol-edge/otelcol-edge/bench/internal/procstat"
)

// results holds every run's metrics: scenario -> variant label -> runs.
type results struct {
	runs  map[string]map[string][]map[string]float64
	notes []string
	fails []string
	total time.Duration
}

func newResults() *results {
	return &results{runs: map[string]map[string][]map[string]float64{}}
}

func (r *results) add(scenario, label string) map[string]float64 {
	if r.runs[scenario] == nil {
		r.runs[scenario] = map[string][]map[string]float64{}
	}
	m := map[string]float64{}
	r.runs[scenario][label] = append(r.runs[scenario][label], m)
	return m
}

func (r *results) note(scenario, label, text string) {
	n := fmt.Sprintf("%s / %s: %s", scenario, label, text)
	if !slices.Contains(r.notes, n) {
		r.notes = append(r.notes, n)
	}
}

func (r *results) fail(scenario, label string, err error) {
	r.fails = append(r.fails, fmt.Sprintf("%s / %s: %v", scenario, label, err))
}

// median of metric over the runs of scenario/label; ok is false without data.
func (r *results) median(scenario, label, metric string) (float64, int, bool) {
	var vs []float64
	for _, m := range r.runs[scenario][label] {
		if v, ok := m[metric]; ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return 0, 0, false
	}
	sort.Float64s(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2], n, true
	}
	return (vs[n/2-1] + vs[n/2]) / 2, n, true
}

// row is one line of the summary table.
type row struct {
	scenario, metric string
	oursLabel        string
	better           string // "higher" or "lower" or ""
	format           string
}

func fmtNum(v float64, format string) string {
	if format != "" {
		return fmt.Sprintf(format, v)
	}
	switch a := math.Abs(v); {
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func (h *harness) report(runErr error) string {
	r := h.res
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	w("# otelcol-edge vs upstream anchor: side-by-side benchmark\n\n")
	w("Generated %s; total harness time %s.\n\n", time.Now().UTC().Format(time.RFC3339), r.total.Round(time.Second))
	w("Medians of %d interleaved run(s) per collector (ours, anchor, ours, anchor, ...). ", h.o.runs)
	w("The ratio column is ours/anchor; \"better\" says which direction wins and who wins it.\n\n")
	w("%s", h.goalsReport())
	w("## Every scenario\n\n")
	w("| scenario | metric | ours | anchor | ratio (ours/anchor) | better |\n|---|---|---|---|---|---|\n")

	rows := []row{
		{"S1 online, max rate (both gzip to the backend)", "accepted spans/s", labelOurs, "higher", "%.0f"},
		{"S1 online, max rate (both gzip to the backend)", "CPU-s per M spans", labelOurs, "lower", "%.2f"},
		{"S1 online, max rate (both gzip to the backend)", "peak RSS MiB", labelOurs, "lower", "%.0f"},
		{"S1 online, max rate (both gzip to the backend)", "loss (unique span IDs)", labelOurs, "lower", "%.0f"},
		{"S1 online, max rate (both gzip to the backend)", "health checks delivered (filter leak)", labelOurs, "lower", "%.0f"},
		{"S1 online, max rate (both gzip to the backend)", "duplicate spans", labelOurs, "lower", "%.0f"},
		{"S1 online, max rate (both gzip to the backend)", "rejected spans", labelOurs, "lower", "%.0f"},
		{"S1 online, max rate (both gzip to the backend)", "drain after load s", labelOurs, "lower", "%.2f"},
		{"S1 online, max rate (both gzip to the backend)", "harness CPU-s per M spans (load + sink)", labelOurs, "", "%.2f"},
		{"S1 online, ours with zstd to the backend", "accepted spans/s", labelOursZstd, "higher", "%.0f"},
		{"S1 online, ours with zstd to the backend", "CPU-s per M spans", labelOursZstd, "lower", "%.2f"},
		{"S1 online, ours with zstd to the backend", "peak RSS MiB", labelOursZstd, "lower", "%.0f"},
		{"S1 online, ours with zstd to the backend", "loss (unique span IDs)", labelOursZstd, "lower", "%.0f"},
		{"S1 online, ours without compression", "accepted spans/s", labelOursNone, "higher", "%.0f"},
		{"S1 online, ours without compression", "CPU-s per M spans", labelOursNone, "lower", "%.2f"},
		{"S1 online, ours without compression", "peak RSS MiB", labelOursNone, "lower", "%.0f"},
		{"S1 online, ours without compression", "loss (unique span IDs)", labelOursNone, "lower", "%.0f"},
		{"S1 online, ours before the change (-ours-before-bin, A/B)", "accepted spans/s", labelOursBefore, "higher", "%.0f"},
		{"S1 online, ours before the change (-ours-before-bin, A/B)", "CPU-s per M spans", labelOursBefore, "lower", "%.2f"},
		{"S1 online, ours before the change (-ours-before-bin, A/B)", "peak RSS MiB", labelOursBefore, "lower", "%.0f"},
		{"S1 online, ours before the change (-ours-before-bin, A/B)", "loss (unique span IDs)", labelOursBefore, "lower", "%.0f"},
		{"S2 offline, fsync always vs anchor fsync", "spans/s written", labelOurs, "higher", "%.0f"},
		{"S2 offline, fsync always vs anchor fsync", "bytes on disk per span (du)", labelOurs, "lower", "%.1f"},
		{"S2 offline, fsync always vs anchor fsync", "apparent bytes per span", labelOurs, "lower", "%.1f"},
		{"S2 offline, fsync always vs anchor fsync", "CPU-s per M spans", labelOurs, "lower", "%.2f"},
		{"S2 offline, fsync always vs anchor fsync", "fsync calls per 1k spans", labelOurs, "", "%.2f"},
		{"S2 offline, fsync always vs anchor fsync", "accepted spans", labelOurs, "", "%.0f"},
		{"S2 offline, fsync always vs anchor fsync", "rejected spans", labelOurs, "lower", "%.0f"},
		{"S2 offline, fsync interval vs anchor fsync", "spans/s written", labelOursInterval, "higher", "%.0f"},
		{"S2 offline, fsync interval vs anchor fsync", "bytes on disk per span (du)", labelOursInterval, "lower", "%.1f"},
		{"S2 offline, fsync interval vs anchor fsync", "CPU-s per M spans", labelOursInterval, "lower", "%.2f"},
		{"S3 replay (after S2 fsync always)", "time to first span s", labelOurs, "lower", "%.2f"},
		{"S3 replay (after S2 fsync always)", "drain time s", labelOurs, "lower", "%.2f"},
		{"S3 replay (after S2 fsync always)", "replay spans/s (from backend up)", labelOurs, "higher", "%.0f"},
		{"S3 replay (after S2 fsync always)", "replay spans/s (first to last span)", labelOurs, "higher", "%.0f"},
		{"S3 replay (after S2 fsync always)", "replay spans/s (first span to 95%)", labelOurs, "higher", "%.0f"},
		{"S3 replay (after S2 fsync always)", "CPU-s per M spans replayed", labelOurs, "lower", "%.2f"},
		{"S3 replay (after S2 fsync always)", "harness CPU-s per M spans replayed (sink)", labelOurs, "", "%.2f"},
		{"S3 replay (after S2 fsync always)", "bytes on disk after drain", labelOurs, "lower", "%.0f"},
		{"S3 replay (after S2 fsync always)", "peak RSS MiB (whole S2+S3)", labelOurs, "lower", "%.0f"},
		{"S3 replay (after S2 fsync always)", "loss (unique span IDs)", labelOurs, "lower", "%.0f"},
		{"S3 replay (after S2 fsync always)", "health checks delivered (filter leak)", labelOurs, "lower", "%.0f"},
		{"S3 replay (after S2 fsync always)", "duplicate spans", labelOurs, "lower", "%.0f"},
		{"S3 replay (after S2 fsync interval)", "drain time s", labelOursInterval, "lower", "%.2f"},
		{"S3 replay (after S2 fsync interval)", "replay spans/s (first to last span)", labelOursInterval, "higher", "%.0f"},
		{"S3 replay (after S2 fsync interval)", "replay spans/s (first span to 95%)", labelOursInterval, "higher", "%.0f"},
		{"S3 replay (after S2 fsync interval)", "loss (unique span IDs)", labelOursInterval, "lower", "%.0f"},
	}
	for _, rw := range rows {
		sc := strings.Fields(rw.scenario)[0]
		ov, on, ook := r.median(sc, rw.oursLabel, rw.metric)
		av, an, aok := r.median(sc, labelAnchor, rw.metric)
		if !ook && (!aok || rw.oursLabel == labelOursBefore) {
			continue
		}
		cell := func(v float64, n int, ok bool) string {
			if !ok {
				return "n/a"
			}
			s := fmtNum(v, rw.format)
			if n < h.o.runs {
				s += fmt.Sprintf(" (%d/%d runs)", n, h.o.runs)
			}
			return s
		}
		ratio, better := "n/a", ""
		if ook && aok && av != 0 {
			ratio = fmt.Sprintf("%.2f", ov/av)
		}
		if rw.better != "" {
			better = rw.better
			if ook && aok {
				switch {
				case ov == av:
					better += ": tie"
				case (ov > av) == (rw.better == "higher"):
					better += ": ours"
				default:
					better += ": anchor"
				}
			}
		}
		w("| %s | %s | %s | %s | %s | %s |\n", rw.scenario, rw.metric, cell(ov, on, ook), cell(av, an, aok), ratio, better)
	}
	if fv, _, ok := r.median("S4", "floor", "CPU-s per M spans"); ok {
		// The floor is one in-process measurement, the same reference for
		// both collectors: it is shown once, with no ratio.
		w("| S4 protobuf floor | ptraceotlp Unmarshal+Marshal CPU-s per M spans (one measurement, the reference for both) | %.2f | %.2f | - | |\n", fv, fv)
		ov, _, ook := r.median("S1", labelOurs, "CPU-s per M spans")
		av, _, aok := r.median("S1", labelAnchor, "CPU-s per M spans")
		if ook || aok {
			w("%s\n", floorRow(ov, ook, av, aok, fv))
		}
		if v, _, ok := r.median("S4", "floor", "spans/s on one goroutine"); ok {
			w("| S4 protobuf floor | decode+encode spans/s on one goroutine (one measurement) | %.0f | %.0f | - | |\n", v, v)
		}
	}

	w("%s", h.latencyReport())
	w("%s", h.encryptionReport())

	w("\n## Set-up\n\n")
	w("- Machine: %d CPUs (nproc), %s; %s; Go %s\n", runtime.NumCPU(), procstat.CPUModel(), kernel(), goVersion())
	w("- Load average before / after: %s / %s (other processes on the machine share the CPUs)\n", h.loadBefore, procstat.LoadAvg())
	w("- Command: `%s`\n", h.command())
	w("- Ours: %s (%s), config `%s`\n", binInfo[h.o.oursBin], binVersion(h.o.oursBin), h.o.oursConfig)
	if h.o.oursBeforeBin != "" {
		w("- Ours before (A/B, -ours-before-bin): %s (%s), same config, interleaved with the others\n", binInfo[h.o.oursBeforeBin], binVersion(h.o.oursBeforeBin))
	}
	w("- Anchor: %s (upstream-only build of bench/anchor/builder-config.yaml, v0.161.0 modules), config `%s` with ANCHOR_FSYNC=false in S1, true in S2\n", binInfo[h.o.anchorBin], h.o.anchorConfig)
	w("- Load: %d spans/request, %d bytes/request (%d bytes/span), %d connections x %d workers, unique IDs %v, rate %s\n",
		h.o.spansPerReq, len(h.payload), len(h.payload)/h.o.spansPerReq, h.o.conns, h.o.workers, h.o.uniqueIDs, rateText(h.o.rate))
	w("- Health checks: %d of the %d spans of every request (%.0f %%) have http.route \"/healthz\"; both pipelines drop them with the same filter condition "+
		"(`attributes[\"http.route\"] == \"/healthz\"`), so the drop path is part of the measured work. Rates and CPU per M spans count every span the collector accepted, "+
		"health checks included; bytes on disk per span divide by the same accepted count (the health checks never reach either buffer).\n",
		h.dropsPerRequest, h.o.spansPerReq, 100*float64(h.dropsPerRequest)/float64(h.o.spansPerReq))
	if h.o.uniqueIDs {
		w("- Loss is counted by unique span ID, as in the reliability suite: the load generator records the span IDs of every fully acknowledged request, " +
			"the sink counts the IDs it receives; loss = acknowledged non-health-check IDs that never arrived, filter leak = health-check IDs that arrived, " +
			"duplicates = spans whose ID had arrived before. The ID bookkeeping runs in the harness process, which shares the CPUs with the collector.\n")
	} else {
		w("- Loss is counted as spans expected (accepted minus health checks) minus spans received (-unique-ids=false).\n")
	}
	w("- S1: %s of load, sink up; CPU = utime+stime of the collector from load start until the sink has everything (CLK_TCK from getconf); peak RSS = VmHWM.\n", h.o.s1Duration)
	w("- S2: sink down, %d spans attempted (time cap %s); ours buffer.fsync always (and interval), anchor file_storage fsync true; disk = st_blocks of the buffer/queue directory 1 s after the load.\n", h.o.s2Spans, h.o.s2MaxTime)
	if h.o.encryption {
		w("- Encryption at rest: \"ours (encrypted)\" (S1) and \"ours (fsync interval, encrypted)\" (S2+S3) add `--config %s` (buffer.encryption, AES-256-GCM) with a key of 32 random bytes the runner generated at start and passed in %s; otherwise the same as \"ours\" and \"ours (fsync interval)\", interleaved with them (-encryption=false skips them).\n", h.o.encConfig, bufferKeyEnv)
	}
	w("- S3: the sink starts right after S2 in the same collector process; drain time from sink start until every accepted span arrived (cap %s). Both exporters reconnect with their own backoff, so \"time to first span\" is mostly reconnect delay; \"first to last span\" is the replay speed.\n", h.o.replayMax)
	w("- S4: in-process ptraceotlp.ExportRequest UnmarshalProto+MarshalProto of the same request, CPU from getrusage.\n")
	w("- Client, sink and collector share the same %d CPUs; only the collector's own CPU is counted.\n", runtime.NumCPU())

	if len(r.fails) > 0 || runErr != nil {
		w("\n## Failures\n\n")
		if runErr != nil {
			w("- harness: %v\n", runErr)
		}
		for _, f := range r.fails {
			w("- %s\n", strings.ReplaceAll(f, "\n", "\n  "))
		}
	}
	if len(r.notes) > 0 {
		w("\n## Notes from the runs\n\n")
		for _, n := range r.notes {
			w("- %s\n", n)
		}
	}

	w("\n## Every run\n\n")
	scs := []string{"S1", "S2", "S3", "S4"}
	if levels, err := latLevels(h.o.latLevels); err == nil {
		for _, l := range levels {
			scs = append(scs, latKey(l))
		}
	}
	for _, sc := range scs {
		labels := make([]string, 0, len(r.runs[sc]))
		for l := range r.runs[sc] {
			labels = append(labels, l)
		}
		sort.Strings(labels)
		for _, l := range labels {
			for i, m := range r.runs[sc][l] {
				keys := make([]string, 0, len(m))
				for k := range m {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				parts := make([]string, 0, len(keys))
				for _, k := range keys {
					parts = append(parts, fmt.Sprintf("%s=%s", k, fmtNum(m[k], "")))
				}
				w("- %s %s run %d: %s\n", sc, l, i+1, strings.Join(parts, ", "))
			}
		}
	}
	return b.String()
}

// floorRow is the table row of S1's CPU per M spans as a multiple of the
// protobuf floor fv, for ours (ov) and the anchor (av), with the ratio of the
// two multiples computed from them.
func floorRow(ov float64, ook bool, av float64, aok bool, fv float64) string {
	cell := func(v float64, ok bool) string {
		if !ok || fv <= 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2fx", v/fv)
	}
	ratio, better := "n/a", "lower"
	if ook && aok && av > 0 && fv > 0 {
		ratio = fmt.Sprintf("%.2f", (ov/fv)/(av/fv))
		switch {
		case ov < av:
			better += ": ours"
		case ov > av:
			better += ": anchor"
		default:
			better += ": tie"
		}
	}
	return fmt.Sprintf("| S4 protobuf floor | S1 CPU per M spans as a multiple of the floor | %s | %s | %s | %s |", cell(ov, ook), cell(av, aok), ratio, better)
}

func (h *harness) command() string {
	argv := strings.Join(os.Args, " ")
	if h.o.command != "" {
		return h.o.command + "`, which ran `" + argv
	}
	return argv
}

func rateText(r float64) string {
	if r <= 0 {
		return "max (as fast as accepted)"
	}
	return fmt.Sprintf("%.0f spans/s", r)
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "Linux"
	}
	return "Linux " + strings.TrimSpace(string(b))
}

func goVersion() string {
	if out, err := exec.Command("go", "version").Output(); err == nil {
		return strings.TrimPrefix(strings.TrimSpace(string(out)), "go version ")
	}
	return runtime.Version()
}

func binVersion(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "version unknown"
	}
	return strings.TrimSpace(string(out))
}
