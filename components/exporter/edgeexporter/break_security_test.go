// SPDX-License-Identifier: Apache-2.0

package edgeexporter

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"
)

// TestBreakSecTamperedFingerprintStallsInsteadOfDropping: a record altered on
// disk in its (unauthenticated-before-use) fingerprint or key id is classed as
// errKeyUnavailable, not errRecordTampered. decrypt() then never drops it: the
// dispatcher stops sending the whole buffer and retries forever, and a restart
// does not help (the start check reads key-epochs.json, which is intact). The
// documented behaviour for a damaged or altered record is "acknowledged and
// counted as dropped (reason corrupt)". Fixed: a configured key that
// authenticates the record under its own id and fingerprint proves the
// header altered (keyring.sealedBy); without the key, the key epochs do
// (TestTamperedKeyHeaderAgainstEpochs).
func TestBreakSecTamperedFingerprintStallsInsteadOfDropping(t *testing.T) {
	kr := testKeyring(t, "a",
		EncryptionKey{ID: "a", Key: configopaque.String(keyA)},
		EncryptionKey{ID: "b", Key: configopaque.String(keyB)})
	env := kr.seal(nil, kindTraces, []byte("hello telemetry"), false)
	n := int(env[2])

	t.Run("fingerprint", func(t *testing.T) {
		bad := append([]byte{}, env...)
		bad[3+n] ^= 0xFF // one byte of the fingerprint
		_, err := kr.open(kindTraces, bad)
		require.ErrorIs(t, err, errRecordTampered, "altered record blocks the buffer forever: %v", err)
	})
	t.Run("key id to another configured key", func(t *testing.T) {
		bad := append([]byte{}, env...)
		bad[3] = 'b' // "a" -> "b", a configured key
		_, err := kr.open(kindTraces, bad)
		require.ErrorIs(t, err, errRecordTampered, "altered record blocks the buffer forever: %v", err)
	})
	t.Run("key id to an unknown key", func(t *testing.T) {
		bad := append([]byte{}, env...)
		bad[3] = 'z'
		_, err := kr.open(kindTraces, bad)
		require.ErrorIs(t, err, errRecordTampered, "altered record blocks the buffer forever: %v", err)
	})
}

// TestBreakSecUserInfoAfterGRPCScheme: user info behind a gRPC target scheme
// with an empty authority (dns:///user:token@host:port) is not seen by
// hasUserInfo/redactURL (the "host" part is cut at the first "/", i.e. empty).
// Validation still rejects the endpoint (grpc takes host:port), but the error
// quotes it verbatim, so the token is printed by the collector at start (and
// reaches whatever records start-up failures, e.g. OpAMP/journal).
func TestBreakSecUserInfoAfterGRPCScheme(t *testing.T) {
	for _, c := range []struct{ protocol, ep string }{
		{ProtocolGRPC, "dns:///user:s3cr3t-token@backend.example.com:4317"},
		{ProtocolGRPC, "passthrough:///user:s3cr3t-token@backend.example.com:4317"},
		{ProtocolHTTP, "https:///user:s3cr3t-token@backend.example.com:4318"},
	} {
		err := validateEndpoint(c.protocol, c.ep)
		require.Error(t, err)
		require.NotContains(t, err.Error(), "s3cr3t-token", "credential in the validation error of %q", c.ep)
		require.NotContains(t, redactURL(c.ep), "s3cr3t-token")
	}
}
