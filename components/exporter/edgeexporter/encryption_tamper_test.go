// SPDX-License-Identifier: Apache-2.0

package edgeexporter

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"
)

// TestTamperedKeyHeaderAgainstEpochs: the key that sealed the record is not
// configured, so no configured key can prove the header altered. The key
// epochs say which key wrote each sequence range, but key-epochs.json is not
// authenticated (an attacker who edits it must not turn "key missing, wait"
// into a drop of genuine data: TestBreakTamperEpochsFileTurnsMissingKeyIntoDrop):
// every such record stays errKeyUnavailable (sending waits), and the error
// names the disagreement between the record and the epochs when there is one.
func TestTamperedKeyHeaderAgainstEpochs(t *testing.T) {
	writer := testKeyring(t, "a", EncryptionKey{ID: "a", Key: configopaque.String(keyA)})
	env := writer.seal(nil, kindTraces, []byte("hello telemetry"), false)
	n := int(env[2])
	fpA := writer.keys["a"].fingerprintHex()

	// Key a was removed by the operator; b is configured.
	kr := testKeyring(t, "b", EncryptionKey{ID: "b", Key: configopaque.String(keyB)})
	kr.setEpochs(keyEpochs{Version: 1, Epochs: []keyEpoch{
		{FirstSeq: 10, KeyID: "a", Fingerprint: fpA},
		{FirstSeq: 20},
		{FirstSeq: 30, KeyID: "b", Fingerprint: kr.keys["b"].fingerprintHex()},
	}})

	unavailable := func(seq uint64, env []byte, disagreement string) {
		t.Helper()
		_, err := kr.openRecord(kindTraces, seq, env)
		require.ErrorIs(t, err, errKeyUnavailable)
		require.NotErrorIs(t, err, errRecordTampered, "never dropped on the epochs' word alone")
		if disagreement != "" {
			assert.Contains(t, err.Error(), disagreement)
		} else {
			assert.NotContains(t, err.Error(), "key-epochs.json says")
		}
	}
	unavailable(15, env, "") // genuinely missing: names the key of its epoch
	unavailable(5, env, "")  // no epoch covers seq 5

	bad := append([]byte{}, env...)
	bad[3] = 'z' // key id a -> z
	unavailable(15, bad, `written with key id "a"`)
	unavailable(5, bad, "")

	bad = append([]byte{}, env...)
	bad[3+n] ^= 0xFF // fingerprint
	unavailable(15, bad, "one of them was altered")

	// An encrypted record in an epoch written in plain text.
	unavailable(25, env, "written in plain text")
	// Names a (missing) where the epoch says b (configured).
	unavailable(35, env, `written with key id "b"`)

	// Proof by a configured key: a record sealed by b whose key id was
	// edited to a is dropped as altered (b authenticates it under its own id).
	sealedB := kr.seal(nil, kindTraces, []byte("hello telemetry"), false)
	sealedB[3] = 'a'
	_, err := kr.openRecord(kindTraces, 35, sealedB)
	require.ErrorIs(t, err, errRecordTampered)
}

// editRecords rewrites the payloads of the records of a segment file whose
// sequence edit returns true for (fixing the frame checksums, as an attacker
// would: CRC32C is no MAC).
func editRecords(t *testing.T, path string, edit func(seq uint64, payload []byte) bool) int {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	edited := 0
	for off := 8; off+25 <= len(b); {
		h := b[off : off+25]
		length := int(binary.LittleEndian.Uint32(h[4:8]))
		seq := binary.LittleEndian.Uint64(h[8:16])
		require.Zero(t, h[20]&0x80, "record %d is stored compressed", seq)
		p := b[off+25 : off+25+length]
		if edit(seq, p) {
			binary.LittleEndian.PutUint32(h[21:25], crc32.Checksum(p, castagnoli))
			binary.LittleEndian.PutUint32(h[0:4], crc32.Checksum(h[4:25], castagnoli))
			edited++
		}
		off += 25 + length
	}
	require.NoError(t, os.WriteFile(path, b, 0o600))
	return edited
}

// TestTamperedKeyHeaderDroppedOnce: records whose key id or fingerprint was
// edited on disk (the frame checksums fixed) are dropped as altered and
// counted once (items_dropped reason corrupt); sending does not stop, every
// other record is delivered. On the old code the first of them stopped
// sending for good.
func TestTamperedKeyHeaderDroppedOnce(t *testing.T) {
	sink := newStoppedSink(t)
	ka := EncryptionKey{ID: "a", Key: configopaque.String(keyA)}
	cfg := encryptedConfig(t, sink.addr, "a", ka)
	h := startExporter(t, cfg)
	for i := 0; i < 5; i++ {
		h.sendSpans(uint64(i*100), 100)
	}
	dir := filepath.Join(h.traces.e.bufferDir(), "wal")
	h.stop()

	segs, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	require.NoError(t, err)
	require.Len(t, segs, 1)
	edited := editRecords(t, segs[0], func(seq uint64, p []byte) bool {
		n := int(p[2])
		switch seq {
		case 2: // the fingerprint: a configured key proves it altered
			p[3+n] ^= 0xFF
		case 4: // key id a -> z: key a (configured) authenticates it under its own id
			p[3] = 'z'
		default:
			return false
		}
		return true
	})
	require.Equal(t, 2, edited)

	h2 := startExporter(t, cfg)
	require.Equal(t, uint64(500), h2.pending(), "the frames are intact for the log")
	sink.start()
	waitFor(t, 15*time.Second, func() bool { return sink.spanCount() >= 300 }, "the other records delivered (sending did not stop)")
	waitFor(t, 5*time.Second, func() bool { return h2.pending() == 0 }, "drain")
	time.Sleep(200 * time.Millisecond)
	assert.Equal(t, 300, sink.spanCount())
	assert.Equal(t, int64(200), h2.sum("otelcol_exporter_edge_items_dropped", "reason", "corrupt"), "counted once each")
	h2.stop()

	// Nothing is read or counted again after a restart.
	h3 := startExporter(t, cfg)
	assert.Equal(t, uint64(0), h3.pending())
	assert.Equal(t, int64(0), h3.sum("otelcol_exporter_edge_items_dropped", "reason", "corrupt"))
}
