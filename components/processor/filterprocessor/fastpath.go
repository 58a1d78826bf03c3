// SPDX-License-Identifier: Apache-2.0

package filterprocessor // import "github.com/otelcol-edge/otelcol-edge/components/processor/filterprocessor"

import (
	"regexp"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The fast path recognises the common condition shapes (comparisons of a path with a literal,
// `or`-lists of alternatives, IsMatch with a constant pattern, HasPrefix/HasSuffix, `== nil` /
// `!= nil`, combined with and/or/not) and evaluates them natively on pdata, without building
// an OTTL transform context. A native matcher answers true, false or "defer": it defers when
// a value has a type whose OTTL semantics it does not reproduce (maps, slices, bytes, doubles
// in string functions...), and the condition is then evaluated by OTTL for that item. Every
// condition is also compiled by OTTL, which stays the reference: the differential fuzz test
// checks both agree.

// tri is the answer of a native matcher.
type tri uint8

const (
	triFalse tri = iota
	triTrue
	triDefer
)

func triOf(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

// kind is the type of a value read by an accessor, mirroring what OTTL getters return.
type kind uint8

const (
	kNil kind = iota
	kStr
	kInt
	kDouble
	kBool
	kOther // maps, slices, bytes: always deferred to OTTL
)

// fval is a value read from pdata without allocating.
type fval struct {
	k kind
	s string
	i int64
	f float64
	b bool
}

func valueOf(v pcommon.Value, ok bool) fval {
	if !ok {
		return fval{}
	}
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return fval{k: kStr, s: v.Str()}
	case pcommon.ValueTypeInt:
		return fval{k: kInt, i: v.Int()}
	case pcommon.ValueTypeDouble:
		return fval{k: kDouble, f: v.Double()}
	case pcommon.ValueTypeBool:
		return fval{k: kBool, b: v.Bool()}
	case pcommon.ValueTypeEmpty:
		return fval{}
	}
	return fval{k: kOther}
}

// cursor holds the telemetry being evaluated, level by level.
type cursor struct {
	sig   signal
	res   pcommon.Resource
	scope pcommon.InstrumentationScope

	rs    ptrace.ResourceSpans
	ss    ptrace.ScopeSpans
	span  ptrace.Span
	event ptrace.SpanEvent

	rm      pmetric.ResourceMetrics
	sm      pmetric.ScopeMetrics
	metric  pmetric.Metric
	dpAttrs pcommon.Map
	// The current data point, by type (boxing it in an `any` would allocate per point: OTTL
	// gets it boxed only when it evaluates a data point condition).
	numDP  pmetric.NumberDataPoint
	histDP pmetric.HistogramDataPoint
	expDP  pmetric.ExponentialHistogramDataPoint
	sumDP  pmetric.SummaryDataPoint

	rl  plog.ResourceLogs
	sl  plog.ScopeLogs
	log plog.LogRecord
}

// accessor reads one path.
type accessor struct {
	depth level
	get   func(c *cursor) fval
	id    string // the path as written, to recognise lists of alternatives on one path
}

func attrAccessor(depth level, m func(c *cursor) pcommon.Map, key string) accessor {
	return accessor{depth: depth, get: func(c *cursor) fval { v, ok := m(c).Get(key); return valueOf(v, ok) }}
}

func strAccessor(depth level, f func(c *cursor) string) accessor {
	return accessor{depth: depth, get: func(c *cursor) fval { return fval{k: kStr, s: f(c)} }}
}

func intAccessor(depth level, f func(c *cursor) int64) accessor {
	return accessor{depth: depth, get: func(c *cursor) fval { return fval{k: kInt, i: f(c)} }}
}

// resolvePath maps a path (segments and string keys) at level lvl of signal sig to a native
// accessor, or reports false when the path is not supported natively.
func resolvePath(sig signal, lvl level, segs, keys []string) (accessor, bool) {
	ctxName := contextName(sig, lvl)
	if len(segs) > 1 && segs[0] == ctxName {
		segs = segs[1:]
	}
	if len(keys) > 1 {
		return accessor{}, false
	}
	key := ""
	if len(keys) == 1 {
		key = keys[0]
	}
	path := strings.Join(segs, ".")
	if len(keys) == 1 {
		path += "[]"
	}
	resAttrs := func(c *cursor) pcommon.Map { return c.res.Attributes() }
	scopeAttrs := func(c *cursor) pcommon.Map { return c.scope.Attributes() }
	scopeName := func(c *cursor) string { return c.scope.Name() }
	scopeVersion := func(c *cursor) string { return c.scope.Version() }
	// Paths to ancestors, valid below their level.
	if lvl > levelResource && path == "resource.attributes[]" {
		return attrAccessor(levelResource, resAttrs, key), true
	}
	if lvl > levelScope {
		switch path {
		case "instrumentation_scope.name", "scope.name":
			return strAccessor(levelScope, scopeName), true
		case "instrumentation_scope.version", "scope.version":
			return strAccessor(levelScope, scopeVersion), true
		case "instrumentation_scope.attributes[]", "scope.attributes[]":
			return attrAccessor(levelScope, scopeAttrs, key), true
		}
	}
	switch lvl {
	case levelResource:
		if path == "attributes[]" {
			return attrAccessor(levelResource, resAttrs, key), true
		}
	case levelScope:
		switch path {
		case "name":
			return strAccessor(levelScope, scopeName), true
		case "version":
			return strAccessor(levelScope, scopeVersion), true
		case "attributes[]":
			return attrAccessor(levelScope, scopeAttrs, key), true
		}
	case levelItem:
		switch sig {
		case signalTraces:
			switch path {
			case "name":
				return strAccessor(levelItem, func(c *cursor) string { return c.span.Name() }), true
			case "kind":
				return intAccessor(levelItem, func(c *cursor) int64 { return int64(c.span.Kind()) }), true
			case "status.code":
				return intAccessor(levelItem, func(c *cursor) int64 { return int64(c.span.Status().Code()) }), true
			case "attributes[]":
				return attrAccessor(levelItem, func(c *cursor) pcommon.Map { return c.span.Attributes() }, key), true
			}
		case signalMetrics:
			switch path {
			case "name":
				return strAccessor(levelItem, func(c *cursor) string { return c.metric.Name() }), true
			case "unit":
				return strAccessor(levelItem, func(c *cursor) string { return c.metric.Unit() }), true
			case "description":
				return strAccessor(levelItem, func(c *cursor) string { return c.metric.Description() }), true
			case "type":
				return intAccessor(levelItem, func(c *cursor) int64 { return int64(c.metric.Type()) }), true
			}
		case signalLogs:
			switch path {
			case "body":
				return accessor{depth: levelItem, get: func(c *cursor) fval { return valueOf(c.log.Body(), true) }}, true
			case "severity_number":
				return intAccessor(levelItem, func(c *cursor) int64 { return int64(c.log.SeverityNumber()) }), true
			case "severity_text":
				return strAccessor(levelItem, func(c *cursor) string { return c.log.SeverityText() }), true
			case "attributes[]":
				return attrAccessor(levelItem, func(c *cursor) pcommon.Map { return c.log.Attributes() }, key), true
			}
		}
	case levelSub:
		switch sig {
		case signalTraces:
			switch path {
			case "name":
				return strAccessor(levelSub, func(c *cursor) string { return c.event.Name() }), true
			case "attributes[]":
				return attrAccessor(levelSub, func(c *cursor) pcommon.Map { return c.event.Attributes() }, key), true
			case "span.name":
				return strAccessor(levelItem, func(c *cursor) string { return c.span.Name() }), true
			case "span.attributes[]":
				return attrAccessor(levelItem, func(c *cursor) pcommon.Map { return c.span.Attributes() }, key), true
			}
		case signalMetrics:
			switch path {
			case "attributes[]":
				return attrAccessor(levelSub, func(c *cursor) pcommon.Map { return c.dpAttrs }, key), true
			case "metric.name":
				return strAccessor(levelItem, func(c *cursor) string { return c.metric.Name() }), true
			case "metric.type":
				return intAccessor(levelItem, func(c *cursor) int64 { return int64(c.metric.Type()) }), true
			case "metric.unit":
				return strAccessor(levelItem, func(c *cursor) string { return c.metric.Unit() }), true
			}
		}
	}
	return accessor{}, false
}

// enums are the OTTL enum symbols the fast path understands. A symbol that is not valid in
// a condition's context is rejected by the OTTL parser at start-up, so one table serves all.
var enums = map[string]int64{
	"SPAN_KIND_UNSPECIFIED": int64(ptrace.SpanKindUnspecified),
	"SPAN_KIND_INTERNAL":    int64(ptrace.SpanKindInternal),
	"SPAN_KIND_SERVER":      int64(ptrace.SpanKindServer),
	"SPAN_KIND_CLIENT":      int64(ptrace.SpanKindClient),
	"SPAN_KIND_PRODUCER":    int64(ptrace.SpanKindProducer),
	"SPAN_KIND_CONSUMER":    int64(ptrace.SpanKindConsumer),
	"STATUS_CODE_UNSET":     int64(ptrace.StatusCodeUnset),
	"STATUS_CODE_OK":        int64(ptrace.StatusCodeOk),
	"STATUS_CODE_ERROR":     int64(ptrace.StatusCodeError),

	"METRIC_DATA_TYPE_NONE":                  int64(pmetric.MetricTypeEmpty),
	"METRIC_DATA_TYPE_GAUGE":                 int64(pmetric.MetricTypeGauge),
	"METRIC_DATA_TYPE_SUM":                   int64(pmetric.MetricTypeSum),
	"METRIC_DATA_TYPE_HISTOGRAM":             int64(pmetric.MetricTypeHistogram),
	"METRIC_DATA_TYPE_EXPONENTIAL_HISTOGRAM": int64(pmetric.MetricTypeExponentialHistogram),
	"METRIC_DATA_TYPE_SUMMARY":               int64(pmetric.MetricTypeSummary),
}

func init() {
	names := []string{"UNSPECIFIED", "TRACE", "TRACE2", "TRACE3", "TRACE4", "DEBUG", "DEBUG2", "DEBUG3", "DEBUG4",
		"INFO", "INFO2", "INFO3", "INFO4", "WARN", "WARN2", "WARN3", "WARN4", "ERROR", "ERROR2", "ERROR3", "ERROR4",
		"FATAL", "FATAL2", "FATAL3", "FATAL4"}
	for i, n := range names {
		enums["SEVERITY_NUMBER_"+n] = int64(i)
	}
}

// ---- nodes ----

// node is a compiled native matcher.
type node interface {
	eval(c *cursor) tri
	depth() level
}

type op uint8

const (
	opEq op = iota
	opNe
	opLt
	opLe
	opGt
	opGe
)

func cmpOrdered[T int64 | float64 | string](a, b T, o op) bool {
	switch o {
	case opEq:
		return a == b
	case opNe:
		return a != b
	case opLt:
		return a < b
	case opLe:
		return a <= b
	case opGt:
		return a > b
	default:
		return a >= b
	}
}

func cmpBools(a, b bool, o op) bool {
	switch o {
	case opEq:
		return a == b
	case opNe:
		return a != b
	case opLt:
		return !a && b
	case opLe:
		return !a || b
	case opGe:
		return a || !b
	default:
		return a && !b
	}
}

// compare reproduces OTTL's comparison of a value (left) with a literal (right): mismatched
// types compare unequal (only `!=` is true), nil equals nil, ints and doubles compare as numbers.
func compare(a, lit fval, o op) tri {
	if a.k == kOther {
		return triDefer
	}
	if a.k == kNil && lit.k == kNil {
		return triOf(o == opEq || o == opLe || o == opGe)
	}
	switch {
	case a.k == kStr && lit.k == kStr:
		return triOf(cmpOrdered(a.s, lit.s, o))
	case a.k == kInt && lit.k == kInt:
		return triOf(cmpOrdered(a.i, lit.i, o))
	case a.k == kInt && lit.k == kDouble:
		return triOf(cmpOrdered(float64(a.i), lit.f, o))
	case a.k == kDouble && lit.k == kInt:
		return triOf(cmpOrdered(a.f, float64(lit.i), o))
	case a.k == kDouble && lit.k == kDouble:
		return triOf(cmpOrdered(a.f, lit.f, o))
	case a.k == kBool && lit.k == kBool:
		return triOf(cmpBools(a.b, lit.b, o))
	}
	return triOf(o == opNe)
}

type cmpNode struct {
	acc accessor
	op  op
	lit fval
}

func (n *cmpNode) eval(c *cursor) tri { return compare(n.acc.get(c), n.lit, n.op) }
func (n *cmpNode) depth() level       { return n.acc.depth }

// setNode is `p == a or p == b or ...` (or, negated, `p != a and p != b and ...`).
type setNode struct {
	acc  accessor
	strs []string
	smap map[string]struct{}
	nums []fval
	neg  bool
}

func (n *setNode) eval(c *cursor) tri {
	v := n.acc.get(c)
	in := false
	switch v.k {
	case kOther:
		return triDefer
	case kStr:
		if n.smap != nil {
			_, in = n.smap[v.s]
		} else {
			for _, s := range n.strs {
				if s == v.s {
					in = true
					break
				}
			}
		}
	case kInt, kDouble:
		for _, lit := range n.nums {
			if compare(v, lit, opEq) == triTrue {
				in = true
				break
			}
		}
	}
	return triOf(in != n.neg)
}
func (n *setNode) depth() level { return n.acc.depth }

type matchKind uint8

const (
	matchRegex matchKind = iota
	matchContains
	matchPrefix
	matchSuffix
	matchEqual
)

// strNode is IsMatch (string-like: ints and bools are formatted), HasPrefix or HasSuffix
// (strings only; anything else is an OTTL error, so it defers).
type strNode struct {
	acc      accessor
	kind     matchKind
	lit      string
	re       *regexp.Regexp
	likeOnly bool // IsMatch: nil is false, ints and bools are formatted
}

func (n *strNode) eval(c *cursor) tri {
	v := n.acc.get(c)
	var s string
	switch {
	case v.k == kStr:
		s = v.s
	case !n.likeOnly:
		return triDefer
	case v.k == kNil:
		return triFalse
	case v.k == kInt:
		var buf [24]byte
		s = string(strconv.AppendInt(buf[:0], v.i, 10))
	case v.k == kBool:
		s = strconv.FormatBool(v.b)
	default:
		return triDefer
	}
	switch n.kind {
	case matchContains:
		return triOf(strings.Contains(s, n.lit))
	case matchPrefix:
		return triOf(strings.HasPrefix(s, n.lit))
	case matchSuffix:
		return triOf(strings.HasSuffix(s, n.lit))
	case matchEqual:
		return triOf(s == n.lit)
	default:
		return triOf(n.re.MatchString(s))
	}
}
func (n *strNode) depth() level { return n.acc.depth }

type andNode struct{ kids []node }

// eval short-circuits left to right like OTTL; a deferred operand defers the whole node.
func (n *andNode) eval(c *cursor) tri {
	for _, k := range n.kids {
		switch k.eval(c) {
		case triFalse:
			return triFalse
		case triDefer:
			return triDefer
		}
	}
	return triTrue
}
func (n *andNode) depth() level { return maxDepth(n.kids) }

type orNode struct{ kids []node }

func (n *orNode) eval(c *cursor) tri {
	for _, k := range n.kids {
		switch k.eval(c) {
		case triTrue:
			return triTrue
		case triDefer:
			return triDefer
		}
	}
	return triFalse
}
func (n *orNode) depth() level { return maxDepth(n.kids) }

type notNode struct{ kid node }

func (n *notNode) eval(c *cursor) tri {
	switch n.kid.eval(c) {
	case triTrue:
		return triFalse
	case triFalse:
		return triTrue
	}
	return triDefer
}
func (n *notNode) depth() level { return n.kid.depth() }

type constNode bool

func (n constNode) eval(*cursor) tri { return triOf(bool(n)) }
func (constNode) depth() level       { return levelResource }

func maxDepth(kids []node) level {
	d := levelResource
	for _, k := range kids {
		if k.depth() > d {
			d = k.depth()
		}
	}
	return d
}

// ---- recogniser ----

type tokKind uint8

const (
	tIdent tokKind = iota
	tStr
	tNum
	tPunct
	tEOF
)

type token struct {
	k tokKind
	s string
}

func tokenize(src string) ([]token, bool) {
	var toks []token
	i := 0
	for i < len(src) {
		ch := src[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			i++
		case ch == '"':
			j := i + 1
			for j < len(src) && src[j] != '"' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(src) {
				return nil, false
			}
			s, err := strconv.Unquote(src[i : j+1])
			if err != nil {
				return nil, false
			}
			toks = append(toks, token{tStr, s})
			i = j + 1
		case ch == '-' || (ch >= '0' && ch <= '9'):
			j := i + 1
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.') {
				j++
			}
			if j < len(src) && (src[j] == 'x' || src[j] == 'e' || src[j] == 'E') {
				return nil, false
			}
			toks = append(toks, token{tNum, src[i:j]})
			i = j
		case ch == '_' || ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z':
			j := i + 1
			for j < len(src) && (src[j] == '_' || src[j] >= 'a' && src[j] <= 'z' || src[j] >= 'A' && src[j] <= 'Z' || src[j] >= '0' && src[j] <= '9') {
				j++
			}
			toks = append(toks, token{tIdent, src[i:j]})
			i = j
		default:
			if i+1 < len(src) {
				two := src[i : i+2]
				if two == "==" || two == "!=" || two == "<=" || two == ">=" {
					toks = append(toks, token{tPunct, two})
					i += 2
					continue
				}
			}
			if strings.IndexByte("()[],.<>", ch) < 0 {
				return nil, false
			}
			toks = append(toks, token{tPunct, string(ch)})
			i++
		}
	}
	return append(toks, token{k: tEOF}), true
}

type recogniser struct {
	toks []token
	pos  int
	sig  signal
	lvl  level
}

// compileFast returns the native matcher of a condition, or nil when its shape is not supported.
func compileFast(sig signal, lvl level, cond string) node {
	toks, ok := tokenize(cond)
	if !ok {
		return nil
	}
	r := &recogniser{toks: toks, sig: sig, lvl: lvl}
	n, ok := r.or()
	if !ok || r.peek().k != tEOF {
		return nil
	}
	return optimise(n)
}

func (r *recogniser) peek() token { return r.toks[r.pos] }
func (r *recogniser) next() token {
	t := r.toks[r.pos]
	if t.k != tEOF {
		r.pos++
	}
	return t
}
func (r *recogniser) accept(k tokKind, s string) bool {
	if t := r.peek(); t.k == k && t.s == s {
		r.pos++
		return true
	}
	return false
}

func (r *recogniser) or() (node, bool) {
	first, ok := r.and()
	if !ok {
		return nil, false
	}
	kids := []node{first}
	for r.accept(tIdent, "or") {
		n, ok := r.and()
		if !ok {
			return nil, false
		}
		kids = append(kids, n)
	}
	if len(kids) == 1 {
		return first, true
	}
	return &orNode{kids: kids}, true
}

func (r *recogniser) and() (node, bool) {
	first, ok := r.not()
	if !ok {
		return nil, false
	}
	kids := []node{first}
	for r.accept(tIdent, "and") {
		n, ok := r.not()
		if !ok {
			return nil, false
		}
		kids = append(kids, n)
	}
	if len(kids) == 1 {
		return first, true
	}
	return &andNode{kids: kids}, true
}

func (r *recogniser) not() (node, bool) {
	if r.accept(tIdent, "not") {
		n, ok := r.not()
		if !ok {
			return nil, false
		}
		return &notNode{kid: n}, true
	}
	return r.primary()
}

func (r *recogniser) primary() (node, bool) {
	if r.accept(tPunct, "(") {
		n, ok := r.or()
		if !ok || !r.accept(tPunct, ")") {
			return nil, false
		}
		return n, true
	}
	t := r.peek()
	if t.k == tIdent && (t.s == "true" || t.s == "false") {
		r.next()
		if r.peek().k == tPunct && r.peek().s != ")" {
			return nil, false
		}
		return constNode(t.s == "true"), true
	}
	if t.k == tIdent && r.toks[r.pos+1].k == tPunct && r.toks[r.pos+1].s == "(" {
		return r.call()
	}
	acc, ok := r.path()
	if !ok {
		return nil, false
	}
	var o op
	switch r.next().s {
	case "==":
		o = opEq
	case "!=":
		o = opNe
	case "<":
		o = opLt
	case "<=":
		o = opLe
	case ">":
		o = opGt
	case ">=":
		o = opGe
	default:
		return nil, false
	}
	lit, ok := r.literal()
	if !ok {
		return nil, false
	}
	return &cmpNode{acc: acc, op: o, lit: lit}, true
}

func (r *recogniser) literal() (fval, bool) {
	t := r.next()
	switch t.k {
	case tStr:
		return fval{k: kStr, s: t.s}, true
	case tNum:
		if strings.Contains(t.s, ".") {
			f, err := strconv.ParseFloat(t.s, 64)
			return fval{k: kDouble, f: f}, err == nil
		}
		i, err := strconv.ParseInt(t.s, 10, 64)
		return fval{k: kInt, i: i}, err == nil
	case tIdent:
		switch t.s {
		case "nil":
			return fval{}, true
		case "true", "false":
			return fval{k: kBool, b: t.s == "true"}, true
		}
		if v, ok := enums[t.s]; ok {
			return fval{k: kInt, i: v}, true
		}
	}
	return fval{}, false
}

// path parses ident(.ident)*([string])* and resolves it.
func (r *recogniser) path() (accessor, bool) {
	var segs, keys []string
	t := r.next()
	if t.k != tIdent {
		return accessor{}, false
	}
	segs = append(segs, t.s)
	for r.accept(tPunct, ".") {
		t = r.next()
		if t.k != tIdent {
			return accessor{}, false
		}
		segs = append(segs, t.s)
	}
	for r.accept(tPunct, "[") {
		t = r.next()
		if t.k != tStr || !r.accept(tPunct, "]") {
			return accessor{}, false
		}
		keys = append(keys, t.s)
	}
	acc, ok := resolvePath(r.sig, r.lvl, segs, keys)
	acc.id = strings.Join(segs, ".") + "[" + strings.Join(keys, "][") + "]"
	return acc, ok
}

func (r *recogniser) call() (node, bool) {
	fn := r.next().s
	r.next() // (
	acc, ok := r.path()
	if !ok || !r.accept(tPunct, ",") {
		return nil, false
	}
	t := r.next()
	if t.k != tStr || !r.accept(tPunct, ")") {
		return nil, false
	}
	// A call compared with a boolean (`IsMatch(...) == true`) is left to OTTL.
	if p := r.peek(); p.k == tPunct && p.s != ")" && p.s != "," {
		return nil, false
	}
	switch fn {
	case "HasPrefix":
		return &strNode{acc: acc, kind: matchPrefix, lit: t.s}, true
	case "HasSuffix":
		return &strNode{acc: acc, kind: matchSuffix, lit: t.s}, true
	case "IsMatch":
		re, err := regexp.Compile(t.s)
		if err != nil {
			return nil, false
		}
		n := &strNode{acc: acc, kind: matchRegex, re: re, likeOnly: true}
		// Constant patterns become string operations.
		body, anchoredStart := strings.CutPrefix(t.s, "^")
		body, anchoredEnd := strings.CutSuffix(body, "$")
		// A leading or trailing `.*` that is not anchored matches nothing more.
		if !anchoredStart {
			body = strings.TrimPrefix(body, ".*")
		}
		if !anchoredEnd && strings.HasSuffix(body, ".*") && !strings.HasSuffix(body, `\.*`) {
			body = strings.TrimSuffix(body, ".*")
		}
		if regexp.QuoteMeta(body) == body && !strings.HasSuffix(body, `\`) {
			n.lit = body
			switch {
			case anchoredStart && anchoredEnd:
				n.kind = matchEqual
			case anchoredStart:
				n.kind = matchPrefix
			case anchoredEnd:
				n.kind = matchSuffix
			default:
				n.kind = matchContains
			}
		}
		return n, true
	}
	return nil, false
}

// optimise turns `or`-lists of equalities on one path into set lookups, and `and`-lists of
// inequalities on one path into negated set lookups.
func optimise(n node) node {
	switch v := n.(type) {
	case *orNode:
		for i, k := range v.kids {
			v.kids[i] = optimise(k)
		}
		if s := asSet(v.kids, opEq); s != nil {
			return s
		}
	case *andNode:
		for i, k := range v.kids {
			v.kids[i] = optimise(k)
		}
		if s := asSet(v.kids, opNe); s != nil {
			s.neg = true
			return s
		}
	case *notNode:
		v.kid = optimise(v.kid)
	}
	return n
}

func asSet(kids []node, want op) *setNode {
	if len(kids) < 2 {
		return nil
	}
	var first *cmpNode
	s := &setNode{}
	for _, k := range kids {
		c, ok := k.(*cmpNode)
		if !ok || c.op != want || (c.lit.k != kStr && c.lit.k != kInt && c.lit.k != kDouble) {
			return nil
		}
		if first == nil {
			first = c
			s.acc = c.acc
		} else if c.lit.k == kStr != (first.lit.k == kStr) || !sameAccessor(first, c) {
			return nil
		}
		if c.lit.k == kStr {
			s.strs = append(s.strs, c.lit.s)
		} else {
			s.nums = append(s.nums, c.lit)
		}
	}
	if len(s.strs) > 8 {
		s.smap = make(map[string]struct{}, len(s.strs))
		for _, x := range s.strs {
			s.smap[x] = struct{}{}
		}
	}
	return s
}

// sameAccessor tells whether two comparisons read the same path (accessors are closures, so
// identity is the path text recorded at compile time).
func sameAccessor(a, b *cmpNode) bool { return a.acc.id != "" && a.acc.id == b.acc.id }
