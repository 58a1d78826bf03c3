// SPDX-License-Identifier: Apache-2.0

package e2e // import "github.com/otelcol-edge/otelcol-edge/internal/e2e"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BinaryEnv is the environment variable that, when set, names the collector
// binary to test instead of the default build output.
const BinaryEnv = "OTELCOL_EDGE_BIN"

// repoMarker is the file whose directory is taken as the repository root.
const repoMarker = "builder-config.yaml"

// defaultBinary is the build output path relative to the repository root.
var defaultBinary = filepath.Join("_build", "otelcol-edge", "otelcol-edge")

// RepoRoot returns the repository root: the nearest directory, walking up
// from the test's working directory, that holds builder-config.yaml.
func RepoRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatalf("RepoRoot: getwd: %v", err)
	}
	root, err := findRepoRoot(wd)
	if err != nil {
		t.Fatalf("RepoRoot: %v", err)
	}
	return root
}

// findRepoRoot walks up from start to the directory holding repoMarker.
func findRepoRoot(start string) (string, error) {
	dir, err := filepath.Abs(start)
	if err != nil {
		return "", err
	}
	for range 256 { // bounded: no real path is that deep
		if fi, err := os.Stat(filepath.Join(dir, repoMarker)); err == nil && !fi.IsDir() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", fmt.Errorf("no %s found in %s or any parent directory", repoMarker, start)
}

// Binary returns the path of the collector binary under test: the value of
// OTELCOL_EDGE_BIN if set, otherwise <repo root>/_build/otelcol-edge/otelcol-edge.
// It fails the test with a hint to run `make build` when the file is missing.
func Binary(t testing.TB) string {
	t.Helper()
	path := os.Getenv(BinaryEnv)
	source := BinaryEnv
	if path == "" {
		path = filepath.Join(RepoRoot(t), defaultBinary)
		source = "default build output"
	}
	if err := checkExecutable(path); err != nil {
		t.Fatalf("collector binary (%s) %s: %v; run `make build` first or set %s", source, path, err, BinaryEnv)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatalf("Binary: abs %s: %v", path, err)
	}
	return abs
}

// checkExecutable reports why path is not a runnable regular file.
func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return errors.New("is a directory")
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return errors.New("is not executable")
	}
	return nil
}

// WriteConfig writes yaml to a new file in t.TempDir() and returns its path.
func WriteConfig(t testing.TB, yaml string) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "config-*.yaml")
	if err != nil {
		t.Fatalf("WriteConfig: %v", err)
	}
	if _, err := f.WriteString(yaml); err != nil {
		_ = f.Close()
		t.Fatalf("WriteConfig: write %s: %v", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("WriteConfig: close %s: %v", f.Name(), err)
	}
	return f.Name()
}
