// SPDX-License-Identifier: Apache-2.0

package edgeexporter

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/metadatatest"
	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"
)

// The properties under test: the exporter uses only directories that are
// its own (owned by the running user, real directories, 0700); it creates
// them 0700 whatever the umask, removes group/other permissions from its own
// existing ones, and refuses any other with an error naming path, owner and
// mode, reading nothing in it.

func modeOf(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	require.NoError(t, err)
	return fi.Mode()
}

// startErr starts a traces exporter and returns the error of Start.
func startErr(t *testing.T, cfg *Config) error {
	t.Helper()
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tt.Shutdown(context.Background()) })
	te, err := NewFactory().CreateTraces(context.Background(), metadatatest.NewSettings(tt), cfg)
	require.NoError(t, err)
	err = te.Start(context.Background(), componenttest.NewNopHost())
	// Shutdown also after a failed Start (as the service does): it releases
	// the instance shared by component ID.
	require.NoError(t, te.Shutdown(context.Background()))
	return err
}

// TestBufferDirCreated0700WhateverTheUmask: the directories the exporter
// creates are 0700 even under a umask that removes owner bits (before, they
// were 0700 &^ umask).
func TestBufferDirCreated0700WhateverTheUmask(t *testing.T) {
	cfg := testConfig(t, sink0(t))
	cfg.Buffer.Directory = filepath.Join(t.TempDir(), "a", "buffer")
	old := umask(0o277)
	rep, err := prepareBufferDir(cfg.Buffer.Directory, filepath.Join(cfg.Buffer.Directory, "edge"), os.Geteuid())
	umask(old)
	require.NoError(t, err)
	assert.Empty(t, rep.tightened)
	for _, d := range []string{cfg.Buffer.Directory, filepath.Join(cfg.Buffer.Directory, "edge"), filepath.Join(cfg.Buffer.Directory, "edge", "wal")} {
		assert.Equal(t, fs.ModeDir|0o700, modeOf(t, d), d)
	}
}

// TestBufferDirForeignOwnerRefused: a directory owned by another user is
// refused with its path, owner and mode, and nothing in it is touched.
func TestBufferDirForeignOwnerRefused(t *testing.T) {
	parent := t.TempDir()
	inst := filepath.Join(parent, "edge")
	require.NoError(t, os.MkdirAll(filepath.Join(inst, "wal"), 0o700))
	me := os.Geteuid()
	other := me + 1000
	_, err := prepareBufferDir(parent, inst, other)
	require.ErrorIs(t, err, errBufferDirUntrusted)
	assert.Contains(t, err.Error(), fmt.Sprintf("%s is owned by uid %d (mode drwx------), not by the user running the collector (uid %d)", inst, me, other))
}

// TestStartRefusesBufferDirOfAnotherUser: through Start, as root (the
// directory is chown-ed to nobody). Before, root opened it and used it.
func TestStartRefusesBufferDirOfAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown a directory to another user")
	}
	cfg := testConfig(t, sink0(t))
	inst := filepath.Join(cfg.Buffer.Directory, "edge")
	require.NoError(t, os.MkdirAll(filepath.Join(inst, "wal"), 0o700))
	planted := filepath.Join(inst, "wal", "00000000000000000001.seg")
	require.NoError(t, os.WriteFile(planted, []byte("not ours"), 0o600))
	require.NoError(t, os.Chown(inst, 65534, 65534))

	err := startErr(t, cfg)
	require.ErrorIs(t, err, errBufferDirUntrusted)
	assert.Contains(t, err.Error(), fmt.Sprintf("%s is owned by uid 65534 (mode drwx------), not by the user running the collector (uid 0)", inst))
	b, rerr := os.ReadFile(planted)
	require.NoError(t, rerr)
	assert.Equal(t, "not ours", string(b), "nothing read, repaired or deleted")
	assert.NoFileExists(t, filepath.Join(inst, "wal", "cursor"))
}

