// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"
)

// The properties under test: the client metadata of metadata_keys survives
// the record format (with and without encryption) and comes back on the
// request's context; records of the previous format (no kindMetadata) read
// as before; records whose metadata differ are never in one partition.

func infoWith(md map[string][]string) client.Info {
	return client.Info{Metadata: client.NewMetadata(md)}
}

// metaRecord builds the record the exporter stores for a request carrying md.
func metaRecord(t *testing.T, keys []string, md map[string][]string, payload string) wal.Record {
	t.Helper()
	e := &edgeExporter{cfg: &Config{MetadataKeys: keys}}
	ctx := client.NewContext(context.Background(), infoWith(md))
	kind, stored, release := e.prefixMetadata(ctx, kindTraces, []byte(payload))
	defer release()
	return wal.Record{Kind: kind, Payload: append([]byte(nil), stored...)}
}

func TestMetadataRoundTrip(t *testing.T) {
	keys := []string{"X-Tenant", "x-region"}
	rec := metaRecord(t, keys, map[string][]string{"x-tenant": {"acme"}, "X-Region": {"eu", "us"}, "other": {"no"}}, "otlp")
	require.Equal(t, kindTraces|kindMetadata, rec.Kind)
	key, body := splitMetadata(rec)
	assert.Equal(t, "otlp", string(body))
	md, err := decodeMetadata(key)
	require.NoError(t, err)
	assert.Equal(t, map[string][]string{"x-tenant": {"acme"}, "x-region": {"eu", "us"}}, md)

	info := client.FromContext(withClientMetadata(context.Background(), key))
	assert.Equal(t, []string{"acme"}, info.Metadata.Get("X-Tenant"))
	got := map[string][]string{}
	outgoingMetadata(withClientMetadata(context.Background(), key), func(k string, v ...string) { got[k] = v })
	assert.Equal(t, map[string][]string{"x-tenant": {"acme"}, "x-region": {"eu", "us"}}, got)
}

func TestMetadataAbsentKeepsPreviousFormat(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys []string
		md   map[string][]string
	}{
		{"no keys configured", nil, map[string][]string{"x-tenant": {"acme"}}},
		{"no configured key in the request", []string{"x-tenant"}, map[string][]string{"other": {"x"}}},
		{"no client info", []string{"x-tenant"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := metaRecord(t, tc.keys, tc.md, "otlp")
			assert.Equal(t, kindTraces, rec.Kind)
			assert.Equal(t, "otlp", string(rec.Payload), "stored exactly as the previous format")
			key, body := splitMetadata(rec)
			assert.Nil(t, key)
			assert.Equal(t, "otlp", string(body))
			assert.Equal(t, context.Background(), withClientMetadata(context.Background(), key))
		})
	}
}

func TestSamePartition(t *testing.T) {
	keys := []string{"x-tenant"}
	a1 := metaRecord(t, keys, map[string][]string{"x-tenant": {"a"}}, "one")
	a2 := metaRecord(t, keys, map[string][]string{"X-Tenant": {"a"}}, "two")
	b := metaRecord(t, keys, map[string][]string{"x-tenant": {"b"}}, "one")
	ab := metaRecord(t, keys, map[string][]string{"x-tenant": {"a", "b"}}, "one")
	none := metaRecord(t, keys, nil, "one")
	old := wal.Record{Kind: kindTraces, Payload: []byte("old")}
	metrics := wal.Record{Kind: kindMetrics, Payload: []byte("old")}
	assert.True(t, samePartition(a1, a2))
	assert.True(t, samePartition(none, old))
	assert.False(t, samePartition(a1, b))
	assert.False(t, samePartition(a1, ab))
	assert.False(t, samePartition(a1, none))
	assert.False(t, samePartition(old, metrics))
}

func TestMetadataInsideEnvelope(t *testing.T) {
	kr := testKeyring(t, "a", EncryptionKey{ID: "a", Key: configopaque.String(keyA)})
	rec := metaRecord(t, []string{"x-tenant"}, map[string][]string{"x-tenant": {"tenant-secret"}}, "otlp")
	env := kr.seal(nil, rec.Kind, rec.Payload, true)
	assert.NotContains(t, string(env), "tenant-secret")
	// As read: the kind stored is rec.Kind|kindEncrypted, opened with the
	// flag kept (it is part of the additional data).
	stored := wal.Record{Kind: rec.Kind | kindEncrypted, Payload: env}
	plain, err := kr.open(stored.Kind&^kindEncrypted, stored.Payload)
	require.NoError(t, err)
	key, body := splitMetadata(wal.Record{Kind: stored.Kind &^ kindEncrypted, Payload: plain})
	assert.Equal(t, "otlp", string(body))
	md, err := decodeMetadata(key)
	require.NoError(t, err)
	assert.Equal(t, map[string][]string{"x-tenant": {"tenant-secret"}}, md)
	// The flag cleared on disk: the envelope no longer authenticates.
	_, err = kr.open(kindTraces, env)
	assert.ErrorIs(t, err, errRecordTampered)
}

func TestDecodeMetadataRejectsDamage(t *testing.T) {
	rec := metaRecord(t, []string{"x-tenant"}, map[string][]string{"x-tenant": {"acme"}}, "")
	key, _ := splitMetadata(rec)
	for i := range key {
		_, err := decodeMetadata(key[:i])
		assert.Error(t, err, "truncated to %d bytes", i)
	}
	_, err := decodeMetadata(append(append([]byte(nil), key...), 0))
	assert.Error(t, err, "trailing byte")
}

func TestValidateMetadataKeys(t *testing.T) {
	assert.Empty(t, validateMetadataKeys([]string{"x-tenant", "Authorization"}))
	errs := validateMetadataKeys([]string{"x-tenant", "X-Tenant", "", "bad key"})
	require.Len(t, errs, 3)
	assert.ErrorContains(t, errs[0], `"metadata_keys[1]" "X-Tenant" is listed twice`)
	assert.ErrorContains(t, errs[1], `"metadata_keys[2]" "" must be a header name`)
	assert.ErrorContains(t, errs[2], `"metadata_keys[3]" "bad key" must be a header name`)
}
