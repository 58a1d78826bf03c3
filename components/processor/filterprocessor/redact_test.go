// SPDX-License-Identifier: Apache-2.0

package filterprocessor

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-edge/otelcol-edge/components/processor/filterprocessor/internal/metadata"
)

const card = "4111 1111 1111 1111"

// testHashKey is a hash key of the minimum length, 32 bytes.
const testHashKey = "0123456789abcdef0123456789abcdef"

func redactCfg() *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Redact = RedactConfig{
		HashKey: testHashKey,
		Mask:    DefaultMask,
		Keys: []KeyRule{
			{Pattern: "*password*", Match: MatchGlob, Action: RedactDelete},
			{Pattern: "user.id", Action: RedactHash},
			{Pattern: "^token_.*$", Match: MatchRegex},
		},
		Values: []ValueRule{{Builtin: PatternCard}, {Builtin: PatternEmail}, {Builtin: PatternBearer}, {Builtin: PatternIPv4}},
	}
	return cfg
}

func fill(m pcommon.Map) {
	m.PutStr("note", "paid with "+card+" by a@b.io from 10.1.2.3")
	m.PutInt("num", 4111111111111111)
	m.PutInt("small", 42)
	m.PutDouble("dbl", 4111111111111111)
	m.PutStr("db_password", "hunter2")
	m.PutStr("user.id", "u-1")
	m.PutStr("token_x", "abc")
	m.PutStr("auth", "Bearer abc.def")
	nested := m.PutEmptyMap("nested")
	nested.PutStr("password", "p")
	nested.PutEmptySlice("list").AppendEmpty().SetStr(card)
}

func checkRedacted(t *testing.T, m pcommon.Map, where string) {
	t.Helper()
	get := func(k string) string { v, _ := m.Get(k); return v.AsString() }
	assert.Equal(t, "paid with **** by **** from ****", get("note"), where)
	assert.Equal(t, "****", get("num"), where)
	assert.Equal(t, "****", get("dbl"), where)
	assert.Equal(t, "42", get("small"), where)
	_, ok := m.Get("db_password")
	assert.False(t, ok, where)
	mac := hmac.New(sha256.New, []byte(testHashKey))
	mac.Write([]byte("u-1"))
	assert.Equal(t, hex.EncodeToString(mac.Sum(nil)), get("user.id"), where)
	assert.Equal(t, "****", get("token_x"), where)
	assert.Equal(t, "****", get("auth"), where)
	assert.Equal(t, `{"list":["****"]}`, get("nested"), where)
}

func TestRedactEverywhere(t *testing.T) {
	cfg := redactCfg()
	require.NoError(t, cfg.Validate())
	set := processortest.NewNopSettings(metadata.Type)
	ctx := context.Background()

	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	fill(rs.Resource().Attributes())
	ss := rs.ScopeSpans().AppendEmpty()
	fill(ss.Scope().Attributes())
	span := ss.Spans().AppendEmpty()
	fill(span.Attributes())
	fill(span.Events().AppendEmpty().Attributes())
	fill(span.Links().AppendEmpty().Attributes())
	tp, err := newFilterProcessor(set, cfg, signalTraces)
	require.NoError(t, err)
	_, err = tp.processTraces(ctx, td)
	require.NoError(t, err)
	checkRedacted(t, rs.Resource().Attributes(), "resource")
	checkRedacted(t, ss.Scope().Attributes(), "scope")
	checkRedacted(t, span.Attributes(), "span")
	checkRedacted(t, span.Events().At(0).Attributes(), "event")
	checkRedacted(t, span.Links().At(0).Attributes(), "link")

	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	fill(lr.Attributes())
	fill(lr.Body().SetEmptyMap())
	lr2 := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().AppendEmpty()
	lr2.Body().SetStr("card " + card)
	lp, err := newFilterProcessor(set, cfg, signalLogs)
	require.NoError(t, err)
	_, err = lp.processLogs(ctx, ld)
	require.NoError(t, err)
	checkRedacted(t, lr.Attributes(), "log")
	checkRedacted(t, lr.Body().Map(), "body")
	assert.Equal(t, "card ****", lr2.Body().Str())

	md := pmetric.NewMetrics()
	dp := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyHistogram().DataPoints().AppendEmpty()
	fill(dp.Attributes())
	mp, err := newFilterProcessor(set, cfg, signalMetrics)
	require.NoError(t, err)
	_, err = mp.processMetrics(ctx, md)
	require.NoError(t, err)
	checkRedacted(t, dp.Attributes(), "datapoint")
}

func TestRedactPrecedence(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Redact.AllowKeys = []string{"http.*", "user.email", "secret"}
	cfg.Redact.Keys = []KeyRule{{Pattern: "secret", Action: RedactMask}}
	cfg.Redact.Values = []ValueRule{{Builtin: PatternEmail, Action: RedactDelete}}
	require.NoError(t, cfg.Validate())
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	a := lr.Attributes()
	a.PutStr("http.route", "/x")     // allowed
	a.PutStr("user.email", "a@b.io") // allowed key, blocked value: deleted
	a.PutStr("secret", "s")          // allowed and blocked: the block wins
	a.PutStr("other", "o")           // not allowed: deleted (fails closed)
	m := a.PutEmptyMap("http.headers")
	m.PutStr("anything", "kept") // allow_keys applies to top-level keys only
	lp, err := newFilterProcessor(processortest.NewNopSettings(metadata.Type), cfg, signalLogs)
	require.NoError(t, err)
	_, err = lp.processLogs(context.Background(), ld)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"http.route": "/x", "secret": "****", "http.headers": map[string]any{"anything": "kept"}}, a.AsRaw())
}

func TestLuhn(t *testing.T) {
	assert.True(t, luhn("4111 1111 1111 1111"))
	assert.True(t, luhn("5500-0000-0000-0004"))
	assert.False(t, luhn("4111 1111 1111 1112"))
	assert.False(t, luhn("123456789012"))
}
