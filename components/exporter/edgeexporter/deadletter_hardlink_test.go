// SPDX-License-Identifier: Apache-2.0

package edgeexporter

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

func encodedLogs(t *testing.T) []byte {
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("hello")
	b, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)
	return b
}

// TestDeadLetterHardLinkNotWrittenThrough: a dead-letter file that is a hard
// link to a file outside the buffer (planted, or a cp -al backup) is copied
// to a private file before its torn tail is cut and entries are appended:
// the other file is unchanged, and the start says so. Before, it was
// truncated and appended to. Also for a link planted under the name of a
// file created while running.
func TestDeadLetterHardLinkNotWrittenThrough(t *testing.T) {
	good, err := encodeDeadLetter(kindTraces, encodedTraces(t, 0, 3))
	require.NoError(t, err)
	content := append(append([]byte{}, good...), []byte("precious data without a newline")...)

	base := t.TempDir()
	dir := filepath.Join(base, "edge")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	victim := filepath.Join(base, "victim")
	require.NoError(t, os.WriteFile(victim, content, 0o644))
	path := filepath.Join(dir, deadLetterName(kindTraces))
	require.NoError(t, os.Link(victim, path))
	// A leftover copy of an interrupted link break is removed at start.
	require.NoError(t, os.WriteFile(path+".private.tmp", []byte("partial"), 0o600))

	d, notes, err := openDeadLetter(dir, 1<<20, FsyncAlways, 0)
	require.NoError(t, err)
	require.Len(t, notes, 2, "notes: %v", notes)
	assert.Contains(t, notes[0], path+" had 2 links")
	assert.NoFileExists(t, path+".private.tmp")
	assert.Equal(t, int64(len(good)), d.size)

	// Created while running: a link planted under the name of the logs' file.
	logsVictim := filepath.Join(base, "logs-victim")
	require.NoError(t, os.WriteFile(logsVictim, []byte("more precious data\n"), 0o644))
	require.NoError(t, os.Link(logsVictim, filepath.Join(dir, deadLetterName(kindLogs))))

	require.NoError(t, d.write(kindTraces, encodedTraces(t, 20, 4)))
	require.NoError(t, d.write(kindLogs, encodedLogs(t)))
	require.NoError(t, d.close())

	got, err := os.ReadFile(victim)
	require.NoError(t, err)
	assert.Equal(t, content, got, "the victim was written through the hard link")
	got, err = os.ReadFile(logsVictim)
	require.NoError(t, err)
	assert.Equal(t, "more precious data\n", string(got))
	lines := readTraceLines(t, path)
	require.Len(t, lines, 2)
	assert.Equal(t, 4, lines[1].SpanCount())
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, 0o600, int(fi.Mode().Perm()))
}
