// SPDX-License-Identifier: Apache-2.0

package enrichprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-edge/otelcol-edge/components/processor/enrichprocessor/internal/metadatatest"
)

func parse(t *testing.T, format, data string, cfg LookupConfig) (map[string]map[string]any, error) {
	t.Helper()
	rows, err := parseTable(format, []byte(data), cfg, actInsert)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]any{}
	for k, row := range rows {
		m := map[string]any{}
		for _, e := range row {
			switch e.val.kind {
			case kindInt:
				m[e.key] = e.val.i
			case kindDouble:
				m[e.key] = e.val.d
			case kindBool:
				m[e.key] = e.val.b
			default:
				m[e.key] = e.val.s
			}
		}
		out[k] = m
	}
	return out, nil
}

func TestParseTables(t *testing.T) {
	key := LookupConfig{Key: "service.name"}
	want := map[string]map[string]any{
		"checkout": {"team": "payments", "owner": "alice"},
		"cart":     {"team": "web"},
	}

	got, err := parse(t, FormatCSV, "# owners\nservice,team,owner\ncheckout,payments,alice\ncart, web,\n", key)
	require.NoError(t, err)
	assert.Equal(t, want, got)

	got, err = parse(t, FormatYAML, "checkout:\n  team: payments\n  owner: alice\ncart:\n  team: web\n  owner: null\n", key)
	require.NoError(t, err)
	assert.Equal(t, want, got)

	got, err = parse(t, FormatJSON, `{"checkout": {"team": "payments", "owner": "alice"}, "cart": {"team": "web"}}`, key)
	require.NoError(t, err)
	assert.Equal(t, want, got)

	// Typed values from YAML/JSON, a key column, an attribute filter.
	got, err = parse(t, FormatYAML, "checkout: {tier: 1, critical: true, sla: 99.9, team: payments}\n", LookupConfig{Attributes: []string{"tier", "critical", "sla"}})
	require.NoError(t, err)
	assert.Equal(t, map[string]map[string]any{"checkout": {"tier": int64(1), "critical": true, "sla": 99.9}}, got)

	got, err = parse(t, FormatCSV, "team,service,owner\npayments,checkout,alice\n", LookupConfig{KeyColumn: "service", Attributes: []string{"owner"}})
	require.NoError(t, err)
	assert.Equal(t, map[string]map[string]any{"checkout": {"owner": "alice"}}, got)
}

