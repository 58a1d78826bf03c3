// SPDX-License-Identifier: Apache-2.0

package discoveryext

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/discoveryapi"
)

// The state machine takes the time as an argument: these tests run on a
// controlled clock (t0 plus explicit durations), without sleeping.

var (
	t0      = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	errBoom = errors.New("boom")
)

func testState() *state {
	return newState(stateConfig{
		drainPeriod:        30 * time.Second,
		healthyThreshold:   2,
		unhealthyThreshold: 3,
		outlier: OutlierDetectionConfig{
			ConsecutiveFailures: 3, BaseEjectionTime: 10 * time.Second, MaxEjectionTime: 25 * time.Second, MaxEjectionPercent: 50,
		},
		panicThreshold: 50,
	})
}

func targets(addrs ...string) []target {
	out := make([]target, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, target{Address: a})
	}
	return out
}

func healthOf(st *state, id string) discoveryapi.Health {
	e, ok := st.entries[id]
	if !ok {
		return -1
	}
	return e.ep.Health
}

func TestStateSourceAndDrain(t *testing.T) {
	st := testState()
	require.True(t, st.applySource("s", targets("a:1", "b:1", "a:1"), t0))
	snap := st.snapshot(t0)
	require.Len(t, snap.Endpoints, 2, "duplicates are collapsed")
	assert.Equal(t, "s/a:1", snap.Endpoints[0].ID)
	assert.Equal(t, 1, snap.Endpoints[0].Weight, "weight 0 means 1")
	assert.Equal(t, discoveryapi.HealthUnknown, snap.Endpoints[0].Health)
	assert.Equal(t, "unknown", snap.Endpoints[0].HealthName)
	assert.False(t, st.applySource("s", targets("a:1", "b:1"), t0.Add(time.Second)), "same list: no change")

	// b disappears: draining for 30s, then gone.
	require.True(t, st.applySource("s", targets("a:1"), t0.Add(time.Second)))
	e := st.entries["s/b:1"]
	assert.Equal(t, discoveryapi.HealthDraining, e.ep.Health)
	assert.Equal(t, t0.Add(time.Second), e.ep.Since)
	assert.Equal(t, "removed from source s", e.ep.Reason)
	assert.Equal(t, t0.Add(31*time.Second), st.nextDeadline())
	assert.False(t, st.expire(t0.Add(30*time.Second)))
	assert.Len(t, st.snapshot(t0).Eligible(), 1)

	// It comes back while draining: it keeps its ID and leaves draining.
	require.True(t, st.applySource("s", targets("a:1", "b:1"), t0.Add(2*time.Second)))
	assert.Equal(t, discoveryapi.HealthUnknown, healthOf(st, "s/b:1"))
	require.True(t, st.applySource("s", targets("a:1"), t0.Add(3*time.Second)))
	require.True(t, st.expire(t0.Add(33*time.Second)))
	assert.Equal(t, discoveryapi.Health(-1), healthOf(st, "s/b:1"))
	assert.True(t, st.nextDeadline().IsZero())

	// Another source's list does not touch this one's endpoints.
	require.True(t, st.applySource("t", targets("c:1"), t0))
	assert.Len(t, st.entries, 2)

	// Attribute changes are changes; the old metadata map is not modified.
	md := map[string]string{"k": "v"}
	require.True(t, st.applySource("t", []target{{Address: "c:1", Weight: 5, Metadata: md}}, t0))
	old := st.snapshot(t0)
	require.True(t, st.applySource("t", []target{{Address: "c:1", Weight: 5, Metadata: map[string]string{"k": "w"}}}, t0))
	assert.Equal(t, "v", old.Endpoints[1].Metadata["k"])
	assert.Equal(t, 5, st.snapshot(t0).Endpoints[1].Weight)
}

func TestStateNoDrainPeriod(t *testing.T) {
	st := testState()
	st.cfg.drainPeriod = 0
	st.applySource("s", targets("a:1", "b:1"), t0)
	require.True(t, st.applySource("s", targets("a:1"), t0))
	assert.Len(t, st.entries, 1)
}

