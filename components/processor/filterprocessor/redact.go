// SPDX-License-Identifier: Apache-2.0

package filterprocessor // import "github.com/otelcol-edge/otelcol-edge/components/processor/filterprocessor"

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Built-in value patterns. Card candidates are confirmed by the Luhn check.
var builtinPatterns = map[string]string{
	PatternCard:   `\b(?:\d[ -]?){12,18}\d\b`,
	PatternEmail:  `[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}`,
	PatternBearer: `(?i)\bbearer\s+[A-Za-z0-9\-._~+/]+=*`,
	PatternIPv4:   `\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b`,
}

// DefaultMask is the replacement text of the mask action.
const DefaultMask = "****"

// redactor applies the redact block. Precedence, per attribute:
//  1. key rules, first match in order, win over everything (a blocked key listed in
//     allow_keys is still redacted);
//  2. when allow_keys is set, a top-level attribute key it does not list is deleted;
//  3. value rules apply to every remaining value, of any type, recursing into maps (whose
//     keys go through the key rules again) and slices.
type redactor struct {
	allow   []keyMatcher
	keys    []keyRule
	values  []valueRule
	mask    string
	hashKey []byte
	names   []string
	sets    [3][]metric.MeasurementOption
	// customValues is true when a value rule has its own regular expression (built-ins cannot
	// match a number below 13 digits, so such numbers are not formatted).
	customValues bool
}

type keyMatcher struct {
	exact string
	re    *regexp.Regexp
}

func (m keyMatcher) match(k string) bool {
	if m.re != nil {
		return m.re.MatchString(k)
	}
	return k == m.exact
}

type keyRule struct {
	m      keyMatcher
	action string
}

type valueRule struct {
	re     *regexp.Regexp
	luhn   bool
	action string
}

