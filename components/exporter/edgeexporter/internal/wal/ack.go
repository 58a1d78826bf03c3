// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"errors"
	"fmt"
	"os"
	"sort"
)

// Ack acknowledges records (delivered). Acks may arrive out of order; the
// cursor advances over the contiguous acknowledged prefix and is written to
// the cursor file at once (one pwrite, no fsync), so that a process crash
// re-delivers at most the records that were in flight. Segments whose records
// are all acknowledged are unlinked in the background once a durable cursor
// covers them. Acks for unknown, evicted or already acknowledged sequences
// are ignored.
func (l *Log) Ack(seqs ...uint64) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	before, changed, settled := l.cursor, false, false
	for _, seq := range seqs {
		c, f := l.ackLocked(seq)
		changed, settled = changed || c, settled || f
	}
	if !changed {
		l.mu.Unlock()
		return
	}
	if settled {
		// A durable state says these records' fate is open: settle it
		// durably, or power loss would count them as dropped.
		l.writeCursorLocked(true)
	}
	if l.cursor == before {
		// Acknowledged out of order: written to the cursor's bitmap, so
		// that a crash neither re-sends nor (after an eviction) counts it.
		l.writeCursorUnlock()
		return
	}
	l.advancedLocked()
	// Appenders waiting for space re-check: acknowledged data may be
	// reclaimed (the active segment rolled away, the trash unlinked).
	l.notifySpaceLocked()
	hasTrash := len(l.trash) > 0
	l.writeCursorUnlock()
	if hasTrash {
		l.kickBackground()
	}
}

// ackLocked marks one record acknowledged and advances the cursor. It
// reports whether the state changed, and whether it settled the fate of a
// record evicted in flight. Must hold mu.
func (l *Log) ackLocked(seq uint64) (changed, settled bool) {
	if _, ok := l.evictedInFlight[seq]; ok {
		// Its segment was evicted while it was in flight: it was delivered
		// after all, and is neither pending nor dropped.
		delete(l.evictedInFlight, seq)
		return true, true
	}
	if seq <= l.cursor || seq >= l.nextSeq {
		return false, false
	}
	if _, dup := l.acked[seq]; dup {
		return false, false
	}
	s, i, ok := l.locateLocked(seq)
	if !ok || s.recs[i].seq != seq {
		return false, false
	}
	delete(l.inflight, seq)
	l.acked[seq] = ackInfo{items: s.recs[i].items}
	l.pendingRecs--
	l.pendingItems -= uint64(s.recs[i].items)
	l.advanceLocked()
	return true, false
}

// locateLocked finds the first record with sequence >= seq.
func (l *Log) locateLocked(seq uint64) (*segment, int, bool) {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].first > seq }) - 1
	if i < 0 {
		i = 0
	}
	for ; i < len(l.segs); i++ {
		s := l.segs[i]
		if j := s.find(seq); j < len(s.recs) {
			return s, j, true
		}
	}
	return nil, 0, false
}

// advanceLocked moves the cursor over acknowledged (or accounted) records.
func (l *Log) advanceLocked() {
	for {
		s, j, ok := l.locateLocked(l.cursor + 1)
		if !ok {
			break
		}
		seq := s.recs[j].seq
		if _, done := l.acked[seq]; !done {
			break
		}
		delete(l.acked, seq)
		l.cursor = seq
	}
}

// advancedLocked follows a cursor move: frees memory and moves fully
// acknowledged segments (except the active one) to the trash.
func (l *Log) advancedLocked() {
	l.mem.dropThrough(l.cursor)
	for len(l.segs) > 1 {
		s := l.segs[0]
		if len(s.recs) > 0 && s.lastSeq() > l.cursor {
			break
		}
		l.segs[0] = nil
		l.segs = l.segs[1:]
		l.retireLocked(s)
		l.trash = append(l.trash, s)
		l.trashBytes += s.size
	}
}

