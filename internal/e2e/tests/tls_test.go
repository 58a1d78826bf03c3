// SPDX-License-Identifier: Apache-2.0

package tests // import "github.com/otelcol-edge/otelcol-edge/internal/e2e/tests"

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/otelcol-edge/otelcol-edge/internal/e2e"
)

// tlsEdgeConfig is a collector whose edge exporter sends to endpoint (or
// follows discovery/backends when discovery is set) with the given protocol
// and client TLS block (YAML, indented for the exporter's grpc/http key).
func tlsEdgeConfig(t *testing.T, ports []int, protocol, endpoint, tlsBlock, discovery string) string {
	t.Helper()
	target := fmt.Sprintf("endpoints: [%s]", endpoint)
	extensions := "[health_check]"
	if discovery != "" {
		target = "discovery: discovery/backends"
		extensions = "[health_check, discovery/backends]"
	}
	return e2e.WriteConfig(t, fmt.Sprintf(`
extensions:
  health_check:
    endpoint: 127.0.0.1:%[2]d
%[7]s
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%[1]d
exporters:
  edge:
    protocol: %[4]s
    %[5]s
    %[4]s:
      tls:
%[6]s
    timeout: 2s
    buffer:
      directory: %[8]s
    sending:
      flush_interval: 20ms
    retry:
      initial_interval: 50ms
      max_interval: 300ms
service:
  extensions: %[9]s
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [edge]
  telemetry:
    metrics:
      level: detailed
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: %[3]d
`, ports[0], ports[1], ports[2], protocol, target, tlsBlock, discovery, filepath.Join(t.TempDir(), "buffer"), extensions))
}

// startTLSEdge starts the binary with tlsEdgeConfig.
func startTLSEdge(t *testing.T, protocol, endpoint, tlsBlock, discovery string) (*e2e.Collector, *e2e.Client) {
	t.Helper()
	ports := e2e.FreePorts(t, 3)
	c := e2e.StartCollector(t, e2e.CollectorOptions{
		ConfigPath: tlsEdgeConfig(t, ports, protocol, endpoint, tlsBlock, discovery),
		HealthURL:  fmt.Sprintf("http://127.0.0.1:%d/", ports[1]),
		MetricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[2]),
	})
	return c, e2e.NewGRPCClient(t, fmt.Sprintf("127.0.0.1:%d", ports[0]))
}

// TestMTLSToBackend: a real OTLP backend (gRPC and HTTP) over TLS that
// requires a client certificate, with certificates the test generates. The
// binary delivers with the client certificate configured; without it the
// handshake fails, nothing arrives and the data stays in the buffer.
func TestMTLSToBackend(t *testing.T) {
	ca := e2e.NewTestCA(t)
	sink := e2e.NewSink(t, e2e.SinkOptions{TLS: ca.ServerTLS(ca.Server("127.0.0.1"), true)})
	client := ca.Client("edge-agent")
	for _, protocol := range []string{"grpc", "http"} {
		endpoint := sink.GRPCEndpoint()
		if protocol == "http" {
			endpoint = sink.HTTPEndpoint()
		}
		t.Run(protocol+" with a client certificate", func(t *testing.T) {
			sink.Reset()
			col, c := startTLSEdge(t, protocol, endpoint, fmt.Sprintf(`        ca_file: %s
        cert_file: %s
        key_file: %s`, ca.CAFile, client.CertFile, client.KeyFile), "")
			if err := c.SendTraces(context.Background(), e2e.GenTraces(2, 50, 0)); err != nil {
				t.Fatal(err)
			}
			sink.WaitForSpans(t, 100, 30*time.Second)
			e2e.Eventually(t, 10*time.Second, 50*time.Millisecond, func() bool {
				return metricValue(col.Metrics(), "exporter_edge_items_sent", nil) == 100
			}, "items_sent = 100")
		})
		t.Run(protocol+" without", func(t *testing.T) {
			sink.Reset()
			col, c := startTLSEdge(t, protocol, endpoint, fmt.Sprintf(`        ca_file: %s`, ca.CAFile), "")
			if err := c.SendTraces(context.Background(), e2e.GenTraces(2, 50, 0)); err != nil {
				t.Fatal(err)
			}
			e2e.Eventually(t, 30*time.Second, 50*time.Millisecond, func() bool {
				return metricValue(col.Metrics(), "exporter_edge_send_failures", nil) >= 2
			}, "the exporter's requests fail")
			if n := sink.SpanCount(); n != 0 {
				t.Fatalf("the backend accepted %d spans from a client without a certificate", n)
			}
			if got := metricValue(col.Metrics(), "exporter_edge_buffer_items", nil); got != 100 {
				t.Errorf("buffer_items = %v, want the 100 spans kept", got)
			}
		})
	}
}

