// SPDX-License-Identifier: Apache-2.0

package tests // import "github.com/otelcol-edge/otelcol-edge/internal/e2e/tests"

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-edge/otelcol-edge/internal/e2e"
)

// metricNames returns the names of every metric in the payloads.
func metricNames(mds []pmetric.Metrics) map[string]bool {
	names := map[string]bool{}
	for _, md := range mds {
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			sms := md.ResourceMetrics().At(i).ScopeMetrics()
			for j := 0; j < sms.Len(); j++ {
				for k := 0; k < sms.At(j).Metrics().Len(); k++ {
					names[sms.At(j).Metrics().At(k).Name()] = true
				}
			}
		}
	}
	return names
}

// logBodies returns the bodies of every log record in the payloads.
func logBodies(lds []plog.Logs) []string {
	var bodies []string
	for _, ld := range lds {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			sls := ld.ResourceLogs().At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				for k := 0; k < sls.At(j).LogRecords().Len(); k++ {
					bodies = append(bodies, sls.At(j).LogRecords().At(k).Body().AsString())
				}
			}
		}
	}
	return bodies
}

// TestOwnTelemetryToBackend: the packaged config's own-telemetry block (the
// "#~ " lines of service::telemetry, off by default) validates and, enabled
// with OTELCOL_EDGE_TELEMETRY_ENDPOINT, sends the collector's own metrics
// (the edge exporter's among them) and logs to an OTLP backend, which nobody
// at a remote site has to scrape for.
func TestOwnTelemetryToBackend(t *testing.T) {
	root := e2e.RepoRoot(t)
	packaged, err := os.ReadFile(filepath.Join(root, "distribution", "packaging", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(packaged), "#~ - periodic:") {
		t.Fatal("the packaged config has no own-telemetry block (#~ - periodic:)")
	}
	enabled := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(enabled, []byte(strings.ReplaceAll(string(packaged), "#~ ", "")), 0o600); err != nil {
		t.Fatal(err)
	}

	central := e2e.NewSink(t, e2e.SinkOptions{KeepData: true})
	ports := e2e.FreePorts(t, 5)
	e2e.StartCollector(t, e2e.CollectorOptions{
		ConfigPath: enabled,
		Env: map[string]string{
			"OTELCOL_EDGE_ENDPOINT":           central.GRPCEndpoint(),
			"OTELCOL_EDGE_INSECURE":           "true",
			"OTELCOL_EDGE_TELEMETRY_ENDPOINT": "http://" + central.GRPCEndpoint(),
			"OTELCOL_EDGE_TELEMETRY_INTERVAL": "500",
			"OTELCOL_EDGE_DATA_DIR":           filepath.Join(t.TempDir(), "buffer"),
			"OTELCOL_EDGE_OTLP_GRPC_ENDPOINT": "127.0.0.1:" + strconv.Itoa(ports[0]),
			"OTELCOL_EDGE_OTLP_HTTP_ENDPOINT": "127.0.0.1:" + strconv.Itoa(ports[1]),
			"OTELCOL_EDGE_HEALTH_ENDPOINT":    "127.0.0.1:" + strconv.Itoa(ports[2]),
			"OTELCOL_EDGE_ZPAGES_ENDPOINT":    "127.0.0.1:" + strconv.Itoa(ports[3]),
			"OTELCOL_EDGE_METRICS_PORT":       strconv.Itoa(ports[4]),
		},
		HealthURL:  fmt.Sprintf("http://127.0.0.1:%d/", ports[2]),
		MetricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[4]),
	})

	const want = "otelcol_exporter_edge_buffer_items"
	e2e.Eventually(t, 20*time.Second, 200*time.Millisecond, func() bool {
		return metricNames(central.ReceivedMetrics())[want]
	}, "the backend received the collector's own metric %s over OTLP", want)
	e2e.Eventually(t, 20*time.Second, 200*time.Millisecond, func() bool {
		for _, b := range logBodies(central.ReceivedLogs()) {
			if strings.Contains(b, "Everything is ready") {
				return true
			}
		}
		return false
	}, "the backend received the collector's own start-up log over OTLP")
	// The local Prometheus endpoint still serves them.
	if _, err := e2e.TryScrapeMetrics(fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[4])); err != nil {
		t.Errorf("local metrics endpoint: %v", err)
	}
}
