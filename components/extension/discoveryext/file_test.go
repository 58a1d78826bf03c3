// SPDX-License-Identifier: Apache-2.0

package discoveryext

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/discoveryapi"
	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/internal/metadata"
)

func writeFile(path, content string) error {
	return os.WriteFile(path, []byte(content), 0o600)
}

// writeAtomic writes content to a temporary file and renames it over path.
func writeAtomic(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	require.NoError(t, writeFile(tmp, content))
	require.NoError(t, os.Rename(tmp, path))
}

func TestParseEndpoints(t *testing.T) {
	got, err := parseEndpoints([]byte(`
- address: 127.0.0.1:4317
  weight: 3
  priority: 1
  zone: a
  metadata: {rack: r1}
- address: "[::1]:4318"
`), defaultMaxEndpoints)
	require.NoError(t, err)
	assert.Equal(t, []target{
		{Address: "127.0.0.1:4317", Weight: 3, Priority: 1, Zone: "a", Metadata: map[string]string{"rack": "r1"}},
		{Address: "[::1]:4318"},
	}, got)

	got, err = parseEndpoints([]byte(`[{"address": "127.0.0.1:1", "weight": 2}, {"address": "127.0.0.1:2"}]`), defaultMaxEndpoints)
	require.NoError(t, err)
	assert.Len(t, got, 2)

	got, err = parseEndpoints([]byte("[]"), defaultMaxEndpoints)
	require.NoError(t, err)
	assert.Empty(t, got)

	for _, tt := range []struct{ in, want string }{
		{"- address: 127.0.0.1:1\n  wieght: 2\n", "line 2: [0].wieght: unknown field"},
		{"- address: 127.0.0.1:1\n- address: 127.0.0.1:2\n  weight: heavy\n", "line 3: [1].weight: cannot unmarshal !!str `heavy` into int"},
		{"- address: 127.0.0.1:1\n- address: nope\n", `line 2: [1].address: must be host:port, got "nope"`},
		{"- weight: 1\n", "line 1: [0].address: must be set"},
		{"- address: 127.0.0.1:1\n  priority: -1\n", "line 1: [0]: weight and priority must be >= 0"},
		{"endpoints: []\n", "line 1: want a list of endpoints"},
		{"- 127.0.0.1:1\n", "line 1: [0]: want a mapping"},
		{"- address: [\n", "yaml: line"},
		{`[{"address": "127.0.0.1:1", "weight": "x"}]`, "line 1: [0].weight: cannot unmarshal"},
	} {
		_, err := parseEndpoints([]byte(tt.in), defaultMaxEndpoints)
		require.Error(t, err, tt.in)
		assert.Contains(t, err.Error(), tt.want)
	}
}

func fileSourceConfig(name, path string) SourceConfig {
	// The poll fallback is long: changes here come through fsnotify unless a test says otherwise.
	return SourceConfig{Name: name, File: configoptional.Some(FileConfig{Path: path, PollInterval: time.Hour})}
}

func TestFileSource(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "endpoints.yaml")
	require.NoError(t, writeFile(path, "- address: 127.0.0.1:1\n- address: 127.0.0.1:2\n  weight: 2\n"))

	core, logs := observer.New(zap.InfoLevel)
	set := extensiontest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	d := startExtensionWith(t, fastConfig(fileSourceConfig("fleet", path)), set)
	require.Equal(t, map[string]string{"127.0.0.1:1": "unknown", "127.0.0.1:2": "unknown"}, states(d.Snapshot()))
	assert.Equal(t, "fleet/127.0.0.1:2", d.Snapshot().Endpoints[1].ID)
	assert.Equal(t, 2, d.Snapshot().Endpoints[1].Weight)

	// Rewrite in place: one removed (draining, then gone), one added.
	require.NoError(t, writeFile(path, "- address: 127.0.0.1:1\n- address: 127.0.0.1:3\n"))
	waitSnapshot(t, d, "rewrite", hasStates(map[string]string{"127.0.0.1:1": "unknown", "127.0.0.1:2": "draining", "127.0.0.1:3": "unknown"}))
	waitSnapshot(t, d, "drained", hasStates(map[string]string{"127.0.0.1:1": "unknown", "127.0.0.1:3": "unknown"}))

	// Invalid content: the last good list stays and the error names line and field.
	version := d.Snapshot().Version
	require.NoError(t, writeFile(path, "- address: 127.0.0.1:1\n- adress: 127.0.0.1:4\n"))
	waitSnapshot(t, d, "error logged", func(discoveryapi.Snapshot) bool {
		return logs.FilterMessageSnippet("keeping its last good list").Len() > 0
	})
	entry := logs.FilterMessageSnippet("keeping its last good list").All()[0]
	assert.Contains(t, entry.ContextMap()["error"], "line 2: [1].adress: unknown field")
	assert.Equal(t, "fleet", entry.ContextMap()["source"])
	assert.Equal(t, version, d.Snapshot().Version)

	// Atomic rename of a fixed file.
	writeAtomic(t, path, `[{"address": "127.0.0.1:5", "zone": "b"}]`)
	waitSnapshot(t, d, "rename", hasStates(map[string]string{"127.0.0.1:1": "draining", "127.0.0.1:3": "draining", "127.0.0.1:5": "unknown"}))
	assert.Equal(t, "b", d.Snapshot().Endpoints[2].Zone)

	// Delete: the last good list stays (write [] to empty it).
	require.NoError(t, os.Remove(path))
	waitSnapshot(t, d, "delete logged", func(discoveryapi.Snapshot) bool {
		return logs.FilterMessageSnippet("keeping its last good list").FilterField(zap.String("source", "fleet")).Len() > 1
	})
	waitSnapshot(t, d, "kept", hasStates(map[string]string{"127.0.0.1:5": "unknown"}))

	// Re-created; then emptied on purpose.
	writeAtomic(t, path, "- address: 127.0.0.1:6\n")
	waitSnapshot(t, d, "recreated", hasStates(map[string]string{"127.0.0.1:5": "draining", "127.0.0.1:6": "unknown"}))
	require.NoError(t, writeFile(path, "[]\n"))
	waitSnapshot(t, d, "emptied", hasStates(map[string]string{}))
}

