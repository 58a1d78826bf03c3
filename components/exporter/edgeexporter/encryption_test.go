// SPDX-License-Identifier: Apache-2.0

package edgeexporter

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/grpc/codes"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/metadata"
)

// The properties under test: with buffer.encryption, no plain text of the
// telemetry is on disk (log records and dead letters); every record names
// its key, so records written under an old key still decrypt after a
// rotation; a buffer that needs a key that is not configured (or another key
// under its id) fails the start naming the key id, changing no file; with
// the key back, everything is delivered.

var (
	keyA = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xA1}, 32))
	keyB = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xB2}, 32))
	keyC = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xC3}, 32))
)

// plainMarker is in every span genTraces makes.
const plainMarker = "3f1c0a9e-52b7-4c2e-9d0b-7e1f4b0c6a11"

func testKeyring(t *testing.T, active string, keys ...EncryptionKey) *keyring {
	t.Helper()
	kr, err := loadKeyring(EncryptionConfig{Active: active, Keys: keys}, true)
	require.NoError(t, err)
	t.Cleanup(kr.close)
	return kr
}

func TestEnvelopeRoundTrip(t *testing.T) {
	kr := testKeyring(t, "a", EncryptionKey{ID: "a", Key: configopaque.String(keyA)})
	for _, size := range []int{0, 10, 4 << 10, 64 << 10} {
		for _, compress := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d/%v", size, compress), func(t *testing.T) {
				plain := []byte(strings.Repeat(plainMarker, size/len(plainMarker)+1)[:size])
				env := kr.seal(nil, kindTraces, plain, compress)
				assert.False(t, size >= len(plainMarker) && bytes.Contains(env, []byte(plainMarker)), "plain text in the envelope")
				assert.Equal(t, "a", envelopeKeyID(env))
				got, err := kr.open(kindTraces, env)
				require.NoError(t, err)
				assert.Equal(t, plain, append([]byte{}, got...))

				_, err = kr.open(kindLogs, env)
				require.ErrorIs(t, err, errRecordTampered, "bound to its signal")
				bad := append([]byte{}, env...)
				bad[len(bad)-1] ^= 1
				_, err = kr.open(kindTraces, bad)
				require.ErrorIs(t, err, errRecordTampered)
			})
		}
	}
	// Two seals of the same plain text differ (fresh nonce).
	assert.NotEqual(t, kr.seal(nil, kindTraces, []byte("x"), false), kr.seal(nil, kindTraces, []byte("x"), false))
}

func TestEnvelopeKeys(t *testing.T) {
	a := testKeyring(t, "a", EncryptionKey{ID: "a", Key: configopaque.String(keyA)})
	env := a.seal(nil, kindTraces, []byte("hello"), false)

	// Another process with the same key (another salt) opens it.
	a2 := testKeyring(t, "b", EncryptionKey{ID: "b", Key: configopaque.String(keyB)}, EncryptionKey{ID: "a", Key: configopaque.String(keyA)})
	got, err := a2.open(kindTraces, env)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(got))

	// Key missing.
	b := testKeyring(t, "b", EncryptionKey{ID: "b", Key: configopaque.String(keyB)})
	_, err = b.open(kindTraces, env)
	require.ErrorIs(t, err, errKeyUnavailable)
	assert.Contains(t, err.Error(), `key id "a", which is not in buffer.encryption.keys`)

	// Another key under the same id: named by fingerprint, not "tampered".
	wrong := testKeyring(t, "a", EncryptionKey{ID: "a", Key: configopaque.String(keyC)})
	_, err = wrong.open(kindTraces, env)
	require.ErrorIs(t, err, errKeyUnavailable)
	assert.Contains(t, err.Error(), `the key configured as id "a"`)
	assert.NotContains(t, err.Error(), keyA)

	// No keyring at all.
	var none *keyring
	_, err = none.open(kindTraces, env)
	require.ErrorIs(t, err, errKeyUnavailable)
}

func TestEncryptionConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, "encrypted").String())
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, EncryptionConfig{Active: "2026-11", Keys: []EncryptionKey{
		{ID: "2026-11", Key: "DIpKxQVMTAj3ms0QfPOOuxmzPc2zqNnC7eR3m2uV3E4="},
		{ID: "2026-05", KeyFile: "/etc/otelcol-edge/keys/2026-05.key"},
	}}, cfg.Buffer.Encryption)
	assert.True(t, cfg.Buffer.Encryption.encrypts())
	assert.True(t, walOptions(cfg).DisableCompression, "compressed inside the envelope instead")

	cm, err = confmaptest.LoadConf(filepath.Join("testdata", "invalid_encryption.yaml"))
	require.NoError(t, err)
	sub, err = cm.Sub(component.NewID(metadata.Type).String())
	require.NoError(t, err)
	cfg = createDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	err = confmap.Validate(cfg)
	require.Error(t, err)
	for _, want := range []string{
		`"buffer.encryption.keys[0].key" (id "a") must be 32 bytes in base64 (openssl rand -base64 32): it decodes to 16 bytes`,
		`"buffer.encryption.keys[1]" (id "b") must set exactly one of "key" and "key_file"`,
		`"buffer.encryption.keys[2].id" "a" is listed twice`,
		`"buffer.encryption.keys[3].id" "bad id" must be 1 to 64 characters`,
		`"buffer.encryption.active" "c" is not the id of a key in "buffer.encryption.keys"`,
	} {
		assert.Contains(t, err.Error(), want)
	}
	assert.NotContains(t, err.Error(), "AAAAAAAAAAAAAAAAAAAAAA==", "the key is not in the error")

	cfg = testConfig(t, sink0(t))
	cfg.Buffer.Encryption.Keys = []EncryptionKey{{ID: "a", Key: configopaque.String(keyA)}}
	require.ErrorContains(t, cfg.Validate(), `"buffer.encryption.active" must be set`)
}

// filesUnder maps every file under dir to its content and modification time.
func filesUnder(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		fi, err := d.Info()
		require.NoError(t, err)
		out[p] = fmt.Sprintf("%x %d", sha256.Sum256(b), fi.ModTime().UnixNano())
		return nil
	}))
	return out
}

// assertNoPlainText fails if the marker is in any file under dir.
func assertNoPlainText(t *testing.T, dir string) {
	t.Helper()
	n := 0
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		n++
		for _, m := range []string{plainMarker, "GET /cart", "checkout"} {
			assert.False(t, bytes.Contains(b, []byte(m)), "%q in plain text in %s", m, p)
		}
		return nil
	}))
	require.Positive(t, n)
}

func encryptedConfig(t *testing.T, addr, active string, keys ...EncryptionKey) *Config {
	cfg := testConfig(t, addr)
	cfg.Buffer.Encryption = EncryptionConfig{Active: active, Keys: keys}
	require.NoError(t, cfg.Validate())
	return cfg
}

// TestEncryptedBufferHasNoPlainText: records written while the backend is
// down are on disk without their plain text, and are all delivered after a
// restart. Without encryption the marker is in the segments (zstd keeps
// literals).
func TestEncryptedBufferHasNoPlainText(t *testing.T) {
	sink := newStoppedSink(t)
	cfg := encryptedConfig(t, sink.addr, "a", EncryptionKey{ID: "a", Key: configopaque.String(keyA)})
	h := startExporter(t, cfg)
	for i := 0; i < 20; i++ {
		h.sendSpans(uint64(i*100), 100)
	}
	h.stop()
	assertNoPlainText(t, cfg.Buffer.Directory)
	assert.FileExists(t, filepath.Join(cfg.Buffer.Directory, "edge", keyEpochsName))

	h2 := startExporter(t, cfg)
	assert.Equal(t, uint64(2000), h2.pending())
	sink.start()
	waitFor(t, 15*time.Second, func() bool { return sink.spanCount() >= 2000 }, "backlog after restart")
	waitFor(t, 5*time.Second, func() bool { return h2.pending() == 0 }, "drain")
}

// TestEncryptionMissingKeyRefusedThenRotated: records written with key a;
// a restart configured with b only fails naming a and changes no file; the
// same with another key under id a; with b active and a kept, everything is
// delivered, and once nothing needs a, a start without it succeeds.
func TestEncryptionMissingKeyRefusedThenRotated(t *testing.T) {
	sink := newStoppedSink(t)
	ka := EncryptionKey{ID: "a", Key: configopaque.String(keyA)}
	kb := EncryptionKey{ID: "b", Key: configopaque.String(keyB)}
	cfg := encryptedConfig(t, sink.addr, "a", ka)
	dir := cfg.Buffer.Directory
	h := startExporter(t, cfg)
	for i := 0; i < 10; i++ {
		h.sendSpans(uint64(i*100), 100)
	}
	h.stop()
	before := filesUnder(t, dir)

	onlyB := encryptedConfig(t, sink.addr, "b", kb)
	onlyB.Buffer.Directory = dir
	err := startErr(t, onlyB)
	require.ErrorIs(t, err, errKeyMissing)
	assert.Contains(t, err.Error(), `key id "a" (records from 1) is not configured`)
	assert.NotContains(t, err.Error(), keyA)
	assert.Equal(t, before, filesUnder(t, dir), "no file changed by the refused start")

	wrongA := encryptedConfig(t, sink.addr, "a", EncryptionKey{ID: "a", Key: configopaque.String(keyC)})
	wrongA.Buffer.Directory = dir
	err = startErr(t, wrongA)
	require.ErrorIs(t, err, errKeyMissing)
	assert.Contains(t, err.Error(), `the key configured as id "a" (fingerprint`)
	assert.Equal(t, before, filesUnder(t, dir))

	noEnc := testConfig(t, sink.addr)
	noEnc.Buffer.Directory = dir
	require.ErrorIs(t, startErr(t, noEnc), errKeyMissing, "dropping the encryption block does not skip the check")
	assert.Equal(t, before, filesUnder(t, dir))

	// Rotation: b active, a kept to read the old records.
	rotated := encryptedConfig(t, sink.addr, "b", kb, ka)
	rotated.Buffer.Directory = dir
	h2 := startExporter(t, rotated)
	h2.sendSpans(5000, 100) // written with b
	assert.Equal(t, uint64(1100), h2.pending())
	sink.start()
	waitFor(t, 15*time.Second, func() bool { return sink.spanCount() >= 1100 }, "old (a) and new (b) records delivered")
	waitFor(t, 5*time.Second, func() bool { return h2.pending() == 0 }, "drain")
	h2.stop()
	assertNoPlainText(t, dir)

	// Nothing needs a any more.
	onlyB.Buffer.Directory = dir
	h3 := startExporter(t, onlyB)
	h3.sendSpans(9000, 10)
	waitFor(t, 5*time.Second, func() bool { return sink.spanCount() >= 1110 }, "new records after removing a")
}

