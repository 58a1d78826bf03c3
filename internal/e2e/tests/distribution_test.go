// SPDX-License-Identifier: Apache-2.0

package tests // import "github.com/otelcol-edge/otelcol-edge/internal/e2e/tests"

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otelcol-edge/otelcol-edge/internal/e2e"
)

// ocbEnv names the ocb binary used by TestEnrichOnlyCollector; it defaults to
// <repo>/.tools/builder-v0.165.0 (the Makefile's pinned builder).
const ocbEnv = "OTELCOL_EDGE_OCB"

// runToExit runs the binary with args (and env on top of the test's) and
// waits up to timeout for it to exit by itself; it returns the exit code and
// the combined output.
func runToExit(t *testing.T, binary, dir string, env map[string]string, timeout time.Duration, args ...string) (int, string) {
	t.Helper()
	c := e2e.StartCollector(t, e2e.CollectorOptions{
		Binary:      binary,
		Args:        args,
		Env:         env,
		Dir:         dir,
		MinUptime:   -1,
		StopTimeout: 5 * time.Second,
	})
	return c.Wait(timeout)
}

// validConfigs are the configs that must validate, with the environment
// their placeholders need.
func validConfigs(t *testing.T) map[string]map[string]string {
	t.Helper()
	root := e2e.RepoRoot(t)
	buf := t.TempDir()
	return map[string]map[string]string{
		filepath.Join(root, "distribution", "config.yaml"): {"OTELCOL_EDGE_DATA_DIR": buf},
		filepath.Join(root, "testdata", "edge.yaml"): {
			"OTLP_GRPC_PORT": "4317", "OTLP_HTTP_PORT": "4318", "HEALTH_PORT": "13133", "METRICS_PORT": "8888",
			"EDGE_ENDPOINT": "127.0.0.1:4319", "BUFFER_DIR": buf,
		},
		filepath.Join(root, "testdata", "builder", "config.yaml"): {"IN_PORT": "4317", "OUT_PORT": "4319"},
		filepath.Join(root, "testdata", "discovery.yaml"): {
			"OTLP_GRPC_PORT": "4317", "HEALTH_PORT": "13133", "METRICS_PORT": "8888", "BUFFER_DIR": buf,
			"ENDPOINTS_FILE": filepath.Join(buf, "endpoints.yaml"),
		},
		filepath.Join(root, "testdata", "discovery-kubernetes.yaml"): {
			"OTLP_GRPC_PORT": "4317", "HEALTH_PORT": "13133", "METRICS_PORT": "8888", "BUFFER_DIR": buf,
			"KUBECONFIG_PATH": filepath.Join(buf, "kubeconfig"), "OTELCOL_EDGE_ZONE": "zone-a",
		},
		filepath.Join(root, "testdata", "filter_e2e.yaml"): {
			"OTLP_GRPC_PORT": "4317", "HEALTH_PORT": "13133", "METRICS_PORT": "8888", "SINK_ENDPOINT": "127.0.0.1:4319",
		},
	}
}

