// SPDX-License-Identifier: Apache-2.0

package edgeexporter

import (
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"
)

// TestBreakTamperEpochsFileTurnsMissingKeyIntoDrop: key-epochs.json is not
// authenticated (plain JSON, no MAC under any key), yet since 34b4cd7 it is
// trusted to decide that a record is altered and must be dropped
// (keyring.openRecord, encryption.go: ep.KeyID != id -> errRecordTampered).
// Records written with key a; a is then genuinely unavailable (removed from
// the config by mistake, its key file not mounted). The start check would
// refuse to start ("key id a is not configured"): nothing is dropped. An
// attacker (or a stale restore) edits key-epochs.json so that the range
// names key b (configured; its id and fingerprint are public: they are in
// the same file and in every record b writes). The start check passes and
// every genuine record sealed with a is acknowledged and counted dropped
// (reason corrupt) as "altered": gone for good, even once key a is back.
//
// Expected: a record naming a key that is not configured is never dropped
// (README "Encryption at rest"); the edited epochs at most stop sending.
// Happened (before the fix): all 500 genuine items dropped, pending 0 after
// a restart with key a configured again. Fixed: openRecord only explains the
// wait with the epochs; a record is dropped as altered only when a configured
// key proves it (open/sealedBy). Kept as a regression test.
func TestBreakTamperEpochsFileTurnsMissingKeyIntoDrop(t *testing.T) {
	sink := newStoppedSink(t)
	ka := EncryptionKey{ID: "a", Key: configopaque.String(keyA)}
	kb := EncryptionKey{ID: "b", Key: configopaque.String(keyB)}
	cfg := encryptedConfig(t, sink.addr, "a", ka)
	h := startExporter(t, cfg)
	for i := 0; i < 5; i++ {
		h.sendSpans(uint64(i*100), 100)
	}
	bdir := h.traces.e.bufferDir()
	h.stop()

	// The attacker's edit: every epoch naming a now names b.
	path := filepath.Join(bdir, keyEpochsName)
	ke, have, err := readKeyEpochs(bdir)
	require.NoError(t, err)
	require.True(t, have)
	fpB := testKeyring(t, "b", kb).keys["b"].fingerprintHex()
	for i := range ke.Epochs {
		if ke.Epochs[i].KeyID == "a" {
			ke.Epochs[i].KeyID, ke.Epochs[i].Fingerprint = "b", fpB
		}
	}
	b, err := json.MarshalIndent(ke, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o600))

	// Key a unavailable, b active: must not drop a's records.
	h2 := startExporter(t, withKeys(t, cfg, "b", kb))
	require.Equal(t, uint64(500), h2.pending())
	sink.start()
	time.Sleep(3 * time.Second)
	dropped := h2.sum("otelcol_exporter_edge_items_dropped", "reason", "corrupt")
	pending := h2.pending()
	h2.stop()
	assert.Equal(t, int64(0), dropped, "genuine records sealed with a missing key dropped as altered on the word of an unauthenticated key-epochs.json")
	assert.Equal(t, uint64(500), pending, "records lost")

	// Key a restored: the data must still be there.
	h3 := startExporter(t, withKeys(t, cfg, "a", ka, kb))
	waitFor(t, 10*time.Second, func() bool { return h3.pending() == 0 }, "drain")
	h3.stop()
	assert.Equal(t, 500, sink.spanCount(), "every genuine span delivered once key a is back")
}

// TestBreakTamperRecordMovedToAnotherSequence: the envelope's authenticated
// data binds the key id, fingerprint, salt, nonce and signal kind, not the
// record's sequence (nor the log). An attacker with write access to the
// buffer copies a genuine encrypted record over another one (the frames
// rewritten, the CRC32C frame checksums fixed): it authenticates and is
// delivered twice, and the record it replaced is silently gone (not counted
// as dropped).
//
// Known, open: binding the sequence and the log into the authenticated data
// needs a new envelope version (documented in the README's encryption
// section as a limit).
//
// Expected: a record moved to another sequence is detected as altered
// (dropped, items_dropped reason corrupt) as the README promises for "a
// record altered on disk".
// Happened: no drop counted; the copied record's spans are delivered twice
// and the overwritten record's spans never arrive.
func TestBreakTamperRecordMovedToAnotherSequence(t *testing.T) {
	if os.Getenv("EDGE_BREAK") == "" {
		t.Skip("known break, see comment: run with EDGE_BREAK=1")
	}
	sink := newStoppedSink(t)
	ka := EncryptionKey{ID: "a", Key: configopaque.String(keyA)}
	cfg := encryptedConfig(t, sink.addr, "a", ka)
	h := startExporter(t, cfg)
	for i := 0; i < 3; i++ {
		h.sendSpans(uint64(i*100), 100)
	}
	dir := filepath.Join(h.traces.e.bufferDir(), "wal")
	h.stop()

	segs, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	require.NoError(t, err)
	require.Len(t, segs, 1)
	// Record 2's frame now carries record 1's sealed payload (and item
	// count) under sequence 2, checksums recomputed: a replay.
	replayFrame(t, segs[0], 1, 2)

	h2 := startExporter(t, cfg)
	sink.start()
	waitFor(t, 15*time.Second, func() bool { return h2.pending() == 0 }, "drain")
	time.Sleep(200 * time.Millisecond)
	dropped := h2.sum("otelcol_exporter_edge_items_dropped", "reason", "corrupt")
	h2.stop()
	assert.Equal(t, int64(100), dropped, "the record moved to sequence 2 was not detected as altered")
	assert.Equal(t, 200, sink.spanCount(), "spans delivered (300 = record 1 twice)")
}

// withKeys is cfg (same buffer directory) with another encryption block.
func withKeys(t *testing.T, cfg *Config, active string, keys ...EncryptionKey) *Config {
	c := *cfg
	c.Buffer.Encryption = EncryptionConfig{Active: active, Keys: keys}
	require.NoError(t, c.Validate())
	return &c
}

// replayFrame rewrites the segment file path so that the record of sequence
// to holds the payload, kind and item count of the record of sequence from
// (frame checksums fixed: CRC32C is no MAC).
func replayFrame(t *testing.T, path string, from, to uint64) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	type frame struct {
		hdr     []byte
		payload []byte
	}
	var frames []frame
	off := 8
	for off+25 <= len(b) {
		length := int(binary.LittleEndian.Uint32(b[off+4 : off+8]))
		frames = append(frames, frame{hdr: append([]byte{}, b[off:off+25]...), payload: b[off+25 : off+25+length]})
		off += 25 + length
	}
	var src frame
	for _, f := range frames {
		if binary.LittleEndian.Uint64(f.hdr[8:16]) == from {
			src = f
		}
	}
	require.NotNil(t, src.hdr)
	out := append([]byte{}, b[:8]...)
	for _, f := range frames {
		if binary.LittleEndian.Uint64(f.hdr[8:16]) == to {
			h := append([]byte{}, src.hdr...)
			binary.LittleEndian.PutUint64(h[8:16], to)
			binary.LittleEndian.PutUint32(h[0:4], crc32.Checksum(h[4:25], castagnoli))
			f = frame{hdr: h, payload: src.payload}
		}
		out = append(out, f.hdr...)
		out = append(out, f.payload...)
	}
	require.NoError(t, os.WriteFile(path, out, 0o600))
}
