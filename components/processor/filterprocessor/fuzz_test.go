// SPDX-License-Identifier: Apache-2.0

package filterprocessor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-edge/otelcol-edge/components/processor/filterprocessor/internal/metadata"
)

// The differential fuzz test: on random telemetry and random conditions of the shapes the fast
// path supports, the native matcher and OTTL must agree for every item (or the matcher must
// defer to OTTL), and whole batches processed with and without the fast path must be equal.
// `go test` runs the seed corpus (bounded); `go test -fuzz FuzzFastPath` explores further.

var (
	fzKeys    = []string{"k1", "k2", "http.route", "service.name"}
	fzStrings = []string{"a", "b", "/healthz", "GET /x", "4111", "checkout", ""}
	fzInts    = []int64{0, 1, 200, 500, 503, -1, 4111}
	fzDoubles = []float64{0.5, 200, 500, 1.5e3}
)

func fzValue(r *rand.Rand, v pcommon.Value) {
	switch r.IntN(9) {
	case 0, 1, 2:
		v.SetStr(fzStrings[r.IntN(len(fzStrings))])
	case 3, 4:
		v.SetInt(fzInts[r.IntN(len(fzInts))])
	case 5:
		v.SetDouble(fzDoubles[r.IntN(len(fzDoubles))])
	case 6:
		v.SetBool(r.IntN(2) == 0)
	case 7:
		v.SetEmptyMap().PutStr("a", "b")
	default:
		v.SetEmptySlice().AppendEmpty().SetInt(1)
	}
}

func fzAttrs(r *rand.Rand, m pcommon.Map) {
	for _, k := range fzKeys {
		if r.IntN(3) > 0 {
			fzValue(r, m.PutEmpty(k))
		}
	}
}

func fzName(r *rand.Rand) string { return fzStrings[r.IntN(len(fzStrings))] }

func fzTraces(r *rand.Rand) ptrace.Traces {
	td := ptrace.NewTraces()
	for range 2 {
		rs := td.ResourceSpans().AppendEmpty()
		fzAttrs(r, rs.Resource().Attributes())
		for range 2 {
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName(fzName(r))
			fzAttrs(r, ss.Scope().Attributes())
			for range 4 {
				s := ss.Spans().AppendEmpty()
				s.SetName(fzName(r))
				s.SetKind(ptrace.SpanKind(r.IntN(6)))
				s.Status().SetCode(ptrace.StatusCode(r.IntN(3)))
				fzAttrs(r, s.Attributes())
				for range r.IntN(3) {
					e := s.Events().AppendEmpty()
					e.SetName(fzName(r))
					fzAttrs(r, e.Attributes())
				}
			}
		}
	}
	return td
}

func fzLogs(r *rand.Rand) plog.Logs {
	ld := plog.NewLogs()
	for range 2 {
		rl := ld.ResourceLogs().AppendEmpty()
		fzAttrs(r, rl.Resource().Attributes())
		for range 2 {
			sl := rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName(fzName(r))
			for range 4 {
				l := sl.LogRecords().AppendEmpty()
				fzValue(r, l.Body())
				l.SetSeverityNumber(plog.SeverityNumber(r.IntN(25)))
				l.SetSeverityText(fzName(r))
				fzAttrs(r, l.Attributes())
			}
		}
	}
	return ld
}

func fzMetrics(r *rand.Rand) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for range 2 {
		rm := md.ResourceMetrics().AppendEmpty()
		fzAttrs(r, rm.Resource().Attributes())
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(fzName(r))
		for range 4 {
			m := sm.Metrics().AppendEmpty()
			m.SetName(fzName(r))
			m.SetUnit(fzName(r))
			var dps pmetric.NumberDataPointSlice
			if r.IntN(2) == 0 {
				dps = m.SetEmptyGauge().DataPoints()
			} else {
				dps = m.SetEmptySum().DataPoints()
			}
			for range 1 + r.IntN(3) {
				dp := dps.AppendEmpty()
				dp.SetIntValue(fzInts[r.IntN(len(fzInts))])
				fzAttrs(r, dp.Attributes())
			}
			if r.IntN(3) == 0 {
				h := sm.Metrics().AppendEmpty()
				h.SetName(fzName(r))
				fzAttrs(r, h.SetEmptyHistogram().DataPoints().AppendEmpty().Attributes())
			}
		}
	}
	return md
}

