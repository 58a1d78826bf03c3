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

// metadataKeysConfig is a collector whose OTLP receiver keeps the client
// metadata (include_metadata) and whose edge exporter stores x-tenant with
// each record (metadata_keys) and sends to endpoint.
func metadataKeysConfig(t *testing.T, ports []int, endpoint, bufferDir string) string {
	t.Helper()
	return e2e.WriteConfig(t, fmt.Sprintf(`
extensions:
  health_check:
    endpoint: 127.0.0.1:%[2]d
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%[1]d
        include_metadata: true
exporters:
  edge:
    endpoints: [%[4]s]
    metadata_keys: [X-Tenant]
    grpc:
      tls:
        insecure: true
    buffer:
      directory: %[5]s
    sending:
      flush_interval: 20ms
    retry:
      initial_interval: 50ms
      max_interval: 300ms
service:
  extensions: [health_check]
  pipelines:
    traces:
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
`, ports[0], ports[1], ports[2], endpoint, bufferDir))
}

// TestMetadataKeysThroughGateway: agent -> gateway -> backend, both
// collectors with include_metadata and metadata_keys [X-Tenant]. Three
// tenants take turns sending runs of requests to the agent; the backend is down, so the
// gateway holds them all in its buffer when it is killed -9; restarted, it
// replays the backlog once the backend is up. Every request the backend
// receives carries exactly one x-tenant header, and every span in it belongs
// to that tenant: the tenant survived two buffers and a crash, and records of
// different tenants were never merged into one request.
func TestMetadataKeysThroughGateway(t *testing.T) {
	type request struct {
		tenants []string
		spans   [][8]byte
	}
	var (
		mu       sync.Mutex
		received []request
	)
	sink := newStoppedSink(t, e2e.SinkOptions{})
	sink.SetFailureFunc(func(ri e2e.RequestInfo) e2e.FailureMode {
		mu.Lock()
		defer mu.Unlock()
		received = append(received, request{tenants: ri.Headers["x-tenant"], spans: e2e.SpanIDsOf(ri.Traces)})
		return e2e.FailNone
	})

	gw := e2e.FreePorts(t, 3)
	gateway := &edgeCollector{Collector: e2e.StartCollector(t, e2e.CollectorOptions{
		ConfigPath: metadataKeysConfig(t, gw, sink.GRPCEndpoint(), filepath.Join(t.TempDir(), "gateway")),
		HealthURL:  fmt.Sprintf("http://127.0.0.1:%d/", gw[1]),
		MetricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", gw[2]),
	})}
	ag := e2e.FreePorts(t, 3)
	agent := &edgeCollector{Collector: e2e.StartCollector(t, e2e.CollectorOptions{
		ConfigPath: metadataKeysConfig(t, ag, fmt.Sprintf("127.0.0.1:%d", gw[0]), filepath.Join(t.TempDir(), "agent")),
		HealthURL:  fmt.Sprintf("http://127.0.0.1:%d/", ag[1]),
		MetricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", ag[2]),
	})}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	tenants := []string{"tenant-a", "tenant-b", "tenant-c"}
	clients := make([]*e2e.Client, len(tenants))
	for i, tenant := range tenants {
		clients[i] = e2e.NewGRPCClientWithOptions(t, fmt.Sprintf("127.0.0.1:%d", ag[0]), e2e.GRPCClientOptions{
			Headers: map[string]string{"X-Tenant": tenant},
		})
	}
	const requests, spansPerRequest = 30, 10
	owner := map[[8]byte]string{}
	for i := range requests {
		// Runs of three requests per tenant, the tenants in turn: the
		// buffers hold consecutive records of one tenant (which may be
		// joined) next to records of another (which must not be).
		tenant := (i / 3) % len(tenants)
		td := e2e.GenTraces(1, spansPerRequest, uint64(i*spansPerRequest))
		for _, id := range e2e.SpanIDsOf(td) {
			owner[id] = tenants[tenant]
		}
		if err := clients[tenant].SendTraces(ctx, td); err != nil {
			t.Fatalf("request %d refused by the agent: %v", i, err)
		}
	}
	const total = requests * spansPerRequest
	e2e.Eventually(t, 30*time.Second, 50*time.Millisecond, func() bool {
		return gateway.edgeMetric("exporter_edge_buffer_items", nil) == total && agent.edgeMetric("exporter_edge_buffer_items", nil) == 0
	}, "the gateway holds the whole backlog (gateway %v, agent %v items)",
		gateway.edgeMetric("exporter_edge_buffer_items", nil), agent.edgeMetric("exporter_edge_buffer_items", nil))

	// kill -9 with the backlog, restart, backend up.
	gateway.Kill()
	gateway.Restart()
	sink.Start()
	e2e.Eventually(t, 60*time.Second, 50*time.Millisecond, func() bool {
		return sink.UniqueSpanCount() == total
	}, "every span reaches the backend (%d of %d)", sink.UniqueSpanCount(), total)

	mu.Lock()
	defer mu.Unlock()
	merged := 0
	for n, r := range received {
		if len(r.tenants) != 1 {
			t.Errorf("request %d to the backend has x-tenant %q, want exactly one value", n, r.tenants)
			continue
		}
		for _, id := range r.spans {
			if owner[id] != r.tenants[0] {
				t.Errorf("request %d with x-tenant %q holds span %x of %q", n, r.tenants[0], id, owner[id])
			}
		}
		if len(r.spans) > spansPerRequest {
			merged++
		}
	}
	if merged == 0 {
		t.Errorf("no request to the backend joined several records of one tenant (%d requests): the replay did not batch, the test proves nothing", len(received))
	}
}
