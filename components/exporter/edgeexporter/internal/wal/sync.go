// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"fmt"
	"sync"
	"time"
)

// groupCommit coordinates FsyncAlways appenders: one leader fsyncs on behalf
// of every record written so far while the others wait for its result.
type groupCommit struct {
	mu      sync.Mutex
	cond    *sync.Cond
	synced  uint64 // all records with seq <= synced are durable
	syncing bool
	round   uint64 // completed sync rounds
	// result of the last failed round
	failRound  uint64
	failTarget uint64
	failErr    error
}

// commit returns once the record seq is durable, or with the error of the
// fsync that covered it.
func (l *Log) commit(seq uint64) error {
	g := &l.gc
	g.mu.Lock()
	defer g.mu.Unlock()
	startRound := g.round
	for {
		if g.failRound > startRound && g.failTarget >= seq {
			return g.failErr
		}
		if g.synced >= seq {
			return nil
		}
		if !g.syncing {
			g.syncing = true
			g.mu.Unlock()
			target, err := l.syncActive()
			g.mu.Lock()
			g.syncing = false
			g.round++
			if err != nil {
				g.failRound, g.failTarget, g.failErr = g.round, target, err
			} else if target > g.synced {
				g.synced = target
			}
			g.cond.Broadcast()
			if err != nil && target >= seq {
				return err
			}
			continue
		}
		g.cond.Wait()
	}
}

// syncActive fsyncs the active segment and returns the highest sequence that
// the sync covers. Records of older segments were synced when they were
// rolled; the error of that sync is returned if it failed.
func (l *Log) syncActive() (uint64, error) {
	l.mu.Lock()
	s := l.active()
	target := l.nextSeq - 1
	l.mu.Unlock()
	if s == nil {
		return target, nil
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if s.w == nil {
		return target, s.syncErr
	}
	if err := l.timedSync(s.w); err != nil {
		// After a failed fsync the page-cache state of the file is unknown
		// (dirty pages may have been dropped): continue in a new segment.
		s.broken.Store(true)
		err = fmt.Errorf("wal: fsync %s: %w", s.path, err)
		l.setErr(err)
		return target, err
	}
	return target, nil
}

func (l *Log) startBackground() {
	if l.opts.Fsync == FsyncInterval {
		l.wg.Add(1)
		go l.loop(l.opts.FsyncInterval, l.intervalSync)
	}
	l.wg.Add(1)
	go l.loop(l.opts.CursorSyncInterval, func() { _ = l.persistCursor(false) })
}

func (l *Log) loop(every time.Duration, fn func()) {
	defer l.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			fn()
		}
	}
}

// intervalSync fsyncs the active segment if records were written since the
// last sync.
func (l *Log) intervalSync() {
	l.mu.Lock()
	last := l.nextSeq - 1
	l.mu.Unlock()
	l.gc.mu.Lock()
	dirty := last > l.gc.synced
	l.gc.mu.Unlock()
	if !dirty {
		return
	}
	target, err := l.syncActive()
	if err == nil {
		l.gc.mu.Lock()
		if target > l.gc.synced {
			l.gc.synced = target
		}
		l.gc.mu.Unlock()
	}
}

// syncFailed records a failed fsync covering all records up to target, so
// that FsyncAlways appenders waiting for them get the error.
func (l *Log) syncFailed(target uint64, err error) {
	g := &l.gc
	g.mu.Lock()
	g.round++
	g.failRound, g.failTarget, g.failErr = g.round, target, err
	g.cond.Broadcast()
	g.mu.Unlock()
}
