// SPDX-License-Identifier: Apache-2.0

package edgeexporter

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/discoveryapi"
)

// newTLSTestSink is a testSink serving gRPC over TLS with cfg.
func newTLSTestSink(t *testing.T, cfg *tls.Config) *testSink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &testSink{t: t, addr: l.Addr().String(), serverOpts: []grpc.ServerOption{grpc.Creds(credentials.NewTLS(cfg))}}
	s.serve(l)
	t.Cleanup(s.stop)
	return s
}

// mtlsServerConfig requires a client certificate signed by ca.
func mtlsServerConfig(ca *testCA, cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert}, ClientCAs: ca.Pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	}
}

// clientTLS is a client TLS setting trusting ca, with a client certificate
// when certPEM is not empty.
func clientTLS(ca *testCA, certPEM, keyPEM []byte) configtls.ClientConfig {
	c := configtls.NewDefaultClientConfig()
	c.CAPem = configopaque.String(ca.CertPEM)
	c.CertPem = configopaque.String(certPEM)
	c.KeyPem = configopaque.String(keyPEM)
	return c
}

// TestStaticMTLS: a gRPC backend that requires a client certificate gets the
// data when the exporter presents one, and nothing when it does not (the
// data stays in the log).
func TestStaticMTLS(t *testing.T) {
	ca := newTestCA(t)
	_, _, serverCert := ca.Issue(t, false, "backend", "127.0.0.1")
	clientCert, clientKey, _ := ca.Issue(t, true, "edge")
	sink := newTLSTestSink(t, mtlsServerConfig(ca, serverCert))

	t.Run("with a client certificate", func(t *testing.T) {
		cfg := testConfig(t, sink.addr)
		cfg.GRPC.TLS = clientTLS(ca, clientCert, clientKey)
		require.NoError(t, cfg.Validate())
		h := startExporter(t, cfg)
		require.NoError(t, h.traces.ConsumeTraces(context.Background(), genTraces(0, 10)))
		waitFor(t, 10*time.Second, func() bool { return sink.spanCount() == 10 }, "delivered over mTLS")
	})
	t.Run("without", func(t *testing.T) {
		cfg := testConfig(t, sink.addr)
		cfg.GRPC.TLS = clientTLS(ca, nil, nil)
		require.NoError(t, cfg.Validate())
		h := startExporter(t, cfg)
		require.NoError(t, h.traces.ConsumeTraces(context.Background(), genTraces(100, 10)))
		waitFor(t, 10*time.Second, func() bool { return h.traces.e.state.Load() == stateOffline }, "offline: the handshake fails")
		assert.Equal(t, 10, sink.spanCount(), "nothing more arrived")
		assert.Equal(t, uint64(10), h.traces.e.log.Stats().PendingItems, "the data stays in the log")
	})
}

// TestDiscoveryTLSServerName: a discovered endpoint is dialled at its IP
// address but its certificate is verified against the endpoint's server name
// (the SRV target name), over mTLS; the certificate holds no IP address.
func TestDiscoveryTLSServerName(t *testing.T) {
	ca := newTestCA(t)
	_, _, serverCert := ca.Issue(t, false, "gw-0", "gw-0.backend.test")
	clientCert, clientKey, _ := ca.Issue(t, true, "edge")
	sink := newTLSTestSink(t, mtlsServerConfig(ca, serverCert))

	for _, tt := range []struct {
		name, override string
		delivered      bool
	}{
		{"the endpoint's server name", "", true},
		// server_name_override wins over the discovered name.
		{"the configured override", "other.backend.test", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := sink.spanCount()
			cfg := discoveryConfig(t)
			cfg.GRPC.TLS = clientTLS(ca, clientCert, clientKey)
			cfg.GRPC.TLS.ServerName = tt.override
			require.NoError(t, cfg.Validate())
			reg := newFakeRegistry(discoveryapi.Endpoint{ID: "k8s/" + sink.addr, Address: sink.addr, ServerName: "gw-0.backend.test", Weight: 1})
			te := startWithRegistry(t, cfg, reg)
			require.NoError(t, te.ConsumeTraces(context.Background(), genTraces(0, 10)))
			if tt.delivered {
				waitFor(t, 10*time.Second, func() bool { return sink.spanCount() == before+10 }, "delivered to the SRV target's name")
				return
			}
			waitFor(t, 10*time.Second, func() bool {
				eps := te.e.eps.all()
				return len(eps) == 1 && te.e.eps.failing(eps[0])
			}, "the handshake fails")
			te.e.eps.mu.Lock()
			lastErr := te.e.eps.eps[0].lastErr
			te.e.eps.mu.Unlock()
			assert.Contains(t, lastErr, "certificate is valid for gw-0.backend.test, not other.backend.test")
			assert.Equal(t, before, sink.spanCount())
		})
	}
}

