// SPDX-License-Identifier: Apache-2.0

package discoveryext

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/internal/metadata"
)

func loadConfig(t *testing.T, file string, id component.ID) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", file))
	require.NoError(t, err)
	sub, err := cm.Sub(id.String())
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	if err := sub.Unmarshal(cfg); err != nil {
		return nil, err
	}
	return cfg, confmap.Validate(cfg)
}

func TestLoadConfig(t *testing.T) {
	seed := SourceConfig{Name: "seeds", Static: configoptional.Some(StaticConfig{Endpoints: []EndpointConfig{{Address: "127.0.0.1:4317"}}})}
	statusOn := func(endpoint string) configoptional.Optional[confighttp.ServerConfig] {
		s := confighttp.NewDefaultServerConfig()
		s.NetAddr.Endpoint = endpoint
		return configoptional.Some(s)
	}

	gateway := createDefaultConfig().(*Config)
	gateway.Sources = []SourceConfig{
		{Name: "seeds", Static: configoptional.Some(StaticConfig{Endpoints: []EndpointConfig{
			{Address: "gw-a.example.com:4317", Weight: 3, Zone: "eu-west-1a", Metadata: map[string]string{"rack": "r1"}},
			{Address: "gw-b.example.com:4317", Priority: 1},
		}})},
		{Name: "k8s", DNS: configoptional.Some(DNSConfig{
			Name: "_otlp._tcp.gateway.observability.svc.cluster.local", Resolver: "10.96.0.10:53",
			MinTTL: 2 * time.Second, MaxTTL: time.Minute, Timeout: time.Second, MaxEndpoints: 100,
		})},
		{Name: "fleet", File: configoptional.Some(FileConfig{
			Path: "/etc/otelcol/endpoints.yaml", PollInterval: 5 * time.Second, MaxBytes: 65536, MaxEndpoints: 100,
		})},
	}
	gateway.DrainPeriod = time.Minute
	gateway.HealthCheck = HealthCheckConfig{
		Type: checkGRPC, Interval: 5 * time.Second, Timeout: time.Second, Jitter: 0.2,
		HealthyThreshold: 1, UnhealthyThreshold: 2, MaxConcurrent: 4,
		HTTP: HTTPCheckConfig{Path: "/", ExpectedStatus: 200},
		GRPC: GRPCCheckConfig{Service: "opentelemetry.proto.collector.trace.v1.TraceService"},
	}
	gateway.HealthCheck.TLS = configtls.NewDefaultClientConfig()
	gateway.HealthCheck.TLS.CAFile = "/etc/otelcol/ca.pem"
	gateway.OutlierDetection = OutlierDetectionConfig{
		ConsecutiveFailures: 3, BaseEjectionTime: 10 * time.Second, MaxEjectionTime: 2 * time.Minute, MaxEjectionPercent: 30,
	}
	gateway.PanicThreshold = 25
	gateway.Status = statusOn(defaultStatusEndpoint)

	httpCfg := createDefaultConfig().(*Config)
	httpCfg.Sources = []SourceConfig{{Name: "gateways", DNS: configoptional.Some(DNSConfig{
		Name: "gateway.internal", Type: "ip", Port: 4317, Interval: 15 * time.Second,
	})}}
	httpCfg.HealthCheck.Type = checkHTTP
	httpCfg.HealthCheck.Port = 13133
	httpCfg.HealthCheck.HTTP = HTTPCheckConfig{Path: "/health", ExpectedStatus: 200}
	httpCfg.OutlierDetection.ConsecutiveFailures = 0
	httpCfg.PanicThreshold = 0
	httpCfg.Status = statusOn("127.0.0.1:8089")

	minimal := createDefaultConfig().(*Config)
	minimal.Sources = []SourceConfig{seed}

	for _, tt := range []struct {
		id   component.ID
		want *Config
	}{
		{component.NewID(metadata.Type), minimal},
		{component.NewIDWithName(metadata.Type, "gateway"), gateway},
		{component.NewIDWithName(metadata.Type, "http"), httpCfg},
	} {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg, err := loadConfig(t, "config.yaml", tt.id)
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg)
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	assert.False(t, cfg.Status.HasValue(), "status server is off by default")
	assert.Equal(t, defaultStatusEndpoint, cfg.Status.GetOrInsertDefault().NetAddr.Endpoint)
	// The default config has no source, which must be configured.
	assert.EqualError(t, createDefaultConfig().(*Config).Validate(), `"sources" must contain at least one source`)
}

