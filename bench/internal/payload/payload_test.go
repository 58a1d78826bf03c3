// SPDX-License-Identifier: Apache-2.0

package payload

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otelcol-edge/otelcol-edge/bench/internal/otlpwire"
)

func TestBuild(t *testing.T) {
	b, err := Build(500)
	if err != nil {
		t.Fatal(err)
	}
	n, err := otlpwire.CountSpans(b)
	if err != nil || n != 500 {
		t.Fatalf("CountSpans = %d, %v", n, err)
	}
	perSpan := len(b) / 500
	t.Logf("request %d bytes, %d bytes per span", len(b), perSpan)
	if perSpan < 330 || perSpan > 420 {
		t.Errorf("bytes per span %d outside 330..420", perSpan)
	}
	offs, err := otlpwire.IDOffsets(b)
	if err != nil || len(offs) != 500 {
		t.Fatalf("IDOffsets = %d, %v", len(offs), err)
	}
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(b); err != nil {
		t.Fatal(err)
	}
	sp := req.Traces().ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(3)
	tid := sp.TraceID()
	if string(b[offs[3].Trace:offs[3].Trace+16]) != string(tid[:]) {
		t.Error("trace ID offset mismatch")
	}
	sid := sp.SpanID()
	if string(b[offs[3].Span:offs[3].Span+8]) != string(sid[:]) {
		t.Error("span ID offset mismatch")
	}
	psid := sp.ParentSpanID()
	if offs[3].Parent < 0 || string(b[offs[3].Parent:offs[3].Parent+8]) != string(psid[:]) {
		t.Error("parent span ID offset mismatch")
	}
	if offs[0].Parent != -1 {
		t.Error("root span has a parent offset")
	}
	attrs := sp.Attributes().Len()
	if attrs < 10 || attrs > 20 {
		t.Errorf("attributes %d", attrs)
	}
}

// TestBuildWithHealthChecks: exactly every tenth span is a health check
// (http.route "/healthz", its own trace, no parent); the others are Build's
// spans in Build's order.
func TestBuildWithHealthChecks(t *testing.T) {
	b, err := BuildWithHealthChecks(500)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := Build(450)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("request %d bytes, %d bytes per span", len(b), len(b)/500)
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(b); err != nil {
		t.Fatal(err)
	}
	want := ptraceotlp.NewExportRequest()
	if err := want.UnmarshalProto(plain); err != nil {
		t.Fatal(err)
	}
	spans := req.Traces().ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	wantSpans := want.Traces().ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	if spans.Len() != 500 {
		t.Fatalf("%d spans", spans.Len())
	}
	traceIDs := map[[16]byte]int{}
	for k := range spans.Len() {
		traceIDs[spans.At(k).TraceID()]++
	}
	j := 0
	for k := range spans.Len() {
		sp := spans.At(k)
		route, _ := sp.Attributes().Get("http.route")
		if k%10 == 9 {
			if route.Str() != HealthCheckRoute || !sp.ParentSpanID().IsEmpty() || traceIDs[sp.TraceID()] != 1 {
				t.Fatalf("span %d: route %q parent %v, %d spans in its trace: not a lone health check", k, route.Str(), sp.ParentSpanID(), traceIDs[sp.TraceID()])
			}
			continue
		}
		if route.Str() == HealthCheckRoute {
			t.Fatalf("span %d: health check route on a normal span", k)
		}
		w := wantSpans.At(j)
		if sp.SpanID() != w.SpanID() || sp.TraceID() != w.TraceID() || sp.Name() != w.Name() || sp.Attributes().Len() != w.Attributes().Len() {
			t.Fatalf("span %d differs from Build's span %d", k, j)
		}
		j++
	}
	if j != 450 {
		t.Fatalf("%d normal spans", j)
	}
}
