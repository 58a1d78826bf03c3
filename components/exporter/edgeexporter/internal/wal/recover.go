// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
)

// quarantineSuffix marks a file named like a segment that recovery set aside
// because it held no record.
const quarantineSuffix = ".corrupt"

// recoveredCursor is the cursor as found on disk.
type recoveredCursor struct {
	cs        cursorState
	have      bool // a valid cursor file was read
	current   bool // it is of the current (slotted) format
	watermark bool // it carries a watermark
	countFrom uint64
}

// recordwise reports whether a loss of seq is counted record by record (above
// the watermark, or without a cursor) rather than from the watermark.
func (rc recoveredCursor) recordwise(seq uint64) bool { return !rc.have || seq > rc.countFrom }

// scannedSegment is one segment file as found by recovery.
type scannedSegment struct {
	seg *segment
	res scanResult
}

// lostHead is a segment of ours (intact segment header, data beyond it) in
// which no record is intact any more: its name says that the record of that
// sequence was appended, so it is counted as lost and the sequences its bytes
// may have held are never assigned again. Only a name that follows what is
// known (the records before it, or the cursor) is trusted: a planted or
// misnamed file must not make recovery count or skip absurd numbers.
type lostHead struct {
	first   uint64
	size    int64
	trusted bool // set by countLossesStep
}

// aside is a file that recovery sets aside once its counts are committed.
type aside struct {
	path string
	size int64
	why  string
}

// seqsIn bounds how many records n bytes of a segment can hold (at least one).
func seqsIn(n int64) uint64 { return max(1, uint64(n/recordHeaderSize)) }

// recover rebuilds the in-memory state from the directory in separate steps:
// read the cursor, scan the segments, count what was lost, commit the counts
// to the cursor file (and only then report them), delete what is no longer
// needed, and open the tail for appending. Deleting after the commit means a
// crash during recovery can neither lose a count nor repeat it.
func (l *Log) recover() error {
	rec := &l.recovery
	listing, err := listDir(l.fs, l.dir)
	if err != nil {
		return fmt.Errorf("wal: read directory %s: %w", l.dir, err)
	}
	for _, name := range listing.ignored {
		l.note(rec, "ignoring unknown file %s", name)
	}
	for _, name := range listing.quarantined {
		l.note(rec, "file %s was set aside by an earlier recovery; delete it once inspected", name)
	}
	_ = l.fs.Remove(filepath.Join(l.dir, cursorTmpName))
	for _, name := range listing.privateTmp {
		// A crash while breaking a hard link: the name it was to replace
		// still holds the same content.
		_ = l.fs.Remove(filepath.Join(l.dir, name))
	}

	rc, err := l.readCursorStep()
	if err != nil {
		return err
	}
	scanned, lost, asides, unreadable, err := l.scanStep(listing, rc)
	if err != nil {
		return err
	}
	l.countLossesStep(rc, scanned, lost)
	l.buildStateStep(rc, scanned, lost, unreadable)
	if err := l.commitCursorStep(rc); err != nil {
		return err
	}
	// Only now, with the counts committed: a file set aside is never read
	// again, so a crash before the commit must find it where it was.
	for _, a := range asides {
		l.setAside(a.path, a.size, a.why)
	}
	l.deleteStep()
	var tail scanResult
	if n := len(scanned); n > 0 {
		tail = scanned[n-1].res // deleteStep keeps the last segment
	}
	if err := l.openTailStep(tail); err != nil {
		return err
	}
	// Make the directory's entries durable: the segment files a previous
	// life created (and never dir-fsynced if it was killed) and this
	// recovery's changes. Until that succeeds, the segments' entries are not
	// known to be durable: FsyncAlways commits fsync the directory again.
	if err := l.fs.SyncDir(l.dir); err != nil {
		l.note(rec, "cannot fsync directory %s: %v", l.dir, err)
		for _, s := range l.segs {
			s.dirSynced = false
		}
	}
	return nil
}

