// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"fmt"
	"sync"
	"time"
)

// groupCommit coordinates FsyncAlways appenders: one leader fsyncs on behalf
// of every record written so far while the others wait for its result. The
// per-segment results (durable, failErr, dirSynced, gone) live in the
// segments, guarded by mu.
type groupCommit struct {
	mu       sync.Mutex
	cond     *sync.Cond
	syncing  bool
	inFlight int // syncAll calls between snapshot and publish
}

// commit returns once the record seq of segment s is durable (its data and
// the segment's directory entry fsynced), or with the error of the fsync that
// should have covered it. A failed fsync fails every record it covered, for
// good: the page cache may have dropped the dirty pages, so a later fsync of
// the same file proves nothing (the segment is abandoned and the log
// continues in a new one). A record whose segment was removed (acknowledged
// or evicted) before it became durable needs no durability any more.
func (l *Log) commit(seq uint64, s *segment) error {
	g := &l.gc
	g.mu.Lock()
	defer g.mu.Unlock()
	for {
		switch {
		case s.failErr != nil:
			return s.failErr
		case s.durable >= seq && s.dirSynced:
			return nil
		case s.gone && g.inFlight == 0:
			// Removed before an fsync covered the record, and no fsync
			// that could still fail for it is running.
			return nil
		case s.gone:
			g.cond.Wait()
			continue
		}
		if !g.syncing {
			g.syncing = true
			g.mu.Unlock()
			err := l.syncAll(true, false)
			g.mu.Lock()
			g.syncing = false
			g.cond.Broadcast()
			if err == ErrClosed {
				return ErrClosed
			}
			continue
		}
		g.cond.Wait()
	}
}

type syncJob struct {
	s      *segment
	w      File
	target uint64
	seal   bool // close the handle after the sync
	fsync  bool // fsync the data
}

// syncAll fsyncs every segment that holds unsynced data (sealed segments
// always; the active one if active is set), then the directory if segments
// were created, closes sealed and removed handles, and publishes the results
// to commit waiters. It returns the first error. Holds syncMu throughout;
// mu only to snapshot and publish, never across an fsync.
func (l *Log) syncAll(active, closing bool) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()

	l.mu.Lock()
	if l.closed && !closing {
		l.mu.Unlock()
		return ErrClosed
	}
	var jobs []syncJob
	var dirSegs []*segment
	l.gc.mu.Lock()
	for _, s := range l.segs {
		if !s.dirSynced && s.failErr == nil {
			dirSegs = append(dirSegs, s)
		}
		if s.w == nil {
			continue
		}
		last := s.lastSeq()
		seal := s.sealed || closing
		dirty := last > s.durable && s.failErr == nil
		if !seal && !(active && dirty) {
			continue
		}
		jobs = append(jobs, syncJob{s: s, w: s.w, target: last, seal: seal, fsync: dirty})
	}
	l.gc.inFlight++
	l.gc.mu.Unlock()
	var retired []File
	for _, s := range l.retired {
		if s.w != nil {
			retired = append(retired, s.w)
			s.w = nil
		}
	}
	l.retired = nil
	l.mu.Unlock()

	for _, f := range retired {
		_ = f.Close()
	}
	var firstErr error
	errs := make([]error, len(jobs))
	for i, j := range jobs {
		if j.fsync {
			if err := l.timedSync(j.w); err != nil {
				// The page-cache state of the file is unknown now: never
				// fsync it again as if nothing happened; continue in a new
				// segment.
				j.s.broken.Store(true)
				errs[i] = fmt.Errorf("wal: fsync %s: %w", j.s.path, err)
				l.setErr(errs[i])
				if firstErr == nil {
					firstErr = errs[i]
				}
			}
		}
		if j.seal {
			_ = j.w.Close()
		}
	}
	var dirErr error
	if len(dirSegs) > 0 {
		if err := l.fs.SyncDir(l.dir); err != nil {
			dirErr = fmt.Errorf("wal: fsync dir %s: %w", l.dir, err)
			l.setErr(dirErr)
			if firstErr == nil {
				firstErr = dirErr
			}
		}
	}

	l.mu.Lock()
	l.gc.mu.Lock()
	for i, j := range jobs {
		s := j.s
		if errs[i] != nil {
			if s.failErr == nil {
				s.failErr = errs[i]
			}
		} else if j.fsync && j.target > s.durable {
			s.durable = j.target
		}
		if j.seal {
			s.w = nil
		}
	}
	for _, s := range dirSegs {
		if dirErr == nil {
			s.dirSynced = true
			continue
		}
		// The segment's directory entry may not survive power loss: its
		// records are not durable; continue in a new segment.
		if s.failErr == nil {
			s.failErr = dirErr
		}
		s.broken.Store(true)
	}
	l.gc.inFlight--
	l.gc.cond.Broadcast()
	l.gc.mu.Unlock()
	l.mu.Unlock()
	return firstErr
}

func (l *Log) kickBackground() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

func (l *Log) startBackground() {
	l.wg.Add(1)
	go l.background()
}

// background fsyncs (every FsyncInterval under FsyncInterval; sealed
// segments as soon as they are rolled otherwise), unlinks acknowledged
// segments once a durable cursor covers them, and fsyncs the cursor file every
// CursorSyncInterval when it changed.
func (l *Log) background() {
	defer l.wg.Done()
	var syncC <-chan time.Time
	if l.opts.Fsync == FsyncInterval {
		t := time.NewTicker(l.opts.FsyncInterval)
		defer t.Stop()
		syncC = t.C
	}
	ct := time.NewTicker(l.opts.CursorSyncInterval)
	defer ct.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-syncC:
			_ = l.syncAll(true, false)
		case <-ct.C:
			// The cursor is written on every append and acknowledgement;
			// here it is only made durable.
			l.cmu.Lock()
			if err := l.cur.sync(); err != nil {
				l.setErr(err)
			}
			l.cmu.Unlock()
		case <-l.kick:
			// Sealed segments are fsynced and closed as soon as they are
			// rolled, outside the append path.
			_ = l.syncAll(false, false)
			if err := l.reclaim(); err != nil {
				l.setErr(err)
			}
		}
	}
}
