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
}

func (e *endpoint) healthy(now time.Time) bool { return !now.Before(e.downUntil) }

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
			prev.weight = e.weight
			out = append(out, prev)
			delete(old, e.id)
			if e != prev && e.client != nil {
				unused = append(unused, e)
			}
			continue
		}
		out = append(out, e)
	}
	for _, e := range old {
		removed = append(removed, e)
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
	for _, e := range s.eps {
		if !e.healthy(now) {
			continue
		}
		if s.balancing != BalancingRoundRobin {
			return e
		}
		w := max(e.weight, 1)
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

// success marks the endpoint healthy and resets its backoff.
func (s *endpointSet) success(e *endpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.failures = 0
	e.backoff.Reset()
	e.downUntil = time.Time{}
	e.lastErr = ""
}

// failure puts the endpoint in backoff (exponential with jitter, at least the
// backend's Retry-After hint).
func (s *endpointSet) failure(e *endpoint, err error, hint time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
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
}

// failing reports whether the endpoint's last request failed.
func (s *endpointSet) failing(e *endpoint) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return e.failures > 0
}

// health returns the id and health of every endpoint.
func (s *endpointSet) health() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := make(map[string]bool, len(s.eps))
	for _, e := range s.eps {
		out[e.id] = e.failures == 0 || e.healthy(now)
	}
	return out
}

func (s *endpointSet) all() []*endpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*endpoint(nil), s.eps...)
}
