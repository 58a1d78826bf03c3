// SPDX-License-Identifier: Apache-2.0

package packaging // import "github.com/otelcol-edge/otelcol-edge/distribution/packaging"

import (
	"fmt"
	"io/fs"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

const (
	k8sDir       = "distribution/kubernetes"
	k8sNamespace = "observability"       // the gateways (Pod Security: restricted)
	agentNS      = "observability-agent" // the agents (hostPath buffer: privileged)
	imageRepo    = "ghcr.io/otelcol-edge/otelcol-edge"
	imageUID     = 10001 // USER of distribution/docker/Dockerfile
)

// k8sObject is one decoded document of a manifest file.
type k8sObject struct {
	where string // file:document
	meta  metav1.ObjectMeta
	obj   any
}

// newTyped returns the k8s.io/api type of an apiVersion and kind.
func newTyped(apiVersion, kind string) (any, bool) {
	switch apiVersion + "/" + kind {
	case "v1/Namespace":
		return &corev1.Namespace{}, true
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}, true
	case "v1/Service":
		return &corev1.Service{}, true
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}, true
	case "apps/v1/DaemonSet":
		return &appsv1.DaemonSet{}, true
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}, true
	case "apps/v1/StatefulSet":
		return &appsv1.StatefulSet{}, true
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, true
	case "networking.k8s.io/v1/NetworkPolicy":
		return &networkingv1.NetworkPolicy{}, true
	case "rbac.authorization.k8s.io/v1/Role":
		return &rbacv1.Role{}, true
	case "rbac.authorization.k8s.io/v1/RoleBinding":
		return &rbacv1.RoleBinding{}, true
	case "opentelemetry.io/v1beta1/OpenTelemetryCollector":
		return &OpenTelemetryCollector{}, true
	}
	return nil, false
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// loadManifests decodes every document of every .yaml file under
// distribution/kubernetes strictly (unknown or duplicate fields fail) into its
// k8s.io/api type.
func loadManifests(t *testing.T) []k8sObject {
	t.Helper()
	root := filepath.Join(repoRoot(t), k8sDir)
	var objects []k8sObject
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		rel, _ := filepath.Rel(repoRoot(t), path)
		for i, doc := range docSeparator.Split(string(readRepoFile(t, rel)), -1) {
			where := fmt.Sprintf("%s#%d", rel, i+1)
			if strings.TrimSpace(regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(doc, "")) == "" {
				continue
			}
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			obj, ok := newTyped(tm.APIVersion, tm.Kind)
			if !ok {
				t.Errorf("%s: unexpected apiVersion/kind %s/%s", where, tm.APIVersion, tm.Kind)
				continue
			}
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Errorf("%s (%s): strict decoding into %T: %v", where, tm.Kind, obj, err)
				continue
			}
			var om struct {
				Metadata metav1.ObjectMeta `json:"metadata"`
			}
			_ = yaml.Unmarshal([]byte(doc), &om)
			objects = append(objects, k8sObject{where: where, meta: om.Metadata, obj: obj})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(objects) == 0 {
		t.Fatalf("no manifests under %s", k8sDir)
	}
	return objects
}

func find[T any](t *testing.T, objects []k8sObject, name string) (T, string) {
	t.Helper()
	var zero T
	for _, o := range objects {
		if v, ok := o.obj.(T); ok && o.meta.Name == name {
			return v, o.where
		}
	}
	t.Fatalf("no %T named %q under %s", zero, name, k8sDir)
	return zero, ""
}

func TestKubernetesManifestsDecode(t *testing.T) {
	objects := loadManifests(t)
	seen := map[string]string{}
	for _, o := range objects {
		if o.meta.Name == "" {
			t.Errorf("%s: no metadata.name", o.where)
		}
		if _, isNS := o.obj.(*corev1.Namespace); !isNS && o.meta.Namespace != k8sNamespace && o.meta.Namespace != agentNS {
			t.Errorf("%s: namespace %q, want %q or %q", o.where, o.meta.Namespace, k8sNamespace, agentNS)
		}
		key := fmt.Sprintf("%T/%s", o.obj, o.meta.Name)
		if prev, dup := seen[key]; dup {
			t.Errorf("%s: %s already defined in %s", o.where, key, prev)
		}
		seen[key] = o.where
	}
	// Strict decoding really rejects: a misspelt field fails.
	bad := "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: x}\nspec:\n  updateStratgy: {}\n"
	if err := yaml.UnmarshalStrict([]byte(bad), &appsv1.DaemonSet{}); err == nil {
		t.Error("strict decoding accepted spec.updateStratgy")
	}
}

