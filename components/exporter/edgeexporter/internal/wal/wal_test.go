// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"compressed", Options{SegmentBytes: 16 << 10}},
		{"uncompressed", Options{SegmentBytes: 16 << 10, DisableCompression: true}},
		{"no-memtier", Options{SegmentBytes: 16 << 10, MemoryBytes: -1}},
		{"always", Options{SegmentBytes: 16 << 10, Fsync: FsyncAlways, MemoryBytes: 4 << 10}},
		{"never", Options{SegmentBytes: 16 << 10, Fsync: FsyncNever}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openT(t, dir, tc.opts)
			ctx := context.Background()
			const n = 300
			var items uint64
			for i := uint64(1); i <= n; i++ {
				seq, err := l.Append(ctx, uint8(i%128), itemsFor(i), makePayload(i, 100+int(i*13%1500)))
				require.NoError(t, err)
				require.Equal(t, i, seq)
				items += uint64(itemsFor(i))
			}
			st := l.Stats()
			assert.Equal(t, uint64(n), st.PendingRecords)
			assert.Equal(t, items, st.PendingItems)
			assert.Greater(t, st.Segments, 5)
			assert.False(t, st.OldestPending.IsZero())
			assert.Equal(t, st.DiskBytes, segBytes(t, dir))

			r := l.NewReader()
			recs := readAll(t, r, 50*time.Millisecond)
			require.Len(t, recs, n)
			for i, rec := range recs {
				id := uint64(i + 1)
				require.Equal(t, id, rec.Seq)
				require.Equal(t, uint8(id%128), rec.Kind)
				require.Equal(t, itemsFor(id), rec.Items)
				require.True(t, payloadOK(rec.Payload))
				require.Equal(t, 100+int(id*13%1500), len(rec.Payload))
			}
			// Out-of-order acks: ack evens first; cursor stays at 0.
			for i := 2; i <= n; i += 2 {
				l.Ack(uint64(i))
			}
			assert.Equal(t, uint64(0), l.Stats().AckedSeq)
			assert.Equal(t, uint64(n/2), l.Stats().PendingRecords)
			l.Ack(1)
			assert.Equal(t, uint64(2), l.Stats().AckedSeq)
			for i := 3; i <= n-10; i += 2 {
				l.Ack(uint64(i))
			}
			assert.Equal(t, uint64(n-10), l.Stats().AckedSeq)
			// Acknowledged segments are unlinked in the background, once a
			// durable cursor covers them.
			require.Eventually(t, func() bool { return segBytes(t, dir) == l.Stats().DiskBytes }, 5*time.Second, 5*time.Millisecond)
			segsBefore := len(segFiles(t, dir))
			for i := n - 9; i <= n; i += 2 {
				l.Ack(uint64(i))
			}
			st = l.Stats()
			assert.Equal(t, uint64(n), st.AckedSeq)
			assert.Equal(t, uint64(0), st.PendingRecords)
			assert.Equal(t, uint64(0), st.PendingItems)
			assert.True(t, st.OldestPending.IsZero())
			require.Eventually(t, func() bool { return len(segFiles(t, dir)) == 1 }, 5*time.Second, 5*time.Millisecond,
				"acked segments deleted (had %d)", segsBefore)
			// Rewind after everything is acked returns nothing.
			r.Rewind()
			assert.Empty(t, readAll(t, r, 20*time.Millisecond))
			require.NoError(t, l.Close())
			_, err := l.Append(ctx, 0, 1, []byte("x"))
			require.ErrorIs(t, err, ErrClosed)
			_, err = r.Next(ctx)
			require.ErrorIs(t, err, ErrClosed)
		})
	}
}

func TestRewindRedeliversInOrder(t *testing.T) {
	l := openT(t, t.TempDir(), Options{SegmentBytes: 4 << 10})
	defer l.Close()
	ctx := context.Background()
	for i := uint64(1); i <= 50; i++ {
		_, err := l.Append(ctx, 1, 1, makePayload(i, 300))
		require.NoError(t, err)
	}
	r := l.NewReader()
	recs := readAll(t, r, 20*time.Millisecond)
	require.Len(t, recs, 50)
	l.Ack(1)
	l.Ack(2)
	l.Ack(5)
	r.Rewind()
	recs = readAll(t, r, 20*time.Millisecond)
	require.Len(t, recs, 47)
	assert.Equal(t, uint64(3), recs[0].Seq)
	assert.Equal(t, uint64(4), recs[1].Seq)
	assert.Equal(t, uint64(6), recs[2].Seq)
}

