// SPDX-License-Identifier: Apache-2.0

package filterprocessor // import "github.com/otelcol-edge/otelcol-edge/components/processor/filterprocessor"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
)

// filterProcessor filters and redacts one signal in a single walk over each batch.
type filterProcessor struct {
	set  *ruleSet
	red  *redactor
	tel  *telemetry
	dry  bool
	pool passPool
}

func newFilterProcessor(set processor.Settings, cfg *Config, sig signal) (*filterProcessor, error) {
	tel, err := newTelemetry(set, sig)
	if err != nil {
		return nil, err
	}
	rs, err := compileRules(cfg, sig, tel)
	if err != nil {
		return nil, err
	}
	red, err := newRedactor(&cfg.Redact)
	if err != nil {
		return nil, err
	}
	return &filterProcessor{set: rs, red: red, tel: tel, dry: cfg.Mode == ModeDryRun}, nil
}

func (p *filterProcessor) active() bool { return len(p.set.rules) > 0 || p.red.enabled() }

func (p *filterProcessor) shutdown(context.Context) error {
	p.tel.shutdown()
	return nil
}

func (p *filterProcessor) start(context.Context, component.Host) error { return nil }

// remove turns a decision into a removal: in dry run nothing is removed.
func (p *filterProcessor) remove(drop bool) bool { return drop && !p.dry }

func (p *filterProcessor) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	if !p.active() {
		return td, nil
	}
	filtering := len(p.set.rules) > 0
	before := 0
	if filtering {
		before = td.SpanCount()
		defer func() { p.tel.recordFiltered(ctx, before-td.SpanCount()) }()
	}
	st := p.pool.get(ctx, p.set, p.tel, p.red, p.dry)
	defer p.pool.finish(st)
	redacting := p.red.enabled()
	events := p.set.deepest == levelSub
	c := &st.cur
	td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		c.rs, c.res = rs, rs.Resource()
		if filtering && st.decide(levelResource) {
			return p.remove(true)
		}
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
			c.ss, c.scope = ss, ss.Scope()
			if filtering && st.decide(levelScope) {
				return p.remove(true)
			}
			ss.Spans().RemoveIf(func(span ptrace.Span) bool {
				c.span = span
				if filtering && st.decide(levelItem) {
					return p.remove(true)
				}
				if events {
					span.Events().RemoveIf(func(ev ptrace.SpanEvent) bool {
						c.event = ev
						return p.remove(st.decide(levelSub))
					})
				}
				if redacting {
					p.red.attributes(st, span.Attributes())
					for i := 0; i < span.Events().Len(); i++ {
						p.red.attributes(st, span.Events().At(i).Attributes())
					}
					for i := 0; i < span.Links().Len(); i++ {
						p.red.attributes(st, span.Links().At(i).Attributes())
					}
				}
				return false
			})
			if redacting {
				p.red.attributes(st, ss.Scope().Attributes())
			}
			return filtering && ss.Spans().Len() == 0
		})
		if redacting {
			p.red.attributes(st, rs.Resource().Attributes())
		}
		return filtering && rs.ScopeSpans().Len() == 0
	})
	if st.err != nil {
		return td, st.err
	}
	if td.ResourceSpans().Len() == 0 {
		return td, processorhelper.ErrSkipProcessingData
	}
	return td, nil
}

func (p *filterProcessor) processLogs(ctx context.Context, ld plog.Logs) (plog.Logs, error) {
	if !p.active() {
		return ld, nil
	}
	filtering := len(p.set.rules) > 0
	before := 0
	if filtering {
		before = ld.LogRecordCount()
		defer func() { p.tel.recordFiltered(ctx, before-ld.LogRecordCount()) }()
	}
	st := p.pool.get(ctx, p.set, p.tel, p.red, p.dry)
	defer p.pool.finish(st)
	redacting := p.red.enabled()
	c := &st.cur
	ld.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
		c.rl, c.res = rl, rl.Resource()
		if filtering && st.decide(levelResource) {
			return p.remove(true)
		}
		rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
			c.sl, c.scope = sl, sl.Scope()
			if filtering && st.decide(levelScope) {
				return p.remove(true)
			}
			sl.LogRecords().RemoveIf(func(lr plog.LogRecord) bool {
				c.log = lr
				if filtering && st.decide(levelItem) {
					return p.remove(true)
				}
				if redacting {
					p.red.attributes(st, lr.Attributes())
					p.red.body(st, lr.Body())
				}
				return false
			})
			if redacting {
				p.red.attributes(st, sl.Scope().Attributes())
			}
			return filtering && sl.LogRecords().Len() == 0
		})
		if redacting {
			p.red.attributes(st, rl.Resource().Attributes())
		}
		return filtering && rl.ScopeLogs().Len() == 0
	})
	if st.err != nil {
		return ld, st.err
	}
	if ld.ResourceLogs().Len() == 0 {
		return ld, processorhelper.ErrSkipProcessingData
	}
	return ld, nil
}

