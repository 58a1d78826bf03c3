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
