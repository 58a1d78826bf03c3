// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"sync"
	"time"

	"github.com/cenkalti/backoff/v7"
)

// endpoint is one backend with its passive health state: after a retryable
// failure it is skipped until its backoff expires; the next request to it is
// the probe that brings it back.
type endpoint struct {
	// id identifies the endpoint in metrics and to the discovery registry.
	id string
	// address is what the client connects to (host:port or base URL).
	address string
	// serverName is the TLS server name of a discovered endpoint ("": the
	// host of address).
	serverName string
	// weight is the endpoint's share under round_robin (>= 1).
	weight int
	// zone is the endpoint's locality (discovery), for zone_routing.
	zone   string
	client endpointClient

	// guarded by endpointSet.mu
	failures  int
	downUntil time.Time
	// backoff is the endpoint's exponential backoff with jitter (reset by a
	// success): the same algorithm and parameters as upstream's
	// retry_on_failure, which is built on it too.
	backoff       backoff.ExponentialBackOff
	lastErr       string
	currentWeight int
	// state is the endpoint's health (endpointstate.go); downSince is when
	// it last went from healthy to failing, lastUsed when a request or probe
	// to it last ended.
	state     endpointState
	downSince time.Time
	lastUsed  time.Time
	// okAt is when a request or probe last succeeded: a failure of one that
	// started before it is stale (it says nothing about the endpoint now).
	okAt time.Time
	// admitted is when the endpoint joined the set or last became healthy
	// again: its slow start begins there (weights.go).
	admitted time.Time
}

// healthy reports whether the endpoint may get a request now: it is healthy,
// or it is failing or probing and its backoff has expired (that request is a
// probe too: data does not wait for an empty probe). A failing endpoint is
// never healthy again by time alone: only a request or a probe that succeeds
// makes it so (success).
func (e *endpoint) healthy(now time.Time) bool {
	return e.state == epHealthy || (e.state == epFailing || e.state == epProbing) && !now.Before(e.downUntil)
}

// endpointSet chooses the endpoint for each request. Its endpoints are kept in
// preference order (list order for static endpoints, priority order from the
// discovery extension). The set can be replaced at run time with
// setEndpoints; health state of endpoints that stay is kept.
type endpointSet struct {
	mu        sync.Mutex
	eps       []*endpoint
	balancing string
	retry     RetryConfig
	now       func() time.Time
	// draining are endpoints removed from the set whose clients are not
	// closed yet (requests in flight may finish): shown as draining until
	// forget is called.
	draining []*endpoint

	// router applies zone_routing and slow_start (weights.go); nil: neither.
	router *router
}

func newEndpointSet(balancing string, retry RetryConfig) *endpointSet {
	return &endpointSet{balancing: balancing, retry: retry, now: time.Now}
}

// setEndpoints replaces the endpoints. Endpoints whose id is already in the
// set keep their state (and client: the new object's client is not used and
// is returned in unused); endpoints no longer present are returned in removed
// so their clients can be closed once requests in flight are done.
func (s *endpointSet) setEndpoints(eps []*endpoint) (removed, unused []*endpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := map[string]*endpoint{}
	for _, e := range s.eps {
		old[e.id] = e
	}
	out := make([]*endpoint, 0, len(eps))
	for _, e := range eps {
		if prev, ok := old[e.id]; ok && prev.address == e.address && prev.serverName == e.serverName {
			prev.weight, prev.zone = e.weight, e.zone
			out = append(out, prev)
			delete(old, e.id)
			if e != prev && e.client != nil {
				unused = append(unused, e)
			}
			continue
		}
		e.admitted = s.now()
		out = append(out, e)
	}
	for _, e := range old {
		removed = append(removed, e)
		e.state = epDraining
		s.draining = append(s.draining, e)
	}
	s.eps = out
	return removed, unused
}

// has reports whether an endpoint with this id, address and TLS server name
// is in the set.
func (s *endpointSet) has(id, address, serverName string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.eps {
		if e.id == id && e.address == address && e.serverName == serverName {
			return true
		}
	}
	return false
}

