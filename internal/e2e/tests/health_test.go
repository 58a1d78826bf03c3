// SPDX-License-Identifier: Apache-2.0

package tests // import "github.com/otelcol-edge/otelcol-edge/internal/e2e/tests"

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otelcol-edge/otelcol-edge/internal/e2e"
)

// healthStatus is the part of healthcheckv2's verbose answer the test reads:
// the collector's status and, per pipeline, each component's.
type healthStatus struct {
	Healthy    bool                    `json:"healthy"`
	Status     string                  `json:"status"`
	Error      string                  `json:"error"`
	Components map[string]healthStatus `json:"components"`
}

// getHealth GETs url and returns the HTTP status code and the decoded body.
func getHealth(url string) (int, healthStatus, error) {
	var hs healthStatus
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, hs, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, hs, err
	}
	if err := json.Unmarshal(body, &hs); err != nil {
		return resp.StatusCode, hs, fmt.Errorf("decode %q: %w", body, err)
	}
	return resp.StatusCode, hs, nil
}

// TestHealthSeesBufferingExporter runs the packaged config
// (distribution/packaging/config.yaml, also the image's) and checks the health
// answer the README promises: with the backend down, the edge exporter's
// recoverable error ("offline, buffering to disk") is in /?verbose for every
// pipeline while GET / still answers 200 and healthy (degraded, not dead: a
// probe must not restart a collector whose buffer absorbs the outage); with
// the backend back, everything is delivered and the status returns to OK.
func TestHealthSeesBufferingExporter(t *testing.T) {
	sink := newStoppedSink(t, e2e.SinkOptions{})
	ports := e2e.FreePorts(t, 5)
	grpcPort, httpPort, healthPort, zpagesPort, metricsPort := ports[0], ports[1], ports[2], ports[3], ports[4]
	healthURL := fmt.Sprintf("http://127.0.0.1:%d/", healthPort)
	e2e.StartCollector(t, e2e.CollectorOptions{
		ConfigPath: filepath.Join(e2e.RepoRoot(t), "distribution", "packaging", "config.yaml"),
		Env: map[string]string{
			"OTELCOL_EDGE_ENDPOINT":           sink.GRPCEndpoint(),
			"OTELCOL_EDGE_INSECURE":           "true",
			"OTELCOL_EDGE_DATA_DIR":           filepath.Join(t.TempDir(), "buffer"),
			"OTELCOL_EDGE_OTLP_GRPC_ENDPOINT": "127.0.0.1:" + strconv.Itoa(grpcPort),
			"OTELCOL_EDGE_OTLP_HTTP_ENDPOINT": "127.0.0.1:" + strconv.Itoa(httpPort),
			"OTELCOL_EDGE_HEALTH_ENDPOINT":    "127.0.0.1:" + strconv.Itoa(healthPort),
			"OTELCOL_EDGE_ZPAGES_ENDPOINT":    "127.0.0.1:" + strconv.Itoa(zpagesPort),
			"OTELCOL_EDGE_METRICS_PORT":       strconv.Itoa(metricsPort),
		},
		HealthURL:  healthURL,
		MetricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort),
	})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := e2e.NewGRPCClient(t, "127.0.0.1:"+strconv.Itoa(grpcPort))
	if err := client.SendTraces(ctx, e2e.GenTraces(2, 50, 0)); err != nil {
		t.Fatalf("send traces: %v", err)
	}

	// edgeStatus returns the HTTP code of GET /?verbose, the collector's
	// status and the edge exporter's status and error in the traces pipeline.
	edgeStatus := func() (int, healthStatus, healthStatus, error) {
		code, hs, err := getHealth(healthURL + "?verbose")
		return code, hs, hs.Components["pipeline:traces"].Components["exporter:edge"], err
	}

	// Backend down: the exporter's recoverable error shows, the answer stays 200.
	var last lastSeen
	e2e.Eventually(t, 30*time.Second, 200*time.Millisecond, func() bool {
		code, all, edge, err := edgeStatus()
		last.s = fmt.Sprintf("code %d, collector %+v, exporter:edge %+v, err %v", code, all.Status, edge, err)
		return err == nil && edge.Status == "StatusRecoverableError"
	}, "the edge exporter's recoverable error in /?verbose with the backend down (last: %s)", &last)
	code, all, edge, err := edgeStatus()
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusOK || !all.Healthy || !edge.Healthy {
		t.Errorf("backend down: GET /?verbose = %d, healthy %v (exporter %v), want 200 and healthy: a buffering exporter is degraded, not dead", code, all.Healthy, edge.Healthy)
	}
	if !strings.Contains(edge.Error, "offline, buffering to disk") {
		t.Errorf("exporter:edge error %q, want the offline error", edge.Error)
	}
	if all.Status != "StatusRecoverableError" {
		t.Errorf("collector status %q, want StatusRecoverableError (the worst of its components)", all.Status)
	}
	for _, p := range []string{"pipeline:metrics", "pipeline:logs"} {
		if s := all.Components[p].Components["exporter:edge"].Status; s != "StatusRecoverableError" {
			t.Errorf("%s exporter:edge status %q, want StatusRecoverableError (one exporter instance for all signals)", p, s)
		}
	}
	// The plain probe (Docker HEALTHCHECK, kubelet, systemd scripts) says 200 too.
	if code, hs, err := getHealth(healthURL); err != nil || code != http.StatusOK || hs.Status != "StatusRecoverableError" {
		t.Errorf("GET / = %d %+v %v, want 200 with status StatusRecoverableError", code, hs, err)
	}

	// Backend back: delivered, then OK.
	sink.Start()
	sink.WaitForSpans(t, 100, 60*time.Second)
	e2e.Eventually(t, 30*time.Second, 200*time.Millisecond, func() bool {
		code, all, edge, err := edgeStatus()
		last.s = fmt.Sprintf("code %d, collector %+v, exporter:edge %+v, err %v", code, all.Status, edge, err)
		return err == nil && code == http.StatusOK && edge.Status == "StatusOK" && all.Status == "StatusOK"
	}, "status OK with the backend back (last: %s)", &last)
}

// lastSeen is the last state a polling loop saw, for its failure message
// (formatted when the message is, not when the loop starts).
type lastSeen struct{ s string }

func (l *lastSeen) String() string { return l.s }
