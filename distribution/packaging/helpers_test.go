// SPDX-License-Identifier: Apache-2.0

package packaging // import "github.com/otelcol-edge/otelcol-edge/distribution/packaging"

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// repoRoot is the repository root (this module is distribution/packaging).
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func readRepoFile(t *testing.T, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// collectorBinary is the built distribution; the test is skipped, with the
// reason, only when it does not exist.
func collectorBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("OTELCOL_EDGE_BIN")
	if bin == "" {
		bin = filepath.Join(repoRoot(t), "_build", "otelcol-edge", "otelcol-edge")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("SKIP: the otelcol-edge binary is missing (%v): run `make build` first "+
			"(`make test-package` and `make test-distribution` build it), or set OTELCOL_EDGE_BIN", err)
	}
	return bin
}

// distVersion is dist.version of builder-config.yaml: the version of the
// distribution, of its packages and of its image.
func distVersion(t *testing.T) string {
	t.Helper()
	var manifest struct {
		Dist struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"dist"`
	}
	if err := yaml.Unmarshal(readRepoFile(t, "builder-config.yaml"), &manifest); err != nil {
		t.Fatalf("builder-config.yaml: %v", err)
	}
	if manifest.Dist.Version == "" {
		t.Fatal("builder-config.yaml: dist.version is empty")
	}
	return manifest.Dist.Version
}

// validateConfig runs `otelcol-edge validate` on a collector config, in an
// environment holding only env (and PATH), and returns its error output.
func validateConfig(t *testing.T, config []byte, env map[string]string) (string, error) {
	t.Helper()
	bin := collectorBinary(t)
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, config, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "validate", "--config", path)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("otelcol-edge validate did not return within 60 s: %s", out.String())
		return "", nil
	}
}

// mustValidate fails the test, naming what, when the config does not validate.
func mustValidate(t *testing.T, what string, config []byte, env map[string]string) {
	t.Helper()
	if out, err := validateConfig(t, config, env); err != nil {
		t.Errorf("%s does not pass `otelcol-edge validate` (env %v): %v\n%s", what, env, err, strings.TrimSpace(out))
	}
}

// configMap unmarshals a collector config for structural assertions.
func configMap(t *testing.T, what string, config []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal(config, &m); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return m
}

// dig returns the value at a path of map keys, or nil.
func dig(m any, path ...string) any {
	for _, p := range path {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil
		}
		m = mm[p]
	}
	return m
}

func digString(m any, path ...string) string {
	s, _ := dig(m, path...).(string)
	return s
}

// healthEndpoint is the HTTP endpoint of a config's health extension:
// healthcheckv2's http.endpoint, or health_check's endpoint where a config
// keeps v1 (the operator's resource: the operator derives probes from it only).
func healthEndpoint(cfg map[string]any) string {
	if ep := digString(cfg, "extensions", "healthcheckv2", "http", "endpoint"); ep != "" {
		return ep
	}
	return digString(cfg, "extensions", "health_check", "endpoint")
}

// checkHealthV2 checks what "healthy" means in a shipped config (README,
// Health): healthcheckv2 on component status, in service::extensions; a
// recoverable error (the edge exporter offline and buffering) never turns the
// answer unhealthy, however long it lasts; a permanent error does; the
// status is served at "/", the path every probe and script of v1 used.
func checkHealthV2(t *testing.T, what string, cfg map[string]any) {
	t.Helper()
	hc := dig(cfg, "extensions", "healthcheckv2")
	if hc == nil {
		t.Errorf("%s: no healthcheckv2 extension", what)
		return
	}
	exts, _ := dig(cfg, "service", "extensions").([]any)
	in := false
	for _, e := range exts {
		in = in || e == "healthcheckv2"
	}
	if !in {
		t.Errorf("%s: healthcheckv2 is not in service::extensions %v", what, exts)
	}
	for _, c := range []struct {
		path []string
		want any
	}{
		{[]string{"use_v2"}, true},
		{[]string{"component_health", "include_recoverable_errors"}, false},
		{[]string{"component_health", "include_permanent_errors"}, true},
		{[]string{"http", "status", "path"}, "/"},
	} {
		if got := dig(hc, c.path...); got != c.want {
			t.Errorf("%s: healthcheckv2.%s = %v, want %v", what, strings.Join(c.path, "."), got, c.want)
		}
	}
	if dig(cfg, "extensions", "health_check") != nil {
		t.Errorf("%s: both health_check and healthcheckv2: one health answer per config", what)
	}
}
