// SPDX-License-Identifier: Apache-2.0

package edgeexporter

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configtls"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/metadatatest"
)

// Plain text is reported for every endpoint that leaves the machine without
// TLS, and only for those.
func TestPlaintextTargets(t *testing.T) {
	disc := component.MustNewIDWithName("discovery", "backends")
	for _, tc := range []struct {
		name      string
		protocol  string
		endpoints []string
		discovery *component.ID
		tls       configtls.ClientConfig
		want      []string
	}{
		{"grpc insecure, remote", ProtocolGRPC, []string{"otlp.example.com:4317", "10.0.0.7:4317"}, nil, configtls.ClientConfig{Insecure: true}, []string{"otlp.example.com:4317", "10.0.0.7:4317"}},
		{"grpc insecure, loopback", ProtocolGRPC, []string{"127.0.0.1:4317", "localhost:4317", "[::1]:4317", "127.3.2.1:9"}, nil, configtls.ClientConfig{Insecure: true}, nil},
		{"grpc insecure, unix socket", ProtocolGRPC, []string{"unix:///run/otlp.sock"}, nil, configtls.ClientConfig{Insecure: true}, nil},
		{"grpc insecure, dns target", ProtocolGRPC, []string{"dns:///otlp.example.com:4317", "dns:///localhost:4317"}, nil, configtls.ClientConfig{Insecure: true}, []string{"dns:///otlp.example.com:4317"}},
		{"grpc insecure, https prefix is TLS", ProtocolGRPC, []string{"https://otlp.example.com:4317"}, nil, configtls.ClientConfig{Insecure: true}, nil},
		{"grpc insecure with a CA is TLS", ProtocolGRPC, []string{"otlp.example.com:4317"}, nil, configtls.ClientConfig{Insecure: true, Config: configtls.Config{CAFile: "/etc/ca.pem"}}, nil},
		{"grpc TLS (default)", ProtocolGRPC, []string{"otlp.example.com:4317"}, nil, configtls.ClientConfig{}, nil},
		{"http plain URL", ProtocolHTTP, []string{"http://otlp.example.com:4318", "https://otlp.example.com:4318", "http://127.0.0.1:4318"}, nil, configtls.ClientConfig{}, []string{"http://otlp.example.com:4318"}},
		{"grpc insecure with discovery", ProtocolGRPC, nil, &disc, configtls.ClientConfig{Insecure: true}, []string{"discovery/backends"}},
		{"grpc TLS with discovery", ProtocolGRPC, nil, &disc, configtls.ClientConfig{}, nil},
		{"http TLS with discovery (https)", ProtocolHTTP, nil, &disc, configtls.ClientConfig{}, nil},
		{"http insecure with discovery (http)", ProtocolHTTP, nil, &disc, configtls.ClientConfig{Insecure: true}, []string{"discovery/backends"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.Protocol = tc.protocol
			cfg.Endpoints = tc.endpoints
			cfg.Discovery = tc.discovery
			cfg.GRPC.TLS = tc.tls
			cfg.HTTP.TLS = tc.tls
			assert.Equal(t, tc.want, plaintextTargets(cfg))
		})
	}
}

// Start warns about plain text to a remote backend, naming the endpoint (and
// never its user info); a loopback backend or TLS starts quietly.
func TestStartWarnsAboutPlaintext(t *testing.T) {
	for _, tc := range []struct {
		name      string
		protocol  string
		endpoints []string
		insecure  bool
		want      []string
	}{
		{"remote grpc", ProtocolGRPC, []string{"192.0.2.10:4317", "127.0.0.1:4317"}, true, []string{"192.0.2.10:4317"}},
		{"remote http with user info", ProtocolHTTP, []string{"http://user:secret@192.0.2.10:4318"}, false, []string{"http://192.0.2.10:4318"}},
		{"loopback", ProtocolGRPC, []string{"127.0.0.1:4317"}, true, nil},
		{"tls", ProtocolGRPC, []string{"192.0.2.10:4317"}, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, "127.0.0.1:1")
			cfg.Protocol = tc.protocol
			cfg.Endpoints = tc.endpoints
			cfg.GRPC.TLS = configtls.ClientConfig{Insecure: tc.insecure}
			core, logs := observer.New(zapcore.WarnLevel)
			tt := componenttest.NewTelemetry()
			t.Cleanup(func() { assert.NoError(t, tt.Shutdown(context.Background())) })
			set := metadatatest.NewSettings(tt)
			set.Logger = zap.New(core)
			exp, err := NewFactory().CreateTraces(context.Background(), set, cfg)
			require.NoError(t, err)
			require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
			require.NoError(t, exp.Shutdown(context.Background()))

			var got []string
			for _, e := range logs.FilterMessageSnippet("plain text").All() {
				got = append(got, e.ContextMap()["endpoint"].(string))
			}
			assert.Equal(t, tc.want, got)
			for _, e := range logs.All() {
				assert.NotContains(t, fmt.Sprint(e.Message, e.ContextMap()), "secret")
			}
		})
	}
}