func TestParseTableErrorsNameTheLine(t *testing.T) {
	for _, tt := range []struct {
		name, format, data string
		cfg                LookupConfig
		want               string
	}{
		{"csv wrong field count", FormatCSV, "service,team\ncheckout,payments\ncart,web,extra\n", LookupConfig{}, "line 3"},
		{"csv duplicate key", FormatCSV, "service,team\ncheckout,a\ncheckout,b\n", LookupConfig{}, `line 3: duplicate key "checkout"`},
		{"csv empty key", FormatCSV, "service,team\n,a\n", LookupConfig{}, `line 2: the key column "service" is empty`},
		{"csv unknown key column", FormatCSV, "service,team\n", LookupConfig{KeyColumn: "svc"}, `line 1: key column "svc" is not in the header`},
		{"csv unknown attribute", FormatCSV, "service,team\n", LookupConfig{Attributes: []string{"tier"}}, `line 1: attribute column "tier" is not in the header`},
		{"csv bare quote", FormatCSV, "service,team\ncheckout,\"pay\"ments\n", LookupConfig{}, "line 2"},
		{"yaml syntax", FormatYAML, "checkout:\n  team: payments\n   owner: x\n", LookupConfig{}, "line 3"},
		{"yaml row not a mapping", FormatYAML, "checkout:\n  team: payments\ncart: web\n", LookupConfig{}, `line 3: the value of "cart" must be a mapping`},
		{"yaml nested value", FormatYAML, "checkout:\n  team: [a, b]\n", LookupConfig{}, `line 2: attribute "team" of "checkout"`},
		{"yaml duplicate key", FormatYAML, "checkout: {team: a}\ncheckout: {team: b}\n", LookupConfig{}, "line 2"},
		{"json syntax", FormatJSON, "{\n  \"checkout\": {\"team\": \"a\"},\n  \"cart\": {\"team\": \"b\",}\n}\n", LookupConfig{}, "line 3"},
		{"json not an object", FormatJSON, "[1, 2]", LookupConfig{}, "line 1: expected a mapping"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.format, tt.data, tt.cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func traceWithService(service string) ptrace.Traces {
	return oneTrace(map[string]string{"service.name": service})
}

// TestLookupHotReload: the table is reloaded when the file changes (watched
// with fsnotify, or polled), a bad file keeps the last good table and the
// warning names the line; hits, misses and reloads are counted.
func TestLookupHotReload(t *testing.T) {
	for _, mode := range []string{ReloadWatch, ReloadPoll} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			path := writeFile(t, dir, "teams.csv", "service.name,team,owner\ncheckout,payments,alice\n")
			cfg := testConfig()
			cfg.Lookups = []LookupConfig{{File: path, Key: "service.name", Reload: mode, PollInterval: 20 * time.Millisecond}}
			e, tel, logs := testEnricher(t, cfg, fakeEnv(nil))
			ctx := context.Background()

			td, err := e.processTraces(ctx, traceWithService("checkout"))
			require.NoError(t, err)
			assert.Equal(t, map[string]any{"service.name": "checkout", "team": "payments", "owner": "alice"}, resourceOf(td))
			td, err = e.processTraces(ctx, traceWithService("unknown"))
			require.NoError(t, err)
			assert.Equal(t, map[string]any{"service.name": "unknown"}, resourceOf(td))
			_, err = e.processTraces(ctx, oneTrace(nil))
			require.NoError(t, err)

			table := attribute.NewSet(attribute.String("table", "teams"))
			metadatatest.AssertEqualProcessorEnrichLookupHits(t, tel, []metricdata.DataPoint[int64]{{Value: 1, Attributes: table}}, metricdatatest.IgnoreTimestamp())
			metadatatest.AssertEqualProcessorEnrichLookupMisses(t, tel, []metricdata.DataPoint[int64]{{Value: 2, Attributes: table}}, metricdatatest.IgnoreTimestamp())

			// The file is replaced: the new table is used.
			replaceFile(t, path, "service.name,team,owner\ncheckout,checkout-team,bob\ncart,web,carol\n")
			require.Eventually(t, func() bool {
				td, _ := e.processTraces(ctx, traceWithService("cart"))
				return resourceOf(td)["team"] == "web"
			}, 5*time.Second, 10*time.Millisecond)
			td, err = e.processTraces(ctx, traceWithService("checkout"))
			require.NoError(t, err)
			assert.Equal(t, "checkout-team", resourceOf(td)["team"])

			// A bad file: the last good table stays, the warning names the line.
			replaceFile(t, path, "service.name,team,owner\ncheckout,x,y\ncart,oops\n")
			require.Eventually(t, func() bool {
				return logs.FilterMessage("Lookup table rejected; keeping the last good table").Len() > 0
			}, 5*time.Second, 10*time.Millisecond)
			entry := logs.FilterMessage("Lookup table rejected; keeping the last good table").All()[0]
			assert.Contains(t, entry.ContextMap()["error"], "line 3")
			td, err = e.processTraces(ctx, traceWithService("checkout"))
			require.NoError(t, err)
			assert.Equal(t, "checkout-team", resourceOf(td)["team"])

			// Fixed again: reloaded.
			replaceFile(t, path, "service.name,team,owner\ncheckout,fixed,dave\n")
			require.Eventually(t, func() bool {
				td, _ := e.processTraces(ctx, traceWithService("checkout"))
				return resourceOf(td)["team"] == "fixed"
			}, 5*time.Second, 10*time.Millisecond)

			got, err := tel.GetMetric("otelcol_processor_enrich_lookup_reloads")
			require.NoError(t, err)
			byResult := map[string]int64{}
			for _, dp := range got.Data.(metricdata.Sum[int64]).DataPoints {
				r, _ := dp.Attributes.Value("result")
				byResult[r.AsString()] += dp.Value
			}
			assert.GreaterOrEqual(t, byResult["ok"], int64(2))
			assert.GreaterOrEqual(t, byResult["error"], int64(1))
		})
	}
}

// TestLookupOnItems: with span attributes as the target the key is read from
// the span, or from the resource when the span does not carry it; the
// lookup's own action applies.
func TestLookupOnItems(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "routes.yaml", "/cart:\n  route.owner: web\n  route.tier: 1\ncheckout:\n  route.owner: payments\n")
	cfg := testConfig()
	cfg.ApplyTo = []string{TargetSpan}
	cfg.Lookups = []LookupConfig{
		{File: path, Key: "http.route", Reload: ReloadNone, Action: ActionUpsert},
		{Name: "by-service", File: path, Key: "service.name", Reload: ReloadNone},
	}
	e, _, _ := testEnricher(t, cfg, fakeEnv(nil))
	td := traceWithService("checkout")
	span := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	span.Attributes().PutStr("route.owner", "someone")
	_, err := e.processTraces(context.Background(), td)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"http.route": "/cart", "route.owner": "web", "route.tier": int64(1)}, span.Attributes().AsRaw())
	assert.Equal(t, map[string]any{"service.name": "checkout"}, resourceOf(td))
}
