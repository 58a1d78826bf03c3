// SPDX-License-Identifier: Apache-2.0

// Package wal implements a durable, segmented, append-only write-ahead log
// used by the edge exporter so that accepted telemetry survives backend
// outages, process crashes (kill -9) and, depending on the fsync policy,
// power loss.
//
// # Model
//
// Append writes a record (caller kind, item count, payload) and assigns it a
// sequence number that grows by one across the whole log. A Reader returns
// records in sequence order starting at the first unacknowledged record;
// Ack marks single records as delivered (acks may arrive out of order) and
// the persisted cursor advances over the contiguous acknowledged prefix.
// Segments whose records are all acknowledged are deleted.
//
// # On-disk format
//
// The directory (0700) holds a LOCK file (flock), a cursor file and segment
// files named after the 20-digit, zero-padded sequence number of their first
// record ("00000000000000000001.seg", 0600). A segment starts with the 8-byte
// header "OEWAL\x00\x00\x01" followed by records, each framed by a 25-byte
// little-endian header: header CRC32C (over bytes 4..25), stored payload
// length, sequence, item count, kind byte (high bit: zstd-compressed) and
// payload CRC32C. The two checksums let recovery skip a record with a corrupt
// payload exactly (counting its items) while a corrupt header triggers a
// byte-wise resynchronisation to the next valid header with a higher
// sequence number. The cursor file holds the acknowledged sequence and a
// watermark (the last sequence appended and the count of intact records and
// items beyond the cursor) with its own magic and CRC, and is replaced
// atomically (write tmp, fsync, rename, fsync directory) every
// CursorSyncInterval when something changed, after evictions and on Close.
// Recovery compares the watermark with what it finds intact, so damage that
// leaves no header to count from (a destroyed header, a truncated or deleted
// segment) is still counted exactly, and only once.
//
// # Durability
//
// Every Append issues write(2) before returning; nothing acknowledged is
// buffered in user space. Therefore, in every mode, an Append that returned
// successfully survives a crash of the process (kill -9, panic, OOM kill):
// the data is in the kernel page cache and reaches the disk eventually.
// The modes differ only for power loss or a kernel crash:
//
//   - FsyncAlways: Append returns after the data is fsynced (group commit:
//     concurrent appenders share one fsync). A successful Append survives
//     power loss.
//   - FsyncInterval (default): a background goroutine fsyncs every
//     FsyncInterval when there were writes. Power loss can lose at most the
//     appends of the last interval (plus data the kernel had not written).
//   - FsyncNever: fsync only when a segment is rolled and on Close. Power loss
//     can lose everything not yet written back by the kernel.
//
// Records lost or torn by power loss are detected by the checksums on the
// next Open and counted; Open never fails because of corrupt data.
//
// # Budget
//
// MaxBytes bounds the sum of segment file sizes, including the active
// segment. The log checks the budget before each write, so disk usage never
// exceeds MaxBytes + SegmentBytes (in practice it stays within MaxBytes plus
// one 8-byte segment header while a full active segment is rolled before it
// is evicted). When an append does not fit: DropOldest deletes whole oldest
// segments, acknowledged or not (the active one is rolled first when it is
// the only one), and counts every dropped record and item; DropNewest returns
// ErrFull; Block waits until acknowledgements free space or ctx is done.
//
// # Errors
//
// I/O errors never panic. A failed write is truncated away (or, if that fails
// too, the segment is abandoned and the next Append rolls to a new one), a
// failed fsync makes the next Append roll to a new segment, and the error is
// returned wrapped with the file name and recorded in Stats().LastError.
// An Append that returns an error after its data was written (fsync failure
// in FsyncAlways mode) may still be delivered: the log is at-least-once.
package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
)

const lockFileName = "LOCK"

// FsyncPolicy selects when appended data is fsynced.
type FsyncPolicy int

const (
	// FsyncInterval fsyncs in the background every Options.FsyncInterval.
	FsyncInterval FsyncPolicy = iota
	// FsyncAlways fsyncs before Append returns, with group commit.
	FsyncAlways
	// FsyncNever fsyncs only on segment roll and Close.
	FsyncNever
)

