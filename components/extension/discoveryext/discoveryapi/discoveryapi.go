// SPDX-License-Identifier: Apache-2.0

// Package discoveryapi is the interface between the discovery extension and
// the components that follow it (the edge exporter, the enrich processor). It
// is a module of its own with no dependencies, so a component imports the
// interface without the extension's DNS, file-watching and health-check code.
//
// A component names the extension in its config by component ID, finds it at
// Start in host.GetExtensions() and type-asserts it to Registry.
package discoveryapi // import "github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/discoveryapi"

import (
	"sort"
	"time"
)

// Health is the health state of an endpoint.
type Health int

const (
	// HealthUnknown: not checked yet. Eligible for traffic.
	HealthUnknown Health = iota
	// HealthHealthy: passed its health checks.
	HealthHealthy
	// HealthUnhealthy: failed its health checks or was ejected after failed
	// requests. Not eligible (unless the registry is in panic mode).
	HealthUnhealthy
	// HealthDraining: removed from its source; requests in flight may finish,
	// no new ones should start. Never eligible.
	HealthDraining
)

// String returns the lower-case name of the state.
func (h Health) String() string {
	switch h {
	case HealthHealthy:
		return "healthy"
	case HealthUnhealthy:
		return "unhealthy"
	case HealthDraining:
		return "draining"
	default:
		return "unknown"
	}
}

// Endpoint is one backend as the registry sees it.
type Endpoint struct {
	// ID is stable across snapshots for the same endpoint (source name and
	// address).
	ID string `json:"id"`
	// Address is host:port.
	Address string `json:"address"`
	// ServerName is the name a client verifies the endpoint's TLS
	// certificate against when its configuration does not override it: the
	// target name of a DNS SRV record, the name of a DNS A/AAAA source. Empty
	// when the address itself holds the name (static and file sources).
	ServerName string `json:"server_name,omitempty"`
	// Weight is the relative share of traffic under weighted balancing (>= 1).
	Weight int `json:"weight"`
	// Priority orders endpoints for failover: lower values are preferred
	// (DNS SRV priority; 0 for other sources unless configured).
	Priority int `json:"priority"`
	// Zone is an optional locality label.
	Zone string `json:"zone,omitempty"`
	// Metadata holds free-form labels from the source.
	Metadata map[string]string `json:"metadata,omitempty"`
	// Source is the name of the source that reported the endpoint.
	Source string `json:"source"`
	// Health is the current health state.
	Health Health `json:"-"`
	// HealthName is Health as text, for JSON.
	HealthName string `json:"health"`
	// Reason says why the endpoint is in its state (last check error...).
	Reason string `json:"reason,omitempty"`
	// Since is when the endpoint entered its state.
	Since time.Time `json:"since"`
}

// Snapshot is an immutable, versioned view of the registry. Its slices and
// maps must not be modified by subscribers.
type Snapshot struct {
	// Version grows by one with every change.
	Version uint64 `json:"version"`
	// Time is when the snapshot was made.
	Time time.Time `json:"time"`
	// Endpoints are sorted by ID.
	Endpoints []Endpoint `json:"endpoints"`
	// Panic is true when fewer endpoints than the configured threshold are
	// healthy: every endpoint that is not draining is then eligible (fail
	// open).
	Panic bool `json:"panic"`
}

// Eligible returns the endpoints that may receive new traffic, by priority
// then ID: healthy and unknown ones, or in panic mode every endpoint that is
// not draining.
func (s Snapshot) Eligible() []Endpoint {
	out := make([]Endpoint, 0, len(s.Endpoints))
	for _, e := range s.Endpoints {
		switch {
		case e.Health == HealthDraining:
		case e.Health == HealthUnhealthy && !s.Panic:
		default:
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Priority != out[j].Priority {
			return out[i].Priority < out[j].Priority
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Registry is implemented by the discovery extension.
type Registry interface {
	// Snapshot returns the current view.
	Snapshot() Snapshot
	// Subscribe calls fn with the current snapshot and then with every new
	// one, in version order, from a goroutine of the registry's own per
	// subscriber (a slow subscriber only delays itself; intermediate
	// snapshots may be skipped, the latest is always delivered). The returned
	// function stops the subscription and waits for a running call to end.
	Subscribe(fn func(Snapshot)) (unsubscribe func(), err error)
	// ReportResult feeds passive health: a component reports the outcome of
	// a request to an endpoint (nil for success).
	ReportResult(endpointID string, err error)
}
