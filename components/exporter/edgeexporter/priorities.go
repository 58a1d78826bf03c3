// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"errors"
	"fmt"
	"math/bits"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// PriorityClass is one class of buffer.priorities: the items matching any of
// its rules are kept in the class's own log. Classes are listed highest
// first; items matching no class go to the implicit lowest class "default".
type PriorityClass struct {
	// Name names the class in metrics, the status page and its directory.
	Name string `mapstructure:"name"`
	// Match lists the rules of the class: an item belongs to the first
	// class (in list order) one of whose rules it matches.
	Match []PriorityRule `mapstructure:"match"`
}

// PriorityRule is one rule of a class: every condition it sets must hold.
type PriorityRule struct {
	// Signal restricts the rule to one signal: traces, metrics or logs.
	Signal string `mapstructure:"signal"`
	// LogSeverityAtLeast matches log records whose severity number is at
	// least this one: trace, debug, info, warn, error, fatal (or 1 to 24).
	// The rule then matches log records only.
	LogSeverityAtLeast string `mapstructure:"log_severity_at_least"`
	// SpanStatus "error" matches spans whose status code is Error. The
	// rule then matches spans only.
	SpanStatus string `mapstructure:"span_status"`
	// ResourceAttribute matches items whose resource has the attribute Key
	// with one of Values (one value: equals).
	ResourceAttribute *AttributeMatch `mapstructure:"resource_attribute"`
}

// AttributeMatch is an attribute key and the values it may have.
type AttributeMatch struct {
	Key    string   `mapstructure:"key"`
	Values []string `mapstructure:"values"`
}

// Limits of buffer.priorities.
const (
	maxPriorityClasses = 8
	maxRulesPerClass   = 7 // 8 classes of 7 rules and the default rule fit a 64-bit set
	// defaultClassName is the implicit lowest class: items matching no
	// class. Its log is the log of an exporter without priorities
	// (<instance>/wal), so switching priorities on keeps its data.
	defaultClassName = "default"
)

var classNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

var severityNames = map[string]plog.SeverityNumber{
	"trace": plog.SeverityNumberTrace, "debug": plog.SeverityNumberDebug, "info": plog.SeverityNumberInfo,
	"warn": plog.SeverityNumberWarn, "error": plog.SeverityNumberError, "fatal": plog.SeverityNumberFatal,
}

func parseSeverity(s string) (plog.SeverityNumber, error) {
	if n, ok := severityNames[strings.ToLower(strings.TrimSpace(s))]; ok {
		return n, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 1 && n <= 24 {
		return plog.SeverityNumber(n), nil
	}
	return 0, fmt.Errorf("%q is not a severity (trace, debug, info, warn, error, fatal or 1 to 24)", s)
}

func signalKind(s string) (uint8, bool) {
	switch s {
	case "traces":
		return kindTraces, true
	case "metrics":
		return kindMetrics, true
	case "logs":
		return kindLogs, true
	}
	return 0, false
}

// validatePriorities names every bad entry of buffer.priorities.
func validatePriorities(classes []PriorityClass) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(classes) > maxPriorityClasses {
		add("\"buffer.priorities\" lists %d classes, at most %d are allowed", len(classes), maxPriorityClasses)
	}
	seen := map[string]int{}
	for i, c := range classes {
		at := fmt.Sprintf("\"buffer.priorities[%d]\"", i)
		switch {
		case c.Name == defaultClassName:
			add("%s name %q is reserved for the items that match no class", at, c.Name)
		case !classNameRE.MatchString(c.Name):
			add("%s name %q must be 1 to 32 characters a-z, 0-9, _ or - (starting with a letter or digit)", at, c.Name)
		}
		if j, dup := seen[c.Name]; dup {
			add("%s name %q is already used by \"buffer.priorities[%d]\"", at, c.Name, j)
		} else {
			seen[c.Name] = i
		}
		if len(c.Match) == 0 {
			add("%s (%s) must list at least one rule under \"match\"", at, c.Name)
		}
		if len(c.Match) > maxRulesPerClass {
			add("%s (%s) lists %d rules, at most %d are allowed", at, c.Name, len(c.Match), maxRulesPerClass)
		}
		for k, r := range c.Match {
			if err := r.validate(); err != nil {
				add("%s.match[%d] (%s): %w", at, k, c.Name, err)
			}
		}
	}
	return errs
}

