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
