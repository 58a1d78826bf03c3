// SPDX-License-Identifier: Apache-2.0

package filterprocessor // import "github.com/otelcol-edge/otelcol-edge/components/processor/filterprocessor"

import (
	"context"
	"fmt"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottldatapoint"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottllog"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottlmetric"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottlresource"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottlscope"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottlspan"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottlspanevent"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/ottlfuncs"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
)

// signal is one of the three pipelines.
type signal uint8

const (
	signalTraces signal = iota
	signalMetrics
	signalLogs
)

func (s signal) String() string {
	switch s {
	case signalTraces:
		return "traces"
	case signalMetrics:
		return "metrics"
	}
	return "logs"
}

// level is the depth of an OTTL context in its signal's tree.
type level uint8

const (
	levelResource level = iota // resource
	levelScope                 // scope
	levelItem                  // span, metric, log
	levelSub                   // span event, data point
	numLevels
)

func contextName(sig signal, l level) string {
	switch l {
	case levelResource:
		return ottlresource.ContextName
	case levelScope:
		return ottlscope.ContextName
	case levelItem:
		switch sig {
		case signalTraces:
			return ottlspan.ContextName
		case signalMetrics:
			return ottlmetric.ContextName
		}
		return ottllog.ContextName
	default:
		if sig == signalTraces {
			return ottlspanevent.ContextName
		}
		return ottldatapoint.ContextName
	}
}

// itemLevel is the level a keep rule applies to when its conditions are all on resources or scopes.
func itemLevel(signal) level { return levelItem }

// condition is one compiled OTTL condition with its optional native matcher.
type condition struct {
	text  string
	lvl   level
	fast  node
	slot  int // index in the pass cache when the matcher is hoisted to an ancestor
	hoist bool
	eval  func(ctx context.Context, c *cursor) (bool, error)
}

// rule is one condition group (or one upstream explicit list).
type rule struct {
	name       string
	keep       bool
	errMode    ottl.ErrorMode
	byLevel    [numLevels][]*condition
	target     level
	attrs      metric.MeasurementOption
	conditions int
}

// ruleSet is the compiled rules of one signal.
type ruleSet struct {
	sig   signal
	rules []*rule
	// hoisted lists, per level, the conditions whose native matcher only reads that level:
	// they are evaluated once per resource or scope and cached for the items below.
	hoisted [numLevels][]*condition
	slots   int
	// deepest is the deepest level any rule has conditions at or applies to.
	deepest level
}

type parsed struct {
	lvl   level
	conds []*condition
}

// condEval makes the OTTL evaluation of a parsed condition against a cursor.
func condEval[K interface{ Close() }](c *ottl.Condition[K], mk func(*cursor) K) func(context.Context, *cursor) (bool, error) {
	return func(ctx context.Context, cur *cursor) (bool, error) {
		tCtx := mk(cur)
		ok, err := c.Eval(ctx, tCtx)
		tCtx.Close()
		return ok, err
	}
}

func withContext[K interface{ Close() }](name string, lvl level, parser *ottl.Parser[K], mk func(*cursor) K) ottl.ParserCollectionOption[parsed] {
	return ottl.WithParserCollectionContext(name, parser, ottl.WithConditionConverter(
		func(_ *ottl.ParserCollection[parsed], cg ottl.ConditionsGetter, pcs []*ottl.Condition[K]) (parsed, error) {
			out := parsed{lvl: lvl}
			texts := cg.GetConditions()
			for i, pc := range pcs {
				text := ""
				if i < len(texts) {
					text = texts[i]
				}
				out.conds = append(out.conds, &condition{text: text, lvl: lvl, eval: condEval(pc, mk)})
			}
			return out, nil
		}))
}

