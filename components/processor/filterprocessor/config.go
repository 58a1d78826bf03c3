// SPDX-License-Identifier: Apache-2.0

package filterprocessor // import "github.com/otelcol-edge/otelcol-edge/components/processor/filterprocessor"

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
)

// Modes of the processor.
const (
	// ModeEnforce drops and redacts (the default).
	ModeEnforce = "enforce"
	// ModeDryRun evaluates every rule and counts what would be dropped or
	// redacted, without changing the data.
	ModeDryRun = "dry_run"
)

// Actions of a condition group.
const (
	// ActionDrop removes the items a condition is true for (upstream semantics, the default).
	ActionDrop = "drop"
	// ActionKeep keeps only the items a condition is true for and removes the others.
	ActionKeep = "keep"
)

// Redaction actions.
const (
	// RedactMask replaces the value (or, for value patterns, the matched text) by the mask.
	RedactMask = "mask"
	// RedactHash replaces the value (or the matched text) by its hex HMAC-SHA256 under hash_key.
	RedactHash = "hash"
	// RedactDelete removes the attribute (or the map entry or slice element).
	RedactDelete = "delete"
)

// minHashKeyBytes is the shortest redact.hash_key accepted: 32 bytes, the size of an
// HMAC-SHA256 output (RFC 2104 recommends keys no shorter than the hash output).
const minHashKeyBytes = 32

// Key pattern kinds.
const (
	// MatchExact compares the key literally (the default).
	MatchExact = "exact"
	// MatchGlob matches with `*` (any run of characters) and `?` (one character).
	MatchGlob = "glob"
	// MatchRegex matches with a Go regular expression (unanchored, as written).
	MatchRegex = "regex"
)

// Built-in value patterns.
const (
	// PatternCard matches payment card numbers (13 to 19 digits, optionally separated by spaces or
	// dashes, passing the Luhn check), also when the value is an integer.
	PatternCard = "card"
	// PatternEmail matches e-mail addresses.
	PatternEmail = "email"
	// PatternBearer matches `Bearer <token>` credentials.
	PatternBearer = "bearer"
	// PatternIPv4 matches dotted-quad IPv4 addresses.
	PatternIPv4 = "ipv4"
)

// Config is the configuration of the filter processor. A configuration written for the
// upstream (contrib) filter processor is accepted unchanged.
type Config struct {
	// ErrorMode says what happens when a condition fails to evaluate: "propagate" (the default,
	// as upstream) returns the error and the batch is refused, "ignore" logs (rate-limited) and
	// treats the condition as not having matched, "silent" does the same without logging.
	ErrorMode ottl.ErrorMode `mapstructure:"error_mode"`

	// Mode is "enforce" (the default) or "dry_run": in dry run every rule is evaluated and
	// counted, but nothing is dropped or redacted.
	Mode string `mapstructure:"mode"`

	// Traces holds the upstream-style explicit-context conditions for traces.
	Traces TraceFilters `mapstructure:"traces"`

	// Metrics holds the upstream-style explicit-context conditions for metrics.
	Metrics MetricFilters `mapstructure:"metrics"`

	// Logs holds the upstream-style explicit-context conditions for logs.
	Logs LogFilters `mapstructure:"logs"`

	// TraceConditions are condition groups for traces; each condition's context (resource,
	// scope, span, spanevent) is inferred from its paths unless the group sets `context`.
	TraceConditions []ConditionGroup `mapstructure:"trace_conditions"`

	// MetricConditions are condition groups for metrics (resource, scope, metric, datapoint).
	MetricConditions []ConditionGroup `mapstructure:"metric_conditions"`

	// LogConditions are condition groups for logs (resource, scope, log).
	LogConditions []ConditionGroup `mapstructure:"log_conditions"`

	// Redact configures the redaction of attribute values and log bodies that survive the filter.
	Redact RedactConfig `mapstructure:"redact"`

	// disableFastPath makes every condition go through OTTL; used by tests and benchmarks.
	disableFastPath bool
}

// TraceFilters are the explicit-context trace conditions of the upstream processor. A true
// condition drops the resource, span or span event.
type TraceFilters struct {
	// ResourceConditions drop whole resources.
	ResourceConditions []string `mapstructure:"resource"`
	// SpanConditions drop spans (OTTL span context).
	SpanConditions []string `mapstructure:"span"`
	// SpanEventConditions drop span events (OTTL spanevent context).
	SpanEventConditions []string `mapstructure:"spanevent"`
}

// MetricFilters are the explicit-context metric conditions of the upstream processor.
type MetricFilters struct {
	// ResourceConditions drop whole resources.
	ResourceConditions []string `mapstructure:"resource"`
	// MetricConditions drop metrics (OTTL metric context).
	MetricConditions []string `mapstructure:"metric"`
	// DataPointConditions drop data points (OTTL datapoint context); a metric left without data
	// points is removed.
	DataPointConditions []string `mapstructure:"datapoint"`
}

// LogFilters are the explicit-context log conditions of the upstream processor.
type LogFilters struct {
	// ResourceConditions drop whole resources.
	ResourceConditions []string `mapstructure:"resource"`
	// LogConditions drop log records (OTTL log context).
	LogConditions []string `mapstructure:"log_record"`
}