// available reports whether some endpoint is eligible now; if not, it returns
// when the first one becomes eligible again (or a retry time when the set is
// empty).
func (s *endpointSet) available() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if len(s.eps) == 0 {
		return now.Add(s.retry.InitialInterval), false
	}
	var earliest time.Time
	for _, e := range s.eps {
		if e.healthy(now) {
			return time.Time{}, true
		}
		if earliest.IsZero() || e.downUntil.Before(earliest) {
			earliest = e.downUntil
		}
	}
	return earliest, false
}

// pick returns the endpoint for the next request, or nil when every endpoint
// is backing off or the set is empty (available tells until when).
//
// failover: the first healthy endpoint in preference order.
// round_robin: smooth weighted round robin over the healthy endpoints (each
// gets a share of requests proportional to its weight, interleaved).
func (s *endpointSet) pick() *endpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var best *endpoint
	total := 0
	cands := s.eps
	if s.router != nil {
		cands = s.router.candidates(s.eps, now)
		defer func() { s.router.count(best) }()
	}
	for _, e := range cands {
		if !e.healthy(now) {
			continue
		}
		if s.balancing != BalancingRoundRobin {
			best = e
			return e
		}
		w := max(e.weight, 1)
		if s.router != nil {
			w = s.router.weight(e, now)
		}
		e.currentWeight += w
		total += w
		if best == nil || e.currentWeight > best.currentWeight {
			best = e
		}
	}
	if best != nil {
		best.currentWeight -= total
	}
	return best
}

// success marks the endpoint healthy and resets its backoff. When it was
// failing or probing, up is true with the outage's length and the number of
// failed requests and probes during it.
func (s *endpointSet) success(e *endpoint) (up bool, outage time.Duration, attempts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.lastUsed = s.now()
	e.okAt = s.now()
	if e.state == epFailing || e.state == epProbing {
		up, outage, attempts = true, s.now().Sub(e.downSince), e.failures
		e.state = epHealthy
		e.admitted = s.now()
	}
	e.failures = 0
	e.backoff.Reset()
	e.downUntil = time.Time{}
	e.lastErr = ""
	return up, outage, attempts
}

// failure puts the endpoint in backoff (exponential with jitter, at least the
// backend's Retry-After hint). down is true when the endpoint was healthy
// until now (the outage starts). A failure of a request or probe that started
// before the endpoint's last success (started; zero: unknown) is stale: a
// slow request of the outage that failed after a probe found the backend
// back must not mark it down again.
func (s *endpointSet) failure(e *endpoint, err error, hint time.Duration, started time.Time) (down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !started.IsZero() && started.Before(e.okAt) {
		return false
	}
	e.lastUsed = s.now()
	if e.state == epHealthy {
		down = true
		e.downSince = s.now()
	}
	if e.state != epDraining {
		e.state = epFailing
	}
	if e.failures == 0 {
		e.backoff = backoff.ExponentialBackOff{
			InitialInterval:     s.retry.InitialInterval,
			RandomizationFactor: s.retry.RandomizationFactor,
			Multiplier:          s.retry.Multiplier,
			MaxInterval:         s.retry.MaxInterval,
		}
	}
	e.failures++
	wait := max(e.backoff.NextBackOff(), hint)
	e.downUntil = s.now().Add(wait)
	e.lastErr = err.Error()
	return down
}

// failing reports whether the endpoint's last request failed.
func (s *endpointSet) failing(e *endpoint) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return e.failures > 0
}

// health returns the state of every endpoint, draining ones included.
func (s *endpointSet) health() map[string]endpointState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]endpointState, len(s.eps)+len(s.draining))
	for _, e := range s.draining {
		out[e.id] = epDraining
	}
	for _, e := range s.eps {
		out[e.id] = e.state
	}
	return out
}

func (s *endpointSet) all() []*endpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*endpoint(nil), s.eps...)
}