func TestStateActiveThresholds(t *testing.T) {
	st := testState()
	st.applySource("s", targets("a:1", "b:1"), t0)
	id := "s/a:1"

	// The first check decides for an endpoint never checked.
	require.True(t, st.applyCheck(id, nil, t0))
	assert.Equal(t, discoveryapi.HealthHealthy, healthOf(st, id))
	assert.False(t, st.applyCheck(id, nil, t0), "still healthy: no change")

	// unhealthy_threshold = 3 failures.
	assert.False(t, st.applyCheck(id, errBoom, t0.Add(time.Second)))
	assert.False(t, st.applyCheck(id, errBoom, t0.Add(2*time.Second)))
	require.True(t, st.applyCheck(id, errBoom, t0.Add(3*time.Second)))
	e := st.entries[id]
	assert.Equal(t, discoveryapi.HealthUnhealthy, e.ep.Health)
	assert.Equal(t, "health check failed: boom", e.ep.Reason)
	assert.Equal(t, t0.Add(3*time.Second), e.ep.Since)

	// A success interrupting failures resets the streak.
	st.applyCheck("s/b:1", nil, t0)
	st.applyCheck("s/b:1", errBoom, t0)
	st.applyCheck("s/b:1", errBoom, t0)
	st.applyCheck("s/b:1", nil, t0)
	st.applyCheck("s/b:1", errBoom, t0)
	st.applyCheck("s/b:1", errBoom, t0)
	assert.Equal(t, discoveryapi.HealthHealthy, healthOf(st, "s/b:1"))

	// healthy_threshold = 2 successes.
	assert.False(t, st.applyCheck(id, nil, t0.Add(4*time.Second)))
	require.True(t, st.applyCheck(id, nil, t0.Add(5*time.Second)))
	assert.Equal(t, discoveryapi.HealthHealthy, healthOf(st, id))
	assert.Equal(t, t0.Add(5*time.Second), st.entries[id].ep.Since)
	assert.Empty(t, st.entries[id].ep.Reason)

	// A new endpoint failing its first check is unhealthy at once.
	st.applySource("s", targets("a:1", "b:1", "c:1"), t0)
	require.True(t, st.applyCheck("s/c:1", errBoom, t0))
	assert.Equal(t, discoveryapi.HealthUnhealthy, healthOf(st, "s/c:1"))

	transitions, _ := st.takeEvents()
	assert.Contains(t, transitions, transition{"s", discoveryapi.HealthHealthy, discoveryapi.HealthUnhealthy})
	assert.Contains(t, transitions, transition{"s", discoveryapi.HealthUnhealthy, discoveryapi.HealthHealthy})
}

func TestStateEjectionTiming(t *testing.T) {
	st := testState()
	st.applySource("s", targets("a:1", "b:1", "c:1", "d:1"), t0)
	id := "s/a:1"
	fail := func(at time.Time, n int) (changed bool) {
		for range n {
			changed = st.applyResult(id, errBoom, at)
		}
		return changed
	}

	// Two failures and a success: no ejection.
	fail(t0, 2)
	assert.False(t, st.applyResult(id, nil, t0))
	assert.False(t, fail(t0, 2))

	// The third consecutive failure ejects for base (10s).
	require.True(t, st.applyResult(id, errBoom, t0))
	e := st.entries[id]
	assert.Equal(t, discoveryapi.HealthUnhealthy, e.ep.Health)
	assert.Contains(t, e.ep.Reason, "ejected until")
	assert.Contains(t, e.ep.Reason, "boom")
	assert.Equal(t, t0.Add(10*time.Second), st.nextDeadline())
	assert.NotContains(t, ids(st.snapshot(t0).Eligible()), id)
	assert.False(t, st.expire(t0.Add(9*time.Second)))
	require.True(t, st.expire(t0.Add(10*time.Second)))
	assert.Equal(t, discoveryapi.HealthUnknown, healthOf(st, id), "back to its active state")

	// Ejected again right away: 2 x base = 20s.
	t1 := t0.Add(11 * time.Second)
	require.True(t, fail(t1, 3))
	assert.Equal(t, t1.Add(20*time.Second), st.entries[id].ejectedUntil)
	st.expire(t1.Add(20 * time.Second))

	// Third time: 30s capped at max_ejection_time 25s.
	t2 := t1.Add(21 * time.Second)
	require.True(t, fail(t2, 3))
	assert.Equal(t, t2.Add(25*time.Second), st.entries[id].ejectedUntil)
	st.expire(t2.Add(25 * time.Second))

	// After 25s without ejection the multiplier decayed by 2 (3 -> 1), so the
	// next ejection is 2 x base.
	t3 := t2.Add(50 * time.Second)
	require.True(t, fail(t3, 3))
	assert.Equal(t, t3.Add(20*time.Second), st.entries[id].ejectedUntil)

	_, ejections := st.takeEvents()
	assert.Len(t, ejections, 4)
}

