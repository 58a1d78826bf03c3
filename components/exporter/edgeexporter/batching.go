// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// inflightSlots is the semaphore of sending.max_in_flight. Only the
// dispatcher acquires; send goroutines release. A release also cancels the
// context the dispatcher is waiting on for more records (wakeOnRelease), so
// a batch that accumulated while every slot was busy leaves as soon as one
// frees up.
type inflightSlots struct {
	mu    sync.Mutex
	used  int
	max   int
	wake  context.CancelFunc // the dispatcher's wait, cancelled by a release
	freed chan struct{}      // one token per release, for acquire
}

func newInflightSlots(n int) *inflightSlots {
	return &inflightSlots{max: max(1, n), freed: make(chan struct{}, 1)}
}

// acquire takes a slot, waiting for a release; false when ctx is done.
func (s *inflightSlots) acquire(ctx context.Context) bool {
	for {
		s.mu.Lock()
		if s.used < s.max {
			s.used++
			s.mu.Unlock()
			return true
		}
		s.mu.Unlock()
		select {
		case <-s.freed:
		case <-ctx.Done():
			return false
		}
	}
}

func (s *inflightSlots) release() {
	s.mu.Lock()
	s.used--
	w := s.wake
	s.wake = nil
	s.mu.Unlock()
	if w != nil {
		w()
	}
	select {
	case s.freed <- struct{}{}:
	default:
	}
}

// waitContext returns a context that ends at deadline, when parent ends, or
// when a slot is released, whichever comes first; free is true (and ctx nil)
// when a slot is free already. The caller must call cancel.
func (s *inflightSlots) waitContext(parent context.Context, deadline time.Time) (ctx context.Context, cancel context.CancelFunc, free bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.used < s.max {
		return nil, nil, true
	}
	ctx, stop := context.WithDeadline(parent, deadline)
	s.wake = stop
	return ctx, func() {
		s.mu.Lock()
		s.wake = nil
		s.mu.Unlock()
		stop()
	}, false
}

// durableGate keeps the durability contract of buffer.fsync "always" for a
// dispatcher that sends at once: the log's reader sees a record as soon as it
// is written, before the group commit has fsynced it, so the dispatcher waits
// until every record of a batch is durable (the Append that wrote it, or a
// later one, returned) before sending it. Under "interval" and "never" a
// record is in the log under the mode once it is written, and the gate is
// open.
type durableGate struct {
	enabled bool
	seq     atomic.Uint64 // every record up to seq is durable

	mu sync.Mutex
	ch chan struct{} // closed by the next advance; nil when nobody waits
}

// advance records that every record up to seq is durable.
func (g *durableGate) advance(seq uint64) {
	if !g.enabled {
		return
	}
	for {
		cur := g.seq.Load()
		if seq <= cur {
			return
		}
		if g.seq.CompareAndSwap(cur, seq) {
			break
		}
	}
	g.mu.Lock()
	if g.ch != nil {
		close(g.ch)
		g.ch = nil
	}
	g.mu.Unlock()
}

// durable reports whether the record seq may be sent.
func (g *durableGate) durable(seq uint64) bool {
	return !g.enabled || g.seq.Load() >= seq
}

// wait returns true once the record seq is durable, false when ctx ends
// first.
func (g *durableGate) wait(ctx context.Context, seq uint64) bool {
	for !g.durable(seq) {
		g.mu.Lock()
		if g.ch == nil {
			g.ch = make(chan struct{})
		}
		ch := g.ch
		g.mu.Unlock()
		if g.durable(seq) {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// doneContext is an ended context: Reader.Next with it returns a record that
// is already in the log and never waits for one.
var doneContext = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()
