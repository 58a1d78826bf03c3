// SPDX-License-Identifier: Apache-2.0

package tests // import "github.com/otelcol-edge/otelcol-edge/internal/e2e/tests"

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/otelcol-edge/otelcol-edge/internal/e2e"
)

// authPKI is a CA and a server certificate for 127.0.0.1 and localhost,
// generated for one test and written as PEM files.
type authPKI struct {
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
	serverCert                tls.Certificate
}

func newAuthPKI(t *testing.T) *authPKI {
	t.Helper()
	dir := t.TempDir()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, srvKey := newKey(), newKey()
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "otelcol-edge test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	p := &authPKI{
		caFile:   filepath.Join(dir, "ca.pem"),
		certFile: filepath.Join(dir, "server.pem"),
		keyFile:  filepath.Join(dir, "server-key.pem"),
		pool:     x509.NewCertPool(),
	}
	p.pool.AddCert(caCert)
	for path, block := range map[string]*pem.Block{
		p.caFile:   {Type: "CERTIFICATE", Bytes: caDER},
		p.certFile: {Type: "CERTIFICATE", Bytes: srvDER},
		p.keyFile:  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p.serverCert, err = tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// clientTLS trusts the test CA.
func (p *authPKI) clientTLS() *tls.Config {
	return &tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS12}
}

// tokenBackend is an OTLP/gRPC trace backend on 127.0.0.1 over TLS that
// accepts a request only with `authorization: Bearer <token>`, the token
// being changeable at run time ("": no token needed).
type tokenBackend struct {
	ptraceotlp.UnimplementedGRPCServer
	addr     string
	token    atomic.Value // string
	refused  atomic.Int64
	mu       sync.Mutex
	spans    map[[8]byte]string // span ID -> the token it came with
	requests int
}

func startTokenBackend(t *testing.T, pki *authPKI, token string) *tokenBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &tokenBackend{addr: ln.Addr().String(), spans: map[[8]byte]string{}}
	b.token.Store(token)
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{pki.serverCert}, MinVersion: tls.VersionTLS12,
	})))
	ptraceotlp.RegisterGRPCServer(srv, b)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return b
}

func (b *tokenBackend) setToken(token string) { b.token.Store(token) }

// Export implements ptraceotlp.GRPCServer.
func (b *tokenBackend) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	want := "Bearer " + b.token.Load().(string)
	got := md.Get("authorization")
	if want != "Bearer " && (len(got) != 1 || got[0] != want) {
		b.refused.Add(1)
		return ptraceotlp.NewExportResponse(), status.Error(codes.Unauthenticated, "bad or missing bearer token")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.requests++
	for _, id := range e2e.SpanIDsOf(req.Traces()) {
		b.spans[id] = b.token.Load().(string)
	}
	return ptraceotlp.NewExportResponse(), nil
}

// received returns how many of the span IDs SpanIDFor(from..from+n-1) arrived,
// and how many of those carried token.
func (b *tokenBackend) received(from uint64, n int, token string) (got, withToken int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range uint64(n) {
		if tok, ok := b.spans[e2e.SpanIDFor(from+i)]; ok {
			got++
			if tok == token {
				withToken++
			}
		}
	}
	return got, withToken
}