// podEnv is the environment a container gets from its literal values and the
// downward API (placeholders for the fields), for `otelcol-edge validate`.
func podEnv(t *testing.T, where string, env []corev1.EnvVar) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range env {
		switch {
		case e.ValueFrom == nil:
			out[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil:
			out[e.Name] = "test-" + strings.NewReplacer(".", "-").Replace(e.ValueFrom.FieldRef.FieldPath)
		default:
			t.Errorf("%s: env %s: only literal values and fieldRef are expected", where, e.Name)
		}
	}
	return out
}

// collectorPod is what the checks need of a pod that runs otelcol-edge,
// whether it comes from a workload or from the operator's resource.
type collectorPod struct {
	where          string
	image          string
	env            []corev1.EnvVar
	ports          []corev1.ContainerPort
	mounts         []corev1.VolumeMount
	volumes        []corev1.Volume
	initContainers []corev1.Container
	podSecurity    *corev1.PodSecurityContext
	security       *corev1.SecurityContext
	config         []byte
}

func checkCollectorPod(t *testing.T, p collectorPod) map[string]any {
	t.Helper()
	if want := imageRepo + ":" + distVersion(t); p.image != want {
		t.Errorf("%s: image %q, want %q (builder-config.yaml dist.version)", p.where, p.image, want)
	}
	if p.podSecurity == nil || p.podSecurity.RunAsNonRoot == nil || !*p.podSecurity.RunAsNonRoot ||
		p.podSecurity.RunAsUser == nil || *p.podSecurity.RunAsUser != imageUID {
		t.Errorf("%s: pod securityContext must set runAsNonRoot and runAsUser %d (the image's user)", p.where, imageUID)
	}
	if s := p.security; s == nil || s.ReadOnlyRootFilesystem == nil || !*s.ReadOnlyRootFilesystem ||
		s.AllowPrivilegeEscalation == nil || *s.AllowPrivilegeEscalation {
		t.Errorf("%s: container securityContext must set readOnlyRootFilesystem and forbid privilege escalation", p.where)
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range p.volumes {
		volumes[v.Name] = v
	}
	for _, c := range append([]corev1.Container{{Name: "otelcol-edge", VolumeMounts: p.mounts}}, p.initContainers...) {
		for _, m := range c.VolumeMounts {
			if _, ok := volumes[m.Name]; !ok {
				t.Errorf("%s: container %s mounts undefined volume %q", p.where, c.Name, m.Name)
			}
		}
	}

	cfg := configMap(t, p.where, p.config)
	mustValidate(t, p.where+" collector config", p.config, podEnv(t, p.where, p.env))

	// The buffer directory is a volume of the pod (never the container's
	// read-only file system).
	bufferDir := digString(cfg, "exporters", "edge", "buffer", "directory")
	if !slices.ContainsFunc(p.mounts, func(m corev1.VolumeMount) bool { return m.MountPath == bufferDir && !m.ReadOnly }) {
		t.Errorf("%s: the edge exporter's buffer %q is not a writable volume mount", p.where, bufferDir)
	}
	// Every OTLP listener is a container port.
	for _, proto := range []string{"grpc", "http"} {
		ep := digString(cfg, "receivers", "otlp", "protocols", proto, "endpoint")
		_, port, err := net.SplitHostPort(ep)
		n, _ := strconv.Atoi(port)
		if err != nil || !slices.ContainsFunc(p.ports, func(cp corev1.ContainerPort) bool { return int(cp.ContainerPort) == n }) {
			t.Errorf("%s: OTLP/%s endpoint %q is not a container port", p.where, proto, ep)
		}
	}
	if hc := healthEndpoint(cfg); !strings.HasPrefix(hc, "0.0.0.0:") {
		t.Errorf("%s: health extension on %q: the kubelet's probes need 0.0.0.0", p.where, hc)
	}
	return cfg
}

// checkAgent: the enrich processor's kubernetes detector reads the pod, its
// namespace and its node from the downward API, and the buffer is on the node.
func checkAgent(t *testing.T, p collectorPod, cfg map[string]any, gatewaySRV string, gatewayHealthPort string) {
	t.Helper()
	k8s := dig(cfg, "processors", "enrich", "detectors", "kubernetes")
	if enabled, _ := dig(k8s, "enabled").(bool); !enabled {
		t.Fatalf("%s: the enrich processor's kubernetes detector is not enabled", p.where)
	}
	fieldOf := map[string]string{}
	for _, e := range p.env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			fieldOf[e.Name] = e.ValueFrom.FieldRef.FieldPath
		}
	}
	// The detector's variable (configured or its default, see the enrich
	// processor's README) -> the downward API field that must fill it.
	for _, d := range []struct{ option, def, field string }{
		{"pod_name_env", "K8S_POD_NAME", "metadata.name"},
		{"pod_uid_env", "K8S_POD_UID", "metadata.uid"},
		{"namespace_env", "K8S_NAMESPACE_NAME", "metadata.namespace"},
		{"node_name_env", "K8S_NODE_NAME", "spec.nodeName"},
	} {
		name := digString(k8s, d.option)
		if name == "" {
			name = d.def
		}
		if got := fieldOf[name]; got != d.field {
			t.Errorf("%s: env %s (the detector's %s) comes from %q, want the downward API field %s", p.where, name, d.option, got, d.field)
		}
	}
	// Node-level data only: the agent's own pod must not be stamped on the
	// data of the node's other pods.
	for _, attr := range []string{"k8s.pod.name", "k8s.pod.uid", "k8s.namespace.name"} {
		if enabled, ok := dig(k8s, "resource_attributes", attr, "enabled").(bool); !ok || enabled {
			t.Errorf("%s: the agent's enrich processor must switch %s off (it would label every pod's data with the agent's own)", p.where, attr)
		}
	}

	bufferDir := digString(cfg, "exporters", "edge", "buffer", "directory")
	var bufferVolume string
	for _, m := range p.mounts {
		if m.MountPath == bufferDir {
			bufferVolume = m.Name
		}
	}
	var hostPath *corev1.HostPathVolumeSource
	for _, v := range p.volumes {
		if v.Name == bufferVolume {
			hostPath = v.HostPath
		}
	}
	if hostPath == nil || hostPath.Path != dataDir || hostPath.Type == nil || *hostPath.Type != corev1.HostPathDirectoryOrCreate {
		t.Errorf("%s: the buffer %s must be the hostPath %s (DirectoryOrCreate)", p.where, bufferDir, dataDir)
	}
	// The kubelet creates the hostPath as root: an init container hands it over.
	chown := fmt.Sprintf("chown %d:%d %s && chmod 0700 %s", imageUID, imageUID, bufferDir, bufferDir)
	if !slices.ContainsFunc(p.initContainers, func(c corev1.Container) bool {
		return strings.Contains(strings.Join(c.Command, " "), chown) &&
			slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == bufferVolume })
	}) {
		t.Errorf("%s: no init container runs %q on the buffer volume", p.where, chown)
	}

	// Gateways through the discovery extension: the EndpointSlices of the
	// Service whose port carries the SRV name (DNS SRV is the documented
	// alternative).
	ext := digString(cfg, "exporters", "edge", "discovery")
	if ext == "" {
		t.Fatalf("%s: the edge exporter does not follow a discovery extension", p.where)
	}
	exts, _ := dig(cfg, "service", "extensions").([]any)
	if !slices.Contains(exts, any(ext)) {
		t.Errorf("%s: %s is not in service.extensions %v", p.where, ext, exts)
	}
	sources, _ := dig(cfg, "extensions", ext, "sources").([]any)
	parts := strings.Split(gatewaySRV, ".") // _<port>._<proto>.<service>.<namespace>.svc...
	want := map[string]string{"namespace": parts[3], "service": parts[2], "port_name": strings.TrimPrefix(parts[0], "_")}
	isK8s := len(sources) == 1 && digString(sources[0], "kubernetes", "namespace") == want["namespace"] &&
		digString(sources[0], "kubernetes", "service") == want["service"] && digString(sources[0], "kubernetes", "port_name") == want["port_name"]
	isSRV := len(sources) == 1 && digString(sources[0], "dns", "name") == gatewaySRV
	if !isK8s && !isSRV {
		t.Errorf("%s: %s sources %v, want one kubernetes source %v or one dns source %q", p.where, ext, sources, want, gatewaySRV)
	}
	if hc := dig(cfg, "extensions", ext, "health_check"); digString(hc, "type") != "http" || fmt.Sprint(dig(hc, "port")) != gatewayHealthPort {
		t.Errorf("%s: %s health checks %v, want http on the gateways' health_check port %s", p.where, ext, hc, gatewayHealthPort)
	}
}

