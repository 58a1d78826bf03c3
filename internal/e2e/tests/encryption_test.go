// SPDX-License-Identifier: Apache-2.0

package tests // import "github.com/otelcol-edge/otelcol-edge/internal/e2e/tests"

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otelcol-edge/otelcol-edge/internal/e2e"
)

// encryptionOverlay is merged over testdata/edge.yaml: the edge exporter's
// buffer encrypted with the keys of the environment.
const encryptionOverlay = `exporters:
  edge:
    buffer:
      encryption:
        active: ${env:EDGE_KEY_ACTIVE}
        keys:
          - id: ${env:EDGE_KEY_ID}
            key: ${env:EDGE_KEY}
`

// startEncryptedEdge starts the collector with testdata/edge.yaml and the
// encryption overlay; ready waits for its health check (false: the process
// is expected to exit).
func startEncryptedEdge(t *testing.T, sink *e2e.Sink, bufferDir string, keys map[string]string, ready bool) *edgeCollector {
	t.Helper()
	overlay := filepath.Join(t.TempDir(), "encryption.yaml")
	if err := os.WriteFile(overlay, []byte(encryptionOverlay), 0o600); err != nil {
		t.Fatal(err)
	}
	env, ports := edgeEnv(t, sink, bufferDir, keys)
	opts := e2e.CollectorOptions{
		ConfigPaths: []string{filepath.Join(e2e.RepoRoot(t), "testdata", "edge.yaml"), overlay},
		Env:         env,
		MetricsURL:  fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[3]),
	}
	if ready {
		opts.HealthURL = fmt.Sprintf("http://127.0.0.1:%d/", ports[2])
	} else {
		opts.MinUptime = -1
	}
	c := e2e.StartCollector(t, opts)
	return &edgeCollector{Collector: c, grpcPort: ports[0], httpPort: ports[1], healthPort: ports[2], metricsPort: ports[3], bufferDir: bufferDir}
}

// plainTextIn returns the files under dir that contain one of the markers.
func plainTextIn(t *testing.T, dir string, markers ...string) []string {
	t.Helper()
	var found []string
	files := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		for _, m := range markers {
			if bytes.Contains(b, []byte(m)) {
				found = append(found, fmt.Sprintf("%s holds %q", p, m))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatalf("no file under %s", dir)
	}
	return found
}

// TestEncryptedBuffer: through the binary, with buffer.encryption and the
// backend down, the spans written to the buffer leave no plain text in any
// file under the buffer directory (span names, resource attributes); a
// restart without the key exits with an error naming the key id and changes
// nothing; a restart with the key and the backend up delivers every span.
func TestEncryptedBuffer(t *testing.T) {
	const perRequest, requests = 200, 10
	sink := newStoppedSink(t, e2e.SinkOptions{})
	bufferDir := filepath.Join(t.TempDir(), "buffer")
	keyA := map[string]string{
		"EDGE_KEY_ACTIVE": "site-2026-11", "EDGE_KEY_ID": "site-2026-11",
		"EDGE_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, 32)),
	}
	c := startEncryptedEdge(t, sink, bufferDir, keyA, true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := e2e.NewGRPCClient(t, c.grpcEndpoint())
	for i := range requests {
		if err := client.SendTraces(ctx, e2e.GenTraces(1, perRequest, uint64(i*perRequest))); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	e2e.Eventually(t, 10*time.Second, 50*time.Millisecond, func() bool {
		return c.edgeMetric("exporter_edge_buffer_items", nil) == perRequest*requests
	}, "buffer_items reaches %d", perRequest*requests)
	if code := c.Stop(); code != 0 {
		t.Fatalf("collector exited with %d", code)
	}
	markers := []string{"SELECT orders", "process-payment", "edge-svc-0", "cache.internal"}
	if found := plainTextIn(t, bufferDir, markers...); len(found) > 0 {
		t.Fatalf("plain text on disk:\n%s", strings.Join(found, "\n"))
	}
	before := snapshotFiles(t, bufferDir)

	// Restart with another key only: exit, naming the key id, nothing changed.
	keyB := map[string]string{
		"EDGE_KEY_ACTIVE": "site-2027-05", "EDGE_KEY_ID": "site-2027-05",
		"EDGE_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x6b}, 32)),
	}
	bad := startEncryptedEdge(t, sink, bufferDir, keyB, false)
	code, out := bad.Wait(30 * time.Second)
	if code == 0 {
		t.Fatalf("collector without the key exited with 0:\n%s", out)
	}
	if !strings.Contains(out, `key id \"site-2026-11\"`) && !strings.Contains(out, `key id "site-2026-11"`) {
		t.Fatalf("the error does not name the missing key id:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "site-2026-11") {
			t.Logf("refused start: %s", line)
		}
	}
	if strings.Contains(out, keyA["EDGE_KEY"]) || strings.Contains(out, keyB["EDGE_KEY"]) {
		t.Fatalf("a key is in the output:\n%s", out)
	}
	if after := snapshotFiles(t, bufferDir); !equalSnapshots(before, after) {
		t.Fatalf("the refused start changed files:\nbefore %v\nafter  %v", before, after)
	}

	// With the key back and the backend up: everything delivered.
	sink.Start()
	c = startEncryptedEdge(t, sink, bufferDir, keyA, true)
	waitAllSpans(t, sink, seqRange(0, perRequest*requests), 45*time.Second)
	e2e.Eventually(t, 10*time.Second, 50*time.Millisecond, func() bool {
		return c.edgeMetric("exporter_edge_buffer_items", nil) == 0
	}, "buffer drained")
}

// snapshotFiles maps every file under dir to its size, modification time and
// content hash.
func snapshotFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out[p] = fmt.Sprintf("%d@%d:%x", fi.Size(), fi.ModTime().UnixNano(), sha256.Sum256(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func equalSnapshots(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
