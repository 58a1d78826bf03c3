// SPDX-License-Identifier: Apache-2.0

package discoveryext

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/discoveryapi"
	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/internal/metadata"
)

// These tests run the kubernetes source against client-go's fake clientset
// with real informers (reflector, DeltaFIFO, indexer): the objects change in
// the fake API's tracker and reach the registry through list and watch.

const testNS = "observability"

func ptr[T any](v T) *T { return &v }

// k8sEndpoint is an EndpointSlice endpoint; cond is "ready", "terminating"
// (serving and terminating), "gone" (terminating, not serving) or "notready".
func k8sEndpoint(ip, cond, host, node, zone string) discoveryv1.Endpoint {
	ep := discoveryv1.Endpoint{
		Addresses: []string{ip},
		Hostname:  ptr(host),
		NodeName:  ptr(node),
		Zone:      ptr(zone),
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: host},
	}
	switch cond {
	case "ready":
		ep.Conditions = discoveryv1.EndpointConditions{Ready: ptr(true), Serving: ptr(true), Terminating: ptr(false)}
	case "terminating":
		ep.Conditions = discoveryv1.EndpointConditions{Ready: ptr(false), Serving: ptr(true), Terminating: ptr(true)}
	case "gone":
		ep.Conditions = discoveryv1.EndpointConditions{Ready: ptr(false), Serving: ptr(false), Terminating: ptr(true)}
	case "notready":
		ep.Conditions = discoveryv1.EndpointConditions{Ready: ptr(false), Serving: ptr(false), Terminating: ptr(false)}
	}
	return ep
}

func slice(name, service string, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: testNS,
			Labels: map[string]string{discoveryv1.LabelServiceName: service},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{
			{Name: ptr("otlp"), Port: ptr(int32(4317))},
			{Name: ptr("http"), Port: ptr(int32(4318))},
		},
		Endpoints: eps,
	}
}

func k8sSourceConfig(name string) SourceConfig {
	return SourceConfig{Name: name, Kubernetes: configoptional.Some(KubernetesConfig{
		Namespace: testNS, Service: "gateway", PortName: "otlp",
	})}
}

// startK8sExtension starts the extension with the kubernetes source "k8s"
// talking to client.
func startK8sExtension(t *testing.T, cfg *Config, client kubernetes.Interface, logger *zap.Logger) *discovery {
	t.Helper()
	require.NoError(t, cfg.Validate())
	set := extensiontest.NewNopSettings(metadata.Type)
	if logger != nil {
		set.Logger = logger
	}
	d, err := newDiscovery(cfg, set)
	require.NoError(t, err)
	d.sources["k8s"].(*kubernetesSource).newClient = func() (kubernetes.Interface, error) { return client, nil }
	require.NoError(t, d.Start(context.Background(), benchHost()))
	t.Cleanup(func() { require.NoError(t, d.Shutdown(context.Background())) })
	return d
}

func byAddress(s discoveryapi.Snapshot, addr string) (discoveryapi.Endpoint, bool) {
	for _, e := range s.Endpoints {
		if e.Address == addr {
			return e, true
		}
	}
	return discoveryapi.Endpoint{}, false
}

func eligibleAddrs(s discoveryapi.Snapshot) []string {
	var out []string
	for _, e := range s.Eligible() {
		out = append(out, e.Address)
	}
	return out
}

