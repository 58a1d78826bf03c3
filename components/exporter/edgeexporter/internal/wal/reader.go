// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// readAheadBytes is the size of the reader's sequential read-ahead buffer.
const readAheadBytes = 1 << 20

// Record is one record returned by Reader.Next.
type Record struct {
	// Seq is the record's sequence number; pass it to Log.Ack.
	Seq uint64
	// Kind is the caller-defined kind given to Append.
	Kind uint8
	// Items is the item count given to Append.
	Items uint32
	// Payload is the uncompressed payload. It must not be modified (it may be
	// shared with the in-memory tier).
	Payload []byte
	// Bytes is the stored size of the record on disk (frame header included).
	Bytes int
	// Time is when the record was appended; for records recovered from disk
	// it is the modification time of their segment file.
	Time time.Time
}

// appendTime is the append time of a record of segment s.
func appendTime(s *segment, m recMeta) time.Time {
	if m.atMs != 0 {
		return time.Unix(0, s.born+int64(m.atMs-1)*int64(time.Millisecond))
	}
	return time.Unix(0, s.mtime)
}

// Reader returns records in sequence order, starting at the first
// unacknowledged record. A Reader must be used by one goroutine at a time;
// Rewind may be called concurrently with Next.
type Reader struct {
	l    *Log
	next uint64 // guarded by l.mu
	gen  uint64 // Rewind generation, guarded by l.mu
	part readerPart

	// read-ahead buffer over one segment; used only by Next
	buf    []byte
	bufSeg *segment
	bufOff int64
}

// readerPart selects the records a Reader returns.
type readerPart uint8

const (
	// partAll: every record, in sequence order.
	partAll readerPart = iota
	// partLive: the records of the live range (all records when there is
	// none).
	partLive
	// partBacklog: the records before the live range (none when there is
	// none).
	partBacklog
)

// NewReader returns a reader positioned at the first unacknowledged record.
func (l *Log) NewReader() *Reader {
	return l.newReader(partAll)
}

// NewLiveReader returns a reader of the live range (see BeginLive): the
// unacknowledged records from its start on, in sequence order. Without a
// live range it returns every record, as NewReader.
func (l *Log) NewLiveReader() *Reader {
	return l.newReader(partLive)
}

// NewBacklogReader returns a reader of the backlog: the unacknowledged
// records before the live range, in sequence order. Without a live range it
// returns nothing.
func (l *Log) NewBacklogReader() *Reader {
	return l.newReader(partBacklog)
}

func (l *Log) newReader(part readerPart) *Reader {
	l.mu.Lock()
	defer l.mu.Unlock()
	return &Reader{l: l, next: l.cursor + 1, part: part}
}

// Rewind moves the reader back to the first unacknowledged record (of its
// part), so that records that were read but not acknowledged are returned
// again, in order. Records acknowledged out of order are not returned
// again. Records that this reader returned, that were not acknowledged, and
// whose segment was evicted meanwhile (DropOldest) are counted as dropped
// now: they will not be returned again. Records in flight from another
// reader are not affected.
func (r *Reader) Rewind() {
	l := r.l
	l.mu.Lock()
	r.next = l.cursor + 1
	r.gen++
	for seq, f := range l.inflight {
		if f.rd == r {
			delete(l.inflight, seq)
		}
	}
	l.dropEvictedInFlightLocked(r)
	l.mu.Unlock()
}

// dropEvictedInFlightLocked settles the records evicted while in flight
// that were not acknowledged (the reader rd rewinds, or the log closes: rd
// nil): they are dropped. Their fate is written durably before it is
// reported. Must hold mu.
func (l *Log) dropEvictedInFlightLocked(rd *Reader) {
	var recs, items uint64
	for seq, f := range l.evictedInFlight {
		if rd == nil || f.rd == rd {
			recs++
			items += uint64(f.items)
			delete(l.evictedInFlight, seq)
		}
	}
	if recs == 0 {
		return
	}
	l.writeCursorLocked(true)
	l.st.DroppedBudgetRecords += recs
	l.st.DroppedBudgetItems += items
	if l.opts.OnDrop != nil {
		l.opts.OnDrop(DropReasonBudget, recs, items)
	}
}

