// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLiveRangeSurvivesKill9 is the property live-first delivery needs from
// the log: hours of live traffic are acknowledged while the backlog before
// them is not. The live range [LiveStart, LiveAckedSeq] is kept in the
// cursor file, so after a kill -9 (the directory copied while the log is
// open: what the page cache holds) exactly the backlog comes back, nothing
// of the 5,000 live records acknowledged far beyond the 3,456-sequence
// bitmap, nothing is counted as corrupt, and the fully acknowledged live
// segments, which are not at the front of the log, were unlinked. Before the
// live range these acknowledgements were forgotten: 1,554 records re-sent.
func TestLiveRangeSurvivesKill9(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentBytes: 64 << 10, DisableCompression: true, MemoryBytes: -1})
	defer l.Close()
	ctx := context.Background()
	const backlog, live = 10, 5000
	for i := uint64(1); i <= backlog; i++ {
		_, err := l.Append(ctx, 1, 1, makePayload(i, 100))
		require.NoError(t, err)
	}
	ls := l.BeginLive()
	require.Equal(t, uint64(backlog+1), ls, "the live range starts after the backlog")
	lr, br := l.NewLiveReader(), l.NewBacklogReader()
	for i := uint64(backlog + 1); i <= backlog+live; i++ {
		_, err := l.Append(ctx, 1, 1, makePayload(i, 100))
		require.NoError(t, err)
		rec, ok, err := nextNow(lr)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, i, rec.Seq, "the live reader returns live records only")
		l.Ack(rec.Seq)
	}
	st := l.Stats()
	assert.Equal(t, uint64(0), st.AckedSeq, "the backlog is not acknowledged")
	assert.Equal(t, uint64(backlog+1), st.LiveStart)
	assert.Equal(t, uint64(backlog+live), st.LiveAckedSeq)
	assert.Equal(t, uint64(backlog), st.PendingRecords)
	rec, ok, err := nextNow(br)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, uint64(1), rec.Seq, "the backlog reader starts at the oldest record")
	total := len(segFiles(t, dir))
	require.Eventually(t, func() bool { return len(segFiles(t, dir)) <= 2 }, 5*time.Second, 5*time.Millisecond,
		"acknowledged live segments behind the unacknowledged front are unlinked (%d files)", total)

	crashed := t.TempDir()
	copyDir(t, dir, crashed)
	l2 := openT(t, crashed, Options{SegmentBytes: 64 << 10, DisableCompression: true})
	defer l2.Close()
	rv := l2.Recovery()
	assert.Zero(t, rv.CorruptRecords, "the holes of unlinked live segments are not losses")
	assert.Equal(t, uint64(backlog), rv.PendingRecords)
	recs := readAll(t, l2.NewReader(), 20*time.Millisecond)
	require.Len(t, recs, backlog, "only the backlog is delivered again")
	for i, r := range recs {
		assert.Equal(t, uint64(i+1), r.Seq)
	}
	st2 := l2.Stats()
	assert.Equal(t, uint64(backlog+1), st2.LiveStart, "the live range is recovered")
	assert.Equal(t, uint64(backlog+live), st2.LiveAckedSeq)
	assert.Equal(t, uint64(backlog+1), l2.BeginLive(), "an open live range is kept")

	// Acknowledging the backlog merges the ranges.
	for _, r := range recs {
		l2.Ack(r.Seq)
	}
	st2 = l2.Stats()
	assert.Equal(t, uint64(0), st2.LiveStart)
	assert.Equal(t, uint64(backlog+live), st2.AckedSeq)
	assert.Zero(t, st2.PendingRecords)
}

// TestBeginLiveWithoutBacklog: with nothing unacknowledged there is no live
// range (in order is live first), and the backlog reader returns nothing.
func TestBeginLiveWithoutBacklog(t *testing.T) {
	l := openT(t, t.TempDir(), Options{})
	defer l.Close()
	assert.Zero(t, l.BeginLive())
	_, err := l.Append(context.Background(), 1, 1, makePayload(1, 50))
	require.NoError(t, err)
	_, ok, err := nextNow(l.NewBacklogReader())
	require.NoError(t, err)
	assert.False(t, ok)
	rec, ok, err := nextNow(l.NewLiveReader())
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, uint64(1), rec.Seq)
}

