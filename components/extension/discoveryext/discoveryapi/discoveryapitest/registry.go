// SPDX-License-Identifier: Apache-2.0

// Package discoveryapitest provides a Registry that tests drive by hand, for
// components that follow the discovery extension.
package discoveryapitest // import "github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/discoveryapi/discoveryapitest"

import (
	"sync"

	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/discoveryapi"
)

// Registry is a discoveryapi.Registry whose snapshots are published by the
// test. Publish calls the subscribers synchronously, so a test sees the effect
// as soon as Publish returns. Embed it with component.StartFunc and
// component.ShutdownFunc to register it as an extension of a test host.
type Registry struct {
	mu      sync.Mutex
	snap    discoveryapi.Snapshot
	subs    map[int]func(discoveryapi.Snapshot)
	next    int
	reports map[string][]error
}

var _ discoveryapi.Registry = (*Registry)(nil)

// NewRegistry returns a registry whose first snapshot (version 1) holds eps.
func NewRegistry(eps ...discoveryapi.Endpoint) *Registry {
	return &Registry{
		snap:    discoveryapi.Snapshot{Version: 1, Endpoints: eps},
		subs:    map[int]func(discoveryapi.Snapshot){},
		reports: map[string][]error{},
	}
}

// Snapshot implements discoveryapi.Registry.
func (r *Registry) Snapshot() discoveryapi.Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.snap
}

// Subscribe implements discoveryapi.Registry.
func (r *Registry) Subscribe(fn func(discoveryapi.Snapshot)) (func(), error) {
	r.mu.Lock()
	id := r.next
	r.next++
	r.subs[id] = fn
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		delete(r.subs, id)
		r.mu.Unlock()
	}, nil
}

// ReportResult implements discoveryapi.Registry and records the outcome.
func (r *Registry) ReportResult(id string, err error) {
	r.mu.Lock()
	r.reports[id] = append(r.reports[id], err)
	r.mu.Unlock()
}

// Publish replaces the endpoints with a new version and calls every
// subscriber with it.
func (r *Registry) Publish(eps ...discoveryapi.Endpoint) {
	r.mu.Lock()
	r.snap = discoveryapi.Snapshot{Version: r.snap.Version + 1, Endpoints: eps}
	snap := r.snap
	subs := make([]func(discoveryapi.Snapshot), 0, len(r.subs))
	for _, fn := range r.subs {
		subs = append(subs, fn)
	}
	r.mu.Unlock()
	for _, fn := range subs {
		fn(snap)
	}
}

// Failures counts the failed results reported for the endpoint id.
func (r *Registry) Failures(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, err := range r.reports[id] {
		if err != nil {
			n++
		}
	}
	return n
}