func TestStateMaxEjectionPercent(t *testing.T) {
	st := testState() // 50 % of 4 endpoints: 2 may be ejected at once
	st.applySource("s", targets("a:1", "b:1", "c:1", "d:1"), t0)
	for _, a := range []string{"a:1", "b:1", "c:1"} {
		for range 3 {
			st.applyResult("s/"+a, errBoom, t0)
		}
	}
	assert.Equal(t, discoveryapi.HealthUnhealthy, healthOf(st, "s/a:1"))
	assert.Equal(t, discoveryapi.HealthUnhealthy, healthOf(st, "s/b:1"))
	assert.Equal(t, discoveryapi.HealthUnknown, healthOf(st, "s/c:1"), "cap reached")
	// When one returns, the next failure of c ejects it.
	st.expire(t0.Add(10 * time.Second))
	require.True(t, st.applyResult("s/c:1", errBoom, t0.Add(10*time.Second)))
	assert.Equal(t, discoveryapi.HealthUnhealthy, healthOf(st, "s/c:1"))

	// With a single endpoint, one ejection is always allowed.
	one := testState()
	one.applySource("s", targets("a:1"), t0)
	for range 3 {
		one.applyResult("s/a:1", errBoom, t0)
	}
	assert.Equal(t, discoveryapi.HealthUnhealthy, healthOf(one, "s/a:1"))
	// Unknown IDs and disabled detection are ignored.
	assert.False(t, one.applyResult("nope", errBoom, t0))
	one.cfg.outlier.ConsecutiveFailures = 0
	assert.False(t, one.applyResult("s/a:1", errBoom, t0))
}

func TestStatePanic(t *testing.T) {
	st := testState()
	st.applySource("s", targets("a:1", "b:1", "c:1", "d:1"), t0)
	assert.False(t, st.panic, "unknown endpoints count as healthy")
	st.applyCheck("s/a:1", errBoom, t0)
	st.applyCheck("s/b:1", errBoom, t0)
	assert.False(t, st.panic, "2 of 4 healthy is not below 50 %")
	assert.Len(t, st.snapshot(t0).Eligible(), 2)
	st.applyCheck("s/c:1", errBoom, t0)
	assert.True(t, st.panic)
	snap := st.snapshot(t0)
	assert.True(t, snap.Panic)
	assert.Len(t, snap.Eligible(), 4, "fail open")

	// Draining endpoints do not count and are never eligible.
	st.applySource("s", targets("a:1", "b:1", "c:1"), t0)
	assert.True(t, st.panic)
	assert.Len(t, st.snapshot(t0).Eligible(), 3)
	st.applyCheck("s/c:1", nil, t0)
	st.applyCheck("s/c:1", nil, t0)
	st.applyCheck("s/b:1", nil, t0)
	st.applyCheck("s/b:1", nil, t0)
	assert.False(t, st.panic)

	st.cfg.panicThreshold = 0
	st.applyCheck("s/b:1", errBoom, t0)
	st.applyCheck("s/c:1", errBoom, t0)
	st.applyCheck("s/c:1", errBoom, t0)
	st.applyCheck("s/c:1", errBoom, t0)
	assert.False(t, st.panic, "disabled")
}

func ids(eps []discoveryapi.Endpoint) []string {
	out := make([]string, 0, len(eps))
	for _, e := range eps {
		out = append(out, e.ID)
	}
	return out
}

