// SPDX-License-Identifier: Apache-2.0

package tests // import "github.com/otelcol-edge/otelcol-edge/internal/e2e/tests"

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otelcol-edge/otelcol-edge/internal/e2e"
)

// startPackagedConfig runs the collector with the config of the .deb/.rpm and
// the container image (distribution/packaging/config.yaml), every listener
// on a free loopback port, the buffer in a temporary directory, and env on
// top (OTELCOL_EDGE_ENDPOINT, OTELCOL_EDGE_INSECURE, SSL_CERT_FILE...).
func startPackagedConfig(t *testing.T, env map[string]string) (*e2e.Collector, int) {
	t.Helper()
	ports := e2e.FreePorts(t, 5)
	full := map[string]string{
		"OTELCOL_EDGE_OTLP_GRPC_ENDPOINT": "127.0.0.1:" + strconv.Itoa(ports[0]),
		"OTELCOL_EDGE_OTLP_HTTP_ENDPOINT": "127.0.0.1:" + strconv.Itoa(ports[1]),
		"OTELCOL_EDGE_HEALTH_ENDPOINT":    "127.0.0.1:" + strconv.Itoa(ports[2]),
		"OTELCOL_EDGE_ZPAGES_ENDPOINT":    "127.0.0.1:" + strconv.Itoa(ports[3]),
		"OTELCOL_EDGE_METRICS_PORT":       strconv.Itoa(ports[4]),
		"OTELCOL_EDGE_DATA_DIR":           filepath.Join(t.TempDir(), "buffer"),
	}
	for k, v := range env {
		full[k] = v
	}
	c := e2e.StartCollector(t, e2e.CollectorOptions{
		ConfigPath: filepath.Join(e2e.RepoRoot(t), "distribution", "packaging", "config.yaml"),
		Env:        full,
		HealthURL:  fmt.Sprintf("http://127.0.0.1:%d/", ports[2]),
		MetricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[4]),
	})
	return c, ports[0]
}

const plaintextWarning = "Sending to a non-loopback endpoint in plain text"

// The packaged config sends over TLS verified with the system CAs when only
// the backend is set: a TLS backend whose CA is the system's (SSL_CERT_FILE)
// receives the data, and nothing warns about plain text.
func TestPackagedConfigTLSByDefault(t *testing.T) {
	pki := newAuthPKI(t)
	backend := startTokenBackend(t, pki, "")
	c, grpcPort := startPackagedConfig(t, map[string]string{
		"OTELCOL_EDGE_ENDPOINT": backend.addr,
		"SSL_CERT_FILE":         pki.caFile, // Go's system roots on Linux
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := e2e.NewGRPCClient(t, fmt.Sprintf("127.0.0.1:%d", grpcPort)).SendTraces(ctx, e2e.GenTraces(1, 20, 0)); err != nil {
		t.Fatal(err)
	}
	e2e.Eventually(t, 30*time.Second, 50*time.Millisecond, func() bool {
		got, _ := backend.received(0, 20, "")
		return got == 20
	}, "the spans reach the TLS backend")
	if strings.Contains(c.Output(), plaintextWarning) {
		t.Error("the collector warns about plain text with the packaged defaults")
	}
}

// Plain text is an explicit opt-in (OTELCOL_EDGE_INSECURE=true), and with a
// backend that is not on this machine the collector says so at start, naming
// the endpoint; a loopback backend in plain text starts without the warning.
func TestPlaintextWarning(t *testing.T) {
	for _, tc := range []struct {
		name, endpoint string
		warn           bool
	}{
		{"remote", "192.0.2.10:4317", true}, // TEST-NET-1: never answers
		{"loopback", "127.0.0.1:4319", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := startPackagedConfig(t, map[string]string{
				"OTELCOL_EDGE_ENDPOINT": tc.endpoint,
				"OTELCOL_EDGE_INSECURE": "true",
			})
			var line string
			for l := range strings.SplitSeq(c.Output(), "\n") {
				if strings.Contains(l, plaintextWarning) {
					line = l
				}
			}
			switch {
			case tc.warn && (line == "" || !strings.Contains(line, `"endpoint": "`+tc.endpoint+`"`) || !strings.Contains(line, "warn")):
				t.Errorf("no start-up warning naming %s; output:\n%s", tc.endpoint, c.Output())
			case !tc.warn && line != "":
				t.Errorf("warning for a loopback backend: %s", line)
			}
		})
	}
}