// fzPaths lists, per signal and level, paths with the kind of literal that suits them.
func fzPaths(sig signal, lvl level) []string {
	ctx := contextName(sig, lvl)
	attrs := func(prefix string) []string {
		var out []string
		for _, k := range fzKeys {
			out = append(out, fmt.Sprintf("%sattributes[%q]", prefix, k))
		}
		return out
	}
	paths := attrs("resource.")
	switch lvl {
	case levelResource:
		return attrs("")
	case levelScope:
		return append(attrs(""), "name", "scope.name")
	}
	paths = append(paths, "instrumentation_scope.name", "scope.name")
	switch {
	case sig == signalTraces && lvl == levelItem:
		paths = append(paths, append(attrs(ctx+"."), "name", "span.name", "kind", "status.code")...)
	case sig == signalTraces:
		paths = append(paths, append(attrs(""), "name", "span.name", `span.attributes["k1"]`)...)
	case sig == signalLogs:
		paths = append(paths, append(attrs(""), "body", "severity_number", "severity_text", "log.body")...)
	case sig == signalMetrics && lvl == levelItem:
		paths = append(paths, "name", "unit", "metric.name", "type")
	default:
		paths = append(paths, append(attrs(""), "metric.name", "metric.type")...)
	}
	return paths
}

func fzLiteral(r *rand.Rand, path string) string {
	switch {
	case strings.HasSuffix(path, "kind"):
		return []string{"SPAN_KIND_SERVER", "SPAN_KIND_CLIENT", "1"}[r.IntN(3)]
	case strings.HasSuffix(path, "status.code"):
		return []string{"STATUS_CODE_ERROR", "STATUS_CODE_OK", "0"}[r.IntN(3)]
	case strings.HasSuffix(path, "severity_number"):
		return []string{"SEVERITY_NUMBER_WARN", "SEVERITY_NUMBER_INFO", "9"}[r.IntN(3)]
	case strings.HasSuffix(path, "type"):
		return []string{"METRIC_DATA_TYPE_SUM", "METRIC_DATA_TYPE_GAUGE"}[r.IntN(2)]
	}
	switch r.IntN(6) {
	case 0, 1:
		return fmt.Sprintf("%q", fzStrings[r.IntN(len(fzStrings))])
	case 2:
		return fmt.Sprint(fzInts[r.IntN(len(fzInts))])
	case 3:
		return []string{"200.0", "0.5", "1500.0"}[r.IntN(3)]
	case 4:
		return []string{"true", "false"}[r.IntN(2)]
	}
	return "nil"
}

func fzCondition(r *rand.Rand, sig signal, lvl level, depth int) string {
	paths := fzPaths(sig, lvl)
	p := paths[r.IntN(len(paths))]
	n := r.IntN(10)
	if depth > 1 && n >= 7 {
		n = r.IntN(7)
	}
	ops := []string{"==", "!=", "<", "<=", ">", ">="}
	switch n {
	case 0, 1:
		return fmt.Sprintf("%s %s %s", p, ops[r.IntN(len(ops))], fzLiteral(r, p))
	case 2:
		lits := []string{}
		for range 2 + r.IntN(10) {
			lits = append(lits, fmt.Sprintf("%s == %s", p, fzLiteral(r, p)))
		}
		return strings.Join(lits, " or ")
	case 3:
		return fmt.Sprintf("%s != %s and %s != %s", p, fzLiteral(r, p), p, fzLiteral(r, p))
	case 4:
		pats := []string{"^/health", "health", "z$", "^a$", "GET /(x|y)", `\d+`, "^$", "true", "0"}
		return fmt.Sprintf("IsMatch(%s, %q)", p, pats[r.IntN(len(pats))])
	case 5:
		fn := []string{"HasPrefix", "HasSuffix"}[r.IntN(2)]
		return fmt.Sprintf("%s(%s, %q)", fn, p, []string{"GET", "z", ""}[r.IntN(3)])
	case 6:
		return fmt.Sprintf("%s %s nil", p, []string{"==", "!="}[r.IntN(2)])
	case 7:
		return fmt.Sprintf("not (%s)", fzCondition(r, sig, lvl, depth+1))
	case 8:
		return fmt.Sprintf("(%s) and %s", fzCondition(r, sig, lvl, depth+1), fzCondition(r, sig, lvl, depth+1))
	default:
		return fmt.Sprintf("%s or (%s)", fzCondition(r, sig, lvl, depth+1), fzCondition(r, sig, lvl, depth+1))
	}
}