func TestReaderBlocksUntilAppend(t *testing.T) {
	l := openT(t, t.TempDir(), Options{})
	r := l.NewReader()
	got := make(chan Record, 1)
	errc := make(chan error, 2)
	go func() {
		rec, err := r.Next(context.Background())
		if err != nil {
			errc <- err
			return
		}
		got <- rec
		_, err = r.Next(context.Background())
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	_, err := l.Append(context.Background(), 3, 2, []byte("hello"))
	require.NoError(t, err)
	select {
	case rec := <-got:
		assert.Equal(t, "hello", string(rec.Payload))
		assert.Equal(t, uint8(3), rec.Kind)
	case err := <-errc:
		t.Fatal(err)
	case <-time.After(5 * time.Second):
		t.Fatal("reader did not wake up")
	}
	require.NoError(t, l.Close())
	select {
	case err := <-errc:
		require.ErrorIs(t, err, ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("reader not released by Close")
	}
}

func TestReopenRedeliversUnacked(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 8 << 10}
	l := openT(t, dir, opts)
	ctx := context.Background()
	for i := uint64(1); i <= 100; i++ {
		_, err := l.Append(ctx, 1, itemsFor(i), makePayload(i, 500))
		require.NoError(t, err)
	}
	for i := uint64(1); i <= 40; i++ {
		l.Ack(i)
	}
	l.Ack(45) // out of order, beyond the cursor: remembered in the cursor's bitmap
	require.NoError(t, l.Close())

	l = openT(t, dir, opts)
	rec := l.Recovery()
	assert.False(t, rec.CursorRebuilt)
	assert.Equal(t, uint64(59), rec.PendingRecords)
	assert.Zero(t, rec.CorruptRecords)
	recs := readAll(t, l.NewReader(), 20*time.Millisecond)
	require.Len(t, recs, 59)
	want := uint64(41)
	for _, r := range recs {
		if want == 45 {
			want++
		}
		require.Equal(t, want, r.Seq)
		require.True(t, payloadOK(r.Payload))
		want++
	}
	seq, err := l.Append(ctx, 1, 1, makePayload(101, 10))
	require.NoError(t, err)
	assert.Equal(t, uint64(101), seq)
	require.NoError(t, l.Close())
}

func TestCrashWithoutClose(t *testing.T) {
	for _, mode := range []FsyncPolicy{FsyncNever, FsyncInterval, FsyncAlways} {
		dir := t.TempDir()
		l := openT(t, dir, Options{SegmentBytes: 8 << 10, Fsync: mode})
		ctx := context.Background()
		for i := uint64(1); i <= 80; i++ {
			_, err := l.Append(ctx, 1, 1, makePayload(i, 400))
			require.NoError(t, err)
		}
		crash := filepath.Join(t.TempDir(), "crash")
		copyDir(t, dir, crash) // the open log is the "killed" process
		l2 := openT(t, crash, Options{})
		recs := readAll(t, l2.NewReader(), 20*time.Millisecond)
		require.Len(t, recs, 80)
		for i, r := range recs {
			require.Equal(t, uint64(i+1), r.Seq)
			require.True(t, payloadOK(r.Payload))
		}
		// The cursor file is created when the log is opened, so a crash
		// before the first acknowledgement still finds one.
		assert.False(t, l2.Recovery().CursorRebuilt)
		require.NoError(t, l2.Close())
		require.NoError(t, l.Close())
	}
}

func TestCursorMissingOrCorrupt(t *testing.T) {
	for _, damage := range []string{"missing", "garbled", "short"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			l := openT(t, dir, Options{SegmentBytes: 4 << 10})
			for i := uint64(1); i <= 30; i++ {
				_, err := l.Append(context.Background(), 1, 2, makePayload(i, 300))
				require.NoError(t, err)
			}
			l.Ack(1)
			require.NoError(t, l.Close())
			cur := filepath.Join(dir, cursorFileName)
			switch damage {
			case "missing":
				require.NoError(t, os.Remove(cur))
			case "garbled":
				// Every slot: a damaged slot is survived.
				b, err := os.ReadFile(cur)
				require.NoError(t, err)
				for i := 0; i < cursorSlots; i++ {
					b[i*cursorSlotStride+10] ^= 0xff
				}
				require.NoError(t, os.WriteFile(cur, b, 0o600))
			case "short":
				require.NoError(t, os.WriteFile(cur, []byte("OEC"), 0o600))
			}
			l = openT(t, dir, Options{})
			defer l.Close()
			assert.True(t, l.Recovery().CursorRebuilt)
			recs := readAll(t, l.NewReader(), 20*time.Millisecond)
			require.Len(t, recs, 30) // record 1 is redelivered: at-least-once
			assert.Equal(t, uint64(30), l.Stats().PendingRecords)
			assert.Equal(t, uint64(60), l.Stats().PendingItems)
		})
	}
}

