// SPDX-License-Identifier: Apache-2.0

package filterprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-edge/otelcol-edge/components/processor/filterprocessor/internal/metadata"
)

// TestPassThrough checks that, until the filter behaviour lands, every signal
// reaches the next consumer unchanged.
func TestPassThrough(t *testing.T) {
	ctx := context.Background()
	f := NewFactory()
	set := processortest.NewNopSettings(metadata.Type)

	td := ptrace.NewTraces()
	span := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	span.SetName("checkout")
	span.Attributes().PutStr("http.route", "/cart")
	want := ptrace.NewTraces()
	td.CopyTo(want)

	tsink := new(consumertest.TracesSink)
	tp, err := f.CreateTraces(ctx, set, f.CreateDefaultConfig(), tsink)
	require.NoError(t, err)
	require.NoError(t, tp.Start(ctx, componenttest.NewNopHost()))
	require.NoError(t, tp.ConsumeTraces(ctx, td))
	require.NoError(t, tp.Shutdown(ctx))
	require.Len(t, tsink.AllTraces(), 1)
	assert.Equal(t, want, tsink.AllTraces()[0])

	md := pmetric.NewMetrics()
	md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(7)
	msink := new(consumertest.MetricsSink)
	mp, err := f.CreateMetrics(ctx, set, f.CreateDefaultConfig(), msink)
	require.NoError(t, err)
	require.NoError(t, mp.ConsumeMetrics(ctx, md))
	assert.Equal(t, 1, msink.DataPointCount())

	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("hello")
	lsink := new(consumertest.LogsSink)
	lp, err := f.CreateLogs(ctx, set, f.CreateDefaultConfig(), lsink)
	require.NoError(t, err)
	require.NoError(t, lp.ConsumeLogs(ctx, ld))
	require.Len(t, lsink.AllLogs(), 1)
	assert.Equal(t, "hello", lsink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str())
}