// ConditionGroup is one rule: a list of OTTL conditions ORed together, with an action.
type ConditionGroup struct {
	// Name identifies the rule in internal metrics and logs; defaults to its key path, for
	// example `trace_conditions[0]`.
	Name string `mapstructure:"name"`
	// Action is "drop" (the default: items any condition is true for are removed) or "keep"
	// (only items some condition is true for are kept).
	Action string `mapstructure:"action"`
	// Context forces the OTTL context of every condition (resource, scope, span, spanevent,
	// metric, datapoint, log). Empty: inferred from each condition's paths.
	Context string `mapstructure:"context"`
	// Conditions are OTTL boolean expressions.
	Conditions []string `mapstructure:"conditions"`
	// ErrorMode overrides the processor's error_mode for this group.
	ErrorMode ottl.ErrorMode `mapstructure:"error_mode"`
}

// RedactConfig configures redaction. Rules apply to resource, scope, span, span event, span
// link, log record and data point attributes and to log bodies.
type RedactConfig struct {
	// AllowKeys, when not empty, lists the only attribute keys that may pass (exact keys, or
	// glob patterns when they contain `*` or `?`); every other attribute is deleted. It fails
	// closed: an unlisted key never passes.
	AllowKeys []string `mapstructure:"allow_keys"`
	// Keys are rules by attribute key (also applied to keys of nested maps and map bodies).
	Keys []KeyRule `mapstructure:"keys"`
	// Values are rules by value content, applied to every remaining value of any type.
	Values []ValueRule `mapstructure:"values"`
	// HashKey is the HMAC-SHA256 key used by the `hash` action; typically `${env:FILTER_HASH_KEY}`.
	// At least 32 bytes: a short key can be brute-forced from one known value and its hash,
	// and then every hashed value can be guessed offline.
	HashKey configopaque.String `mapstructure:"hash_key"`
	// Mask is the replacement text of the `mask` action. Default "****".
	Mask string `mapstructure:"mask"`
}

// KeyRule redacts attributes by key.
type KeyRule struct {
	// Name identifies the rule in internal metrics; defaults to `redact.keys[i]`.
	Name string `mapstructure:"name"`
	// Pattern is the key, glob or regular expression.
	Pattern string `mapstructure:"pattern"`
	// Match is "exact" (default), "glob" or "regex".
	Match string `mapstructure:"match"`
	// Action is "mask" (default), "hash" or "delete".
	Action string `mapstructure:"action"`
}

// ValueRule redacts values by content.
type ValueRule struct {
	// Name identifies the rule in internal metrics; defaults to `redact.values[i]`.
	Name string `mapstructure:"name"`
	// Builtin is one of "card", "email", "bearer", "ipv4". Exactly one of builtin and regex is set.
	Builtin string `mapstructure:"builtin"`
	// Regex is a Go regular expression matched against the value's text.
	Regex string `mapstructure:"regex"`
	// Action is "mask" (default: the matched text is replaced), "hash" (the matched text is
	// replaced by its HMAC) or "delete" (the whole value is removed).
	Action string `mapstructure:"action"`
}

var (
	_ confmap.Validator   = (*Config)(nil)
	_ confmap.Unmarshaler = (*Config)(nil)
)

// Unmarshal accepts the upstream short form of the grouped conditions, a plain list of
// strings (`trace_conditions: ['cond', ...]`), as one drop group.
func (cfg *Config) Unmarshal(conf *confmap.Conf) error {
	if conf == nil {
		return nil
	}
	patch := map[string]any{}
	for _, key := range []string{"trace_conditions", "metric_conditions", "log_conditions"} {
		if !conf.IsSet(key) {
			continue
		}
		raw, ok := conf.Get(key).([]any)
		if !ok {
			if conf.Get(key) == nil {
				continue
			}
			return fmt.Errorf("%q must be a list", key)
		}
		var strs, groups []any
		for i, v := range raw {
			switch v := v.(type) {
			case nil:
				return fmt.Errorf("\"%s[%d]\" must not be empty", key, i)
			case string:
				strs = append(strs, v)
			default:
				groups = append(groups, v)
			}
		}
		if len(strs) > 0 && len(groups) > 0 {
			return fmt.Errorf("%q mixes plain conditions and condition groups: use one style", key)
		}
		if len(strs) > 0 {
			patch[key] = []any{map[string]any{"conditions": strs}}
		}
	}
	if len(patch) > 0 {
		if err := conf.Merge(confmap.NewFromStringMap(patch)); err != nil {
			return err
		}
	}
	return conf.Unmarshal(cfg)
}

