// SPDX-License-Identifier: Apache-2.0

package discoveryext // import "github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext"

import (
	"context"
	"errors"
	"sync"

	"github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext/discoveryapi"
)

// subscriber delivers snapshots to one callback from a goroutine of its own.
// notify has room for one signal: a slow callback coalesces the signals sent
// meanwhile and then reads the latest snapshot, so the publisher never waits.
type subscriber struct {
	fn     func(discoveryapi.Snapshot)
	load   func() *discoveryapi.Snapshot
	notify chan struct{}
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

func (s *subscriber) run() {
	defer close(s.done)
	delivered := false
	var last uint64
	for {
		select {
		case <-s.stop:
			return
		case <-s.notify:
		}
		select {
		case <-s.stop:
			return
		default:
		}
		snap := s.load()
		if delivered && snap.Version <= last {
			continue
		}
		delivered, last = true, snap.Version
		s.fn(*snap)
	}
}

func (s *subscriber) close() {
	s.once.Do(func() { close(s.stop) })
}

// subscribers is the set of current subscribers.
type subscribers struct {
	mu     sync.Mutex
	set    map[*subscriber]struct{}
	closed bool
}

func (ss *subscribers) add(fn func(discoveryapi.Snapshot), load func() *discoveryapi.Snapshot) (func(), error) {
	if fn == nil {
		return nil, errors.New("discovery: Subscribe needs a function")
	}
	s := &subscriber{
		fn: fn, load: load,
		notify: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	ss.mu.Lock()
	if ss.closed {
		ss.mu.Unlock()
		return nil, errShutdown
	}
	if ss.set == nil {
		ss.set = map[*subscriber]struct{}{}
	}
	ss.set[s] = struct{}{}
	ss.mu.Unlock()
	s.notify <- struct{}{} // deliver the current snapshot first
	go s.run()
	return func() {
		ss.mu.Lock()
		delete(ss.set, s)
		ss.mu.Unlock()
		s.close()
		<-s.done
	}, nil
}

// notify signals every subscriber without waiting for any.
func (ss *subscribers) notify() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for s := range ss.set {
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
}

// closeAll stops every subscriber and waits for running callbacks to end or
// ctx to be done; later Subscribe calls fail.
func (ss *subscribers) closeAll(ctx context.Context) error {
	ss.mu.Lock()
	ss.closed = true
	all := make([]*subscriber, 0, len(ss.set))
	for s := range ss.set {
		all = append(all, s)
	}
	ss.set = nil
	ss.mu.Unlock()
	for _, s := range all {
		s.close()
	}
	for _, s := range all {
		select {
		case <-s.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
