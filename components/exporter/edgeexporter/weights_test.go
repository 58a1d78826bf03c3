// SPDX-License-Identifier: Apache-2.0

package edgeexporter

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// These tests drive endpointSet.pick on a fixed clock: smooth weighted round
// robin is deterministic, so request shares are exact.

var wt0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func routedSet(t *testing.T, z ZoneRoutingConfig, ss SlowStartConfig, mp *sdkmetric.MeterProvider, eps ...*endpoint) (*endpointSet, *time.Time) {
	t.Helper()
	now := wt0
	s := newEndpointSet(BalancingRoundRobin, RetryConfig{InitialInterval: time.Minute, MaxInterval: time.Minute, Multiplier: 1})
	s.now = func() time.Time { return now }
	var err error
	if mp != nil {
		s.router, err = newRouter(z, ss, mp)
	} else {
		s.router, err = newRouter(z, ss, nil) // a nil *MeterProvider is not a nil interface
	}
	require.NoError(t, err)
	s.setEndpoints(eps)
	return s, &now
}

func zoned(id, zone string) *endpoint { return &endpoint{id: id, address: id, weight: 1, zone: zone} }

// shares picks n times and counts the picks per endpoint id.
func shares(s *endpointSet, n int) map[string]int {
	out := map[string]int{}
	for range n {
		if e := s.pick(); e != nil {
			out[e.id]++
		}
	}
	return out
}

// TestZonePreferenceAndSpillOver: with prefer_zone a, the healthy endpoints of
// zone a get every request while min_healthy of them are healthy; when fewer
// are, every healthy endpoint shares the traffic; with min_healthy_percent the
// share of healthy endpoints in the zone decides; panic mode ignores zones.
func TestZonePreferenceAndSpillOver(t *testing.T) {
	const n = 3000
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	a1, a2, b1, b2 := zoned("a1", "zone-a"), zoned("a2", "zone-a"), zoned("b1", "zone-b"), zoned("b2", "zone-b")
	s, _ := routedSet(t, ZoneRoutingConfig{PreferZone: "zone-a", MinHealthy: 2}, SlowStartConfig{}, mp, a1, b1, a2, b2)

	assert.Equal(t, map[string]int{"a1": 1500, "a2": 1500}, shares(s, n), "all traffic in the preferred zone")

	// a2 fails: one healthy endpoint in zone a, fewer than min_healthy 2:
	// spill-over to every healthy endpoint.
	s.failure(a2, errors.New("down"), 0, time.Time{})
	assert.Equal(t, map[string]int{"a1": 1000, "b1": 1000, "b2": 1000}, shares(s, n), "spill-over")

	// min_healthy 1: the one healthy endpoint of zone a takes everything.
	s.router.minHealthy = 1
	assert.Equal(t, map[string]int{"a1": 3000}, shares(s, n))
	// ...unless min_healthy_percent asks for more than 1 of 2.
	s.router.minHealthyPct = 60
	assert.Equal(t, map[string]int{"a1": 1000, "b1": 1000, "b2": 1000}, shares(s, n))
	s.router.minHealthyPct = 50
	assert.Equal(t, map[string]int{"a1": 3000}, shares(s, n))

	// Panic mode of the registry: zones are ignored.
	s.setPanic(true)
	assert.Equal(t, map[string]int{"a1": 1000, "b1": 1000, "b2": 1000}, shares(s, n), "panic: every healthy endpoint")
	s.setPanic(false)

	// Weights still apply inside the zone.
	s.success(a2)
	a1.weight = 3
	assert.Equal(t, map[string]int{"a1": 2250, "a2": 750}, shares(s, n))

	// No zone at all in the preferred zone: spill-over.
	s2, _ := routedSet(t, ZoneRoutingConfig{PreferZone: "zone-c", MinHealthy: 1}, SlowStartConfig{}, nil, zoned("a1", "zone-a"), zoned("b1", "zone-b"))
	assert.Equal(t, map[string]int{"a1": 1500, "b1": 1500}, shares(s2, n))

	// Requests by locality.
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "otelcol_exporter_edge_zone_requests" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				l, _ := dp.Attributes.Value("locality")
				got[l.AsString()] += dp.Value
			}
		}
	}
	// 3000 + 1000 + 3000 + 1000 + 3000 + 1000 + 3000 local; 2000 + 2000 + 2000 remote (spill-over and panic).
	assert.Equal(t, map[string]int64{"local": 15000, "remote": 6000}, got)
}