func TestFileSourcePollFallback(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "endpoints.json")
	// The directory does not exist yet: nothing to watch, polling finds the file later.
	src := SourceConfig{Name: "f", File: configoptional.Some(FileConfig{Path: path, PollInterval: 20 * time.Millisecond})}
	d := startExtension(t, fastConfig(src))
	assert.Empty(t, d.Snapshot().Endpoints)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
	writeAtomic(t, path, `[{"address": "127.0.0.1:7"}]`)
	waitSnapshot(t, d, "polled", hasStates(map[string]string{"127.0.0.1:7": "unknown"}))
}

// TestFileSourceCaps: a file larger than max_bytes or listing more than
// max_endpoints is an error naming the file and the cap, and the last good
// list stays.
func TestFileSourceCaps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "endpoints.yaml")
	require.NoError(t, writeFile(path, "- address: 127.0.0.1:1\n"))

	core, logs := observer.New(zap.InfoLevel)
	set := extensiontest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	src := fileSourceConfig("fleet", path)
	src.File.Get().MaxBytes = 256
	src.File.Get().MaxEndpoints = 3
	d := startExtensionWith(t, fastConfig(src), set)
	good := map[string]string{"127.0.0.1:1": "unknown"}
	require.Equal(t, good, states(d.Snapshot()))
	version := d.Snapshot().Version

	waitError := func(want string) {
		t.Helper()
		waitSnapshot(t, d, want, func(discoveryapi.Snapshot) bool {
			for _, e := range logs.FilterMessageSnippet("keeping its last good list").All() {
				if strings.Contains(fmt.Sprint(e.ContextMap()["error"]), want) {
					return true
				}
			}
			return false
		})
		assert.Equal(t, good, states(d.Snapshot()), "the last good list stays")
		assert.Equal(t, version, d.Snapshot().Version)
	}

	// A valid list, but 300 bytes.
	big := "- address: 127.0.0.1:2\n  metadata: {pad: " + strings.Repeat("x", 300) + "}\n"
	writeAtomic(t, path, big)
	waitError(path + `: file is larger (` + strconv.Itoa(len(big)) + ` bytes) than "max_bytes" (256 bytes)`)

	// Four endpoints, fewer than 256 bytes.
	writeAtomic(t, path, "- address: 127.0.0.1:2\n- address: 127.0.0.1:3\n- address: 127.0.0.1:4\n- address: 127.0.0.1:5\n")
	waitError(path + `: 4 endpoints, more than "max_endpoints" (3)`)

	// A credential in an address is refused and never shown.
	writeAtomic(t, path, "- address: otel:s3cret@127.0.0.1:2\n")
	waitError(path + `: line 1: [0].address: must not contain user info (credentials before "@"), got "xxxxx@127.0.0.1:2"`)
	for _, e := range logs.All() {
		assert.NotContains(t, fmt.Sprint(e.ContextMap()), "s3cret")
	}

	// A FIFO planted at the path: refused without blocking.
	require.NoError(t, os.Remove(path))
	require.NoError(t, syscall.Mkfifo(path, 0o600))
	waitError(path + ": not a regular file")

	// Within the caps again: applied.
	writeAtomic(t, path, "- address: 127.0.0.1:2\n- address: 127.0.0.1:3\n- address: 127.0.0.1:4\n")
	waitSnapshot(t, d, "good file", hasStates(map[string]string{
		"127.0.0.1:1": "draining", "127.0.0.1:2": "unknown", "127.0.0.1:3": "unknown", "127.0.0.1:4": "unknown",
	}))
}
