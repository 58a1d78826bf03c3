// SPDX-License-Identifier: Apache-2.0

package edgeexporter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/metadatatest"
	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/discoveryapi"
	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/discoveryapi/discoveryapitest"
)

// fakeRegistry is the test registry registered as an extension.
type fakeRegistry struct {
	*discoveryapitest.Registry
	component.StartFunc
	component.ShutdownFunc
}

func newFakeRegistry(eps ...discoveryapi.Endpoint) *fakeRegistry {
	return &fakeRegistry{Registry: discoveryapitest.NewRegistry(eps...)}
}

type hostWithExtensions map[component.ID]component.Component

func (h hostWithExtensions) GetExtensions() map[component.ID]component.Component { return h }

var discoveryID = component.MustNewIDWithName("discovery", "backends")

func startWithRegistry(t *testing.T, cfg *Config, reg component.Component) *tracesExporter {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tt.Shutdown(context.Background()) })
	te, err := NewFactory().CreateTraces(context.Background(), metadatatest.NewSettings(tt), cfg)
	require.NoError(t, err)
	require.NoError(t, te.Start(context.Background(), hostWithExtensions{discoveryID: reg}))
	t.Cleanup(func() { assert.NoError(t, te.Shutdown(context.Background())) })
	return te.(*tracesExporter)
}

func discoveryConfig(t *testing.T) *Config {
	cfg := testConfig(t, "127.0.0.1:1")
	cfg.Endpoints = nil
	id := discoveryID
	cfg.Discovery = &id
	require.NoError(t, cfg.Validate())
	return cfg
}

func ep(id, addr string, weight int, h discoveryapi.Health) discoveryapi.Endpoint {
	return discoveryapi.Endpoint{ID: id, Address: addr, Weight: weight, Health: h}
}

func requestsOf(s *testSink) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func TestDiscoveryWeightedAndDynamic(t *testing.T) {
	a, b, c := newTestSink(t), newTestSink(t), newTestSink(t)
	reg := newFakeRegistry(ep("a", a.addr, 3, discoveryapi.HealthHealthy), ep("b", b.addr, 1, discoveryapi.HealthUnknown))
	cfg := discoveryConfig(t)
	cfg.Balancing = BalancingRoundRobin
	cfg.Sending.BatchMaxItems = 10
	cfg.Sending.FlushInterval = time.Millisecond
	te := startWithRegistry(t, cfg, reg)

	const batches = 2000
	for i := 0; i < batches; i++ {
		require.NoError(t, te.ConsumeTraces(context.Background(), genTraces(uint64(i*10), 10)))
	}
	waitFor(t, 90*time.Second, func() bool { return a.spanCount()+b.spanCount() >= batches*10 }, "weighted delivery") // 7-11 s under moderate load, 31.7 s once under heavy load
	ra, rb := requestsOf(a), requestsOf(b)
	share := float64(ra) / float64(ra+rb)
	t.Logf("weights 3:1 -> requests %d:%d (share of a %.3f)", ra, rb, share)
	assert.InDelta(t, 0.75, share, 0.075, "weights respected within 10 %%")

	// a is removed (draining), c appears: traffic moves, nothing is lost.
	reg.Publish(ep("a", a.addr, 3, discoveryapi.HealthDraining), ep("b", b.addr, 1, discoveryapi.HealthHealthy), ep("c", c.addr, 1, discoveryapi.HealthHealthy))
	aBefore := a.spanCount()
	for i := batches; i < batches+200; i++ {
		require.NoError(t, te.ConsumeTraces(context.Background(), genTraces(uint64(i*10), 10)))
	}
	waitFor(t, 60*time.Second, func() bool { return a.spanCount()+b.spanCount()+c.spanCount() >= (batches+200)*10 }, "delivery after change")
	assert.Equal(t, aBefore, a.spanCount(), "draining endpoint gets no new data")
	assert.Positive(t, c.spanCount(), "new endpoint receives")
}

func TestDiscoveryNoEndpointsBuffersThenDelivers(t *testing.T) {
	s := newTestSink(t)
	reg := newFakeRegistry()
	te := startWithRegistry(t, discoveryConfig(t), reg)
	require.NoError(t, te.ConsumeTraces(context.Background(), genTraces(0, 100)))
	waitFor(t, 5*time.Second, func() bool { return te.e.state.Load() == stateOffline }, "offline without endpoints")
	reg.Publish(ep("s", s.addr, 1, discoveryapi.HealthHealthy))
	waitFor(t, 10*time.Second, func() bool { return s.spanCount() == 100 }, "delivered once an endpoint appears")
}

func TestDiscoveryReportsResults(t *testing.T) {
	down := newStoppedSink(t)
	up := newTestSink(t)
	reg := newFakeRegistry(ep("down", down.addr, 1, discoveryapi.HealthUnknown), ep("up", up.addr, 1, discoveryapi.HealthUnknown))
	cfg := discoveryConfig(t)
	cfg.Retry.InitialInterval = 5 * time.Second
	cfg.Retry.MaxInterval = 5 * time.Second
	te := startWithRegistry(t, cfg, reg)
	require.NoError(t, te.ConsumeTraces(context.Background(), genTraces(0, 10)))
	waitFor(t, 10*time.Second, func() bool { return up.spanCount() == 10 }, "failover to the healthy endpoint")
	assert.Positive(t, reg.Failures("down"), "failures reported for passive health")
	assert.Zero(t, reg.Failures("up"))
}

func TestDiscoveryExtensionMissingOrWrongKind(t *testing.T) {
	cfg := discoveryConfig(t)
	te, err := NewFactory().CreateTraces(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg)
	require.NoError(t, err)
	err = te.Start(context.Background(), hostWithExtensions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `extension "discovery/backends" not found`)
	require.NoError(t, te.Shutdown(context.Background()))

	cfg2 := discoveryConfig(t)
	te2, err := NewFactory().CreateTraces(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg2)
	require.NoError(t, err)
	err = te2.Start(context.Background(), hostWithExtensions{discoveryID: notARegistry{}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is not a discovery extension")
	require.NoError(t, te2.Shutdown(context.Background()))
}

func TestEndpointsAndDiscoveryExclusive(t *testing.T) {
	cfg := testConfig(t, "127.0.0.1:4317")
	id := discoveryID
	cfg.Discovery = &id
	assert.ErrorContains(t, cfg.Validate(), `"endpoints" and "discovery" cannot both be set`)
}

type notARegistry struct {
	component.StartFunc
	component.ShutdownFunc
}
