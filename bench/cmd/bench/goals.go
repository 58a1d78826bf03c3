// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"strings"
)

// goal is one row of issue #14's goals table: a ratio (or multiple) computed
// from this run's medians, compared with its target.
type goal struct {
	row    string
	value  func(h *harness) (text string, v float64, ok bool)
	target string
	met    func(v float64) bool
}

// ratioOf returns ours/anchor of metric in scenario sc as "ours / anchor =
// ratio x".
func ratioOf(sc, metric, format string) func(h *harness) (string, float64, bool) {
	return func(h *harness) (string, float64, bool) {
		ov, _, ook := h.res.median(sc, labelOurs, metric)
		av, _, aok := h.res.median(sc, labelAnchor, metric)
		if !ook || !aok || av == 0 {
			return "n/a (not measured in this run)", 0, false
		}
		return fmt.Sprintf(format+" / "+format+" = **%.2fx**", ov, av, ov/av), ov / av, true
	}
}

// withCPUBound appends to a throughput ratio what the shared CPUs allow: the
// client, the sink and the collector share the machine, so a collector's rate
// is at most CPUs / (its CPU per span + the harness's CPU per span), and the
// ratio of two rates at most the inverse ratio of those sums.
func withCPUBound(sc, collMetric, harnessMetric string, inner func(h *harness) (string, float64, bool)) func(h *harness) (string, float64, bool) {
	return func(h *harness) (string, float64, bool) {
		text, v, ok := inner(h)
		oc, _, ok1 := h.res.median(sc, labelOurs, collMetric)
		ac, _, ok2 := h.res.median(sc, labelAnchor, collMetric)
		oh, _, ok3 := h.res.median(sc, labelOurs, harnessMetric)
		ah, _, ok4 := h.res.median(sc, labelAnchor, harnessMetric)
		if ok && ok1 && ok2 && ok3 && ok4 && oc+oh > 0 {
			text += fmt.Sprintf("; CPU bound of this machine: (%.2f+%.2f)/(%.2f+%.2f) = %.2fx (collector + harness CPU-s per M spans, anchor / ours)",
				ac, ah, oc, oh, (ac+ah)/(oc+oh))
		}
		return text, v, ok
	}
}

var goals = []goal{
	{
		row:    "online CPU-s per M spans, shipped default (gzip to the backend)",
		value:  ratioOf("S1", "CPU-s per M spans", "%.2f"),
		target: "<= 0.35x",
		met:    func(v float64) bool { return v <= 0.35 },
	},
	{
		row: "online max spans/s, zero loss",
		value: withCPUBound("S1", "CPU-s per M spans", "harness CPU-s per M spans (load + sink)", func(h *harness) (string, float64, bool) {
			text, v, ok := ratioOf("S1", "accepted spans/s", "%.0f")(h)
			if !ok {
				return text, v, ok
			}
			ol, _, _ := h.res.median("S1", labelOurs, "loss (unique span IDs)")
			if ol != 0 {
				return text + fmt.Sprintf(" (ours lost %.0f spans: not zero loss)", ol), 0, true
			}
			return text, v, ok
		}),
		target: ">= 2.5x",
		met:    func(v float64) bool { return v >= 2.5 },
	},
	{
		row:    "replay spans/s after an outage (first to last span), gzip to the backend",
		value:  withCPUBound("S3", "CPU-s per M spans replayed", "harness CPU-s per M spans replayed (sink)", ratioOf("S3", "replay spans/s (first to last span)", "%.0f")),
		target: ">= 4x",
		met:    func(v float64) bool { return v >= 4 },
	},
	{
		row: "offline write, `fsync: always`: CPU per M spans as a multiple of the protobuf floor (S4)",
		value: func(h *harness) (string, float64, bool) {
			ov, _, ook := h.res.median("S2", labelOurs, "CPU-s per M spans")
			fv, _, fok := h.res.median("S4", "floor", "CPU-s per M spans")
			if !ook || !fok || fv == 0 {
				return "n/a (not measured in this run)", 0, false
			}
			text := fmt.Sprintf("%.2f / %.2f = **%.2fx** the floor", ov, fv, ov/fv)
			if av, _, aok := h.res.median("S2", labelAnchor, "CPU-s per M spans"); aok {
				text += fmt.Sprintf(" (anchor %.2fx)", av/fv)
			}
			return text, ov / fv, true
		},
		target: "<= 1.15x the floor",
		met:    func(v float64) bool { return v <= 1.15 },
	},
	{
		row:    "disk bytes per span (`fsync: always`)",
		value:  ratioOf("S2", "bytes on disk per span (du)", "%.1f"),
		target: "<= 0.15x",
		met:    func(v float64) bool { return v <= 0.15 },
	},
	{
		row: "added latency at 50 % of the anchor's max rate, p99 (span received -> backend received)",
		value: func(h *harness) (string, float64, bool) {
			key := latKey(50)
			ours, anchor := h.latPool[key][labelOurs], h.latPool[key][labelAnchor]
			if len(ours) == 0 || len(anchor) == 0 {
				return "n/a (no 50 % level in this run)", 0, false
			}
			oq, aq := quantiles(ours), quantiles(anchor)
			text := fmt.Sprintf("ours p50 %.1f / p99 %.1f ms; anchor p50 %.1f / p99 %.1f ms", oq["p50 ms"], oq["p99 ms"], aq["p50 ms"], aq["p99 ms"])
			// Met when ours is at most the anchor's and at most 250 ms: v is
			// the larger of ours/anchor and ours/250 ms, met at <= 1.
			v := max(oq["p99 ms"]/max(aq["p99 ms"], 1e-9), oq["p99 ms"]/250)
			return text, v, true
		},
		target: "ours p99 <= the anchor's and <= 250 ms",
		met:    func(v float64) bool { return v <= 1 },
	},
}

// goalsReport is the markdown table of issue #14's goals computed from this
// run, with the processor rows pointing to make bench-processors (Go
// benchmarks, not part of this harness).
func (h *harness) goalsReport() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("## Goals (issue #14), from this run\n\n")
	w("Ratios are ours / anchor of the medians below (same run, interleaved).\n\n")
	w("| row | this run: ours / anchor = ratio | goal | met |\n|---|---|---|---|\n")
	for _, g := range goals {
		text, v, ok := g.value(h)
		met := "n/a"
		if ok {
			met = "no"
			if g.met(v) {
				met = "yes"
			}
		}
		w("| %s | %s | %s | %s |\n", g.row, text, g.target, met)
	}
	w("| enrich vs upstream resource + attributes; enrich + filter chained vs upstream's three processors | Go benchmarks: `make bench-processors` (bench/results/procbench/) | <= 0.5x | see there |\n\n")
	return b.String()
}