func newParserCollection(sig signal, set component.TelemetrySettings) (*ottl.ParserCollection[parsed], error) {
	opts := []ottl.ParserCollectionOption[parsed]{}
	rp, err := ottlresource.NewParser(ottlfuncs.StandardConverters[*ottlresource.TransformContext](), set, ottlresource.EnablePathContextNames())
	if err != nil {
		return nil, err
	}
	sp, err := ottlscope.NewParser(ottlfuncs.StandardConverters[*ottlscope.TransformContext](), set, ottlscope.EnablePathContextNames())
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		withContext(ottlresource.ContextName, levelResource, &rp, func(c *cursor) *ottlresource.TransformContext {
			return ottlresource.NewTransformContext(c.res, schemaItem(c))
		}),
		withContext(ottlscope.ContextName, levelScope, &sp, func(c *cursor) *ottlscope.TransformContext {
			return ottlscope.NewTransformContext(c.scope, c.res, scopeSchemaItem(c), schemaItem(c))
		}))
	switch sig {
	case signalTraces:
		p1, err := ottlspan.NewParser(ottlfuncs.StandardConverters[*ottlspan.TransformContext](), set, ottlspan.EnablePathContextNames())
		if err != nil {
			return nil, err
		}
		p2, err := ottlspanevent.NewParser(ottlfuncs.StandardConverters[*ottlspanevent.TransformContext](), set, ottlspanevent.EnablePathContextNames())
		if err != nil {
			return nil, err
		}
		opts = append(opts,
			withContext(ottlspan.ContextName, levelItem, &p1, func(c *cursor) *ottlspan.TransformContext {
				return ottlspan.NewTransformContext(c.rs, c.ss, c.span)
			}),
			withContext(ottlspanevent.ContextName, levelSub, &p2, func(c *cursor) *ottlspanevent.TransformContext {
				return ottlspanevent.NewTransformContext(c.rs, c.ss, c.span, c.event)
			}))
	case signalMetrics:
		p1, err := ottlmetric.NewParser(ottlfuncs.StandardConverters[*ottlmetric.TransformContext](), set, ottlmetric.EnablePathContextNames())
		if err != nil {
			return nil, err
		}
		p2, err := ottldatapoint.NewParser(ottlfuncs.StandardConverters[*ottldatapoint.TransformContext](), set, ottldatapoint.EnablePathContextNames())
		if err != nil {
			return nil, err
		}
		opts = append(opts,
			withContext(ottlmetric.ContextName, levelItem, &p1, func(c *cursor) *ottlmetric.TransformContext {
				return ottlmetric.NewTransformContext(c.rm, c.sm, c.metric)
			}),
			withContext(ottldatapoint.ContextName, levelSub, &p2, func(c *cursor) *ottldatapoint.TransformContext {
				return ottldatapoint.NewTransformContext(c.rm, c.sm, c.metric, c.dataPoint())
			}))
	case signalLogs:
		p1, err := ottllog.NewParser(ottlfuncs.StandardConverters[*ottllog.TransformContext](), set, ottllog.EnablePathContextNames())
		if err != nil {
			return nil, err
		}
		opts = append(opts, withContext(ottllog.ContextName, levelItem, &p1, func(c *cursor) *ottllog.TransformContext {
			return ottllog.NewTransformContext(c.rl, c.sl, c.log)
		}))
	}
	return ottl.NewParserCollection(set, opts...)
}

func schemaItem(c *cursor) ottl.SchemaURLItem {
	switch c.sig {
	case signalTraces:
		return c.rs
	case signalMetrics:
		return c.rm
	}
	return c.rl
}

func scopeSchemaItem(c *cursor) ottl.SchemaURLItem {
	switch c.sig {
	case signalTraces:
		return c.ss
	case signalMetrics:
		return c.sm
	}
	return c.sl
}

// groupSpec is a rule before compilation.
type groupSpec struct {
	name    string
	path    string
	keep    bool
	context string
	conds   []string
	errMode ottl.ErrorMode
}