// FullPolicy selects what Append does when MaxBytes would be exceeded.
type FullPolicy int

const (
	// DropOldest evicts whole oldest segments, acknowledged or not.
	DropOldest FullPolicy = iota
	// DropNewest rejects the append with ErrFull.
	DropNewest
	// Block waits until acknowledgements free space or ctx is done.
	Block
)

// Drop reasons passed to Options.OnDrop.
const (
	// DropReasonBudget: records evicted by DropOldest.
	DropReasonBudget = "budget"
	// DropReasonCorrupt: records lost to on-disk corruption.
	DropReasonCorrupt = "corrupt"
)

// Default option values.
const (
	DefaultSegmentBytes       = 8 << 20
	DefaultFsyncInterval      = 100 * time.Millisecond
	DefaultCursorSyncInterval = time.Second
	DefaultMaxRecordBytes     = 64 << 20
	DefaultMemoryBytes        = 16 << 20
)

var (
	// ErrClosed is returned by operations on a closed log.
	ErrClosed = errors.New("wal: log closed")
	// ErrFull is returned by Append under DropNewest when MaxBytes is reached.
	ErrFull = errors.New("wal: log full")
	// ErrRecordTooLarge is returned for payloads over MaxRecordBytes or that
	// cannot fit into MaxBytes at all.
	ErrRecordTooLarge = errors.New("wal: record too large")
	// ErrInvalidKind is returned for kinds above MaxKind.
	ErrInvalidKind = errors.New("wal: kind must be 0..127")
)

// Options configures a Log. The zero value is usable.
type Options struct {
	// SegmentBytes is the target segment size (default 8 MiB). A segment is
	// rolled when the next record would make it exceed this size. When
	// MaxBytes is set it is capped to MaxBytes/2 so that eviction works.
	SegmentBytes int64
	// MaxBytes is the hard budget for all segment bytes on disk, the active
	// segment included (0 = unlimited).
	MaxBytes int64
	// WhenFull selects the behaviour when MaxBytes would be exceeded.
	WhenFull FullPolicy
	// Fsync selects the fsync policy (default FsyncInterval).
	Fsync FsyncPolicy
	// FsyncInterval is the background fsync period for FsyncInterval
	// (default 100ms).
	FsyncInterval time.Duration
	// CursorSyncInterval is how often the ack cursor is persisted
	// (default 1s). It is also persisted on Close.
	CursorSyncInterval time.Duration
	// DisableCompression turns off zstd compression of payloads. By default
	// payloads are compressed when that makes them smaller.
	DisableCompression bool
	// MaxRecordBytes is the largest accepted payload (default 64 MiB). Recovery
	// treats stored records above this size as corrupt, so do not lower it
	// below the size of records already on disk.
	MaxRecordBytes int
	// MemoryBytes bounds the in-memory tier of recent uncompressed payloads
	// (default 16 MiB; negative disables it).
	MemoryBytes int64
	// FS is the file system (nil = the OS).
	FS FS
	// OnDrop, if set, is called (without locks held) when records are lost:
	// reason is DropReasonBudget or DropReasonCorrupt.
	OnDrop func(reason string, records, items uint64)
	// OnFsync, if set, is called with the duration of every fsync of a
	// segment file (for latency metrics). It must not call into the Log.
	OnFsync func(time.Duration)
	// Logf, if set, receives notable events (recovery notes, I/O errors). It
	// may be called with internal locks held and must not call into the Log.
	Logf func(format string, args ...any)
}

