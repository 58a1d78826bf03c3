// SPDX-License-Identifier: Apache-2.0

package packaging // import "github.com/otelcol-edge/otelcol-edge/distribution/packaging"

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

const unitFile = "distribution/packaging/otelcol-edge.service"

// parseBytes reads a systemd or Go size: 512M, 1G, 410MiB, 1073741824.
func parseBytes(t *testing.T, s string) int64 {
	t.Helper()
	m := regexp.MustCompile(`^(\d+)\s*([KMGT]?)(i?B)?$`).FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		t.Fatalf("not a size: %q", s)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	shift := map[string]uint{"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[m[2]]
	return n << shift
}

// The unit confines the collector: a read-only system but for the buffer,
// other processes invisible, the system calls of a service, no writable and
// executable memory, Internet and Unix sockets only, no capabilities.
func TestSystemdUnitHardening(t *testing.T) {
	svc := parseUnit(t, readRepoFile(t, unitFile))["Service"]
	last := func(k string) string {
		if v := svc[k]; len(v) > 0 {
			return v[len(v)-1]
		}
		return ""
	}
	for k, want := range map[string]string{
		"ProtectSystem":           "strict",
		"ProtectProc":             "invisible",
		"MemoryDenyWriteExecute":  "yes",
		"NoNewPrivileges":         "yes",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"RestrictSUIDSGID":        "yes",
		"RestrictNamespaces":      "yes",
		"LockPersonality":         "yes",
		"SystemCallArchitectures": "native",
		"SystemCallErrorNumber":   "EPERM",
		"CapabilityBoundingSet":   "",
		"UMask":                   "0077",
	} {
		if _, ok := svc[k]; !ok || last(k) != want {
			t.Errorf("[Service] %s = %v, want %q", k, svc[k], want)
		}
	}
	// ProtectSystem=strict: the buffer is the only writable path.
	if rw := svc["ReadWritePaths"]; len(rw) != 1 || strings.TrimPrefix(rw[0], "-") != dataDir {
		t.Errorf("ReadWritePaths = %v, want %s (ProtectSystem=strict makes everything else read-only)", rw, dataDir)
	}
	// The allow list of a service, and nothing privileged.
	filters := svc["SystemCallFilter"]
	if len(filters) == 0 || filters[0] != "@system-service" {
		t.Errorf("SystemCallFilter = %v, want @system-service first (an allow list)", filters)
	}
	if !slices.ContainsFunc(filters, func(f string) bool {
		return strings.HasPrefix(f, "~") && slices.Contains(strings.Fields(f[1:]), "@privileged")
	}) {
		t.Errorf("SystemCallFilter = %v, want ~@privileged too", filters)
	}
	families := strings.Fields(last("RestrictAddressFamilies"))
	if len(families) == 0 {
		t.Error("RestrictAddressFamilies is not set")
	}
	for _, f := range families {
		if !slices.Contains([]string{"AF_UNIX", "AF_INET", "AF_INET6"}, f) {
			t.Errorf("RestrictAddressFamilies allows %s; want only AF_UNIX AF_INET AF_INET6", f)
		}
	}

	// Memory: MemoryMax bounds the service; GOMEMLIMIT is the packaged
	// memory_limiter's limit_percentage of it, and the memory_limiter uses a
	// percentage (of the cgroup limit), not a fixed limit_mib.
	memMax := last("MemoryMax")
	if memMax == "" || memMax == "infinity" {
		t.Fatalf("MemoryMax = %q, want a limit", memMax)
	}
	maxBytes := parseBytes(t, memMax)
	var goMemLimit string
	for _, e := range svc["Environment"] {
		for kv := range strings.FieldsSeq(e) {
			if v, ok := strings.CutPrefix(strings.Trim(kv, `"`), "GOMEMLIMIT="); ok {
				goMemLimit = v
			}
		}
	}
	if goMemLimit == "" {
		t.Fatal("the unit does not set Environment=GOMEMLIMIT")
	}
	ml := dig(configMap(t, packagedConfig, readRepoFile(t, packagedConfig)), "processors", "memory_limiter")
	pct, _ := dig(ml, "limit_percentage").(float64)
	if pct == 0 || dig(ml, "limit_mib") != nil {
		t.Fatalf("packaged memory_limiter %v: want limit_percentage (of MemoryMax) and no limit_mib", ml)
	}
	want := float64(maxBytes) * pct / 100
	if got := float64(parseBytes(t, goMemLimit)); got < 0.95*want || got > 1.05*want {
		t.Errorf("GOMEMLIMIT=%s is not %v %% of MemoryMax=%s (%.0f bytes)", goMemLimit, pct, memMax, want)
	}
	// The cgroup namespace that shows the memory_limiter MemoryMax as
	// /sys/fs/cgroup/memory.max (systemd 257+); `yes` stays for older systemd.
	if pcg := svc["ProtectControlGroups"]; len(pcg) != 2 || pcg[0] != "yes" || pcg[1] != "strict" {
		t.Errorf("ProtectControlGroups = %v, want yes then strict", pcg)
	}
	// The environment file documents GOMEMLIMIT, commented, with the unit's value.
	if env := string(readRepoFile(t, "distribution/packaging/otelcol-edge.conf")); !strings.Contains(env, "#GOMEMLIMIT="+goMemLimit+"\n") {
		t.Errorf("otelcol-edge.conf does not document #GOMEMLIMIT=%s", goMemLimit)
	}
}

// systemd-analyze scores the unit (offline, without a running systemd); the
// README quotes the score. Skipped where systemd-analyze is missing.
func TestSystemdUnitSecurityScore(t *testing.T) {
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("SKIP: systemd-analyze is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The unit's file name decides the unit name in the report.
	path := filepath.Join(t.TempDir(), "otelcol-edge.service")
	if err := os.WriteFile(path, readRepoFile(t, unitFile), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, bin, "security", "--offline=true", "--no-pager", path).CombinedOutput()
	if err != nil && bytes.Contains(out, []byte("--offline")) {
		t.Skipf("SKIP: systemd-analyze cannot analyse offline (systemd < 250): %s", out)
	}
	m := regexp.MustCompile(`Overall exposure level for otelcol-edge\.service: ([0-9.]+) (\w+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security: %v: %s", err, out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security: %.1f %s", score, m[2])
	if score > 2.0 {
		t.Errorf("exposure %.1f %s, want at most 2.0 (the README quotes 1.2)", score, m[2])
	}
	if !bytes.Contains(readRepoFile(t, "README.md"), []byte("`systemd-analyze security`")) {
		t.Error("README.md does not quote the systemd-analyze security score")
	}
}

// TLS to the backend by default everywhere a backend is named: the packaged
// config (packages and image) needs OTELCOL_EDGE_INSECURE=true for plain
// text, which neither the environment file nor the image sets; the Kubernetes
// gateway sends over TLS with the system CAs.
func TestTLSToTheBackendByDefault(t *testing.T) {
	cfg := configMap(t, packagedConfig, readRepoFile(t, packagedConfig))
	if got := digString(cfg, "exporters", "edge", "grpc", "tls", "insecure"); got != "${env:OTELCOL_EDGE_INSECURE:-false}" {
		t.Errorf("packaged edge exporter grpc.tls.insecure = %q, want ${env:OTELCOL_EDGE_INSECURE:-false}", got)
	}
	if got := digString(cfg, "exporters", "edge", "protocol"); got != "grpc" {
		t.Errorf("packaged edge exporter protocol %q, want grpc", got)
	}
	if regexp.MustCompile(`(?m)^OTELCOL_EDGE_INSECURE=\s*true`).Match(readRepoFile(t, "distribution/packaging/otelcol-edge.conf")) {
		t.Error("otelcol-edge.conf sets OTELCOL_EDGE_INSECURE=true")
	}
	for _, in := range parseDockerfile(t, readRepoFile(t, "distribution/docker/Dockerfile")) {
		if in.cmd == "ENV" && strings.Contains(in.args, "OTELCOL_EDGE_INSECURE") {
			t.Errorf("the Dockerfile sets OTELCOL_EDGE_INSECURE: %s", in.args)
		}
	}

	objects := loadManifests(t)
	gw := gatewayConfig(t, objects)
	edge := dig(gw, "exporters", "edge")
	if p := digString(edge, "protocol"); p != "" && p != "grpc" {
		t.Fatalf("gateway edge exporter protocol %q: this check knows gRPC", p)
	}
	if v := dig(edge, "grpc", "tls", "insecure"); v != nil && v != false {
		t.Errorf("gateway edge exporter grpc.tls.insecure = %v: want TLS to the backend", v)
	}
	if eps, _ := dig(edge, "endpoints").([]any); len(eps) == 0 {
		t.Error("gateway edge exporter has no endpoints")
	} else {
		for _, ep := range eps {
			if s, _ := ep.(string); strings.HasPrefix(s, "http://") {
				t.Errorf("gateway endpoint %q is plain http", s)
			}
		}
	}
}

// gatewayConfig is the collector config of the gateway Deployment.
func gatewayConfig(t *testing.T, objects []k8sObject) map[string]any {
	t.Helper()
	for _, o := range objects {
		if o.meta.Name == "otelcol-edge-gateway" {
			if cm, ok := configMapData(o.obj); ok {
				return configMap(t, o.where, []byte(cm))
			}
		}
	}
	t.Fatal("no ConfigMap otelcol-edge-gateway with config.yaml")
	return nil
}

// The default build exposes nothing an edge box should not: no config over
// plain HTTP (httpprovider), pprof only on loopback (its default, and in
// every shipped config that enables it).
func TestDefaultBuildExposure(t *testing.T) {
	var manifest struct {
		Providers []struct {
			GoMod string `json:"gomod"`
		} `json:"providers"`
	}
	if err := yaml.Unmarshal(readRepoFile(t, "builder-config.yaml"), &manifest); err != nil {
		t.Fatal(err)
	}
	for _, p := range manifest.Providers {
		if strings.Contains(p.GoMod, "/httpprovider ") {
			t.Errorf("builder-config.yaml builds %q: a config fetched over plain http:// can be rewritten on the way", p.GoMod)
		}
	}
	bin := collectorBinary(t)
	out, err := exec.Command(bin, "components").CombinedOutput()
	if err != nil {
		t.Fatalf("otelcol-edge components: %v: %s", err, out)
	}
	if regexp.MustCompile(`(?m)^\s*- scheme: http\s*$`).Match(out) {
		t.Errorf("the binary has a provider for http:// configs:\n%s", out)
	}

	// Every shipped config: pprof, if enabled, on loopback.
	configs := map[string][]byte{
		packagedConfig:             readRepoFile(t, packagedConfig),
		"distribution/config.yaml": readRepoFile(t, "distribution/config.yaml"),
	}
	for _, o := range loadManifests(t) {
		if data, ok := configMapData(o.obj); ok {
			configs[o.where] = []byte(data)
		}
	}
	for where, data := range configs {
		exts, _ := dig(configMap(t, where, data), "extensions").(map[string]any)
		for id, ext := range exts {
			if id != "pprof" && !strings.HasPrefix(id, "pprof/") {
				continue
			}
			ep := digString(ext, "endpoint")
			if ep != "" && !isLoopbackListen(ep) {
				t.Errorf("%s: %s listens on %q, want loopback", where, id, ep)
			}
		}
	}

	// pprof's default endpoint, in the binary: localhost:1777 only.
	ln, err := net.Listen("tcp", "127.0.0.1:1777")
	if err != nil {
		t.Skipf("SKIP: port 1777 is in use, cannot check pprof's default: %v", err)
	}
	_ = ln.Close()
	cfg := filepath.Join(t.TempDir(), "pprof.yaml")
	if err := os.WriteFile(cfg, []byte(`
extensions:
  pprof:
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:0
exporters:
  debug:
service:
  extensions: [pprof]
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", cfg)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	var addrs []string
	deadline := time.Now().Add(20 * time.Second)
	for len(addrs) == 0 && time.Now().Before(deadline) {
		addrs = tcpListeners(t, 1777)
		time.Sleep(50 * time.Millisecond)
	}
	if len(addrs) == 0 {
		t.Fatalf("pprof did not listen on port 1777 within 20 s:\n%s", logs.String())
	}
	for _, a := range addrs {
		if ip := net.ParseIP(a); ip == nil || !ip.IsLoopback() {
			t.Errorf("pprof's default listener is on %s:1777, want loopback only", a)
		}
	}
}

// configMapData returns the collector config of a ConfigMap (its
// config.yaml) or of an OpenTelemetryCollector.
func configMapData(obj any) (string, bool) {
	switch o := obj.(type) {
	case *corev1.ConfigMap:
		data, ok := o.Data["config.yaml"]
		return data, ok
	case *OpenTelemetryCollector:
		data, err := yaml.Marshal(o.Spec.Config)
		return string(data), err == nil
	}
	return "", false
}

// isLoopbackListen reports whether a listen address (host:port, possibly
// with an ${env:...:-default}) binds loopback only.
func isLoopbackListen(ep string) bool {
	if m := regexp.MustCompile(`^\$\{env:[A-Z0-9_]+:-(.*)\}$`).FindStringSubmatch(ep); m != nil {
		ep = m[1]
	}
	host, _, err := net.SplitHostPort(ep)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// tcpListeners returns the local addresses listening on port, from
// /proc/net/tcp and /proc/net/tcp6.
func tcpListeners(t *testing.T, port int) []string {
	t.Helper()
	var out []string
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(file)
		if errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 || fields[3] != "0A" { // LISTEN
				continue
			}
			hexIP, hexPort, ok := strings.Cut(fields[1], ":")
			if p, _ := strconv.ParseUint(hexPort, 16, 16); !ok || int(p) != port {
				continue
			}
			raw, err := hex.DecodeString(hexIP)
			if err != nil {
				continue
			}
			// /proc/net/tcp* prints each 32-bit word in host (little-endian) order.
			for i := 0; i+4 <= len(raw); i += 4 {
				raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
			}
			out = append(out, net.IP(raw).String())
		}
		_ = f.Close()
	}
	return out
}