// forEachAt calls fn with the cursor positioned on every object at level lvl.
func forEachAt(sig signal, data any, lvl level, fn func(c *cursor)) {
	c := &cursor{sig: sig}
	switch sig {
	case signalTraces:
		td := data.(ptrace.Traces)
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			c.rs = td.ResourceSpans().At(i)
			c.res = c.rs.Resource()
			if lvl == levelResource {
				fn(c)
				continue
			}
			for j := 0; j < c.rs.ScopeSpans().Len(); j++ {
				c.ss = c.rs.ScopeSpans().At(j)
				c.scope = c.ss.Scope()
				if lvl == levelScope {
					fn(c)
					continue
				}
				for k := 0; k < c.ss.Spans().Len(); k++ {
					c.span = c.ss.Spans().At(k)
					if lvl == levelItem {
						fn(c)
						continue
					}
					for e := 0; e < c.span.Events().Len(); e++ {
						c.event = c.span.Events().At(e)
						fn(c)
					}
				}
			}
		}
	case signalLogs:
		ld := data.(plog.Logs)
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			c.rl = ld.ResourceLogs().At(i)
			c.res = c.rl.Resource()
			if lvl == levelResource {
				fn(c)
				continue
			}
			for j := 0; j < c.rl.ScopeLogs().Len(); j++ {
				c.sl = c.rl.ScopeLogs().At(j)
				c.scope = c.sl.Scope()
				if lvl == levelScope {
					fn(c)
					continue
				}
				for k := 0; k < c.sl.LogRecords().Len(); k++ {
					c.log = c.sl.LogRecords().At(k)
					fn(c)
				}
			}
		}
	case signalMetrics:
		md := data.(pmetric.Metrics)
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			c.rm = md.ResourceMetrics().At(i)
			c.res = c.rm.Resource()
			if lvl == levelResource {
				fn(c)
				continue
			}
			for j := 0; j < c.rm.ScopeMetrics().Len(); j++ {
				c.sm = c.rm.ScopeMetrics().At(j)
				c.scope = c.sm.Scope()
				if lvl == levelScope {
					fn(c)
					continue
				}
				for k := 0; k < c.sm.Metrics().Len(); k++ {
					c.metric = c.sm.Metrics().At(k)
					if lvl == levelItem {
						fn(c)
						continue
					}
					switch c.metric.Type() {
					case pmetric.MetricTypeGauge, pmetric.MetricTypeSum:
						var dps pmetric.NumberDataPointSlice
						if c.metric.Type() == pmetric.MetricTypeSum {
							dps = c.metric.Sum().DataPoints()
						} else {
							dps = c.metric.Gauge().DataPoints()
						}
						for d := 0; d < dps.Len(); d++ {
							c.numDP, c.dpAttrs = dps.At(d), dps.At(d).Attributes()
							fn(c)
						}
					case pmetric.MetricTypeHistogram:
						dps := c.metric.Histogram().DataPoints()
						for d := 0; d < dps.Len(); d++ {
							c.histDP, c.dpAttrs = dps.At(d), dps.At(d).Attributes()
							fn(c)
						}
					}
				}
			}
		}
	}
}

func levelsOf(sig signal) []level {
	if sig == signalLogs {
		return []level{levelResource, levelScope, levelItem}
	}
	return []level{levelResource, levelScope, levelItem, levelSub}
}

type fzStats struct{ native, deferred, errors int }