func specs(cfg *Config, sig signal) []groupSpec {
	var out []groupSpec
	explicit := func(path, ctx string, conds []string) {
		if len(conds) > 0 {
			out = append(out, groupSpec{name: path, path: path, context: ctx, conds: conds, errMode: cfg.ErrorMode})
		}
	}
	var groups []ConditionGroup
	var key string
	switch sig {
	case signalTraces:
		explicit("traces.resource", ottlresource.ContextName, cfg.Traces.ResourceConditions)
		explicit("traces.span", ottlspan.ContextName, cfg.Traces.SpanConditions)
		explicit("traces.spanevent", ottlspanevent.ContextName, cfg.Traces.SpanEventConditions)
		groups, key = cfg.TraceConditions, "trace_conditions"
	case signalMetrics:
		explicit("metrics.resource", ottlresource.ContextName, cfg.Metrics.ResourceConditions)
		explicit("metrics.metric", ottlmetric.ContextName, cfg.Metrics.MetricConditions)
		explicit("metrics.datapoint", ottldatapoint.ContextName, cfg.Metrics.DataPointConditions)
		groups, key = cfg.MetricConditions, "metric_conditions"
	case signalLogs:
		explicit("logs.resource", ottlresource.ContextName, cfg.Logs.ResourceConditions)
		explicit("logs.log_record", ottllog.ContextName, cfg.Logs.LogConditions)
		groups, key = cfg.LogConditions, "log_conditions"
	}
	for i, g := range groups {
		s := groupSpec{
			name:    g.Name,
			path:    fmt.Sprintf("%s[%d]", key, i),
			keep:    g.Action == ActionKeep,
			context: g.Context,
			conds:   g.Conditions,
			errMode: g.ErrorMode,
		}
		if s.name == "" {
			s.name = s.path
		}
		if s.errMode == "" {
			s.errMode = cfg.ErrorMode
		}
		out = append(out, s)
	}
	return out
}

// compileRules parses every condition of a signal with OTTL (inferring contexts where no
// context is given) and attaches native matchers where the shape allows.
func compileRules(cfg *Config, sig signal, tel *telemetry) (*ruleSet, error) {
	rs := &ruleSet{sig: sig}
	sp := specs(cfg, sig)
	if len(sp) == 0 {
		return rs, nil
	}
	pc, err := newParserCollection(sig, tel.set)
	if err != nil {
		return nil, err
	}
	for _, s := range sp {
		if s.errMode == "" {
			s.errMode = ottl.PropagateError
		}
		r := &rule{name: s.name, keep: s.keep, errMode: s.errMode,
			attrs: metric.WithAttributeSet(attribute.NewSet(attribute.String("rule", s.name), attribute.String("signal", sig.String())))}
		deepest := levelResource
		for i, text := range s.conds {
			var p parsed
			var perr error
			if s.context != "" {
				p, perr = pc.ParseConditionsWithContext(s.context, ottl.NewConditionsGetter([]string{text}), true)
			} else {
				p, perr = pc.ParseConditions(ottl.NewConditionsGetter([]string{text}))
			}
			if perr != nil {
				return nil, fmt.Errorf("rule %q (%s.conditions[%d]) %q: %w", s.name, s.path, i, text, perr)
			}
			for _, c := range p.conds {
				c.text = text
				if !cfg.disableFastPath {
					c.fast = compileFast(sig, c.lvl, text)
				}
				if c.fast != nil && c.fast.depth() < c.lvl {
					c.hoist = true
					c.slot = rs.slots
					rs.slots++
					rs.hoisted[c.fast.depth()] = append(rs.hoisted[c.fast.depth()], c)
				}
				r.byLevel[c.lvl] = append(r.byLevel[c.lvl], c)
				r.conditions++
				if c.lvl > deepest {
					deepest = c.lvl
				}
			}
		}
		if deepest < levelItem {
			deepest = itemLevel(sig)
		}
		r.target = deepest
		if deepest > rs.deepest {
			rs.deepest = deepest
		}
		rs.rules = append(rs.rules, r)
	}
	return rs, nil
}

// nopTelemetry is used when only validating a configuration.
func nopTelemetry() *telemetry {
	return &telemetry{set: component.TelemetrySettings{Logger: zap.NewNop()}}
}

// dataPoint boxes the current data point for OTTL.
func (c *cursor) dataPoint() any {
	switch c.metric.Type() {
	case pmetric.MetricTypeHistogram:
		return c.histDP
	case pmetric.MetricTypeExponentialHistogram:
		return c.expDP
	case pmetric.MetricTypeSummary:
		return c.sumDP
	}
	return c.numDP
}
