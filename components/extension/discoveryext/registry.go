// SPDX-License-Identifier: Apache-2.0

package discoveryext // import "github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext"

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/discoveryapi"
)

// target is an endpoint as a source reports it.
type target struct {
	Address string
	// ServerName is the TLS server name of the endpoint (DNS sources).
	ServerName string
	Weight     int
	Priority   int
	Zone       string
	Metadata   map[string]string
	// Draining: the endpoint finishes what it has but takes no new requests
	// (a terminating Kubernetes pod that still serves).
	Draining bool
}

// entry is the registry's record of one endpoint.
type entry struct {
	ep discoveryapi.Endpoint // attributes and the effective Health, Reason, Since

	drainUntil time.Time // set while draining after removal from every source
	// listed holds the endpoint as each source listing it reports it.
	listed map[string]target
	// srcDraining: a source reports the endpoint draining (a terminating pod).
	srcDraining bool

	active       discoveryapi.Health // from active checks: unknown, healthy or unhealthy
	activeReason string
	okStreak     int
	failStreak   int

	passiveFails int
	lastErr      string
	ejectedUntil time.Time // set while ejected
	ejections    int       // ejection multiplier, decays while not ejected
	unejectedAt  time.Time
}

// drainingSources names the sources that report the endpoint draining.
func (e *entry) drainingSources() []string {
	var out []string
	for src, t := range e.listed {
		if t.Draining {
			out = append(out, "source "+src)
		}
	}
	slices.Sort(out)
	return out
}

// transition is a change of an endpoint's effective health, for metrics.
type transition struct {
	source   string
	from, to discoveryapi.Health
}

// ejection records an ejection, for metrics and logs.
type ejection struct {
	source, id string
	until      time.Time
}

// stateConfig holds the options the state machine needs.
type stateConfig struct {
	drainPeriod        time.Duration
	healthyThreshold   int
	unhealthyThreshold int
	outlier            OutlierDetectionConfig
	panicThreshold     int
	// precedence orders sources (their index in the configuration) when
	// several list the same address.
	precedence map[string]int
}

// state is the registry as a state machine. Every method takes the current
// time, so tests drive it with a controlled clock; it is owned by the
// extension's event loop and is not safe for concurrent use.
type state struct {
	cfg     stateConfig
	entries map[string]*entry
	byAddr  map[string]string // address -> ID of its entry
	version uint64
	panic   bool

	// transitions and ejections accumulate until the caller takes them.
	transitions []transition
	ejections   []ejection
}

func newState(cfg stateConfig) *state {
	return &state{cfg: cfg, entries: map[string]*entry{}, byAddr: map[string]string{}}
}

// endpointID is the stable ID of an address reported by a source.
func endpointID(source, address string) string {
	return source + "/" + address
}

// applySource replaces the endpoints of a source. An address already listed
// by another source is the same endpoint: the sources' attributes are merged
// (see merge). Endpoints no source lists any more start draining (or go at
// once with a drain period of 0, or when their source had already reported
// them draining); listed draining ones come back. It reports whether anything
// changed.
func (s *state) applySource(source string, targets []target, now time.Time) bool {
	changed := false
	seen := make(map[string]bool, len(targets))
	for _, t := range targets {
		if seen[t.Address] {
			continue // the first of duplicates wins
		}
		seen[t.Address] = true
		id, ok := s.byAddr[t.Address]
		if !ok {
			// The ID keeps the source that reported the address first.
			id = endpointID(source, t.Address)
			s.byAddr[t.Address] = id
			s.entries[id] = &entry{listed: map[string]target{}, ep: discoveryapi.Endpoint{
				ID: id, Address: t.Address, Source: source,
				Health: discoveryapi.HealthUnknown, HealthName: discoveryapi.HealthUnknown.String(), Since: now,
			}}
			changed = true
		}
		e := s.entries[id]
		e.listed[source] = t
		if s.merge(e, now) {
			changed = true
		}
	}
	for id, e := range s.entries {
		if _, ok := e.listed[source]; !ok || seen[e.ep.Address] {
			continue
		}
		delete(e.listed, source)
		changed = true
		if len(e.listed) > 0 {
			s.merge(e, now)
			continue
		}
		if s.cfg.drainPeriod <= 0 || e.srcDraining {
			// A source that reported the endpoint draining (a terminating
			// pod) removes it when it is gone: nothing can finish there.
			s.remove(id, e)
			continue
		}
		e.drainUntil = now.Add(s.cfg.drainPeriod)
		if !e.ejectedUntil.IsZero() {
			e.ejectedUntil = time.Time{}
		}
		s.update(e, now)
	}
	return s.finish(changed)
}

