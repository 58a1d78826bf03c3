// SPDX-License-Identifier: Apache-2.0

package tests // import "github.com/otelcol-edge/otelcol-edge/internal/e2e/tests"

import (
	"context"
	"crypto/tls"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-edge/otelcol-edge/internal/e2e"
)

// Secrets of the OpAMP tests: none of them may ever reach the fleet server.
const (
	opampToken    = "fleet-token-7f3a9c2e51d84b06"
	opampHashKey  = "hash-key-5e1d0c9b8a7f6e5d4c3b2a1908172635"
	opampAuthTok  = "backend-token-0a1b2c3d4e5f60718293"
	healthzFilter = `span.attributes["http.route"] == "/healthz"`
)

// opampConfigOpts shapes the collector config of the OpAMP tests.
type opampConfigOpts struct {
	// conditions of the filter processor (none: drops nothing).
	conditions []string
	// httpPort, when not 0, adds an OTLP/HTTP protocol on that port.
	httpPort int
	// extra is appended to the processors section of the filter.
	extra string
	// processors of the pipeline (default: filter).
	processors []string
}

// opampConfig is a collector config whose ports, buffer and OpAMP settings
// come from the environment (a remote config is expanded like a local one).
func opampConfig(o opampConfigOpts) string {
	var b strings.Builder
	b.WriteString(`extensions:
  health_check:
    endpoint: 127.0.0.1:${env:HEALTH_PORT}
  opamp:
    server:
      endpoint: ${env:OPAMP_ENDPOINT}
      bearer_token: ${env:OPAMP_TOKEN}
      heartbeat_interval: 1s
      tls:
        ca_file: ${env:OPAMP_CA_FILE:-}
    storage_directory: ${env:OPAMP_DIR}
    stable_for: 1s
    apply_timeout: 20s
    report_interval: 1s
    metrics_endpoint: http://127.0.0.1:${env:METRICS_PORT}/metrics
  bearertokenauth:
    token: ${env:BACKEND_TOKEN}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:${env:OTLP_GRPC_PORT}
`)
	if o.httpPort != 0 {
		fmt.Fprintf(&b, "      http:\n        endpoint: 127.0.0.1:%d\n", o.httpPort)
	}
	b.WriteString("processors:\n  filter:\n    error_mode: ignore\n")
	if len(o.conditions) > 0 {
		b.WriteString("    trace_conditions:\n      - name: fleet-rule\n        conditions:\n")
		for _, c := range o.conditions {
			fmt.Fprintf(&b, "          - '%s'\n", c)
		}
	}
	b.WriteString(`    redact:
      hash_key: ${env:FILTER_HASH_KEY}
      keys:
        - pattern: user.id
          action: hash
`)
	b.WriteString(o.extra)
	procs := "filter"
	if len(o.processors) > 0 {
		procs = strings.Join(o.processors, ", ")
	}
	b.WriteString(`exporters:
  edge:
    endpoints:
      - ${env:EDGE_ENDPOINT}
    grpc:
      tls:
        insecure: true
    buffer:
      directory: ${env:BUFFER_DIR}
service:
  extensions: [health_check, opamp]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [` + procs + `]
      exporters: [edge]
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: ${env:METRICS_PORT}
`)
	return b.String()
}

// opampCollector is a collector started with --config opamp:<local file>.
type opampCollector struct {
	*e2e.Collector
	grpcPort  int
	opampDir  string
	bufferDir string
}

// startOpAMPCollector writes the local config (no filter rule) and starts
// the binary with it through the opamp: provider.
func startOpAMPCollector(t *testing.T, sink *e2e.Sink, endpoint, dir string, extra map[string]string) *opampCollector {
	t.Helper()
	return startOpAMPCollectorWith(t, sink, endpoint, dir, opampConfigOpts{}, extra)
}