func (l *Log) note(r *Recovery, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.Notes = append(r.Notes, msg)
	l.logf("wal recovery: %s", msg)
}

// readCursorStep reads the cursor file. A missing or corrupt file is not an
// error: every record is then treated as unacknowledged.
func (l *Log) readCursorStep() (recoveredCursor, error) {
	rec := &l.recovery
	cs, format, err := readCursorFormat(l.fs, l.dir)
	rc := recoveredCursor{cs: cs, have: err == nil}
	switch {
	case err == nil:
		// An earlier format is replaced by a new file of the current one.
		rc.current = format == cursorFormat
		rc.watermark = cs.HasWatermark
	case errors.Is(err, os.ErrNotExist):
		rc.cs = cursorState{}
	case errors.Is(err, errCursorCorrupt):
		rec.CursorRebuilt = true
		rc.cs = cursorState{}
		l.note(rec, "cursor file corrupt; treating all records as unacknowledged")
	default:
		return rc, fmt.Errorf("wal: read cursor in %s: %w", l.dir, err)
	}
	// At and below countFrom, losses are counted from the watermark (exactly,
	// in aggregate); above it, record by record.
	rc.countFrom = rc.cs.Acked
	if rc.watermark {
		rc.countFrom = max(rc.cs.Acked, rc.cs.Last)
	}
	return rc, nil
}

// maxSegmentFile is the largest size a segment written by the log can have:
// files named like segments that are larger are set aside unscanned.
func (l *Log) maxSegmentFile() int64 {
	return max(int64(MaxSegmentBytes), segmentHeaderSize+recordHeaderSize+int64(l.opts.MaxRecordBytes))
}

// scanStep scans every segment file through a bounded window, building the
// record index, and fsyncs every segment it keeps: after a process crash,
// records whose fsync had not run yet are only in the page cache, and a
// power loss after the restart would make them vanish under the watermark
// that recovery commits. Files that hold no record (garbage, planted or
// destroyed) are set aside. Files that cannot be read are left in place; their names
// and sizes are returned so that no new segment reuses their sequences.
func (l *Log) scanStep(listing dirListing, rc recoveredCursor) ([]scannedSegment, []lostHead, []aside, map[uint64]int64, error) {
	unreadable := map[uint64]int64{}
	rec := &l.recovery
	if !rc.have && len(listing.segments) > 0 && !rec.CursorRebuilt {
		rec.CursorRebuilt = true
		l.note(rec, "cursor file missing; treating all records as unacknowledged")
	}
	buf := make([]byte, scanWindow)
	var out []scannedSegment
	var lost []lostHead
	var asides []aside
	hint := 0
	var lastSeq uint64
	for _, first := range listing.segments {
		path := l.segPath(first)
		f, err := l.fs.OpenFile(path, os.O_RDONLY, 0)
		var fi os.FileInfo
		if err == nil {
			fi, err = f.Stat()
		}
		if err != nil {
			if f != nil {
				_ = f.Close()
			}
			if errors.Is(err, os.ErrPermission) {
				return nil, nil, nil, nil, fmt.Errorf("wal: read segment %s: %w", path, err)
			}
			l.note(rec, "skipping unreadable segment %s: %v", path, err)
			unreadable[first] = 0
			continue
		}
		size := fi.Size()
		rec.Segments++
		if size > l.maxSegmentFile() {
			_ = f.Close()
			asides = append(asides, aside{path, size, "larger than any segment"})
			continue
		}
		seg := &segment{first: first, path: path, size: size, mtime: fi.ModTime().UnixNano()}
		// Size the index from the previous segment's density, so that
		// growing it leaves little garbage.
		seg.recs = make([]recMeta, 0, int(min(size/recordHeaderSize, int64(hint+hint/8+16))))
		res, err := scan(f, size, first, lastSeq, l.opts.MaxRecordBytes, buf, func(off int64, h recordHeader, ok bool) {
			if ok {
				seg.recs = append(seg.recs, recMeta{seq: h.seq, off: uint32(off), length: h.length, items: h.items, kind: h.kind})
			}
		})
		kept := err == nil && !(res.records == 0 && len(res.corrupt) == 0 && res.torn == nil && (res.badHeader || size > segmentHeaderSize))
		if kept {
			if serr := l.timedSync(f); serr != nil {
				l.note(rec, "cannot fsync %s: %v", path, serr)
			}
		}
		_ = f.Close()
		if err != nil {
			if errors.Is(err, os.ErrPermission) {
				return nil, nil, nil, nil, fmt.Errorf("wal: read segment %s: %w", path, err)
			}
			l.note(rec, "skipping unreadable segment %s: %v", path, err)
			unreadable[first] = size
			continue
		}
		if !kept {
			// Nothing framed at all: garbage, a planted file or a destroyed
			// segment (its losses are counted from the watermark and gaps).
			// A segment of ours with data beyond its header held at least
			// the record its name gives (the first record is written at
			// once after the header): that one is counted even where no
			// watermark covers it (a power loss before any durable cursor).
			if !res.badHeader && size > segmentHeaderSize {
				lost = append(lost, lostHead{first: first, size: size})
			}
			if size > 0 {
				asides = append(asides, aside{path, size, "no record in it"})
			} else if err := l.fs.Remove(path); err != nil {
				l.note(rec, "cannot remove empty %s: %v", path, err)
			}
			continue
		}
		if res.badHeader {
			rec.CorruptSegments++
			l.note(rec, "segment %s has a damaged header; %d records recovered behind it", path, res.records)
		}
		lastSeq = res.lastSeq
		hint = len(seg.recs)
		out = append(out, scannedSegment{seg: seg, res: res})
	}
	return out, lost, asides, unreadable, nil
}