func TestInvalidConfigs(t *testing.T) {
	id := component.NewID(metadata.Type)
	for _, tt := range []struct {
		file string
		want []string
	}{
		{"invalid_unknown_key.yaml", []string{"health_checks"}},
		{"invalid_empty.yaml", []string{`"sources" must contain at least one source`}},
		{"invalid_sources.yaml", []string{
			`"sources[0].name" must be set`,
			`"sources[1]" must set exactly one of "static", "dns", "file" or "kubernetes"`,
			`"sources[2].name" "both" is already used by sources[1]`,
			`"sources[3].static.endpoints[0].address" must be host:port, got "no-port"`,
			`"sources[3].static.endpoints[0].weight" must be >= 0`,
		}},
		{"invalid_dns.yaml", []string{
			`"sources[0].dns.name" must be set`,
			`"sources[1].dns.port" must be set for type "a"`,
			`"sources[1].dns.max_ttl" must be >= "sources[1].dns.min_ttl"`,
			`"sources[2].dns.type" must be one of srv, a, aaaa, ip, got "mx"`,
			`"sources[2].dns.resolver" must be host:port, got "10.0.0.1"`,
		}},
		{"invalid_health.yaml", []string{
			`"sources[0].file.path" must be set`,
			`"drain_period" must be >= 0`,
			`"health_check.http.path" must start with "/"`,
			`"health_check.http.expected_status" must be between 100 and 599`,
			`"health_check.interval" must be > 0`,
			`"health_check.jitter" must be between 0 and 1`,
			`"health_check.unhealthy_threshold" must be >= 1`,
			`"outlier_detection.max_ejection_time" must be >= "outlier_detection.base_ejection_time"`,
			`"outlier_detection.max_ejection_percent" must be between 0 and 100`,
			`"panic_threshold" must be between 0 and 100`,
			`"status.endpoint" must be set`,
		}},
		{"invalid_transport.yaml", []string{
			`"sources[0].static.endpoints[0].address" must not contain user info (credentials before "@"), got "xxxxx@gw.example.com:4317"`,
			`"sources[1].dns.max_endpoints" must be >= 0`,
			`"sources[2].file.max_bytes" must be >= 0`,
			`"sources[2].file.max_endpoints" must be >= 0`,
			`"health_check.tls.insecure" is true, so checks are plain text, but "health_check.tls" also sets server_name_override, which would be ignored`,
		}},
	} {
		t.Run(tt.file, func(t *testing.T) {
			_, err := loadConfig(t, tt.file, id)
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestValidateTransportAndCaps(t *testing.T) {
	for _, tt := range []struct {
		name   string
		modify func(*Config)
		want   string
		absent string
	}{
		{"tls on tcp checks", func(c *Config) {
			c.HealthCheck.Type = checkTCP
			c.HealthCheck.TLS.CAFile = "/ca.pem"
		}, `"health_check.tls" is used by grpc and http checks only, not by "tcp" checks`, ""},
		{"tls ignored by plain grpc checks", func(c *Config) {
			c.HealthCheck.Type = checkGRPC
			c.HealthCheck.TLS.CertFile = "/c.pem"
			c.HealthCheck.TLS.KeyFile = "/k.pem"
		}, `"health_check.tls.insecure" is true, so checks are plain text, but "health_check.tls" also sets cert_file, key_file, which would be ignored`, ""},
		{"tls ignored by plain http checks", func(c *Config) {
			c.HealthCheck.Type = checkHTTP
			c.HealthCheck.TLS.ServerName = "gw.example.com"
		}, `also sets server_name_override`, ""},
		{"user info in a static address", func(c *Config) {
			c.Sources[0].Static.Get().Endpoints[0].Address = "otel:s3cret-token@gw.example.com:4317"
		}, `"sources[0].static.endpoints[0].address" must not contain user info (credentials before "@"), got "xxxxx@gw.example.com:4317"`, "s3cret-token"},
		{"user info in a URL", func(c *Config) {
			c.Sources[0].Static.Get().Endpoints[0].Address = "https://otel:s3cret-token@gw.example.com:4317"
		}, `must not contain user info`, "s3cret-token"},
		{"negative caps", func(c *Config) {
			c.Sources = append(c.Sources,
				SourceConfig{Name: "d", DNS: configoptional.Some(DNSConfig{Name: "_otlp._tcp.gw", MaxEndpoints: -1})},
				SourceConfig{Name: "f", File: configoptional.Some(FileConfig{Path: "/f.yaml", MaxBytes: -1, MaxEndpoints: -1})})
		}, `"sources[1].dns.max_endpoints" must be >= 0`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.Sources = []SourceConfig{staticSourceConfig("s", "127.0.0.1:4317")}
			require.NoError(t, cfg.Validate())
			tt.modify(cfg)
			err := confmap.Validate(cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			if tt.absent != "" {
				assert.NotContains(t, err.Error(), tt.absent)
			}
		})
	}

	t.Run("checks over TLS", func(t *testing.T) {
		cfg := createDefaultConfig().(*Config)
		cfg.Sources = []SourceConfig{staticSourceConfig("s", "127.0.0.1:4317")}
		cfg.HealthCheck.Type = checkGRPC
		cfg.HealthCheck.TLS = configtls.NewDefaultClientConfig()
		cfg.HealthCheck.TLS.CAFile = "/ca.pem"
		require.NoError(t, cfg.Validate())
		cfg.HealthCheck.TLS.Insecure = true // with a CA, upstream's insecure still means TLS
		require.NoError(t, cfg.Validate())
	})
	t.Run("negative file caps", func(t *testing.T) {
		cfg := createDefaultConfig().(*Config)
		cfg.Sources = []SourceConfig{{Name: "f", File: configoptional.Some(FileConfig{Path: "/f.yaml", MaxBytes: -1, MaxEndpoints: -1})}}
		err := cfg.Validate()
		require.Error(t, err)
		assert.Contains(t, err.Error(), `"sources[0].file.max_bytes" must be >= 0`)
		assert.Contains(t, err.Error(), `"sources[0].file.max_endpoints" must be >= 0`)
	})
}
