// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkDelivery verifies that the log holds every id in want (in order), no
// duplicates, only intact payloads, and nothing from failed (unless allowed).
func checkDelivery(t *testing.T, recs []Record, want []uint64, maybe map[uint64]bool) {
	t.Helper()
	seenSeq := map[uint64]bool{}
	seenID := map[uint64]bool{}
	var got []uint64
	for _, r := range recs {
		require.True(t, payloadOK(r.Payload), "corrupt payload at seq %d", r.Seq)
		require.False(t, seenSeq[r.Seq], "seq %d delivered twice", r.Seq)
		seenSeq[r.Seq] = true
		id := uint64FromPayload(r.Payload)
		require.False(t, seenID[id], "id %d delivered twice", id)
		seenID[id] = true
		if maybe[id] {
			continue
		}
		got = append(got, id)
	}
	require.Equal(t, want, got)
}

func TestFaultWriteErrors(t *testing.T) {
	for _, tc := range []struct {
		name         string
		err          error
		partial      bool
		failTruncate bool
	}{
		{"enospc", syscall.ENOSPC, false, false},
		{"enospc-partial", syscall.ENOSPC, true, false},
		{"eio-partial-truncate-fails", syscall.EIO, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ffs := &faultFS{}
			opts := Options{FS: ffs, SegmentBytes: 8 << 10, Fsync: FsyncNever, CursorSyncInterval: time.Hour}
			l := openT(t, dir, opts)
			ctx := context.Background()
			var want []uint64
			id := uint64(0)
			for round := 0; round < 5; round++ {
				for i := 0; i < 7; i++ {
					id++
					_, err := l.Append(ctx, 1, 1, makePayload(id, 600))
					require.NoError(t, err)
					want = append(want, id)
				}
				ffs.set(func(f *faultFS) {
					f.failWrites, f.writeErr, f.partial = 2, tc.err, tc.partial
					if tc.failTruncate {
						f.failTruncate = 1
					}
				})
				for k := 0; k < 2; k++ {
					id++
					_, err := l.Append(ctx, 1, 1, makePayload(id, 600))
					require.Error(t, err)
					require.True(t, errors.Is(err, tc.err), "%v", err)
					assert.Contains(t, err.Error(), ".seg")
				}
				assert.Error(t, l.Stats().LastError)
			}
			id++
			_, err := l.Append(ctx, 1, 1, makePayload(id, 600))
			require.NoError(t, err)
			want = append(want, id)
			checkDelivery(t, readAll(t, l.NewReader(), 20*time.Millisecond), want, nil)
			require.NoError(t, l.Close())

			l = openT(t, dir, Options{})
			defer l.Close()
			checkDelivery(t, readAll(t, l.NewReader(), 20*time.Millisecond), want, nil)
			// When the failed write could not be truncated away its sequence is
			// burned. Those appends returned errors (nothing was accepted), and
			// the watermark written by Close says so: no record is counted lost.
			assert.Zero(t, l.Recovery().CorruptRecords)
			assert.Zero(t, l.Recovery().CorruptItems)
		})
	}
}

func TestFaultFsync(t *testing.T) {
	dir := t.TempDir()
	ffs := &faultFS{}
	l := openT(t, dir, Options{FS: ffs, Fsync: FsyncAlways, CursorSyncInterval: time.Hour})
	ctx := context.Background()
	var want []uint64
	maybe := map[uint64]bool{}
	id := uint64(0)
	for round := 0; round < 4; round++ {
		for i := 0; i < 5; i++ {
			id++
			_, err := l.Append(ctx, 1, 1, makePayload(id, 300))
			require.NoError(t, err)
			want = append(want, id)
		}
		ffs.set(func(f *faultFS) { f.failSyncs, f.syncErr = 1, syscall.EIO })
		id++
		_, err := l.Append(ctx, 1, 1, makePayload(id, 300))
		require.ErrorIs(t, err, syscall.EIO)
		assert.Contains(t, err.Error(), "fsync")
		maybe[id] = true // written but not durable: may be delivered (at-least-once)
	}
	before := l.Stats().Segments
	id++
	_, err := l.Append(ctx, 1, 1, makePayload(id, 300))
	require.NoError(t, err)
	want = append(want, id)
	assert.GreaterOrEqual(t, l.Stats().Segments, before, "rolled after fsync failure")
	checkDelivery(t, readAll(t, l.NewReader(), 20*time.Millisecond), want, maybe)
	require.NoError(t, l.Close())
	l = openT(t, dir, Options{})
	defer l.Close()
	checkDelivery(t, readAll(t, l.NewReader(), 20*time.Millisecond), want, maybe)
}

func TestFaultRollFailure(t *testing.T) {
	dir := t.TempDir()
	ffs := &faultFS{}
	l := openT(t, dir, Options{FS: ffs, SegmentBytes: 2 << 10, Fsync: FsyncNever, DisableCompression: true})
	ctx := context.Background()
	var want []uint64
	id := uint64(0)
	for i := 0; i < 3; i++ {
		id++
		_, err := l.Append(ctx, 1, 1, makePayload(id, 600))
		require.NoError(t, err)
		want = append(want, id)
	}
	// The next append rolls; fail the new segment's header write.
	ffs.set(func(f *faultFS) { f.failWrites, f.writeErr = 1, syscall.ENOSPC })
	id++
	_, err := l.Append(ctx, 1, 1, makePayload(id, 600))
	require.ErrorIs(t, err, syscall.ENOSPC)
	for i := 0; i < 5; i++ {
		id++
		_, err := l.Append(ctx, 1, 1, makePayload(id, 600))
		require.NoError(t, err)
		want = append(want, id)
	}
	require.NoError(t, l.Close())
	l = openT(t, dir, Options{})
	defer l.Close()
	checkDelivery(t, readAll(t, l.NewReader(), 20*time.Millisecond), want, nil)
}