// TestZoneFromEnv: an empty prefer_zone takes OTELCOL_EDGE_ZONE; both empty
// ignore zones.
func TestZoneFromEnv(t *testing.T) {
	t.Setenv(zoneEnv, "zone-b")
	s, _ := routedSet(t, ZoneRoutingConfig{MinHealthy: 1}, SlowStartConfig{}, nil, zoned("a1", "zone-a"), zoned("b1", "zone-b"))
	assert.Equal(t, map[string]int{"b1": 1000}, shares(s, 1000))
	t.Setenv(zoneEnv, "")
	s, _ = routedSet(t, ZoneRoutingConfig{MinHealthy: 1}, SlowStartConfig{}, nil, zoned("a1", "zone-a"), zoned("b1", "zone-b"))
	assert.Equal(t, map[string]int{"a1": 500, "b1": 500}, shares(s, 1000))
}

// TestSlowStartRamp: an endpoint admitted beside a warm one starts at
// min_weight_percent of its weight and ramps linearly to its full weight over
// the window; it ramps again after it fails and comes back. The share is
// measured over 1000 requests at each second of the window.
func TestSlowStartRamp(t *testing.T) {
	warm := zoned("warm", "")
	s, now := routedSet(t, ZoneRoutingConfig{}, SlowStartConfig{Window: 10 * time.Second, MinWeightPercent: 10}, nil, warm)
	*now = wt0.Add(time.Hour) // warm is past its window
	fresh := zoned("fresh", "")
	s.setEndpoints([]*endpoint{warm, fresh})

	measure := func() []string {
		var ramp []string
		start := *now
		for sec := 0; sec <= 10; sec++ {
			*now = start.Add(time.Duration(sec) * time.Second)
			got := shares(s, 1000)
			// weight of fresh: 0.1 + 0.9 * sec/10 of warm's.
			w := 0.1 + 0.9*float64(sec)/10
			want := int(1000*w/(1+w) + 0.5)
			assert.InDelta(t, want, got["fresh"], 1, "second %d: %v", sec, got)
			ramp = append(ramp, fmt.Sprintf("%ds:%d", sec, got["fresh"]))
		}
		return ramp
	}
	t.Logf("fresh endpoint's requests per 1000 at each second after admission: %v", measure())

	// It fails and comes back: the ramp starts again.
	s.failure(fresh, errors.New("down"), 0, time.Time{})
	*now = now.Add(2 * time.Minute)
	s.success(fresh)
	t.Logf("after readmission: %v", measure())

	// Without slow start the new endpoint gets its full share at once.
	warm2 := zoned("warm", "")
	s2, now2 := routedSet(t, ZoneRoutingConfig{}, SlowStartConfig{}, nil, warm2)
	*now2 = wt0.Add(time.Hour)
	s2.setEndpoints([]*endpoint{warm2, zoned("fresh", "")})
	assert.Equal(t, map[string]int{"warm": 500, "fresh": 500}, shares(s2, 1000))
}

func TestRoutingConfigValidate(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoints = []string{"127.0.0.1:4317"}
	cfg.ZoneRouting = ZoneRoutingConfig{MinHealthy: -1, MinHealthyPercent: 101}
	cfg.SlowStart = SlowStartConfig{Window: -time.Second, MinWeightPercent: 200}
	err := cfg.Validate()
	require.Error(t, err)
	for _, want := range []string{
		`"zone_routing.min_healthy" must be >= 0, got -1`,
		`"zone_routing.min_healthy_percent" must be between 0 and 100, got 101`,
		`"slow_start.window" must be >= 0, got -1s`,
		`"slow_start.min_weight_percent" must be between 0 and 100, got 200`,
	} {
		assert.Contains(t, err.Error(), want)
	}
}
