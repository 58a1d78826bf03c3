// SPDX-License-Identifier: Apache-2.0

package tests // import "github.com/otelcol-edge/otelcol-edge/internal/e2e/tests"

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-edge/otelcol-edge/internal/e2e"
)

// longEnv enables the long variants of the reliability tests.
const longEnv = "OTELCOL_EDGE_LONG"

// long reports whether OTELCOL_EDGE_LONG=1.
func long() bool { return os.Getenv(longEnv) == "1" }

// edgeCollector is a collector started with testdata/edge.yaml.
type edgeCollector struct {
	*e2e.Collector
	grpcPort, httpPort, healthPort, metricsPort int
	// bufferDir is buffer.directory; the exporter's own files are in
	// bufferDir/edge (wal/*.seg, wal/cursor, deadletter-<signal>.jsonl).
	bufferDir string
}

// walDir is the directory of the edge exporter's segment files.
func (c *edgeCollector) walDir() string { return filepath.Join(c.bufferDir, "edge", "wal") }

// deadLetterPath is the edge exporter's dead-letter file of traces.
func (c *edgeCollector) deadLetterPath() string {
	return filepath.Join(c.bufferDir, "edge", "deadletter-traces.jsonl")
}

// grpcEndpoint is the collector's OTLP/gRPC receiver.
func (c *edgeCollector) grpcEndpoint() string { return "127.0.0.1:" + strconv.Itoa(c.grpcPort) }

// httpURL is the collector's OTLP/HTTP receiver.
func (c *edgeCollector) httpURL() string { return "http://127.0.0.1:" + strconv.Itoa(c.httpPort) }

// edgeEnv returns the environment for testdata/edge.yaml: free ports, a
// buffer directory under t.TempDir(), the edge exporter pointed at the sink
// (gRPC unless extra sets EDGE_PROTOCOL=http, then the sink's HTTP port),
// and the variables in extra on top.
func edgeEnv(t *testing.T, sink *e2e.Sink, bufferDir string, extra map[string]string) (map[string]string, []int) {
	t.Helper()
	ports := e2e.FreePorts(t, 4)
	env := map[string]string{
		"OTLP_GRPC_PORT": strconv.Itoa(ports[0]),
		"OTLP_HTTP_PORT": strconv.Itoa(ports[1]),
		"HEALTH_PORT":    strconv.Itoa(ports[2]),
		"METRICS_PORT":   strconv.Itoa(ports[3]),
		"BUFFER_DIR":     bufferDir,
		"EDGE_ENDPOINT":  sink.GRPCEndpoint(),
	}
	if extra["EDGE_PROTOCOL"] == "http" {
		env["EDGE_ENDPOINT"] = sink.HTTPEndpoint()
	}
	maps.Copy(env, extra)
	return env, ports
}

// startEdge starts the collector with testdata/edge.yaml, its edge exporter
// sending to sink, and waits until it is healthy. bufferDir "" means a new
// directory under t.TempDir().
func startEdge(t *testing.T, sink *e2e.Sink, bufferDir string, extra map[string]string) *edgeCollector {
	t.Helper()
	if bufferDir == "" {
		bufferDir = filepath.Join(t.TempDir(), "buffer")
	}
	env, ports := edgeEnv(t, sink, bufferDir, extra)
	c := e2e.StartCollector(t, e2e.CollectorOptions{
		ConfigPath: filepath.Join(e2e.RepoRoot(t), "testdata", "edge.yaml"),
		Env:        env,
		HealthURL:  fmt.Sprintf("http://127.0.0.1:%d/", ports[2]),
		MetricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[3]),
	})
	return &edgeCollector{
		Collector: c, grpcPort: ports[0], httpPort: ports[1], healthPort: ports[2], metricsPort: ports[3],
		bufferDir: bufferDir,
	}
}

// newStoppedSink returns a sink that is not listening (the backend is down);
// Start brings it up on the same ports.
func newStoppedSink(t *testing.T, opts e2e.SinkOptions) *e2e.Sink {
	t.Helper()
	s := e2e.NewSink(t, opts)
	s.Stop()
	return s
}