// Next returns the next record, blocking until one is available, ctx is done
// or the log is closed (ErrClosed). Records lost to eviction are skipped: a
// reader positioned in an evicted segment continues at the oldest remaining
// record. Records found corrupt on disk are skipped and counted.
func (r *Reader) Next(ctx context.Context) (Record, error) {
	l := r.l
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			r.buf, r.bufSeg = nil, nil
			return Record{}, ErrClosed
		}
		next := max(r.next, l.cursor+1)
		if r.part == partLive && l.liveStart > 0 {
			next = max(next, l.liveStart)
		}
		s, j, ok := l.locateLocked(next)
		for ok {
			seq := s.recs[j].seq
			if l.inLiveLocked(seq) {
				s, j, ok = l.locateLocked(l.liveCursor + 1)
				continue
			}
			_, acked := l.acked[seq]
			f, busy := l.inflight[seq]
			if !acked && (!busy || f.rd == r || f.rd.part == r.part) {
				break
			}
			// Acknowledged, or in flight from the reader of the other range
			// (a live range begun under records in flight): never hand a
			// record to the live and the backlog reader at once; this one
			// gets it back after it rewinds.
			s, j, ok = l.locateLocked(seq + 1)
		}
		if ok && r.part == partBacklog && (l.liveStart == 0 || s.recs[j].seq >= l.liveStart) {
			ok = false // the backlog is read up to the live range
		}
		if !ok {
			if !l.dataWait {
				l.dataCh = make(chan struct{})
				l.dataWait = true
			}
			ch := l.dataCh
			l.mu.Unlock()
			select {
			case <-ch:
			case <-l.closedCh:
			case <-ctx.Done():
				return Record{}, ctx.Err()
			}
			continue
		}
		m := s.recs[j]
		gen := r.gen
		if p, hit := l.mem.get(m.seq); hit {
			l.st.MemoryHits++
			r.next = m.seq + 1
			l.inflight[m.seq] = flight{items: m.items, rd: r}
			l.mu.Unlock()
			return Record{Seq: m.seq, Kind: m.kind &^ kindCompressed, Items: m.items, Payload: p, Bytes: m.frameSize(), Time: appendTime(s, m)}, nil
		}
		size := s.size
		l.mu.Unlock()

		rec, err := r.readDisk(s, m, size)

		l.mu.Lock()
		s2, j2, ok2 := l.locateLocked(m.seq)
		still := ok2 && s2.recs[j2].seq == m.seq // not evicted meanwhile
		if err != nil && still {
			if !isCorrupt(err) {
				l.mu.Unlock()
				l.setErr(err)
				return Record{}, err
			}
			l.setErr(err)
			var ce *corruptError
			_ = errors.As(err, &ce)
			if cerr := l.dropCorruptLocked(s, m, ce); cerr != nil {
				l.mu.Unlock()
				return Record{}, cerr
			}
		}
		if r.gen == gen && (err == nil || still) {
			r.next = m.seq + 1
		}
		if err == nil && still {
			l.st.DiskReads++
			l.inflight[m.seq] = flight{items: m.items, rd: r}
		}
		l.mu.Unlock()
		if err == nil && still {
			return rec, nil
		}
	}
}

// dropCorruptLocked accounts for a record found corrupt on disk: it is
// counted as dropped and treated as acknowledged. The new state is committed
// to the cursor file (durably) before the drop is reported, so that the next
// start does not count it again. Must hold mu.
func (l *Log) dropCorruptLocked(s *segment, m recMeta, ce *corruptError) error {
	if l.doneLocked(m.seq) {
		return nil
	}
	if ce != nil && ce.framed {
		// The frame is whole but unusable (a payload that does not
		// decompress, a header that disagrees with the index): mark it dead
		// on disk, so that recovery sees a corrupt record (which the
		// committed watermark already excludes) instead of an intact one
		// that would be delivered and counted again.
		if err := l.markDead(s, m, ce.storedCRC); err != nil {
			// Best effort: the cursor's bitmap still tells recovery that
			// the record was counted, unless it is far above the cursor.
			l.setErr(err)
		}
	}
	st := l.stateFor(l.cursor, l.pendingRecs-1, l.pendingItems-uint64(m.items), m.seq)
	apply := func() {
		l.acked[m.seq] = ackInfo{items: m.items, dropped: true}
		delete(l.inflight, m.seq)
		l.pendingRecs--
		l.pendingItems -= uint64(m.items)
		l.st.DroppedCorruptRecords++
		l.st.DroppedCorruptItems += uint64(m.items)
		if l.opts.OnDrop != nil {
			l.opts.OnDrop(DropReasonCorrupt, 1, uint64(m.items))
		}
	}
	if err := l.commitDropLocked(st, apply); err != nil {
		return err
	}
	l.afterDropLocked()
	return nil
}