// setAside renames a file that cannot be a segment so that it is kept for
// inspection but never read again; one set-aside file is kept at most.
func (l *Log) setAside(path string, size int64, why string) {
	rec := &l.recovery
	rec.CorruptSegments++
	rec.CorruptBytes += size
	if ents, err := listDir(l.fs, l.dir); err == nil {
		for _, q := range ents.quarantined {
			qp := filepath.Join(l.dir, q)
			if err := l.fs.Remove(qp); err == nil {
				for i, p := range rec.SetAside {
					if p == qp {
						rec.SetAside = append(rec.SetAside[:i], rec.SetAside[i+1:]...)
						break
					}
				}
			}
		}
	}
	dst := path + quarantineSuffix
	if err := l.fs.Rename(path, dst); err != nil {
		l.note(rec, "cannot set aside %s: %v; removing it", path, err)
		_ = l.fs.Remove(path)
		return
	}
	rec.SetAside = append(rec.SetAside, dst)
	l.note(rec, "set aside %s (%d bytes): %s", dst, size, why)
}

// countLossesStep counts the records lost to damage: record by record above
// the cursor's watermark (a corrupt payload behind an intact header, a gap in
// the sequences, a torn last record), and in aggregate below it (the
// watermark says how many intact records and items were there).
func (l *Log) countLossesStep(rc recoveredCursor, scanned []scannedSegment, lost []lostHead) {
	rec := &l.recovery
	var expected uint64
	countGap := func(from, to uint64) { // seqs in [from, to) are missing
		if rc.have && from <= rc.countFrom {
			from = rc.countFrom + 1
		}
		if to > from {
			rec.CorruptRecords += to - from
		}
	}
	countCorrupt := func(h recordHeader) {
		countGap(expected, h.seq)
		if rc.recordwise(h.seq) {
			rec.CorruptRecords++
			rec.CorruptItems += uint64(h.items)
		}
		expected = h.seq + 1
	}
	start := func(first uint64) {
		if expected == 0 {
			expected = max(first, 1) // sequence 0 is never assigned
			if rc.have && rc.cs.Acked+1 < expected {
				// Records between the cursor and the first segment are gone
				// (a deleted or set-aside first segment): a gap like any other.
				expected = rc.cs.Acked + 1
			}
		}
	}
	li := 0
	lostBefore := func(limit uint64) { // the lost heads below limit, in order
		for ; li < len(lost) && lost[li].first < limit; li++ {
			h := &lost[li]
			n := h.first
			start(n)
			if n < expected {
				continue // within what was already counted or found
			}
			if n > expected && !(rc.have && n <= rc.countFrom+1) {
				// Nothing known leads up to this name: not trusted.
				l.note(rec, "segment %s has no intact record and does not follow the records before it: not counted", l.segPath(n))
				continue
			}
			h.trusted = true
			countGap(expected, n)
			if rc.recordwise(n) {
				rec.CorruptRecords++ // how many records its bytes held is unknown
			}
			expected = n + 1
		}
	}
	for _, sc := range scanned {
		seg, res := sc.seg, sc.res
		lostBefore(seg.first)
		start(seg.first)
		if seg.first > expected {
			// Without a cursor, a gap between segments is not counted: it
			// may be segments acknowledged in a live range and unlinked
			// (the cursor alone says so); a segment lost together with the
			// cursor file is two faults at once.
			if rc.have {
				countGap(expected, seg.first)
			}
			expected = seg.first
		}
		ci := 0
		for _, r := range seg.recs {
			for ci < len(res.corrupt) && res.corrupt[ci].h.seq < r.seq {
				countCorrupt(res.corrupt[ci].h)
				ci++
			}
			countGap(expected, r.seq)
			expected = r.seq + 1
		}
		for ; ci < len(res.corrupt); ci++ {
			countCorrupt(res.corrupt[ci].h)
		}
		rec.Records += uint64(len(seg.recs))
		rec.CorruptBytes += res.corruptBytes
		if t := res.torn; t != nil {
			// A torn record is cut away and its sequence is not reused: it
			// is counted here once and falls under the watermark after.
			countGap(expected, t.seq)
			if rc.recordwise(t.seq) {
				rec.CorruptRecords++
				rec.CorruptItems += uint64(t.items)
			}
			expected = t.seq + 1
		}
		if res.tailBytes > 0 {
			rec.TruncatedBytes += res.tailBytes
			l.note(rec, "%d unreadable bytes at the end of %s", res.tailBytes, seg.path)
			if n, ok := tailLost(seg, res); ok && n >= expected {
				// Only whole records are ever appended: bytes after the
				// last record are (part of) the next one, whose header is
				// gone. It is counted even where no watermark covers it.
				countGap(expected, n)
				if rc.recordwise(n) {
					rec.CorruptRecords++ // its items are unknown
				}
				expected = n + 1
			}
		}
	}
	lostBefore(math.MaxUint64)
	if rc.watermark {
		// Everything the watermark says was intact beyond the cursor and is
		// no longer intact is lost: damaged headers, truncated or deleted
		// segments, damaged payloads alike.
		var recs, items uint64
		for _, sc := range scanned {
			for _, r := range sc.seg.recs {
				if r.seq > rc.cs.Acked && r.seq <= rc.cs.Last && !rc.cs.done(r.seq) {
					recs++
					items += uint64(r.items)
				}
			}
		}
		if rc.cs.TailRecords > recs {
			rec.CorruptRecords += rc.cs.TailRecords - recs
		}
		if rc.cs.TailItems > items {
			rec.CorruptItems += rc.cs.TailItems - items
		}
	}
}