func (o Options) withDefaults() Options {
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.MaxBytes < 0 {
		o.MaxBytes = 0
	}
	if o.MaxBytes > 0 && o.SegmentBytes > o.MaxBytes/2 {
		o.SegmentBytes = max(o.MaxBytes/2, segmentHeaderSize+recordHeaderSize+1)
	}
	if o.FsyncInterval <= 0 {
		o.FsyncInterval = DefaultFsyncInterval
	}
	if o.CursorSyncInterval <= 0 {
		o.CursorSyncInterval = DefaultCursorSyncInterval
	}
	if o.MaxRecordBytes <= 0 {
		o.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if o.MemoryBytes == 0 {
		o.MemoryBytes = DefaultMemoryBytes
	} else if o.MemoryBytes < 0 {
		o.MemoryBytes = 0
	}
	if o.FS == nil {
		o.FS = OSFS{}
	}
	return o
}

// Recovery summarises what Open found on disk.
type Recovery struct {
	// Segments is the number of segment files scanned.
	Segments int
	// Records is the number of intact records found (acknowledged or not).
	Records uint64
	// PendingRecords and PendingItems count recovered unacknowledged records.
	PendingRecords, PendingItems uint64
	// CorruptRecords counts unacknowledged records lost to corruption: exact
	// for records with an intact header, inferred from sequence gaps otherwise.
	CorruptRecords uint64
	// CorruptItems counts items of corrupt records whose header was intact.
	CorruptItems uint64
	// CorruptBytes counts bytes skipped because of corruption.
	CorruptBytes int64
	// TruncatedBytes counts bytes of torn writes cut from the last segment.
	TruncatedBytes int64
	// CorruptSegments counts segments with a missing or garbled header.
	CorruptSegments int
	// CursorRebuilt reports that the cursor file was missing or corrupt and
	// every recovered record is treated as unacknowledged.
	CursorRebuilt bool
	// Notes lists human-readable remarks (ignored files, repairs).
	Notes []string
}

// Stats is a snapshot of the log's state and counters.
type Stats struct {
	DiskBytes      int64     // sum of segment file sizes
	Segments       int       // number of segment files
	PendingRecords uint64    // unacknowledged records
	PendingItems   uint64    // items of unacknowledged records
	OldestPending  time.Time // append time of the oldest unacknowledged record (zero if none)
	AckedSeq       uint64    // ack cursor: all seq <= AckedSeq are acknowledged (persisted every CursorSyncInterval)
	LastSeq        uint64    // last assigned sequence

	Appends       uint64 // successful appends
	AppendedBytes uint64 // stored bytes appended (frames)
	RejectedFull  uint64 // appends rejected with ErrFull (DropNewest)

	DroppedBudgetRecords  uint64 // records evicted by DropOldest
	DroppedBudgetItems    uint64
	DroppedCorruptRecords uint64 // records lost to corruption (recovery and reads)
	DroppedCorruptItems   uint64

	Fsyncs            uint64
	LastFsyncDuration time.Duration

	MemoryBytes int64  // bytes held by the in-memory tier
	MemoryHits  uint64 // records served from memory
	DiskReads   uint64 // records served from disk

	LastError error // most recent I/O error, nil if none
}

type dropEvent struct {
	reason         string
	records, items uint64
}

// Log is a durable segmented write-ahead log. All methods are safe for
// concurrent use.
type Log struct {
	dir  string
	opts Options
	fs   FS
	lock io.Closer
	enc  *zstd.Encoder
	dec  *zstd.Decoder

	mu           sync.Mutex
	closed       bool
	closedCh     chan struct{}
	segs         []*segment // in sequence order; the last one is active
	diskBytes    int64
	nextSeq      uint64
	cursor       uint64
	acked        map[uint64]struct{} // acked seqs above cursor
	pendingRecs  uint64
	pendingItems uint64
	mem          memTier
	dataCh       chan struct{} // closed when records are appended (if dataWait)
	dataWait     bool
	spaceCh      chan struct{} // closed when space is freed (if spaceWait)
	spaceWait    bool
	drops        []dropEvent // to fire after unlocking
	st           Stats       // counters guarded by mu
	recovery     Recovery

	syncMu         sync.Mutex // serialises fsync with closing segment files
	fsyncs         atomic.Uint64
	lastFsyncNanos atomic.Int64

	errMu   sync.Mutex
	lastErr error

	gc groupCommit

	cursorMu        sync.Mutex
	persistedCursor uint64
	persistedLast   uint64
	cursorPersisted bool
	cursorDirty     bool // recovery found losses: persist a fresh watermark

	stop chan struct{}
	wg   sync.WaitGroup
}

// Open opens or creates the log in dir and recovers its content. It fails
// only when the directory cannot be used (permissions, lock held by another
// process); corrupt data is skipped and reported by Recovery.
func Open(dir string, opts Options) (*Log, error) {
	opts = opts.withDefaults()
	l := &Log{
		dir:      dir,
		opts:     opts,
		fs:       opts.FS,
		closedCh: make(chan struct{}),
		acked:    make(map[uint64]struct{}),
		mem:      memTier{max: opts.MemoryBytes},
		stop:     make(chan struct{}),
	}
	l.gc.cond = sync.NewCond(&l.gc.mu)
	if err := l.fs.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("wal: create directory %s: %w", dir, err)
	}
	if lk, ok := l.fs.(Locker); ok {
		c, err := lk.Lock(filepath.Join(dir, lockFileName))
		if errors.Is(err, errLocked) {
			return nil, fmt.Errorf("wal: directory %s is in use by another process", dir)
		}
		if err != nil {
			return nil, fmt.Errorf("wal: lock directory %s: %w", dir, err)
		}
		l.lock = c
	}
	var err error
	l.enc, err = zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderCRC(false),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithLowerEncoderMem(true))
	if err == nil {
		l.dec, err = zstd.NewReader(nil,
			zstd.IgnoreChecksum(true),
			zstd.WithDecoderConcurrency(2),
			zstd.WithDecoderMaxMemory(uint64(opts.MaxRecordBytes)+1))
	}
	if err == nil {
		err = l.recover()
	}
	if err != nil {
		for _, s := range l.segs {
			_ = l.closeSegment(s, false)
		}
		l.releaseResources()
		return nil, err
	}
	if opts.OnDrop != nil && l.recovery.CorruptRecords > 0 {
		opts.OnDrop(DropReasonCorrupt, l.recovery.CorruptRecords, l.recovery.CorruptItems)
	}
	if l.recovery.CursorRebuilt || l.cursorDirty {
		_ = l.persistCursor(true)
	}
	l.gc.synced = l.nextSeq - 1
	l.startBackground()
	return l, nil
}

