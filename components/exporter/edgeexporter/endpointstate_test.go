// SPDX-License-Identifier: Apache-2.0

package edgeexporter

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/metadatatest"
)

// TestFailingEndpointDoesNotHealByTime: on a fixed clock, a failed endpoint
// stays failing after its backoff expires (it is only eligible for a probe),
// is probing while a probe is in flight, and is healthy only when a request
// or probe succeeds. A removed endpoint is draining until forgotten.
func TestFailingEndpointDoesNotHealByTime(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	s := newEndpointSet(BalancingFailover, RetryConfig{InitialInterval: time.Second, MaxInterval: time.Second, Multiplier: 1})
	s.now = func() time.Time { return now }
	ep := &endpoint{id: "a", weight: 1}
	s.setEndpoints([]*endpoint{ep})
	assert.Equal(t, epHealthy, s.health()["a"])

	assert.True(t, s.failure(ep, errors.New("refused"), 0, time.Time{}), "healthy -> failing is the start of an outage")
	assert.False(t, s.failure(ep, errors.New("refused"), 0, time.Time{}), "failing -> failing is not")
	now = now.Add(time.Hour)
	assert.Equal(t, epFailing, s.health()["a"], "an hour later, with no request, still failing")
	assert.Same(t, ep, s.pick(), "but eligible for a probe")
	require.True(t, s.beginProbe(ep))
	assert.Equal(t, epProbing, s.health()["a"])
	up, outage, attempts := s.success(ep)
	assert.True(t, up)
	assert.Equal(t, time.Hour, outage)
	assert.Equal(t, 2, attempts)
	assert.Equal(t, epHealthy, s.health()["a"])

	removed, _ := s.setEndpoints(nil)
	require.Equal(t, []*endpoint{ep}, removed)
	assert.Equal(t, map[string]endpointState{"a": epDraining}, s.health())
	s.forget(removed...)
	assert.Empty(t, s.health())
}

// stateRecorder samples the state of one endpoint and keeps each change.
type stateRecorder struct {
	mu     sync.Mutex
	states []endpointState
	stop   chan struct{}
	done   chan struct{}
}

