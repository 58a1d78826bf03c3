// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/otelcol-edge/otelcol-edge/bench/internal/loadgen"
	"github.com/otelcol-edge/otelcol-edge/bench/internal/payload"
	"github.com/otelcol-edge/otelcol-edge/bench/internal/procstat"
	"github.com/otelcol-edge/otelcol-edge/bench/internal/sink"
)

// TestFilterConditionOfBothConfigs: both benchmark pipelines drop the health
// checks with the one condition droppedByFilter implements, run the same
// processors as the README says, and the anchor has no batch processor in
// front of its persistent queue. The anchor files are the in-repository copy
// (bench/anchor/), nothing outside the repository.
func TestFilterConditionOfBothConfigs(t *testing.T) {
	const cond = `- 'attributes["http.route"] == "/healthz"'`
	if !strings.Contains(topLevelBlock("processors:\n  filter:\n  batch:\nexporters:\n  otlp:\n", "processors"), "\n  batch:") ||
		strings.Contains(topLevelBlock("processors:\n  filter:\nexporters:\n  otlp:\n    sending_queue:\n      batch:\n", "processors"), "batch") {
		t.Fatal("topLevelBlock")
	}
	for _, tc := range []struct {
		path       string
		processors string
	}{
		{filepath.Join("..", "..", "configs", "edge.yaml"), "processors: [enrich, enrich/span, filter]"},
		{filepath.Join("..", "..", "anchor", "pipeline.yaml"), "processors: [resource, attributes, filter]"},
	} {
		b, err := os.ReadFile(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if n := strings.Count(s, cond); n != 1 {
			t.Errorf("%s: the filter condition %s appears %d times, want 1", tc.path, cond, n)
		}
		if !strings.Contains(s, tc.processors) {
			t.Errorf("%s: traces pipeline is not %q", tc.path, tc.processors)
		}
		// A batch processor would acknowledge spans before they reach the
		// persistent queue (sending_queue.batch, after the queue, is fine).
		if p := topLevelBlock(s, "processors"); strings.Contains(p, "\n  batch:") {
			t.Errorf("%s: a batch processor in front of the exporter", tc.path)
		}
		if strings.Contains(s, "../") {
			t.Errorf("%s refers to a relative path that may leave the repository", tc.path)
		}
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "anchor", "builder-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// bench.mk rewrites dist.output_path to build into _build/anchor.
	if !regexp.MustCompile(`(?m)^\s+output_path:`).Match(b) {
		t.Error("bench/anchor/builder-config.yaml has no dist.output_path")
	}
}

// topLevelBlock returns the lines of the top-level YAML key (its indented
// body), starting with a newline.
func topLevelBlock(s, key string) string {
	var b strings.Builder
	in := false
	for _, l := range strings.Split(s, "\n") {
		switch {
		case strings.HasPrefix(l, key+":"):
			in = true
		case in && l != "" && !strings.HasPrefix(l, " ") && !strings.HasPrefix(l, "#"):
			return b.String()
		case in:
			b.WriteString("\n" + l)
		}
	}
	return b.String()
}

// TestIDTrackerCountsByID: with a sink that keeps everything (no filter),
// every expected span arrives once and every health check leaks; IDs
// acknowledged but never sent count as lost.
func TestIDTrackerCountsByID(t *testing.T) {
	req, err := payload.BuildWithHealthChecks(100)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := newIDTracker(req)
	if err != nil {
		t.Fatal(err)
	}
	if tr.dropsPerRequest() != 10 {
		t.Fatalf("%d health checks per request, want 10", tr.dropsPerRequest())
	}
	ports, err := procstat.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	sk := sink.New(fmt.Sprintf("127.0.0.1:%d", ports[0]))
	sk.TrackIDs(true)
	if err := sk.Start(); err != nil {
		t.Fatal(err)
	}
	defer sk.Stop()
	ctx := context.Background()
	lr, err := loadgen.Run(ctx, loadgen.Config{
		Endpoint: sk.Addr(), Payload: req, Connections: 2, Workers: 2,
		Duration: 20 * time.Second, MaxSpans: 2_000, UniqueIDs: true, OnAccepted: tr.onAccepted,
	})
	if err != nil {
		t.Fatal(err)
	}
	if lr.Accepted != 2_000 || tr.tracked() != 2_000 || tr.expected() != 1_800 {
		t.Fatalf("accepted %d, tracked %d, expected %d", lr.Accepted, tr.tracked(), tr.expected())
	}
	if !sk.WaitForUnique(ctx, 2_000, 0, 5*time.Second) {
		t.Fatalf("sink has %d distinct IDs", sk.UniqueSpans())
	}
	o := tr.outcome(sk)
	if o.expected != 1_800 || o.lost != 0 || o.leaked != 200 || o.dup != 0 || o.unknown != 0 || o.received != 2_000 {
		t.Fatalf("outcome %+v", o)
	}
	// One more request acknowledged (as far as the tracker knows) but never
	// received: its 90 expected spans are lost, its health checks are not.
	tr.onAccepted(req)
	o = tr.outcome(sk)
	if o.lost != 90 || o.leaked != 200 {
		t.Fatalf("after an unsent request: %+v", o)
	}

	h := &harness{o: options{spansPerReq: 100}, dropsPerRequest: 10}
	if got := h.expected(nil, loadgen.Result{Accepted: 2_000}); got != 1_800 {
		t.Fatalf("expected without IDs = %d, want 1800", got)
	}
}

// TestFloorRow: the S4 row's multiples and ratio are computed from the
// measurements.
func TestFloorRow(t *testing.T) {
	got := floorRow(9, true, 15, true, 3)
	want := "| S4 protobuf floor | S1 CPU per M spans as a multiple of the floor | 3.00x | 5.00x | 0.60 | lower: ours |"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if got := floorRow(9, true, 0, false, 3); !strings.Contains(got, "| 3.00x | n/a | n/a | lower |") {
		t.Fatalf("anchor missing: %s", got)
	}
}