func (r PriorityRule) validate() error {
	var errs []error
	kind := uint8(0)
	if r.Signal != "" {
		k, ok := signalKind(r.Signal)
		if !ok {
			errs = append(errs, fmt.Errorf("\"signal\" must be traces, metrics or logs, got %q", r.Signal))
		}
		kind = k
	}
	if r.LogSeverityAtLeast != "" {
		if _, err := parseSeverity(r.LogSeverityAtLeast); err != nil {
			errs = append(errs, fmt.Errorf("\"log_severity_at_least\" %w", err))
		}
		if kind != 0 && kind != kindLogs {
			errs = append(errs, fmt.Errorf("\"log_severity_at_least\" matches logs only, \"signal\" is %q", r.Signal))
		}
	}
	if r.SpanStatus != "" {
		if r.SpanStatus != "error" {
			errs = append(errs, fmt.Errorf("\"span_status\" must be \"error\", got %q", r.SpanStatus))
		}
		if kind != 0 && kind != kindTraces {
			errs = append(errs, fmt.Errorf("\"span_status\" matches traces only, \"signal\" is %q", r.Signal))
		}
		if r.LogSeverityAtLeast != "" {
			errs = append(errs, errors.New("\"span_status\" and \"log_severity_at_least\" cannot both be set in one rule (a span has no severity): use two rules"))
		}
	}
	if a := r.ResourceAttribute; a != nil {
		if a.Key == "" {
			errs = append(errs, errors.New("\"resource_attribute.key\" must be set"))
		}
		if len(a.Values) == 0 {
			errs = append(errs, errors.New("\"resource_attribute.values\" must list at least one value"))
		}
	}
	if r.Signal == "" && r.LogSeverityAtLeast == "" && r.SpanStatus == "" && r.ResourceAttribute == nil {
		errs = append(errs, errors.New("sets no condition (signal, log_severity_at_least, span_status or resource_attribute)"))
	}
	return errors.Join(errs...)
}

// rule is a compiled PriorityRule of one signal.
type rule struct {
	class   uint8
	minSev  plog.SeverityNumber // 0: any
	spanErr bool
	attrKey string
	attrIn  map[string]struct{} // nil: any resource
}

func (r *rule) resourceOK(res pcommon.Resource) bool {
	if r.attrIn == nil {
		return true
	}
	v, ok := res.Attributes().Get(r.attrKey)
	if !ok {
		return false
	}
	_, in := r.attrIn[v.AsString()]
	return in
}

// signalRules are the rules that can match items of one signal, in class
// order.
type signalRules struct {
	rules []rule
	// fixed >= 0: every item of the signal belongs to this class without
	// looking at it (no rule, or the first rule has no condition left).
	fixed int
	// perItem: some rule looks at the items (severity, span status); else
	// the class is decided once per resource.
	perItem bool
}

// classifier assigns the items of a request to priority classes.
type classifier struct {
	names []string // configured classes, then "default"
	sig   [4]signalRules
}

