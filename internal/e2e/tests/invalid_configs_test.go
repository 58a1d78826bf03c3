// SPDX-License-Identifier: Apache-2.0

package tests // import "github.com/otelcol-edge/otelcol-edge/internal/e2e/tests"

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otelcol-edge/otelcol-edge/internal/e2e"
)

// invalidCase is one file of testdata/invalid/: a full collector config that
// `otelcol-edge validate` must reject with an error containing every want.
type invalidCase struct {
	path      string
	component string // the file name's prefix: edge, filter, enrich, discovery
	wants     []string
}

// loadInvalidCases reads testdata/invalid/*.yaml and their `# want:` lines.
func loadInvalidCases(t *testing.T) []invalidCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(e2e.RepoRoot(t), "testdata", "invalid", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []invalidCase
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c := invalidCase{path: f, component: strings.SplitN(filepath.Base(f), "_", 2)[0]}
		for _, line := range strings.Split(string(b), "\n") {
			if w, ok := strings.CutPrefix(strings.TrimSpace(line), "# want:"); ok && strings.TrimSpace(w) != "" {
				c.wants = append(c.wants, strings.TrimSpace(w))
			}
		}
		if len(c.wants) == 0 {
			t.Errorf("%s has no `# want: <substring of the error>` line", f)
		}
		cases = append(cases, c)
	}
	return cases
}

// TestInvalidConfigsRejected: every config in testdata/invalid/ (25+, across
// the edge exporter, the filter and enrich processors and the discovery
// extension) is rejected by `otelcol-edge validate` with a non-zero exit code
// and an error that names the offending key. The reliability suite
// (bench/, `make reliability`) runs the same files.
func TestInvalidConfigsRejected(t *testing.T) {
	bin := e2e.Binary(t)
	cases := loadInvalidCases(t)
	if len(cases) < 25 {
		t.Fatalf("testdata/invalid holds %d configs, want at least 25", len(cases))
	}
	perComponent := map[string]int{}
	for _, c := range cases {
		perComponent[c.component]++
	}
	for _, comp := range []string{"edge", "filter", "enrich", "discovery"} {
		if perComponent[comp] < 3 {
			t.Errorf("testdata/invalid has %d configs for %s, want at least 3", perComponent[comp], comp)
		}
	}
	for _, c := range cases {
		t.Run(strings.TrimSuffix(filepath.Base(c.path), ".yaml"), func(t *testing.T) {
			t.Parallel()
			code, out := e2e.RunCollectorExpectExit(t, bin, 30*time.Second, "validate", "--config", c.path)
			if code == 0 {
				t.Fatalf("validate --config %s: exit code 0, want non-zero; output:\n%s", c.path, tailLines(out, 20))
			}
			for _, w := range c.wants {
				if !strings.Contains(out, w) {
					t.Errorf("validate --config %s: output does not contain %q; output:\n%s", c.path, w, tailLines(out, 20))
				}
			}
		})
	}
}