// gatewaySRV checks the gateway tier and returns the SRV name agents resolve
// and the port of the gateways' health_check extension.
func gatewaySRV(t *testing.T, objects []k8sObject) (string, string) {
	t.Helper()
	dep, where := find[*appsv1.Deployment](t, objects, "otelcol-edge-gateway")
	svc, svcWhere := find[*corev1.Service](t, objects, "otelcol-edge-gateway")
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("%s: clusterIP %q, want None (headless: DNS returns the pods)", svcWhere, svc.Spec.ClusterIP)
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(dep.Spec.Template.Labels)) || len(svc.Spec.Selector) == 0 {
		t.Errorf("%s: selector %v does not select the gateway pods %v", svcWhere, svc.Spec.Selector, dep.Spec.Template.Labels)
	}
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(dep.Spec.Template.Labels)) {
		t.Errorf("%s: selector does not match the pod template's labels", where)
	}
	if pdb, pdbWhere := find[*policyv1.PodDisruptionBudget](t, objects, "otelcol-edge-gateway"); !labels.SelectorFromSet(pdb.Spec.Selector.MatchLabels).Matches(labels.Set(dep.Spec.Template.Labels)) {
		t.Errorf("%s: selector does not select the gateway pods", pdbWhere)
	}
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas < 2 {
		t.Errorf("%s: want at least 2 gateway replicas", where)
	}

	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: want one container", where)
	}
	c := pod.Containers[0]
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil {
		t.Errorf("%s: no HTTP readinessProbe: DNS would publish gateways that are not ready", where)
	}
	cfg := checkWorkload(t, objects, where, pod, dep.Spec.Selector, dep.Spec.Template.Labels)

	// The SRV record: _<port name>._<protocol>.<service>.<namespace>.svc.cluster.local,
	// for the Service port whose target is the gateways' OTLP/gRPC listener.
	_, grpcPort, _ := net.SplitHostPort(digString(cfg, "receivers", "otlp", "protocols", "grpc", "endpoint"))
	var srv string
	for _, sp := range svc.Spec.Ports {
		if sp.Name != "otlp" {
			continue
		}
		target := sp.TargetPort.String()
		for _, cp := range c.Ports {
			if (cp.Name == target || strconv.Itoa(int(cp.ContainerPort)) == target) && strconv.Itoa(int(cp.ContainerPort)) == grpcPort {
				srv = fmt.Sprintf("_%s._%s.%s.%s.svc.cluster.local", sp.Name, strings.ToLower(string(sp.Protocol)), svc.Name, svc.Namespace)
			}
		}
	}
	if srv == "" {
		t.Fatalf("%s: no port named otlp targets the gateways' OTLP/gRPC port %s", svcWhere, grpcPort)
	}
	checkHealthV2(t, where, cfg)
	_, healthPort, _ := net.SplitHostPort(healthEndpoint(cfg))
	return srv, healthPort
}