// startOpAMPCollectorWith is startOpAMPCollector with a local config shaped
// by opts.
func startOpAMPCollectorWith(t *testing.T, sink *e2e.Sink, endpoint, dir string, opts opampConfigOpts, extra map[string]string) *opampCollector {
	t.Helper()
	ports := e2e.FreePorts(t, 3)
	local := filepath.Join(dir, "local.yaml")
	if err := os.WriteFile(local, []byte(opampConfig(opts)), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &opampCollector{grpcPort: ports[0], opampDir: filepath.Join(dir, "opamp"), bufferDir: filepath.Join(dir, "buffer")}
	env := map[string]string{
		"OTLP_GRPC_PORT":  strconv.Itoa(ports[0]),
		"HEALTH_PORT":     strconv.Itoa(ports[1]),
		"METRICS_PORT":    strconv.Itoa(ports[2]),
		"OPAMP_ENDPOINT":  endpoint,
		"OPAMP_TOKEN":     opampToken,
		"OPAMP_DIR":       c.opampDir,
		"BUFFER_DIR":      c.bufferDir,
		"EDGE_ENDPOINT":   sink.GRPCEndpoint(),
		"FILTER_HASH_KEY": opampHashKey,
		"BACKEND_TOKEN":   opampAuthTok,
	}
	maps.Copy(env, extra)
	c.Collector = e2e.StartCollector(t, e2e.CollectorOptions{
		ConfigPath: "opamp:" + local,
		Env:        env,
		HealthURL:  fmt.Sprintf("http://127.0.0.1:%d/", ports[1]),
		MetricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[2]),
	})
	return c
}

// routeSpans are spans with the given routes and sequence numbers.
func routeSpans(seq map[uint64]string) ptrace.Traces {
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for n, route := range seq {
		s := spans.AppendEmpty()
		s.SetName("GET " + route)
		s.SetTraceID(pcommon.TraceID{0xfe, byte(n >> 8), byte(n), 1})
		s.SetSpanID(e2e.SpanIDFor(n))
		s.Attributes().PutStr("http.route", route)
		s.Attributes().PutStr("user.id", "jane")
	}
	return td
}

// sendRoutes sends spans until accepted (the collector may be restarting).
func sendRoutes(t *testing.T, c *opampCollector, seq map[uint64]string) {
	t.Helper()
	client := e2e.NewGRPCClient(t, "127.0.0.1:"+strconv.Itoa(c.grpcPort))
	ok, _, err := sendUntilAccepted(context.Background(), client, routeSpans(seq), time.Now().Add(30*time.Second))
	if !ok {
		t.Fatalf("spans %v not accepted: %v", seq, err)
	}
}

// expectRoutes waits until the sink has every span of want and checks that
// none of absent arrived.
func expectRoutes(t *testing.T, sink *e2e.Sink, want, absent []uint64) {
	t.Helper()
	waitAllSpans(t, sink, want, 30*time.Second)
	time.Sleep(300 * time.Millisecond) // a dropped span would have come with the kept ones
	ids := sink.SpanIDs()
	for _, n := range absent {
		if ids[e2e.SpanIDFor(n)] > 0 {
			t.Fatalf("span %d reached the sink; the running config should have dropped it", n)
		}
	}
}

// checkNoSecret fails if the effective config reported to the server holds
// a secret of the test.
func checkNoSecret(t *testing.T, effective string) {
	t.Helper()
	if effective == "" {
		t.Fatal("no effective config reported")
	}
	for _, s := range []string{opampToken, opampHashKey, opampAuthTok} {
		if strings.Contains(effective, s) {
			t.Fatalf("the effective config sent to the server contains the secret %q:\n%s", s, effective)
		}
	}
}