// writeFileAtomically replaces path by a new file (write, fsync, rename), as
// secret managers and `kubectl` projected volumes do.
func writeFileAtomically(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// The edge exporter authenticates to a backend that requires a bearer token
// (bearertokenauth as the exporter's grpc.auth, over TLS with the test CA),
// and a token rotated in its file, by rename or in place, is used without a
// restart: data written while the backend refused the old token is delivered
// with the new one.
func TestEdgeExporterBearerTokenRotation(t *testing.T) {
	pki := newAuthPKI(t)
	backend := startTokenBackend(t, pki, "token-one")
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("token-one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ports := e2e.FreePorts(t, 3)
	cfg := e2e.WriteConfig(t, fmt.Sprintf(`
extensions:
  health_check:
    endpoint: 127.0.0.1:%[2]d
  bearertokenauth:
    filename: %[4]s
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%[1]d
exporters:
  edge:
    endpoints: [%[5]s]
    grpc:
      tls:
        ca_file: %[6]s
      auth:
        authenticator: bearertokenauth
    timeout: 2s
    buffer:
      directory: %[7]s
    sending:
      flush_interval: 20ms
    retry:
      initial_interval: 50ms
      max_interval: 300ms
service:
  extensions: [health_check, bearertokenauth]
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
`, ports[0], ports[1], ports[2], tokenFile, backend.addr, pki.caFile, filepath.Join(t.TempDir(), "buffer")))
	c := e2e.StartCollector(t, e2e.CollectorOptions{
		ConfigPath: cfg,
		HealthURL:  fmt.Sprintf("http://127.0.0.1:%d/", ports[1]),
		MetricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[2]),
	})
	pid := c.PID()
	client := e2e.NewGRPCClient(t, fmt.Sprintf("127.0.0.1:%d", ports[0]))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	const perBatch = 50
	send := func(batch int) {
		t.Helper()
		td := e2e.GenTraces(1, perBatch, uint64(batch*perBatch))
		if err := client.SendTraces(ctx, td); err != nil {
			t.Fatalf("batch %d: the collector refused: %v", batch, err)
		}
	}
	delivered := func(batch int, token string) {
		t.Helper()
		e2e.Eventually(t, 30*time.Second, 50*time.Millisecond, func() bool {
			got, with := backend.received(uint64(batch*perBatch), perBatch, token)
			return got == perBatch && with == perBatch
		}, fmt.Sprintf("batch %d delivered with %s", batch, token))
	}

	// 1. The token of the file at start.
	send(0)
	delivered(0, "token-one")
	if n := backend.refused.Load(); n != 0 {
		t.Errorf("the backend refused %d requests while the token was right", n)
	}

	// 2. The backend moves to a new token first: the old one is refused and
	// the data waits in the buffer; the file is rotated by rename.
	for i, rot := range []struct {
		token   string
		inPlace bool
	}{{"token-two", false}, {"token-three", true}} {
		batch := i + 1
		backend.setToken(rot.token)
		refusedBefore := backend.refused.Load()
		send(batch)
		e2e.Eventually(t, 20*time.Second, 50*time.Millisecond, func() bool {
			return backend.refused.Load() > refusedBefore
		}, "the backend refuses the old token")
		if got, _ := backend.received(uint64(batch*perBatch), perBatch, rot.token); got != 0 {
			t.Fatalf("batch %d arrived before the token was rotated", batch)
		}
		if rot.inPlace {
			if err := os.WriteFile(tokenFile, []byte(rot.token+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		} else {
			writeFileAtomically(t, tokenFile, rot.token+"\n")
		}
		delivered(batch, rot.token)
	}
	if c.PID() != pid || !c.Running() {
		t.Fatalf("the collector was restarted (pid %d, then %d)", pid, c.PID())
	}
	if strings.Contains(c.Output(), "token-") {
		t.Error("a token appears in the collector's log")
	}
}

// The OTLP receiver of a gateway requires a bearer token (bearertokenauth as
// its auth, TLS with a certificate of the test CA): senders without it or
// with a wrong one are refused over gRPC and HTTP and nothing of theirs reaches
// the edge exporter's buffer; an agent (a second collector whose edge
// exporter authenticates with the token from a file) gets through, and only
// its data reaches the backend.
func TestGatewayReceiverRequiresBearerToken(t *testing.T) {
	pki := newAuthPKI(t)
	sink := newStoppedSink(t, e2e.SinkOptions{}) // the gateway's backend is down: data stays in its buffer
	tokenFile := filepath.Join(t.TempDir(), "agents.token")
	if err := os.WriteFile(tokenFile, []byte("agent-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	gw := e2e.FreePorts(t, 4) // grpc, http, health, metrics
	gwBuffer := filepath.Join(t.TempDir(), "gateway")
	gwCfg := e2e.WriteConfig(t, fmt.Sprintf(`
extensions:
  health_check:
    endpoint: 127.0.0.1:%[3]d
  bearertokenauth/agents:
    filename: %[5]s
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%[1]d
        tls:
          cert_file: %[6]s
          key_file: %[7]s
        auth:
          authenticator: bearertokenauth/agents
      http:
        endpoint: 127.0.0.1:%[2]d
        tls:
          cert_file: %[6]s
          key_file: %[7]s
        auth:
          authenticator: bearertokenauth/agents
exporters:
  edge:
    endpoints: [%[8]s]
    grpc:
      tls:
        insecure: true
    buffer:
      directory: %[9]s
    sending:
      flush_interval: 20ms
    retry:
      initial_interval: 50ms
      max_interval: 300ms
service:
  extensions: [health_check, bearertokenauth/agents]
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
                port: %[4]d
`, gw[0], gw[1], gw[2], gw[3], tokenFile, pki.certFile, pki.keyFile, sink.GRPCEndpoint(), gwBuffer))
	gateway := &edgeCollector{
		Collector: e2e.StartCollector(t, e2e.CollectorOptions{
			ConfigPath: gwCfg,
			HealthURL:  fmt.Sprintf("http://127.0.0.1:%d/", gw[2]),
			MetricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", gw[3]),
		}),
		bufferDir: gwBuffer,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	segBytesAtStart := segDiskBytes(gateway.walDir())

	// Senders without the token: gRPC without and with a wrong token, HTTP
	// without and with a wrong token.
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", gw[0]), grpc.WithTransportCredentials(credentials.NewTLS(pki.clientTLS())))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	grpcClient := ptraceotlp.NewGRPCClient(conn)
	const intruderBase, intruderSpans = 1_000_000, 20
	for i, header := range []string{"", "Bearer wrong", "agent-secret", "Basic agent-secret"} {
		rctx := ctx
		if header != "" {
			rctx = metadata.AppendToOutgoingContext(ctx, "authorization", header)
		}
		td := e2e.GenTraces(1, intruderSpans, uint64(intruderBase+i*intruderSpans))
		_, err := grpcClient.Export(rctx, ptraceotlp.NewExportRequestFromTraces(td))
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("gRPC with authorization %q: got %v, want Unauthenticated", header, err)
		}
	}
	httpClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.clientTLS()}}
	defer httpClient.CloseIdleConnections()
	for i, header := range []string{"", "Bearer wrong"} {
		td := e2e.GenTraces(1, intruderSpans, uint64(intruderBase+(10+i)*intruderSpans))
		body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("https://127.0.0.1:%d/v1/traces", gw[1]), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-protobuf")
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatalf("HTTP with authorization %q: %v", header, err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("HTTP with authorization %q: status %d, want 401", header, resp.StatusCode)
		}
	}
	// Nothing of theirs is in the buffer.
	if v := gateway.edgeMetric("exporter_edge_items_appended", nil); v != 0 {
		t.Errorf("the gateway's buffer took %v items from unauthenticated senders", v)
	}
	if v := gateway.edgeMetric("exporter_edge_buffer_items", nil); v != 0 {
		t.Errorf("the gateway's buffer holds %v items after unauthenticated senders only", v)
	}
	if n := segDiskBytes(gateway.walDir()); n != segBytesAtStart {
		t.Errorf("the gateway's segments grew from %d to %d bytes with unauthenticated senders only", segBytesAtStart, n)
	}

	// An agent: the edge exporter authenticates with the token from its file.
	ag := e2e.FreePorts(t, 3)
	agCfg := e2e.WriteConfig(t, fmt.Sprintf(`
extensions:
  health_check:
    endpoint: 127.0.0.1:%[2]d
  bearertokenauth:
    filename: %[4]s
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%[1]d
exporters:
  edge:
    endpoints: [127.0.0.1:%[5]d]
    grpc:
      tls:
        ca_file: %[6]s
      auth:
        authenticator: bearertokenauth
    buffer:
      directory: %[7]s
    sending:
      flush_interval: 20ms
    retry:
      initial_interval: 50ms
      max_interval: 300ms
service:
  extensions: [health_check, bearertokenauth]
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
`, ag[0], ag[1], ag[2], tokenFile, gw[0], pki.caFile, filepath.Join(t.TempDir(), "agent")))
	e2e.StartCollector(t, e2e.CollectorOptions{
		ConfigPath: agCfg,
		HealthURL:  fmt.Sprintf("http://127.0.0.1:%d/", ag[1]),
		MetricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", ag[2]),
	})
	const agentSpans = 100
	if err := e2e.NewGRPCClient(t, fmt.Sprintf("127.0.0.1:%d", ag[0])).SendTraces(ctx, e2e.GenTraces(2, agentSpans/2, 0)); err != nil {
		t.Fatalf("the agent refused: %v", err)
	}
	e2e.Eventually(t, 30*time.Second, 50*time.Millisecond, func() bool {
		return gateway.edgeMetric("exporter_edge_items_appended", nil) == agentSpans
	}, "the gateway buffers the agent's spans")

	// The backend comes up: the agent's spans and nothing else.
	sink.Start()
	sink.WaitForSpans(t, agentSpans, 30*time.Second)
	ids := sink.SpanIDs()
	for n := range uint64(agentSpans) {
		if ids[e2e.SpanIDFor(n)] == 0 {
			t.Errorf("span %d of the agent did not arrive", n)
		}
	}
	for id := range ids {
		if n, ok := e2e.SpanIDSeq(id); ok && n >= intruderBase {
			t.Errorf("span %d of an unauthenticated sender reached the backend", n)
		}
	}
	if got := sink.UniqueSpanCount(); got != agentSpans {
		t.Errorf("the backend received %d spans, want the agent's %d", got, agentSpans)
	}
}

// The default build carries the authenticators the README documents, and
// headers_setter is absent (not served at the distribution's contrib version).
func TestAuthExtensionsBuiltIn(t *testing.T) {
	code, out := e2e.RunCollectorExpectExit(t, e2e.Binary(t), 30*time.Second, "components")
	if code != 0 {
		t.Fatalf("otelcol-edge components: exit %d: %s", code, out)
	}
	if !strings.Contains(out, "name: bearertokenauth") ||
		!strings.Contains(out, "bearertokenauthextension v0.165.1") {
		t.Errorf("bearertokenauth (contrib v0.165.1) is not built in:\n%s", out)
	}
	if strings.Contains(out, "name: headers_setter") {
		t.Error("headers_setter is built in: update the README and CHANGELOG, which say it is not")
	}
}
