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

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
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
	if !bytes.Contains(readRepoFile(t, "README.md"), []byte("`systemd-analyze security")) {
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

// checkAgentReach: applications reach the agent of their node through a
// node-local Service, and no OTLP port is opened on every address of the
// node (a hostPort without hostIP).
func checkAgentReach(t *testing.T, objects []k8sObject, ds *appsv1.DaemonSet) {
	t.Helper()
	where := "DaemonSet " + ds.Name
	for _, cp := range ds.Spec.Template.Spec.Containers[0].Ports {
		if cp.HostPort != 0 && cp.HostIP == "" {
			t.Errorf("%s: port %s: hostPort %d without hostIP opens it on every address of the node", where, cp.Name, cp.HostPort)
		}
	}
	svc, svcWhere := find[*corev1.Service](t, objects, "otelcol-edge-agent")
	if svc.Namespace != ds.Namespace || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(ds.Spec.Template.Labels)) || len(svc.Spec.Selector) == 0 {
		t.Errorf("%s: does not select the agent pods", svcWhere)
	}
	if p := svc.Spec.InternalTrafficPolicy; p == nil || *p != corev1.ServiceInternalTrafficPolicyLocal {
		t.Errorf("%s: internalTrafficPolicy %v, want Local (each application to the agent of its own node)", svcWhere, p)
	}
	if svc.Spec.Type != "" && svc.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("%s: type %s, want ClusterIP (not exposed outside the cluster)", svcWhere, svc.Spec.Type)
	}
	targets := map[string]bool{}
	for _, sp := range svc.Spec.Ports {
		targets[sp.TargetPort.String()] = true
	}
	for _, name := range []string{"otlp", "otlp-http"} {
		if !targets[name] {
			t.Errorf("%s: no port targets the agent's %s port", svcWhere, name)
		}
	}
}

// restrictedViolations lists what keeps a pod from the Pod Security
// `restricted` profile (the checks of k8s.io/pod-security-admission that a
// manifest can fail, for the fields our manifests use).
func restrictedViolations(pod corev1.PodSpec) []string {
	var v []string
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		v = append(v, "host namespaces")
	}
	for _, vol := range pod.Volumes {
		if vol.ConfigMap == nil && vol.EmptyDir == nil && vol.Secret == nil && vol.Projected == nil &&
			vol.DownwardAPI == nil && vol.PersistentVolumeClaim == nil && vol.Ephemeral == nil && vol.CSI == nil {
			v = append(v, "volume "+vol.Name+" of a type restricted does not allow")
		}
	}
	psc := pod.SecurityContext
	podNonRoot := psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
	podSeccomp := psc != nil && psc.SeccompProfile != nil &&
		(psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault || psc.SeccompProfile.Type == corev1.SeccompProfileTypeLocalhost)
	if psc != nil && psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		v = append(v, "pod runAsUser 0")
	}
	for _, c := range append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...) {
		sc := c.SecurityContext
		if sc == nil {
			v = append(v, c.Name+": no securityContext")
			continue
		}
		if sc.Privileged != nil && *sc.Privileged {
			v = append(v, c.Name+": privileged")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			v = append(v, c.Name+": allowPrivilegeEscalation not false")
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			v = append(v, c.Name+": capabilities not dropping ALL")
		} else {
			for _, add := range sc.Capabilities.Add {
				if add != "NET_BIND_SERVICE" {
					v = append(v, c.Name+": adds capability "+string(add))
				}
			}
		}
		if !(podNonRoot || (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot)) || (sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot) {
			v = append(v, c.Name+": runAsNonRoot not true")
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			v = append(v, c.Name+": runAsUser 0")
		}
		if !podSeccomp && (sc.SeccompProfile == nil || sc.SeccompProfile.Type == corev1.SeccompProfileTypeUnconfined) {
			v = append(v, c.Name+": no RuntimeDefault or Localhost seccomp profile")
		}
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				v = append(v, c.Name+": hostPort")
			}
		}
	}
	return v
}

