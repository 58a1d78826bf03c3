// SPDX-License-Identifier: Apache-2.0

package discoveryext

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/discoveryapi"
	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/internal/metadata"
)

// waitTimeout bounds every wait of these tests.
const waitTimeout = 10 * time.Second

// fastConfig is a config with short intervals for tests against real servers.
func fastConfig(sources ...SourceConfig) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Sources = sources
	cfg.DrainPeriod = 200 * time.Millisecond
	cfg.HealthCheck.Type = checkNone
	cfg.HealthCheck.Interval = 50 * time.Millisecond
	cfg.HealthCheck.Timeout = 500 * time.Millisecond
	cfg.HealthCheck.Jitter = 0.1
	cfg.HealthCheck.HealthyThreshold = 2
	cfg.HealthCheck.UnhealthyThreshold = 2
	return cfg
}

func staticSourceConfig(name string, addrs ...string) SourceConfig {
	eps := make([]EndpointConfig, 0, len(addrs))
	for _, a := range addrs {
		eps = append(eps, EndpointConfig{Address: a})
	}
	return SourceConfig{Name: name, Static: configoptional.Some(StaticConfig{Endpoints: eps})}
}

// startExtension creates and starts the extension; it is shut down when the test ends.
func startExtension(t *testing.T, cfg *Config) *discovery {
	t.Helper()
	return startExtensionWith(t, cfg, extensiontest.NewNopSettings(metadata.Type))
}

func startExtensionWith(t *testing.T, cfg *Config, set extension.Settings) *discovery {
	t.Helper()
	require.NoError(t, cfg.Validate())
	ext, err := NewFactory().Create(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	return ext.(*discovery)
}

// waitSnapshot waits until cond holds for the current snapshot and returns it.
func waitSnapshot(t *testing.T, r discoveryapi.Registry, what string, cond func(discoveryapi.Snapshot) bool) discoveryapi.Snapshot {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		s := r.Snapshot()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last snapshot: %+v", what, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// states returns address -> health name of a snapshot's endpoints.
func states(s discoveryapi.Snapshot) map[string]string {
	out := map[string]string{}
	for _, e := range s.Endpoints {
		out[e.Address] = e.HealthName
	}
	return out
}

// hasStates reports whether the snapshot holds exactly want (address -> health).
func hasStates(want map[string]string) func(discoveryapi.Snapshot) bool {
	return func(s discoveryapi.Snapshot) bool {
		got := states(s)
		if len(got) != len(want) {
			return false
		}
		for k, v := range want {
			if got[k] != v {
				return false
			}
		}
		return true
	}
}

func benchSettings() extension.Settings { return extensiontest.NewNopSettings(metadata.Type) }

func benchHost() component.Host { return componenttest.NewNopHost() }