// cursorStateLocked is the state the cursor file should hold now. Must hold
// mu.
func (l *Log) cursorStateLocked() cursorState {
	return l.stateFor(l.cursor, l.pendingRecs, l.pendingItems, 0)
}

// stateFor builds a cursor state with the given cursor and pending counts:
// records acknowledged or dropped above the cursor go into the bitmap
// (extra too, if not 0), those beyond its window count in the tail (they
// are intact on disk and come back as pending after a restart). Must hold
// mu.
func (l *Log) stateFor(cursor, pendRecs, pendItems, extra uint64) cursorState {
	st := cursorState{Acked: cursor, HasWatermark: true, Last: l.nextSeq - 1,
		TailRecords: pendRecs, TailItems: pendItems}
	for seq, a := range l.acked {
		if seq <= cursor {
			continue
		}
		if !st.setAbove(seq) && !a.dropped {
			st.TailRecords++
			st.TailItems += uint64(a.items)
		}
	}
	if extra != 0 {
		st.setAbove(extra)
	}
	for _, n := range l.evictedInFlight {
		st.FateRecords++
		st.FateItems += uint64(n)
	}
	return st
}

// writeCursorUnlock writes the current state to the cursor file (plain
// write) and releases mu. Writes stay in order: cmu is taken before mu is
// released.
func (l *Log) writeCursorUnlock() {
	st := l.cursorStateLocked()
	l.cmu.Lock()
	l.mu.Unlock()
	l.putCursor(st, false)
	l.cmu.Unlock()
}

// writeCursorLocked writes the current state to the cursor file while
// holding mu: durably (rare paths: settling the fate of records evicted in
// flight), or with a plain write.
func (l *Log) writeCursorLocked(durable bool) {
	st := l.cursorStateLocked()
	l.cmu.Lock()
	l.putCursor(st, durable)
	l.cmu.Unlock()
}

// putCursor writes st; a plain write is skipped when st is what the file
// holds already. Must hold cmu.
func (l *Log) putCursor(st cursorState, durable bool) {
	if l.cur.f == nil {
		return
	}
	var err error
	switch {
	case durable:
		err = l.cur.writeDurable(st, nil)
	case !l.cur.same(st):
		err = l.cur.write(st)
	}
	if err != nil {
		l.setErr(err)
	}
}

// reclaim unlinks the segments in the trash: first it makes sure that a
// durable cursor covers them (so that neither a crash nor power loss can
// make recovery count their delivered records as lost), then unlinks them
// without holding mu.
func (l *Log) reclaim() error {
	l.mu.Lock()
	if len(l.trash) == 0 {
		l.mu.Unlock()
		return nil
	}
	batch := l.trash
	l.trash = nil
	var need uint64
	for _, s := range batch {
		need = max(need, s.lastSeq(), s.first)
	}
	st := l.cursorStateLocked()
	l.cmu.Lock()
	l.mu.Unlock()
	var err error
	if l.cur.f == nil {
		err = ErrClosed
	} else if l.cur.durableAcked < need {
		err = l.cur.writeDurable(st, nil)
	}
	l.cmu.Unlock()

	var freed int64
	var failed []*segment
	for _, s := range batch {
		if err != nil {
			failed = append(failed, s)
			continue
		}
		if rerr := l.fs.Remove(s.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			rerr = fmt.Errorf("wal: remove %s: %w", s.path, rerr)
			l.setErr(rerr)
			if err == nil {
				err = rerr
			}
			failed = append(failed, s)
			continue
		}
		freed += s.size
	}
	l.mu.Lock()
	l.diskBytes -= freed
	l.trashBytes -= freed
	l.trash = append(failed, l.trash...)
	// Waiters re-check either way: after a failure they retry the unlink
	// themselves and get its error instead of sleeping.
	l.notifySpaceLocked()
	l.mu.Unlock()
	return err
}

func (l *Log) notifySpaceLocked() {
	if l.spaceWait {
		close(l.spaceCh)
		l.spaceWait = false
	}
}