// TestEncryptionTurnedOff: active "none" keeps reading the encrypted records
// and writes new ones in plain text; once none is left, the key epochs file
// goes away.
func TestEncryptionTurnedOff(t *testing.T) {
	sink := newStoppedSink(t)
	ka := EncryptionKey{ID: "a", Key: configopaque.String(keyA)}
	cfg := encryptedConfig(t, sink.addr, "a", ka)
	h := startExporter(t, cfg)
	h.sendSpans(0, 100)
	h.stop()
	off := encryptedConfig(t, sink.addr, EncryptionNone, ka)
	off.Buffer.Directory = cfg.Buffer.Directory
	h2 := startExporter(t, off)
	h2.sendSpans(1000, 100)
	sink.start()
	waitFor(t, 15*time.Second, func() bool { return sink.spanCount() >= 200 }, "both delivered")
	waitFor(t, 5*time.Second, func() bool { return h2.pending() == 0 }, "drain")
	h2.stop()
	assert.NoFileExists(t, filepath.Join(cfg.Buffer.Directory, "edge", keyEpochsName))
}

// openDocumentedEnvelope decrypts an envelope following only the layout
// documented in the README, as an operator's script would.
func openDocumentedEnvelope(t *testing.T, key []byte, kind byte, env []byte) []byte {
	t.Helper()
	require.Equal(t, byte(0xE1), env[0])
	n := int(env[2])
	salt := env[3+n+4 : 3+n+4+16]
	nonce := env[3+n+20 : 3+n+32]
	m := hmac.New(sha256.New, key)
	m.Write([]byte("otelcol-edge buffer v1"))
	m.Write(salt)
	block, err := aes.NewCipher(m.Sum(nil))
	require.NoError(t, err)
	gcm, err := cipher.NewGCM(block)
	require.NoError(t, err)
	plain, err := gcm.Open(nil, nonce, env[3+n+32:], append(append([]byte{}, env[:3+n+32]...), kind))
	require.NoError(t, err)
	return plain
}

// TestDeadLetterEncrypted: a rejected request goes to
// deadletter-traces.jsonl.enc, without plain text, and decrypts (with the
// documented layout) into the OTLP JSON line the plain file would hold.
func TestDeadLetterEncrypted(t *testing.T) {
	sink := newTestSink(t)
	sink.setFail(codes.InvalidArgument)
	cfg := encryptedConfig(t, sink.addr, "a", EncryptionKey{ID: "a", Key: configopaque.String(keyA)})
	h := startExporter(t, cfg)
	h.sendSpans(0, 300)
	waitFor(t, 5*time.Second, func() bool { return h.pending() == 0 }, "rejected data acknowledged")
	h.stop()
	dir := filepath.Join(cfg.Buffer.Directory, "edge")
	assert.NoFileExists(t, filepath.Join(dir, "deadletter-traces.jsonl"))
	path := filepath.Join(dir, "deadletter-traces.jsonl.enc")
	assertNoPlainText(t, cfg.Buffer.Directory)

	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	key, _ := base64.StdEncoding.DecodeString(keyA)
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	spans := 0
	for sc.Scan() {
		env, err := base64.StdEncoding.DecodeString(sc.Text())
		require.NoError(t, err)
		td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(openDocumentedEnvelope(t, key, 1, env))
		require.NoError(t, err)
		spans += td.SpanCount()
	}
	require.NoError(t, sc.Err())
	assert.Equal(t, 300, spans)
}
