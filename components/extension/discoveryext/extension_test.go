// SPDX-License-Identifier: Apache-2.0

package discoveryext

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/discoveryapi"
	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/internal/metadata"
	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/internal/metadatatest"
)

func TestLifecycle(t *testing.T) {
	f := NewFactory()
	cfg := fastConfig(staticSourceConfig("s", "127.0.0.1:4317"))
	for range 2 {
		ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(metadata.Type), cfg)
		require.NoError(t, err)
		reg, ok := ext.(discoveryapi.Registry)
		require.True(t, ok, "the extension implements discoveryapi.Registry")
		assert.Equal(t, uint64(0), reg.Snapshot().Version, "empty before Start")
		require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
		assert.Len(t, reg.Snapshot().Endpoints, 1, "static endpoints are there when Start returns")
		reg.ReportResult("s/127.0.0.1:4317", nil)
		reg.ReportResult("unknown", errors.New("x"))
		require.NoError(t, ext.Shutdown(context.Background()))
		_, err = reg.Subscribe(func(discoveryapi.Snapshot) {})
		require.ErrorIs(t, err, errShutdown)
	}
	// Shutdown without Start.
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Shutdown(context.Background()))
}

func TestPassiveEjection(t *testing.T) {
	a, b := closedAddr(t), closedAddr(t)
	cfg := fastConfig(staticSourceConfig("s", a, b))
	cfg.OutlierDetection = OutlierDetectionConfig{
		ConsecutiveFailures: 3, BaseEjectionTime: 150 * time.Millisecond, MaxEjectionTime: time.Second, MaxEjectionPercent: 50,
	}
	tt := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tt.Shutdown(context.Background())) }()
	d := startExtensionWith(t, cfg, metadatatest.NewSettings(tt))
	idA, idB := "s/"+a, "s/"+b

	send := errors.New("connection refused")
	for range 3 {
		d.ReportResult(idA, send)
	}
	start := time.Now()
	snap := waitSnapshot(t, d, "ejected", hasStates(map[string]string{a: "unhealthy", b: "unknown"}))
	assert.Contains(t, snap.Endpoints[indexOf(snap, a)].Reason, "connection refused")
	assert.Equal(t, []string{idB}, ids(snap.Eligible()))

	// 50 % of 2: b is not ejected while a is.
	for range 5 {
		d.ReportResult(idB, send)
	}
	waitSnapshot(t, d, "a back after base_ejection_time", hasStates(map[string]string{a: "unknown", b: "unknown"}))
	assert.GreaterOrEqual(t, time.Since(start), 140*time.Millisecond)

	metadatatest.AssertEqualDiscoveryEjections(t, tt, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("source", "s"))},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualDiscoveryHealthTransitions(t, tt, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("source", "s"), attribute.String("from", "unknown"), attribute.String("to", "unhealthy"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("source", "s"), attribute.String("from", "unhealthy"), attribute.String("to", "unknown"))},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualDiscoveryPanicMode(t, tt, []metricdata.DataPoint[int64]{{Value: 0}}, metricdatatest.IgnoreTimestamp())
	m, err := tt.GetMetric("otelcol_discovery_endpoints")
	require.NoError(t, err)
	unknown := attribute.NewSet(attribute.String("source", "s"), attribute.String("state", "unknown"))
	found := false
	for _, dp := range m.Data.(metricdata.Gauge[int64]).DataPoints {
		if dp.Attributes.Equals(&unknown) {
			found = true
			assert.Equal(t, int64(2), dp.Value)
		}
	}
	assert.True(t, found)
	age, err := tt.GetMetric("otelcol_discovery_snapshot_age")
	require.NoError(t, err)
	assert.GreaterOrEqual(t, age.Data.(metricdata.Gauge[float64]).DataPoints[0].Value, 0.0)
}

func TestResolveErrorMetricAndStatus(t *testing.T) {
	srv := newDNSServer(t)
	srv.setRcode(2) // SERVFAIL
	cfg := fastConfig(dnsSourceConfig("gw", DNSConfig{Name: "gw.test", Port: 1, Resolver: srv.addr, MinTTL: 20 * time.Millisecond, MaxTTL: 20 * time.Millisecond}))
	tt := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tt.Shutdown(context.Background())) }()
	host := &statusHost{}
	ext, err := NewFactory().Create(context.Background(), metadatatest.NewSettings(tt), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), host))
	defer func() { require.NoError(t, ext.Shutdown(context.Background())) }()

	waitSnapshot(t, ext.(*discovery), "recoverable error reported", func(discoveryapi.Snapshot) bool {
		ev := host.last()
		return ev != nil && ev.Status() == componentstatus.StatusRecoverableError
	})
	assert.Contains(t, host.last().Err().Error(), "source gw: query A gw.test. at "+srv.addr)
	m, err := tt.GetMetric("otelcol_discovery_resolve_errors")
	require.NoError(t, err)
	assert.GreaterOrEqual(t, m.Data.(metricdata.Sum[int64]).DataPoints[0].Value, int64(1))

	srv.setRcode(0)
	srv.set("gw.test", 1, "gw.test. 1 IN A 127.0.0.1")
	waitSnapshot(t, ext.(*discovery), "recovered", func(discoveryapi.Snapshot) bool {
		ev := host.last()
		return ev != nil && ev.Status() == componentstatus.StatusOK
	})
}

// statusHost records component status events.
type statusHost struct {
	mu     sync.Mutex
	events []*componentstatus.Event
}

func (h *statusHost) GetExtensions() map[component.ID]component.Component { return nil }

