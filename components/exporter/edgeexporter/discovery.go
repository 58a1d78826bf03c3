// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"

	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/discoveryapi"
)

// discoveryState is the exporter's link to a discovery extension.
type discoveryState struct {
	mu          sync.Mutex
	registry    discoveryapi.Registry
	unsubscribe func()
	pending     []pendingClose
	stopped     bool
}

// pendingClose closes the clients of removed endpoints after a grace period.
type pendingClose struct {
	timer *time.Timer
	eps   []*endpoint
}

// findRegistry looks the discovery extension up among the host's extensions.
func findRegistry(host component.Host, id component.ID) (discoveryapi.Registry, error) {
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return nil, fmt.Errorf("\"discovery\": extension %q not found: configure it under extensions and list it in service.extensions", id)
	}
	reg, ok := ext.(discoveryapi.Registry)
	if !ok {
		return nil, fmt.Errorf("\"discovery\": extension %q is not a discovery extension (it is a %T)", id, ext)
	}
	return reg, nil
}

// followDiscovery takes the endpoints from the registry now and follows its
// snapshots: new eligible endpoints start receiving, endpoints that become
// unhealthy or draining or disappear stop receiving new requests (their
// requests in flight finish; a request cut short stays in the log and is sent
// elsewhere).
func (e *edgeExporter) followDiscovery(ctx context.Context, host component.Host) error {
	reg, err := findRegistry(host, *e.cfg.Discovery)
	if err != nil {
		return err
	}
	e.disc.registry = reg
	e.applySnapshot(ctx, reg.Snapshot())
	unsub, err := reg.Subscribe(func(s discoveryapi.Snapshot) { e.applySnapshot(context.Background(), s) })
	if err != nil {
		return fmt.Errorf("subscribing to %q: %w", *e.cfg.Discovery, err)
	}
	e.disc.mu.Lock()
	e.disc.unsubscribe = unsub
	e.disc.mu.Unlock()
	return nil
}

// endpointAddress turns a registry address into what the client dials: host:port
// for gRPC, a base URL for HTTP whose scheme comes from the configuration
// (https unless http.tls is insecure), never from the source's metadata.
func (e *edgeExporter) endpointAddress(ep discoveryapi.Endpoint) string {
	if e.cfg.Protocol != ProtocolHTTP {
		return ep.Address
	}
	return discoveryScheme(e.cfg) + "://" + ep.Address
}

func (e *edgeExporter) applySnapshot(ctx context.Context, s discoveryapi.Snapshot) {
	e.disc.mu.Lock()
	defer e.disc.mu.Unlock()
	if e.disc.stopped {
		return
	}
	eligible := s.Eligible()
	eps := make([]*endpoint, 0, len(eligible))
	for _, d := range eligible {
		if hasUserInfo(d.Address) || hasUserInfo(d.ID) {
			// The discovery extension rejects these; another registry might
			// not. A credential must not reach metrics and logs.
			e.warnLimiter.warn(e.logger, "Discovered endpoint with user info ignored", zap.String("address", redactURL(d.Address)))
			continue
		}
		addr := e.endpointAddress(d)
		ep := &endpoint{id: d.ID, address: addr, serverName: d.ServerName, weight: max(d.Weight, 1), zone: d.Zone}
		if !e.eps.has(d.ID, addr, d.ServerName) {
			c, err := e.newNamedClient(ctx, addr, d.ServerName)
			if err != nil {
				e.warnLimiter.warn(e.logger, "Cannot use discovered endpoint", zap.String("endpoint", d.ID), zap.Error(err))
				continue
			}
			ep.client = c
		}
		eps = append(eps, ep)
	}
	e.eps.setPanic(s.Panic)
	removed, unused := e.eps.setEndpoints(eps)
	for _, ep := range unused {
		_ = ep.client.close()
	}
	if len(removed) > 0 {
		// Let requests in flight to removed endpoints finish before closing
		// their connections.
		e.disc.pending = append(e.disc.pending, pendingClose{eps: removed, timer: time.AfterFunc(e.cfg.Timeout, func() {
			for _, ep := range removed {
				_ = ep.client.close()
			}
			e.eps.forget(removed...)
		})})
	}
	e.logger.Debug("Endpoints from discovery", zap.Uint64("version", s.Version), zap.Int("eligible", len(eps)), zap.Int("removed", len(removed)), zap.Bool("panic", s.Panic))
}

// reportResult feeds the registry's passive health checks.
func (e *edgeExporter) reportResult(ep *endpoint, err error) {
	if e.disc.registry != nil {
		e.disc.registry.ReportResult(ep.id, err)
	}
}

func (e *edgeExporter) stopDiscovery() {
	e.disc.mu.Lock()
	unsub := e.disc.unsubscribe
	e.disc.unsubscribe = nil
	e.disc.stopped = true
	pending := e.disc.pending
	e.disc.pending = nil
	e.disc.mu.Unlock()
	if unsub != nil {
		unsub()
	}
	for _, p := range pending {
		if p.timer.Stop() {
			// The grace period had not ended: close them now.
			for _, ep := range p.eps {
				_ = ep.client.close()
			}
		}
	}
}