// tailLost returns the sequence of the record whose bytes follow the last
// record of a segment without a readable header (ok=false when there are no
// such bytes, or they are the torn record, counted apart).
func tailLost(seg *segment, res scanResult) (uint64, bool) {
	if res.tailBytes == 0 || res.torn != nil {
		return 0, false
	}
	return max(seg.first, res.lastSeq+1), true
}

// buildStateStep sets the cursor, the next sequence and the counters from
// what was scanned.
func (l *Log) buildStateStep(rc recoveredCursor, scanned []scannedSegment, lost []lostHead, unreadable map[uint64]int64) {
	rec := &l.recovery
	cursor := rc.cs.Acked
	if !rc.have {
		cursor = 0
		if len(scanned) > 0 && scanned[0].seg.first > 0 {
			cursor = scanned[0].seg.first - 1
		}
	}
	next := cursor + 1
	for _, sc := range scanned {
		next = max(next, sc.seg.first, sc.res.lastSeq+1)
		if sc.res.torn != nil {
			next = max(next, sc.res.torn.seq+1)
		}
		if n, ok := tailLost(sc.seg, sc.res); ok {
			next = max(next, n+seqsIn(sc.res.tailBytes))
		}
	}
	for _, h := range lost {
		if h.trusted {
			// Never reuse a sequence its bytes may have held.
			next = max(next, h.first+seqsIn(h.size-segmentHeaderSize))
		}
	}
	for first, size := range unreadable {
		// Never reuse a sequence that a file left in place may hold.
		next = max(next, first+uint64(size/recordHeaderSize)+1)
	}
	if rc.watermark {
		next = max(next, rc.cs.Last+1)
	}
	l.cursor = cursor
	l.nextSeq = next
	if rc.have && rc.cs.LiveStart > 0 && rc.cs.LiveStart <= next && rc.cs.LiveAcked+1 >= rc.cs.LiveStart && cursor+1 < rc.cs.LiveStart {
		l.liveStart, l.liveCursor = rc.cs.LiveStart, rc.cs.LiveAcked
	}
	for _, sc := range scanned {
		s := sc.seg
		s.durable, s.dirSynced = s.lastSeq(), true
		for _, r := range s.recs {
			if r.seq <= cursor || rc.have && rc.cs.inLive(r.seq) {
				continue
			}
			if rc.have && (rc.cs.above(r.seq) || rc.cs.liveAbove(r.seq)) {
				// Acknowledged out of order (or dropped) before the restart.
				l.acked[r.seq] = ackInfo{items: r.items}
				continue
			}
			l.pendingRecs++
			l.pendingItems += uint64(r.items)
		}
	}
	for _, sc := range scanned {
		l.segs = append(l.segs, sc.seg)
	}
	l.advanceLocked()
	rec.PendingRecords, rec.PendingItems = l.pendingRecs, l.pendingItems
	l.st.DroppedCorruptRecords = rec.CorruptRecords
	l.st.DroppedCorruptItems = rec.CorruptItems
}