type corruptError struct {
	err error
	// framed: the whole frame was read; storedCRC is the CRC32C of its
	// stored payload as read.
	framed    bool
	storedCRC uint32
}

// markDead rewrites the header of record m so that its payload checksum
// can never match, and fsyncs the file.
func (l *Log) markDead(s *segment, m recMeta, storedCRC uint32) error {
	if !s.sealed {
		// The active segment: seal it first, so the next append rolls to a
		// new segment. openOwned may replace the file under this name by a
		// private copy (a hard link made while the log runs); the append
		// handle would then write into the file only the other name
		// reaches, and those records would be lost to the log
		// (TestBreakLinkMarkDeadOnActiveSegmentLosesAppends). A sealed
		// segment's handle is fsynced and closed as after any roll; the
		// copy holds every byte written so far (it is made under mu) and is
		// fsynced before it replaces the name.
		s.sealed = true
	}
	f, err := l.openOwned(s.path, os.O_WRONLY, nil)
	if err != nil {
		return fmt.Errorf("wal: mark record %d dead in %s: %w", m.seq, s.path, err)
	}
	defer f.Close()
	hdr := make([]byte, recordHeaderSize)
	putHeader(hdr, recordHeader{length: m.length, seq: m.seq, items: m.items, kind: m.kind, pcrc: ^storedCRC})
	if _, err := f.WriteAt(hdr, int64(m.off)); err != nil {
		return fmt.Errorf("wal: mark record %d dead in %s: %w", m.seq, s.path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("wal: mark record %d dead in %s: fsync: %w", m.seq, s.path, err)
	}
	return nil
}

func (e *corruptError) Error() string { return e.err.Error() }
func (e *corruptError) Unwrap() error { return e.err }

func isCorrupt(err error) bool {
	var c *corruptError
	return errors.As(err, &c)
}

// readDisk reads and verifies record m of segment s (size bytes known to be
// written), using the read-ahead buffer.
func (r *Reader) readDisk(s *segment, m recMeta, size int64) (Record, error) {
	need := int64(m.frameSize())
	if r.bufSeg != s || int64(m.off) < r.bufOff || int64(m.off)+need > r.bufOff+int64(len(r.buf)) {
		n := min(max(int64(readAheadBytes), need), size-int64(m.off))
		if n < need {
			return Record{}, &corruptError{err: fmt.Errorf("wal: record %d beyond end of %s", m.seq, s.path)}
		}
		if int64(cap(r.buf)) < n {
			r.buf = make([]byte, n)
		}
		r.buf = r.buf[:n]
		r.bufSeg = nil
		f, err := r.l.fs.OpenFile(s.path, os.O_RDONLY, 0)
		if err != nil {
			return Record{}, fmt.Errorf("wal: open %s: %w", s.path, err)
		}
		got, err := f.ReadAt(r.buf, int64(m.off))
		_ = f.Close()
		if int64(got) < need {
			if err == nil || errors.Is(err, io.EOF) {
				return Record{}, &corruptError{err: fmt.Errorf("wal: short read of record %d in %s", m.seq, s.path)}
			}
			return Record{}, fmt.Errorf("wal: read %s: %w", s.path, err)
		}
		r.buf = r.buf[:got]
		r.bufSeg, r.bufOff = s, int64(m.off)
	}
	frame := r.buf[int64(m.off)-r.bufOff : int64(m.off)-r.bufOff+need]
	h, p, _, err := decodeRecord(frame, r.l.opts.MaxRecordBytes)
	if err == nil && (h.seq != m.seq || h.length != m.length) {
		err = errHeaderCRC
	}
	if err != nil {
		r.bufSeg = nil
		return Record{}, &corruptError{err: fmt.Errorf("wal: record %d in %s: %w", m.seq, s.path, err),
			framed: true, storedCRC: crc(frame[recordHeaderSize:])}
	}
	var payload []byte
	if h.kind&kindCompressed != 0 {
		payload, err = r.l.dec.DecodeAll(p, nil)
		if err != nil {
			return Record{}, &corruptError{err: fmt.Errorf("wal: decompress record %d in %s: %w", m.seq, s.path, err),
				framed: true, storedCRC: crc(p)}
		}
	} else {
		payload = append(make([]byte, 0, len(p)), p...)
	}
	return Record{Seq: m.seq, Kind: h.kind &^ kindCompressed, Items: h.items, Payload: payload, Bytes: int(need), Time: appendTime(s, m)}, nil
}
