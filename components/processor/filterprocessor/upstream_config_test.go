// SPDX-License-Identifier: Apache-2.0

package filterprocessor

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-edge/otelcol-edge/components/processor/filterprocessor/internal/metadata"
)

// TestUpstreamStyleConfigFromTestdata loads the contrib-style `filter/upstream`
// instance of testdata/config.yaml and runs all three signals through the
// processors the factory builds from it, checking upstream's semantics: a
// true condition drops the item, and emptied parents go with it.
func TestUpstreamStyleConfigFromTestdata(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, "upstream").String())
	require.NoError(t, err)
	f := NewFactory()
	cfg := f.CreateDefaultConfig()
	require.NoError(t, sub.Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))
	ctx := context.Background()
	set := processortest.NewNopSettings(metadata.Type)
	host := componenttest.NewNopHost()

	// Traces: /healthz spans and "GET /ready..." spans dropped; "debug"
	// events dropped from the spans that stay.
	tsink := new(consumertest.TracesSink)
	tp, err := f.CreateTraces(ctx, set, cfg, tsink)
	require.NoError(t, err)
	require.NoError(t, tp.Start(ctx, host))
	td := testTraces()
	extra := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().AppendEmpty()
	extra.SetName("GET /ready")
	require.NoError(t, tp.ConsumeTraces(ctx, td))
	require.NoError(t, tp.Shutdown(ctx))
	require.Len(t, tsink.AllTraces(), 1)
	got := tsink.AllTraces()[0]
	assert.ElementsMatch(t, []string{"checkout /cart", "checkout /pay", "frontend /cart", "frontend /pay"}, spanNames(got))
	rss := got.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		spans := rss.At(i).ScopeSpans().At(0).Spans()
		for k := 0; k < spans.Len(); k++ {
			ev := spans.At(k).Events()
			require.Equal(t, 1, ev.Len())
			assert.Equal(t, "exception", ev.At(0).Name())
		}
	}

	// Metrics: the jvm.gc.count sum goes as a whole; dev data points go; a
	// metric left without data points goes too.
	md := pmetric.NewMetrics()
	ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	gc := ms.AppendEmpty()
	gc.SetName("jvm.gc.count")
	gc.SetEmptySum().DataPoints().AppendEmpty().SetIntValue(3)
	lat := ms.AppendEmpty()
	lat.SetName("http.latency")
	g := lat.SetEmptyGauge()
	prod := g.DataPoints().AppendEmpty()
	prod.Attributes().PutStr("env", "prod")
	dev := g.DataPoints().AppendEmpty()
	dev.Attributes().PutStr("env", "dev")
	onlyDev := ms.AppendEmpty()
	onlyDev.SetName("queue.depth")
	onlyDev.SetEmptyGauge().DataPoints().AppendEmpty().Attributes().PutStr("env", "dev")
	msink := new(consumertest.MetricsSink)
	mp, err := f.CreateMetrics(ctx, set, cfg, msink)
	require.NoError(t, err)
	require.NoError(t, mp.ConsumeMetrics(ctx, md))
	require.Len(t, msink.AllMetrics(), 1)
	out := msink.AllMetrics()[0].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	require.Equal(t, 1, out.Len())
	assert.Equal(t, "http.latency", out.At(0).Name())
	require.Equal(t, 1, out.At(0).Gauge().DataPoints().Len())
	env, _ := out.At(0).Gauge().DataPoints().At(0).Attributes().Get("env")
	assert.Equal(t, "prod", env.Str())

	// Logs: below WARN dropped; a resource left empty is removed.
	ld := plog.NewLogs()
	keep := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	w := keep.AppendEmpty()
	w.SetSeverityNumber(plog.SeverityNumberWarn)
	w.Body().SetStr("disk almost full")
	i := keep.AppendEmpty()
	i.SetSeverityNumber(plog.SeverityNumberInfo)
	quiet := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	quiet.SetSeverityNumber(plog.SeverityNumberDebug)
	lsink := new(consumertest.LogsSink)
	lp, err := f.CreateLogs(ctx, set, cfg, lsink)
	require.NoError(t, err)
	require.NoError(t, lp.ConsumeLogs(ctx, ld))
	require.Len(t, lsink.AllLogs(), 1)
	outLogs := lsink.AllLogs()[0]
	require.Equal(t, 1, outLogs.ResourceLogs().Len(), "the resource whose logs were all dropped is removed")
	require.Equal(t, 1, outLogs.LogRecordCount())
	assert.Equal(t, "disk almost full", outLogs.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str())
}