func recordStates(set *endpointSet, id string) *stateRecorder {
	r := &stateRecorder{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			if st, ok := set.health()[id]; ok {
				r.mu.Lock()
				if len(r.states) == 0 || r.states[len(r.states)-1] != st {
					r.states = append(r.states, st)
				}
				r.mu.Unlock()
			}
			select {
			case <-r.stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return r
}

func (r *stateRecorder) take() []endpointState {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.states
	r.states = nil
	return out
}

// TestEndpointStatesKillRestartNoTraffic: a real backend serves a request,
// is killed and restarted, with no traffic in between. The endpoint's state
// is exactly healthy, then failing (found by an idle probe), failing or
// probing while the backend is down (never healthy, however long), then
// healthy after the restart (a probe succeeded); the log has exactly one
// "Endpoint down" and one "Endpoint up" line, and the state metric follows.
func TestEndpointStatesKillRestartNoTraffic(t *testing.T) {
	sink := newTestSink(t)
	cfg := testConfig(t, sink.addr)
	core, logs := observer.New(zapcore.InfoLevel)
	tt := componenttest.NewTelemetry()
	set := metadatatest.NewSettings(tt)
	set.Logger = zap.New(core)
	te, err := NewFactory().CreateTraces(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, te.Start(context.Background(), componenttest.NewNopHost()))
	defer func() {
		require.NoError(t, te.Shutdown(context.Background()))
		require.NoError(t, tt.Shutdown(context.Background()))
	}()
	e := te.(*tracesExporter).e
	h := &harness{t: t, tt: tt}

	require.NoError(t, te.ConsumeTraces(context.Background(), genTraces(0, 10)))
	waitFor(t, 5*time.Second, func() bool { return sink.spanCount() == 10 }, "delivered")
	// From here on, with no traffic: the lines of the kill and the restart.
	// (A loaded machine can fail the very first request while the
	// connection is still being set up: a down/up pair before this point.)
	logs.TakeAll()
	rec := recordStates(e.eps, sink.addr)
	defer func() { close(rec.stop); <-rec.done }()
	time.Sleep(50 * time.Millisecond)
	assert.Equal(t, []endpointState{epHealthy}, rec.take())

	sink.stop()
	waitFor(t, 5*time.Second, func() bool { return e.eps.health()[sink.addr] == epFailing }, "the idle probe finds the backend down")
	// Down for a while: many probes fail, the endpoint never looks healthy.
	time.Sleep(1500 * time.Millisecond)
	assert.Equal(t, int64(0), h.sum("otelcol_exporter_edge_endpoint_healthy", "endpoint", sink.addr))
	assert.Equal(t, int64(1), h.sum("otelcol_exporter_edge_endpoint_state", "state", "failing")+h.sum("otelcol_exporter_edge_endpoint_state", "state", "probing"))
	assert.Equal(t, int64(0), h.sum("otelcol_exporter_edge_endpoint_state", "state", "healthy"))
	down := rec.take()
	require.NotEmpty(t, down)
	assert.Equal(t, epHealthy, down[0])
	assert.Equal(t, epFailing, down[1])
	assert.NotContains(t, down[1:], epHealthy, "healed by time while the backend was down: %v", down)
	assert.NotContains(t, down, epDraining)

	sink.start()
	waitFor(t, 5*time.Second, func() bool { return e.eps.health()[sink.addr] == epHealthy }, "a probe finds the backend back")
	time.Sleep(50 * time.Millisecond)
	back := rec.take()
	require.NotEmpty(t, back)
	assert.Equal(t, epHealthy, back[len(back)-1])
	assert.NotContains(t, back[:len(back)-1], epHealthy)
	assert.Equal(t, int64(1), h.sum("otelcol_exporter_edge_endpoint_state", "state", "healthy"))
	assert.Equal(t, int64(1), h.sum("otelcol_exporter_edge_endpoint_healthy", "endpoint", sink.addr))

	var msgs []string
	for _, l := range logs.All() {
		if strings := l.Message; slices.Contains([]string{"Endpoint down", "Endpoint up"}, strings) {
			msgs = append(msgs, strings)
			assert.Equal(t, sink.addr, l.ContextMap()["endpoint"])
		}
		assert.NotContains(t, l.ContextMap(), "otelcol.signal")
	}
	assert.Equal(t, []string{"Endpoint down", "Endpoint up"}, msgs)
	assert.Equal(t, 0, sink.spanCount()-10, "no data was sent in between")
}

// TestStaleFailureDoesNotMarkDown: a request or probe that started before the
// endpoint's last success and fails after it (a slow request of the outage)
// does not mark the endpoint failing again; one that started after does.
func TestStaleFailureDoesNotMarkDown(t *testing.T) {
	now := time.Unix(1000, 0)
	s := newEndpointSet(BalancingFailover, RetryConfig{InitialInterval: time.Second, MaxInterval: time.Minute, Multiplier: 2})
	s.now = func() time.Time { return now }
	ep := &endpoint{id: "a", weight: 1}
	s.setEndpoints([]*endpoint{ep})
	assert.True(t, s.failure(ep, errors.New("refused"), 0, now))
	stale := now.Add(time.Second) // a request starts during the outage
	now = now.Add(2 * time.Second)
	up, _, _ := s.success(ep) // a probe finds the backend back
	assert.True(t, up)
	now = now.Add(time.Second)
	assert.False(t, s.failure(ep, errors.New("deadline exceeded"), 0, stale), "a stale failure starts no outage")
	assert.Equal(t, epHealthy, s.health()["a"])
	assert.True(t, s.failure(ep, errors.New("refused"), 0, now), "a failure of a request started after the success does")
}