func globToRegexp(g string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for _, r := range g {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

func newRedactor(cfg *RedactConfig) (*redactor, error) {
	r := &redactor{mask: cfg.Mask, hashKey: []byte(string(cfg.HashKey))}
	if r.mask == "" {
		r.mask = DefaultMask
	}
	r.names = append(r.names, "redact.allow_keys")
	for _, a := range cfg.AllowKeys {
		if strings.ContainsAny(a, "*?") {
			r.allow = append(r.allow, keyMatcher{re: globToRegexp(a)})
		} else {
			r.allow = append(r.allow, keyMatcher{exact: a})
		}
	}
	for i, k := range cfg.Keys {
		kr := keyRule{action: k.Action}
		if kr.action == "" {
			kr.action = RedactMask
		}
		switch k.Match {
		case MatchGlob:
			kr.m.re = globToRegexp(k.Pattern)
		case MatchRegex:
			re, err := regexp.Compile(k.Pattern)
			if err != nil {
				return nil, fmt.Errorf("\"redact.keys[%d].pattern\": %w", i, err)
			}
			kr.m.re = re
		default:
			kr.m.exact = k.Pattern
		}
		r.keys = append(r.keys, kr)
		r.names = append(r.names, nameOr(k.Name, fmt.Sprintf("redact.keys[%d]", i)))
	}
	for i, v := range cfg.Values {
		vr := valueRule{action: v.Action}
		if vr.action == "" {
			vr.action = RedactMask
		}
		pattern := v.Regex
		if v.Builtin != "" {
			pattern = builtinPatterns[v.Builtin]
			vr.luhn = v.Builtin == PatternCard
		} else {
			r.customValues = true
		}
		re, err := regexp.Compile(pattern)
		if err != nil {
			return nil, fmt.Errorf("\"redact.values[%d]\": %w", i, err)
		}
		vr.re = re
		r.values = append(r.values, vr)
		r.names = append(r.names, nameOr(v.Name, fmt.Sprintf("redact.values[%d]", i)))
	}
	for sig := range r.sets {
		for _, n := range r.names {
			r.sets[sig] = append(r.sets[sig], metric.WithAttributeSet(attribute.NewSet(
				attribute.String("rule", n), attribute.String("signal", signal(sig).String()))))
		}
	}
	return r, nil
}

func nameOr(name, def string) string {
	if name != "" {
		return name
	}
	return def
}

func (r *redactor) enabled() bool { return len(r.allow)+len(r.keys)+len(r.values) > 0 }
func (r *redactor) rules() int    { return len(r.names) }

func (r *redactor) attrs(i int, sig signal) metric.MeasurementOption { return r.sets[sig][i] }

// attributes redacts one attribute map (top level: allow_keys applies).
func (r *redactor) attributes(st *pass, m pcommon.Map) {
	if m.Len() == 0 {
		return
	}
	m.RemoveIf(func(k string, v pcommon.Value) bool { return r.entry(st, k, v, true) })
}

// body redacts a log body: a string, or nested maps and slices.
func (r *redactor) body(st *pass, v pcommon.Value) {
	if r.value(st, v) && !st.dry {
		pcommon.NewValueEmpty().CopyTo(v)
	}
}

// entry redacts one key/value pair and reports whether it is to be deleted.
func (r *redactor) entry(st *pass, k string, v pcommon.Value, top bool) bool {
	for i, kr := range r.keys {
		if !kr.m.match(k) {
			continue
		}
		st.redacted[1+i]++
		if st.dry {
			return false
		}
		switch kr.action {
		case RedactDelete:
			return true
		case RedactHash:
			v.SetStr(r.hash(v.AsString()))
		default:
			v.SetStr(r.mask)
		}
		return false
	}
	if top && len(r.allow) > 0 && !r.allowed(k) {
		st.redacted[0]++
		return !st.dry
	}
	return r.value(st, v)
}

func (r *redactor) allowed(k string) bool {
	for _, a := range r.allow {
		if a.match(k) {
			return true
		}
	}
	return false
}

// value applies the value rules and reports whether the value is to be deleted.
func (r *redactor) value(st *pass, v pcommon.Value) bool {
	if len(r.values) == 0 && len(r.keys) == 0 {
		return false
	}
	switch v.Type() {
	case pcommon.ValueTypeStr:
		s, del, changed := r.text(st, v.Str())
		if del {
			return true
		}
		if changed {
			v.SetStr(s)
		}
	case pcommon.ValueTypeInt, pcommon.ValueTypeDouble:
		if len(r.values) == 0 {
			return false
		}
		if !r.customValues {
			// Built-ins can only match a number long enough to be a card number.
			if v.Type() == pcommon.ValueTypeInt && v.Int() < 1e12 && v.Int() > -1e12 ||
				v.Type() == pcommon.ValueTypeDouble && v.Double() < 1e12 && v.Double() > -1e12 {
				return false
			}
		}
		s, del, changed := r.text(st, v.AsString())
		if del {
			return true
		}
		if changed {
			v.SetStr(s)
		}
	case pcommon.ValueTypeMap:
		v.Map().RemoveIf(func(k string, e pcommon.Value) bool { return r.entry(st, k, e, false) })
	case pcommon.ValueTypeSlice:
		v.Slice().RemoveIf(func(e pcommon.Value) bool { return r.value(st, e) })
	}
	return false
}

// text applies the value rules to a string: it returns the new text, whether the value is to
// be deleted, and whether it changed. In dry run it only counts.
func (r *redactor) text(st *pass, s string) (string, bool, bool) {
	changed := false
	for i, vr := range r.values {
		if !vr.re.MatchString(s) {
			continue
		}
		hit := false
		out := vr.re.ReplaceAllStringFunc(s, func(m string) string {
			if vr.luhn && !luhn(m) {
				return m
			}
			hit = true
			if vr.action == RedactHash {
				return r.hash(m)
			}
			return r.mask
		})
		if !hit {
			continue
		}
		st.redacted[1+len(r.keys)+i]++
		if st.dry {
			continue
		}
		if vr.action == RedactDelete {
			return "", true, true
		}
		s, changed = out, true
	}
	return s, false, changed
}

func (r *redactor) hash(s string) string {
	h := hmac.New(sha256.New, r.hashKey)
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil))
}

// luhn checks a card number candidate (digits with optional spaces or dashes).
func luhn(s string) bool {
	sum, n := 0, 0
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if c < '0' || c > '9' {
			continue
		}
		d := int(c - '0')
		if n%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		n++
	}
	return n >= 13 && n <= 19 && sum%10 == 0
}