func (h *statusHost) Report(ev *componentstatus.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, ev)
}

func (h *statusHost) last() *componentstatus.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.events) == 0 {
		return nil
	}
	return h.events[len(h.events)-1]
}

func TestBlockingSubscriber(t *testing.T) {
	const n = 20
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = "127.0.0.1:" + strconv.Itoa(1000+i)
	}
	cfg := fastConfig(staticSourceConfig("s", addrs...))
	cfg.PanicThreshold = 0
	cfg.OutlierDetection = OutlierDetectionConfig{ConsecutiveFailures: 1, BaseEjectionTime: time.Hour, MaxEjectionTime: time.Hour, MaxEjectionPercent: 100}
	d := startExtension(t, cfg)

	// The slow subscriber blocks in its second call until released.
	release := make(chan struct{})
	var releaseOnce sync.Once
	releaseSlow := func() { releaseOnce.Do(func() { close(release) }) }
	defer releaseSlow() // never leave it blocked, even when the test fails
	var slowCalls atomic.Int32
	var slowLast atomic.Uint64
	unsubSlow, err := d.Subscribe(func(s discoveryapi.Snapshot) {
		if slowCalls.Add(1) == 2 {
			<-release
		}
		slowLast.Store(s.Version)
	})
	require.NoError(t, err)

	var fastVersions []uint64
	var mu sync.Mutex
	unsubFast, err := d.Subscribe(func(s discoveryapi.Snapshot) {
		mu.Lock()
		fastVersions = append(fastVersions, s.Version)
		mu.Unlock()
	})
	require.NoError(t, err)
	defer unsubFast()

	// The first ejection blocks the slow subscriber in its second call.
	waitSnapshot(t, d, "slow subscriber's first call", func(discoveryapi.Snapshot) bool { return slowCalls.Load() == 1 })
	d.ReportResult("s/"+addrs[0], errors.New("refused"))
	waitSnapshot(t, d, "slow subscriber blocked", func(discoveryapi.Snapshot) bool { return slowCalls.Load() == 2 })

	// Eject every other endpoint, one snapshot each, while the slow subscriber is stuck.
	start := time.Now()
	for _, a := range addrs[1:] {
		d.ReportResult("s/"+a, errors.New("refused"))
	}
	final := waitSnapshot(t, d, "all ejected", func(s discoveryapi.Snapshot) bool { return len(s.Eligible()) == 0 })
	deadline := time.Now().Add(2 * time.Second)
	for {
		mu.Lock()
		var last uint64
		if len(fastVersions) > 0 {
			last = fastVersions[len(fastVersions)-1]
		}
		mu.Unlock()
		if last == final.Version {
			break
		}
		require.True(t, time.Now().Before(deadline), "the fast subscriber must see the latest snapshot while the slow one blocks")
		time.Sleep(time.Millisecond)
	}
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Equal(t, int32(2), slowCalls.Load(), "the slow subscriber is still in its second call")
	mu.Lock()
	for i := 1; i < len(fastVersions); i++ {
		assert.Greater(t, fastVersions[i], fastVersions[i-1], "versions only grow")
	}
	mu.Unlock()

	// Released, the slow subscriber gets the latest snapshot, skipping the ones in between.
	releaseSlow()
	deadline = time.Now().Add(2 * time.Second)
	for slowLast.Load() != final.Version {
		require.True(t, time.Now().Before(deadline), "slow subscriber catches up")
		time.Sleep(time.Millisecond)
	}
	assert.LessOrEqual(t, slowCalls.Load(), int32(3), "intermediate snapshots were skipped")
	unsubSlow()
	unsubSlow() // idempotent

	_, err = d.Subscribe(nil)
	require.Error(t, err)
}

func TestStatusServer(t *testing.T) {
	cfg := fastConfig(staticSourceConfig("s", "127.0.0.1:4317", "127.0.0.1:4318"))
	st := confighttp.NewDefaultServerConfig()
	st.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.Status = configoptional.Some(st)
	d := startExtension(t, cfg)
	require.NotEmpty(t, d.statusAddr)

	resp, err := http.Get("http://" + d.statusAddr + "/")
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var body struct {
		Version   uint64                  `json:"version"`
		Endpoints []discoveryapi.Endpoint `json:"endpoints"`
		Panic     bool                    `json:"panic"`
		Eligible  []string                `json:"eligible"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	assert.Equal(t, d.Snapshot().Version, body.Version)
	require.Len(t, body.Endpoints, 2)
	assert.Equal(t, "unknown", body.Endpoints[0].HealthName)
	assert.Equal(t, "s", body.Endpoints[0].Source)
	assert.Equal(t, []string{"s/127.0.0.1:4317", "s/127.0.0.1:4318"}, body.Eligible)

	post, err := http.Post("http://"+d.statusAddr+"/", "text/plain", nil)
	require.NoError(t, err)
	_ = post.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, post.StatusCode)
	http.DefaultClient.CloseIdleConnections()
}

func TestStatusServerPortInUse(t *testing.T) {
	b := startTCPBackend(t, "127.0.0.1:0")
	cfg := fastConfig(staticSourceConfig("s", "127.0.0.1:4317"))
	st := confighttp.NewDefaultServerConfig()
	st.NetAddr.Endpoint = b.ln.Addr().String()
	cfg.Status = configoptional.Some(st)
	ext, err := NewFactory().Create(context.Background(), extensiontest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	err = ext.Start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, "discovery status server")
	require.NoError(t, ext.Shutdown(context.Background()))
}
