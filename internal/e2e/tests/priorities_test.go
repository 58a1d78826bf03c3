// SPDX-License-Identifier: Apache-2.0

package tests // import "github.com/otelcol-edge/otelcol-edge/internal/e2e/tests"

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-edge/otelcol-edge/internal/e2e"
)

// prioritiesOverlay is merged over testdata/edge.yaml: one class for error
// spans and error logs above the implicit "default".
const prioritiesOverlay = `
exporters:
  edge:
    buffer:
      dead_letter_max_bytes: 0
      priorities:
        - name: errors
          match:
            - span_status: error
            - log_severity_at_least: error
`

// floodLogs is a request of n log records with e2e.seq from..from+n-1:
// debug, except the one at errAt (error; -1: none). Bodies of about 300
// bytes so that a flood fills the budget quickly.
func floodLogs(from, n, errAt int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "priorities")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	pad := strings.Repeat("x", 300)
	for i := range n {
		lr := lrs.AppendEmpty()
		lr.SetSeverityNumber(plog.SeverityNumberDebug)
		if i == errAt {
			lr.SetSeverityNumber(plog.SeverityNumberError)
		}
		lr.Attributes().PutInt("e2e.seq", int64(from+i))
		lr.Body().SetStr(fmt.Sprintf("debug line %d %s", from+i, pad))
	}
	return ld
}

// errorSpans is n spans with status error and span IDs SpanIDFor(from...).
func errorSpans(from uint64, n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "priorities")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	now := pcommon.NewTimestampFromTime(time.Now())
	for i := range n {
		s := spans.AppendEmpty()
		s.SetTraceID([16]byte{1, byte(i)})
		s.SetSpanID(e2e.SpanIDFor(from + uint64(i)))
		s.SetName("failed op")
		s.SetStartTimestamp(now - 1000)
		s.SetEndTimestamp(now)
		s.Status().SetCode(ptrace.StatusCodeError)
	}
	return td
}

// TestPrioritiesFullBudget (issue #15): the backend is down and the budget
// full with a flood of debug logs (each request carrying one error log)
// and a trickle of error spans. With buffer.priorities putting error spans
// and error logs above the default class, every error span and every error
// log survives, the debug logs are dropped (oldest first), and the
// collector's own metrics count the drops per class exactly: the debug logs
// the backend never got are exactly exporter_edge_items_dropped{class=
// "default"}, and nothing is dropped from class "errors".
func TestPrioritiesFullBudget(t *testing.T) {
	const (
		logReqs   = 300
		perReq    = 50
		spanEvery = 10
		spansPer  = 4
	)
	overlay := filepath.Join(t.TempDir(), "priorities.yaml")
	if err := os.WriteFile(overlay, []byte(prioritiesOverlay), 0o600); err != nil {
		t.Fatal(err)
	}
	sink := newStoppedSink(t, e2e.SinkOptions{KeepData: true, MaxKeptRequests: 100000})
	bufferDir := filepath.Join(t.TempDir(), "buffer")
	env, ports := edgeEnv(t, sink, bufferDir, map[string]string{
		"EDGE_MAX_DISK":        "1048576",
		"EDGE_SEGMENT_BYTES":   "65536",
		"EDGE_COMPRESSION":     "false",
		"EDGE_FSYNC":           "never",
		"EDGE_BATCH_MAX_ITEMS": "500",
	})
	c := &edgeCollector{Collector: e2e.StartCollector(t, e2e.CollectorOptions{
		ConfigPaths: []string{filepath.Join(e2e.RepoRoot(t), "testdata", "edge.yaml"), overlay},
		Env:         env,
		HealthURL:   fmt.Sprintf("http://127.0.0.1:%d/", ports[2]),
		MetricsURL:  fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[3]),
	}), grpcPort: ports[0], httpPort: ports[1], healthPort: ports[2], metricsPort: ports[3], bufferDir: bufferDir}
	client := e2e.NewGRPCClient(t, c.grpcEndpoint())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// The flood: ~5 MB of log records against a 1 MiB budget.
	var spans int
	for i := range logReqs {
		if err := client.SendLogs(ctx, floodLogs(i*perReq, perReq, i%perReq)); err != nil {
			t.Fatalf("logs request %d: %v", i, err)
		}
		if i%spanEvery == 0 {
			if err := client.SendTraces(ctx, errorSpans(uint64(spans), spansPer)); err != nil {
				t.Fatalf("traces request %d: %v", i, err)
			}
			spans += spansPer
		}
	}
	errLogs := logReqs
	debugLogs := logReqs*perReq - errLogs
	m := e2e.ScrapeMetrics(t, c.Options().MetricsURL)
	droppedDefault := metricValue(m, "exporter_edge_items_dropped", map[string]string{"reason": "budget", "class": "default"})
	if droppedDefault <= 0 {
		t.Fatalf("the budget never filled: no budget drop in class default")
	}
	if v := metricValue(m, "exporter_edge_items_dropped", map[string]string{"class": "errors"}); v != 0 {
		t.Fatalf("%v items of class errors dropped, want 0", v)
	}
	if v := metricValue(m, "exporter_edge_class_buffer_items", map[string]string{"class": "errors"}); int(v) != errLogs+spans {
		t.Fatalf("class errors holds %v items, want %d", v, errLogs+spans)
	}
	if v := metricValue(m, "exporter_edge_class_buffer_bytes", map[string]string{"class": "default"}); v <= 0 {
		t.Fatalf("exporter_edge_class_buffer_bytes{class=default} = %v", v)
	}

	// The backend comes back: the buffer drains.
	sink.Start()
	e2e.Eventually(t, 30*time.Second, 100*time.Millisecond, func() bool {
		return c.edgeMetric("exporter_edge_buffer_items", nil) == 0 && sink.UniqueSpanCount() >= spans
	}, "the buffer to drain")

	if got := sink.UniqueSpanCount(); got != spans {
		t.Errorf("%d unique error spans at the backend, want every one of %d", got, spans)
	}
	seen := map[int64]bool{}
	var gotErr, gotDebug int
	for _, ld := range sink.ReceivedLogs() {
		rls := ld.ResourceLogs()
		for i := range rls.Len() {
			sls := rls.At(i).ScopeLogs()
			for j := range sls.Len() {
				lrs := sls.At(j).LogRecords()
				for k := range lrs.Len() {
					lr := lrs.At(k)
					v, _ := lr.Attributes().Get("e2e.seq")
					if seen[v.Int()] {
						continue // a request sent twice (at least once)
					}
					seen[v.Int()] = true
					if lr.SeverityNumber() >= plog.SeverityNumberError {
						gotErr++
					} else {
						gotDebug++
					}
				}
			}
		}
	}
	if gotErr != errLogs {
		t.Errorf("%d error logs at the backend, want every one of %d (a mixed request keeps its error)", gotErr, errLogs)
	}
	m = e2e.ScrapeMetrics(t, c.Options().MetricsURL)
	droppedDefault = metricValue(m, "exporter_edge_items_dropped", map[string]string{"reason": "budget", "class": "default"})
	if int(droppedDefault)+gotDebug != debugLogs {
		t.Errorf("debug logs: %d delivered + %v dropped != %d appended: the per-class drop count is not exact", gotDebug, droppedDefault, debugLogs)
	}
	if v := metricValue(m, "exporter_edge_items_dropped", nil); v != droppedDefault {
		t.Errorf("%v items dropped in all, %v of them budget drops of class default: want only those", v, droppedDefault)
	}
	t.Logf("%d error spans and %d error logs kept; debug logs: %d delivered, %v dropped (class default)", spans, gotErr, gotDebug, droppedDefault)
}
