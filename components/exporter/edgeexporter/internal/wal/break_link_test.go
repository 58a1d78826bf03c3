// SPDX-License-Identifier: Apache-2.0

//go:build unix

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBreakLinkMarkDeadOnActiveSegmentLosesAppends: the active (tail)
// segment gets a second name while the log runs (a cp -al backup taken
// live, or a link planted after start), then a record in it is found
// damaged and marked dead. markDead (reader.go) calls openOwned, which sees
// 2 links and breakLink renames a private copy over the segment's name; but
// the appender keeps its handle on the original inode (append.go act.w),
// which is now reachable only through the other name. Every later append
// goes there: acknowledged as durable by Append, gone from the buffer at
// the next start.
//
// Expected: records appended after the mark survive a restart (pending =
// appended - dropped), the other name is not appended to.
// Happened (before the fix): the records appended after markDead were lost
// on reopen (written into the backup/other name instead). Fixed: markDead
// seals the active segment first, so the next append rolls to a new one.
func TestBreakLinkMarkDeadOnActiveSegmentLosesAppends(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "wal")
	opts := Options{SegmentBytes: 1 << 20, MemoryBytes: -1, DisableCompression: true}
	l := openT(t, dir, opts)
	for i := uint64(1); i <= 3; i++ {
		breakAppend(t, l, i, 300)
	}
	segs := segFiles(t, dir)
	require.Len(t, segs, 1)
	seg := segs[0]
	other := filepath.Join(base, "other.seg")
	require.NoError(t, os.Link(seg, other)) // a live cp -al
	damageRecord(t, seg, 1)                 // record 2
	r := l.NewReader()
	got := readAll(t, r, 100*time.Millisecond)
	require.Equal(t, []uint64{1, 3}, breakSeqs(got))
	require.Equal(t, uint64(1), l.Stats().DroppedCorruptRecords)
	otherBefore := mustRead(t, other)
	for i := uint64(4); i <= 6; i++ {
		breakAppend(t, l, i, 300)
	}
	require.NoError(t, l.Close())

	otherAfter := mustRead(t, other)
	l = openT(t, dir, opts)
	defer l.Close()
	rec := l.Recovery()
	recs := readAll(t, l.NewReader(), 100*time.Millisecond)
	require.Equal(t, []uint64{1, 3, 4, 5, 6}, breakSeqs(recs),
		"records appended after markDead broke the active segment's link are lost (recovery %+v; other name grew %d -> %d bytes)",
		rec, len(otherBefore), len(otherAfter))
	require.Equal(t, len(otherBefore), len(otherAfter), "appends went to the other name")
}

// TestBreakLinkPlantedPrivateTmpAtRunTime (holds): recovery removes a
// leftover <name>.private.tmp at start, but markDead breaks a link at run
// time. A symbolic link, a hard link to a victim or a FIFO planted as the
// segment's .private.tmp while the log runs is removed by breakLink
// (Remove, then O_EXCL|O_NOFOLLOW): the victim keeps its content, nothing
// blocks on the FIFO, the damaged record is dropped once and the backup of
// the segment is not modified.
func TestBreakLinkPlantedPrivateTmpAtRunTime(t *testing.T) {
	for _, kind := range []string{"symlink", "hardlink", "fifo"} {
		t.Run(kind, func(t *testing.T) {
			base := t.TempDir()
			dir := filepath.Join(base, "wal")
			l := openT(t, dir, Options{SegmentBytes: 2048, MemoryBytes: -1, DisableCompression: true})
			defer l.Close()
			for i := uint64(1); i <= 12; i++ {
				breakAppend(t, l, i, 300)
			}
			segs := segFiles(t, dir)
			require.GreaterOrEqual(t, len(segs), 2)
			seg := segs[0] // sealed
			backup := filepath.Join(base, "backup.seg")
			require.NoError(t, os.Link(seg, backup))
			victim := filepath.Join(base, "victim")
			content := []byte("precious\n")
			require.NoError(t, os.WriteFile(victim, content, 0o600))
			tmp := seg + PrivateTmpSuffix
			switch kind {
			case "symlink":
				require.NoError(t, os.Symlink(victim, tmp))
			case "hardlink":
				require.NoError(t, os.Link(victim, tmp))
			case "fifo":
				require.NoError(t, syscall.Mkfifo(tmp, 0o600))
			}
			damageRecord(t, seg, 1)
			want := mustRead(t, backup)
			recs := readAll(t, l.NewReader(), 100*time.Millisecond)
			require.Len(t, recs, 11)
			require.Equal(t, uint64(1), l.Stats().DroppedCorruptRecords)
			require.Equal(t, content, mustRead(t, victim))
			require.Equal(t, want, mustRead(t, backup), "the backup was written through")
			require.Equal(t, uint64(1), nlinkOf(t, seg))
			_, err := os.Lstat(tmp)
			require.ErrorIs(t, err, os.ErrNotExist)
		})
	}
}