func TestLock(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{})
	_, err := Open(dir, Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "in use by another process")
	assert.Contains(t, err.Error(), dir)
	require.NoError(t, l.Close())
	l = openT(t, dir, Options{})
	require.NoError(t, l.Close())
	require.ErrorIs(t, l.Close(), ErrClosed)
}

func TestPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	l := openT(t, dir, Options{SegmentBytes: 1 << 10})
	for i := uint64(1); i <= 10; i++ {
		_, err := l.Append(context.Background(), 1, 1, makePayload(i, 300))
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(ents), 3)
	for _, e := range ents {
		fi, err := e.Info()
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), e.Name())
	}
}

func TestValidation(t *testing.T) {
	l := openT(t, t.TempDir(), Options{MaxRecordBytes: 1000})
	defer l.Close()
	_, err := l.Append(context.Background(), 128, 1, []byte("x"))
	require.ErrorIs(t, err, ErrInvalidKind)
	_, err = l.Append(context.Background(), 1, 1, make([]byte, 1001))
	require.ErrorIs(t, err, ErrRecordTooLarge)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = l.Append(ctx, 1, 1, []byte("x"))
	require.ErrorIs(t, err, context.Canceled)
	// Empty payload is fine.
	seq, err := l.Append(context.Background(), 1, 0, nil)
	require.NoError(t, err)
	rec, err := l.NewReader().Next(context.Background())
	require.NoError(t, err)
	assert.Equal(t, seq, rec.Seq)
	assert.Empty(t, rec.Payload)
}

func TestGroupCommit(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{Fsync: FsyncAlways, SegmentBytes: 64 << 10})
	const workers, per = 8, 40
	var wg sync.WaitGroup
	seqs := make(chan uint64, workers*per)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				id := uint64(w*per + i + 1)
				seq, err := l.Append(context.Background(), 1, 1, makePayload(id, 1024))
				if !assert.NoError(t, err) {
					return
				}
				seqs <- seq
			}
		}(w)
	}
	// A concurrent reader and acker.
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := l.NewReader()
		for n := 0; n < workers*per; n++ {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			rec, err := r.Next(ctx)
			cancel()
			if !assert.NoError(t, err) || !assert.True(t, payloadOK(rec.Payload)) {
				return
			}
			l.Ack(rec.Seq)
		}
	}()
	wg.Wait()
	close(seqs)
	<-done
	seen := map[uint64]bool{}
	for s := range seqs {
		require.False(t, seen[s])
		seen[s] = true
	}
	require.Len(t, seen, workers*per)
	st := l.Stats()
	assert.LessOrEqual(t, st.Fsyncs, uint64(workers*per+10))
	assert.Equal(t, uint64(workers*per), st.AckedSeq)
	t.Logf("appends=%d fsyncs=%d", st.Appends, st.Fsyncs)
	require.NoError(t, l.Close())
}

