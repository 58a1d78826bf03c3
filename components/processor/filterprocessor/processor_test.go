// SPDX-License-Identifier: Apache-2.0

package filterprocessor

import (
	"context"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-edge/otelcol-edge/components/processor/filterprocessor/internal/metadata"
	"github.com/otelcol-edge/otelcol-edge/components/processor/filterprocessor/internal/metadatatest"
)

// testTraces: resource "svc" (service.name) with spans named after their route.
func testTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	for _, svc := range []string{"checkout", "frontend"} {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", svc)
		ss := rs.ScopeSpans().AppendEmpty()
		for _, route := range []string{"/healthz", "/cart", "/pay"} {
			s := ss.Spans().AppendEmpty()
			s.SetName(svc + " " + route)
			s.Attributes().PutStr("http.route", route)
			if route == "/pay" {
				s.Status().SetCode(ptrace.StatusCodeError)
			}
			e := s.Events().AppendEmpty()
			e.SetName("debug")
			e2 := s.Events().AppendEmpty()
			e2.SetName("exception")
		}
	}
	return td
}

func spanNames(td ptrace.Traces) []string {
	var out []string
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		ss := td.ResourceSpans().At(i).ScopeSpans()
		for j := 0; j < ss.Len(); j++ {
			for k := 0; k < ss.At(j).Spans().Len(); k++ {
				out = append(out, ss.At(j).Spans().At(k).Name())
			}
		}
	}
	return out
}

func runTraces(t *testing.T, cfg *Config, td ptrace.Traces) (ptrace.Traces, error) {
	t.Helper()
	require.NoError(t, cfg.Validate())
	p, err := newFilterProcessor(processortest.NewNopSettings(metadata.Type), cfg, signalTraces)
	require.NoError(t, err)
	return p.processTraces(context.Background(), td)
}

func TestTracesUpstreamSemantics(t *testing.T) {
	for _, fast := range []bool{true, false} {
		cfg := createDefaultConfig().(*Config)
		cfg.disableFastPath = !fast
		cfg.Traces.SpanConditions = []string{`attributes["http.route"] == "/healthz"`}
		cfg.Traces.SpanEventConditions = []string{`name == "debug"`}
		out, err := runTraces(t, cfg, testTraces())
		require.NoError(t, err)
		assert.Equal(t, []string{"checkout /cart", "checkout /pay", "frontend /cart", "frontend /pay"}, spanNames(out))
		span := out.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
		require.Equal(t, 1, span.Events().Len())
		assert.Equal(t, "exception", span.Events().At(0).Name())
	}
}

func TestTracesEmptyParentsRemoved(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.TraceConditions = []ConditionGroup{{Conditions: []string{`resource.attributes["service.name"] == "checkout"`}},
		{Conditions: []string{`IsMatch(span.name, "^frontend")`}}}
	_, err := runTraces(t, cfg, testTraces())
	assert.ErrorIs(t, err, processorhelper.ErrSkipProcessingData)
}

func TestKeepAndPrecedence(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.TraceConditions = []ConditionGroup{
		// keep only errors, plus everything of frontend
		{Name: "keep-errors", Action: ActionKeep, Conditions: []string{
			`span.status.code == STATUS_CODE_ERROR`, `resource.attributes["service.name"] == "frontend"`,
		}},
		// drop wins over keep
		{Name: "no-health", Conditions: []string{`span.attributes["http.route"] == "/healthz"`}},
	}
	out, err := runTraces(t, cfg, testTraces())
	require.NoError(t, err)
	assert.Equal(t, []string{"checkout /pay", "frontend /cart", "frontend /pay"}, spanNames(out))
}

func TestKeepSpanEvents(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.TraceConditions = []ConditionGroup{{Action: ActionKeep, Conditions: []string{`spanevent.name == "exception"`}}}
	out, err := runTraces(t, cfg, testTraces())
	require.NoError(t, err)
	assert.Len(t, spanNames(out), 6, "keep rules on span events keep spans")
	assert.Equal(t, 6, countEvents(out))
}

func countEvents(td ptrace.Traces) int {
	n := 0
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		spans := td.ResourceSpans().At(i).ScopeSpans().At(0).Spans()
		for k := 0; k < spans.Len(); k++ {
			n += spans.At(k).Events().Len()
		}
	}
	return n
}

func TestErrorModes(t *testing.T) {
	// HasPrefix on an int attribute is an OTTL error.
	td := func() ptrace.Traces {
		td := testTraces()
		td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().PutInt("n", 1)
		return td
	}
	cond := []string{`HasPrefix(span.attributes["n"], "x")`, `span.name == "checkout /cart"`}

	cfg := createDefaultConfig().(*Config)
	cfg.TraceConditions = []ConditionGroup{{Name: "r", Conditions: cond}}
	_, err := runTraces(t, cfg, td())
	require.ErrorContains(t, err, `filter rule "r", condition "HasPrefix(span.attributes[\"n\"], \"x\")"`)

	for _, mode := range []ottl.ErrorMode{ottl.IgnoreError, ottl.SilentError} {
		cfg.ErrorMode = mode
		cfg.TraceConditions[0].ErrorMode = ""
		out, err := runTraces(t, cfg, td())
		require.NoError(t, err)
		assert.Len(t, spanNames(out), 5, "failing condition counts as false; the other still drops")
	}
}

