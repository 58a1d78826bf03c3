// SPDX-License-Identifier: Apache-2.0

package main

import (
	"strings"
	"testing"
	"time"
)

func TestGoalsReport(t *testing.T) {
	h := &harness{res: newResults(), latPool: map[string]map[string][]time.Duration{}}
	for _, run := range []struct{ ours, anchor float64 }{{6, 18}, {7, 20}, {5, 16}} {
		h.res.add("S1", labelOurs)["CPU-s per M spans"] = run.ours
		h.res.add("S1", labelAnchor)["CPU-s per M spans"] = run.anchor
	}
	o := h.res.runs["S1"][labelOurs]
	a := h.res.runs["S1"][labelAnchor]
	for i := range o {
		o[i]["accepted spans/s"] = 300_000
		a[i]["accepted spans/s"] = 100_000
		o[i]["loss (unique span IDs)"] = 0
	}
	o[0]["loss (unique span IDs)"], o[1]["loss (unique span IDs)"] = 5, 5 // median 5: not zero loss
	for i := range o {
		o[i]["harness CPU-s per M spans (load + sink)"] = 4
		a[i]["harness CPU-s per M spans (load + sink)"] = 2
	}
	h.res.add("S4", "floor")["CPU-s per M spans"] = 4
	h.res.add("S2", labelOurs)["CPU-s per M spans"] = 4.4
	h.latPool[latKey(50)] = map[string][]time.Duration{
		labelOurs:   {10 * time.Millisecond, 20 * time.Millisecond},
		labelAnchor: {5 * time.Millisecond, 300 * time.Millisecond},
	}
	rep := h.goalsReport()
	for _, want := range []string{
		"| online CPU-s per M spans, shipped default (gzip to the backend) | 6.00 / 18.00 = **0.33x** | <= 0.35x | yes |",
		"300000 / 100000 = **3.00x** (ours lost 5 spans: not zero loss); CPU bound of this machine: (18.00+2.00)/(6.00+4.00) = 2.00x (collector + harness CPU-s per M spans, anchor / ours) | >= 2.5x | no |",
		"| replay spans/s after an outage (first to last span), gzip to the backend | n/a (not measured in this run) | >= 4x | n/a |",
		"4.40 / 4.00 = **1.10x** the floor | <= 1.15x the floor | yes |",
		"ours p50 10.0 / p99 20.0 ms; anchor p50 5.0 / p99 300.0 ms | ours p99 <= the anchor's and <= 250 ms | yes |",
	} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %q:\n%s", want, rep)
		}
	}
	// Ours slower than the anchor at p99: not met.
	h.latPool[latKey(50)][labelAnchor] = []time.Duration{time.Millisecond, 2 * time.Millisecond}
	if rep := h.goalsReport(); !strings.Contains(rep, "| ours p99 <= the anchor's and <= 250 ms | no |") {
		t.Errorf("latency goal met although ours is slower:\n%s", rep)
	}
}
