// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"
	"sync"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otelcol-edge/otelcol-edge/bench/internal/otlpwire"
	"github.com/otelcol-edge/otelcol-edge/bench/internal/payload"
	"github.com/otelcol-edge/otelcol-edge/bench/internal/sink"
)

// droppedByFilter is the filter condition of both benchmark pipelines
// (bench/configs/edge.yaml and bench/anchor/pipeline.yaml):
// attributes["http.route"] == "/healthz". TestFilterConditionOfBothConfigs
// checks that both configs still say so.
func droppedByFilter(sp ptrace.Span) bool {
	v, ok := sp.Attributes().Get("http.route")
	return ok && v.Str() == payload.HealthCheckRoute
}

// idTracker records the span IDs of every request a collector acknowledged in
// full, split into the spans both pipelines must deliver and the health
// checks their filter must drop, so that loss is counted by unique span ID at
// the sink (as the reliability suite does), not by subtracting counts.
type idTracker struct {
	spanOffs []int  // offset of the span_id of every span of the request
	drop     []bool // by span index: the pipelines' filter drops the span

	mu      sync.Mutex
	want    []uint64 // IDs that must arrive
	dropped []uint64 // IDs that must not arrive (health checks)
}

// newIDTracker prepares a tracker for requests shaped like req (the load
// generator only rewrites the IDs in place).
func newIDTracker(req []byte) (*idTracker, error) {
	offs, err := otlpwire.IDOffsets(req)
	if err != nil {
		return nil, err
	}
	r := ptraceotlp.NewExportRequest()
	if err := r.UnmarshalProto(req); err != nil {
		return nil, err
	}
	t := &idTracker{spanOffs: make([]int, len(offs))}
	for i, o := range offs {
		t.spanOffs[i] = o.Span
	}
	rss := r.Traces().ResourceSpans()
	for i := range rss.Len() {
		sss := rss.At(i).ScopeSpans()
		for j := range sss.Len() {
			spans := sss.At(j).Spans()
			for k := range spans.Len() {
				t.drop = append(t.drop, droppedByFilter(spans.At(k)))
			}
		}
	}
	if len(t.drop) != len(offs) {
		return nil, fmt.Errorf("payload: %d spans decoded, %d span IDs located", len(t.drop), len(offs))
	}
	return t, nil
}

// dropsPerRequest is the number of spans of a request the filter drops.
func (t *idTracker) dropsPerRequest() int {
	n := 0
	for _, d := range t.drop {
		if d {
			n++
		}
	}
	return n
}

// onAccepted is the load generator's OnAccepted callback.
func (t *idTracker) onAccepted(b []byte) {
	t.mu.Lock()
	for i, off := range t.spanOffs {
		if t.drop[i] {
			t.dropped = append(t.dropped, otlpwire.SpanID(b, off))
		} else {
			t.want = append(t.want, otlpwire.SpanID(b, off))
		}
	}
	t.mu.Unlock()
}

// tracked is the number of spans of fully acknowledged requests.
func (t *idTracker) tracked() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return int64(len(t.want) + len(t.dropped))
}

// expected is the number of distinct span IDs that must arrive.
func (t *idTracker) expected() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return int64(len(t.want))
}

// idOutcome compares the acknowledged IDs with the sink's counts.
type idOutcome struct {
	expected int64 // acknowledged spans the filter keeps
	received int64 // distinct span IDs at the sink
	lost     int64 // expected IDs that never arrived
	leaked   int64 // health-check IDs that arrived (the filter should drop them)
	dup      int64 // spans whose ID had arrived before
	unknown  int64 // distinct IDs at the sink that were not acknowledged in full
}

// outcome counts by span ID (the sink must track IDs).
func (t *idTracker) outcome(sk *sink.Sink) idOutcome {
	t.mu.Lock()
	want := append([]uint64(nil), t.want...)
	dropped := append([]uint64(nil), t.dropped...)
	t.mu.Unlock()
	o := idOutcome{expected: int64(len(want))}
	sk.IDCounts(want, func(_ int, n uint32) {
		if n == 0 {
			o.lost++
		}
	})
	sk.IDCounts(dropped, func(_ int, n uint32) {
		if n > 0 {
			o.leaked++
		}
	})
	o.received = sk.UniqueSpans()
	o.dup = sk.DuplicateSpans()
	o.unknown = o.received - (o.expected - o.lost) - o.leaked
	return o
}