// TestValidate: `validate` accepts the default config and the valid test
// configs (the enrich-only config is checked by TestEnrichOnlyCollector with
// its own binary, since it names the upstream otlp_grpc exporter only).
func TestValidate(t *testing.T) {
	bin := e2e.Binary(t)
	for path, env := range validConfigs(t) {
		if strings.Contains(path, "builder") {
			continue // validated with the enrich-only binary
		}
		t.Run(filepath.Base(filepath.Dir(path))+"/"+filepath.Base(path), func(t *testing.T) {
			code, out := runToExit(t, bin, "", env, 30*time.Second, "validate", "--config", path)
			if code != 0 {
				t.Fatalf("validate --config %s: exit code %d, want 0; output:\n%s", path, code, out)
			}
		})
	}
	// Every testdata/*.yaml that is not invalid on purpose is covered above.
	matches, err := filepath.Glob(filepath.Join(e2e.RepoRoot(t), "testdata", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	known := validConfigs(t)
	for _, m := range matches {
		if _, ok := known[m]; !ok && !strings.HasPrefix(filepath.Base(m), "invalid-") {
			t.Errorf("testdata config %s is not covered by TestValidate", m)
		}
	}
}

// defaultPorts are the fixed ports distribution/config.yaml binds.
var defaultPorts = []int{4317, 4318, 8888, 13133, 55679}

// TestDefaultConfigStartsWithoutBackend: distribution/config.yaml starts with
// no backend, buffers what it receives, serves health, metrics and zpages on
// its fixed ports, and shuts down cleanly on SIGTERM.
func TestDefaultConfigStartsWithoutBackend(t *testing.T) {
	e2e.LockFixedPorts(t) // another test run on this machine may be here too
	for _, p := range defaultPorts {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Skipf("SKIPPED: distribution/config.yaml binds fixed port 127.0.0.1:%d, which is busy on this machine (%v); free ports %v to run this test", p, err, defaultPorts)
		}
		_ = l.Close()
	}
	// A port nobody listens on: no backend.
	noBackend := fmt.Sprintf("127.0.0.1:%d", e2e.FreePort(t))
	dataDir := t.TempDir()
	c := e2e.StartCollector(t, e2e.CollectorOptions{
		ConfigPath: filepath.Join(e2e.RepoRoot(t), "distribution", "config.yaml"),
		Env:        map[string]string{"OTELCOL_EDGE_DATA_DIR": dataDir, "OTELCOL_EDGE_ENDPOINT": noBackend},
		HealthURL:  "http://127.0.0.1:13133/",
		MetricsURL: "http://127.0.0.1:8888/metrics",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := e2e.NewGRPCClient(t, "127.0.0.1:4317")
	if err := client.SendTraces(ctx, e2e.GenTraces(2, 50, 0)); err != nil {
		t.Fatalf("send traces to the default config: %v", err)
	}
	ec := &edgeCollector{Collector: c}
	e2e.Eventually(t, 15*time.Second, 100*time.Millisecond, func() bool {
		return ec.edgeMetric("exporter_edge_buffer_items", nil) == 100
	}, "otelcol_exporter_edge_buffer_items == 100 on :8888 (got %v)", ec.edgeMetric("exporter_edge_buffer_items", nil))
	resp, err := http.Get("http://127.0.0.1:55679/debug/servicez")
	if err != nil {
		t.Fatalf("zpages on :55679: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("zpages /debug/servicez: status %d", resp.StatusCode)
	}
	if segs := segFiles(t, filepath.Join(dataDir, "edge", "wal")); len(segs) == 0 {
		t.Errorf("no segment files under OTELCOL_EDGE_DATA_DIR %s/edge/wal", dataDir)
	}

	if code := c.Stop(); code != 0 {
		t.Fatalf("SIGTERM: exit code %d, want 0", code)
	}
	if out := c.Output(); !strings.Contains(out, "Shutdown complete") {
		t.Fatalf("log does not say \"Shutdown complete\"; tail:\n%s", tailLines(out, 30))
	}
}

// tailLines returns the last n lines of s.
func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestPipelineGRPCAndHTTP: traces, metrics and logs sent over OTLP/gRPC and
// OTLP/HTTP go through otlp -> memory_limiter -> enrich -> filter -> edge
// (and debug) and reach the backend exactly once.
func TestPipelineGRPCAndHTTP(t *testing.T) {
	sink := e2e.NewSink(t, e2e.SinkOptions{})
	c := startEdge(t, sink, "", nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clients := map[string]*e2e.Client{
		"grpc": e2e.NewGRPCClient(t, c.grpcEndpoint()),
		"http": e2e.NewHTTPClient(t, c.httpURL()),
	}
	const spansPerTransport, pointsPerTransport, logsPerTransport = 120, 30, 40
	start := uint64(0)
	for _, name := range []string{"grpc", "http"} {
		cl := clients[name]
		if err := cl.SendTraces(ctx, e2e.GenTraces(3, spansPerTransport/3, start)); err != nil {
			t.Fatalf("%s: send traces: %v", name, err)
		}
		start += spansPerTransport
		if err := cl.SendMetrics(ctx, e2e.GenMetrics(pointsPerTransport)); err != nil {
			t.Fatalf("%s: send metrics: %v", name, err)
		}
		if err := cl.SendLogs(ctx, e2e.GenLogs(logsPerTransport)); err != nil {
			t.Fatalf("%s: send logs: %v", name, err)
		}
	}
	sink.WaitForSpans(t, 2*spansPerTransport, 30*time.Second)
	sink.WaitForDataPoints(t, 2*pointsPerTransport, 30*time.Second)
	sink.WaitForLogs(t, 2*logsPerTransport, 30*time.Second)
	// Give a duplicate the time to show up, then check exact counts.
	time.Sleep(time.Second)
	if got := sink.SpanCount(); got != 2*spansPerTransport {
		t.Errorf("spans at the sink: %d, want exactly %d", got, 2*spansPerTransport)
	}
	if got := sink.DataPointCount(); got != 2*pointsPerTransport {
		t.Errorf("data points at the sink: %d, want exactly %d", got, 2*pointsPerTransport)
	}
	if got := sink.LogCount(); got != 2*logsPerTransport {
		t.Errorf("log records at the sink: %d, want exactly %d", got, 2*logsPerTransport)
	}
	ids := sink.SpanIDs()
	if missing, first := missingSpans(ids, seqRange(0, start)); missing > 0 {
		t.Errorf("%d span IDs missing at the sink (first seq %d)", missing, first)
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("span ID %x received %d times", id, n)
		}
	}
	m := c.Metrics()
	for sig, want := range map[string]float64{"traces": 2 * spansPerTransport, "metrics": 2 * pointsPerTransport, "logs": 2 * logsPerTransport} {
		if got := metricValue(m, "exporter_edge_items_sent", map[string]string{"signal": sig}); got != want {
			t.Errorf("otelcol_exporter_edge_items_sent{signal=%q} = %v, want %v", sig, got, want)
		}
	}
	if code := c.Stop(); code != 0 {
		t.Errorf("SIGTERM: exit code %d, want 0", code)
	}
}

// TestInvalidConfig: an unknown key and an invalid value in the edge exporter
// make both `validate` and a normal start exit non-zero, naming the problem.
func TestInvalidConfig(t *testing.T) {
	bin := e2e.Binary(t)
	root := e2e.RepoRoot(t)
	cases := []struct {
		file string
		want []string
	}{
		{"invalid-unknown-key.yaml", []string{"fsync_intervall"}},
		{"invalid-when-full.yaml", []string{"buffer.when_full", "drop_all"}},
	}
	for _, tc := range cases {
		path := filepath.Join(root, "testdata", tc.file)
		env := map[string]string{"OTLP_GRPC_PORT": strconv.Itoa(e2e.FreePort(t)), "BUFFER_DIR": t.TempDir()}
		for _, mode := range []string{"validate", "run"} {
			t.Run(tc.file+"/"+mode, func(t *testing.T) {
				args := []string{"--config", path}
				if mode == "validate" {
					args = append([]string{"validate"}, args...)
				}
				code, out := runToExit(t, bin, "", env, 30*time.Second, args...)
				if code == 0 {
					t.Fatalf("%s %v: exit code 0, want non-zero; output:\n%s", mode, args, tailLines(out, 30))
				}
				for _, w := range tc.want {
					if !strings.Contains(out, w) {
						t.Errorf("%s %v: output does not mention %q; output:\n%s", mode, args, w, tailLines(out, 30))
					}
				}
			})
		}
	}
}

// componentStability parses the output of `components` into
// kind -> name -> the set of stability levels.
func componentStability(out string) map[string]map[string][]string {
	res := map[string]map[string][]string{}
	kind, name := "", ""
	inStability := false
	for _, line := range strings.Split(out, "\n") {
		trimmed := strings.TrimSpace(line)
		indent := len(line) - len(strings.TrimLeft(line, " "))
		switch {
		case trimmed == "":
		case indent == 0 && strings.HasSuffix(trimmed, ":"):
			kind, name, inStability = strings.TrimSuffix(trimmed, ":"), "", false
			res[kind] = map[string][]string{}
		case indent == 0:
			kind, name, inStability = "", "", false
		case strings.HasPrefix(trimmed, "- name:"):
			name = strings.TrimSpace(strings.TrimPrefix(trimmed, "- name:"))
			inStability = false
			if kind != "" {
				res[kind][name] = nil
			}
		case trimmed == "stability:":
			inStability = true
		case inStability && kind != "" && name != "":
			if _, v, ok := strings.Cut(trimmed, ":"); ok {
				res[kind][name] = append(res[kind][name], strings.TrimSpace(v))
			}
		}
	}
	return res
}

// TestComponents: `components` lists our components, each at the
// stability its metadata.yaml declares.
func TestComponents(t *testing.T) {
	code, out := runToExit(t, e2e.Binary(t), "", nil, 30*time.Second, "components")
	if code != 0 {
		t.Fatalf("components: exit code %d; output:\n%s", code, out)
	}
	comps := componentStability(out)
	levelRe := regexp.MustCompile(`(?m)^\s+(development|alpha|beta|stable):`)
	for _, want := range []struct{ kind, name, dir string }{
		{"processors", "enrich", "components/processor/enrichprocessor"},
		{"processors", "filter", "components/processor/filterprocessor"},
		{"exporters", "edge", "components/exporter/edgeexporter"},
		{"extensions", "discovery", "components/extension/discoveryext"},
		{"extensions", "opamp", "components/extension/opampext"},
	} {
		meta, err := os.ReadFile(filepath.Join(e2e.RepoRoot(t), want.dir, "metadata.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		m := levelRe.FindSubmatch(meta)
		if m == nil {
			t.Fatalf("%s/metadata.yaml declares no stability", want.dir)
		}
		declared := strings.ToUpper(string(m[1][:1])) + string(m[1][1:])
		levels, ok := comps[want.kind][want.name]
		if !ok {
			t.Errorf("components: %s %q not listed; output:\n%s", want.kind, want.name, out)
			continue
		}
		if len(levels) == 0 {
			t.Errorf("components: %s %q has no stability", want.kind, want.name)
		}
		for _, l := range levels {
			if l != declared {
				t.Errorf("components: %s %q stability %q, want %q from its metadata.yaml", want.kind, want.name, l, declared)
			}
		}
	}
}

// TestEnrichOnlyCollector builds testdata/builder/builder-config.yaml (upstream
// components plus only our enrich processor) with the pinned ocb, checks that
// it holds none of our other components, and sends traces through it.
func TestEnrichOnlyCollector(t *testing.T) {
	root := e2e.RepoRoot(t)
	ocb := os.Getenv(ocbEnv)
	if ocb == "" {
		ocb = filepath.Join(root, ".tools", "builder-v0.165.0")
	}
	if _, err := os.Stat(ocb); err != nil {
		t.Fatalf("ocb %s: %v (run `make tools` or set %s)", ocb, err, ocbEnv)
	}
	start := time.Now()
	code, out := runToExit(t, ocb, root, nil, 10*time.Minute, "--config", filepath.Join("testdata", "builder", "builder-config.yaml"))
	if code != 0 {
		t.Fatalf("ocb --config testdata/builder/builder-config.yaml: exit code %d; output:\n%s", code, tailLines(out, 60))
	}
	t.Logf("ocb built the enrich-only collector in %v", time.Since(start).Round(time.Millisecond))
	bin := filepath.Join(root, "_build", "enrich-only", "otelcol-enrich-only")

	code, out = runToExit(t, bin, "", nil, 30*time.Second, "components")
	if code != 0 {
		t.Fatalf("enrich-only components: exit code %d; output:\n%s", code, out)
	}
	comps := componentStability(out)
	if _, ok := comps["processors"]["enrich"]; !ok {
		t.Errorf("enrich-only collector does not list the enrich processor; output:\n%s", out)
	}
	for _, not := range []struct{ kind, name string }{
		{"exporters", "edge"}, {"processors", "filter"}, {"extensions", "discovery"},
	} {
		if _, ok := comps[not.kind][not.name]; ok {
			t.Errorf("enrich-only collector lists %s %q; it must hold only the enrich processor of ours", not.kind, not.name)
		}
	}
	for _, word := range []string{"edgeexporter", "filterprocessor", "discoveryext"} {
		if strings.Contains(out, word) {
			t.Errorf("enrich-only components output mentions %q", word)
		}
	}

	sink := e2e.NewSink(t, e2e.SinkOptions{})
	in := e2e.FreePort(t)
	cfg := filepath.Join(root, "testdata", "builder", "config.yaml")
	env := map[string]string{"IN_PORT": strconv.Itoa(in), "OUT_PORT": strconv.Itoa(sink.GRPCPort())}
	if code, out := runToExit(t, bin, "", env, 30*time.Second, "validate", "--config", cfg); code != 0 {
		t.Fatalf("enrich-only validate %s: exit code %d; output:\n%s", cfg, code, out)
	}
	c := e2e.StartCollector(t, e2e.CollectorOptions{Binary: bin, ConfigPath: cfg, Env: env, MinUptime: time.Second})
	client := e2e.NewGRPCClient(t, "127.0.0.1:"+strconv.Itoa(in))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 100
	if _, _, err := sendUntilAccepted(ctx, client, e2e.GenTraces(2, n/2, 0), time.Now().Add(20*time.Second)); err != nil {
		t.Fatalf("send traces to the enrich-only collector: %v", err)
	}
	sink.WaitForSpans(t, n, 30*time.Second)
	if missing, first := missingSpans(sink.SpanIDs(), seqRange(0, n)); missing > 0 {
		t.Errorf("%d spans missing (first %d)", missing, first)
	}
	if code := c.Stop(); code != 0 {
		t.Errorf("enrich-only SIGTERM: exit code %d, want 0", code)
	}
}
