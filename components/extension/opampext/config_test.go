// SPDX-License-Identifier: Apache-2.0

package opampext

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-edge/otelcol-edge/components/extension/opampext/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	minimal := createDefaultConfig()
	minimal.Server.Endpoint = "ws://127.0.0.1:4320/v1/opamp"
	full := &Config{
		Server: ServerConfig{
			Endpoint:          "wss://fleet.example.com/v1/opamp",
			BearerToken:       "example-token",
			Headers:           map[string]configopaque.String{"X-Site": "shop-042"},
			TLS:               configtls.ClientConfig{Config: configtls.Config{CAFile: "/etc/ssl/fleet-ca.pem"}},
			HeartbeatInterval: time.Minute,
		},
		StorageDirectory:         "/var/lib/otelcol-edge/opamp",
		ApplyTimeout:             time.Minute,
		StableFor:                5 * time.Second,
		ValidateTimeout:          20 * time.Second,
		ReportInterval:           30 * time.Second,
		NonIdentifyingAttributes: map[string]string{"site.id": "shop-042"},
		RedactKeys:               []string{"pin"},
		MetricsEndpoint:          "http://127.0.0.1:8888/metrics",
	}
	for _, tt := range []struct {
		id   component.ID
		want *Config
	}{
		{component.NewID(metadata.Type), minimal},
		{component.NewIDWithName(metadata.Type, "full"), full},
	} {
		t.Run(tt.id.String(), func(t *testing.T) {
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			cfg := createDefaultConfig()
			require.NoError(t, sub.Unmarshal(cfg))
			require.NoError(t, confmap.Validate(cfg))
			assert.Equal(t, tt.want, cfg)
		})
	}
}

func TestInvalidConfigs(t *testing.T) {
	for file, want := range map[string][]string{
		"invalid_endpoint.yaml": {`"server.endpoint" "ftp://fleet.example.com/": scheme must be ws, wss, http or https`},
		"invalid_missing.yaml":  {`"server.endpoint" must be set`, `"storage_directory" must be set`},
		"invalid_durations.yaml": {
			`"server.heartbeat_interval" must be > 0, got 0s`, `"report_interval" must be > 0, got -1s`,
			`"stable_for" (5s) must be shorter than "apply_timeout" (2s)`,
		},
	} {
		t.Run(file, func(t *testing.T) {
			cm, err := confmaptest.LoadConf(filepath.Join("testdata", file))
			require.NoError(t, err)
			sub, err := cm.Sub("opamp")
			require.NoError(t, err)
			cfg := createDefaultConfig()
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			require.Error(t, err)
			for _, w := range want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}
