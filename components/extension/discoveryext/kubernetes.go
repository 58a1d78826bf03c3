// SPDX-License-Identifier: Apache-2.0

package discoveryext // import "github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext"

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// Defaults of the kubernetes source.
const (
	defaultClusterDomain = "cluster.local"
	// serviceAccountNamespace holds the namespace of the pod (in-cluster).
	serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
	// k8sSyncWarn is how long the first list may take before the source
	// reports an error (the informer keeps trying).
	k8sSyncWarn = 4 * time.Second
	// k8sRecoveryPoll is how often, after a watch or list error, the source
	// checks whether the informer listed again successfully.
	k8sRecoveryPoll = 500 * time.Millisecond
)

// Metadata keys the kubernetes source sets on its endpoints.
const (
	metaK8sHostname = "k8s.hostname"
	metaK8sNodeName = "k8s.node_name"
	metaK8sZone     = "k8s.zone"
	metaK8sPod      = "k8s.pod"
)

// The kubernetes source needs exactly these permissions (RBAC verbs on the
// resource in the Service's namespace): the manifests' Role is checked
// against them.
var (
	// KubernetesRBACGroup is the API group of the watched resource.
	KubernetesRBACGroup = discoveryv1.GroupName
	// KubernetesRBACResource is the watched resource.
	KubernetesRBACResource = "endpointslices"
	// KubernetesRBACVerbs are the verbs the informer uses.
	KubernetesRBACVerbs = []string{"list", "watch"}
)

// kubernetesSource watches the EndpointSlices of a Service (label
// kubernetes.io/service-name) with a client-go informer and reports their
// endpoints: ready ones as they are, serving and terminating ones as
// draining; the others are left out (they leave the registry).
type kubernetesSource struct {
	cfg       KubernetesConfig
	namespace string
	logger    *zap.Logger
	// newClient builds the clientset (replaced by tests with a fake one).
	newClient func() (kubernetes.Interface, error)
}

func newKubernetesSource(cfg *KubernetesConfig, logger *zap.Logger) *kubernetesSource {
	s := &kubernetesSource{cfg: *cfg, namespace: cfg.Namespace, logger: logger}
	if s.namespace == "" {
		s.namespace = "default"
		if b, err := os.ReadFile(serviceAccountNamespace); err == nil && strings.TrimSpace(string(b)) != "" {
			s.namespace = strings.TrimSpace(string(b))
		}
	}
	if s.cfg.ClusterDomain == "" {
		s.cfg.ClusterDomain = defaultClusterDomain
	}
	if s.cfg.MaxEndpoints == 0 {
		s.cfg.MaxEndpoints = defaultMaxEndpoints
	}
	s.newClient = func() (kubernetes.Interface, error) {
		rc, err := restConfig(s.cfg.Kubeconfig)
		if err != nil {
			return nil, err
		}
		return kubernetes.NewForConfig(rc)
	}
	return s
}

// restConfig is the in-cluster configuration, or the one of a kubeconfig file.
func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		rc, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster Kubernetes configuration (set kubeconfig outside a cluster): %w", err)
		}
		return rc, nil
	}
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	return rc, nil
}

