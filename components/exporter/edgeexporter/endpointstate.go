// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// endpointState is the health of one endpoint: the value of the state
// attribute of otelcol_exporter_edge_endpoint_state, of the endpoint lines of
// the offline summary and of the status page.
//
//	healthy  --request or probe fails-->  failing   (one "Endpoint down" line)
//	failing  --backoff expired, a request or an empty probe is sent-->  probing
//	probing  --it fails-->  failing (backoff grows; no line)
//	failing, probing  --a request or probe succeeds-->  healthy   (one "Endpoint up" line)
//	any      --removed by discovery-->  draining (until its client is closed)
//
// Time alone never makes a failing endpoint healthy: its backoff only makes it
// eligible for a probe.
type endpointState uint8

const (
	// epHealthy: the last request or probe succeeded (or none was sent yet).
	epHealthy endpointState = iota
	// epFailing: the last request or probe failed; no request is sent to it
	// until its backoff expires.
	epFailing
	// epProbing: its backoff expired and a probe is in flight (the next
	// request, or an empty export request when there is nothing to send).
	epProbing
	// epDraining: removed from the set by discovery; requests in flight may
	// finish, no new request is sent.
	epDraining
)

// endpointStates lists every state in the order of the metric's attribute.
var endpointStates = []endpointState{epHealthy, epFailing, epProbing, epDraining}

func (s endpointState) String() string {
	switch s {
	case epHealthy:
		return "healthy"
	case epFailing:
		return "failing"
	case epProbing:
		return "probing"
	case epDraining:
		return "draining"
	}
	return "unknown"
}

// beginProbe marks a failing endpoint probing when a request (the probe) is
// about to be sent to it; it reports whether it was failing.
func (s *endpointSet) beginProbe(e *endpoint) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.state != epFailing {
		return false
	}
	e.state = epProbing
	return true
}

// settle ends the probe of an endpoint that answered neither a success nor
// a failure of its own (a batch too large, or a server error on a batch that
// is split): it is failing again, and eligible at once.
func (s *endpointSet) settle(e *endpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.state == epProbing {
		e.state = epFailing
	}
}

// probeCandidates returns the endpoints to probe with an empty request now:
// failing endpoints whose backoff has expired, and healthy endpoints that
// neither sent nor got anything for idle (so a backend that died while there
// was no traffic is seen within about idle; 0 disables those probes). Each
// returned endpoint is marked probing.
func (s *endpointSet) probeCandidates(idle time.Duration) []*endpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var out []*endpoint
	for _, e := range s.eps {
		switch {
		case e.state == epFailing && !now.Before(e.downUntil):
			e.state = epProbing
		case e.state == epHealthy && idle > 0 && !e.lastUsed.IsZero() && now.Sub(e.lastUsed) >= idle:
			// Stays healthy while its probe is in flight: it may get data.
			e.lastUsed = now
		default:
			continue
		}
		out = append(out, e)
	}
	return out
}

// forget removes draining endpoints once their clients are closed.
func (s *endpointSet) forget(eps ...*endpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.draining[:0]
	for _, d := range s.draining {
		gone := false
		for _, e := range eps {
			gone = gone || d == e
		}
		if !gone {
			kept = append(kept, d)
		}
	}
	clear(s.draining[len(kept):])
	s.draining = kept
}

// endpointView is one endpoint as the summary line and the status page show it.
type endpointView struct {
	ID        string    `json:"id"`
	State     string    `json:"state"`
	DownSince time.Time `json:"down_since,omitzero"`
	Failures  int       `json:"failed_attempts,omitempty"`
	LastError string    `json:"last_error,omitempty"`
}

// views returns every endpoint (draining ones last) for the summary and the
// status page.
func (s *endpointSet) views() []endpointView {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]endpointView, 0, len(s.eps)+len(s.draining))
	for _, list := range [][]*endpoint{s.eps, s.draining} {
		for _, e := range list {
			v := endpointView{ID: e.id, State: e.state.String(), Failures: e.failures, LastError: e.lastErr}
			if e.state == epFailing || e.state == epProbing {
				v.DownSince = e.downSince
			}
			out = append(out, v)
		}
	}
	return out
}

// registerEndpointStateCallback observes otelcol_exporter_edge_endpoint_state:
// for each endpoint 1 with its current state and 0 with the others, so a
// change shows in every series at the next collection.
func (e *edgeExporter) registerEndpointStateCallback() error {
	return e.tb.RegisterExporterEdgeEndpointStateCallback(func(_ context.Context, o metric.Int64Observer) error {
		for id, cur := range e.eps.health() {
			for _, st := range endpointStates {
				v := int64(0)
				if st == cur {
					v = 1
				}
				o.Observe(v, metric.WithAttributes(attribute.String("endpoint", id), attribute.String("state", st.String())))
			}
		}
		return nil
	})
}
