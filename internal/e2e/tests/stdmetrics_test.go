// SPDX-License-Identifier: Apache-2.0

package tests // import "github.com/otelcol-edge/otelcol-edge/internal/e2e/tests"

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/otelcol-edge/otelcol-edge/internal/e2e"
)

// TestStandardExporterMetrics checks, through the binary's /metrics, that the
// edge exporter emits exporterhelper's standard metrics with upstream's names
// and attribute (exporter="edge"), and that each agrees with what the edge
// exporter's own counters (and the backend) say:
//
//   - enqueue_failed_spans: the spans refused at append (when_full
//     drop_newest, backend down) = otelcol_exporter_edge_items_refused;
//   - queue_size: the log's bytes on disk = otelcol_exporter_edge_buffer_bytes;
//     queue_capacity: max_disk_bytes - dead_letter_max_bytes;
//   - send_failed_*: the items of every request the backend failed (answered
//     Unavailable while the buffer filled, then InvalidArgument once), as
//     the backend counts them; the permanent one is
//     otelcol_exporter_edge_items_dropped{reason="dead_letter"};
//   - sent_spans / sent_metric_points / sent_log_records:
//     otelcol_exporter_edge_items_sent per signal = what the backend accepted.
func TestStandardExporterMetrics(t *testing.T) {
	// The backend answers every request Unavailable (retryable) until
	// planned is set; then it fails the first trace request with
	// InvalidArgument (dead letter) and accepts the rest. It counts the
	// items of the requests it fails: every failed attempt is one it saw.
	var (
		mu             sync.Mutex
		planned        bool
		failedItems    = map[e2e.Signal]int{}
		failedRequests int
		permanentSpans int
	)
	sink := e2e.NewSink(t, e2e.SinkOptions{})
	sink.SetFailureFunc(func(ri e2e.RequestInfo) e2e.FailureMode {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case !planned:
		case ri.Signal == e2e.SignalTraces && permanentSpans == 0:
			permanentSpans = ri.Items
			failedItems[ri.Signal] += ri.Items
			failedRequests++
			return e2e.FailInvalidArgument
		default:
			return e2e.FailNone
		}
		failedItems[ri.Signal] += ri.Items
		failedRequests++
		return e2e.FailUnavailable
	})
	ports := e2e.FreePorts(t, 3)
	const (
		maxDisk    = 524288
		deadLetter = 131072
		capacity   = maxDisk - deadLetter
	)
	cfg := e2e.WriteConfig(t, fmt.Sprintf(`
extensions:
  health_check:
    endpoint: 127.0.0.1:%[2]d
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%[1]d
exporters:
  edge:
    endpoints: [%[4]s]
    grpc:
      tls:
        insecure: true
    buffer:
      directory: %[5]s
      max_disk_bytes: %[6]d
      dead_letter_max_bytes: %[7]d
      segment_bytes: 65536
      compression: false
      when_full: drop_newest
    sending:
      max_in_flight: 1
      flush_interval: 20ms
    retry:
      initial_interval: 50ms
      max_interval: 200ms
service:
  extensions: [health_check]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [edge]
    metrics:
      receivers: [otlp]
      exporters: [edge]
    logs:
      receivers: [otlp]
      exporters: [edge]
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: %[3]d
`, ports[0], ports[1], ports[2], sink.GRPCEndpoint(), filepath.Join(t.TempDir(), "buffer"), maxDisk, deadLetter))
	c := &edgeCollector{Collector: e2e.StartCollector(t, e2e.CollectorOptions{
		ConfigPath: cfg,
		HealthURL:  fmt.Sprintf("http://127.0.0.1:%d/", ports[1]),
		MetricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[2]),
	})}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	client := e2e.NewGRPCClient(t, fmt.Sprintf("127.0.0.1:%d", ports[0]))
	edge := map[string]string{"exporter": "edge"}
	// std returns the standard metric with exactly the attribute
	// exporter="edge" (counters carry the _total suffix), 0 when there is no
	// such series.
	std := func(m map[string]float64, name string) float64 {
		for _, n := range []string{name, name + "_total"} {
			if v, ok := m[e2e.SeriesKey("otelcol_"+n, edge)]; ok {
				return v
			}
		}
		return 0
	}

	// Backend failing: metrics and logs first, then spans until the buffer
	// refuses them.
	const metricPoints, logRecords = 3 * 20, 3 * 15
	for range 3 {
		if err := client.SendMetrics(ctx, e2e.GenMetrics(20)); err != nil {
			t.Fatalf("metrics refused: %v", err)
		}
		if err := client.SendLogs(ctx, e2e.GenLogs(15)); err != nil {
			t.Fatalf("logs refused: %v", err)
		}
	}
	const spansPerRequest = 50
	accepted, refused := 0, 0
	for i := 0; refused < 3*spansPerRequest && i < 1000; i++ {
		if err := client.SendTraces(ctx, e2e.GenTraces(1, spansPerRequest, uint64(i*spansPerRequest))); err != nil {
			refused += spansPerRequest
			continue
		}
		accepted += spansPerRequest
	}
	if refused == 0 || accepted == 0 {
		t.Fatalf("accepted %d spans and refused %d: the buffer should take some and refuse the rest", accepted, refused)
	}
	m := c.Metrics()
	if got, own := std(m, "exporter_enqueue_failed_spans"), metricValue(m, "exporter_edge_items_refused", nil); got != float64(refused) || own != float64(refused) {
		t.Errorf("otelcol_exporter_enqueue_failed_spans{exporter=\"edge\"} = %v, otelcol_exporter_edge_items_refused = %v, want both %d (spans refused)", got, own, refused)
	}
	for _, name := range []string{"exporter_enqueue_failed_metric_points", "exporter_enqueue_failed_log_records"} {
		if got := std(m, name); got != 0 {
			t.Errorf("otelcol_%s{exporter=\"edge\"} = %v, want 0", name, got)
		}
	}
	if got := std(m, "exporter_queue_capacity"); got != capacity {
		t.Errorf("otelcol_exporter_queue_capacity{exporter=\"edge\"} = %v, want %d (max_disk_bytes - dead_letter_max_bytes)", got, capacity)
	}
	size, own := std(m, "exporter_queue_size"), metricValue(m, "exporter_edge_buffer_bytes", nil)
	if size != own || size <= capacity/2 || size > capacity {
		t.Errorf("otelcol_exporter_queue_size{exporter=\"edge\"} = %v, otelcol_exporter_edge_buffer_bytes = %v: want equal, over half the capacity %d and within it", size, own, capacity)
	}

	// The backend accepts from now on, but for one trace request.
	mu.Lock()
	planned = true
	mu.Unlock()
	e2e.Eventually(t, 60*time.Second, 100*time.Millisecond, func() bool {
		return c.edgeMetric("exporter_edge_buffer_items", nil) == 0 && sink.LogCount() == logRecords && sink.DataPointCount() == metricPoints
	}, "the backlog is delivered")
	// Live spans once the backlog is gone (the backlog's spans may all have
	// been in the request that went to the dead letter).
	const liveSpans = 2 * spansPerRequest
	for i := range 2 {
		if err := client.SendTraces(ctx, e2e.GenTraces(1, spansPerRequest, uint64(100_000+i*spansPerRequest))); err != nil {
			t.Fatalf("live spans refused: %v", err)
		}
	}
	e2e.Eventually(t, 30*time.Second, 50*time.Millisecond, func() bool {
		return sink.SpanCount() == accepted-permanentSpansLocked(&mu, &permanentSpans)+liveSpans && c.edgeMetric("exporter_edge_buffer_items", nil) == 0
	}, "the live spans are delivered")
	mu.Lock()
	defer mu.Unlock()
	if permanentSpans == 0 || failedRequests < 2 {
		t.Fatalf("failed items by signal %v, %d spans failed permanently: the failure plan did not run", failedItems, permanentSpans)
	}
	m = c.Metrics()
	for _, s := range []struct {
		std, signal string
		backend     int
	}{
		{"exporter_sent_spans", "traces", sink.SpanCount()},
		{"exporter_sent_metric_points", "metrics", sink.DataPointCount()},
		{"exporter_sent_log_records", "logs", sink.LogCount()},
	} {
		got, own := std(m, s.std), metricValue(m, "exporter_edge_items_sent", map[string]string{"signal": s.signal})
		if got != own || got != float64(s.backend) {
			t.Errorf("otelcol_%s{exporter=\"edge\"} = %v, otelcol_exporter_edge_items_sent{signal=%q} = %v, backend accepted %d: want all equal",
				s.std, got, s.signal, own, s.backend)
		}
	}
	if got := std(m, "exporter_sent_spans"); got != float64(accepted-permanentSpans+liveSpans) {
		t.Errorf("otelcol_exporter_sent_spans{exporter=\"edge\"} = %v, want %d (accepted at append less the dead letter, and the live spans)", got, accepted-permanentSpans+liveSpans)
	}
	for _, s := range []struct {
		std    string
		signal e2e.Signal
	}{
		{"exporter_send_failed_spans", e2e.SignalTraces},
		{"exporter_send_failed_metric_points", e2e.SignalMetrics},
		{"exporter_send_failed_log_records", e2e.SignalLogs},
	} {
		if got := std(m, s.std); got != float64(failedItems[s.signal]) {
			t.Errorf("otelcol_%s{exporter=\"edge\"} = %v, want %d (items of the %s requests the backend failed)", s.std, got, failedItems[s.signal], s.signal)
		}
	}
	if own := metricValue(m, "exporter_edge_items_dropped", map[string]string{"reason": "dead_letter"}); own != float64(permanentSpans) {
		t.Errorf("otelcol_exporter_edge_items_dropped{reason=\"dead_letter\"} = %v, want %d (spans of the request failed permanently)", own, permanentSpans)
	}
	if own := metricValue(m, "exporter_edge_send_failures", nil); own != float64(failedRequests) {
		t.Errorf("otelcol_exporter_edge_send_failures = %v, want %d (requests the backend failed)", own, failedRequests)
	}
	if size, own := std(m, "exporter_queue_size"), metricValue(m, "exporter_edge_buffer_bytes", nil); size != own {
		t.Errorf("otelcol_exporter_queue_size{exporter=\"edge\"} = %v, otelcol_exporter_edge_buffer_bytes = %v after the drain: want equal", size, own)
	}
}

// permanentSpansLocked reads *n under mu.
func permanentSpansLocked(mu *sync.Mutex, n *int) int {
	mu.Lock()
	defer mu.Unlock()
	return *n
}