// otlpHTTPBackend is an OTLP/HTTP traces backend counting spans.
func otlpHTTPBackend(spans *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		req := ptraceotlp.NewExportRequest()
		if err == nil {
			err = req.UnmarshalProto(b)
		}
		if err != nil || r.URL.Path != "/v1/traces" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		spans.Add(int64(req.Traces().SpanCount()))
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	})
}

// TestDiscoveryHTTPSchemeFromConfig: with protocol http, discovered endpoints
// are reached over https by default (the source's "scheme" metadata is not
// trusted), verified against the endpoint's server name; plain http only with
// http.tls.insecure.
func TestDiscoveryHTTPSchemeFromConfig(t *testing.T) {
	ca := newTestCA(t)
	_, _, serverCert := ca.Issue(t, false, "gw-0", "gw-0.backend.test")
	clientCert, clientKey, _ := ca.Issue(t, true, "edge")

	t.Run("https by default", func(t *testing.T) {
		var spans atomic.Int64
		srv := httptest.NewUnstartedServer(otlpHTTPBackend(&spans))
		srv.TLS = mtlsServerConfig(ca, serverCert)
		srv.StartTLS()
		t.Cleanup(srv.Close)
		addr := srv.Listener.Addr().String()

		cfg := discoveryConfig(t)
		cfg.Protocol = ProtocolHTTP
		cfg.HTTP.TLS = clientTLS(ca, clientCert, clientKey)
		require.NoError(t, cfg.Validate())
		reg := newFakeRegistry(discoveryapi.Endpoint{
			ID: "k8s/" + addr, Address: addr, ServerName: "gw-0.backend.test", Weight: 1,
			Metadata: map[string]string{"scheme": "http"}, // ignored
		})
		te := startWithRegistry(t, cfg, reg)
		require.NoError(t, te.ConsumeTraces(context.Background(), genTraces(0, 10)))
		waitFor(t, 10*time.Second, func() bool { return spans.Load() == 10 }, "delivered over https")
		assert.True(t, strings.HasPrefix(te.e.eps.all()[0].address, "https://"))
	})
	t.Run("http when insecure", func(t *testing.T) {
		var spans atomic.Int64
		srv := httptest.NewServer(otlpHTTPBackend(&spans))
		t.Cleanup(srv.Close)
		addr := srv.Listener.Addr().String()

		cfg := discoveryConfig(t)
		cfg.Protocol = ProtocolHTTP
		cfg.HTTP.TLS.Insecure = true
		require.NoError(t, cfg.Validate())
		reg := newFakeRegistry(discoveryapi.Endpoint{ID: "k8s/" + addr, Address: addr, Weight: 1})
		te := startWithRegistry(t, cfg, reg)
		require.NoError(t, te.ConsumeTraces(context.Background(), genTraces(0, 10)))
		waitFor(t, 10*time.Second, func() bool { return spans.Load() == 10 }, "delivered over http")
	})
}