// checkWorkload checks a pod template that runs otelcol-edge from a ConfigMap.
func checkWorkload(t *testing.T, objects []k8sObject, where string, pod corev1.PodSpec, selector *metav1.LabelSelector, podLabels map[string]string) map[string]any {
	t.Helper()
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil || !sel.Matches(labels.Set(podLabels)) {
		t.Errorf("%s: selector %v does not match the pod template's labels %v", where, selector, podLabels)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: want one container", where)
	}
	c := pod.Containers[0]
	// The config: a ConfigMap volume, passed with --config.
	var config []byte
	for _, v := range pod.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		cm, _ := find[*corev1.ConfigMap](t, objects, v.ConfigMap.Name)
		for _, m := range c.VolumeMounts {
			if m.Name != v.Name {
				continue
			}
			for key, data := range cm.Data {
				if slices.Contains(c.Args, "--config="+m.MountPath+"/"+key) {
					config = []byte(data)
				}
			}
		}
	}
	if config == nil {
		t.Fatalf("%s: args %v name no config file of a mounted ConfigMap", where, c.Args)
	}
	named := map[string]bool{}
	for _, cp := range c.Ports {
		named[cp.Name] = true
	}
	for _, probe := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
		if probe == nil || probe.HTTPGet == nil {
			t.Errorf("%s: want HTTP readiness and liveness probes on the health_check extension", where)
		} else if port := probe.HTTPGet.Port.String(); !named[port] {
			t.Errorf("%s: probe port %q is not a named container port", where, port)
		}
	}
	return checkCollectorPod(t, collectorPod{
		where: where, image: c.Image, env: c.Env, ports: c.Ports, mounts: c.VolumeMounts,
		volumes: pod.Volumes, initContainers: pod.InitContainers,
		podSecurity: pod.SecurityContext, security: c.SecurityContext, config: config,
	})
}

