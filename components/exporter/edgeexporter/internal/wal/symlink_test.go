// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The property under test: a symbolic link planted in the log's directory
// under a name the log opens (a segment, cursor, cursor.tmp, LOCK) never makes
// the log read, truncate or write the file it points to. The log refuses it
// with an error that matches ErrSymlink and names the path, and the victim
// file keeps its content, size and mode.

// plantVictim writes a victim file outside dir and links name (in dir) to it.
func plantVictim(t *testing.T, dir, name string) (victim string, content []byte) {
	t.Helper()
	victim = filepath.Join(t.TempDir(), "victim")
	content = []byte("precious data that the log must never touch\n")
	require.NoError(t, os.WriteFile(victim, content, 0o644))
	require.NoError(t, os.MkdirAll(dir, 0o700))
	require.NoError(t, os.Symlink(victim, filepath.Join(dir, name)))
	return victim, content
}

func assertVictimUnchanged(t *testing.T, victim string, content []byte) {
	t.Helper()
	got, err := os.ReadFile(victim)
	require.NoError(t, err)
	assert.Equal(t, string(content), string(got), "the victim file was written through the link")
	fi, err := os.Stat(victim)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm())
}

func assertSymlinkError(t *testing.T, err error, path string) {
	t.Helper()
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrSymlink)
	assert.Contains(t, err.Error(), path)
	assert.Contains(t, err.Error(), "symbolic link")
}

// TestSymlinkFirstSegmentRefused: a link named like the first segment of a
// new log. Without O_EXCL|O_NOFOLLOW, Open truncated the victim and wrote a
// segment header into it.
func TestSymlinkFirstSegmentRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	name := segmentName(1)
	victim, content := plantVictim(t, dir, name)
	_, err := Open(dir, Options{})
	assertSymlinkError(t, err, filepath.Join(dir, name))
	assertVictimUnchanged(t, victim, content)
}

// TestSymlinkNextSegmentRefusedOnRoll: a link planted, while the log runs, at
// the name of the segment the next roll creates. The append that would roll
// fails (the record is not acknowledged); the records already written stay
// readable.
func TestSymlinkNextSegmentRefusedOnRoll(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	l := openT(t, dir, Options{SegmentBytes: 64 << 10, DisableCompression: true})
	defer l.Close()
	ctx := context.Background()
	seq, err := l.Append(ctx, 1, 1, makePayload(1, 40<<10))
	require.NoError(t, err)
	name := segmentName(seq + 1)
	victim, content := plantVictim(t, dir, name)
	_, err = l.Append(ctx, 1, 1, makePayload(2, 40<<10))
	assertSymlinkError(t, err, filepath.Join(dir, name))
	assertVictimUnchanged(t, victim, content)
	r := l.NewReader()
	recs := readAll(t, r, 100*time.Millisecond)
	require.Len(t, recs, 1)
	assert.True(t, payloadOK(recs[0].Payload))
}

// TestSymlinkCursorRefused: the cursor replaced by a link. Before, the log
// read the victim (and, finding no cursor in it, rebuilt one). Now Open
// fails and deletes nothing: the segments are still there.
func TestSymlinkCursorRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	l := openT(t, dir, Options{})
	_, err := l.Append(context.Background(), 1, 1, makePayload(1, 1000))
	require.NoError(t, err)
	require.NoError(t, l.Close())
	segs := segFiles(t, dir)
	require.NotEmpty(t, segs)
	require.NoError(t, os.Remove(filepath.Join(dir, cursorFileName)))
	victim, content := plantVictim(t, dir, cursorFileName)

	_, err = Open(dir, Options{})
	assertSymlinkError(t, err, filepath.Join(dir, cursorFileName))
	assertVictimUnchanged(t, victim, content)
	assert.Equal(t, segs, segFiles(t, dir), "nothing deleted")
}

// plantFS plants a link at cursor.tmp just before the log creates it (after
// recovery removed any stale one): the race a planted link can win.
type plantFS struct {
	OSFS
	victim string
}

func (p *plantFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if filepath.Base(name) == cursorTmpName && flag&os.O_CREATE != 0 {
		if err := os.Symlink(p.victim, name); err != nil {
			return nil, err
		}
	}
	return p.OSFS.OpenFile(name, flag, perm)
}

// TestSymlinkCursorTmpRefused: without O_EXCL|O_NOFOLLOW the log truncated
// the victim and wrote its cursor image into it.
func TestSymlinkCursorTmpRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	victim := filepath.Join(t.TempDir(), "victim")
	content := []byte("precious data that the log must never touch\n")
	require.NoError(t, os.WriteFile(victim, content, 0o644))

	_, err := Open(dir, Options{FS: &plantFS{victim: victim}})
	assertSymlinkError(t, err, filepath.Join(dir, cursorTmpName))
	assertVictimUnchanged(t, victim, content)
}

// TestSymlinkLockRefused: LOCK replaced by a link. Before, the log opened
// the victim read-write (creating it if missing) and locked it.
func TestSymlinkLockRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	victim, content := plantVictim(t, dir, lockFileName)
	_, err := Open(dir, Options{})
	assertSymlinkError(t, err, filepath.Join(dir, lockFileName))
	assertVictimUnchanged(t, victim, content)

	// A dangling link must not create its target either.
	dir2 := filepath.Join(t.TempDir(), "wal")
	require.NoError(t, os.MkdirAll(dir2, 0o700))
	target := filepath.Join(t.TempDir(), "created-through-link")
	require.NoError(t, os.Symlink(target, filepath.Join(dir2, lockFileName)))
	_, err = Open(dir2, Options{})
	require.ErrorIs(t, err, ErrSymlink)
	assert.NoFileExists(t, target)
}

// TestOpenNoFollowOnRegularFiles: the flags change nothing for the files the
// log owns (regular files, created or reopened).
func TestOpenNoFollowOnRegularFiles(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	f, err := OpenNoFollow(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	require.NoError(t, err)
	_, err = f.Write([]byte("x"))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = OpenNoFollow(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	require.ErrorIs(t, err, os.ErrExist, "a regular file under O_EXCL is EEXIST, not a link error")
	require.NotErrorIs(t, err, ErrSymlink)
	f, err = OpenNoFollow(p, os.O_RDONLY, 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}
