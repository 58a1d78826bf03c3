// SPDX-License-Identifier: Apache-2.0

package discoveryext

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/internal/metadata"
)

// srvFor serves one SRV record for name pointing at target (resolving to
// 127.0.0.1) on the port of addr.
func srvFor(t *testing.T, name, target, addr string) *dnsServer {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	srv := newDNSServer(t)
	srv.set(name, dns.TypeSRV, name+". 5 IN SRV 0 1 "+port+" "+target+".")
	srv.set(target, dns.TypeA, target+". 5 IN A 127.0.0.1")
	return srv
}

// TestHealthGRPCOverTLS: grpc checks of a TLS backend found by DNS SRV use the
// configured TLS settings and verify the certificate against the SRV target
// name (the certificate has no IP address): the backend is healthy. With the
// default (plain text) it is unhealthy.
func TestHealthGRPCOverTLS(t *testing.T) {
	ca := newTestCA(t)
	_, _, serverCert := ca.Issue(t, false, "gw-0", "gw-0.gateway.test")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	hs := health.NewServer()
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12})))
	healthpb.RegisterHealthServer(gs, hs)
	var wg sync.WaitGroup
	wg.Go(func() { _ = gs.Serve(ln) })
	t.Cleanup(func() {
		gs.Stop()
		wg.Wait()
	})
	const name = "_otlp._tcp.gateway.test"
	srv := srvFor(t, name, "gw-0.gateway.test", ln.Addr().String())

	start := func(t *testing.T, plain bool) *discovery {
		cfg := fastConfig(dnsSourceConfig("k8s", DNSConfig{Name: name, Resolver: srv.addr}))
		cfg.HealthCheck.Type = checkGRPC
		cfg.PanicThreshold = 0
		if !plain {
			cfg.HealthCheck.TLS.Insecure = false
			cfg.HealthCheck.TLS.CAPem = configopaque.String(ca.CertPEM)
		}
		return startExtension(t, cfg)
	}
	addr := "127.0.0.1:" + portOf(t, ln.Addr().String())
	t.Run("tls", func(t *testing.T) {
		d := start(t, false)
		waitSnapshot(t, d, "healthy over TLS", hasStates(map[string]string{addr: "healthy"}))
	})
	t.Run("plain", func(t *testing.T) {
		d := start(t, true)
		waitSnapshot(t, d, "unhealthy in plain text", hasStates(map[string]string{addr: "unhealthy"}))
	})
}

// TestHealthHTTPOverTLS: http checks use HTTPS with the configured CA and
// verify the SRV target name; a client certificate is sent when configured.
func TestHealthHTTPOverTLS(t *testing.T) {
	ca := newTestCA(t)
	_, _, serverCert := ca.Issue(t, false, "gw-0", "gw-0.gateway.test")
	clientCertPEM, clientKeyPEM, _ := ca.Issue(t, true, "agent")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{serverCert}, ClientCAs: ca.Pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	const name = "_otlp._tcp.gateway.test"
	dnsSrv := srvFor(t, name, "gw-0.gateway.test", srv.Listener.Addr().String())
	addr := "127.0.0.1:" + portOf(t, srv.Listener.Addr().String())

	cfg := fastConfig(dnsSourceConfig("k8s", DNSConfig{Name: name, Resolver: dnsSrv.addr}))
	cfg.HealthCheck.Type = checkHTTP
	cfg.HealthCheck.HTTP = HTTPCheckConfig{Path: "/health", ExpectedStatus: http.StatusOK}
	cfg.HealthCheck.TLS.Insecure = false
	cfg.HealthCheck.TLS.CAPem = configopaque.String(ca.CertPEM)
	cfg.HealthCheck.TLS.CertPem = configopaque.String(clientCertPEM)
	cfg.HealthCheck.TLS.KeyPem = configopaque.String(clientKeyPEM)
	d := startExtension(t, cfg)
	waitSnapshot(t, d, "healthy over mTLS", hasStates(map[string]string{addr: "healthy"}))
}

// TestHealthHTTPNoRedirect: the HTTP probe does not follow redirects: a
// backend answering 302 to a healthy page elsewhere is unhealthy.
func TestHealthHTTPNoRedirect(t *testing.T) {
	var elsewhere atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		elsewhere.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(target.Close)
	redirector := httptest.NewServer(http.RedirectHandler(target.URL+"/ok", http.StatusFound))
	t.Cleanup(redirector.Close)
	addr := redirector.Listener.Addr().String()

	cfg := fastConfig(staticSourceConfig("s", addr))
	cfg.HealthCheck.Type = checkHTTP
	cfg.PanicThreshold = 0
	d := startExtension(t, cfg)
	snap := waitSnapshot(t, d, "unhealthy", hasStates(map[string]string{addr: "unhealthy"}))
	assert.Contains(t, snap.Endpoints[0].Reason, "HTTP status 302, want 200")
	time.Sleep(100 * time.Millisecond) // a few more checks
	assert.Zero(t, elsewhere.Load(), "the redirect was followed")
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	_, err = strconv.Atoi(port)
	require.NoError(t, err)
	return port
}

// TestHealthTLSLoadError: TLS files that cannot be loaded fail the creation
// of the extension, naming the key.
func TestHealthTLSLoadError(t *testing.T) {
	cfg := fastConfig(staticSourceConfig("s", "127.0.0.1:4317"))
	cfg.HealthCheck.Type = checkGRPC
	cfg.HealthCheck.TLS.Insecure = false
	cfg.HealthCheck.TLS.CAFile = filepath.Join(t.TempDir(), "missing-ca.pem")
	require.NoError(t, cfg.Validate())
	_, err := NewFactory().Create(t.Context(), extensiontest.NewNopSettings(metadata.Type), cfg)
	require.ErrorContains(t, err, `"health_check.tls": failed to load TLS config`)
	assert.ErrorContains(t, err, "missing-ca.pem")
}