// checkConditions compares native and OTTL evaluation of random conditions.
func checkConditions(t *testing.T, seed uint64, n int, st *fzStats) {
	r := rand.New(rand.NewPCG(seed, 7))
	ctx := context.Background()
	for _, sig := range []signal{signalTraces, signalMetrics, signalLogs} {
		var data any
		switch sig {
		case signalTraces:
			data = fzTraces(r)
		case signalMetrics:
			data = fzMetrics(r)
		default:
			data = fzLogs(r)
		}
		for range n {
			lvls := levelsOf(sig)
			lvl := lvls[r.IntN(len(lvls))]
			text := fzCondition(r, sig, lvl, 0)
			cfg := &Config{ErrorMode: ottl.PropagateError}
			grp := []ConditionGroup{{Context: contextName(sig, lvl), Conditions: []string{text}}}
			switch sig {
			case signalTraces:
				cfg.TraceConditions = grp
			case signalMetrics:
				cfg.MetricConditions = grp
			default:
				cfg.LogConditions = grp
			}
			rs, err := compileRules(cfg, sig, nopTelemetry())
			if err != nil {
				continue // a random shape OTTL rejects (e.g. an enum outside its context)
			}
			c := rs.rules[0].byLevel[lvl][0]
			require.NotNil(t, c.fast, "condition %q at %s should compile natively", text, contextName(sig, lvl))
			forEachAt(sig, data, lvl, func(cur *cursor) {
				got := c.fast.eval(cur)
				want, werr := c.eval(ctx, cur)
				if got == triDefer {
					st.deferred++
					return
				}
				st.native++
				if werr != nil {
					st.errors++
					t.Fatalf("seed %d: %q: native answered %v where OTTL fails: %v", seed, text, got, werr)
				}
				require.Equalf(t, triOf(want), got, "seed %d: %q at %s", seed, text, contextName(sig, lvl))
			})
		}
	}
}

// checkBatches compares whole batches processed with and without the fast path.
func checkBatches(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 11))
	groups := func(sig signal) []ConditionGroup {
		var out []ConditionGroup
		for i := range 1 + r.IntN(3) {
			lvls := levelsOf(sig)
			g := ConditionGroup{Name: fmt.Sprint("g", i), Action: []string{ActionDrop, ActionKeep}[r.IntN(2)], ErrorMode: ottl.IgnoreError}
			lvl := lvls[r.IntN(len(lvls))]
			g.Context = contextName(sig, lvl)
			for range 1 + r.IntN(2) {
				g.Conditions = append(g.Conditions, fzCondition(r, sig, lvl, 1))
			}
			out = append(out, g)
		}
		return out
	}
	set := processortest.NewNopSettings(metadata.Type)
	run := func(cfg *Config, fast bool, sig signal, data any) any {
		c := *cfg
		c.disableFastPath = !fast
		p, err := newFilterProcessor(set, &c, sig)
		if err != nil {
			return err.Error()
		}
		switch sig {
		case signalTraces:
			out, _ := p.processTraces(context.Background(), data.(ptrace.Traces))
			return out
		case signalMetrics:
			out, _ := p.processMetrics(context.Background(), data.(pmetric.Metrics))
			return out
		}
		out, _ := p.processLogs(context.Background(), data.(plog.Logs))
		return out
	}
	for range 5 {
		cfg := &Config{ErrorMode: ottl.IgnoreError, TraceConditions: groups(signalTraces),
			MetricConditions: groups(signalMetrics), LogConditions: groups(signalLogs)}
		td := fzTraces(r)
		td2 := ptrace.NewTraces()
		td.CopyTo(td2)
		require.Equal(t, run(cfg, false, signalTraces, td), run(cfg, true, signalTraces, td2), "seed %d traces %+v", seed, cfg.TraceConditions)
		md := fzMetrics(r)
		md2 := pmetric.NewMetrics()
		md.CopyTo(md2)
		require.Equal(t, run(cfg, false, signalMetrics, md), run(cfg, true, signalMetrics, md2), "seed %d metrics %+v", seed, cfg.MetricConditions)
		ld := fzLogs(r)
		ld2 := plog.NewLogs()
		ld.CopyTo(ld2)
		require.Equal(t, run(cfg, false, signalLogs, ld), run(cfg, true, signalLogs, ld2), "seed %d logs %+v", seed, cfg.LogConditions)
	}
}

func FuzzFastPath(f *testing.F) {
	for seed := range uint64(8) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		var st fzStats
		checkConditions(t, seed, 40, &st)
		checkBatches(t, seed)
	})
}

// TestFastPathCoverage makes sure the differential test exercises the native path, not only
// deferrals.
func TestFastPathCoverage(t *testing.T) {
	var st fzStats
	checkConditions(t, 1234, 60, &st)
	t.Logf("native answers %d, deferred to OTTL %d", st.native, st.deferred)
	require.Greater(t, st.native, 3*st.deferred)
}