func newClassifier(classes []PriorityClass) *classifier {
	c := &classifier{}
	for _, pc := range classes {
		c.names = append(c.names, pc.Name)
	}
	def := len(classes)
	c.names = append(c.names, defaultClassName)
	for _, kind := range []uint8{kindTraces, kindMetrics, kindLogs} {
		sr := signalRules{fixed: -1}
		for ci, pc := range classes {
			for _, pr := range pc.Match {
				if pr.Signal != "" {
					if k, _ := signalKind(pr.Signal); k != kind {
						continue
					}
				}
				if pr.LogSeverityAtLeast != "" && kind != kindLogs || pr.SpanStatus != "" && kind != kindTraces {
					continue
				}
				r := rule{class: uint8(ci), spanErr: pr.SpanStatus == "error"}
				if pr.LogSeverityAtLeast != "" {
					r.minSev, _ = parseSeverity(pr.LogSeverityAtLeast)
				}
				if a := pr.ResourceAttribute; a != nil {
					r.attrKey = a.Key
					r.attrIn = make(map[string]struct{}, len(a.Values))
					for _, v := range a.Values {
						r.attrIn[v] = struct{}{}
					}
				}
				sr.rules = append(sr.rules, r)
			}
		}
		switch {
		case len(sr.rules) == 0:
			sr.fixed = def
		case sr.rules[0].attrIn == nil && sr.rules[0].minSev == 0 && !sr.rules[0].spanErr:
			sr.fixed = int(sr.rules[0].class)
		}
		for _, r := range sr.rules {
			if r.minSev != 0 || r.spanErr {
				sr.perItem = true
			}
		}
		sr.rules = append(sr.rules, rule{class: uint8(def)}) // matches anything
		c.sig[kind] = sr
	}
	return c
}

// resourceRules returns the rules of kind whose resource condition holds
// for res (at most 57 rules: 8 classes of 7, and the default), as a bit set.
func (sr *signalRules) resourceMask(res pcommon.Resource) uint64 {
	var m uint64
	for i := range sr.rules {
		if sr.rules[i].resourceOK(res) {
			m |= 1 << uint(i)
		}
	}
	return m
}

// firstResourceOnly is the class of the first rule set in mask (rules
// without item conditions only).
func (sr *signalRules) first(mask uint64) uint8 {
	return sr.rules[bits.TrailingZeros64(mask)].class
}

// classBuf is the per-request scratch of the classes of its items.
type classBuf struct{ c []uint8 }

var classBufPool = sync.Pool{New: func() any { return &classBuf{c: make([]uint8, 0, 1024)} }}

// classified is the outcome of classifying a request: either all its items
// are in one class (single >= 0: append the request as it is) or they are
// spread over several (set: bit i for class i; per: the class of each
// item, in order).
type classified struct {
	single int
	set    uint32
	buf    *classBuf
}

func (c *classified) release() {
	if c.buf != nil {
		classBufPool.Put(c.buf)
		c.buf = nil
	}
}

func (c *classified) note(cls uint8) {
	c.buf.c = append(c.buf.c, cls)
	c.set |= 1 << cls
}

func (c *classified) done() {
	if bits.OnesCount32(c.set) == 1 {
		c.single = bits.TrailingZeros32(c.set)
	}
}

func (c *classifier) classifyLogs(ld plog.Logs) classified {
	sr := &c.sig[kindLogs]
	if sr.fixed >= 0 {
		return classified{single: sr.fixed}
	}
	out := classified{single: -1, buf: classBufPool.Get().(*classBuf)}
	out.buf.c = out.buf.c[:0]
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		mask := sr.resourceMask(rl.Resource())
		sls := rl.ScopeLogs()
		if !sr.perItem {
			cls := sr.first(mask)
			for j := 0; j < sls.Len(); j++ {
				for k := sls.At(j).LogRecords().Len(); k > 0; k-- {
					out.note(cls)
				}
			}
			continue
		}
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				sev := lrs.At(k).SeverityNumber()
				for m := mask; m != 0; m &= m - 1 {
					r := &sr.rules[bits.TrailingZeros64(m)]
					if sev >= r.minSev && !r.spanErr {
						out.note(r.class)
						break
					}
				}
			}
		}
	}
	out.done()
	return out
}

