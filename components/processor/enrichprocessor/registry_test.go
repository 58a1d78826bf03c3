// SPDX-License-Identifier: Apache-2.0

package enrichprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"

	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/discoveryapi"
	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/discoveryapi/discoveryapitest"
	"github.com/otelcol-edge/otelcol-edge/components/processor/enrichprocessor/internal/metadatatest"
)

// fakeRegistry is the test registry registered as an extension.
type fakeRegistry struct {
	*discoveryapitest.Registry
	component.StartFunc
	component.ShutdownFunc
}

type extHost map[component.ID]component.Component

func (h extHost) GetExtensions() map[component.ID]component.Component { return h }

var registryID = component.MustNewIDWithName("discovery", "services")

func startWithRegistry(t *testing.T, cfg *Config, host component.Host) (*enricher, error) {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	e := newEnricher(cfg, metadatatest.NewSettings(tel))
	err := e.start(context.Background(), host)
	t.Cleanup(func() { _ = e.shutdown(context.Background()) })
	return e, err
}

func TestRegistryMetadata(t *testing.T) {
	reg := &fakeRegistry{Registry: discoveryapitest.NewRegistry()}
	reg.Publish(
		discoveryapi.Endpoint{ID: "a", Address: "10.0.0.1:4317", Metadata: map[string]string{"service.name": "checkout", "team": "payments", "tier": "1"}},
		discoveryapi.Endpoint{ID: "b", Address: "10.0.0.2:4317", Health: discoveryapi.HealthDraining, Metadata: map[string]string{"service.name": "search", "team": "find"}},
	)
	cfg := testConfig()
	id := registryID
	cfg.Registry.Extension = &id
	cfg.Registry.Prefix = "owner."
	require.NoError(t, cfg.Validate())
	e, err := startWithRegistry(t, cfg, extHost{registryID: reg})
	require.NoError(t, err)

	td := oneTrace(map[string]string{"service.name": "checkout", "owner.team": "kept"})
	_, err = e.processTraces(context.Background(), td)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"service.name": "checkout", "owner.team": "kept", "owner.tier": "1"}, resourceOf(td), "insert keeps what the telemetry has")

	td = oneTrace(map[string]string{"service.name": "search"})
	_, err = e.processTraces(context.Background(), td)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"service.name": "search"}, resourceOf(td), "draining endpoints are not used")

	// The registry changes: the next batch sees it, without a restart.
	reg.Publish(discoveryapi.Endpoint{ID: "a", Address: "10.0.0.1:4317", Metadata: map[string]string{"service.name": "checkout", "team": "billing"}})
	td = oneTrace(map[string]string{"service.name": "checkout"})
	_, err = e.processTraces(context.Background(), td)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"service.name": "checkout", "owner.team": "billing"}, resourceOf(td))
}

func TestRegistryMatchByHost(t *testing.T) {
	reg := &fakeRegistry{Registry: discoveryapitest.NewRegistry()}
	reg.Publish(discoveryapi.Endpoint{ID: "a", Address: "gw-1.example:4317", Metadata: map[string]string{"site": "shop-042"}})
	cfg := testConfig()
	id := registryID
	cfg.Registry.Extension = &id
	cfg.Registry.Key = "host.name"
	cfg.Registry.MatchMetadata = "host"
	e, err := startWithRegistry(t, cfg, extHost{registryID: reg})
	require.NoError(t, err)
	td := oneTrace(map[string]string{"host.name": "gw-1.example"})
	_, err = e.processTraces(context.Background(), td)
	require.NoError(t, err)
	assert.Equal(t, "shop-042", resourceOf(td)["site"])
}

func TestRegistryExtensionMissingOrWrongKind(t *testing.T) {
	cfg := testConfig()
	id := registryID
	cfg.Registry.Extension = &id
	_, err := startWithRegistry(t, cfg, extHost{})
	require.ErrorContains(t, err, `"registry.extension": extension "discovery/services" not found`)

	_, err = startWithRegistry(t, testConfigWithRegistry(), extHost{registryID: notARegistry{}})
	require.ErrorContains(t, err, "is not a discovery extension")
}

func TestRegistryConfigValidation(t *testing.T) {
	cfg := testConfigWithRegistry()
	cfg.Registry.Key = ""
	cfg.Registry.Action = "replace"
	err := cfg.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"registry.key" must not be empty`)
	assert.Contains(t, err.Error(), `"registry.action" must be one of`)
}

func testConfigWithRegistry() *Config {
	cfg := testConfig()
	id := registryID
	cfg.Registry.Extension = &id
	return cfg
}

type notARegistry struct {
	component.StartFunc
	component.ShutdownFunc
}