// TestKubernetesSourceLifecycle: ready endpoints are admitted with their
// hostname, node and zone; a serving and terminating one drains (kept, not
// eligible); one that leaves the slice leaves the registry at once; a slice of
// another Service is ignored; a deleted slice drains its ready endpoints.
func TestKubernetesSourceLifecycle(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset(
		slice("gateway-abc", "gateway",
			k8sEndpoint("10.0.0.1", "ready", "gateway-0", "node-a", "zone-a"),
			k8sEndpoint("10.0.0.2", "ready", "gateway-1", "node-b", "zone-b"),
			k8sEndpoint("10.0.0.9", "notready", "gateway-9", "node-b", "zone-b")),
		slice("other-xyz", "other", k8sEndpoint("10.9.9.9", "ready", "other-0", "node-a", "zone-a")),
	)
	cfg := fastConfig(k8sSourceConfig("k8s"))
	cfg.DrainPeriod = 300 * time.Millisecond
	d := startK8sExtension(t, cfg, client, nil)

	// Start waited for the first list.
	s := d.Snapshot()
	require.True(t, hasStates(map[string]string{"10.0.0.1:4317": "unknown", "10.0.0.2:4317": "unknown"})(s), "%+v", s)
	e, _ := byAddress(s, "10.0.0.1:4317")
	assert.Equal(t, "k8s/10.0.0.1:4317", e.ID)
	assert.Equal(t, "zone-a", e.Zone)
	assert.Equal(t, "gateway-0.gateway.observability.svc.cluster.local", e.ServerName)
	assert.Equal(t, map[string]string{
		"k8s.hostname": "gateway-0", "k8s.node_name": "node-a", "k8s.zone": "zone-a", "k8s.pod": "gateway-0",
	}, e.Metadata)

	slices := client.DiscoveryV1().EndpointSlices(testNS)
	// gateway-1 terminates: draining, not eligible; a new pod appears.
	_, err := slices.Update(ctx, slice("gateway-abc", "gateway",
		k8sEndpoint("10.0.0.1", "ready", "gateway-0", "node-a", "zone-a"),
		k8sEndpoint("10.0.0.2", "terminating", "gateway-1", "node-b", "zone-b"),
		k8sEndpoint("10.0.0.3", "ready", "gateway-2", "node-c", "zone-a")), metav1.UpdateOptions{})
	require.NoError(t, err)
	s = waitSnapshot(t, d, "gateway-1 draining, gateway-2 admitted", hasStates(map[string]string{
		"10.0.0.1:4317": "unknown", "10.0.0.2:4317": "draining", "10.0.0.3:4317": "unknown",
	}))
	e, _ = byAddress(s, "10.0.0.2:4317")
	assert.Equal(t, "terminating: source k8s", e.Reason)
	assert.Equal(t, []string{"10.0.0.1:4317", "10.0.0.3:4317"}, eligibleAddrs(s))

	// gateway-1 stops serving (leaves the slice's servable endpoints): gone at
	// once, without waiting for the drain period.
	_, err = slices.Update(ctx, slice("gateway-abc", "gateway",
		k8sEndpoint("10.0.0.1", "ready", "gateway-0", "node-a", "zone-a"),
		k8sEndpoint("10.0.0.2", "gone", "gateway-1", "node-b", "zone-b"),
		k8sEndpoint("10.0.0.3", "ready", "gateway-2", "node-c", "zone-a")), metav1.UpdateOptions{})
	require.NoError(t, err)
	waitSnapshot(t, d, "gateway-1 gone", hasStates(map[string]string{"10.0.0.1:4317": "unknown", "10.0.0.3:4317": "unknown"}))

	// A second slice of the same Service adds an endpoint.
	_, err = slices.Create(ctx, slice("gateway-def", "gateway", k8sEndpoint("10.0.1.1", "ready", "gateway-3", "node-d", "zone-c")), metav1.CreateOptions{})
	require.NoError(t, err)
	waitSnapshot(t, d, "second slice", hasStates(map[string]string{
		"10.0.0.1:4317": "unknown", "10.0.0.3:4317": "unknown", "10.0.1.1:4317": "unknown",
	}))

	// The first slice is deleted: its ready endpoints drain for the drain
	// period (they were not terminating), then leave.
	require.NoError(t, slices.Delete(ctx, "gateway-abc", metav1.DeleteOptions{}))
	waitSnapshot(t, d, "deleted slice draining", hasStates(map[string]string{
		"10.0.0.1:4317": "draining", "10.0.0.3:4317": "draining", "10.0.1.1:4317": "unknown",
	}))
	waitSnapshot(t, d, "deleted slice gone", hasStates(map[string]string{"10.0.1.1:4317": "unknown"}))

	// The informer used exactly what the manifests' Role grants (the test
	// itself created, updated and deleted).
	used := map[string]bool{}
	for _, a := range client.Actions() {
		if v := a.GetVerb(); v == "create" || v == "update" || v == "delete" {
			continue
		}
		assert.Equal(t, KubernetesRBACResource, a.GetResource().Resource)
		assert.Equal(t, KubernetesRBACGroup, a.GetResource().Group)
		assert.Equal(t, testNS, a.GetNamespace())
		used[a.GetVerb()] = true
	}
	assert.Equal(t, map[string]bool{"list": true, "watch": true}, used)
	assert.ElementsMatch(t, []string{"list", "watch"}, KubernetesRBACVerbs)
}