// TestOpAMPRemoteConfigAppliedAndKeptAcrossKill: a config pushed by the fleet
// server (adding a filter rule) is validated, applied in process (same PID)
// and reported APPLIED with the new effective config (without a secret);
// data changes accordingly; after kill -9 and with the server down, the
// collector starts with the last accepted config.
func TestOpAMPRemoteConfigAppliedAndKeptAcrossKill(t *testing.T) {
	fleet := newFleetServer(t, opampToken)
	sink := e2e.NewSink(t, e2e.SinkOptions{})
	c := startOpAMPCollector(t, sink, fleet.wsURL(), t.TempDir(), nil)
	pid := c.PID()

	e2e.Eventually(t, 20*time.Second, 20*time.Millisecond, fleet.connected, "agent connected with its token")
	e2e.Eventually(t, 20*time.Second, 20*time.Millisecond, func() bool {
		eff, h, _, _ := fleet.snapshot()
		return eff != "" && h != nil && h.GetHealthy()
	}, "effective config and healthy status reported")
	eff, health, desc, _ := fleet.snapshot()
	checkNoSecret(t, eff)
	attrs := map[string]string{}
	for _, kv := range append(desc.GetIdentifyingAttributes(), desc.GetNonIdentifyingAttributes()...) {
		attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
	}
	for _, k := range []string{"service.name", "service.version", "service.instance.id", "host.name", "os.type", "host.arch"} {
		if attrs[k] == "" {
			t.Errorf("agent description misses %s: %v", k, attrs)
		}
	}
	if attrs["service.name"] != "otelcol-edge" {
		t.Errorf("service.name = %q", attrs["service.name"])
	}
	if health.GetComponentHealthMap()["exporter:edge"] == nil {
		t.Errorf("no health of the edge exporter: %v", health.GetComponentHealthMap())
	}

	// The local config drops nothing.
	sendRoutes(t, c, map[uint64]string{1: "/healthz", 2: "/cart"})
	expectRoutes(t, sink, []uint64{1, 2}, nil)

	pushed := time.Now()
	hash := fleet.push(opampConfig(opampConfigOpts{conditions: []string{healthzFilter}}))
	fleet.waitStatus(t, hash, protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED, 40*time.Second)
	t.Logf("push to APPLIED: %v", time.Since(pushed))
	if c.PID() != pid || !c.Running() {
		t.Fatalf("the collector was restarted (pid %d -> %d): a valid config must be applied in process", pid, c.PID())
	}
	e2e.Eventually(t, 10*time.Second, 20*time.Millisecond, func() bool {
		eff, _, _, _ := fleet.snapshot()
		return strings.Contains(eff, "fleet-rule")
	}, "the new effective config reported")
	eff, _, _, _ = fleet.snapshot()
	checkNoSecret(t, eff)

	sendRoutes(t, c, map[uint64]string{3: "/healthz", 4: "/cart"})
	expectRoutes(t, sink, []uint64{4}, []uint64{3})

	// kill -9, fleet server down: the last accepted config runs.
	c.Kill()
	fleet.stop()
	c.Restart()
	sendRoutes(t, c, map[uint64]string{5: "/healthz", 6: "/cart"})
	expectRoutes(t, sink, []uint64{6}, []uint64{5})
}

// TestOpAMPInvalidAndUnstartableConfigs: an invalid config is reported FAILED
// with the validation error and the old pipeline keeps running; a config that
// validates but cannot start (its port is taken) is rolled back automatically
// (FAILED with the reason), and data keeps flowing with the old config.
func TestOpAMPInvalidAndUnstartableConfigs(t *testing.T) {
	fleet := newFleetServer(t, "")
	sink := e2e.NewSink(t, e2e.SinkOptions{})
	c := startOpAMPCollector(t, sink, fleet.wsURL(), t.TempDir(), nil)
	pid := c.PID()
	e2e.Eventually(t, 20*time.Second, 20*time.Millisecond, fleet.connected, "agent connected")

	// Invalid: an unknown key of the filter processor.
	hash := fleet.push(opampConfig(opampConfigOpts{conditions: []string{healthzFilter}, extra: "    no_such_option: true\n"}))
	st := fleet.waitStatus(t, hash, protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED, 40*time.Second)
	if !strings.Contains(st.GetErrorMessage(), "no_such_option") {
		t.Fatalf("FAILED without the validation error: %q", st.GetErrorMessage())
	}
	t.Logf("invalid config: %s", st.GetErrorMessage())
	if c.PID() != pid || !c.Running() {
		t.Fatal("the collector restarted on an invalid config")
	}
	sendRoutes(t, c, map[uint64]string{1: "/healthz", 2: "/cart"})
	expectRoutes(t, sink, []uint64{1, 2}, nil)

	// Valid but cannot start: the OTLP/HTTP port is taken.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	pushed := time.Now()
	hash = fleet.push(opampConfig(opampConfigOpts{conditions: []string{healthzFilter}, httpPort: taken.Addr().(*net.TCPAddr).Port}))
	st = fleet.waitStatus(t, hash, protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED, 60*time.Second)
	t.Logf("push to FAILED (rolled back): %v: %s", time.Since(pushed), st.GetErrorMessage())
	if !strings.Contains(st.GetErrorMessage(), "address already in use") {
		t.Fatalf("FAILED without the reason: %q", st.GetErrorMessage())
	}
	// The old config runs again (in the same process: re-executed in place).
	sendRoutes(t, c, map[uint64]string{3: "/healthz", 4: "/cart"})
	expectRoutes(t, sink, []uint64{3, 4}, nil)
	t.Logf("push to data flowing again: %v", time.Since(pushed))
	if c.PID() != pid || !c.Running() {
		t.Fatalf("pid %d -> %d, running %v", pid, c.PID(), c.Running())
	}
	e2e.Eventually(t, 20*time.Second, 50*time.Millisecond, func() bool {
		eff, h, _, _ := fleet.snapshot()
		return h.GetHealthy() && !strings.Contains(eff, "fleet-rule")
	}, "healthy with the old effective config")
	// The server re-sending the failed config does not make the agent try it again.
	applying := fleet.count(protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLYING)
	fleet.push(opampConfig(opampConfigOpts{conditions: []string{healthzFilter}, httpPort: taken.Addr().(*net.TCPAddr).Port}))
	time.Sleep(2 * time.Second)
	if c.PID() != pid || !c.Running() {
		t.Fatal("collector not running after the failed config was re-sent")
	}
	if n := fleet.count(protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLYING); n != applying {
		t.Fatalf("the re-sent failed config was tried again (%d APPLYING reports, %d before)", n, applying)
	}
	if _, _, _, st := fleet.snapshot(); st.GetStatus() != protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED {
		t.Fatalf("status after re-sending the failed config: %v", st.GetStatus())
	}
}