func (c *classifier) classifyTraces(td ptrace.Traces) classified {
	sr := &c.sig[kindTraces]
	if sr.fixed >= 0 {
		return classified{single: sr.fixed}
	}
	out := classified{single: -1, buf: classBufPool.Get().(*classBuf)}
	out.buf.c = out.buf.c[:0]
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		mask := sr.resourceMask(rs.Resource())
		sss := rs.ScopeSpans()
		if !sr.perItem {
			cls := sr.first(mask)
			for j := 0; j < sss.Len(); j++ {
				for k := sss.At(j).Spans().Len(); k > 0; k-- {
					out.note(cls)
				}
			}
			continue
		}
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				isErr := spans.At(k).Status().Code() == ptrace.StatusCodeError
				for m := mask; m != 0; m &= m - 1 {
					r := &sr.rules[bits.TrailingZeros64(m)]
					if (!r.spanErr || isErr) && r.minSev == 0 {
						out.note(r.class)
						break
					}
				}
			}
		}
	}
	out.done()
	return out
}

// classifyMetrics decides per resource (no rule looks at data points);
// the class of each resource entry is noted once.
func (c *classifier) classifyMetrics(md pmetric.Metrics) classified {
	sr := &c.sig[kindMetrics]
	if sr.fixed >= 0 {
		return classified{single: sr.fixed}
	}
	out := classified{single: -1, buf: classBufPool.Get().(*classBuf)}
	out.buf.c = out.buf.c[:0]
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		out.note(sr.first(sr.resourceMask(rms.At(i).Resource())))
	}
	out.done()
	return out
}

// splitLogs returns the part of ld in class cls (items in the order of
// ld), and its item count.
func splitLogs(ld plog.Logs, per []uint8, cls uint8) (plog.Logs, int) {
	out := plog.NewLogs()
	n, idx := 0, 0
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		var orl plog.ResourceLogs
		haveR := false
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			var osl plog.ScopeLogs
			haveS := false
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				if per[idx] == cls {
					if !haveR {
						orl = out.ResourceLogs().AppendEmpty()
						rl.Resource().CopyTo(orl.Resource())
						orl.SetSchemaUrl(rl.SchemaUrl())
						haveR = true
					}
					if !haveS {
						osl = orl.ScopeLogs().AppendEmpty()
						sl.Scope().CopyTo(osl.Scope())
						osl.SetSchemaUrl(sl.SchemaUrl())
						haveS = true
					}
					lrs.At(k).CopyTo(osl.LogRecords().AppendEmpty())
					n++
				}
				idx++
			}
		}
	}
	return out, n
}

// splitTraces returns the part of td in class cls, and its span count.
func splitTraces(td ptrace.Traces, per []uint8, cls uint8) (ptrace.Traces, int) {
	out := ptrace.NewTraces()
	n, idx := 0, 0
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		var ors ptrace.ResourceSpans
		haveR := false
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			var oss ptrace.ScopeSpans
			haveS := false
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				if per[idx] == cls {
					if !haveR {
						ors = out.ResourceSpans().AppendEmpty()
						rs.Resource().CopyTo(ors.Resource())
						ors.SetSchemaUrl(rs.SchemaUrl())
						haveR = true
					}
					if !haveS {
						oss = ors.ScopeSpans().AppendEmpty()
						ss.Scope().CopyTo(oss.Scope())
						oss.SetSchemaUrl(ss.SchemaUrl())
						haveS = true
					}
					spans.At(k).CopyTo(oss.Spans().AppendEmpty())
					n++
				}
				idx++
			}
		}
	}
	return out, n
}

// splitMetrics returns the resource entries of md in class cls (per holds
// one class per resource entry), and their data point count.
func splitMetrics(md pmetric.Metrics, per []uint8, cls uint8) (pmetric.Metrics, int) {
	out := pmetric.NewMetrics()
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		if per[i] == cls {
			rms.At(i).CopyTo(out.ResourceMetrics().AppendEmpty())
		}
	}
	return out, out.DataPointCount()
}
