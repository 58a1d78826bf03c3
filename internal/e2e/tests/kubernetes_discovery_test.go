// SPDX-License-Identifier: Apache-2.0

package tests // import "github.com/otelcol-edge/otelcol-edge/internal/e2e/tests"

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/otelcol-edge/otelcol-edge/internal/e2e"
)

// fakeAPI serves the list and watch of discovery.k8s.io/v1 EndpointSlices
// of one namespace over HTTP, as the Kubernetes API server does (a JSON list,
// then a stream of newline-delimited watch events).
type fakeAPI struct {
	mu      sync.Mutex
	rv      int
	slices  map[string]map[string]any
	watches []chan []byte
	lists   int
}

// set creates or replaces the slice name holding one sink's endpoint (an
// EndpointSlice has one port per name: one slice per sink port).
func (f *fakeAPI) set(name string, s *e2e.Sink, zone string, ready, terminating bool, event string) {
	host, port, _ := net.SplitHostPort(s.GRPCEndpoint())
	portNum, _ := strconv.Atoi(port)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rv++
	if f.slices == nil {
		f.slices = map[string]map[string]any{}
	}
	f.slices[name] = map[string]any{
		"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
		"metadata": map[string]any{
			"name": name, "namespace": "observability", "resourceVersion": strconv.Itoa(f.rv),
			"labels": map[string]string{"kubernetes.io/service-name": "otelcol-edge-gateway"},
		},
		"addressType": "IPv4",
		"ports":       []any{map[string]any{"name": "otlp", "port": portNum, "protocol": "TCP"}},
		"endpoints": []any{map[string]any{
			"addresses":  []string{host},
			"conditions": map[string]bool{"ready": ready, "serving": true, "terminating": terminating},
			"zone":       zone,
			"nodeName":   "node-" + zone,
		}},
	}
	if event == "" {
		return
	}
	b, _ := json.Marshal(map[string]any{"type": event, "object": f.slices[name]})
	for _, w := range f.watches {
		w <- append(b, '\n')
	}
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/apis/discovery.k8s.io/v1/namespaces/observability/endpointslices" ||
		r.URL.Query().Get("labelSelector") != "kubernetes.io/service-name=otelcol-edge-gateway" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Query().Get("watch") != "true" {
		f.mu.Lock()
		f.lists++
		items := []any{}
		for _, s := range f.slices {
			items = append(items, s)
		}
		b, _ := json.Marshal(map[string]any{
			"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSliceList",
			"metadata": map[string]any{"resourceVersion": strconv.Itoa(f.rv)},
			"items":    items,
		})
		f.mu.Unlock()
		_, _ = w.Write(b)
		return
	}
	ch := make(chan []byte, 16)
	f.mu.Lock()
	f.watches = append(f.watches, ch)
	f.mu.Unlock()
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case b := <-ch:
			_, _ = w.Write(b)
			w.(http.Flusher).Flush()
		}
	}
}

// TestKubernetesDiscoveryZones runs the binary with a kubeconfig pointing at
// a fake API server served by the test: the kubernetes source lists the
// gateway Service's EndpointSlices (two sinks in two zones), the edge
// exporter sends everything to the sink of its own zone; when that sink's pod
// terminates (serving and terminating: draining) the watch event moves the
// traffic to the other zone, and every span arrives.
func TestKubernetesDiscoveryZones(t *testing.T) {
	local := e2e.NewSink(t, e2e.SinkOptions{})
	remote := e2e.NewSink(t, e2e.SinkOptions{})
	api := &fakeAPI{}
	api.set("gateway-a", local, "zone-a", true, false, "")
	api.set("gateway-b", remote, "zone-b", true, false, "")
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: %q}}]
users: [{name: test, user: {token: test-token}}]
contexts: [{name: fake, context: {cluster: fake, user: test}}]
current-context: fake
`, srv.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	ports := e2e.FreePorts(t, 3)
	col := e2e.StartCollector(t, e2e.CollectorOptions{
		Binary:     e2e.Binary(t),
		ConfigPath: filepath.Join(e2e.RepoRoot(t), "testdata", "discovery-kubernetes.yaml"),
		Env: map[string]string{
			"OTLP_GRPC_PORT":    strconv.Itoa(ports[0]),
			"HEALTH_PORT":       strconv.Itoa(ports[1]),
			"METRICS_PORT":      strconv.Itoa(ports[2]),
			"BUFFER_DIR":        filepath.Join(dir, "buffer"),
			"KUBECONFIG_PATH":   kubeconfig,
			"OTELCOL_EDGE_ZONE": "zone-a",
			// The fake server answers plain list and watch, not the
			// streaming watch-list.
			"KUBE_FEATURE_WatchListClient": "false",
		},
		HealthURL:  "http://127.0.0.1:" + strconv.Itoa(ports[1]) + "/",
		MetricsURL: "http://127.0.0.1:" + strconv.Itoa(ports[2]) + "/metrics",
	})
	client := e2e.NewGRPCClient(t, "127.0.0.1:"+strconv.Itoa(ports[0]))
	ctx := context.Background()
	var next uint64
	send := func(n int) {
		t.Helper()
		for range n {
			if err := client.SendTraces(ctx, e2e.GenTraces(1, 10, next)); err != nil {
				t.Fatalf("send: %v", err)
			}
			next += 10
		}
	}
	received := func() int { return len(local.SpanIDs()) + len(remote.SpanIDs()) }

	send(200)
	e2e.Eventually(t, 30*time.Second, 20*time.Millisecond, func() bool { return received() >= int(next) },
		"zone phase: %d of %d spans", received(), next)
	if l, r := local.Requests(), remote.Requests(); l == 0 || r != 0 {
		t.Fatalf("own zone: local sink got %d requests, remote %d; want all local", l, r)
	}

	// The local pod terminates: draining, traffic spills to zone-b. Wait
	// until the watch event has reached the registry and the exporter (a
	// fixed 500 ms could be overrun on a loaded machine).
	localID := "k8s/" + local.GRPCEndpoint()
	if st := endpointState(col.Options().MetricsURL, localID); st == "" {
		t.Fatalf("the exporter has no endpoint %s: wrong ID or metric", localID)
	}
	api.set("gateway-a", local, "zone-a", false, true, "MODIFIED")
	e2e.Eventually(t, 20*time.Second, 20*time.Millisecond, func() bool {
		st := endpointState(col.Options().MetricsURL, localID)
		return st == "draining" || st == ""
	}, "the terminating sink is not draining in the exporter (%s)", endpointState(col.Options().MetricsURL, localID))
	before := local.Requests()
	send(200)
	e2e.Eventually(t, 30*time.Second, 20*time.Millisecond, func() bool { return received() >= int(next) },
		"after terminating: %d of %d spans", received(), next)
	if got := local.Requests() - before; got != 0 {
		t.Errorf("the terminating (draining) sink got %d new requests", got)
	}
	if remote.Requests() == 0 {
		t.Errorf("no request reached the other zone after the local pod terminated")
	}
	t.Logf("requests local %d, remote %d; API lists %d", local.Requests(), remote.Requests(), api.lists)
}