// TestRewindForgetsOnlyItsReader: a live reader's Rewind (its request
// failed) must not settle the records another reader has in flight. A
// backlog record in flight whose segment is evicted and which is then
// acknowledged was sent: it is not counted as dropped, before or after the
// other reader rewinds.
func TestRewindForgetsOnlyItsReader(t *testing.T) {
	var drops crashDrops
	opts := Options{SegmentBytes: 1024, MaxBytes: 4096, WhenFull: DropOldest, DisableCompression: true, MemoryBytes: -1, OnDrop: drops.add}
	l := openT(t, t.TempDir(), opts)
	defer l.Close()
	ctx := context.Background()
	_, err := l.Append(ctx, 1, 1, makePayload(1, 200))
	require.NoError(t, err)
	_, err = l.Append(ctx, 1, 1, makePayload(2, 200))
	require.NoError(t, err)
	require.NotZero(t, l.BeginLive())
	br, lr := l.NewBacklogReader(), l.NewLiveReader()
	rec, ok, err := nextNow(br)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, uint64(1), rec.Seq)
	// Live traffic until the budget evicts the backlog's segment.
	for i := uint64(3); l.Stats().AckedSeq < 1; i++ {
		_, err := l.Append(ctx, 1, 1, makePayload(i, 200))
		require.NoError(t, err)
		require.Less(t, i, uint64(100))
	}
	evicted := l.Stats().AckedSeq // records 1..evicted are gone from disk
	_, ok, err = nextNow(lr)
	require.NoError(t, err)
	require.True(t, ok)
	lr.Rewind()
	n, _, _, _ := drops.get()
	assert.Equal(t, evicted-1, n, "the evicted records nobody was sending are dropped; record 1's fate is still open")
	l.Ack(1) // the backlog request succeeded
	n, _, _, _ = drops.get()
	assert.Equal(t, evicted-1, n, "record 1 was sent, not dropped")
	br.Rewind()
	n, _, _, _ = drops.get()
	assert.Equal(t, evicted-1, n)
}

// TestCursorV4StillRead: a cursor file of the fourth format (no live range,
// 512-byte slots) is read, its out-of-order acknowledgements honoured, and
// replaced by one of the current format.
func TestCursorV4StillRead(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{})
	ctx := context.Background()
	for i := uint64(1); i <= 6; i++ {
		_, err := l.Append(ctx, 1, 2, makePayload(i, 100))
		require.NoError(t, err)
	}
	l.Ack(1, 2, 4)
	require.NoError(t, l.Close())
	st, format, err := readCursorFormat(OSFS{}, dir)
	require.NoError(t, err)
	require.Equal(t, cursorFormat, format)
	require.Equal(t, uint64(2), st.Acked)

	// The same state as a v4 file.
	img := make([]byte, 2*cursorSlotStrideV4+cursorSlotSizeV4)
	for i := 0; i < cursorSlots; i++ {
		b := img[i*cursorSlotStrideV4:]
		copy(b, cursorMagicV4[:])
		binary.LittleEndian.PutUint64(b[8:], uint64(i+1))
		binary.LittleEndian.PutUint64(b[16:], st.Acked)
		binary.LittleEndian.PutUint64(b[24:], st.Last)
		binary.LittleEndian.PutUint64(b[32:], st.TailRecords)
		binary.LittleEndian.PutUint64(b[40:], st.TailItems)
		copy(b[64:64+aboveBytes], st.Above[:])
		binary.LittleEndian.PutUint32(b[64+aboveBytes:], crc(b[:64+aboveBytes]))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, cursorFileName), img, 0o600))
	st4, format, err := readCursorFormat(OSFS{}, dir)
	require.NoError(t, err)
	require.Equal(t, cursorFormatV4, format)
	require.Equal(t, uint64(2), st4.Acked)
	require.True(t, st4.above(4))

	l = openT(t, dir, Options{})
	defer l.Close()
	assert.Zero(t, l.Recovery().CorruptRecords)
	recs := readAll(t, l.NewReader(), 20*time.Millisecond)
	var seqs []uint64
	for _, r := range recs {
		seqs = append(seqs, r.Seq)
	}
	assert.Equal(t, []uint64{3, 5, 6}, seqs, "the v4 bitmap is honoured")
	_, format, err = readCursorFormat(OSFS{}, dir)
	require.NoError(t, err)
	assert.Equal(t, cursorFormat, format, "rewritten in the current format")
}
