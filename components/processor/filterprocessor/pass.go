// SPDX-License-Identifier: Apache-2.0

package filterprocessor // import "github.com/otelcol-edge/otelcol-edge/components/processor/filterprocessor"

import (
	"context"
	"fmt"
	"sync"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

const noLevel = numLevels

// pass is the state of one walk over a batch: every rule of the signal is decided in the
// same walk, level by level, so each resource, scope and item is visited once.
type pass struct {
	ctx context.Context
	set *ruleSet
	tel *telemetry
	red *redactor
	dry bool
	cur cursor

	cache    []tri   // hoisted native results for the current resource / scope
	keepFrom []level // per keep rule: the ancestor level at which it was satisfied

	evaluated, dropped, kept, errors []int64 // per rule
	redacted                         []int64 // per redaction rule

	err error // first error of a rule in propagate mode
}

type passPool struct{ sync.Pool }

func (pp *passPool) get(ctx context.Context, set *ruleSet, tel *telemetry, red *redactor, dry bool) *pass {
	st, _ := pp.Get().(*pass)
	if st == nil {
		n := len(set.rules)
		st = &pass{
			cache:     make([]tri, set.slots),
			keepFrom:  make([]level, n),
			evaluated: make([]int64, n),
			dropped:   make([]int64, n),
			kept:      make([]int64, n),
			errors:    make([]int64, n),
			redacted:  make([]int64, red.rules()),
		}
	}
	st.ctx, st.set, st.tel, st.red, st.dry, st.err = ctx, set, tel, red, dry, nil
	st.cur = cursor{sig: set.sig}
	for i := range st.keepFrom {
		st.keepFrom[i] = noLevel
	}
	return st
}

// finish records the pass's counts and returns it to the pool.
func (pp *passPool) finish(st *pass) {
	st.tel.record(st)
	st.ctx = nil
	st.cur = cursor{}
	pp.Put(st)
}

// decide evaluates every rule at level l for the current cursor and reports whether the
// object at that level (resource, scope, item or sub-item) is to be removed. The first rule
// that removes it gets the count; later rules do not see it.
func (st *pass) decide(l level) bool {
	if st.err != nil {
		return false
	}
	for _, c := range st.set.hoisted[l] {
		st.cache[c.slot] = c.fast.eval(&st.cur)
	}
	for i, r := range st.set.rules {
		if l > r.target {
			continue
		}
		if r.keep {
			if l < r.target {
				if st.keepFrom[i] >= l {
					st.keepFrom[i] = noLevel
				}
				if len(r.byLevel[l]) > 0 && st.any(i, r, l) {
					st.keepFrom[i] = l
				}
				continue
			}
			st.evaluated[i]++
			if st.keepFrom[i] < l || st.any(i, r, l) {
				st.kept[i]++
				continue
			}
			st.dropped[i]++
			return st.err == nil
		}
		if len(r.byLevel[l]) > 0 && st.any(i, r, l) {
			n := int64(1)
			if l < r.target {
				n = st.countBelow(l, r.target)
			}
			st.evaluated[i] += n
			st.dropped[i] += n
			return st.err == nil
		}
		if l == r.target {
			st.evaluated[i]++
			st.kept[i]++
		}
	}
	return false
}

// any reports whether some condition of rule r at level l is true. A condition that fails is
// counted, logged (mode ignore) or remembered (mode propagate), and never causes a removal:
// it counts as false for a drop rule and as true for a keep rule.
func (st *pass) any(i int, r *rule, l level) bool {
	for _, c := range r.byLevel[l] {
		res := triDefer
		if c.fast != nil {
			if c.hoist {
				res = st.cache[c.slot]
			} else {
				res = c.fast.eval(&st.cur)
			}
		}
		switch res {
		case triTrue:
			return true
		case triFalse:
			continue
		}
		ok, err := c.eval(st.ctx, &st.cur)
		if err != nil {
			st.errors[i]++
			switch r.errMode {
			case ottl.PropagateError:
				if st.err == nil {
					st.err = fmt.Errorf("filter rule %q, condition %q: %w", r.name, c.text, err)
				}
			case ottl.IgnoreError:
				st.tel.logError(r, c, err)
			}
			if r.keep {
				return true
			}
			continue
		}
		if ok {
			return true
		}
	}
	return false
}

// countBelow counts the objects at level target under the current object at level from.
func (st *pass) countBelow(from, target level) int64 {
	c := &st.cur
	n := 0
	switch c.sig {
	case signalTraces:
		switch from {
		case levelResource:
			for i := 0; i < c.rs.ScopeSpans().Len(); i++ {
				n += countSpans(c.rs.ScopeSpans().At(i).Spans().Len(), target, func(j int) int {
					return c.rs.ScopeSpans().At(i).Spans().At(j).Events().Len()
				})
			}
		case levelScope:
			n = countSpans(c.ss.Spans().Len(), target, func(j int) int { return c.ss.Spans().At(j).Events().Len() })
		default:
			n = c.span.Events().Len()
		}
	case signalMetrics:
		switch from {
		case levelResource:
			for i := 0; i < c.rm.ScopeMetrics().Len(); i++ {
				n += countMetrics(c.rm.ScopeMetrics().At(i).Metrics(), target)
			}
		case levelScope:
			n = countMetrics(c.sm.Metrics(), target)
		default:
			n = dataPointCount(c.metric)
		}
	case signalLogs:
		switch from {
		case levelResource:
			for i := 0; i < c.rl.ScopeLogs().Len(); i++ {
				n += c.rl.ScopeLogs().At(i).LogRecords().Len()
			}
		default:
			n = c.sl.LogRecords().Len()
		}
	}
	return int64(n)
}

func countSpans(spans int, target level, events func(int) int) int {
	if target == levelItem {
		return spans
	}
	n := 0
	for j := 0; j < spans; j++ {
		n += events(j)
	}
	return n
}

func countMetrics(ms pmetric.MetricSlice, target level) int {
	if target == levelItem {
		return ms.Len()
	}
	n := 0
	for j := 0; j < ms.Len(); j++ {
		n += dataPointCount(ms.At(j))
	}
	return n
}

func dataPointCount(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	}
	return 0
}
