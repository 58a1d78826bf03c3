// SPDX-License-Identifier: Apache-2.0

// Package resourceapi lets a component that detects where the process runs
// (the enrich processor's detectors) hand those resource attributes to an
// extension that reports them (the opamp extension's agent description),
// without either importing the other. It is a module of its own with no
// dependencies.
//
// The extension implements Receiver. The detecting component, at Start,
// looks for Receivers among host.GetExtensions() and calls
// SetDetectedResource on each whenever its detected set changes, and with
// nil at Shutdown.
package resourceapi // import "github.com/otelcol-edge/otelcol-edge/components/resourceapi"

import "maps"

// Receiver is implemented by extensions that want the resource attributes
// detected in this process.
type Receiver interface {
	// SetDetectedResource replaces the attributes published by source (the
	// publishing component's ID, e.g. "enrich/agent"). A nil or empty map
	// withdraws them. The receiver must copy attrs if it keeps them, must
	// not block, and may be called from any goroutine.
	SetDetectedResource(source string, attrs map[string]string)
}

// Publisher sends one component's detected attributes to every Receiver
// among a host's extensions, only when they changed. Safe for use by one
// goroutine at a time (callers serialize, e.g. under their own lock).
type Publisher struct {
	source    string
	receivers []Receiver
	last      map[string]string
	published bool
}

// NewPublisher returns a Publisher for source that sends to the Receivers
// among exts (the values of component.Host.GetExtensions()). It returns a
// Publisher with no receivers (every call a no-op) when there are none.
func NewPublisher[K comparable, E any](source string, exts map[K]E) *Publisher {
	p := &Publisher{source: source}
	for _, e := range exts {
		if r, ok := any(e).(Receiver); ok {
			p.receivers = append(p.receivers, r)
		}
	}
	return p
}

// Receivers is the number of receivers found (0 for a nil Publisher).
func (p *Publisher) Receivers() int {
	if p == nil {
		return 0
	}
	return len(p.receivers)
}

// Publish sends attrs (copied) when they differ from the last set sent.
func (p *Publisher) Publish(attrs map[string]string) {
	if p == nil || len(p.receivers) == 0 {
		return
	}
	if p.published && maps.Equal(p.last, attrs) {
		return
	}
	p.last, p.published = maps.Clone(attrs), true
	for _, r := range p.receivers {
		r.SetDetectedResource(p.source, maps.Clone(attrs))
	}
}

// Withdraw tells every receiver the source's attributes are gone.
func (p *Publisher) Withdraw() {
	if p == nil || len(p.receivers) == 0 || !p.published {
		return
	}
	p.last, p.published = nil, false
	for _, r := range p.receivers {
		r.SetDetectedResource(p.source, nil)
	}
}
