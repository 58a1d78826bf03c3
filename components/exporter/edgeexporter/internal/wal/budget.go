// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// errDropNew is returned by SharedBudget.evict when no log ranked at or
// below the appending one holds a record: Append drops the new record.
var errDropNew = errors.New("wal: no room below the appending class")

// makeRoomLocked is called when the next write would exceed MaxBytes. It
// reports whether it changed something so that the caller should re-check,
// or returns the error to give to the appender. Must hold mu; it releases it
// while waiting for space or unlinking.
func (l *Log) makeRoomLocked(ctx context.Context) (bool, error) {
	if applied, ok, err := l.localRoomLocked(ctx); applied {
		return ok, err
	}
	if l.shared != nil {
		// Space other logs of the shared budget free without dropping.
		if l.shared.reclaimOthers(l) {
			return true, nil
		}
	}
	switch l.opts.WhenFull {
	case DropNewest:
		l.st.RejectedFull++
		return false, fmt.Errorf("%w: %d of %d bytes used", ErrFull, l.usedLocked(), l.opts.MaxBytes)
	case Block:
		if l.shared != nil {
			// Acknowledgements in any log of the budget free space: poll.
			return l.shared.waitSpace(ctx, l)
		}
		return l.waitSpaceLocked(ctx)
	default: // DropOldest
		if l.shared != nil {
			return l.shared.evict(l)
		}
		return l.evictOneLocked()
	}
}

// localRoomLocked frees space of this log without dropping data: the
// trash, an acknowledged active segment, segments acknowledged inside the
// live range. applied reports that a step was taken, ok and err its result.
// Must hold mu; it may release it while unlinking or waiting.
func (l *Log) localRoomLocked(ctx context.Context) (applied, ok bool, err error) {
	// Acknowledged segments waiting to be unlinked come first.
	if l.trashBytes > 0 {
		if len(l.trash) > 0 {
			l.mu.Unlock()
			err := l.reclaim()
			l.mu.Lock()
			return true, err == nil, err
		}
		// Another goroutine is unlinking them: wait for it.
		ok, err := l.waitSpaceLocked(ctx)
		return true, ok, err
	}
	// Acknowledged data in the active segment can be reclaimed by rolling.
	if act := l.active(); act != nil && len(act.recs) > 0 && (act.lastSeq() <= l.cursor ||
		l.liveStart > 0 && act.first >= l.liveStart && act.lastSeq() <= l.liveCursor) {
		if err := l.rollLocked(); err != nil {
			l.setErr(err)
			return true, false, err
		}
		l.advancedLocked()
		return true, true, nil
	}
	// Sealed segments acknowledged inside the live range go to the trash
	// only when a cursor moves (advancedLocked): offline, none moves, so
	// look for them here before anything is refused or evicted.
	if l.liveStart > 0 {
		before := len(l.trash)
		l.advancedLocked()
		if len(l.trash) > before {
			return true, true, nil
		}
	}
	return false, false, nil
}

// evictOneLocked evicts the oldest segment of this log (DropOldest): it
// reports false when the log holds no record to evict. Must hold mu.
func (l *Log) evictOneLocked() (bool, error) {
	if len(l.segs) > 1 {
		if err := l.evictFrontLocked(); err != nil {
			l.setErr(err)
			return false, err
		}
		return true, nil
	}
	if act := l.active(); act != nil && len(act.recs) > 0 {
		// Only the active segment is left: roll so it can be evicted.
		if err := l.rollLocked(); err != nil {
			l.setErr(err)
			return false, err
		}
		return true, nil
	}
	return false, nil
}

// usedLocked is the disk usage the budget is checked against: the shared
// budget's when there is one. Must hold mu.
func (l *Log) usedLocked() int64 {
	if l.shared != nil {
		return l.shared.used.Load()
	}
	return l.diskBytes
}

// addDiskLocked changes the log's disk usage (and the shared budget's).
// Must hold mu.
func (l *Log) addDiskLocked(n int64) {
	l.diskBytes += n
	if l.shared != nil {
		l.shared.used.Add(n)
	}
}

