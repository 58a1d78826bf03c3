// SPDX-License-Identifier: Apache-2.0

package filterprocessor

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-edge/otelcol-edge/components/processor/filterprocessor/internal/metadata"
)

// exemplarMetrics returns metrics of every type whose data points each carry one exemplar, and
// one gauge whose metric metadata carries attributes; fillAttrs fills every exemplar's filtered
// attributes and the metadata. It returns the exemplars' and the metadata's maps to check.
func exemplarMetrics(fillAttrs func(pcommon.Map)) (pmetric.Metrics, map[string]pcommon.Map) {
	md := pmetric.NewMetrics()
	ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	maps := map[string]pcommon.Map{}
	add := func(name string, es pmetric.ExemplarSlice, attrs pcommon.Map) {
		attrs.PutStr("http.route", "/cart")
		ex := es.AppendEmpty()
		ex.SetDoubleValue(1)
		fillAttrs(ex.FilteredAttributes())
		maps[name] = ex.FilteredAttributes()
	}
	g := ms.AppendEmpty()
	g.SetName("gauge")
	dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	add("gauge", dp.Exemplars(), dp.Attributes())
	fillAttrs(g.Metadata())
	maps["metadata"] = g.Metadata()
	s := ms.AppendEmpty()
	s.SetName("sum")
	sdp := s.SetEmptySum().DataPoints().AppendEmpty()
	add("sum", sdp.Exemplars(), sdp.Attributes())
	h := ms.AppendEmpty()
	h.SetName("histogram")
	hdp := h.SetEmptyHistogram().DataPoints().AppendEmpty()
	add("histogram", hdp.Exemplars(), hdp.Attributes())
	e := ms.AppendEmpty()
	e.SetName("exponential_histogram")
	edp := e.SetEmptyExponentialHistogram().DataPoints().AppendEmpty()
	add("exponential_histogram", edp.Exemplars(), edp.Attributes())
	sm := ms.AppendEmpty()
	sm.SetName("summary")
	sm.SetEmptySummary().DataPoints().AppendEmpty().Attributes().PutStr("http.route", "/cart")
	return md, maps
}

// TestRedactExemplarsAndMetricMetadata: the filtered attributes of exemplars (on gauge, sum,
// histogram and exponential histogram points) and a metric's metadata are attributes like any
// other: key and value rules redact them, and allow_keys deletes what it does not list (it
// fails closed). Before, an exemplar carried a secret attribute past every rule.
func TestRedactExemplarsAndMetricMetadata(t *testing.T) {
	set := processortest.NewNopSettings(metadata.Type)
	ctx := context.Background()

	t.Run("rules", func(t *testing.T) {
		cfg := redactCfg()
		require.NoError(t, cfg.Validate())
		md, maps := exemplarMetrics(fill)
		p, err := newFilterProcessor(set, cfg, signalMetrics)
		require.NoError(t, err)
		_, err = p.processMetrics(ctx, md)
		require.NoError(t, err)
		for where, m := range maps {
			checkRedacted(t, m, where)
		}
	})

	t.Run("allow_keys", func(t *testing.T) {
		cfg := createDefaultConfig().(*Config)
		cfg.Redact.AllowKeys = []string{"http.*", "trace.*"}
		require.NoError(t, cfg.Validate())
		md, maps := exemplarMetrics(func(m pcommon.Map) {
			m.PutStr("http.route", "/cart")
			m.PutStr("api_key", "sk_live_secret")
			m.PutStr("user.email", "a@b.io")
		})
		p, err := newFilterProcessor(set, cfg, signalMetrics)
		require.NoError(t, err)
		_, err = p.processMetrics(ctx, md)
		require.NoError(t, err)
		for where, m := range maps {
			assert.Equal(t, map[string]any{"http.route": "/cart"}, m.AsRaw(), where)
		}
		assertNoSecret(t, md, "sk_live_secret", "a@b.io")
	})

	t.Run("dry_run changes nothing", func(t *testing.T) {
		cfg := createDefaultConfig().(*Config)
		cfg.Mode = ModeDryRun
		cfg.Redact.AllowKeys = []string{"http.*"}
		require.NoError(t, cfg.Validate())
		md, maps := exemplarMetrics(func(m pcommon.Map) { m.PutStr("api_key", "sk_live_secret") })
		p, err := newFilterProcessor(set, cfg, signalMetrics)
		require.NoError(t, err)
		_, err = p.processMetrics(ctx, md)
		require.NoError(t, err)
		for where, m := range maps {
			assert.Equal(t, map[string]any{"api_key": "sk_live_secret"}, m.AsRaw(), where)
		}
	})
}

// TestRedactExemplarsAfterFilter: exemplars of a point that a condition drops go with it; the
// others are redacted; a condition on a data point sees its metric's metadata before it is
// redacted (as it sees resource and scope attributes).
func TestRedactExemplarsAfterFilter(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.MetricConditions = []ConditionGroup{{Conditions: []string{
		`datapoint.attributes["drop"] == true`,
		`datapoint.attributes["tenant"] == nil and metric.metadata["tenant"] == "internal"`,
	}}}
	cfg.Redact.AllowKeys = []string{"http.*"}
	require.NoError(t, cfg.Validate())
	md := pmetric.NewMetrics()
	ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	internal := ms.AppendEmpty()
	internal.SetName("internal")
	internal.Metadata().PutStr("tenant", "internal") // not in allow_keys, but read by a condition
	internal.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(1)
	kept := ms.AppendEmpty()
	kept.SetName("kept")
	dps := kept.SetEmptySum().DataPoints()
	for i, drop := range []bool{true, false} {
		dp := dps.AppendEmpty()
		dp.Attributes().PutBool("drop", drop)
		dp.Attributes().PutStr("http.route", fmt.Sprint("/", i))
		dp.Exemplars().AppendEmpty().FilteredAttributes().PutStr("password", "hunter2")
	}
	p, err := newFilterProcessor(processortest.NewNopSettings(metadata.Type), cfg, signalMetrics)
	require.NoError(t, err)
	_, err = p.processMetrics(context.Background(), md)
	require.NoError(t, err)
	require.Equal(t, 1, ms.Len(), "the metric whose metadata a condition matched is dropped")
	require.Equal(t, "kept", ms.At(0).Name())
	require.Equal(t, 1, dps.Len())
	assert.Equal(t, map[string]any{"http.route": "/1"}, dps.At(0).Attributes().AsRaw())
	assert.Equal(t, 0, dps.At(0).Exemplars().At(0).FilteredAttributes().Len())
	assertNoSecret(t, md, "hunter2")
}

// assertNoSecret fails when any of the secrets appears anywhere in the metrics' OTLP JSON.
func assertNoSecret(t *testing.T, md pmetric.Metrics, secrets ...string) {
	t.Helper()
	b, err := (&pmetric.JSONMarshaler{}).MarshalMetrics(md)
	require.NoError(t, err)
	for _, s := range secrets {
		assert.False(t, strings.Contains(string(b), s), "%q left in %s", s, b)
	}
}