func TestKubernetesGatewayAndAgent(t *testing.T) {
	objects := loadManifests(t)
	srv, healthPort := gatewaySRV(t, objects)

	ds, where := find[*appsv1.DaemonSet](t, objects, "otelcol-edge-agent")
	cfg := checkWorkload(t, objects, where, ds.Spec.Template.Spec, ds.Spec.Selector, ds.Spec.Template.Labels)
	checkHealthV2(t, where, cfg)
	c := ds.Spec.Template.Spec.Containers[0]
	checkAgent(t, collectorPod{
		where: where, env: c.Env, mounts: c.VolumeMounts, volumes: ds.Spec.Template.Spec.Volumes,
		initContainers: ds.Spec.Template.Spec.InitContainers,
	}, cfg, srv, healthPort)
	// One collector at a time holds a node's buffer (it is locked): no surge.
	if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru == nil || ru.MaxSurge == nil || ru.MaxSurge.IntValue() != 0 {
		t.Errorf("%s: updateStrategy must not surge (two agents would contend for the buffer's lock)", where)
	}
	checkAgentReach(t, objects, ds)
	checkAgentRBAC(t, objects, ds, cfg)
}

// kubernetesSourceNeeds reads what the discovery extension's kubernetes
// source needs (KubernetesRBACVerbs and KubernetesRBACResource in its
// kubernetes.go; its tests check the informer uses nothing else).
func kubernetesSourceNeeds(t *testing.T) (resource string, verbs []string) {
	t.Helper()
	src := string(readRepoFile(t, "components/extension/discoveryext/kubernetes.go"))
	r := regexp.MustCompile(`KubernetesRBACResource = "([a-z]+)"`).FindStringSubmatch(src)
	v := regexp.MustCompile(`KubernetesRBACVerbs = \[\]string\{([^}]*)\}`).FindStringSubmatch(src)
	if r == nil || v == nil {
		t.Fatal("KubernetesRBACResource / KubernetesRBACVerbs not found in the discovery extension's kubernetes.go")
	}
	for _, f := range strings.Split(v[1], ",") {
		verbs = append(verbs, strings.Trim(strings.TrimSpace(f), `"`))
	}
	return r[1], verbs
}