func (l *Log) releaseResources() {
	if l.enc != nil {
		_ = l.enc.Close()
	}
	if l.dec != nil {
		l.dec.Close()
	}
	if l.lock != nil {
		_ = l.lock.Close()
	}
}

func (l *Log) logf(format string, args ...any) {
	if l.opts.Logf != nil {
		l.opts.Logf(format, args...)
	}
}

func (l *Log) setErr(err error) {
	l.errMu.Lock()
	l.lastErr = err
	l.errMu.Unlock()
	l.logf("%v", err)
}

func (l *Log) note(r *Recovery, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.Notes = append(r.Notes, msg)
	l.logf("wal recovery: %s", msg)
}

// recover scans the directory and rebuilds the in-memory state.
func (l *Log) recover() error {
	rec := &l.recovery
	listing, err := listDir(l.fs, l.dir)
	if err != nil {
		return fmt.Errorf("wal: read directory %s: %w", l.dir, err)
	}
	for _, name := range listing.ignored {
		l.note(rec, "ignoring unknown file %s", name)
	}
	_ = l.fs.Remove(filepath.Join(l.dir, cursorTmpName))

	cs, cerr := readCursor(l.fs, l.dir)
	cursor := cs.Acked
	haveCursor := cerr == nil
	// Below and at countFrom, losses are counted from the cursor's
	// watermark (exactly, in aggregate); above it, record by record.
	countFrom := cursor
	watermark := haveCursor && cs.HasWatermark
	if watermark {
		countFrom = max(cursor, cs.Last)
	}
	switch {
	case haveCursor:
	case errors.Is(cerr, os.ErrNotExist):
		if len(listing.segments) > 0 {
			rec.CursorRebuilt = true
			l.note(rec, "cursor file missing; treating all records as unacknowledged")
		}
	case errors.Is(cerr, errCursorCorrupt):
		rec.CursorRebuilt = true
		l.note(rec, "cursor file corrupt; treating all records as unacknowledged")
	default:
		return fmt.Errorf("wal: read cursor in %s: %w", l.dir, cerr)
	}

	var lastSeq uint64 // highest sequence seen in any record
	var expected uint64
	countGap := func(from, to uint64) { // seqs in [from, to) are missing
		if haveCursor && from <= countFrom {
			from = countFrom + 1
		}
		if to > from {
			rec.CorruptRecords += to - from
		}
	}
	for i, first := range listing.segments {
		isLast := i == len(listing.segments)-1
		path := l.segPath(first)
		data, fi, err := readWhole(l.fs, path)
		if err != nil {
			if errors.Is(err, os.ErrPermission) {
				return fmt.Errorf("wal: read segment %s: %w", path, err)
			}
			l.note(rec, "skipping unreadable segment %s: %v", path, err)
			continue
		}
		rec.Segments++
		res := scanSegment(data, lastSeq, l.opts.MaxRecordBytes)
		if res.badHeader {
			if len(data) > 0 {
				rec.CorruptSegments++
				rec.CorruptBytes += int64(len(data))
				l.note(rec, "segment %s has no valid header; removed (%d bytes)", path, len(data))
			}
			if err := l.fs.Remove(path); err != nil {
				l.note(rec, "cannot remove %s: %v", path, err)
			}
			continue
		}
		seg := &segment{first: first, path: path, size: int64(len(data)), mtime: fi.ModTime().UnixNano()}
		if i == 0 || expected == 0 {
			expected = first
		} else if first > expected {
			countGap(expected, first)
			expected = first
		}
		ci := 0
		for _, r := range res.records {
			for ci < len(res.corrupt) && res.corrupt[ci].h.seq < r.h.seq {
				c := res.corrupt[ci].h
				countGap(expected, c.seq)
				if !haveCursor || c.seq > countFrom {
					rec.CorruptRecords++
					rec.CorruptItems += uint64(c.items)
				}
				expected = c.seq + 1
				ci++
			}
			countGap(expected, r.h.seq)
			expected = r.h.seq + 1
			seg.recs = append(seg.recs, recMeta{
				seq: r.h.seq, off: r.off, length: r.h.length, items: r.h.items, kind: r.h.kind,
			})
		}
		for ; ci < len(res.corrupt); ci++ {
			c := res.corrupt[ci].h
			countGap(expected, c.seq)
			if !haveCursor || c.seq > countFrom {
				rec.CorruptRecords++
				rec.CorruptItems += uint64(c.items)
			}
			expected = c.seq + 1
		}
		rec.Records += uint64(len(seg.recs))
		rec.CorruptBytes += res.corruptBytes
		lastSeq = res.lastSeq
		if t := res.torn; t != nil && isLast && (!haveCursor || t.seq > countFrom) {
			// A torn last record is truncated away below and its sequence is
			// reused, so it is counted here once and never again.
			rec.CorruptRecords++
			rec.CorruptItems += uint64(t.items)
		}
		if res.tailBytes > 0 {
			if isLast {
				rec.TruncatedBytes += res.tailBytes
				l.note(rec, "truncating %d torn bytes from %s", res.tailBytes, path)
				seg.size = res.goodEnd
			} else {
				rec.CorruptBytes += res.tailBytes
				l.note(rec, "%d unreadable bytes at the end of %s", res.tailBytes, path)
			}
		}
		l.segs = append(l.segs, seg)
	}

	if !haveCursor {
		cursor = 0
		if len(l.segs) > 0 {
			cursor = l.segs[0].first - 1
		}
	}
	if watermark {
		// Everything the watermark says was intact beyond the cursor and is
		// no longer intact is lost: damaged headers, truncated or deleted
		// segments, damaged payloads alike.
		var recs, items uint64
		for _, s := range l.segs {
			for _, r := range s.recs {
				if r.seq > cursor && r.seq <= cs.Last {
					recs++
					items += uint64(r.items)
				}
			}
		}
		if cs.TailRecords > recs {
			rec.CorruptRecords += cs.TailRecords - recs
		}
		if cs.TailItems > items {
			rec.CorruptItems += cs.TailItems - items
		}
	}
	if rec.CorruptRecords > 0 || rec.CorruptItems > 0 {
		// Persist a watermark without the lost records at once, so that they
		// are not counted again at the next start.
		l.cursorDirty = true
	}
	l.cursor = cursor
	l.persistedCursor = cursor
	l.cursorPersisted = haveCursor && !l.cursorDirty
	l.nextSeq = max(lastSeq, cursor) + 1
	if n := len(l.segs); n > 0 {
		l.nextSeq = max(l.nextSeq, l.segs[n-1].first)
	}

	// Delete fully acknowledged segments except the last one.
	kept := l.segs[:0]
	for i, s := range l.segs {
		if i < len(l.segs)-1 && (len(s.recs) == 0 || s.lastSeq() <= l.cursor) {
			if err := l.fs.Remove(s.path); err == nil {
				continue
			}
		}
		kept = append(kept, s)
	}
	l.segs = kept
	for _, s := range l.segs {
		l.diskBytes += s.size
		for _, r := range s.recs {
			if r.seq > l.cursor {
				l.pendingRecs++
				l.pendingItems += uint64(r.items)
			}
		}
	}
	rec.PendingRecords, rec.PendingItems = l.pendingRecs, l.pendingItems
	l.st.DroppedCorruptRecords = rec.CorruptRecords
	l.st.DroppedCorruptItems = rec.CorruptItems

	// Reopen the last segment for appending (truncating a torn tail), or
	// start a new one.
	if n := len(l.segs); n > 0 {
		s := l.segs[n-1]
		f, err := l.fs.OpenFile(s.path, os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			if errors.Is(err, os.ErrPermission) {
				return fmt.Errorf("wal: open segment %s: %w", s.path, err)
			}
			l.note(rec, "cannot reopen %s for appending: %v", s.path, err)
			s.broken.Store(true)
		} else {
			s.w = f
			if fi, err := f.Stat(); err == nil && fi.Size() != s.size {
				if err := f.Truncate(s.size); err != nil {
					l.note(rec, "cannot truncate %s: %v", s.path, err)
					s.broken.Store(true)
					l.diskBytes += fi.Size() - s.size
					s.size = fi.Size()
				}
			}
		}
	}
	if len(l.segs) == 0 || l.segs[len(l.segs)-1].broken.Load() {
		if err := l.rollLocked(); err != nil {
			if errors.Is(err, os.ErrPermission) {
				return err
			}
			l.note(rec, "cannot create segment: %v", err)
		}
	}
	return nil
}