func TestTruncatedLastSegment(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentBytes: 8 << 10, DisableCompression: true})
	for i := uint64(1); i <= 40; i++ {
		_, err := l.Append(context.Background(), 1, 1, makePayload(i, 500))
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	segs := segFiles(t, dir)
	last := segs[len(segs)-1]
	fi, err := os.Stat(last)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(last, fi.Size()-200)) // cut the last record in the middle

	l = openT(t, dir, Options{})
	rec := l.Recovery()
	assert.Equal(t, int64(525-200), rec.TruncatedBytes)
	assert.Equal(t, uint64(1), rec.CorruptRecords, "the torn record is counted as lost")
	assert.Equal(t, uint64(1), rec.CorruptItems)
	recs := readAll(t, l.NewReader(), 20*time.Millisecond)
	require.Len(t, recs, 39)
	seq, err := l.Append(context.Background(), 1, 1, makePayload(41, 50))
	require.NoError(t, err)
	// The torn record's sequence is not reused: it was counted, and the
	// committed watermark covers it, so it can never be counted again.
	assert.Equal(t, uint64(41), seq)
	require.NoError(t, l.Close())
	l = openT(t, dir, Options{})
	defer l.Close()
	assert.Zero(t, l.Recovery().TruncatedBytes)
	assert.Zero(t, l.Recovery().CorruptRecords, "the torn record is not counted twice")
	recs = readAll(t, l.NewReader(), 20*time.Millisecond)
	require.Len(t, recs, 40)
	assert.Equal(t, uint64(41), uint64FromPayload(recs[39].Payload))
}

func uint64FromPayload(p []byte) uint64 {
	if len(p) < 8 {
		return 0
	}
	return uint64(p[0]) | uint64(p[1])<<8 | uint64(p[2])<<16 | uint64(p[3])<<24 |
		uint64(p[4])<<32 | uint64(p[5])<<40 | uint64(p[6])<<48 | uint64(p[7])<<56
}

func TestGarbageFilesAndEmptySegments(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentBytes: 4 << 10})
	for i := uint64(1); i <= 20; i++ {
		_, err := l.Append(context.Background(), 1, 1, makePayload(i, 300))
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hi"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, segmentName(999)), nil, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, segmentName(1000)), []byte("garbage!garbage"), 0o600))
	l = openT(t, dir, Options{})
	defer l.Close()
	rec := l.Recovery()
	assert.Equal(t, 1, rec.CorruptSegments)
	assert.NotEmpty(t, rec.Notes)
	recs := readAll(t, l.NewReader(), 20*time.Millisecond)
	require.Len(t, recs, 20)
	seq, err := l.Append(context.Background(), 1, 1, []byte("next"))
	require.NoError(t, err)
	assert.Equal(t, uint64(21), seq)
}

func TestCloseReleasesBlockedAppend(t *testing.T) {
	l := openT(t, t.TempDir(), Options{MaxBytes: 4 << 10, WhenFull: Block, DisableCompression: true})
	var err error
	for err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err = l.Append(ctx, 1, 1, make([]byte, 500))
		cancel()
	}
	require.ErrorIs(t, err, context.DeadlineExceeded)
	errc := make(chan error, 1)
	go func() {
		_, err := l.Append(context.Background(), 1, 1, make([]byte, 500))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, l.Close())
	select {
	case err := <-errc:
		require.True(t, errors.Is(err, ErrClosed), "%v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("blocked append not released")
	}
}

// TestCrashWhileOnline: a process crash (the directory copied while the log is
// open) while records are appended, delivered and acknowledged, with segments
// rolling and being deleted: recovery counts nothing as corrupt (deleted
// segments were delivered, not lost) and re-delivers nothing that was
// acknowledged in order before the crash.
func TestCrashWhileOnline(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentBytes: 4 << 10, DisableCompression: true})
	defer l.Close()
	ctx := context.Background()
	r := l.NewReader()
	id := uint64(0)
	for round := 0; round < 10; round++ {
		for i := 0; i < 25; i++ {
			id++
			_, err := l.Append(ctx, 1, 2, makePayload(id, 500))
			require.NoError(t, err)
		}
		for _, rec := range readAll(t, r, 5*time.Millisecond) {
			l.Ack(rec.Seq)
		}
		acked := l.Stats().AckedSeq
		require.Equal(t, id, acked)
		// Let the background unlink acknowledged segments, as it does online.
		require.Eventually(t, func() bool { return len(segFiles(t, dir)) <= 2 }, 5*time.Second, time.Millisecond)

		crash := filepath.Join(t.TempDir(), fmt.Sprint(round))
		copyDir(t, dir, crash) // kill -9 now
		l2 := openT(t, crash, Options{})
		rec := l2.Recovery()
		assert.Zero(t, rec.CorruptRecords, "round %d: delivered records counted as corrupt", round)
		assert.Zero(t, rec.CorruptItems, "round %d", round)
		assert.Zero(t, rec.PendingRecords, "round %d: acknowledged records would be sent again", round)
		require.NoError(t, l2.Close())
	}
}