func (s *kubernetesSource) run(ctx context.Context, emit func([]target, error)) {
	client, err := s.newClient()
	if err != nil {
		emit(nil, err)
		return
	}
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithNamespace(s.namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = discoveryv1.LabelServiceName + "=" + s.cfg.Service
		}))
	informer := factory.Discovery().V1().EndpointSlices().Informer()

	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	var (
		mu     sync.Mutex
		errNow error // the latest watch or list error, until the next good list
	)
	reg, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke() },
		UpdateFunc: func(any, any) { poke() },
		DeleteFunc: func(any) { poke() },
	})
	if err == nil {
		err = informer.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, werr error) {
			mu.Lock()
			errNow = werr
			mu.Unlock()
			poke()
		})
	}
	if err != nil {
		emit(nil, err)
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { informer.RunWithContext(ctx) })
	wg.Go(func() {
		// The events of the first list may arrive before it counts as
		// synced: look again once it does.
		if cache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
			poke()
		}
	})

	syncWarn := time.NewTimer(k8sSyncWarn)
	defer syncWarn.Stop()
	recovery := time.NewTicker(k8sRecoveryPoll)
	defer recovery.Stop()
	var (
		last       []target
		sent       bool
		failing    bool
		failedAtRV string
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-syncWarn.C:
			if !reg.HasSynced() {
				emit(nil, fmt.Errorf("EndpointSlices of service %s/%s not listed after %s, still trying", s.namespace, s.cfg.Service, k8sSyncWarn))
				failing = true
			}
			continue
		case <-recovery.C:
			if !failing {
				continue
			}
			// An empty list after a failed one raises no event: a new
			// resource version shows that the informer listed again.
			mu.Lock()
			pending := errNow
			mu.Unlock()
			if pending != nil || !reg.HasSynced() || informer.LastSyncResourceVersion() == failedAtRV {
				continue
			}
		case <-changed:
		}
		mu.Lock()
		werr := errNow
		errNow = nil
		mu.Unlock()
		if werr != nil {
			failing = true
			failedAtRV = informer.LastSyncResourceVersion()
			emit(nil, fmt.Errorf("watching EndpointSlices of service %s/%s: %w", s.namespace, s.cfg.Service, werr))
			continue
		}
		if !reg.HasSynced() {
			continue
		}
		targets, terr := s.targets(informer.GetStore().List())
		if terr != nil {
			failing = true
			failedAtRV = informer.LastSyncResourceVersion()
			emit(nil, terr)
			continue
		}
		if sent && !failing && slices.EqualFunc(last, targets, sameTarget) {
			continue
		}
		last, sent, failing = targets, true, false
		emit(targets, nil)
	}
}

func sameTarget(a, b target) bool {
	return a.Address == b.Address && a.ServerName == b.ServerName && a.Zone == b.Zone && a.Draining == b.Draining &&
		a.Weight == b.Weight && a.Priority == b.Priority && maps.Equal(a.Metadata, b.Metadata)
}

// targets turns EndpointSlices into endpoints, sorted by address. An address
// listed twice (slices overlap while the controller moves endpoints) is
// reported once, ready before draining.
func (s *kubernetesSource) targets(objs []any) ([]target, error) {
	byAddr := map[string]target{}
	for _, o := range objs {
		es, ok := o.(*discoveryv1.EndpointSlice)
		if !ok {
			continue
		}
		port, ok := s.port(es)
		if !ok {
			continue
		}
		for _, ep := range es.Endpoints {
			ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
			serving := ready
			if ep.Conditions.Serving != nil {
				serving = *ep.Conditions.Serving
			}
			terminating := ep.Conditions.Terminating != nil && *ep.Conditions.Terminating
			draining := false
			switch {
			case ready && !terminating:
			case serving && terminating:
				draining = true
			default:
				continue // not serving: leaves
			}
			md := map[string]string{}
			t := target{Weight: 1, Draining: draining, Metadata: md}
			if ep.Hostname != nil && *ep.Hostname != "" {
				md[metaK8sHostname] = *ep.Hostname
				t.ServerName = *ep.Hostname + "." + s.cfg.Service + "." + s.namespace + ".svc." + s.cfg.ClusterDomain
			}
			if ep.NodeName != nil && *ep.NodeName != "" {
				md[metaK8sNodeName] = *ep.NodeName
			}
			if ep.Zone != nil && *ep.Zone != "" {
				md[metaK8sZone] = *ep.Zone
				t.Zone = *ep.Zone
			}
			if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" {
				md[metaK8sPod] = ep.TargetRef.Name
			}
			for _, a := range ep.Addresses {
				t.Address = net.JoinHostPort(a, strconv.Itoa(int(port)))
				if prev, ok := byAddr[t.Address]; ok && !prev.Draining {
					continue
				}
				byAddr[t.Address] = t
			}
		}
	}
	if len(byAddr) > s.cfg.MaxEndpoints {
		return nil, fmt.Errorf("service %s/%s: %d endpoints, more than \"max_endpoints\" (%d)", s.namespace, s.cfg.Service, len(byAddr), s.cfg.MaxEndpoints)
	}
	out := make([]target, 0, len(byAddr))
	for _, t := range byAddr {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b target) int { return strings.Compare(a.Address, b.Address) })
	return out, nil
}

// port returns the port of the slice named port_name (or the unnamed or only
// port when port_name is empty).
func (s *kubernetesSource) port(es *discoveryv1.EndpointSlice) (int32, bool) {
	for _, p := range es.Ports {
		name := ""
		if p.Name != nil {
			name = *p.Name
		}
		if p.Port != nil && (name == s.cfg.PortName || (s.cfg.PortName == "" && len(es.Ports) == 1)) {
			return *p.Port, true
		}
	}
	return 0, false
}