// TestStartTightensOwnBufferDir: the exporter's own directories left open to
// group/other (by an operator, or an older version) are tightened to 0700.
func TestStartTightensOwnBufferDir(t *testing.T) {
	cfg := testConfig(t, sink0(t))
	inst := filepath.Join(cfg.Buffer.Directory, "edge")
	require.NoError(t, os.MkdirAll(filepath.Join(inst, "wal"), 0o700))
	require.NoError(t, os.Chmod(inst, 0o755))
	require.NoError(t, os.Chmod(filepath.Join(inst, "wal"), 0o770))

	rep, err := prepareBufferDir(cfg.Buffer.Directory, inst, os.Geteuid())
	require.NoError(t, err)
	assert.Equal(t, []string{
		inst + ": drwxr-xr-x -> drwx------",
		filepath.Join(inst, "wal") + ": drwxrwx--- -> drwx------",
	}, rep.tightened)

	require.NoError(t, os.Chmod(inst, 0o755))
	require.NoError(t, startErr(t, cfg))
	assert.Equal(t, fs.ModeDir|0o700, modeOf(t, inst))
	assert.Equal(t, fs.ModeDir|0o700, modeOf(t, filepath.Join(inst, "wal")))
}

// TestStartRefusesSymlinkedBufferDir: <directory>/<id> (or its wal/) as a
// symbolic link is refused, even to a directory of ours.
func TestStartRefusesSymlinkedBufferDir(t *testing.T) {
	for _, which := range []string{"instance", "wal"} {
		t.Run(which, func(t *testing.T) {
			cfg := testConfig(t, sink0(t))
			inst := filepath.Join(cfg.Buffer.Directory, "edge")
			target := t.TempDir()
			link := inst
			if which == "wal" {
				require.NoError(t, os.Mkdir(inst, 0o700))
				link = filepath.Join(inst, "wal")
			}
			require.NoError(t, os.Symlink(target, link))
			err := startErr(t, cfg)
			require.ErrorIs(t, err, errBufferDirUntrusted)
			assert.Contains(t, err.Error(), link+" is a symbolic link")
			ents, rerr := os.ReadDir(target)
			require.NoError(t, rerr)
			assert.Empty(t, ents, "nothing created through the link")
		})
	}
}

// TestBufferDirOpenParentReported: a buffer.directory others can write to
// (without the sticky bit) is reported; with the sticky bit, or 0755, not.
func TestBufferDirOpenParentReported(t *testing.T) {
	for _, tc := range []struct {
		mode fs.FileMode
		open bool
	}{{0o777, true}, {0o775, true}, {0o777 | fs.ModeSticky, false}, {0o755, false}} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			parent := t.TempDir()
			require.NoError(t, os.Chmod(parent, tc.mode))
			rep, err := prepareBufferDir(parent, filepath.Join(parent, "edge"), os.Geteuid())
			require.NoError(t, err)
			assert.Equal(t, tc.open, rep.openParent != "", rep.openParent)
		})
	}
}

// TestDeadLetterSymlinkRefused: a link planted as a dead-letter file, before
// the start or after it (created on the first entry), is refused and the
// victim unchanged. Before, the entries were appended to the victim.
func TestDeadLetterSymlinkRefused(t *testing.T) {
	victim := filepath.Join(t.TempDir(), "victim")
	content := []byte("precious\n")
	require.NoError(t, os.WriteFile(victim, content, 0o644))
	check := func() {
		b, err := os.ReadFile(victim)
		require.NoError(t, err)
		assert.Equal(t, string(content), string(b))
	}

	dir := t.TempDir()
	name := filepath.Join(dir, deadLetterName(kindTraces))
	require.NoError(t, os.Symlink(victim, name))
	_, _, err := openDeadLetter(dir, 1<<20, FsyncNever, 0)
	require.ErrorIs(t, err, wal.ErrSymlink)
	assert.Contains(t, err.Error(), name)
	check()

	dir = t.TempDir()
	d, _, err := openDeadLetter(dir, 1<<20, FsyncNever, 0)
	require.NoError(t, err)
	defer d.close()
	name = filepath.Join(dir, deadLetterName(kindTraces))
	require.NoError(t, os.Symlink(victim, name))
	err = d.write(kindTraces, encodedTraces(t, 1, 2))
	require.ErrorIs(t, err, wal.ErrSymlink)
	check()
}
