// SPDX-License-Identifier: Apache-2.0

package enrichprocessor

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-edge/otelcol-edge/components/processor/enrichprocessor/internal/metadata"
	"github.com/otelcol-edge/otelcol-edge/components/processor/enrichprocessor/internal/metadatatest"
)

// testConfig is the default config with env detection off (tests add what
// they need) and fast retries.
func testConfig() *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Detectors.Env.Enabled = false
	cfg.Detection.Timeout = 2 * time.Second
	cfg.Detection.Retry.InitialInterval = 10 * time.Millisecond
	cfg.Detection.Retry.MaxInterval = 50 * time.Millisecond
	return cfg
}

// testEnricher starts an enricher with a fake environment, telemetry and an
// observed logger; it is shut down at the end of the test.
func testEnricher(t *testing.T, cfg *Config, env sysEnv) (*enricher, *componenttest.Telemetry, *observer.ObservedLogs) {
	t.Helper()
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := metadatatest.NewSettings(tel)
	core, logs := observer.New(zap.DebugLevel)
	set.Logger = zap.New(core)
	e := newEnricher(cfg, set)
	e.env = env
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, e.shutdown(context.Background())) })
	return e, tel, logs
}

func oneTrace(resAttrs map[string]string) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	for k, v := range resAttrs {
		rs.Resource().Attributes().PutStr(k, v)
	}
	s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetName("checkout")
	s.Attributes().PutStr("http.route", "/cart")
	return td
}

func resourceOf(td ptrace.Traces) map[string]any {
	return td.ResourceSpans().At(0).Resource().Attributes().AsRaw()
}

// TestStartNotDelayedByHangingDetector: a metadata service that never
// answers delays neither Start nor the data; Shutdown cancels it.
func TestStartNotDelayedByHangingDetector(t *testing.T) {
	srv := hangingServer(t)
	cfg := testConfig()
	cfg.Detectors.AWS.Enabled = true
	cfg.Detectors.AWS.MetadataService = MetadataServiceConfig{Enabled: true, Endpoint: srv.URL, Timeout: time.Minute}
	cfg.Detection.Timeout = time.Minute
	cfg.Static = []StaticAttribute{{Key: "site", Value: "shop-42"}}

	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	set := metadatatest.NewSettings(tel)
	e := newEnricher(cfg, set)
	e.env = fakeEnv(map[string]string{"AWS_REGION": "eu-west-1"})

	start := time.Now()
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	td, err := e.processTraces(context.Background(), oneTrace(nil))
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 500*time.Millisecond, "start and first batch must not wait for detection")
	assert.Equal(t, map[string]any{"site": "shop-42"}, resourceOf(td))

	metadatatest.AssertEqualProcessorEnrichDetectorState(t, tel, []metricdata.DataPoint[int64]{
		{Value: statePending, Attributes: attribute.NewSet(attribute.String("detector", "aws"))},
	}, metricdatatest.IgnoreTimestamp())

	start = time.Now()
	require.NoError(t, e.shutdown(context.Background()))
	assert.Less(t, time.Since(start), time.Second, "shutdown must cancel the hanging request")
}

// TestWaitFor: with wait_for, early data waits for a slow detector; it never
// waits longer than the deadline.
func TestWaitFor(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond)
		w.WriteHeader(http.StatusNotFound)
	}))
	defer slow.Close()
	cfg := testConfig()
	cfg.Detectors.AWS.Enabled = true
	cfg.Detectors.AWS.MetadataService = testMetadata(slow.URL)
	cfg.Detection.WaitFor = 5 * time.Second
	e, _, _ := testEnricher(t, cfg, fakeEnv(map[string]string{"AWS_REGION": "eu-west-1"}))
	td, err := e.processTraces(context.Background(), oneTrace(nil))
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"cloud.provider": "aws", "cloud.region": "eu-west-1"}, resourceOf(td))

	hang := hangingServer(t)
	cfg = testConfig()
	cfg.Detectors.AWS.Enabled = true
	cfg.Detectors.AWS.MetadataService = MetadataServiceConfig{Enabled: true, Endpoint: hang.URL, Timeout: time.Minute}
	cfg.Detection.Timeout = time.Minute
	cfg.Detection.WaitFor = 200 * time.Millisecond
	e, _, _ = testEnricher(t, cfg, fakeEnv(nil))
	start := time.Now()
	_, err = e.processTraces(context.Background(), oneTrace(nil))
	require.NoError(t, err)
	waited := time.Since(start)
	assert.GreaterOrEqual(t, waited, 150*time.Millisecond)
	assert.Less(t, waited, 2*time.Second)
	start = time.Now()
	_, err = e.processTraces(context.Background(), oneTrace(nil))
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 100*time.Millisecond, "after the deadline nothing waits")
}