// TestKubernetesSourceWatchErrorRelist: the first watch ends with 410 Gone
// after a change it never delivered, and the re-list fails too (the API is
// down): the source reports the error and keeps the last good list. When the
// API answers again the informer lists, the change arrives and the error
// clears.
func TestKubernetesSourceWatchErrorRelist(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset(slice("gateway-abc", "gateway", k8sEndpoint("10.0.0.1", "ready", "gateway-0", "node-a", "zone-a")))
	broken := watch.NewFake()
	var watches, lists atomic.Int32
	var apiDown atomic.Bool
	client.PrependWatchReactor("endpointslices", func(a k8stesting.Action) (bool, watch.Interface, error) {
		if a.(k8stesting.WatchAction).GetWatchRestrictions().ResourceVersion != "" && watches.Add(1) == 1 {
			return true, broken, nil // the first watch after the list sees nothing
		}
		return false, nil, nil // the tracker's watch
	})
	client.PrependReactor("list", "endpointslices", func(k8stesting.Action) (bool, runtime.Object, error) {
		lists.Add(1)
		if apiDown.Load() {
			return true, nil, errors.New("connection refused")
		}
		return false, nil, nil
	})
	core, logs := observer.New(zap.InfoLevel)
	d := startK8sExtension(t, fastConfig(k8sSourceConfig("k8s")), client, zap.New(core))
	require.True(t, hasStates(map[string]string{"10.0.0.1:4317": "unknown"})(d.Snapshot()), "%+v", d.Snapshot())

	// A change the broken watch does not deliver.
	_, err := client.DiscoveryV1().EndpointSlices(testNS).Update(ctx, slice("gateway-abc", "gateway",
		k8sEndpoint("10.0.0.1", "ready", "gateway-0", "node-a", "zone-a"),
		k8sEndpoint("10.0.0.2", "ready", "gateway-1", "node-b", "zone-b")), metav1.UpdateOptions{})
	require.NoError(t, err)
	require.Never(t, func() bool { _, ok := byAddress(d.Snapshot(), "10.0.0.2:4317"); return ok }, 200*time.Millisecond, 20*time.Millisecond)

	// The watch expires and the re-list fails: an error, the last good list stays.
	apiDown.Store(true)
	broken.Error(&metav1.Status{Status: metav1.StatusFailure, Code: 410, Reason: metav1.StatusReasonExpired, Message: "too old resource version"})
	const failedMsg = "Discovery source failed, keeping its last good list of endpoints"
	require.Eventually(t, func() bool { return logs.FilterMessage(failedMsg).Len() >= 1 }, waitTimeout, 10*time.Millisecond)
	failed := logs.FilterMessage(failedMsg)
	assert.Contains(t, failed.All()[0].ContextMap()["error"], "watching EndpointSlices of service observability/gateway: ")
	assert.Contains(t, failed.All()[0].ContextMap()["error"], "connection refused")
	assert.True(t, hasStates(map[string]string{"10.0.0.1:4317": "unknown"})(d.Snapshot()), "last good list kept")

	// The API answers again: the re-list brings the change.
	apiDown.Store(false)
	waitSnapshot(t, d, "change after re-list", hasStates(map[string]string{"10.0.0.1:4317": "unknown", "10.0.0.2:4317": "unknown"}))
	assert.GreaterOrEqual(t, lists.Load(), int32(3), "initial list, failed re-list, good re-list")
}

// TestKubernetesTargets: the mapping of EndpointSlice conditions and ports.
func TestKubernetesTargets(t *testing.T) {
	src := newKubernetesSource(&KubernetesConfig{Namespace: testNS, Service: "gateway", PortName: "otlp", MaxEndpoints: 3}, zap.NewNop())
	nilConds := discoveryv1.Endpoint{Addresses: []string{"10.0.0.5"}} // nil conditions mean ready
	dupDraining := k8sEndpoint("10.0.0.1", "terminating", "gateway-0", "node-a", "zone-a")
	noPort := slice("noport", "gateway", k8sEndpoint("10.0.0.7", "ready", "x", "n", "z"))
	noPort.Ports = []discoveryv1.EndpointPort{{Name: ptr("metrics"), Port: ptr(int32(8888))}}
	got, err := src.targets([]any{
		slice("a", "gateway", k8sEndpoint("10.0.0.1", "ready", "gateway-0", "node-a", "zone-a"), nilConds,
			k8sEndpoint("10.0.0.6", "notready", "g6", "n", "z")),
		slice("b", "gateway", dupDraining, k8sEndpoint("10.0.0.2", "gone", "g2", "n", "z")),
		noPort,
		&discoveryv1.EndpointSlice{}, // no ports at all
	})
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, "10.0.0.1:4317", got[0].Address)
	assert.False(t, got[0].Draining, "an address ready in one slice and terminating in another is ready")
	assert.Equal(t, target{Address: "10.0.0.5:4317", Weight: 1, Metadata: map[string]string{}}, got[1])

	// The only port of a slice is used when port_name is empty.
	src.cfg.PortName = ""
	got, err = src.targets([]any{noPort})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "10.0.0.7:8888", got[0].Address)

	// More endpoints than max_endpoints: an error, the last good list stays.
	many := slice("m", "gateway")
	for _, ip := range []string{"10.1.0.1", "10.1.0.2", "10.1.0.3", "10.1.0.4"} {
		many.Endpoints = append(many.Endpoints, k8sEndpoint(ip, "ready", "h", "n", "z"))
	}
	src.cfg.PortName = "otlp"
	_, err = src.targets([]any{many})
	require.EqualError(t, err, `service observability/gateway: 4 endpoints, more than "max_endpoints" (3)`)
}

// TestKubernetesBadKubeconfig: a kubeconfig that cannot be read is a source
// error naming the file.
func TestKubernetesBadKubeconfig(t *testing.T) {
	src := newKubernetesSource(&KubernetesConfig{Service: "gateway", Kubeconfig: "/nonexistent/kubeconfig"}, zap.NewNop())
	var got error
	src.run(context.Background(), func(_ []target, err error) { got = err })
	require.Error(t, got)
	assert.Contains(t, got.Error(), "kubeconfig /nonexistent/kubeconfig")
}
