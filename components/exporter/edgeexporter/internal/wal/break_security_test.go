// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// plantHardLink writes a victim file in a sibling directory of dir (same
// filesystem) and hard-links name (in dir) to it. O_NOFOLLOW does not see a
// hard link: only the link count (Nlink > 1) betrays it.
func plantHardLink(t *testing.T, dir, name string, content []byte) string {
	t.Helper()
	victim := filepath.Join(filepath.Dir(dir), "victim")
	require.NoError(t, os.WriteFile(victim, content, 0o644))
	require.NoError(t, os.MkdirAll(dir, 0o700))
	require.NoError(t, os.Link(victim, filepath.Join(dir, name)))
	return victim
}

// TestBreakSecHardLinkedSegmentTruncatesVictim: a hard link planted under the
// name of a segment (the claim: "a file planted as a segment must not make us
// truncate or write through it"). Recovery finds an unreadable tail and cuts
// it: the victim file, outside the buffer, is truncated.
func TestBreakSecHardLinkedSegmentTruncatesVictim(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	content := []byte("precious data that the log must never touch\n")
	victim := plantHardLink(t, dir, segmentName(1), content)
	l, err := Open(dir, Options{})
	if err == nil {
		_, _ = l.Append(context.Background(), 1, 1, makePayload(1, 100))
		_ = l.Close()
	}
	got, rerr := os.ReadFile(victim)
	require.NoError(t, rerr)
	require.Equal(t, string(content), string(got), "the victim (hard-linked as a segment) was truncated or written (Open err: %v)", err)
}

// TestBreakSecHardLinkedCursorWrittenThrough: a valid log whose cursor file
// is replaced by a hard link to a victim that holds a copy of the cursor
// (e.g. a file the collector user owns elsewhere): the cursor is opened
// O_RDWR without an O_EXCL/nlink check and every acknowledgement is written
// into the victim. Fixed: a file with more than one link is replaced by a
// private copy before it is written (openOwned).
func TestBreakSecHardLinkedCursorWrittenThrough(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	l, err := Open(dir, Options{})
	require.NoError(t, err)
	seq, err := l.Append(context.Background(), 1, 1, makePayload(1, 100))
	require.NoError(t, err)
	require.NoError(t, l.Close())
	cur := filepath.Join(dir, cursorFileName)
	b, err := os.ReadFile(cur)
	require.NoError(t, err)
	victim := filepath.Join(filepath.Dir(dir), "victim")
	require.NoError(t, os.WriteFile(victim, b, 0o644))
	require.NoError(t, os.Remove(cur))
	require.NoError(t, os.Link(victim, cur))

	l, err = Open(dir, Options{})
	if err == nil {
		l.Ack(seq)
		_ = l.Close()
	}
	got, rerr := os.ReadFile(victim)
	require.NoError(t, rerr)
	require.Equal(t, b, got, "the victim (hard-linked as the cursor) was written through (Open err: %v)", err)
}

// TestBreakSecHardLinkedTailSegmentAppendedAndTruncated: the last segment is
// replaced by a hard link to a victim that starts like a segment and ends
// with other data: recovery cuts the victim's tail and new records are
// appended into it. Fixed like the cursor (openOwned).
func TestBreakSecHardLinkedTailSegmentAppendedAndTruncated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	l, err := Open(dir, Options{})
	require.NoError(t, err)
	_, err = l.Append(context.Background(), 1, 1, makePayload(1, 100))
	require.NoError(t, err)
	require.NoError(t, l.Close())
	seg := filepath.Join(dir, segmentName(1))
	b, err := os.ReadFile(seg)
	require.NoError(t, err)
	content := append(append([]byte{}, b...), []byte("\nprecious data after a segment-looking prefix\n")...)
	victim := filepath.Join(filepath.Dir(dir), "victim")
	require.NoError(t, os.WriteFile(victim, content, 0o644))
	require.NoError(t, os.Remove(seg))
	require.NoError(t, os.Link(victim, seg))

	l, err = Open(dir, Options{})
	if err == nil {
		_, _ = l.Append(context.Background(), 1, 1, makePayload(2, 100))
		_ = l.Close()
	}
	got, rerr := os.ReadFile(victim)
	require.NoError(t, rerr)
	require.Equal(t, len(content), len(got), "the victim (hard-linked as the last segment) changed size (Open err: %v)", err)
	require.Equal(t, string(content), string(got))
}
