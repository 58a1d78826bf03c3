// SPDX-License-Identifier: Apache-2.0

package filterprocessor

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-edge/otelcol-edge/components/processor/filterprocessor/internal/metadata"
)

func loadConfig(t *testing.T, file string, id component.ID) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", file))
	require.NoError(t, err)
	sub, err := cm.Sub(id.String())
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	if err := sub.Unmarshal(cfg); err != nil {
		return nil, err
	}
	return cfg, confmap.Validate(cfg)
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		id       component.ID
		expected *Config
	}{
		{id: component.NewID(metadata.Type), expected: createDefaultConfig().(*Config)},
		{
			id: component.NewIDWithName(metadata.Type, "upstream"),
			expected: &Config{
				ErrorMode: ottl.IgnoreError,
				Mode:      ModeEnforce,
				Traces: TraceFilters{
					SpanConditions:      []string{`attributes["http.route"] == "/healthz"`, `IsMatch(name, "^GET /(ready|live)")`},
					SpanEventConditions: []string{`name == "debug"`},
				},
				Metrics: MetricFilters{
					MetricConditions:    []string{`name == "jvm.gc.count" and type == METRIC_DATA_TYPE_SUM`},
					DataPointConditions: []string{`attributes["env"] == "dev"`},
				},
				Logs:   LogFilters{LogConditions: []string{`severity_number < SEVERITY_NUMBER_WARN`}},
				Redact: RedactConfig{Mask: DefaultMask},
			},
		},
		{
			id: component.NewIDWithName(metadata.Type, "edge"),
			expected: &Config{
				ErrorMode: ottl.PropagateError,
				Mode:      ModeDryRun,
				TraceConditions: []ConditionGroup{
					{Name: "health-checks", Conditions: []string{`span.attributes["http.route"] == "/healthz" or span.attributes["http.route"] == "/readyz"`}},
					{Name: "checkout-errors", Action: ActionKeep, ErrorMode: ottl.SilentError, Conditions: []string{
						`span.status.code == STATUS_CODE_ERROR`, `resource.attributes["service.name"] != "checkout"`,
					}},
				},
				LogConditions: []ConditionGroup{{Conditions: []string{`log.severity_number < SEVERITY_NUMBER_INFO`}}},
				Redact: RedactConfig{
					AllowKeys: []string{"service.*", "http.route", "http.status_code", "message"},
					HashKey:   "example-hash-key-of-at-least-32-bytes",
					Mask:      "[redacted]",
					Keys: []KeyRule{
						{Name: "passwords", Pattern: "*password*", Match: MatchGlob, Action: RedactDelete},
						{Pattern: "user.id", Action: RedactHash},
					},
					Values: []ValueRule{
						{Builtin: PatternCard},
						{Builtin: PatternEmail, Action: RedactHash},
						{Name: "tokens", Regex: `tok_[a-z0-9]{16}`},
					},
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg, err := loadConfig(t, "config.yaml", tt.id)
			require.NoError(t, err)
			assert.Equal(t, tt.expected, cfg)
		})
	}
}

func TestLoadConfigInvalid(t *testing.T) {
	tests := []struct {
		file   string
		errors []string
	}{
		{file: "invalid_unknown_key.yaml", errors: []string{"traces_conditions"}},
		{file: "invalid_condition.yaml", errors: []string{`rule "broken" (trace_conditions[0].conditions[1]) "span.name == "`, "condition has invalid syntax"}},
		{file: "invalid_mixed.yaml", errors: []string{`"trace_conditions" cannot be used together with "traces.resource", "traces.span" or "traces.spanevent"`}},
		{file: "invalid_error_mode.yaml", errors: []string{"'error_mode' unknown error mode loud"}},
		{file: "invalid_hash_key.yaml", errors: []string{"\"redact.hash_key\" must be at least 32 bytes, got 31"}},
		{file: "invalid_values.yaml", errors: []string{
			`"mode" must be "enforce" or "dry_run", got "maybe"`,
			`"log_conditions[0].action" must be "drop" or "keep", got "allow"`,
			`"log_conditions[0].conditions" must not be empty`,
			`"redact.keys[0].pattern" is not a valid regular expression`,
			`"redact.values[0].builtin" must be one of card, email, bearer, ipv4, got "ssn"`,
			`"redact.hash_key" must be set when a rule uses the "hash" action`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := loadConfig(t, tt.file, component.NewID(metadata.Type))
			require.Error(t, err)
			for _, want := range tt.errors {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}

func TestShortFormMixedStyles(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	err := confmap.NewFromStringMap(map[string]any{
		"log_conditions": []any{"log.body == \"x\"", map[string]any{"conditions": []any{"log.body == \"y\""}}},
	}).Unmarshal(cfg)
	require.ErrorContains(t, err, `"log_conditions" mixes plain conditions and condition groups`)
}

// TestHashKeyLength: redact.hash_key must be at least 32 bytes whenever it is set (whether or
// not a rule hashes); the error gives the length, never the key.
func TestHashKeyLength(t *testing.T) {
	for _, tc := range []struct {
		name    string
		key     string
		hashing bool
		wantErr string
	}{
		{name: "32 bytes", key: strings.Repeat("k", 32), hashing: true},
		{name: "64 hex characters", key: strings.Repeat("ab", 32), hashing: true},
		{name: "31 bytes", key: strings.Repeat("k", 31), hashing: true, wantErr: `"redact.hash_key" must be at least 32 bytes, got 31`},
		{name: "1 byte, no hash rule", key: "Z", wantErr: `"redact.hash_key" must be at least 32 bytes, got 1`},
		{name: "unset, hash rule", hashing: true, wantErr: `"redact.hash_key" must be set when a rule uses the "hash" action`},
		{name: "unset, no hash rule"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.Redact.HashKey = configopaque.String(tc.key)
			cfg.Redact.Keys = []KeyRule{{Pattern: "user.id", Action: RedactMask}}
			if tc.hashing {
				cfg.Redact.Keys[0].Action = RedactHash
			}
			err := confmap.Validate(cfg)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
			if tc.key != "" {
				assert.NotContains(t, err.Error(), tc.key, "the key must not be printed")
			}
		})
	}
}