// TestDetectorRecovers: a metadata service failing at first is retried with
// backoff until it answers; the failures are counted and logged once.
func TestDetectorRecovers(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Metadata-Flavor", "Google")
		if r.URL.Path == "/computeMetadata/v1/project/project-id" {
			_, _ = w.Write([]byte("shop-prod"))
			return
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	defer srv.Close()
	cfg := testConfig()
	cfg.Detectors.GCP.Enabled = true
	cfg.Detectors.GCP.MetadataService = testMetadata(srv.URL)
	e, tel, logs := testEnricher(t, cfg, fakeEnv(nil))

	require.Eventually(t, func() bool {
		td, _ := e.processTraces(context.Background(), oneTrace(nil))
		return resourceOf(td)["cloud.account.id"] == "shop-prod"
	}, 5*time.Second, 10*time.Millisecond)
	detector := attribute.NewSet(attribute.String("detector", "gcp"))
	metadatatest.AssertEqualProcessorEnrichDetectorErrors(t, tel, []metricdata.DataPoint[int64]{{Value: 2, Attributes: detector}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorEnrichDetectorState(t, tel, []metricdata.DataPoint[int64]{{Value: stateDetected, Attributes: detector}}, metricdatatest.IgnoreTimestamp())
	assert.Equal(t, 1, logs.FilterMessage("Detector failed; retrying in the background").Len())
}

// TestDetectedAttributeSwitches: a switched-off attribute is not added, and
// static attributes win over detected ones for the same key.
func TestDetectedAttributeSwitches(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.Detectors.Env.Enabled = true
	cfg.Detectors.Host.Enabled = true
	cfg.Detectors.Host.MachineIDFiles = []string{writeFile(t, dir, "machine-id", "m-1")}
	cfg.Detectors.Host.OSReleaseFile = ""
	cfg.Detectors.Host.ResourceAttributes = map[string]AttributeConfig{"host.arch": {Enabled: false}, "os.type": {Enabled: true}}
	cfg.Detectors.Env.ResourceAttributes = map[string]AttributeConfig{"secret": {Enabled: false}}
	cfg.Static = []StaticAttribute{{Key: "host.name", Value: "configured"}}
	e, _, _ := testEnricher(t, cfg, fakeEnv(map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "host.id=from-env,secret=x,team=a"}))
	require.Eventually(t, func() bool { return e.noWaitReady() }, 5*time.Second, 5*time.Millisecond)
	td, err := e.processTraces(context.Background(), oneTrace(nil))
	require.NoError(t, err)
	assert.Equal(t, map[string]any{
		"host.name": "configured", // static beats the host detector
		"host.id":   "from-env",   // env beats the host detector
		"os.type":   "linux",
		"team":      "a",
	}, resourceOf(td))
}

// noWaitReady reports whether every detector finished its first attempt.
func (e *enricher) noWaitReady() bool {
	select {
	case <-e.ready:
		return true
	default:
		return false
	}
}

// policyStatic applies each action to a key the telemetry already carries
// ("present") and to one it does not ("absent").
var policyStatic = []StaticAttribute{
	{Key: "present.insert", Value: "new"},
	{Key: "present.upsert", Value: "new", Action: ActionUpsert},
	{Key: "present.update", Value: "new", Action: ActionUpdate},
	{Key: "absent.insert", Value: "new", Action: ActionInsert},
	{Key: "absent.upsert", Value: int64(7), Action: ActionUpsert},
	{Key: "absent.update", Value: "new", Action: ActionUpdate},
}

var policyWant = map[string]any{
	"present.insert": "old",
	"present.upsert": "new",
	"present.update": "new",
	"absent.insert":  "new",
	"absent.upsert":  int64(7),
}

func putPresent(m pcommon.Map) {
	m.PutStr("present.insert", "old")
	m.PutStr("present.upsert", "old")
	m.PutStr("present.update", "old")
}

// TestInsertUpsertUpdateEverySignal checks the three actions on the resource
// and on the items of every signal.
func TestInsertUpsertUpdateEverySignal(t *testing.T) {
	for _, target := range []string{TargetResource, "item"} {
		t.Run(target, func(t *testing.T) {
			cfg := testConfig()
			cfg.Static = policyStatic
			if target == "item" {
				cfg.ApplyTo = []string{TargetSpan, TargetLog, TargetDataPoint}
			}
			e, tel, _ := testEnricher(t, cfg, fakeEnv(nil))
			ctx := context.Background()

			td := ptrace.NewTraces()
			rs := td.ResourceSpans().AppendEmpty()
			span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
			ld := plog.NewLogs()
			rl := ld.ResourceLogs().AppendEmpty()
			rec := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
			md := pmetric.NewMetrics()
			rm := md.ResourceMetrics().AppendEmpty()
			ms := rm.ScopeMetrics().AppendEmpty().Metrics()
			g := ms.AppendEmpty().SetEmptyGauge().DataPoints().AppendEmpty()
			s := ms.AppendEmpty().SetEmptySum().DataPoints().AppendEmpty()
			h := ms.AppendEmpty().SetEmptyHistogram().DataPoints().AppendEmpty()
			x := ms.AppendEmpty().SetEmptyExponentialHistogram().DataPoints().AppendEmpty()
			q := ms.AppendEmpty().SetEmptySummary().DataPoints().AppendEmpty()

			var check []pcommon.Map
			if target == TargetResource {
				check = []pcommon.Map{rs.Resource().Attributes(), rl.Resource().Attributes(), rm.Resource().Attributes()}
			} else {
				check = []pcommon.Map{span.Attributes(), rec.Attributes(), g.Attributes(), s.Attributes(), h.Attributes(), x.Attributes(), q.Attributes()}
			}
			for _, m := range check {
				putPresent(m)
			}
			_, err := e.processTraces(ctx, td)
			require.NoError(t, err)
			_, err = e.processLogs(ctx, ld)
			require.NoError(t, err)
			_, err = e.processMetrics(ctx, md)
			require.NoError(t, err)
			for i, m := range check {
				assert.Equal(t, policyWant, m.AsRaw(), "map %d", i)
			}
			if target == "item" {
				assert.Equal(t, 0, rs.Resource().Attributes().Len(), "resource untouched when only items are targeted")
			}
			metadatatest.AssertEqualProcessorEnrichItemsEnriched(t, tel, []metricdata.DataPoint[int64]{
				{Value: 1, Attributes: attribute.NewSet(attribute.String("signal", "traces"))},
				{Value: 1, Attributes: attribute.NewSet(attribute.String("signal", "logs"))},
				{Value: 5, Attributes: attribute.NewSet(attribute.String("signal", "metrics"))},
			}, metricdatatest.IgnoreTimestamp())

			// A second pass changes nothing (and counts nothing).
			_, err = e.processTraces(ctx, td)
			require.NoError(t, err)
			assert.Equal(t, policyWant, check[0].AsRaw())
		})
	}
}

// TestGatewayDoesNotOverwriteAgent: with the default insert action the
// detected host of the gateway does not replace the agent's.
func TestGatewayDoesNotOverwriteAgent(t *testing.T) {
	cfg := testConfig()
	cfg.Detectors.Host.Enabled = true
	cfg.Detectors.Host.MachineIDFiles = []string{filepath.Join(t.TempDir(), "none")}
	e, _, _ := testEnricher(t, cfg, fakeEnv(nil))
	require.Eventually(t, e.noWaitReady, 5*time.Second, 5*time.Millisecond)
	td, err := e.processTraces(context.Background(), oneTrace(map[string]string{"host.name": "agent-host"}))
	require.NoError(t, err)
	assert.Equal(t, "agent-host", resourceOf(td)["host.name"])

	cfg = testConfig()
	cfg.Detectors.Host.Enabled = true
	cfg.Detectors.Host.MachineIDFiles = []string{filepath.Join(t.TempDir(), "none")}
	cfg.Detection.Action = ActionUpsert
	e, _, _ = testEnricher(t, cfg, fakeEnv(nil))
	require.Eventually(t, e.noWaitReady, 5*time.Second, 5*time.Millisecond)
	td, err = e.processTraces(context.Background(), oneTrace(map[string]string{"host.name": "agent-host"}))
	require.NoError(t, err)
	assert.Equal(t, "test-host", resourceOf(td)["host.name"])
}

// TestLifecycle: the three signal processors of one component share one
// enricher through the factory, start, process and shut down.
func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	f := NewFactory()
	set := processortest.NewNopSettings(metadata.Type)
	cfg := testConfig()
	cfg.Static = []StaticAttribute{{Key: "site", Value: "shop-42"}}

	tsink, msink, lsink := new(consumertest.TracesSink), new(consumertest.MetricsSink), new(consumertest.LogsSink)
	tp, err := f.CreateTraces(ctx, set, cfg, tsink)
	require.NoError(t, err)
	mp, err := f.CreateMetrics(ctx, set, cfg, msink)
	require.NoError(t, err)
	lp, err := f.CreateLogs(ctx, set, cfg, lsink)
	require.NoError(t, err)
	assert.True(t, tp.Capabilities().MutatesData)
	sharedMu.Lock()
	assert.Equal(t, 3, shared[cfg].refs)
	sharedMu.Unlock()

	host := componenttest.NewNopHost()
	require.NoError(t, tp.Start(ctx, host))
	require.NoError(t, mp.Start(ctx, host))
	require.NoError(t, lp.Start(ctx, host))

	require.NoError(t, tp.ConsumeTraces(ctx, oneTrace(nil)))
	md := pmetric.NewMetrics()
	md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(7)
	require.NoError(t, mp.ConsumeMetrics(ctx, md))
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("hello")
	require.NoError(t, lp.ConsumeLogs(ctx, ld))

	assert.Equal(t, "shop-42", tsink.AllTraces()[0].ResourceSpans().At(0).Resource().Attributes().AsRaw()["site"])
	assert.Equal(t, "shop-42", msink.AllMetrics()[0].ResourceMetrics().At(0).Resource().Attributes().AsRaw()["site"])
	assert.Equal(t, "shop-42", lsink.AllLogs()[0].ResourceLogs().At(0).Resource().Attributes().AsRaw()["site"])

	require.NoError(t, tp.Shutdown(ctx))
	require.NoError(t, mp.Shutdown(ctx))
	require.NoError(t, lp.Shutdown(ctx))
	sharedMu.Lock()
	assert.NotContains(t, shared, cfg)
	sharedMu.Unlock()
}

// TestStartFailsOnBadLookupFile: a lookup table that cannot be loaded at
// start-up is a configuration error, reported with the line.
func TestStartFailsOnBadLookupFile(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.Lookups = []LookupConfig{{File: writeFile(t, dir, "teams.csv", "service.name,team\ncheckout,payments\ncart\n"), Key: "service.name"}}
	e := newEnricher(cfg, processortest.NewNopSettings(metadata.Type))
	err := e.start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, `lookup table "teams"`)
	require.ErrorContains(t, err, "line 3")
	require.NoError(t, e.shutdown(context.Background()))

	cfg.Lookups[0].File = filepath.Join(dir, "missing.csv")
	e = newEnricher(cfg, processortest.NewNopSettings(metadata.Type))
	require.Error(t, e.start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, e.shutdown(context.Background()))
}

// replaceFile writes content to a temporary file and renames it over path,
// as config management does.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}