// merge recomputes the attributes of an endpoint listed by one or more
// sources and reports whether they changed. Sources earlier in the
// configuration take precedence: weight and priority come from the first
// source listing the endpoint, zone and server name from the first one that
// sets them, and metadata is merged key by key, the earlier source winning.
// The endpoint drains while any source reports it draining.
func (s *state) merge(e *entry, now time.Time) bool {
	srcs := make([]string, 0, len(e.listed))
	for src := range e.listed {
		srcs = append(srcs, src)
	}
	slices.SortFunc(srcs, func(a, b string) int {
		pa, oka := s.cfg.precedence[a]
		pb, okb := s.cfg.precedence[b]
		switch {
		case oka && okb && pa != pb:
			return pa - pb
		case oka != okb:
			if oka {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	first := e.listed[srcs[0]]
	weight, priority := max(first.Weight, 1), first.Priority
	zone, serverName := "", ""
	draining := false
	md := first.Metadata
	for i, src := range srcs {
		t := e.listed[src]
		if zone == "" {
			zone = t.Zone
		}
		if serverName == "" {
			serverName = t.ServerName
		}
		draining = draining || t.Draining
		if i > 0 && len(t.Metadata) > 0 {
			merged := maps.Clone(t.Metadata)
			maps.Copy(merged, md)
			md = merged
		}
	}
	changed := false
	if e.ep.Weight != weight || e.ep.Priority != priority || e.ep.Zone != zone || e.ep.ServerName != serverName ||
		!maps.Equal(e.ep.Metadata, md) {
		// Replace rather than modify: published snapshots share the map.
		e.ep.Weight, e.ep.Priority, e.ep.Zone, e.ep.Metadata = weight, priority, zone, md
		e.ep.ServerName = serverName
		changed = true
	}
	if draining != e.srcDraining || !e.drainUntil.IsZero() {
		e.srcDraining = draining
		e.drainUntil = time.Time{}
		if draining && !e.ejectedUntil.IsZero() {
			e.ejectedUntil = time.Time{}
		}
		s.update(e, now)
		changed = true
	}
	return changed
}

func (s *state) remove(id string, e *entry) {
	if e.ep.Health != discoveryapi.HealthDraining {
		s.transitions = append(s.transitions, transition{e.ep.Source, e.ep.Health, discoveryapi.HealthDraining})
	}
	delete(s.entries, id)
	delete(s.byAddr, e.ep.Address)
}

// applyCheck records the outcome of an active health check.
func (s *state) applyCheck(id string, err error, now time.Time) bool {
	e, ok := s.entries[id]
	if !ok || !e.drainUntil.IsZero() || e.srcDraining {
		return false
	}
	before := e.active
	reason := e.activeReason
	if err == nil {
		e.okStreak++
		e.failStreak = 0
		if e.active == discoveryapi.HealthUnknown || (e.active == discoveryapi.HealthUnhealthy && e.okStreak >= s.cfg.healthyThreshold) {
			e.active, e.activeReason = discoveryapi.HealthHealthy, ""
		}
	} else {
		e.failStreak++
		e.okStreak = 0
		msg := "health check failed: " + err.Error()
		switch {
		case e.active == discoveryapi.HealthUnknown,
			e.active == discoveryapi.HealthHealthy && e.failStreak >= s.cfg.unhealthyThreshold:
			e.active, e.activeReason = discoveryapi.HealthUnhealthy, msg
		case e.active == discoveryapi.HealthUnhealthy:
			e.activeReason = msg
		}
	}
	if e.active == before && e.activeReason == reason {
		return false
	}
	return s.finish(s.update(e, now))
}

// applyResult records the outcome of a request reported by a component and
// ejects the endpoint after too many consecutive failures.
func (s *state) applyResult(id string, err error, now time.Time) bool {
	e, ok := s.entries[id]
	od := s.cfg.outlier
	if !ok || od.ConsecutiveFailures <= 0 {
		return false
	}
	if err == nil {
		e.passiveFails = 0
		return false
	}
	e.passiveFails++
	e.lastErr = err.Error()
	if e.passiveFails < od.ConsecutiveFailures || !e.drainUntil.IsZero() || e.srcDraining || !e.ejectedUntil.IsZero() {
		return false
	}
	if !s.mayEject() {
		return false
	}
	if !e.unejectedAt.IsZero() && od.BaseEjectionTime > 0 {
		e.ejections = max(0, e.ejections-int(now.Sub(e.unejectedAt)/od.BaseEjectionTime))
	}
	e.ejections++
	d := min(time.Duration(e.ejections)*od.BaseEjectionTime, od.MaxEjectionTime)
	e.ejectedUntil = now.Add(d)
	e.passiveFails = 0
	s.ejections = append(s.ejections, ejection{source: e.ep.Source, id: e.ep.ID, until: e.ejectedUntil})
	s.update(e, now)
	return s.finish(true)
}

// mayEject reports whether one more endpoint may be ejected under
// max_ejection_percent (at least one always may, unless the percentage is 0).
func (s *state) mayEject() bool {
	pct := s.cfg.outlier.MaxEjectionPercent
	if pct <= 0 {
		return false
	}
	n, ejected := 0, 0
	for _, e := range s.entries {
		if !e.drainUntil.IsZero() || e.srcDraining {
			continue
		}
		n++
		if !e.ejectedUntil.IsZero() {
			ejected++
		}
	}
	return ejected < max(1, n*pct/100)
}

// expire ends drain periods and ejections that are due.
func (s *state) expire(now time.Time) bool {
	changed := false
	for id, e := range s.entries {
		if !e.drainUntil.IsZero() && !now.Before(e.drainUntil) {
			delete(s.entries, id)
			delete(s.byAddr, e.ep.Address)
			changed = true
			continue
		}
		if !e.ejectedUntil.IsZero() && !now.Before(e.ejectedUntil) {
			e.ejectedUntil = time.Time{}
			e.unejectedAt = now
			e.passiveFails = 0
			s.update(e, now)
			changed = true
		}
	}
	return s.finish(changed)
}

// nextDeadline returns when expire has work next (zero when never).
func (s *state) nextDeadline() time.Time {
	var next time.Time
	for _, e := range s.entries {
		for _, t := range []time.Time{e.drainUntil, e.ejectedUntil} {
			if !t.IsZero() && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
	}
	return next
}

// update recomputes the effective health of e and reports whether it changed.
func (s *state) update(e *entry, now time.Time) bool {
	h, reason := e.active, e.activeReason
	switch {
	case e.srcDraining:
		h, reason = discoveryapi.HealthDraining, "terminating: "+strings.Join(e.drainingSources(), ", ")
	case !e.drainUntil.IsZero():
		h, reason = discoveryapi.HealthDraining, "removed from source "+e.ep.Source
	case !e.ejectedUntil.IsZero():
		h = discoveryapi.HealthUnhealthy
		reason = fmt.Sprintf("ejected until %s after %d consecutive failed requests (ejection %d): %s",
			e.ejectedUntil.UTC().Format(time.RFC3339), s.cfg.outlier.ConsecutiveFailures, e.ejections, e.lastErr)
	}
	if h == e.ep.Health && reason == e.ep.Reason {
		return false
	}
	if h != e.ep.Health {
		s.transitions = append(s.transitions, transition{e.ep.Source, e.ep.Health, h})
		e.ep.Health, e.ep.HealthName, e.ep.Since = h, h.String(), now
	}
	e.ep.Reason = reason
	return true
}

// finish recomputes panic mode after a change.
func (s *state) finish(changed bool) bool {
	if !changed {
		return false
	}
	n, good := 0, 0
	for _, e := range s.entries {
		switch e.ep.Health {
		case discoveryapi.HealthDraining:
			continue
		case discoveryapi.HealthHealthy, discoveryapi.HealthUnknown:
			good++
		}
		n++
	}
	s.panic = s.cfg.panicThreshold > 0 && n > 0 && good*100 < s.cfg.panicThreshold*n
	return true
}

// snapshot returns a new immutable snapshot with the next version.
func (s *state) snapshot(now time.Time) discoveryapi.Snapshot {
	s.version++
	eps := make([]discoveryapi.Endpoint, 0, len(s.entries))
	for _, e := range s.entries {
		eps = append(eps, e.ep)
	}
	slices.SortFunc(eps, func(a, b discoveryapi.Endpoint) int { return strings.Compare(a.ID, b.ID) })
	return discoveryapi.Snapshot{Version: s.version, Time: now, Endpoints: eps, Panic: s.panic}
}

// takeEvents returns and clears the transitions and ejections since the last call.
func (s *state) takeEvents() ([]transition, []ejection) {
	t, e := s.transitions, s.ejections
	s.transitions, s.ejections = nil, nil
	return t, e
}