func TestDryRun(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	cfg := createDefaultConfig().(*Config)
	cfg.Mode = ModeDryRun
	cfg.TraceConditions = []ConditionGroup{{Name: "health", Conditions: []string{`span.attributes["http.route"] == "/healthz"`}}}
	cfg.Redact.Values = []ValueRule{{Builtin: PatternCard}}
	td := testTraces()
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(1).Attributes().PutInt("card", 4111111111111111)
	want := ptrace.NewTraces()
	td.CopyTo(want)
	p, err := newFilterProcessor(metadatatest.NewSettings(tel), cfg, signalTraces)
	require.NoError(t, err)
	out, err := p.processTraces(context.Background(), td)
	require.NoError(t, err)
	assert.Equal(t, want, out)
	attrs := attribute.NewSet(attribute.String("rule", "health"), attribute.String("signal", "traces"))
	metadatatest.AssertEqualProcessorFilterItemsDropped(t, tel, []metricdata.DataPoint[int64]{{Value: 2, Attributes: attrs}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorFilterValuesRedacted(t, tel, []metricdata.DataPoint[int64]{{Value: 1,
		Attributes: attribute.NewSet(attribute.String("rule", "redact.values[0]"), attribute.String("signal", "traces"))}}, metricdatatest.IgnoreTimestamp())
}

func TestPerRuleMetrics(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	cfg := createDefaultConfig().(*Config)
	cfg.ErrorMode = ottl.IgnoreError
	cfg.TraceConditions = []ConditionGroup{
		{Name: "health", Conditions: []string{`span.attributes["http.route"] == "/healthz"`}},
		{Conditions: []string{`resource.attributes["service.name"] == "frontend"`}},
		{Name: "bad", Conditions: []string{`HasPrefix(span.attributes["n"], "x")`}},
	}
	td := testTraces()
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(1).Attributes().PutInt("n", 1)
	p, err := newFilterProcessor(metadatatest.NewSettings(tel), cfg, signalTraces)
	require.NoError(t, err)
	_, err = p.processTraces(context.Background(), td)
	require.NoError(t, err)
	a := func(rule string) attribute.Set {
		return attribute.NewSet(attribute.String("rule", rule), attribute.String("signal", "traces"))
	}
	opts := []metricdatatest.Option{metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars()}
	// frontend's 3 spans go with its resource before any span-level rule sees them.
	metadatatest.AssertEqualProcessorFilterItemsDropped(t, tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: a("health")}, {Value: 3, Attributes: a("trace_conditions[1]")},
	}, opts...)
	metadatatest.AssertEqualProcessorFilterItemsEvaluated(t, tel, []metricdata.DataPoint[int64]{
		{Value: 3, Attributes: a("health")}, {Value: 5, Attributes: a("trace_conditions[1]")}, {Value: 2, Attributes: a("bad")},
	}, opts...)
	// HasPrefix fails on the int attribute and on the missing one (nil is not a string).
	metadatatest.AssertEqualProcessorFilterErrors(t, tel, []metricdata.DataPoint[int64]{{Value: 2, Attributes: a("bad")}}, opts...)
}

func TestLogsAndMetrics(t *testing.T) {
	ld := plog.NewLogs()
	sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	for i, sev := range []plog.SeverityNumber{plog.SeverityNumberDebug, plog.SeverityNumberInfo, plog.SeverityNumberError} {
		l := sl.LogRecords().AppendEmpty()
		l.SetSeverityNumber(sev)
		l.Body().SetStr(string(rune('a' + i)))
	}
	cfg := createDefaultConfig().(*Config)
	cfg.Logs.LogConditions = []string{`severity_number < SEVERITY_NUMBER_INFO`}
	require.NoError(t, cfg.Validate())
	lp, err := newFilterProcessor(processortest.NewNopSettings(metadata.Type), cfg, signalLogs)
	require.NoError(t, err)
	out, err := lp.processLogs(context.Background(), ld)
	require.NoError(t, err)
	assert.Equal(t, 2, out.LogRecordCount())

	md := pmetric.NewMetrics()
	ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	g := ms.AppendEmpty()
	g.SetName("cpu")
	g.SetEmptyGauge()
	for _, env := range []string{"dev", "prod"} {
		g.Gauge().DataPoints().AppendEmpty().Attributes().PutStr("env", env)
	}
	h := ms.AppendEmpty()
	h.SetName("latency")
	h.SetEmptyHistogram().DataPoints().AppendEmpty().Attributes().PutStr("env", "dev")
	gone := ms.AppendEmpty()
	gone.SetName("jvm.gc.count")
	gone.SetEmptySum().DataPoints().AppendEmpty()

	mcfg := createDefaultConfig().(*Config)
	mcfg.Metrics.MetricConditions = []string{`name == "jvm.gc.count" and type == METRIC_DATA_TYPE_SUM`}
	mcfg.Metrics.DataPointConditions = []string{`attributes["env"] == "dev"`}
	require.NoError(t, mcfg.Validate())
	mp, err := newFilterProcessor(processortest.NewNopSettings(metadata.Type), mcfg, signalMetrics)
	require.NoError(t, err)
	mout, err := mp.processMetrics(context.Background(), md)
	require.NoError(t, err)
	require.Equal(t, 1, mout.MetricCount(), "latency lost its only data point, jvm.gc.count was dropped")
	assert.Equal(t, 1, mout.DataPointCount())
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.TraceConditions = []ConditionGroup{{Conditions: []string{`span.name == "x"`}}}
	sink := new(consumertest.TracesSink)
	tp, err := f.CreateTraces(ctx, processortest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, tp.Start(ctx, componenttest.NewNopHost()))
	require.NoError(t, tp.ConsumeTraces(ctx, testTraces()))
	require.NoError(t, tp.Shutdown(ctx))
	assert.Equal(t, 6, sink.SpanCount())

	bad := f.CreateDefaultConfig().(*Config)
	bad.LogConditions = []ConditionGroup{{Name: "oops", Conditions: []string{`log.nope == 1`}}}
	_, err = f.CreateLogs(ctx, processortest.NewNopSettings(metadata.Type), bad, consumertest.NewNop())
	require.ErrorContains(t, err, `rule "oops"`)
}