// TestFaultFsyncFailsEveryCoveredWaiter: under FsyncAlways, a failed fsync
// fails every append whose record it covered, also those that were waiting
// for it and those written to the same file after it (the page cache may
// have dropped dirty pages: a later successful fsync of that file proves
// nothing). The log continues in a new segment.
func TestFaultFsyncFailsEveryCoveredWaiter(t *testing.T) {
	dir := t.TempDir()
	ffs := &faultFS{}
	l := openT(t, dir, Options{FS: ffs, Fsync: FsyncAlways, CursorSyncInterval: time.Hour})
	defer l.Close()
	ctx := context.Background()
	_, err := l.Append(ctx, 1, 1, makePayload(1, 300))
	require.NoError(t, err)

	// The next fsync blocks until more appenders have written and are
	// waiting, then fails.
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	ffs.set(func(f *faultFS) {
		f.failSyncs, f.syncErr = 1, syscall.EIO
		f.onSync = func() {
			select {
			case entered <- struct{}{}:
				<-release
			default:
			}
		}
	})
	const n = 6
	errs := make(chan error, n)
	go func() { _, err := l.Append(ctx, 1, 1, makePayload(2, 300)); errs <- err }()
	<-entered // the leader is in the failing fsync
	ffs.set(func(f *faultFS) { f.onSync = nil })
	for i := 0; i < n-1; i++ {
		id := uint64(3 + i)
		go func() { _, err := l.Append(ctx, 1, 1, makePayload(id, 300)); errs <- err }()
	}
	require.Eventually(t, func() bool { return l.Stats().LastSeq == n+1 }, 5*time.Second, time.Millisecond)
	close(release)
	for i := 0; i < n; i++ {
		select {
		case err := <-errs:
			require.ErrorIs(t, err, syscall.EIO, "an append covered by the failed fsync returned %v", err)
		case <-time.After(5 * time.Second):
			t.Fatal("append did not return")
		}
	}
	segs := l.Stats().Segments
	_, err = l.Append(ctx, 1, 1, makePayload(100, 300))
	require.NoError(t, err, "the log continues in a new segment")
	assert.Greater(t, l.Stats().Segments, segs)
}

// TestFaultDirSyncIsAnError: under FsyncAlways a failed directory fsync of a
// new segment fails the appends into it (their file may vanish on power
// loss), instead of only being logged.
func TestFaultDirSyncIsAnError(t *testing.T) {
	dir := t.TempDir()
	ffs := &faultFS{}
	l := openT(t, dir, Options{FS: ffs, Fsync: FsyncAlways, SegmentBytes: 2 << 10, DisableCompression: true, CursorSyncInterval: time.Hour})
	defer l.Close()
	ctx := context.Background()
	for i := uint64(1); i <= 3; i++ {
		_, err := l.Append(ctx, 1, 1, makePayload(i, 600))
		require.NoError(t, err)
	}
	ffs.set(func(f *faultFS) { f.failDirSyncs = 1 })
	_, err := l.Append(ctx, 1, 1, makePayload(4, 600)) // rolls: new segment
	require.Error(t, err)
	assert.Contains(t, err.Error(), "fsync dir")
	_, err = l.Append(ctx, 1, 1, makePayload(5, 600))
	require.NoError(t, err, "the next segment's directory entry is synced")
}

// TestSlowFsyncDoesNotStallTheLog: a segment's fsync (here blocked, as on a
// slow SD card) runs outside the log's lock: while it hangs, appends (with
// rolls), acks, reads and Stats (the metrics endpoint) go on.
func TestSlowFsyncDoesNotStallTheLog(t *testing.T) {
	ffs := &faultFS{}
	l := openT(t, t.TempDir(), Options{FS: ffs, Fsync: FsyncNever, SegmentBytes: 2 << 10, DisableCompression: true, CursorSyncInterval: time.Hour})
	defer l.Close()
	release := make(chan struct{})
	blocked := make(chan struct{}, 1)
	ffs.set(func(f *faultFS) {
		f.onSync = func() {
			select {
			case blocked <- struct{}{}:
				<-release
			default:
			}
		}
	})
	ctx := context.Background()
	r := l.NewReader()
	first := make(chan struct{})
	go func() {
		defer close(first)
		for i := uint64(1); i <= 4; i++ { // the fourth append rolls: the sealed segment is fsynced
			if _, err := l.Append(ctx, 1, 1, makePayload(i, 600)); err != nil {
				t.Error(err)
			}
		}
	}()
	select {
	case <-blocked:
	case <-time.After(5 * time.Second):
		t.Fatal("no segment fsync started")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-first
		for i := uint64(5); i <= 20; i++ {
			if _, err := l.Append(ctx, 1, 1, makePayload(i, 600)); err != nil {
				t.Error(err)
				return
			}
		}
		for i := 0; i < 20; i++ {
			rec, err := r.Next(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			l.Ack(rec.Seq)
		}
		_ = l.Stats()
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("appends, reads, acks or Stats waited for a segment fsync")
	}
	ffs.set(func(f *faultFS) { f.onSync = nil })
	close(release)
	<-done
	assert.Equal(t, uint64(20), l.Stats().AckedSeq)
}
