// SPDX-License-Identifier: Apache-2.0

package loadgen

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otelcol-edge/otelcol-edge/bench/internal/payload"
	"github.com/otelcol-edge/otelcol-edge/bench/internal/procstat"
	"github.com/otelcol-edge/otelcol-edge/bench/internal/sink"
)

// TestRewriteUniqueIDsKeepsTraces: every span gets a new ID on every round,
// and the spans of one trace keep one (new) trace ID and their parent links,
// also when a health check sits between two spans of a trace.
func TestRewriteUniqueIDsKeepsTraces(t *testing.T) {
	t.Run("plain", func(t *testing.T) {
		// 50 spans: 10 traces of 5.
		testRewrite(t, payload.Build, 10)
	})
	t.Run("health checks", func(t *testing.T) {
		// 45 spans in 9 traces of 5 plus 5 health checks, each its own trace.
		testRewrite(t, payload.BuildWithHealthChecks, 14)
	})
}

func testRewrite(t *testing.T, build func(int) ([]byte, error), tracesPerRequest int) {
	req, err := build(50)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := newIDPlan(req)
	if err != nil {
		t.Fatal(err)
	}
	rw := plan.rewriter(3, 0)
	buf := append([]byte(nil), req...)
	seen := map[string]bool{}
	traces := map[string]bool{}
	for round := range 3 {
		rw.rewrite(buf)
		r := ptraceotlp.NewExportRequest()
		if err := r.UnmarshalProto(buf); err != nil {
			t.Fatal(err)
		}
		spans := r.Traces().ResourceSpans().At(0).ScopeSpans().At(0).Spans()
		byID := map[string]int{}
		for i := range spans.Len() {
			sid := spans.At(i).SpanID()
			if seen[string(sid[:])] {
				t.Fatalf("round %d: span ID repeated", round)
			}
			seen[string(sid[:])] = true
			byID[string(sid[:])] = i
			tid := spans.At(i).TraceID()
			traces[string(tid[:])] = true
		}
		for i := range spans.Len() {
			sp := spans.At(i)
			if sp.ParentSpanID().IsEmpty() {
				continue
			}
			psid := sp.ParentSpanID()
			j, ok := byID[string(psid[:])]
			if !ok {
				t.Fatalf("round %d span %d: parent not in request", round, i)
			}
			if sp.TraceID() != spans.At(j).TraceID() {
				t.Fatalf("round %d span %d: parent in another trace", round, i)
			}
		}
	}
	if len(traces) != 3*tracesPerRequest {
		t.Errorf("traces = %d, want %d", len(traces), 3*tracesPerRequest)
	}
}

func TestRunAgainstSink(t *testing.T) {
	ports, err := procstat.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	sk := sink.New(fmt.Sprintf("127.0.0.1:%d", ports[0]))
	if err := sk.Start(); err != nil {
		t.Fatal(err)
	}
	defer sk.Stop()
	req, err := payload.Build(100)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := Run(ctx, Config{
		Endpoint: sk.Addr(), Payload: req, Connections: 2, Workers: 2,
		Duration: 20 * time.Second, MaxSpans: 10_000, UniqueIDs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 10_000 || res.Rejected != 0 {
		t.Fatalf("accepted %d rejected %d (%s)", res.Accepted, res.Rejected, res.LastError)
	}
	if !sk.WaitFor(ctx, 10_000, 0, 5*time.Second) || sk.Spans() != 10_000 {
		t.Fatalf("sink counted %d", sk.Spans())
	}

	// Fixed rate: 20k spans/s for 0.5 s is about 10k spans.
	sk.Reset()
	res, err = Run(ctx, Config{
		Endpoint: sk.Addr(), Payload: req, Connections: 1, Workers: 2,
		Rate: 20_000, Duration: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted < 8_000 || res.Accepted > 11_000 {
		t.Fatalf("fixed rate accepted %d, want about 10000", res.Accepted)
	}

	// Nothing listening: every span is rejected.
	sk.Stop()
	res, err = Run(ctx, Config{
		Endpoint: sk.Addr(), Payload: req, Connections: 1, Workers: 1,
		Duration: 300 * time.Millisecond, Timeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 0 || res.Rejected == 0 {
		t.Fatalf("down sink: accepted %d rejected %d", res.Accepted, res.Rejected)
	}
}