func TestValidateTransport(t *testing.T) {
	for _, tt := range []struct {
		name   string
		modify func(*Config)
		want   string // "" = valid
		absent string
	}{
		{"grpc insecure with a client certificate", func(c *Config) {
			c.GRPC.TLS.CertFile, c.GRPC.TLS.KeyFile = "/c.pem", "/k.pem"
		}, `"grpc.tls.insecure" is true, so endpoints are dialled in plain text, but "grpc.tls" also sets cert_file, key_file, which would be ignored`, ""},
		{"grpc insecure with a CA is TLS", func(c *Config) { c.GRPC.TLS.CAFile = "/ca.pem" }, "", ""},
		{"grpc TLS", func(c *Config) {
			c.GRPC.TLS = configtls.NewDefaultClientConfig()
			c.GRPC.TLS.ServerName = "backend.test"
		}, "", ""},
		{"plain http URL with TLS settings", func(c *Config) {
			c.Protocol = ProtocolHTTP
			c.Endpoints = []string{"https://a.test:4318", "http://b.test:4318"}
			c.HTTP.TLS.CAFile = "/ca.pem"
		}, `"endpoints[1]" "http://b.test:4318" is plain http://, but "http.tls" sets ca_file, which would be ignored: use https:// or remove them`, ""},
		{"https URL with TLS settings", func(c *Config) {
			c.Protocol = ProtocolHTTP
			c.Endpoints = []string{"https://a.test:4318"}
			c.HTTP.TLS.CAFile = "/ca.pem"
		}, "", ""},
		{"discovery over plain http with TLS settings", func(c *Config) {
			c.Protocol = ProtocolHTTP
			c.Endpoints = nil
			id := discoveryID
			c.Discovery = &id
			c.HTTP.TLS.Insecure = true
			c.HTTP.TLS.InsecureSkipVerify = true
		}, `"http.tls.insecure" is true, so discovered endpoints are sent plain http://, but "http.tls" also sets insecure_skip_verify, which would be ignored`, ""},
		{"user info in an http endpoint", func(c *Config) {
			c.Protocol = ProtocolHTTP
			c.Endpoints = []string{"https://otel:s3cret-token@backend.test:4318/otlp"}
		}, `"endpoints[0]" "https://xxxxx@backend.test:4318/otlp" must not contain user info`, "s3cret-token"},
		{"user info in a grpc endpoint", func(c *Config) {
			c.Endpoints = []string{"s3cret-token@backend.test:4317"}
		}, `"endpoints[0]" "xxxxx@backend.test:4317" must not contain user info`, "s3cret-token"},
		{"user info listed twice", func(c *Config) {
			c.Protocol = ProtocolHTTP
			c.Endpoints = []string{"https://u:s3cret-token@b.test", "https://u:s3cret-token@b.test"}
		}, `"endpoints[1]" "https://xxxxx@b.test" is listed twice`, "s3cret-token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, "127.0.0.1:4317")
			tt.modify(cfg)
			err := cfg.Validate()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			if tt.absent != "" {
				assert.NotContains(t, err.Error(), tt.absent)
			}
		})
	}
	assert.Equal(t, "https://xxxxx@h:1/p@q", redactURL("https://u:p@h:1/p@q"))
	assert.Equal(t, "h:1", redactURL("h:1"))
}

// TestDiscoveryUserInfoIgnored: an endpoint with user info from a registry
// other than the discovery extension (which rejects them) is not used: its ID
// would name it in metrics and logs.
func TestDiscoveryUserInfoIgnored(t *testing.T) {
	s := newTestSink(t)
	reg := newFakeRegistry(discoveryapi.Endpoint{ID: "x/otel:s3cret@" + s.addr, Address: "otel:s3cret@" + s.addr, Weight: 1})
	te := startWithRegistry(t, discoveryConfig(t), reg)
	assert.Empty(t, te.e.eps.all())
	reg.Publish(ep("x/"+s.addr, s.addr, 1, discoveryapi.HealthHealthy))
	require.NoError(t, te.ConsumeTraces(context.Background(), genTraces(0, 10)))
	waitFor(t, 10*time.Second, func() bool { return s.spanCount() == 10 }, "delivered to the endpoint without user info")
}
