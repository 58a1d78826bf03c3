// SPDX-License-Identifier: Apache-2.0

package main // import "github.com/otelcol-edge/otelcol-edge/bench/cmd/reliability"

import (
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/otelcol-edge/otelcol-edge/bench/internal/procstat"
)

// row is one collector's line of a scenario table.
type row struct {
	collector string
	// counts; -1 prints "n/a"
	sent, received, lost, dup, maxDisk int64
	extra                              map[string]string
	notes                              []string
	verdict                            string // short, for the overall table
}

func newRow(collector string) *row {
	return &row{collector: collector, extra: map[string]string{}}
}

// failed marks r as a run that did not complete: no counts, the error as
// its note.
func (r *row) failed(err error) *row {
	r.sent, r.received, r.lost, r.dup, r.maxDisk = -1, -1, -1, -1, -1
	r.note("run failed: " + cut(err.Error(), 600))
	r.verdict = "run failed"
	return r
}

func (r *row) fromOutcome(o outcome) {
	r.sent, r.received, r.lost, r.dup = o.sent, o.received, o.lost, o.dup
	if o.extra > 0 {
		r.note(fmt.Sprintf("%d spans arrived that the client saw fail (written before a kill or a timeout: at-least-once)", o.extra))
	}
}

func (r *row) note(s string) {
	if s != "" {
		r.notes = append(r.notes, s)
	}
}

// scenario is one table.
type scenario struct {
	id, title string
	setup     string   // how it ran, one paragraph
	extraCols []string // columns between "max disk used" and "notes"
	rows      []*row
	notes     []string // below the table
	custom    string   // a table of its own (R7), replaces the standard one
}

type report struct {
	o          options
	started    time.Time
	loadBefore string
	loadAfter  string
	total      time.Duration
	scenarios  []*scenario
	failures   []string
	durations  []string
}

func newReport(o options) *report {
	return &report{o: o, started: time.Now(), loadBefore: procstat.LoadAvg()}
}

func (r *report) add(s *scenario) { r.scenarios = append(r.scenarios, s) }

func (r *report) failure(id string, err error) {
	r.failures = append(r.failures, fmt.Sprintf("%s: %v", id, err))
}

func num(v int64) string {
	if v < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%d", v)
}

func bytesCell(v int64) string {
	if v < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%d (%.1f MiB)", v, float64(v)/(1<<20))
}

func pct(f float64) string { return fmt.Sprintf("%.1f %%", 100*f) }

func esc(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ") }

func (s *scenario) table() string {
	var b strings.Builder
	cols := append([]string{"collector", "sent (acknowledged)", "received (unique)", "lost", "duplicated", "max disk used (bytes, sampled)"}, s.extraCols...)
	cols = append(cols, "notes")
	b.WriteString("| " + strings.Join(cols, " | ") + " |\n")
	b.WriteString("|" + strings.Repeat("---|", len(cols)) + "\n")
	for _, r := range s.rows {
		cells := []string{r.collector, num(r.sent), num(r.received), num(r.lost), num(r.dup), bytesCell(r.maxDisk)}
		for _, c := range s.extraCols {
			v := r.extra[c]
			if v == "" {
				v = "n/a"
			}
			cells = append(cells, v)
		}
		cells = append(cells, strings.Join(r.notes, "; "))
		for i := range cells {
			cells[i] = esc(cells[i])
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	return b.String()
}

func (r *report) markdown() string {
	var b strings.Builder
	mode := "long version (`make reliability`)"
	if r.o.quick {
		mode = "short version (`make reliability-quick`)"
	}
	fmt.Fprintf(&b, "# otelcol-edge vs upstream anchor: reliability suite\n\n")
	fmt.Fprintf(&b, "Generated %s; %s; total time %s.\n\n", time.Now().UTC().Format(time.RFC3339), mode, r.total.Round(time.Second))
	b.WriteString("Every span carries a unique span ID. **sent** counts spans whose request the collector acknowledged; " +
		"**received** the distinct span IDs at the backend (a counting sink); **lost** the acknowledged spans that never arrived; " +
		"**duplicated** the extra copies that arrived; **max disk used** the largest `du` of the collector's buffer directory, sampled every 200 ms.\n\n")

	b.WriteString("## Overall\n\n")
	b.WriteString("| scenario | collector | sent | received | lost | duplicated | max disk used (bytes) | verdict |\n|---|---|---|---|---|---|---|---|\n")
	for _, s := range r.scenarios {
		if s.custom != "" {
			for _, rw := range s.rows {
				fmt.Fprintf(&b, "| %s | %s | n/a | n/a | n/a | n/a | n/a | %s |\n", esc(s.id), esc(rw.collector), esc(rw.verdict))
			}
			continue
		}
		for _, rw := range s.rows {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", esc(s.id), esc(rw.collector), num(rw.sent), num(rw.received),
				num(rw.lost), num(rw.dup), num(rw.maxDisk), esc(rw.verdict))
		}
	}
	b.WriteString("\n")
	for _, s := range r.scenarios {
		fmt.Fprintf(&b, "## %s: %s\n\n", s.id, s.title)
		if s.setup != "" {
			b.WriteString(s.setup + "\n\n")
		}
		if s.custom != "" {
			b.WriteString(s.custom)
		} else {
			b.WriteString(s.table())
		}
		if len(s.notes) > 0 {
			b.WriteString("\n")
			for _, n := range s.notes {
				b.WriteString("- " + n + "\n")
			}
		}
		b.WriteString("\n")
	}
	if len(r.failures) > 0 {
		b.WriteString("## Failures of the harness\n\n")
		for _, f := range r.failures {
			b.WriteString("- " + esc(cut(f, 2000)) + "\n")
		}
		b.WriteString("\n")
	}
	b.WriteString("## Set-up\n\n")
	fmt.Fprintf(&b, "- Machine: %d CPUs (GOMAXPROCS %d), %s; Go %s %s/%s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), procstat.CPUModel(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&b, "- Load average before / after: %s / %s (other processes on the machine share the CPUs)\n", r.loadBefore, r.loadAfter)
	fmt.Fprintf(&b, "- Command: `%s`\n", r.o.command)
	fmt.Fprintf(&b, "- Ours: %s, config `%s` (fsync interval, the default) plus the per-scenario overlay shown\n", binInfo[r.o.oursBin], r.o.oursConfig)
	fmt.Fprintf(&b, "- Anchor: %s, config `%s` (ANCHOR_FSYNC=false, the file_storage default) plus the per-scenario overlay shown\n", binInfo[r.o.anchorBin], r.o.anchorConfig)
	fmt.Fprintf(&b, "- Load: %d spans/request, %d connections x %d workers, unique trace/span IDs; the client, the sink and the collectors share the CPUs\n", r.o.spansPerReq, r.o.conns, r.o.workers)
	fmt.Fprintf(&b, "- Drain waits: until every acknowledged span arrived, or %s without a new span, at most %s\n", r.o.drainIdle, r.o.drainMax)
	if len(r.durations) > 0 {
		fmt.Fprintf(&b, "- Scenario durations: %s\n", strings.Join(r.durations, ", "))
	}
	return b.String()
}