// TestOpAMPBacklogSurvivesReloadHTTP: over the plain-HTTP transport, a config
// applied while the edge exporter holds a backlog (backend down) loses
// nothing: every acknowledged span is delivered once the backend is up.
func TestOpAMPBacklogSurvivesReloadHTTP(t *testing.T) {
	fleet := newFleetServer(t, opampToken)
	sink := newStoppedSink(t, e2e.SinkOptions{})
	c := startOpAMPCollector(t, sink, fleet.httpURL(), t.TempDir(), nil)
	e2e.Eventually(t, 20*time.Second, 20*time.Millisecond, fleet.connected, "agent connected over HTTP")

	const n = 3000
	client := e2e.NewGRPCClient(t, "127.0.0.1:"+strconv.Itoa(c.grpcPort))
	for start := uint64(0); start < n; start += 500 {
		if ok, _, err := sendUntilAccepted(context.Background(), client, e2e.GenTraces(5, 100, start), time.Now().Add(30*time.Second)); !ok {
			t.Fatalf("batch %d not accepted: %v", start, err)
		}
	}
	hash := fleet.push(opampConfig(opampConfigOpts{conditions: []string{healthzFilter}}))
	fleet.waitStatus(t, hash, protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED, 40*time.Second)
	e2e.Eventually(t, 10*time.Second, 100*time.Millisecond, func() bool {
		_, h, _, _ := fleet.snapshot()
		return strings.Contains(h.GetComponentHealthMap()["exporter:edge"].GetStatus(), "backlog")
	}, "edge exporter state and backlog reported")
	_, h, _, _ := fleet.snapshot()
	t.Logf("edge exporter as reported: %s", h.GetComponentHealthMap()["exporter:edge"].GetStatus())
	sink.Start()
	waitAllSpans(t, sink, seqRange(0, n), 60*time.Second)
	t.Logf("delivered %d unique spans, %d duplicates", sink.UniqueSpanCount(), sink.DuplicateSpanCount())
}

// TestOpAMPTLSSystemCAsByDefault: over wss://, the server's certificate is
// verified: with the system CAs (the default) a server with a private CA is
// refused; with its CA in server.tls.ca_file the agent connects and applies.
func TestOpAMPTLSSystemCAsByDefault(t *testing.T) {
	ca := e2e.NewTestCA(t)
	srvTLS := ca.ServerTLS(ca.Server("127.0.0.1"), false)
	srvTLS.MinVersion = tls.VersionTLS12
	fleet := newFleetServerTLS(t, opampToken, srvTLS)
	sink := e2e.NewSink(t, e2e.SinkOptions{})

	untrusted := startOpAMPCollector(t, sink, fleet.wsURL(), t.TempDir(), nil)
	time.Sleep(3 * time.Second)
	if fleet.connected() {
		t.Fatal("the agent connected to a server whose certificate the system CAs do not trust")
	}
	untrusted.Stop()

	c := startOpAMPCollector(t, sink, fleet.wsURL(), t.TempDir(), map[string]string{"OPAMP_CA_FILE": ca.CAFile})
	e2e.Eventually(t, 20*time.Second, 20*time.Millisecond, fleet.connected, "agent connected over wss:// with the CA file")
	hash := fleet.push(opampConfig(opampConfigOpts{conditions: []string{healthzFilter}}))
	fleet.waitStatus(t, hash, protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED, 40*time.Second)
	sendRoutes(t, c, map[uint64]string{1: "/healthz", 2: "/cart"})
	expectRoutes(t, sink, []uint64{2}, []uint64{1})
}
