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

// enrichRegistryConfig: the enrich processor takes team metadata from the
// discovery extension's endpoints (a watched file), matched by service.name.
const enrichRegistryConfig = `
extensions:
  health_check:
    endpoint: 127.0.0.1:${env:HEALTH_PORT}
  discovery/services:
    sources:
      - name: catalog
        file:
          path: ${env:CATALOG_FILE}
          poll_interval: 100ms
    health_check:
      type: none
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:${env:OTLP_GRPC_PORT}
processors:
  enrich:
    detectors:
      env:
        enabled: false
    registry:
      extension: discovery/services
      prefix: owner.
exporters:
  otlp_grpc:
    endpoint: ${env:SINK_ENDPOINT}
    tls:
      insecure: true
service:
  extensions: [health_check, discovery/services]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [enrich]
      exporters: [otlp_grpc]
  telemetry:
    metrics:
      level: none
`

// TestEnrichRegistryMetadata runs the binary with the enrich processor
// following the discovery extension: metadata of the endpoint whose
// service.name matches is added, and a change of the file is picked up.
func TestEnrichRegistryMetadata(t *testing.T) {
	sink := e2e.NewSink(t, e2e.SinkOptions{})
	ports := e2e.FreePorts(t, 2)
	catalog := filepath.Join(t.TempDir(), "services.yaml")
	write := func(team string) {
		t.Helper()
		content := "- address: 10.0.0.1:4317\n  metadata: {service.name: edge-svc-0, team: " + team + "}\n"
		if err := os.WriteFile(catalog+".tmp", []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(catalog+".tmp", catalog); err != nil {
			t.Fatal(err)
		}
	}
	write("payments")
	e2e.StartCollector(t, e2e.CollectorOptions{
		ConfigPath: e2e.WriteConfig(t, enrichRegistryConfig),
		Env: map[string]string{
			"OTLP_GRPC_PORT": strconv.Itoa(ports[0]),
			"HEALTH_PORT":    strconv.Itoa(ports[1]),
			"SINK_ENDPOINT":  sink.GRPCEndpoint(),
			"CATALOG_FILE":   catalog,
		},
		HealthURL: "http://127.0.0.1:" + strconv.Itoa(ports[1]) + "/",
	})
	client := e2e.NewGRPCClient(t, "127.0.0.1:"+strconv.Itoa(ports[0]))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	teamOf := func() (any, any) {
		if err := client.SendTraces(ctx, e2e.GenTraces(2, 1, 0)); err != nil {
			t.Logf("send: %v", err)
			return nil, nil
		}
		res := sink.LastResourceAttributes(e2e.SignalTraces)
		if len(res) != 2 {
			return nil, nil
		}
		return res[0]["owner.team"], res[1]["owner.team"]
	}
	e2e.Eventually(t, 20*time.Second, 100*time.Millisecond, func() bool {
		a, b := teamOf()
		return a == "payments" && b == nil
	}, "edge-svc-0 never got owner.team=payments (and edge-svc-1 nothing)")

	write("billing")
	e2e.Eventually(t, 20*time.Second, 100*time.Millisecond, func() bool {
		a, _ := teamOf()
		return a == "billing"
	}, "a change of the registry was not picked up")
}