func (l *Log) active() *segment {
	if len(l.segs) == 0 {
		return nil
	}
	return l.segs[len(l.segs)-1]
}

// rollLocked starts a new active segment named after nextSeq. The previous
// active segment is fsynced and closed. Must hold mu.
func (l *Log) rollLocked() error {
	old := l.active()
	if old != nil && len(old.recs) == 0 {
		// An empty (or abandoned, never indexed) segment: replace it.
		_ = l.closeSegment(old, false)
		if err := l.fs.Remove(old.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("wal: remove %s: %w", old.path, err)
		}
		l.diskBytes -= old.size
		l.segs = l.segs[:len(l.segs)-1]
		old = nil
	}
	path := l.segPath(l.nextSeq)
	f, err := l.fs.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("wal: create segment %s: %w", path, err)
	}
	if _, err := f.Write(segmentMagic[:]); err != nil {
		_ = f.Close()
		_ = l.fs.Remove(path)
		return fmt.Errorf("wal: write segment header %s: %w", path, err)
	}
	if old != nil {
		if err := l.closeSegment(old, true); err != nil {
			l.syncFailed(old.lastSeq(), err)
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		l.setErr(fmt.Errorf("wal: fsync dir %s: %w", l.dir, err))
	}
	l.segs = append(l.segs, &segment{first: l.nextSeq, path: path, size: segmentHeaderSize, w: f})
	l.diskBytes += segmentHeaderSize
	return nil
}

