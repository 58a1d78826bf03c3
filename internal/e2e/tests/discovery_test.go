// SPDX-License-Identifier: Apache-2.0

package tests // import "github.com/otelcol-edge/otelcol-edge/internal/e2e/tests"

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otelcol-edge/otelcol-edge/internal/e2e"
)

// writeEndpoints replaces the discovery file atomically (write, rename).
func writeEndpoints(t *testing.T, path string, weights map[*e2e.Sink]int) {
	t.Helper()
	var b strings.Builder
	for s, w := range weights {
		fmt.Fprintf(&b, "- address: %s\n  weight: %d\n", s.GRPCEndpoint(), w)
	}
	if len(weights) == 0 {
		b.WriteString("[]\n")
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// endpointState returns the edge exporter's state of the endpoint with
// that discovery ID (source/address), from the series of
// otelcol_exporter_edge_endpoint_state whose value is 1: "" if the exporter
// has no such endpoint, "?" if the scrape failed.
func endpointState(metricsURL, id string) string {
	m, err := e2e.TryScrapeMetrics(metricsURL)
	if err != nil {
		return "?"
	}
	for _, st := range []string{"healthy", "failing", "probing", "draining"} {
		if metricValue(m, "exporter_edge_endpoint_state", map[string]string{"endpoint": id, "state": st}) == 1 {
			return st
		}
	}
	return ""
}

// TestDiscoveryFleet runs the binary with three sinks behind the discovery
// extension (file source, TCP health checks): weights are respected, a killed
// sink's traffic moves to the others, a sink added to the file starts
// receiving, a removed one stops, and every span arrives.
func TestDiscoveryFleet(t *testing.T) {
	sinkA := e2e.NewSink(t, e2e.SinkOptions{})
	sinkB := e2e.NewSink(t, e2e.SinkOptions{})
	sinkC := e2e.NewSink(t, e2e.SinkOptions{})
	sinkD := e2e.NewSink(t, e2e.SinkOptions{})
	sinks := []*e2e.Sink{sinkA, sinkB, sinkC, sinkD}
	dir := t.TempDir()
	file := filepath.Join(dir, "endpoints.yaml")
	writeEndpoints(t, file, map[*e2e.Sink]int{sinkA: 3, sinkB: 1, sinkC: 1})

	ports := e2e.FreePorts(t, 3)
	env := map[string]string{
		"OTLP_GRPC_PORT": strconv.Itoa(ports[0]),
		"HEALTH_PORT":    strconv.Itoa(ports[1]),
		"METRICS_PORT":   strconv.Itoa(ports[2]),
		"BUFFER_DIR":     filepath.Join(dir, "buffer"),
		"ENDPOINTS_FILE": file,
	}
	col := e2e.StartCollector(t, e2e.CollectorOptions{
		Binary:     e2e.Binary(t),
		ConfigPath: filepath.Join(e2e.RepoRoot(t), "testdata", "discovery.yaml"),
		Env:        env,
		HealthURL:  "http://127.0.0.1:" + strconv.Itoa(ports[1]) + "/",
		MetricsURL: "http://127.0.0.1:" + strconv.Itoa(ports[2]) + "/metrics",
	})
	client := e2e.NewGRPCClient(t, "127.0.0.1:"+strconv.Itoa(ports[0]))
	ctx := context.Background()
	var next uint64
	send := func(requests int) {
		t.Helper()
		for i := 0; i < requests; i++ {
			if err := client.SendTraces(ctx, e2e.GenTraces(1, 10, next)); err != nil {
				t.Fatalf("send: %v", err)
			}
			next += 10
		}
	}
	received := func() map[[8]byte]int {
		all := map[[8]byte]int{}
		for _, s := range sinks {
			for id, n := range s.SpanIDs() {
				all[id] += n
			}
		}
		return all
	}
	waitAll := func(what string, timeout time.Duration) {
		t.Helper()
		e2e.Eventually(t, timeout, 20*time.Millisecond, func() bool { return len(received()) >= int(next) },
			"%s: %d of %d spans arrived", what, len(received()), next)
	}

	// Weights 3:1:1 over 3000 requests of 10 spans (one request per batch).
	send(3000)
	waitAll("weighted phase", 60*time.Second)
	ra, rb, rc := sinkA.Requests(), sinkB.Requests(), sinkC.Requests()
	total := float64(ra + rb + rc)
	t.Logf("weights 3:1:1 -> requests %d:%d:%d (shares %.3f %.3f %.3f)", ra, rb, rc, float64(ra)/total, float64(rb)/total, float64(rc)/total)
	for _, c := range []struct {
		name  string
		got   int64
		share float64
	}{{"A", ra, 0.6}, {"B", rb, 0.2}, {"C", rc, 0.2}} {
		if got := float64(c.got) / total; got < c.share*0.9 || got > c.share*1.1 {
			t.Errorf("sink %s got %.3f of the requests, want %.2f ±10%%", c.name, got, c.share)
		}
	}

	// Kill B: the next spans must reach the live sinks; the time until all of
	// them arrived is the failover time.
	sinkB.Stop()
	killed := time.Now()
	before := next
	send(50)
	waitAll("after killing B", 30*time.Second)
	failover := time.Since(killed)
	bAfter := 0
	for id := range sinkB.SpanIDs() {
		if seq, ok := e2e.SpanIDSeq(id); ok && seq >= before {
			bAfter++
		}
	}
	if bAfter != 0 {
		t.Errorf("killed sink B received %d spans sent after it died", bAfter)
	}
	t.Logf("failover: %d spans sent right after B was killed all arrived within %s", next-before, failover.Round(time.Millisecond))

	// Add D through the watched file (atomic rename): it starts receiving.
	writeEndpoints(t, file, map[*e2e.Sink]int{sinkA: 1, sinkC: 1, sinkD: 1})
	e2e.Eventually(t, 20*time.Second, 50*time.Millisecond, func() bool {
		send(5)
		return sinkD.Requests() > 0
	}, "added sink D never received data")

	// Remove A from the file: after the drain period it gets nothing new.
	// Wait until the exporter has let it go (a fixed 1.5 s was a guess of
	// poll interval + drain period that a loaded machine can overrun).
	idA := "fleet/" + sinkA.GRPCEndpoint()
	if st := endpointState(col.Options().MetricsURL, idA); st == "" {
		t.Fatalf("the exporter has no endpoint %s before its removal: wrong ID or metric", idA)
	}
	writeEndpoints(t, file, map[*e2e.Sink]int{sinkC: 1, sinkD: 1})
	e2e.Eventually(t, 20*time.Second, 50*time.Millisecond, func() bool {
		return endpointState(col.Options().MetricsURL, idA) == ""
	}, "removed sink A still an endpoint of the exporter (%s)", endpointState(col.Options().MetricsURL, idA))
	aBefore := sinkA.Requests()
	send(200)
	waitAll("after removing A", 30*time.Second)
	if got := sinkA.Requests() - aBefore; got != 0 {
		t.Errorf("removed sink A received %d requests after its drain period", got)
	}

	// Nothing lost anywhere; duplicates only from retried requests.
	all := received()
	dups := 0
	for _, n := range all {
		dups += n - 1
	}
	if len(all) != int(next) {
		t.Errorf("received %d unique spans, sent %d", len(all), next)
	}
	t.Logf("sent %d spans, received %d unique (%d duplicates), lost 0", next, len(all), dups)
	m := col.Metrics()
	if v := e2e.SumMetric(m, "otelcol_exporter_edge_items_dropped_total", nil); v != 0 {
		t.Errorf("edge exporter dropped %v items", v)
	}
}
