// SPDX-License-Identifier: Apache-2.0

package tests // import "github.com/otelcol-edge/otelcol-edge/internal/e2e/tests"

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/otelcol-edge/otelcol-edge/internal/e2e"
)

// enrichConfig runs OTLP -> enrich (env detector, a static attribute and a
// CSV lookup table keyed by service.name, polled for changes) -> OTLP to a
// sink.
const enrichConfig = `
extensions:
  health_check:
    endpoint: 127.0.0.1:${env:HEALTH_PORT}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:${env:OTLP_GRPC_PORT}
processors:
  enrich:
    detectors:
      env:
        enabled: true
    static:
      - key: deployment.environment.name
        value: e2e
      - key: pipeline
        value: enrich-e2e
    lookups:
      - file: ${env:LOOKUP_FILE}
        key: service.name
        reload: poll
        poll_interval: 100ms
exporters:
  otlp_grpc:
    endpoint: ${env:SINK_ENDPOINT}
    tls:
      insecure: true
    sending_queue:
      enabled: false
service:
  extensions: [health_check]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [enrich]
      exporters: [otlp_grpc]
  telemetry:
    metrics:
      level: detailed
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: ${env:METRICS_PORT}
`

// TestEnrichLookupAndEnvDetector: through the built binary, resources get
// OTEL_RESOURCE_ATTRIBUTES (without overwriting what they carry), the static
// attributes (insert: deployment.environment.name stays the sender's) and
// the lookup table's columns; a change of the table is picked up without a
// restart; the lookup counters are exported.
func TestEnrichLookupAndEnvDetector(t *testing.T) {
	sink := e2e.NewSink(t, e2e.SinkOptions{})
	sink.Start()
	ports := e2e.FreePorts(t, 3)
	lookup := filepath.Join(t.TempDir(), "teams.csv")
	writeTable := func(content string) {
		t.Helper()
		tmp := lookup + ".tmp"
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, lookup); err != nil {
			t.Fatal(err)
		}
	}
	writeTable("service.name,team,tier\nedge-svc-0,payments,gold\nedge-svc-1,web,silver\n")

	metricsURL := "http://127.0.0.1:" + strconv.Itoa(ports[2]) + "/metrics"
	c := e2e.StartCollector(t, e2e.CollectorOptions{
		ConfigPath: e2e.WriteConfig(t, enrichConfig),
		Env: map[string]string{
			"OTLP_GRPC_PORT":           strconv.Itoa(ports[0]),
			"HEALTH_PORT":              strconv.Itoa(ports[1]),
			"METRICS_PORT":             strconv.Itoa(ports[2]),
			"SINK_ENDPOINT":            sink.GRPCEndpoint(),
			"LOOKUP_FILE":              lookup,
			"OTEL_RESOURCE_ATTRIBUTES": "site.id=shop-42,host.name=gateway-host",
		},
		HealthURL:  "http://127.0.0.1:" + strconv.Itoa(ports[1]) + "/",
		MetricsURL: metricsURL,
	})
	client := e2e.NewGRPCClient(t, "127.0.0.1:"+strconv.Itoa(ports[0]))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// The env detector runs in the background: send until its attribute
	// shows up (it is immediate in practice).
	var res []map[string]any
	e2e.Eventually(t, 20*time.Second, 100*time.Millisecond, func() bool {
		if err := client.SendTraces(ctx, e2e.GenTraces(3, 2, 0)); err != nil {
			t.Logf("send: %v", err)
			return false
		}
		res = sink.LastResourceAttributes(e2e.SignalTraces)
		return len(res) == 3 && res[0]["site.id"] == "shop-42"
	}, "resources never got the env detector's attributes")

	want := []map[string]any{
		{"team": "payments", "tier": "gold"},
		{"team": "web", "tier": "silver"},
		{}, // edge-svc-2 is not in the table
	}
	for i, r := range res {
		if r["host.name"] == "gateway-host" {
			t.Errorf("resource %d: host.name overwritten by the env detector: %v", i, r)
		}
		if r["deployment.environment.name"] != "test" {
			t.Errorf("resource %d: deployment.environment.name = %v, want the sender's %q (insert)", i, r["deployment.environment.name"], "test")
		}
		if r["pipeline"] != "enrich-e2e" || r["site.id"] != "shop-42" {
			t.Errorf("resource %d: missing static or env attributes: %v", i, r)
		}
		for k, v := range want[i] {
			if r[k] != v {
				t.Errorf("resource %d (%v): %s = %v, want %v", i, r["service.name"], k, r[k], v)
			}
		}
		if _, ok := r["team"]; ok && len(want[i]) == 0 {
			t.Errorf("resource %d: unexpected lookup attributes: %v", i, r)
		}
	}

	// Hot reload: edge-svc-2 appears in the table.
	writeTable("service.name,team,tier\nedge-svc-0,payments,gold\nedge-svc-1,web,silver\nedge-svc-2,search,bronze\n")
	e2e.Eventually(t, 20*time.Second, 100*time.Millisecond, func() bool {
		if err := client.SendTraces(ctx, e2e.GenTraces(3, 2, 100)); err != nil {
			return false
		}
		res = sink.LastResourceAttributes(e2e.SignalTraces)
		return len(res) == 3 && res[2]["team"] == "search"
	}, "the lookup table change was not picked up")

	// A bad table keeps the last good one.
	writeTable("service.name,team,tier\nedge-svc-2,broken\n")
	time.Sleep(500 * time.Millisecond)
	if err := client.SendTraces(ctx, e2e.GenTraces(3, 2, 200)); err != nil {
		t.Fatal(err)
	}
	e2e.Eventually(t, 10*time.Second, 50*time.Millisecond, func() bool { return sink.SpanCount() >= 6 }, "spans not delivered")
	time.Sleep(200 * time.Millisecond)
	res = sink.LastResourceAttributes(e2e.SignalTraces)
	if len(res) != 3 || res[2]["team"] != "search" {
		t.Errorf("after a bad table: %v, want the last good table (team=search)", res)
	}

	e2e.Eventually(t, 20*time.Second, 200*time.Millisecond, func() bool {
		m, err := e2e.TryScrapeMetrics(metricsURL)
		if err != nil {
			return false
		}
		hits := e2e.SumMetric(m, "otelcol_processor_enrich_lookup_hits", nil)
		enriched := e2e.SumMetric(m, "otelcol_processor_enrich_items_enriched", map[string]string{"signal": "traces"})
		bad := e2e.SumMetric(m, "otelcol_processor_enrich_lookup_reloads", map[string]string{"result": "error"})
		return hits > 0 && enriched > 0 && bad >= 1
	}, "enrich metrics not exported")

	if code := c.Stop(); code != 0 {
		t.Errorf("collector exit code %d", code)
	}
}
