// SPDX-License-Identifier: Apache-2.0

package e2e // import "github.com/otelcol-edge/otelcol-edge/internal/e2e"

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFindRepoRoot(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, repoMarker), []byte("dist: {}\n"), 0o600))
	deep := filepath.Join(root, "a", "b", "c")
	require.NoError(t, os.MkdirAll(deep, 0o700))

	got, err := findRepoRoot(deep)
	require.NoError(t, err)
	assert.Equal(t, root, got)

	got, err = findRepoRoot(root)
	require.NoError(t, err)
	assert.Equal(t, root, got)

	_, err = findRepoRoot(t.TempDir())
	require.Error(t, err)
}

func TestBinaryFromEnv(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "otelcol-edge")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\nexit 0\n"), 0o700))
	t.Setenv(BinaryEnv, bin)
	assert.Equal(t, bin, Binary(t))
}

func TestBinaryMissing(t *testing.T) {
	t.Setenv(BinaryEnv, filepath.Join(t.TempDir(), "nope"))
	f := &fakeTB{TB: t}
	Binary(f)
	msgs := f.messages()
	require.Len(t, msgs, 1)
	assert.Contains(t, msgs[0], "run `make build` first")
}

func TestBinaryNotExecutable(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "otelcol-edge")
	require.NoError(t, os.WriteFile(bin, []byte("x"), 0o600))
	t.Setenv(BinaryEnv, bin)
	f := &fakeTB{TB: t}
	Binary(f)
	require.Len(t, f.messages(), 1)
	assert.Contains(t, f.messages()[0], "not executable")
}

func TestWriteConfig(t *testing.T) {
	const yaml = "receivers:\n  otlp:\n"
	p := WriteConfig(t, yaml)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, yaml, string(b))
	assert.NotEqual(t, p, WriteConfig(t, yaml), "each call writes a new file")
}