// closeSegment fsyncs (if requested) and closes the append handle of s. It
// returns the sync or close error, if any.
func (l *Log) closeSegment(s *segment, sync bool) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if s.w == nil {
		return nil
	}
	if sync {
		if err := l.timedSync(s.w); err != nil {
			s.syncErr = fmt.Errorf("wal: fsync %s: %w", s.path, err)
			l.setErr(s.syncErr)
		}
	}
	if err := s.w.Close(); err != nil && s.syncErr == nil && sync {
		s.syncErr = fmt.Errorf("wal: close %s: %w", s.path, err)
		l.setErr(s.syncErr)
	}
	s.w = nil
	return s.syncErr
}

func (l *Log) timedSync(f File) error {
	start := time.Now()
	err := f.Sync()
	d := time.Since(start)
	l.lastFsyncNanos.Store(int64(d))
	if l.opts.OnFsync != nil {
		l.opts.OnFsync(d)
	}
	l.fsyncs.Add(1)
	return err
}

// Recovery returns the summary of what Open found on disk.
func (l *Log) Recovery() Recovery {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.recovery
	r.Notes = append([]string(nil), r.Notes...)
	return r
}

// Dir returns the log directory.
func (l *Log) Dir() string { return l.dir }

// Append writes a record and returns its sequence number. kind must be
// 0..127 and items is the caller's count of telemetry items in payload (used
// for accounting). The payload is copied; the caller may reuse it. See the
// package documentation for durability guarantees of each FsyncPolicy.
func (l *Log) Append(ctx context.Context, kind uint8, items uint32, payload []byte) (uint64, error) {
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
		memCopy = append(make([]byte, 0, len(payload)), payload...)
	}

	l.mu.Lock()
	seq, err := l.appendLocked(ctx, frame, h, memCopy)
	drops := l.takeDropsLocked()
	l.mu.Unlock()
	l.fireDrops(drops)
	if len(drops) > 0 {
		// Segments were evicted: persist the cursor now, so that a crash
		// does not count their records again as lost at the next start.
		_ = l.persistCursor(true)
	}
	if err != nil {
		return 0, err
	}
	if l.opts.Fsync == FsyncAlways {
		if err := l.commit(seq); err != nil {
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
// Must hold mu; may release it while waiting under the Block policy.
func (l *Log) appendLocked(ctx context.Context, frame []byte, h recordHeader, memCopy []byte) (uint64, error) {
	need := int64(len(frame))
	for {
		if l.closed {
			return 0, ErrClosed
		}
		act := l.active()
		roll := act == nil || act.w == nil || act.broken.Load() ||
			(len(act.recs) > 0 && act.size+need > l.opts.SegmentBytes)
		growth := need
		if roll {
			growth += segmentHeaderSize
		}
		if l.opts.MaxBytes > 0 && l.diskBytes+growth > l.opts.MaxBytes {
			ok, err := l.makeRoomLocked(ctx)
			if err != nil {
				return 0, err
			}
			if ok {
				continue
			}
		}
		if roll {
			if err := l.rollLocked(); err != nil {
				l.setErr(err)
				return 0, err
			}
			continue
		}
		return l.writeLocked(act, frame, h, memCopy)
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
				l.diskBytes += int64(n)
				werr = fmt.Errorf("%w (truncate failed: %v)", werr, terr)
			}
		}
		l.setErr(werr)
		return 0, werr
	}
	act.size += int64(n)
	l.diskBytes += int64(n)
	act.recs = append(act.recs, recMeta{
		seq: seq, off: off, length: h.length, items: h.items, kind: h.kind, at: time.Now().UnixNano(),
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

func (l *Log) takeDropsLocked() []dropEvent {
	d := l.drops
	l.drops = nil
	return d
}

func (l *Log) fireDrops(d []dropEvent) {
	if l.opts.OnDrop == nil {
		return
	}
	for _, e := range d {
		l.opts.OnDrop(e.reason, e.records, e.items)
	}
}

// Ack acknowledges the record seq. Acks may arrive out of order; the cursor
// advances over the contiguous acknowledged prefix, and segments whose
// records are all acknowledged are deleted (except the active one). Acks for
// unknown, evicted or already acknowledged sequences are ignored.
func (l *Log) Ack(seq uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || seq <= l.cursor || seq >= l.nextSeq {
		return
	}
	if _, dup := l.acked[seq]; dup {
		return
	}
	s, i, ok := l.locateLocked(seq)
	if !ok || s.recs[i].seq != seq {
		return
	}
	l.acked[seq] = struct{}{}
	l.pendingRecs--
	l.pendingItems -= uint64(s.recs[i].items)
	l.advanceLocked()
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

// advanceLocked moves the cursor over acknowledged records and deletes fully
// acknowledged segments.
func (l *Log) advanceLocked() {
	moved := false
	for {
		s, j, ok := l.locateLocked(l.cursor + 1)
		if !ok {
			break
		}
		seq := s.recs[j].seq
		if _, acked := l.acked[seq]; !acked {
			break
		}
		delete(l.acked, seq)
		l.cursor = seq
		moved = true
	}
	l.mem.dropThrough(l.cursor)
	l.deleteAckedLocked()
	if moved {
		l.notifySpaceLocked()
	}
}

// deleteAckedLocked deletes fully acknowledged segments, except the active
// one.
func (l *Log) deleteAckedLocked() {
	for len(l.segs) > 1 {
		s := l.segs[0]
		if len(s.recs) > 0 && s.lastSeq() > l.cursor {
			break
		}
		if err := l.fs.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			l.setErr(fmt.Errorf("wal: remove %s: %w", s.path, err))
			break
		}
		l.dropFrontLocked()
	}
}

// dropFrontLocked removes segs[0] from the index.
func (l *Log) dropFrontLocked() {
	s := l.segs[0]
	l.diskBytes -= s.size
	l.segs[0] = nil
	l.segs = l.segs[1:]
}

func (l *Log) notifySpaceLocked() {
	if l.spaceWait {
		close(l.spaceCh)
		l.spaceWait = false
	}
}

// Stats returns a snapshot of the log's state and counters.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	st := l.st
	st.DiskBytes = l.diskBytes
	st.Segments = len(l.segs)
	st.PendingRecords = l.pendingRecs
	st.PendingItems = l.pendingItems
	st.AckedSeq = l.cursor
	st.LastSeq = l.nextSeq - 1
	st.MemoryBytes = l.mem.bytes
	if s, j, ok := l.locateLocked(l.cursor + 1); ok {
		at := s.recs[j].at
		if at == 0 {
			at = s.mtime
		}
		st.OldestPending = time.Unix(0, at)
	}
	l.mu.Unlock()
	st.Fsyncs = l.fsyncs.Load()
	st.LastFsyncDuration = time.Duration(l.lastFsyncNanos.Load())
	l.errMu.Lock()
	st.LastError = l.lastErr
	l.errMu.Unlock()
	return st
}

// Close flushes and fsyncs the active segment, persists the cursor and
// releases the directory lock. Blocked Appends and Readers return ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closed = true
	close(l.closedCh)
	segs := append([]*segment(nil), l.segs...)
	l.mu.Unlock()

	close(l.stop)
	l.wg.Wait()

	var errs []error
	for _, s := range segs {
		if err := l.closeSegment(s, true); err != nil {
			errs = append(errs, err)
		}
	}
	l.gc.mu.Lock()
	l.gc.cond.Broadcast()
	l.gc.mu.Unlock()
	if err := l.persistCursor(false); err != nil {
		errs = append(errs, err)
	}
	l.releaseResources()
	return errors.Join(errs...)
}

// persistCursor writes the cursor file if the cursor or the last sequence
// changed (or force is set). The file carries a watermark of the intact
// records beyond the cursor, for exact loss accounting at the next start.
func (l *Log) persistCursor(force bool) error {
	l.cursorMu.Lock()
	defer l.cursorMu.Unlock()
	l.mu.Lock()
	st := cursorState{Acked: l.cursor, HasWatermark: true, Last: l.nextSeq - 1}
	if !force && l.cursorPersisted && st.Acked == l.persistedCursor && st.Last == l.persistedLast {
		l.mu.Unlock()
		return nil
	}
	for _, s := range l.segs {
		if len(s.recs) == 0 || s.lastSeq() <= st.Acked {
			continue
		}
		for _, r := range s.recs {
			if r.seq > st.Acked {
				st.TailRecords++
				st.TailItems += uint64(r.items)
			}
		}
	}
	l.mu.Unlock()
	if err := writeCursor(l.fs, l.dir, st); err != nil {
		l.setErr(err)
		return err
	}
	l.persistedCursor = st.Acked
	l.persistedLast = st.Last
	l.cursorPersisted = true
	return nil
}
