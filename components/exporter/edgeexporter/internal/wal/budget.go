// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// makeRoomLocked is called when the next write would exceed MaxBytes. It
// reports whether it changed something so that the caller should re-check,
// or returns the error to give to the appender. Must hold mu; the Block
// policy releases it while waiting.
func (l *Log) makeRoomLocked(ctx context.Context) (bool, error) {
	// Acknowledged data in the active segment can be reclaimed by rolling.
	if act := l.active(); act != nil && len(act.recs) > 0 && act.lastSeq() <= l.cursor {
		if err := l.rollLocked(); err != nil {
			l.setErr(err)
			return false, err
		}
		l.deleteAckedLocked()
		return true, nil
	}
	switch l.opts.WhenFull {
	case DropNewest:
		l.st.RejectedFull++
		return false, fmt.Errorf("%w: %d of %d bytes used", ErrFull, l.diskBytes, l.opts.MaxBytes)
	case Block:
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
	default: // DropOldest
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
}

// evictFrontLocked deletes the oldest segment, counting its unacknowledged
// records as dropped, and moves the cursor past it.
func (l *Log) evictFrontLocked() error {
	s := l.segs[0]
	if err := l.fs.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("wal: evict %s: %w", s.path, err)
	}
	var recs, items uint64
	for _, r := range s.recs {
		if r.seq <= l.cursor {
			continue
		}
		if _, ok := l.acked[r.seq]; ok {
			delete(l.acked, r.seq)
			continue
		}
		recs++
		items += uint64(r.items)
	}
	l.pendingRecs -= recs
	l.pendingItems -= items
	l.st.DroppedBudgetRecords += recs
	l.st.DroppedBudgetItems += items
	if recs > 0 {
		l.drops = append(l.drops, dropEvent{reason: DropReasonBudget, records: recs, items: items})
		l.logf("wal: budget full, evicted %s with %d unacknowledged records (%d items)", s.path, recs, items)
	}
	if last := s.lastSeq(); last > l.cursor {
		l.cursor = last
	}
	l.dropFrontLocked()
	l.advanceLocked()
	return nil
}