// srvServer is a DNS server on 127.0.0.1 (UDP) answering one SRV name with
// one target, and the target's A record 127.0.0.1.
func srvServer(t *testing.T, name, target string, port int) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = pc.Close()
		wg.Wait()
	})
	wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var req dnsmessage.Message
			if req.Unpack(buf[:n]) != nil || len(req.Questions) != 1 {
				continue
			}
			q := req.Questions[0]
			resp := dnsmessage.Message{Header: dnsmessage.Header{ID: req.ID, Response: true, Authoritative: true, RCode: dnsmessage.RCodeSuccess}, Questions: req.Questions}
			hdr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 5}
			switch {
			case q.Type == dnsmessage.TypeSRV && strings.EqualFold(q.Name.String(), name+"."):
				resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: hdr, Body: &dnsmessage.SRVResource{
					Priority: 0, Weight: 1, Port: uint16(port), Target: dnsmessage.MustNewName(target + "."),
				}})
			case q.Type == dnsmessage.TypeA && strings.EqualFold(q.Name.String(), target+"."):
				resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: hdr, Body: &dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}}})
			case strings.EqualFold(q.Name.String(), target+"."):
				// No AAAA: an empty answer.
			default:
				resp.RCode = dnsmessage.RCodeNameError
			}
			out, err := resp.Pack()
			if err == nil {
				_, _ = pc.WriteTo(out, addr)
			}
		}
	})
	return pc.LocalAddr().String()
}

// TestDiscoverySRVOverMTLS: the discovery extension finds the backend by DNS
// SRV; the backend's certificate is valid for the SRV target's name only (not
// for the IP address the target resolves to, as a pod's certificate under a
// headless Service). The binary verifies the certificate against the target
// name, presents its client certificate, and delivers over gRPC and, with
// protocol http, over https chosen by the configuration.
func TestDiscoverySRVOverMTLS(t *testing.T) {
	ca := e2e.NewTestCA(t)
	const target = "gw-0.gateway.backend.test"
	sink := e2e.NewSink(t, e2e.SinkOptions{TLS: ca.ServerTLS(ca.Server(target), true)})
	client := ca.Client("edge-agent")
	tlsBlock := fmt.Sprintf(`        ca_file: %s
        cert_file: %s
        key_file: %s`, ca.CAFile, client.CertFile, client.KeyFile)
	for _, protocol := range []string{"grpc", "http"} {
		t.Run(protocol, func(t *testing.T) {
			sink.Reset()
			const name = "_otlp._tcp.gateway.backend.test"
			port := sink.GRPCPort()
			if protocol == "http" {
				port = sink.HTTPPort()
			}
			resolver := srvServer(t, name, target, port)
			discovery := fmt.Sprintf(`  discovery/backends:
    sources:
      - name: k8s
        dns:
          name: %s
          resolver: %s
          min_ttl: 1s
    health_check:
      type: tcp
      interval: 200ms`, name, resolver)
			col, c := startTLSEdge(t, protocol, "", tlsBlock, discovery)
			if err := c.SendTraces(context.Background(), e2e.GenTraces(1, 40, 0)); err != nil {
				t.Fatal(err)
			}
			sink.WaitForSpans(t, 40, 30*time.Second)
			if n := metricValue(col.Metrics(), "exporter_edge_items_dropped", nil); n != 0 {
				t.Errorf("items_dropped = %v, want 0", n)
			}
		})
	}
}

// TestEndpointUserInfoNeverShown: an endpoint with a credential in its URL is
// refused at start, and the credential appears nowhere in the output.
func TestEndpointUserInfoNeverShown(t *testing.T) {
	const secret = "s3cret-api-token"
	ports := e2e.FreePorts(t, 3)
	cfg := tlsEdgeConfig(t, ports, "http", "https://otel:"+secret+"@backend.example.com:4318", "        insecure: false", "")
	code, out := e2e.RunCollectorExpectExit(t, e2e.Binary(t), 30*time.Second, "--config", cfg)
	if code == 0 {
		t.Fatalf("the collector started with a credential in an endpoint URL")
	}
	if !strings.Contains(out, `"endpoints[0]" "https://xxxxx@backend.example.com:4318" must not contain user info`) {
		t.Errorf("the error does not name the endpoint, redacted; output:\n%s", tailLines(out, 20))
	}
	if strings.Contains(out, secret) {
		t.Errorf("the credential is in the output:\n%s", out)
	}
}