// TestStateMergeSources: an address listed by two sources is one endpoint.
// Its ID keeps the source that reported it first; weight and priority come
// from the earlier source of the configuration, zone and server name from the
// first that sets them, metadata is merged key by key (earlier source wins).
// It stays while any source lists it and drains when none does.
func TestStateMergeSources(t *testing.T) {
	st := testState()
	st.cfg.precedence = map[string]int{"seeds": 0, "k8s": 1}
	require.True(t, st.applySource("k8s", []target{{
		Address: "10.0.0.1:4317", Weight: 1, Zone: "zone-a", ServerName: "gw-0.gw.ns.svc.cluster.local",
		Metadata: map[string]string{"k8s.zone": "zone-a", "rack": "k8s-rack"},
	}}, t0))
	require.True(t, st.applySource("seeds", []target{{
		Address: "10.0.0.1:4317", Weight: 5, Priority: 1, Metadata: map[string]string{"rack": "r1"},
	}}, t0))
	snap := st.snapshot(t0)
	require.Len(t, snap.Endpoints, 1)
	e := snap.Endpoints[0]
	assert.Equal(t, "k8s/10.0.0.1:4317", e.ID)
	assert.Equal(t, "k8s", e.Source)
	assert.Equal(t, 5, e.Weight)
	assert.Equal(t, 1, e.Priority)
	assert.Equal(t, "zone-a", e.Zone)
	assert.Equal(t, "gw-0.gw.ns.svc.cluster.local", e.ServerName)
	assert.Equal(t, map[string]string{"k8s.zone": "zone-a", "rack": "r1"}, e.Metadata)

	// The first source drops it: one source still lists it, it stays.
	require.True(t, st.applySource("k8s", nil, t0.Add(time.Second)))
	assert.Equal(t, discoveryapi.HealthUnknown, healthOf(st, "k8s/10.0.0.1:4317"))
	assert.Equal(t, map[string]string{"rack": "r1"}, st.entries["k8s/10.0.0.1:4317"].ep.Metadata)
	// None lists it: draining for the drain period.
	require.True(t, st.applySource("seeds", nil, t0.Add(2*time.Second)))
	assert.Equal(t, discoveryapi.HealthDraining, healthOf(st, "k8s/10.0.0.1:4317"))
	require.True(t, st.expire(t0.Add(32*time.Second)))
	assert.Empty(t, st.entries)
	assert.Empty(t, st.byAddr)
}

// TestStateSourceDraining: a source may report an endpoint draining (a
// terminating pod): it gets no new traffic, ignores checks and results,
// comes back when reported ready, and leaves at once when its source drops it.
func TestStateSourceDraining(t *testing.T) {
	st := testState()
	require.True(t, st.applySource("k8s", targets("a:1", "b:1"), t0))
	require.True(t, st.applySource("k8s", []target{{Address: "a:1"}, {Address: "b:1", Draining: true}}, t0.Add(time.Second)))
	e := st.entries["k8s/b:1"]
	assert.Equal(t, discoveryapi.HealthDraining, e.ep.Health)
	assert.Equal(t, "terminating: source k8s", e.ep.Reason)
	assert.True(t, st.nextDeadline().IsZero(), "no drain deadline while the source lists it")
	assert.Len(t, st.snapshot(t0).Eligible(), 1)
	assert.False(t, st.applyCheck("k8s/b:1", nil, t0.Add(2*time.Second)))
	for range 5 {
		assert.False(t, st.applyResult("k8s/b:1", errBoom, t0.Add(2*time.Second)))
	}
	assert.False(t, st.finish(true) && st.panic, "draining endpoints do not count for panic mode")

	// Ready again: back to its health.
	require.True(t, st.applySource("k8s", targets("a:1", "b:1"), t0.Add(3*time.Second)))
	assert.Equal(t, discoveryapi.HealthUnknown, healthOf(st, "k8s/b:1"))
	// Terminating, then gone from the source: removed at once.
	require.True(t, st.applySource("k8s", []target{{Address: "a:1"}, {Address: "b:1", Draining: true}}, t0.Add(4*time.Second)))
	require.True(t, st.applySource("k8s", targets("a:1"), t0.Add(5*time.Second)))
	assert.Equal(t, discoveryapi.Health(-1), healthOf(st, "k8s/b:1"))
}