// waitSpaceLocked waits until space is freed, the log is closed or ctx is
// done. Must hold mu; releases it while waiting.
func (l *Log) waitSpaceLocked(ctx context.Context) (bool, error) {
	if !l.spaceWait {
		l.spaceCh = make(chan struct{})
		l.spaceWait = true
	}
	ch := l.spaceCh
	l.mu.Unlock()
	var err error
	select {
	case <-ch:
	case <-l.closedCh:
	case <-ctx.Done():
		err = ctx.Err()
	}
	l.mu.Lock()
	return err == nil, err
}

// evictFrontLocked deletes the oldest segment and moves the cursor past it.
// Its records that nobody is sending are dropped and counted; records in
// flight are counted when their fate is known (acknowledged: sent; the
// reader rewinds: dropped). The new state is committed to the cursor file
// (durably) before anything is reported or unlinked, so a crash at any point
// neither loses nor repeats the count. Must hold mu.
func (l *Log) evictFrontLocked() error {
	s := l.segs[0]
	var recs, items uint64
	var pendRecs, pendItems uint64
	for _, r := range s.recs {
		if l.doneLocked(r.seq) {
			continue
		}
		pendRecs++
		pendItems += uint64(r.items)
		if _, ok := l.inflight[r.seq]; !ok {
			recs++
			items += uint64(r.items)
		}
	}
	st := l.stateFor(max(l.cursor, s.lastSeq(), s.first-1), l.pendingRecs-pendRecs, l.pendingItems-pendItems, 0)
	st.FateRecords += pendRecs - recs
	st.FateItems += pendItems - items

	apply := func() {
		for _, r := range s.recs {
			if r.seq <= l.cursor {
				continue
			}
			delete(l.acked, r.seq)
			if f, ok := l.inflight[r.seq]; ok {
				delete(l.inflight, r.seq)
				l.evictedInFlight[r.seq] = f
			}
		}
		l.cursor = st.Acked
		if st.LiveStart == 0 {
			l.liveStart, l.liveCursor = 0, 0
		}
		l.pendingRecs -= pendRecs
		l.pendingItems -= pendItems
		l.st.DroppedBudgetRecords += recs
		l.st.DroppedBudgetItems += items
		if recs > 0 && l.opts.OnDrop != nil {
			l.opts.OnDrop(DropReasonBudget, recs, items)
		}
	}
	if err := l.commitDropLocked(st, apply); err != nil {
		return fmt.Errorf("wal: evict %s: %w", s.path, err)
	}
	if recs > 0 {
		l.logf("wal: budget full, evicted %s with %d unacknowledged records (%d items)", s.path, recs, items)
	}
	l.segs[0] = nil
	l.segs = l.segs[1:]
	l.retireLocked(s)
	if rerr := l.fs.Remove(s.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		// Accounted already; the unlink is retried with the trash.
		l.trash = append(l.trash, s)
		l.trashBytes += s.size
		l.setErr(fmt.Errorf("wal: evict %s: %w", s.path, rerr))
	} else {
		l.addDiskLocked(-s.size)
	}
	l.afterDropLocked()
	return nil
}

// commitDropLocked commits the state st that accounts for a drop (eviction,
// corruption found when reading) to the cursor file's durable slot; apply
// updates the in-memory state and reports the drop right after the pwrite,
// the commit point for a process crash. It returns an error only when
// nothing was committed (an fsync error after the pwrite is recorded, not
// returned: the drop is committed for a process crash). Must hold mu.
func (l *Log) commitDropLocked(st cursorState, apply func()) error {
	l.cmu.Lock()
	defer l.cmu.Unlock()
	if l.cur.f == nil {
		return ErrClosed
	}
	committed := false
	err := l.cur.writeDurable(st, func() { committed = true; apply() })
	if committed {
		if err != nil {
			l.setErr(err)
		}
		return nil
	}
	return err
}

// afterDropLocked follows a committed drop: the cursor may move over records
// acknowledged out of order, which the plain slot then records. Must hold mu.
func (l *Log) afterDropLocked() {
	l.advanceLocked()
	l.advancedLocked()
	l.writeCursorLocked(false)
}