// Validate checks the configuration and compiles every condition, so an invalid condition
// fails at start-up with the rule and the parser's message.
func (cfg *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if err := validErrorMode(cfg.ErrorMode); err != nil {
		add("\"error_mode\" %v", err)
	}
	switch cfg.Mode {
	case "", ModeEnforce, ModeDryRun:
	default:
		add("\"mode\" must be %q or %q, got %q", ModeEnforce, ModeDryRun, cfg.Mode)
	}
	if cfg.TraceConditions != nil && (cfg.Traces.ResourceConditions != nil || cfg.Traces.SpanConditions != nil || cfg.Traces.SpanEventConditions != nil) {
		add("\"trace_conditions\" cannot be used together with \"traces.resource\", \"traces.span\" or \"traces.spanevent\"")
	}
	if cfg.MetricConditions != nil && (cfg.Metrics.ResourceConditions != nil || cfg.Metrics.MetricConditions != nil || cfg.Metrics.DataPointConditions != nil) {
		add("\"metric_conditions\" cannot be used together with \"metrics.resource\", \"metrics.metric\" or \"metrics.datapoint\"")
	}
	if cfg.LogConditions != nil && (cfg.Logs.ResourceConditions != nil || cfg.Logs.LogConditions != nil) {
		add("\"log_conditions\" cannot be used together with \"logs.resource\" or \"logs.log_record\"")
	}
	for _, g := range []struct {
		key    string
		groups []ConditionGroup
	}{{"trace_conditions", cfg.TraceConditions}, {"metric_conditions", cfg.MetricConditions}, {"log_conditions", cfg.LogConditions}} {
		for i, grp := range g.groups {
			path := fmt.Sprintf("%s[%d]", g.key, i)
			switch grp.Action {
			case "", ActionDrop, ActionKeep:
			default:
				add("%q must be %q or %q, got %q", path+".action", ActionDrop, ActionKeep, grp.Action)
			}
			if len(grp.Conditions) == 0 {
				add("%q must not be empty", path+".conditions")
			}
			if err := validErrorMode(grp.ErrorMode); err != nil {
				add("%q %v", path+".error_mode", err)
			}
		}
	}
	errs = append(errs, cfg.Redact.validate()...)
	if len(errs) > 0 {
		return errors.Join(errs...)
	}

	// Compile the conditions: a bad one names its rule and carries the parser's message.
	var cerrs []error
	for _, sig := range []signal{signalTraces, signalMetrics, signalLogs} {
		if _, err := compileRules(cfg, sig, nopTelemetry()); err != nil {
			cerrs = append(cerrs, err)
		}
	}
	return errors.Join(cerrs...)
}

func validErrorMode(m ottl.ErrorMode) error {
	switch m {
	case "", ottl.IgnoreError, ottl.SilentError, ottl.PropagateError:
		return nil
	}
	return fmt.Errorf("must be %q, %q or %q, got %q", ottl.IgnoreError, ottl.SilentError, ottl.PropagateError, m)
}

func (r *RedactConfig) validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	needsKey := false
	for i, p := range r.AllowKeys {
		if p == "" {
			add("\"redact.allow_keys[%d]\" must not be empty", i)
		}
	}
	for i, k := range r.Keys {
		path := fmt.Sprintf("redact.keys[%d]", i)
		if k.Pattern == "" {
			add("%q must not be empty", path+".pattern")
		}
		switch k.Match {
		case "", MatchExact, MatchGlob:
		case MatchRegex:
			if _, err := regexp.Compile(k.Pattern); err != nil {
				add("%q is not a valid regular expression: %v", path+".pattern", err)
			}
		default:
			add("%q must be %q, %q or %q, got %q", path+".match", MatchExact, MatchGlob, MatchRegex, k.Match)
		}
		switch k.Action {
		case "", RedactMask, RedactDelete:
		case RedactHash:
			needsKey = true
		default:
			add("%q must be %q, %q or %q, got %q", path+".action", RedactMask, RedactHash, RedactDelete, k.Action)
		}
	}
	for i, v := range r.Values {
		path := fmt.Sprintf("redact.values[%d]", i)
		switch {
		case v.Builtin != "" && v.Regex != "":
			add("%q: set only one of \"builtin\" and \"regex\"", path)
		case v.Builtin == "" && v.Regex == "":
			add("%q: set one of \"builtin\" and \"regex\"", path)
		case v.Regex != "":
			if _, err := regexp.Compile(v.Regex); err != nil {
				add("%q is not a valid regular expression: %v", path+".regex", err)
			}
		default:
			switch v.Builtin {
			case PatternCard, PatternEmail, PatternBearer, PatternIPv4:
			default:
				add("%q must be one of %s, got %q", path+".builtin", strings.Join([]string{PatternCard, PatternEmail, PatternBearer, PatternIPv4}, ", "), v.Builtin)
			}
		}
		switch v.Action {
		case "", RedactMask, RedactDelete:
		case RedactHash:
			needsKey = true
		default:
			add("%q must be %q, %q or %q, got %q", path+".action", RedactMask, RedactHash, RedactDelete, v.Action)
		}
	}
	switch {
	case needsKey && len(r.HashKey) == 0:
		add("\"redact.hash_key\" must be set when a rule uses the %q action", RedactHash)
	case len(r.HashKey) > 0 && len(r.HashKey) < minHashKeyBytes:
		// The key itself is never printed.
		add("\"redact.hash_key\" must be at least %d bytes, got %d (e.g. `openssl rand -hex 32`)", minHashKeyBytes, len(r.HashKey))
	}
	return errs
}