// checkAgentRBAC: the agent's pod runs as a ServiceAccount bound, in the
// namespace of the watched Service and nowhere else, to a Role granting
// exactly what the kubernetes source needs.
func checkAgentRBAC(t *testing.T, objects []k8sObject, ds *appsv1.DaemonSet, cfg map[string]any) {
	t.Helper()
	pod := ds.Spec.Template.Spec
	sa := pod.ServiceAccountName
	if sa == "" || sa == "default" {
		t.Fatalf("agent: serviceAccountName %q, want its own ServiceAccount", sa)
	}
	if _, where := find[*corev1.ServiceAccount](t, objects, sa); !strings.Contains(where, "agent.yaml") {
		t.Errorf("%s: ServiceAccount %s outside agent.yaml", where, sa)
	}
	if pod.AutomountServiceAccountToken == nil || !*pod.AutomountServiceAccountToken {
		t.Errorf("agent: the pod must mount its service account token (in-cluster config of the kubernetes source)")
	}
	ext := digString(cfg, "exporters", "edge", "discovery")
	sources, _ := dig(cfg, "extensions", ext, "sources").([]any)
	if len(sources) == 0 {
		t.Fatal("agent: no discovery source")
	}
	watchedNS := digString(sources[0], "kubernetes", "namespace")
	if watchedNS == "" {
		t.Fatalf("agent: discovery source %v, want the kubernetes source (agent.yaml uses it by default)", sources[0])
	}
	resource, verbs := kubernetesSourceNeeds(t)
	slices.Sort(verbs)

	bound := 0
	for _, o := range objects {
		rb, ok := o.obj.(*rbacv1.RoleBinding)
		if !ok || !slices.ContainsFunc(rb.Subjects, func(s rbacv1.Subject) bool {
			return s.Kind == "ServiceAccount" && s.Name == sa && s.Namespace == agentNS
		}) {
			continue
		}
		bound++
		if o.meta.Namespace != watchedNS {
			t.Errorf("%s: RoleBinding in namespace %q, want only the watched Service's %q", o.where, o.meta.Namespace, watchedNS)
		}
		if rb.RoleRef.Kind != "Role" || rb.RoleRef.APIGroup != rbacv1.GroupName {
			t.Errorf("%s: roleRef %+v, want a Role (never a ClusterRole)", o.where, rb.RoleRef)
			continue
		}
		role, where := find[*rbacv1.Role](t, objects, rb.RoleRef.Name)
		var roleNS string
		for _, r := range objects {
			if r.obj == any(role) {
				roleNS = r.meta.Namespace
			}
		}
		if roleNS != o.meta.Namespace {
			t.Errorf("%s: Role in namespace %q, its binding in %q", where, roleNS, o.meta.Namespace)
		}
		if len(role.Rules) != 1 {
			t.Fatalf("%s: %d rules, want exactly one", where, len(role.Rules))
		}
		r := role.Rules[0]
		got := slices.Clone(r.Verbs)
		slices.Sort(got)
		if !slices.Equal(r.APIGroups, []string{"discovery.k8s.io"}) || !slices.Equal(r.Resources, []string{resource}) ||
			!slices.Equal(got, verbs) || len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 {
			t.Errorf("%s: rule %+v, want exactly apiGroups [discovery.k8s.io], resources [%s], verbs %v", where, r, resource, verbs)
		}
	}
	if bound != 1 {
		t.Errorf("agent: %d RoleBindings for ServiceAccount %s/%s, want exactly one", bound, agentNS, sa)
	}
	for _, o := range objects {
		if o.meta.Namespace == "" && strings.Contains(o.where, "Cluster") {
			t.Errorf("%s: cluster-wide RBAC", o.where)
		}
	}
}

func TestOperatorOpenTelemetryCollector(t *testing.T) {
	objects := loadManifests(t)
	srv, healthPort := gatewaySRV(t, objects)
	col, where := find[*OpenTelemetryCollector](t, objects, "edge-agent")
	s := col.Spec
	if s.Mode != "daemonset" {
		t.Errorf("%s: mode %q, want daemonset", where, s.Mode)
	}
	if s.UpgradeStrategy != "none" {
		t.Errorf("%s: upgradeStrategy %q: the operator must not rewrite a config of components it does not know", where, s.UpgradeStrategy)
	}
	config, err := yaml.Marshal(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	var ports []corev1.ContainerPort
	for _, p := range s.Ports {
		ports = append(ports, corev1.ContainerPort{Name: p.Name, ContainerPort: p.Port, HostPort: p.HostPort})
	}
	p := collectorPod{
		where: where, image: s.Image, env: s.Env, ports: ports, mounts: s.VolumeMounts, volumes: s.Volumes,
		initContainers: s.InitContainers, podSecurity: s.PodSecurityContext, security: s.SecurityContext, config: config,
	}
	cfg := checkCollectorPod(t, p)
	checkAgent(t, p, cfg, srv, healthPort)
	// The operator's agent and agent.yaml's differ only in packaging.
	ds, _ := find[*appsv1.DaemonSet](t, objects, "otelcol-edge-agent")
	if !slices.Equal(podEnvNames(s.Env), podEnvNames(ds.Spec.Template.Spec.Containers[0].Env)) {
		t.Errorf("%s: env %v differs from agent.yaml's", where, podEnvNames(s.Env))
	}
}

func podEnvNames(env []corev1.EnvVar) []string {
	var names []string
	for _, e := range env {
		names = append(names, e.Name)
	}
	return names
}
