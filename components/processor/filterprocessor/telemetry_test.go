// SPDX-License-Identifier: Apache-2.0

package filterprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-edge/otelcol-edge/components/processor/filterprocessor/internal/metadata"
	"github.com/otelcol-edge/otelcol-edge/components/processor/filterprocessor/internal/metadatatest"
)

// TestContribFilteredCounters: besides the per-rule counters, each signal
// counts the items it removed in contrib filterprocessor's counter
// (otelcol_processor_filter_spans.filtered, _datapoints.filtered,
// _logs.filtered; unit "1"), with contrib's one attribute `filter` = the
// component ID; a batch that loses nothing adds 0, and dry run removes nothing.
func TestContribFilteredCounters(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := metadatatest.NewSettings(tel)
	set.ID = component.NewIDWithName(metadata.Type, "edge")
	ctx := context.Background()

	cfg := createDefaultConfig().(*Config)
	cfg.Traces.SpanConditions = []string{`attributes["http.route"] == "/healthz"`}
	cfg.Metrics.DataPointConditions = []string{`attributes["drop"] == true`}
	cfg.Logs.LogConditions = []string{`severity_number < SEVERITY_NUMBER_INFO`}
	require.NoError(t, cfg.Validate())
	f := NewFactory()

	tp, err := f.CreateTraces(ctx, set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, tp.ConsumeTraces(ctx, testTraces())) // 6 spans, 2 of them /healthz
	require.NoError(t, tp.ConsumeTraces(ctx, testTraces()))

	mp, err := f.CreateMetrics(ctx, set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	md := pmetric.NewMetrics()
	dps := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge().DataPoints()
	for i := range 5 {
		dps.AppendEmpty().Attributes().PutBool("drop", i < 3)
	}
	require.NoError(t, mp.ConsumeMetrics(ctx, md))

	lp, err := f.CreateLogs(ctx, set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	lrs.AppendEmpty().SetSeverityNumber(plog.SeverityNumberError)
	require.NoError(t, lp.ConsumeLogs(ctx, ld)) // nothing removed: adds 0

	opts := []metricdatatest.Option{metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars()}
	attrs := attribute.NewSet(attribute.String("filter", "filter/edge"))
	metadatatest.AssertEqualProcessorFilterSpansFiltered(t, tel, []metricdata.DataPoint[int64]{{Value: 4, Attributes: attrs}}, opts...)
	metadatatest.AssertEqualProcessorFilterDatapointsFiltered(t, tel, []metricdata.DataPoint[int64]{{Value: 3, Attributes: attrs}}, opts...)
	metadatatest.AssertEqualProcessorFilterLogsFiltered(t, tel, []metricdata.DataPoint[int64]{{Value: 0, Attributes: attrs}}, opts...)
	// The per-rule counters are still there.
	metadatatest.AssertEqualProcessorFilterItemsDropped(t, tel, []metricdata.DataPoint[int64]{
		{Value: 4, Attributes: attribute.NewSet(attribute.String("rule", "traces.span"), attribute.String("signal", "traces"))},
		{Value: 3, Attributes: attribute.NewSet(attribute.String("rule", "metrics.datapoint"), attribute.String("signal", "metrics"))},
	}, opts...)
	for _, p := range []component.Component{tp, mp, lp} {
		require.NoError(t, p.Shutdown(ctx))
	}

	// Dry run: nothing is removed, so nothing counts as filtered.
	dry := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, dry.Shutdown(context.Background())) })
	dset := metadatatest.NewSettings(dry)
	cfg.Mode = ModeDryRun
	dp, err := f.CreateTraces(ctx, dset, cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, dp.ConsumeTraces(ctx, testTraces()))
	metadatatest.AssertEqualProcessorFilterSpansFiltered(t, dry, []metricdata.DataPoint[int64]{
		{Value: 0, Attributes: attribute.NewSet(attribute.String("filter", "filter"))},
	}, opts...)
	require.NoError(t, dp.Shutdown(ctx))
}
