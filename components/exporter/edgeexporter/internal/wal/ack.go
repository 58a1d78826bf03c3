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
	before, liveBefore, changed, settled := l.cursor, l.liveCursor, false, false
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
	if l.cursor == before && l.liveCursor == liveBefore {
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
	if seq <= l.cursor || seq >= l.nextSeq || l.inLiveLocked(seq) {
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
	l.mem.drop(seq)
	l.advanceLocked()
	return true, false
}

// inLiveLocked reports whether seq is inside the acknowledged live range.
// Must hold mu.
func (l *Log) inLiveLocked(seq uint64) bool {
	return l.liveStart > 0 && seq >= l.liveStart && seq <= l.liveCursor
}

// doneLocked reports whether seq needs no delivery: under the cursor, in
// the acknowledged live range, or acknowledged (or accounted) above them.
// Must hold mu.
func (l *Log) doneLocked(seq uint64) bool {
	if seq <= l.cursor || l.inLiveLocked(seq) {
		return true
	}
	_, ok := l.acked[seq]
	return ok
}

// BeginLive starts live-first delivery: records appended from now on form
// the live range, which a live Reader (NewLiveReader) returns while a
// backlog Reader (NewBacklogReader) returns the records before it. The
// acknowledgements of both ranges are kept in the cursor file, so that a
// crash re-sends at most the records in flight of either. It returns the
// first sequence of the live range, or 0 when there is nothing
// unacknowledged before it (no backlog: in order is live first). A live
// range already open is kept (one at a time): its start is returned. The
// range ends when the backlog is acknowledged (or evicted) up to it.
func (l *Log) BeginLive() uint64 {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return 0
	}
	if l.liveStart > 0 {
		ls := l.liveStart
		l.mu.Unlock()
		return ls
	}
	if l.pendingRecs == 0 || l.nextSeq <= l.cursor+2 {
		l.mu.Unlock()
		return 0
	}
	l.liveStart, l.liveCursor = l.nextSeq, l.nextSeq-1
	// Acks above the cursor that were at or past the new start: none can
	// be (nothing was appended there yet).
	ls := l.liveStart
	l.writeCursorUnlock()
	return ls
}

// LiveStart returns the first sequence of the live range (0: none).
func (l *Log) LiveStart() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.liveStart
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

// advanceLocked moves the cursor, and the live cursor, over acknowledged
// (or accounted) records; the live range ends (merges into the cursor) when
// the cursor reaches it.
func (l *Log) advanceLocked() {
	if l.liveStart > 0 {
		for {
			s, j, ok := l.locateLocked(l.liveCursor + 1)
			if !ok {
				break
			}
			seq := s.recs[j].seq
			if _, done := l.acked[seq]; !done {
				break
			}
			delete(l.acked, seq)
			l.liveCursor = seq
		}
	}
	for {
		s, j, ok := l.locateLocked(l.cursor + 1)
		if l.liveStart > 0 && (!ok || s.recs[j].seq >= l.liveStart) {
			l.mergeLiveLocked()
			continue
		}
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

// mergeLiveLocked ends the live range: the cursor has reached it (nothing
// unacknowledged is left before it). Must hold mu.
func (l *Log) mergeLiveLocked() {
	l.cursor = max(l.cursor, l.liveCursor)
	l.liveStart, l.liveCursor = 0, 0
}

// advancedLocked follows a cursor move: frees memory and moves fully
// acknowledged segments (except the active one) to the trash: those at the
// front, and those inside the acknowledged live range.
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
	if l.liveStart == 0 {
		return
	}
	kept := l.segs[:0]
	for i, s := range l.segs {
		if i < len(l.segs)-1 && len(s.recs) > 0 && s.first >= l.liveStart && s.lastSeq() <= l.liveCursor {
			l.retireLocked(s)
			l.trash = append(l.trash, s)
			l.trashBytes += s.size
			continue
		}
		kept = append(kept, s)
	}
	clear(l.segs[len(kept):])
	l.segs = kept
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
	if l.liveStart > 0 {
		if cursor+1 >= l.liveStart {
			// The cursor reaches the live range (an eviction): one range.
			st.Acked = max(cursor, l.liveCursor)
		} else {
			st.LiveStart, st.LiveAcked = l.liveStart, l.liveCursor
		}
	}
	for seq, a := range l.acked {
		if seq <= st.Acked || st.inLive(seq) {
			continue
		}
		if !st.setAbove(seq) && !st.setLiveAbove(seq) && !a.dropped {
			st.TailRecords++
			st.TailItems += uint64(a.items)
		}
	}
	if extra != 0 && !st.setAbove(extra) {
		st.setLiveAbove(extra)
	}
	for _, f := range l.evictedInFlight {
		st.FateRecords++
		st.FateItems += uint64(f.items)
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
	st := l.cursorStateLocked()
	l.cmu.Lock()
	l.mu.Unlock()
	var err error
	if l.cur.f == nil {
		err = ErrClosed
	} else {
		for _, s := range batch {
			if !l.cur.durable.covers(s.first, max(s.lastSeq(), s.first)) {
				err = l.cur.writeDurable(st, nil)
				break
			}
		}
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
	l.addDiskLocked(-freed)
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