// commitCursorStep writes the recovered state (cursor, and a watermark that
// no longer includes what was just counted) durably, and only then reports
// the losses: a crash before the commit counts them again at the next start,
// never twice.
func (l *Log) commitCursorStep(rc recoveredCursor) error {
	rec := &l.recovery
	st := l.cursorStateLocked()
	fate := rc.cs.FateRecords > 0 || rc.cs.FateItems > 0
	if fate {
		// Records evicted while in flight when the process died: their
		// request's fate is unknown, they are gone from disk: dropped.
		l.st.DroppedBudgetRecords += rc.cs.FateRecords
		l.st.DroppedBudgetItems += rc.cs.FateItems
		l.note(rec, "%d records (%d items) evicted while in flight when the process stopped counted as dropped",
			rc.cs.FateRecords, rc.cs.FateItems)
	}
	report := func() {
		if l.opts.OnDrop == nil {
			return
		}
		if rec.CorruptRecords > 0 || rec.CorruptItems > 0 {
			l.opts.OnDrop(DropReasonCorrupt, rec.CorruptRecords, rec.CorruptItems)
		}
		if fate {
			l.opts.OnDrop(DropReasonBudget, rc.cs.FateRecords, rc.cs.FateItems)
		}
	}
	if rc.have && rc.current {
		f, err := l.openOwned(filepath.Join(l.dir, cursorFileName), os.O_RDWR, rec)
		if err == nil {
			l.cur.f, l.cur.gen = f, rc.cs.Gen
			l.cur.durableSlot = nextDurableSlot(f)
			l.cur.last, l.cur.durable = rc.cs, rc.cs
			if l.cur.same(st) {
				// The state may come from a plain write of a killed process
				// (page cache only), in the plain slot that the next plain
				// write overwrites: copy it into a durable slot before
				// recovery deletes anything it covers.
				return l.cur.writeDurable(st, nil)
			}
			return l.cur.writeDurable(st, report)
		}
		if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("wal: open cursor in %s: %w", l.dir, err)
		}
		l.note(rec, "cannot reopen the cursor file (%v); writing a new one", err)
	}
	f, err := createCursor(l.fs, l.dir, st)
	if err != nil {
		return err
	}
	report()
	st.Gen = cursorSlots
	l.cur.f, l.cur.gen, l.cur.last, l.cur.durable = f, st.Gen, st, st
	l.cur.durableSlot = 0
	return nil
}