// Pod Security Admission: every namespace has a level; the gateways'
// enforces `restricted`, and the gateway pods meet it; the agents, which
// need a hostPath, are alone in their namespace. A NetworkPolicy admits OTLP
// to the gateways from the agents only.
func TestKubernetesPodSecurityAndNetworkPolicy(t *testing.T) {
	objects := loadManifests(t)
	levels := map[string]string{}
	for _, o := range objects {
		if ns, ok := o.obj.(*corev1.Namespace); ok {
			levels[ns.Name] = ns.Labels["pod-security.kubernetes.io/enforce"]
			if levels[ns.Name] == "" {
				t.Errorf("%s: namespace %s has no pod-security.kubernetes.io/enforce label", o.where, ns.Name)
			}
		}
	}
	if levels[k8sNamespace] != "restricted" {
		t.Errorf("namespace %s enforces %q, want restricted", k8sNamespace, levels[k8sNamespace])
	}
	// Each workload is admitted by its namespace's level.
	for _, o := range objects {
		var pod *corev1.PodSpec
		switch w := o.obj.(type) {
		case *appsv1.Deployment:
			pod = &w.Spec.Template.Spec
		case *appsv1.DaemonSet:
			pod = &w.Spec.Template.Spec
		case *appsv1.StatefulSet:
			pod = &w.Spec.Template.Spec
		}
		if pod == nil {
			continue
		}
		if _, ok := levels[o.meta.Namespace]; !ok {
			t.Errorf("%s: namespace %q is not defined in %s", o.where, o.meta.Namespace, k8sDir)
		}
		if levels[o.meta.Namespace] == "restricted" {
			if v := restrictedViolations(*pod); len(v) > 0 {
				t.Errorf("%s: not admitted by the restricted profile of %s: %v", o.where, o.meta.Namespace, v)
			}
		}
	}
	dep, where := find[*appsv1.Deployment](t, objects, "otelcol-edge-gateway")
	if dep.Namespace != k8sNamespace {
		t.Errorf("%s: the gateways must be in %s (restricted)", where, k8sNamespace)
	}
	// The checker really rejects: the agent (hostPath, root init container) fails it.
	ds, dsWhere := find[*appsv1.DaemonSet](t, objects, "otelcol-edge-agent")
	if len(restrictedViolations(ds.Spec.Template.Spec)) == 0 {
		t.Errorf("%s: the restricted check accepts the agent's hostPath", dsWhere)
	}
	for _, o := range objects {
		if _, isNS := o.obj.(*corev1.Namespace); !isNS && o.meta.Namespace == ds.Namespace &&
			!strings.Contains(o.meta.Name, "agent") {
			t.Errorf("%s: only the agents belong in the privileged namespace %s", o.where, ds.Namespace)
		}
	}

	// The gateways' NetworkPolicy.
	np, npWhere := find[*networkingv1.NetworkPolicy](t, objects, "otelcol-edge-gateway")
	if np.Namespace != dep.Namespace {
		t.Errorf("%s: namespace %s, want the gateways' %s", npWhere, np.Namespace, dep.Namespace)
	}
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(dep.Spec.Template.Labels)) {
		t.Errorf("%s: podSelector does not select the gateway pods", npWhere)
	}
	if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
		t.Errorf("%s: policyTypes %v, want Ingress", npWhere, np.Spec.PolicyTypes)
	}
	portNumber := map[string]int32{}
	for _, cp := range dep.Spec.Template.Spec.Containers[0].Ports {
		portNumber[cp.Name] = cp.ContainerPort
	}
	for _, rule := range np.Spec.Ingress {
		otlp := len(rule.Ports) == 0
		for _, p := range rule.Ports {
			if p.Port == nil {
				otlp = true
				continue
			}
			n := p.Port.IntVal
			if p.Port.StrVal != "" {
				n = portNumber[p.Port.StrVal]
				if n == 0 {
					t.Errorf("%s: port %q is not a named port of the gateway", npWhere, p.Port.StrVal)
				}
			}
			if n == 4317 || n == 4318 {
				otlp = true
			}
		}
		if !otlp {
			continue
		}
		if len(rule.From) == 0 {
			t.Errorf("%s: OTLP is open to everyone", npWhere)
		}
		for _, peer := range rule.From {
			if peer.IPBlock != nil || peer.PodSelector == nil || peer.NamespaceSelector == nil {
				t.Errorf("%s: OTLP from %+v, want agent pods of namespace %s only", npWhere, peer, ds.Namespace)
				continue
			}
			nsSel, _ := metav1.LabelSelectorAsSelector(peer.NamespaceSelector)
			podSel, _ := metav1.LabelSelectorAsSelector(peer.PodSelector)
			if nsSel.Empty() || !nsSel.Matches(labels.Set{"kubernetes.io/metadata.name": ds.Namespace}) ||
				podSel.Empty() || !podSel.Matches(labels.Set(ds.Spec.Template.Labels)) {
				t.Errorf("%s: OTLP from %v/%v, want the agent pods of %s", npWhere, peer.NamespaceSelector, peer.PodSelector, ds.Namespace)
			}
		}
	}
}
