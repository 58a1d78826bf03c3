// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Append writes a record and returns its sequence number. kind must be
// 0..127 and items is the caller's count of telemetry items in payload (used
// for accounting). The payload is copied; the caller may reuse it. See the
// package documentation for durability guarantees of each FsyncPolicy.
//
// With a shared budget under DropOldest, Append returns sequence 0 and a
// nil error when the record was accepted but dropped at once because the
// budget is full of higher classes' data (see SharedBudget): it is counted
// as a budget drop of this log (Stats, OnDrop) and never stored.
func (l *Log) Append(ctx context.Context, kind uint8, items uint32, payload []byte) (uint64, error) {
	return l.append(ctx, kind, items, payload, false)
}

// AppendOwned is Append for a payload that the caller hands over: the log
// may keep it (as the in-memory tier's copy of the record) instead of
// copying it, so the caller must never modify or reuse it afterwards. What
// is written, and when, is the same as with Append.
func (l *Log) AppendOwned(ctx context.Context, kind uint8, items uint32, payload []byte) (uint64, error) {
	return l.append(ctx, kind, items, payload, true)
}

func (l *Log) append(ctx context.Context, kind uint8, items uint32, payload []byte, owned bool) (uint64, error) {
	if kind > MaxKind {
		return 0, ErrInvalidKind
	}
	if len(payload) > l.opts.MaxRecordBytes {
		return 0, fmt.Errorf("%w: payload of %d bytes exceeds MaxRecordBytes %d", ErrRecordTooLarge, len(payload), l.opts.MaxRecordBytes)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	fb := getFrameBuf()
	defer putFrameBuf(fb)
	frame := append((*fb)[:0], make([]byte, recordHeaderSize)...)
	storedKind := kind
	if !l.opts.DisableCompression && len(payload) >= minCompressBytes {
		frame = l.enc.EncodeAll(payload, frame)
		if len(frame)-recordHeaderSize < len(payload) {
			storedKind |= kindCompressed
		} else {
			frame = append(frame[:recordHeaderSize], payload...)
		}
	} else {
		frame = append(frame, payload...)
	}
	*fb = frame
	stored := frame[recordHeaderSize:]
	h := recordHeader{length: uint32(len(stored)), items: items, kind: storedKind, pcrc: crc(stored)}
	if l.opts.MaxBytes > 0 && int64(len(frame))+segmentHeaderSize > l.opts.MaxBytes {
		return 0, fmt.Errorf("%w: record of %d bytes cannot fit into MaxBytes %d", ErrRecordTooLarge, len(frame), l.opts.MaxBytes)
	}
	var memCopy []byte
	if l.mem.enabled() && int64(len(payload)) <= l.opts.MemoryBytes {
		if owned {
			memCopy = payload[:len(payload):len(payload)]
		} else {
			memCopy = append(make([]byte, 0, len(payload)), payload...)
		}
	}

	l.mu.Lock()
	seq, seg, err := l.appendLocked(ctx, frame, h, memCopy)
	if errors.Is(err, errDropNew) {
		// The budget is full of higher classes' data: the record is
		// dropped (nothing was written), counted once as a budget drop.
		l.st.DroppedBudgetRecords++
		l.st.DroppedBudgetItems += uint64(items)
		if l.opts.OnDrop != nil {
			l.opts.OnDrop(DropReasonBudget, 1, uint64(items))
		}
		// No log line per record (a flood of a low class would flood the
		// log): the drop is counted like every eviction.
		l.mu.Unlock()
		return 0, nil
	}
	if err != nil {
		l.mu.Unlock()
		return 0, err
	}
	// Keep the watermark current (one pwrite of the cursor's plain slot,
	// no fsync): damage that later destroys this record's header is then
	// counted with its exact item count, after any process crash.
	l.writeCursorUnlock()
	if l.opts.Fsync == FsyncAlways {
		if err := l.commit(seq, seg); err != nil {
			return 0, err
		}
	}
	return seq, nil
}

// minCompressBytes is the payload size below which compression is skipped.
const minCompressBytes = 64

var frameBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

func getFrameBuf() *[]byte { return frameBufPool.Get().(*[]byte) }

func putFrameBuf(b *[]byte) {
	if cap(*b) > 4<<20 {
		return
	}
	frameBufPool.Put(b)
}

// appendLocked enforces the budget, rolls segments and writes the frame.
// Must hold mu; may release it while waiting for space.
func (l *Log) appendLocked(ctx context.Context, frame []byte, h recordHeader, memCopy []byte) (uint64, *segment, error) {
	need := int64(len(frame))
	for {
		if l.closed {
			return 0, nil, ErrClosed
		}
		act := l.active()
		roll := act == nil || act.w == nil || act.sealed || act.broken.Load() ||
			(len(act.recs) > 0 && act.size+need > l.opts.SegmentBytes)
		growth := need
		if roll {
			growth += segmentHeaderSize
		}
		if l.opts.MaxBytes > 0 && l.usedLocked()+growth > l.opts.MaxBytes {
			ok, err := l.makeRoomLocked(ctx)
			if err != nil {
				return 0, nil, err
			}
			if ok {
				continue
			}
		}
		if roll {
			if err := l.rollLocked(); err != nil {
				l.setErr(err)
				return 0, nil, err
			}
			continue
		}
		seq, err := l.writeLocked(act, frame, h, memCopy)
		return seq, act, err
	}
}

// writeLocked writes one frame to the active segment. Must hold mu.
func (l *Log) writeLocked(act *segment, frame []byte, h recordHeader, memCopy []byte) (uint64, error) {
	seq := l.nextSeq
	h.seq = seq
	putHeader(frame, h)
	off := act.size
	n, err := act.w.Write(frame)
	if err == nil && n != len(frame) {
		err = io.ErrShortWrite
	}
	if err != nil {
		werr := fmt.Errorf("wal: write %s: %w", act.path, err)
		if n > 0 {
			if terr := act.w.Truncate(off); terr != nil {
				// The tail may hold a (partial) record: abandon the segment and
				// burn the sequence so that it can never be reused.
				act.broken.Store(true)
				l.nextSeq++
				act.size += int64(n)
				l.addDiskLocked(int64(n))
				werr = fmt.Errorf("%w (truncate failed: %v)", werr, terr)
				// Put the burned sequence under the watermark so that
				// recovery does not count its torn frame as a lost record:
				// the caller was told the append failed.
				l.writeCursorLocked(false)
			}
		}
		l.setErr(werr)
		return 0, werr
	}
	act.size += int64(n)
	l.addDiskLocked(int64(n))
	act.recs = append(act.recs, recMeta{
		seq: seq, off: uint32(off), length: h.length, items: h.items, kind: h.kind, atMs: sinceBirth(act.born),
	})
	l.nextSeq++
	l.pendingRecs++
	l.pendingItems += uint64(h.items)
	l.st.Appends++
	l.st.AppendedBytes += uint64(n)
	l.mem.put(seq, memCopy)
	if l.dataWait {
		close(l.dataCh)
		l.dataWait = false
	}
	return seq, nil
}

// sinceBirth is the append time stored in a record's index entry.
func sinceBirth(born int64) uint32 {
	if born == 0 {
		return 0
	}
	ms := (time.Now().UnixNano() - born) / int64(time.Millisecond)
	return uint32(min(max(ms, 0), 1<<32-2)) + 1
}

// rollLocked starts a new active segment named after nextSeq. The previous
// active segment is sealed; its fsync and close happen outside the lock (by
// the group commit, the interval sync or the background goroutine). Must
// hold mu.
func (l *Log) rollLocked() error {
	old := l.active()
	if old != nil && len(old.recs) == 0 && !old.sealed {
		// An empty (or abandoned, never indexed) segment: replace it.
		l.segs = l.segs[:len(l.segs)-1]
		l.retireLocked(old)
		if err := l.fs.Remove(old.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			l.segs = append(l.segs, old)
			return fmt.Errorf("wal: remove %s: %w", old.path, err)
		}
		l.addDiskLocked(-old.size)
		old = nil
	}
	path := l.segPath(l.nextSeq)
	// O_EXCL: never reuse or follow (a planted link) an existing name.
	f, err := l.fs.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("wal: create segment %s: %w", path, err)
	}
	if _, err := f.Write(segmentMagic[:]); err != nil {
		_ = f.Close()
		_ = l.fs.Remove(path)
		return fmt.Errorf("wal: write segment header %s: %w", path, err)
	}
	if old != nil {
		old.sealed = true
	}
	now := time.Now().UnixNano()
	l.segs = append(l.segs, &segment{first: l.nextSeq, path: path, size: segmentHeaderSize, w: f, durable: l.nextSeq - 1,
		born: now, mtime: now})
	l.addDiskLocked(segmentHeaderSize)
	l.kickBackground()
	return nil
}

// retireLocked marks a segment removed from segs: commit waiters stop
// waiting for it, and its handle is closed by the next syncAll. Must hold mu.
func (l *Log) retireLocked(s *segment) {
	l.gc.mu.Lock()
	s.gone = true
	l.gc.cond.Broadcast()
	l.gc.mu.Unlock()
	if s.w != nil {
		l.retired = append(l.retired, s)
	}
}
