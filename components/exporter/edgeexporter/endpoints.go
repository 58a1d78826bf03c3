// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"math/rand/v2"
	"sync"
	"time"
)

// endpoint is one backend with its passive health state: after a retryable
// failure it is skipped until its backoff expires; the next request to it is
// the probe that brings it back.
type endpoint struct {
	name   string
	client endpointClient

	// guarded by endpointSet.mu
	failures  int
	downUntil time.Time
	backoff   time.Duration
	lastErr   string
}

func (e *endpoint) healthy(now time.Time) bool { return !now.Before(e.downUntil) }

// endpointSet chooses the endpoint for each request. The set can be replaced at
// run time (the discovery extension will do so) with setEndpoints.
type endpointSet struct {
	mu        sync.Mutex
	eps       []*endpoint
	balancing string
	next      int
	retry     RetryConfig
	now       func() time.Time
}

func newEndpointSet(balancing string, retry RetryConfig) *endpointSet {
	return &endpointSet{balancing: balancing, retry: retry, now: time.Now}
}

// setEndpoints replaces the endpoints, keeping the health state of those that
// stay, and returns the ones removed so their clients can be closed.
func (s *endpointSet) setEndpoints(eps []*endpoint) (removed []*endpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := map[string]*endpoint{}
	for _, e := range s.eps {
		old[e.name] = e
	}
	out := make([]*endpoint, 0, len(eps))
	for _, e := range eps {
		if prev, ok := old[e.name]; ok {
			out = append(out, prev)
			delete(old, e.name)
			continue
		}
		out = append(out, e)
	}
	for _, e := range old {
		removed = append(removed, e)
	}
	s.eps = out
	return removed
}

// pick returns the endpoint for the next request, or nil and the time at which
// the first endpoint becomes eligible again when all are backing off.
func (s *endpointSet) pick() (*endpoint, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	n := len(s.eps)
	if n == 0 {
		return nil, now.Add(s.retry.InitialInterval)
	}
	start := 0
	if s.balancing == BalancingRoundRobin {
		start = s.next % n
		s.next++
	}
	var earliest time.Time
	for i := 0; i < n; i++ {
		e := s.eps[(start+i)%n]
		if e.healthy(now) {
			return e, time.Time{}
		}
		if earliest.IsZero() || e.downUntil.Before(earliest) {
			earliest = e.downUntil
		}
	}
	return nil, earliest
}

// success marks the endpoint healthy and resets its backoff.
func (s *endpointSet) success(e *endpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.failures = 0
	e.backoff = 0
	e.downUntil = time.Time{}
	e.lastErr = ""
}

// failure puts the endpoint in backoff (exponential with jitter, at least the
// backend's Retry-After hint).
func (s *endpointSet) failure(e *endpoint, err error, hint time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.failures++
	if e.backoff == 0 {
		e.backoff = s.retry.InitialInterval
	} else {
		e.backoff = min(time.Duration(float64(e.backoff)*s.retry.Multiplier), s.retry.MaxInterval)
	}
	wait := jitter(e.backoff, s.retry.RandomizationFactor)
	wait = max(wait, hint)
	e.downUntil = s.now().Add(wait)
	e.lastErr = err.Error()
}

// failing reports whether the endpoint's last request failed.
func (s *endpointSet) failing(e *endpoint) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return e.failures > 0
}

// health returns the name and health of every endpoint.
func (s *endpointSet) health() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := make(map[string]bool, len(s.eps))
	for _, e := range s.eps {
		out[e.name] = e.failures == 0 || e.healthy(now)
	}
	return out
}

func (s *endpointSet) all() []*endpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*endpoint(nil), s.eps...)
}

func jitter(d time.Duration, factor float64) time.Duration {
	if factor <= 0 || d <= 0 {
		return d
	}
	delta := factor * float64(d)
	return time.Duration(float64(d) - delta + rand.Float64()*2*delta)
}
