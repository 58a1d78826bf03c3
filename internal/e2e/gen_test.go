// SPDX-License-Identifier: Apache-2.0

package e2e // import "github.com/otelcol-edge/otelcol-edge/internal/e2e"

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func TestGenTraces(t *testing.T) {
	td := GenTraces(4, 25, 500)
	require.Equal(t, 100, td.SpanCount())
	require.Equal(t, 4, td.ResourceSpans().Len())

	ids := SpanIDsOf(td)
	require.Len(t, ids, 100)
	for i, id := range ids {
		n, ok := SpanIDSeq(id)
		require.True(t, ok)
		assert.Equal(t, uint64(500+i), n)
		assert.False(t, pcommon.SpanID(id).IsEmpty())
	}

	rs := td.ResourceSpans().At(1)
	name, _ := rs.Resource().Attributes().Get("service.name")
	assert.Equal(t, "edge-svc-1", name.Str())
	spans := rs.ScopeSpans().At(0).Spans()
	root := spans.At(0)
	assert.True(t, root.ParentSpanID().IsEmpty())
	for i := range spans.Len() {
		sp := spans.At(i)
		n := sp.Attributes().Len()
		assert.True(t, n >= 10 && n <= 20, "span %d has %d attributes", i, n)
		assert.NotEmpty(t, sp.Name())
		assert.False(t, sp.TraceID().IsEmpty())
		if i > 0 && i < spansPerTrace {
			assert.Equal(t, root.SpanID(), sp.ParentSpanID())
			assert.Equal(t, root.TraceID(), sp.TraceID())
		}
	}
	assert.NotEqual(t, root.TraceID(), spans.At(spansPerTrace).TraceID())

	// Deterministic IDs; disjoint ranges.
	assert.Equal(t, ids, SpanIDsOf(GenTraces(4, 25, 500)))
	next := SpanIDsOf(GenTraces(1, 10, 600))
	assert.Equal(t, [8]byte(SpanIDFor(600)), next[0])

	_, ok := SpanIDSeq([8]byte{1, 2, 3})
	assert.False(t, ok)
	assert.Equal(t, 0, GenTraces(0, 10, 0).SpanCount())
}

func TestGenMetrics(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7, 100} {
		md := GenMetrics(n)
		assert.Equal(t, n, md.DataPointCount(), "n=%d", n)
	}
	md := GenMetrics(5)
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	require.Equal(t, 2, ms.Len())
	assert.Equal(t, pmetric.MetricTypeGauge, ms.At(0).Type())
	assert.Equal(t, 3, ms.At(0).Gauge().DataPoints().Len())
	assert.Equal(t, pmetric.MetricTypeSum, ms.At(1).Type())
	assert.True(t, ms.At(1).Sum().IsMonotonic())
	assert.Equal(t, 2, ms.At(1).Sum().DataPoints().Len())
}

func TestGenLogs(t *testing.T) {
	ld := GenLogs(9)
	require.Equal(t, 9, ld.LogRecordCount())
	lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(3)
	assert.Contains(t, lr.Body().Str(), "request 3")
	seq, ok := lr.Attributes().Get("e2e.seq")
	require.True(t, ok)
	assert.Equal(t, int64(3), seq.Int())
	assert.NotEmpty(t, lr.SeverityText())
	assert.False(t, lr.TraceID().IsEmpty())
}
