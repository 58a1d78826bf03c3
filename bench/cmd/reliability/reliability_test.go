// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSampleAndMetricSum(t *testing.T) {
	text := `# HELP otelcol_exporter_edge_items_dropped_total Items dropped
# TYPE otelcol_exporter_edge_items_dropped_total counter
otelcol_exporter_edge_items_dropped_total{exporter="edge",reason="budget",signal="traces"} 1500
otelcol_exporter_edge_items_dropped_total{exporter="edge",reason="dead_letter",signal="traces"} 250
otelcol_exporter_send_failed_spans_total{exporter="otlp",msg="a,b=\"c\""} 7
otelcol_process_uptime 12.5
`
	var samples []metricSample
	for _, l := range strings.Split(text, "\n") {
		if s, ok := parseSample(l); ok {
			samples = append(samples, s)
		}
	}
	if len(samples) != 4 {
		t.Fatalf("parsed %d samples, want 4: %+v", len(samples), samples)
	}
	if v, ok := metricSum(samples, "otelcol_exporter_edge_items_dropped", map[string]string{"reason": "dead_letter"}); !ok || v != 250 {
		t.Errorf("dead_letter = %v %v", v, ok)
	}
	if v, ok := metricSum(samples, "otelcol_exporter_edge_items_dropped", nil); !ok || v != 1750 {
		t.Errorf("all drops = %v %v", v, ok)
	}
	if v, ok := metricSum(samples, "otelcol_exporter_send_failed_spans", map[string]string{"exporter": "otlp"}); !ok || v != 7 {
		t.Errorf("send_failed = %v %v", v, ok)
	}
	if _, ok := metricSum(samples, "otelcol_exporter_edge_items_sent", nil); ok {
		t.Error("absent metric found")
	}
	if v, ok := metricSum(samples, "otelcol_process_uptime", nil); !ok || v != 12.5 {
		t.Errorf("gauge = %v %v", v, ok)
	}
}

func TestParseInvalidCase(t *testing.T) {
	c := parseInvalidCase("edge_fsync.yaml", []byte("# Invalid on purpose\n# want: \"buffer.fsync\" must be\n#want: x\n  # want: sometimes\nexporters:\n"))
	if c.component != "edge" || len(c.wants) != 2 || c.wants[0] != `"buffer.fsync" must be` || c.wants[1] != "sometimes" {
		t.Fatalf("%+v", c)
	}
	if errorLine("a\nError: exporters::edge: bad\n\n") != "Error: exporters::edge: bad" {
		t.Fatal("errorLine")
	}
}

// TestInvalidDirHasEnoughCases: testdata/invalid holds 25+ cases for all
// four components, each with a want line.
func TestInvalidDirHasEnoughCases(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "..", "testdata", "invalid", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 25 {
		t.Fatalf("%d invalid configs, want >= 25", len(files))
	}
	per := map[string]int{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c := parseInvalidCase(filepath.Base(f), b)
		if len(c.wants) == 0 {
			t.Errorf("%s: no `# want:` line", f)
		}
		per[c.component]++
	}
	for _, k := range []string{"edge", "filter", "enrich", "discovery"} {
		if per[k] < 3 {
			t.Errorf("%s: %d cases", k, per[k])
		}
	}
}

func TestDamage(t *testing.T) {
	dir := t.TempDir()
	orig := bytes.Repeat([]byte("0123456789abcdef"), 1024) // 16 KiB
	if err := os.MkdirAll(filepath.Join(dir, "wal"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"wal/1.seg", "wal/LOCK"} {
		if err := os.WriteFile(filepath.Join(dir, f), orig, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	files, err := dataFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0] != filepath.Join("wal", "1.seg") {
		t.Fatalf("data files %v", files)
	}
	rng := rand.New(rand.NewSource(1))
	for _, kind := range damageKinds {
		cp := filepath.Join(t.TempDir(), "copy")
		if err := copyDir(dir, cp); err != nil {
			t.Fatal(err)
		}
		desc, err := damage(rng, cp, files, kind)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(cp, files[0]))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(got, orig) {
			t.Errorf("%s (%s): file unchanged", kind, desc)
		}
		switch kind {
		case "truncate":
			if len(got) >= len(orig) {
				t.Errorf("truncate: %d bytes", len(got))
			}
		case "flip-head":
			if !bytes.Equal(got[8192:], orig[8192:]) {
				t.Errorf("flip-head changed bytes after 8 KiB")
			}
		default:
			if len(got) != len(orig) {
				t.Errorf("%s changed the size", kind)
			}
		}
		if lock, _ := os.ReadFile(filepath.Join(cp, "wal", "LOCK")); !bytes.Equal(lock, orig) {
			t.Errorf("%s touched LOCK", kind)
		}
	}
}

func TestReportMarkdown(t *testing.T) {
	rep := newReport(options{command: "make reliability-quick", quick: true})
	s := &scenario{id: "R1", title: "outage", extraCols: []string{"drain s"}}
	r := newRow("ours")
	r.fromOutcome(outcome{sent: 100, received: 101, lost: 0, dup: 2, extra: 1})
	r.maxDisk = 4096
	r.extra["drain s"] = "1.5"
	r.note("a | b")
	r.verdict = verdictLoss(outcome{sent: 100, dup: 2})
	s.rows = append(s.rows, r)
	rep.add(s)
	md := rep.markdown()
	for _, want := range []string{
		"| collector | sent (acknowledged) | received (unique) | lost | duplicated | max disk used (bytes, sampled) | drain s | notes |",
		"| ours | 100 | 101 | 0 | 2 | 4096 (0.0 MiB) | 1.5 |",
		`a \| b`,
		"1 spans arrived that the client saw fail",
		"| R1 | ours | 100 | 101 | 0 | 2 | 4096 | no loss; 2.00 % duplicated |",
		"`make reliability-quick`",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestLogKey(t *testing.T) {
	l := "2026-11-25T18:10:35.864Z\terror\tinternal/queue_sender.go:62\tExporting failed. Dropping data.\t" +
		`{"resource": {"service.name": "otelcol-anchor"}, "error": "not retryable error: Permanent error: rpc error: code = InvalidArgument", "dropped_items": 1000}`
	got := logKey(l)
	want := "error internal/queue_sender.go:62 Exporting failed. Dropping data. (error=not retryable error: Permanent error: rpc error: code = InvalidArgument, dropped_items=1000)"
	if got != want {
		t.Fatalf("logKey:\n got %q\nwant %q", got, want)
	}
}