// metricValue returns the sum of the series of an edge exporter metric
// (short name without the otelcol_ prefix, e.g. "exporter_edge_items_sent")
// matching labels, whether the Prometheus exporter added a _total suffix or
// not.
func metricValue(m map[string]float64, name string, labels map[string]string) float64 {
	full := "otelcol_" + name
	return e2e.SumMetric(m, full, labels) + e2e.SumMetric(m, full+"_total", labels)
}

// edgeMetric scrapes the collector and returns metricValue; it returns -1 if
// the scrape fails (for polling loops).
func (c *edgeCollector) edgeMetric(name string, labels map[string]string) float64 {
	m, err := e2e.TryScrapeMetrics(c.Options().MetricsURL)
	if err != nil {
		return -1
	}
	return metricValue(m, name, labels)
}

// sendUntilAccepted sends td until the collector accepts it, retrying on any
// error (the collector down or restarting, the memory limiter refusing) every
// 50ms until deadline. It reports whether the request was acknowledged and
// the number of failed attempts.
func sendUntilAccepted(ctx context.Context, c *e2e.Client, td ptrace.Traces, deadline time.Time) (bool, int, error) {
	failures := 0
	var lastErr error
	for attempt := 0; attempt < 100000; attempt++ {
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := c.SendTraces(rctx, td)
		cancel()
		if err == nil {
			return true, failures, nil
		}
		failures++
		lastErr = err
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	if lastErr == nil {
		lastErr = errors.New("deadline passed before the first attempt")
	}
	return false, failures, lastErr
}

// segDiskBytes returns the total size of the *.seg files in dir (0 if the
// directory does not exist yet).
func segDiskBytes(dir string) int64 {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var total int64
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".seg") {
			continue
		}
		if fi, err := e.Info(); err == nil {
			total += fi.Size()
		}
	}
	return total
}

// segFiles returns the paths of the *.seg files in dir, in log order (their
// names are zero-padded first sequence numbers).
func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatalf("glob segments in %s: %v", dir, err)
	}
	return matches // Glob sorts
}

// traceBytes is the size of td as an uncompressed OTLP protobuf request.
func traceBytes(td ptrace.Traces) int {
	var m ptrace.ProtoMarshaler
	return m.TracesSize(td)
}

// missingSpans returns how many of the span IDs SpanIDFor(from..to-1) the
// sink has not received, and the first one missing (-1 if none).
func missingSpans(got map[[8]byte]int, ids []uint64) (int, int64) {
	missing, first := 0, int64(-1)
	for _, n := range ids {
		if got[e2e.SpanIDFor(n)] == 0 {
			if first < 0 {
				first = int64(n)
			}
			missing++
		}
	}
	return missing, first
}

// seqRange returns from, from+1, ..., to-1.
func seqRange(from, to uint64) []uint64 {
	out := make([]uint64, 0, to-from)
	for n := from; n < to; n++ {
		out = append(out, n)
	}
	return out
}

// waitAllSpans waits up to timeout until the sink holds every span ID in ids,
// failing with the number missing otherwise.
func waitAllSpans(t *testing.T, sink *e2e.Sink, ids []uint64, timeout time.Duration) {
	t.Helper()
	var missing int
	var first int64
	deadline := time.Now().Add(timeout)
	for i := 0; i < int(timeout/(200*time.Millisecond))+2; i++ {
		if sink.UniqueSpanCount() >= len(ids) {
			missing, first = missingSpans(sink.SpanIDs(), ids)
			if missing == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	missing, first = missingSpans(sink.SpanIDs(), ids)
	if missing == 0 {
		return
	}
	t.Fatalf("after %v the sink misses %d of %d acknowledged spans (first missing seq %d; sink has %d unique, %d total)",
		timeout, missing, len(ids), first, sink.UniqueSpanCount(), sink.SpanCount())
}