func (p *filterProcessor) processMetrics(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	if !p.active() {
		return md, nil
	}
	filtering := len(p.set.rules) > 0
	before := 0
	if filtering {
		before = md.DataPointCount()
		defer func() { p.tel.recordFiltered(ctx, before-md.DataPointCount()) }()
	}
	st := p.pool.get(ctx, p.set, p.tel, p.red, p.dry)
	defer p.pool.finish(st)
	redacting := p.red.enabled()
	points := p.set.deepest == levelSub || redacting
	c := &st.cur
	md.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		c.rm, c.res = rm, rm.Resource()
		if filtering && st.decide(levelResource) {
			return p.remove(true)
		}
		rm.ScopeMetrics().RemoveIf(func(sm pmetric.ScopeMetrics) bool {
			c.sm, c.scope = sm, sm.Scope()
			if filtering && st.decide(levelScope) {
				return p.remove(true)
			}
			sm.Metrics().RemoveIf(func(m pmetric.Metric) bool {
				c.metric = m
				if filtering && st.decide(levelItem) {
					return p.remove(true)
				}
				if points {
					p.dataPoints(st, m, filtering && p.set.deepest == levelSub, redacting)
				}
				if redacting {
					// Metric metadata is attributes too (allow_keys applies); redacted after
					// the data points, whose conditions may read it, as resources and scopes are.
					p.red.attributes(st, m.Metadata())
				}
				return points && filtering && dataPointCount(m) == 0 && m.Type() != pmetric.MetricTypeEmpty
			})
			if redacting {
				p.red.attributes(st, sm.Scope().Attributes())
			}
			return filtering && sm.Metrics().Len() == 0
		})
		if redacting {
			p.red.attributes(st, rm.Resource().Attributes())
		}
		return filtering && rm.ScopeMetrics().Len() == 0
	})
	if st.err != nil {
		return md, st.err
	}
	if md.ResourceMetrics().Len() == 0 {
		return md, processorhelper.ErrSkipProcessingData
	}
	return md, nil
}

// noExemplars stands for the exemplars of a summary data point, which has none. It is only
// read (its length), so one instance is shared.
var noExemplars = pmetric.NewExemplarSlice()

// dataPoints filters and redacts the data points of one metric, whatever its type. A kept
// point's exemplars are redacted with it: their filtered attributes are attributes of the
// point that an aggregation moved there, and must not leak past allow_keys or the rules.
func (p *filterProcessor) dataPoints(st *pass, m pmetric.Metric, filtering, redacting bool) {
	c := &st.cur
	visit := func(attrs pcommon.Map, exemplars pmetric.ExemplarSlice) bool {
		c.dpAttrs = attrs
		if filtering && st.decide(levelSub) {
			return p.remove(true)
		}
		if redacting {
			p.red.attributes(st, attrs)
			for i := range exemplars.Len() {
				p.red.attributes(st, exemplars.At(i).FilteredAttributes())
			}
		}
		return false
	}
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		m.Gauge().DataPoints().RemoveIf(func(dp pmetric.NumberDataPoint) bool {
			c.numDP = dp
			return visit(dp.Attributes(), dp.Exemplars())
		})
	case pmetric.MetricTypeSum:
		m.Sum().DataPoints().RemoveIf(func(dp pmetric.NumberDataPoint) bool {
			c.numDP = dp
			return visit(dp.Attributes(), dp.Exemplars())
		})
	case pmetric.MetricTypeHistogram:
		m.Histogram().DataPoints().RemoveIf(func(dp pmetric.HistogramDataPoint) bool {
			c.histDP = dp
			return visit(dp.Attributes(), dp.Exemplars())
		})
	case pmetric.MetricTypeExponentialHistogram:
		m.ExponentialHistogram().DataPoints().RemoveIf(func(dp pmetric.ExponentialHistogramDataPoint) bool {
			c.expDP = dp
			return visit(dp.Attributes(), dp.Exemplars())
		})
	case pmetric.MetricTypeSummary:
		m.Summary().DataPoints().RemoveIf(func(dp pmetric.SummaryDataPoint) bool {
			c.sumDP = dp
			return visit(dp.Attributes(), noExemplars)
		})
	}
}
