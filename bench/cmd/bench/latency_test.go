// SPDX-License-Identifier: Apache-2.0

package main

import (
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otelcol-edge/otelcol-edge/bench/internal/otlpwire"
	"github.com/otelcol-edge/otelcol-edge/bench/internal/payload"
)

// TestProbeEndsFindsOnlyProbes: in a request that joins background spans and
// probe spans (as the collectors' batches do), the wire walk returns the end
// timestamp of every probe and of nothing else.
func TestProbeEndsFindsOnlyProbes(t *testing.T) {
	bg, err := payload.BuildWithHealthChecks(20)
	if err != nil {
		t.Fatal(err)
	}
	end1 := time.Unix(1_700_000_000, 123_456_789)
	end2 := end1.Add(10 * time.Millisecond)
	p1, err := probeRequest(1, end1)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := probeRequest(2, end2)
	if err != nil {
		t.Fatal(err)
	}
	// Serialized export requests concatenate into one valid request.
	joined := append(append(append([]byte(nil), p1...), bg...), p2...)
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(joined); err != nil {
		t.Fatal(err)
	}
	if got := req.Traces().SpanCount(); got != 22 {
		t.Fatalf("joined request has %d spans, want 22", got)
	}
	ends, err := otlpwire.ProbeEnds(joined, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ends) != 2 || ends[0] != end1.UnixNano() || ends[1] != end2.UnixNano() {
		t.Fatalf("probe ends %v, want [%d %d]", ends, end1.UnixNano(), end2.UnixNano())
	}
	none, err := otlpwire.ProbeEnds(bg, nil)
	if err != nil || len(none) != 0 {
		t.Fatalf("background request: probes %v, err %v", none, err)
	}
	// The probe is a client span of 1 ms.
	sp := firstSpan(t, p1)
	if sp.Kind() != ptrace.SpanKindClient || sp.EndTimestamp().AsTime().Sub(sp.StartTimestamp().AsTime()) != time.Millisecond {
		t.Fatalf("probe span kind %v, duration %v", sp.Kind(), sp.EndTimestamp().AsTime().Sub(sp.StartTimestamp().AsTime()))
	}
}

func firstSpan(t *testing.T, raw []byte) ptrace.Span {
	t.Helper()
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(raw); err != nil {
		t.Fatal(err)
	}
	return req.Traces().ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
}

func TestQuantilesNearestRank(t *testing.T) {
	var lats []time.Duration
	for i := 100; i >= 1; i-- { // 1..100 ms, unsorted
		lats = append(lats, time.Duration(i)*time.Millisecond)
	}
	q := quantiles(lats)
	for k, want := range map[string]float64{"p50 ms": 50, "p90 ms": 90, "p99 ms": 99, "max ms": 100} {
		if q[k] != want {
			t.Errorf("%s = %v, want %v", k, q[k], want)
		}
	}
	if lats[0] != 100*time.Millisecond {
		t.Error("quantiles sorted its input in place")
	}
}

func TestLatLevels(t *testing.T) {
	if l, err := latLevels("10, 50,90"); err != nil || len(l) != 3 || l[1] != 50 {
		t.Fatalf("latLevels: %v %v", l, err)
	}
	for _, bad := range []string{"", "0", "101", "x"} {
		if _, err := latLevels(bad); err == nil {
			t.Errorf("latLevels(%q) accepted", bad)
		}
	}
}