// deleteStep removes segments that hold nothing to deliver (all acknowledged,
// or nothing intact), except the last one.
func (l *Log) deleteStep() {
	rec := &l.recovery
	kept := l.segs[:0]
	for i, s := range l.segs {
		if i < len(l.segs)-1 && (len(s.recs) == 0 || s.lastSeq() <= l.cursor ||
			l.liveStart > 0 && s.first >= l.liveStart && s.lastSeq() <= l.liveCursor) {
			if err := l.fs.Remove(s.path); err == nil || errors.Is(err, os.ErrNotExist) {
				continue
			} else {
				l.note(rec, "cannot remove %s: %v", s.path, err)
			}
		}
		kept = append(kept, s)
	}
	l.segs = kept
	for _, s := range l.segs {
		l.diskBytes += s.size
	}
}

// openTailStep reopens the last segment (res is its scan) for appending when
// it continues the sequence cleanly; otherwise (a cut tail, a damaged
// header, a gap) it is kept as it is and a new segment is started.
func (l *Log) openTailStep(res scanResult) error {
	rec := &l.recovery
	if n := len(l.segs); n > 0 {
		s := l.segs[n-1]
		clean := !res.badHeader && res.tailBytes == 0 && res.torn == nil && len(res.corrupt) == 0 &&
			(len(s.recs) > 0 && s.lastSeq()+1 == l.nextSeq || len(s.recs) == 0 && s.first == l.nextSeq)
		if res.tailBytes > 0 || res.torn != nil {
			// Cut the unreadable tail so that the file holds whole records.
			if f, err := l.openOwned(s.path, os.O_WRONLY, rec); err == nil {
				if err := f.Truncate(res.goodEnd); err == nil {
					l.diskBytes -= s.size - res.goodEnd
					s.size = res.goodEnd
				} else {
					l.note(rec, "cannot truncate %s: %v", s.path, err)
				}
				_ = f.Close()
			} else {
				l.note(rec, "cannot open %s to cut its tail: %v", s.path, err)
			}
		}
		if clean {
			f, err := l.openOwned(s.path, os.O_WRONLY|os.O_APPEND, rec)
			if err != nil {
				if errors.Is(err, os.ErrPermission) {
					return fmt.Errorf("wal: open segment %s: %w", s.path, err)
				}
				l.note(rec, "cannot reopen %s for appending: %v", s.path, err)
			} else {
				s.w = f
				return nil
			}
		}
		s.sealed = true
	}
	if err := l.rollLocked(); err != nil {
		if errors.Is(err, os.ErrPermission) {
			return err
		}
		l.note(rec, "cannot create segment: %v", err)
	}
	return nil
}
