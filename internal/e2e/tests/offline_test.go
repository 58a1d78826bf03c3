// SPDX-License-Identifier: Apache-2.0

package tests // import "github.com/otelcol-edge/otelcol-edge/internal/e2e/tests"

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-edge/otelcol-edge/internal/e2e"
)

// offlineOverlay is merged over testdata/edge.yaml: a short summary
// interval, the status endpoint and JSON logs (to assert each line).
const offlineOverlay = `
exporters:
  edge:
    status:
      summary_interval: ${env:EDGE_SUMMARY_INTERVAL}
      endpoint: 127.0.0.1:${env:EDGE_STATUS_PORT}
service:
  telemetry:
    logs:
      encoding: json
`

// logLine is one JSON log line of the collector.
type logLine map[string]any

func (l logLine) str(k string) string { s, _ := l[k].(string); return s }

// TestOfflineLogVolume runs the binary with its backend down for 20 s with a
// summary interval of 2 s (ten intervals: a 10-minute outage at a 1-minute
// interval, time scaled by 30; retries every 100 ms to 1 s make dozens of
// failed attempts), sending a batch every second for 15 s, then brings the
// backend up. Between the "Endpoint down" line and the
// "Endpoint up" line the log holds only: at most one "Offline summary" per
// interval (each with every field), the exporter's state changes, and the
// debug exporter's line per batch received. No gRPC core line names the
// backend (there were dozens of reconnection attempts), and no edge line
// claims otelcol.signal. The status endpoint shows the same summary as JSON.
func TestOfflineLogVolume(t *testing.T) {
	const (
		outage   = 20 * time.Second
		interval = 2 * time.Second
		batches  = 15
	)
	sink := newStoppedSink(t, e2e.SinkOptions{})
	overlay := filepath.Join(t.TempDir(), "offline.yaml")
	require.NoError(t, os.WriteFile(overlay, []byte(offlineOverlay), 0o600))
	statusPort := e2e.FreePorts(t, 1)[0]
	bufferDir := filepath.Join(t.TempDir(), "buffer")
	env, ports := edgeEnv(t, sink, bufferDir, map[string]string{
		"EDGE_SUMMARY_INTERVAL": interval.String(),
		"EDGE_STATUS_PORT":      strconv.Itoa(statusPort),
	})
	c := e2e.StartCollector(t, e2e.CollectorOptions{
		ConfigPaths: []string{filepath.Join(e2e.RepoRoot(t), "testdata", "edge.yaml"), overlay},
		Env:         env,
		HealthURL:   fmt.Sprintf("http://127.0.0.1:%d/", ports[2]),
		MetricsURL:  fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[3]),
	})
	client := e2e.NewGRPCClient(t, "127.0.0.1:"+strconv.Itoa(ports[0]))

	start := time.Now()
	sent := 0
	for i := range batches {
		require.NoError(t, client.SendTraces(context.Background(), e2e.GenTraces(1, 10, uint64(i*10))))
		sent += 10
		time.Sleep(time.Second)
	}
	// The status page while offline.
	var page map[string]any
	e2e.Eventually(t, 5*time.Second, 100*time.Millisecond, func() bool {
		page = getStatus(t, statusPort)
		return page != nil && page["state"] == "offline" && page["backlog_items"] == float64(sent)
	}, "status page shows the offline backlog")
	t.Logf("status page while offline: %v", page)
	assert.Equal(t, "edge", page["exporter"])
	assert.NotEmpty(t, page["offline_since"])
	assert.Contains(t, page, "oldest_age")
	assert.Contains(t, page, "dropped_since_last_summary")
	eps := page["endpoints"].([]any)
	require.Len(t, eps, 1)
	ep := eps[0].(map[string]any)
	assert.Equal(t, sink.GRPCEndpoint(), ep["id"])
	assert.Contains(t, []any{"failing", "probing"}, ep["state"])
	assert.Contains(t, ep["last_error"], "connection refused")

	time.Sleep(time.Until(start.Add(outage)))
	sink.Start()
	sink.WaitForSpans(t, sent, 20*time.Second)
	e2e.Eventually(t, 10*time.Second, 100*time.Millisecond, func() bool {
		p := getStatus(t, statusPort)
		return p != nil && p["state"] == "online"
	}, "online again")
	c.Stop()

	var lines []logLine
	for _, raw := range strings.Split(c.Output(), "\n") {
		if !strings.HasPrefix(raw, "{") {
			continue
		}
		var l logLine
		require.NoError(t, json.Unmarshal([]byte(raw), &l), raw)
		lines = append(lines, l)
	}
	downAt, upAt := -1, -1
	for i, l := range lines {
		if l.str("otelcol.component.id") == "edge" {
			assert.NotContains(t, l, "otelcol.signal", "the shared exporter's line claims a signal: %v", l)
		}
		if l["grpc_log"] == true {
			assert.NotContains(t, l.str("msg"), sink.GRPCEndpoint(), "gRPC core line about our backend: %v", l)
		}
		switch l.str("msg") {
		case "Endpoint down":
			require.Equal(t, -1, downAt, "a second Endpoint down line: %v", l)
			downAt = i
			assert.Equal(t, sink.GRPCEndpoint(), l.str("endpoint"))
			assert.Contains(t, l.str("reason"), "connection refused")
		case "Endpoint up":
			require.Equal(t, -1, upAt, "a second Endpoint up line: %v", l)
			upAt = i
			d, err := time.ParseDuration(l.str("outage"))
			require.NoError(t, err)
			assert.Greater(t, d, outage-2*time.Second)
			assert.Greater(t, l["failed_attempts"], float64(10), "many attempts failed silently")
		}
	}
	require.NotEqual(t, -1, downAt, "no Endpoint down line")
	require.Greater(t, upAt, downAt, "no Endpoint up line after it")

	counts := map[string]int{}
	for _, l := range lines[downAt+1 : upAt+1] {
		msg := l.str("msg")
		switch {
		case msg == "Offline summary":
			counts[msg]++
			assert.Equal(t, "edge", l.str("otelcol.component.id"))
			for _, k := range []string{"state", "offline_since", "offline_for", "backlog_bytes", "backlog_items", "oldest_age", "dropped_since_last_summary", "endpoints"} {
				assert.Contains(t, l, k, "summary without %s: %v", k, l)
			}
			assert.Equal(t, "offline", l.str("state"))
			assert.Positive(t, l["backlog_items"])
			assert.Contains(t, []any{"failing", "probing"}, l["endpoints"].(map[string]any)[sink.GRPCEndpoint()])
		case msg == "Edge exporter state changed":
			counts[msg]++
		case l.str("otelcol.component.id") == "debug":
			counts["debug exporter"]++
		case msg == "Endpoint up":
		default:
			t.Errorf("unexpected line during the outage: %v", l)
		}
	}
	t.Logf("lines from Endpoint down to Endpoint up: %v (whole run: %d lines)", counts, len(lines))
	maxSummaries := int(outage/interval) + 1
	assert.LessOrEqual(t, counts["Offline summary"], maxSummaries)
	assert.GreaterOrEqual(t, counts["Offline summary"], maxSummaries-3)
	assert.LessOrEqual(t, counts["Edge exporter state changed"], 2, "offline, then replaying")
	assert.LessOrEqual(t, counts["debug exporter"], batches)
	// Stated bound: summaries + 2 state changes + the debug exporter's
	// lines + the up line, whatever the number of failed attempts.
	assert.LessOrEqual(t, upAt-downAt, maxSummaries+2+batches+1)
}

// getStatus reads the edge exporter's status endpoint (nil if it does not answer).
func getStatus(t *testing.T, port int) map[string]any {
	t.Helper()
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil
	}
	var out map[string]any
	if json.Unmarshal(body, &out) != nil {
		return nil
	}
	return out
}
