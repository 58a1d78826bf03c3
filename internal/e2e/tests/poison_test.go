// SPDX-License-Identifier: Apache-2.0

package tests // import "github.com/otelcol-edge/otelcol-edge/internal/e2e/tests"

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-edge/otelcol-edge/internal/e2e"
)

// TestPoisonRecord: through the binary, a backend that answers gRPC Internal
// to every request containing one record (a poison record) while accepting
// everything else: the other records are all delivered, the poison record is
// given up after retry.max_attempts_per_record (default 10) attempts,
// counted once as items_dropped{reason="poison"} and kept in the dead letter
// as OTLP JSON.
func TestPoisonRecord(t *testing.T) {
	const perRequest, requests, poisonReq = 100, 10, 5
	poisonID := e2e.SpanIDFor(uint64(poisonReq*perRequest + 50))
	sink := e2e.NewSink(t, e2e.SinkOptions{})
	sink.SetFailureFunc(func(ri e2e.RequestInfo) e2e.FailureMode {
		if ri.Signal != e2e.SignalTraces {
			return e2e.FailNone
		}
		rss := ri.Traces.ResourceSpans()
		for i := range rss.Len() {
			sss := rss.At(i).ScopeSpans()
			for j := range sss.Len() {
				spans := sss.At(j).Spans()
				for k := range spans.Len() {
					if spans.At(k).SpanID() == poisonID {
						return e2e.FailInternal
					}
				}
			}
		}
		return e2e.FailNone
	})
	c := startEdge(t, sink, "", nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := e2e.NewGRPCClient(t, c.grpcEndpoint())
	for i := range requests {
		if err := client.SendTraces(ctx, e2e.GenTraces(1, perRequest, uint64(i*perRequest))); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	good := append(seqRange(0, poisonReq*perRequest), seqRange((poisonReq+1)*perRequest, requests*perRequest)...)
	waitAllSpans(t, sink, good, 45*time.Second)
	poison := map[string]string{"reason": "poison"}
	e2e.Eventually(t, 45*time.Second, 100*time.Millisecond, func() bool {
		return c.edgeMetric("exporter_edge_items_dropped", poison) >= perRequest
	}, "dropped{reason=poison} reaches %d (is %v)", perRequest, c.edgeMetric("exporter_edge_items_dropped", poison))
	time.Sleep(time.Second) // would see it counted again
	if got := c.edgeMetric("exporter_edge_items_dropped", poison); got != perRequest {
		t.Errorf("dropped{reason=poison} = %v, want %d (the poison record's spans, once)", got, perRequest)
	}
	if got := sink.UniqueSpanCount(); got != len(good) {
		t.Errorf("sink has %d spans, want the %d good ones", got, len(good))
	}
	if n := c.edgeMetric("exporter_edge_buffer_items", nil); n != 0 {
		t.Errorf("buffer_items = %v after the poison record was given up, want 0", n)
	}
	b, err := os.ReadFile(c.deadLetterPath())
	if err != nil {
		t.Fatalf("dead-letter file: %v", err)
	}
	spans := 0
	var um ptrace.JSONUnmarshaler
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		td, err := um.UnmarshalTraces([]byte(line))
		if err != nil {
			t.Fatalf("dead-letter line %d is not OTLP JSON: %v", i+1, err)
		}
		spans += td.SpanCount()
	}
	if spans != perRequest {
		t.Errorf("dead letter holds %d spans, want the poison record's %d", spans, perRequest)
	}
}
