// SPDX-License-Identifier: Apache-2.0

// Package wal implements a durable, segmented, append-only write-ahead log
// used by the edge exporter so that accepted telemetry survives backend
// outages, process crashes (kill -9) and, depending on the fsync policy,
// power loss.
//
// The code is split by job: append.go (append, segment roll), sync.go
// (group commit, fsync outside the lock, background work), ack.go (acks,
// cursor, unlinking acknowledged segments), budget.go (budget and
// eviction), reader.go (reading, reader-found corruption), recover.go
// (recovery in separate steps), scan.go (bounded segment scanning),
// cursor.go (cursor file format).
//
// # Model
//
// Append writes a record (caller kind, item count, payload) and assigns it a
// sequence number that grows by one across the whole log. A Reader returns
// records in sequence order starting at the first unacknowledged record;
// Ack marks records as delivered (acks may arrive out of order) and the
// cursor advances over the contiguous acknowledged prefix. Segments whose
// records are all acknowledged are unlinked in the background, once a
// durable cursor covers them.
//
// # Live-first reading
//
// BeginLive opens a second acknowledged range: records appended from then
// on are the live range, returned by a live Reader while a backlog Reader
// returns the records before it (oldest first). The cursor file keeps both
// ranges: LiveStart and LiveAcked (every record in [LiveStart, LiveAcked]
// acknowledged or accounted) with its own out-of-order bitmap, so that a
// crash re-sends at most the records in flight of either reader, however
// long the live range has run ahead of the backlog. Segments whose records
// all lie in the acknowledged live range are unlinked like those at the
// front (after a durable cursor covers them), and recovery does not count
// the hole they leave. The ranges merge when the backlog is acknowledged (or
// evicted) up to the live range; one live range is open at a time.
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
// payload exactly (counting its items) while a corrupt header (or a damaged
// segment header) triggers a resynchronisation to the next valid record
// header with a plausible sequence (greater than the last one, within the
// segment's range), checked before any payload checksum, so a scan is one
// pass through a 1 MiB window.
//
// The cursor file (format v5) has three 948-byte slots, each in its own
// 1024 bytes: magic, generation, acknowledged sequence, the watermark (last
// sequence appended; count of intact records and items beyond the cursor
// that are neither acknowledged nor counted), the records evicted while in
// flight whose fate is unknown, the live range (see below), a bitmap of the
// 3,456 sequences after the cursor that were acknowledged out of order or
// counted as dropped, the same bitmap after the live range's cursor, and a
// CRC32C. Files of earlier formats (v4: 500-byte slots without a live range,
// v2, v1) are read and replaced by a v5 file at Open.
// The valid slot with the highest generation wins. Slot 2 takes plain writes
// (one pwrite, no fsync) on every acknowledgement and append: that survives
// kill -9, so a process crash re-sends only the requests in flight. Slots 0
// and 1 take durable writes in turn (pwrite + fsync) that commit drops and
// precede unlinking: a torn or lost write can never bring back a state older
// than the last completed durable one. Recovery compares the watermark with
// what it finds intact, so damage that leaves no header to count from (a
// destroyed header, a truncated or deleted segment) is still counted
// exactly, and only once.
//
// # Durability
//
// Every Append issues write(2) before returning; nothing acknowledged is
// buffered in user space. Therefore, in every mode, an Append that returned
// successfully survives a crash of the process (kill -9, panic, OOM kill):
// the data is in the kernel page cache and reaches the disk eventually.
// The modes differ only for power loss or a kernel crash:
//
//   - FsyncAlways: Append returns after the record's data and its segment's
//     directory entry are fsynced (group commit: concurrent appenders share
//     one fsync). A successful Append survives power loss. A failed fsync
//     fails every Append it covered and the log continues in a new segment
//     (the failed file is never fsynced again as if nothing happened).
//   - FsyncInterval (default): a background goroutine fsyncs every
//     FsyncInterval when there were writes. Power loss can lose at most the
//     appends of the last interval (plus data the kernel had not written).
//   - FsyncNever: fsync when a segment is rolled (in the background) and on
//     Close. Power loss can lose everything not yet written back.
//
// Records lost or torn by power loss are detected by the checksums on the
// next Open and counted; Open never fails because of corrupt data.
//
// # Accounting
//
// Every record is delivered (acknowledged), still pending, or counted once
// in OnDrop (budget: evicted; corrupt: damaged on disk), across any number
// of crashes and restarts: a drop is committed to the cursor file before it
// is reported, and recovery never counts what the committed state already
// excludes. A record evicted while in flight is counted when its fate is
// known: acknowledged (sent, not dropped) or the reader rewinds or the log
// closes (dropped); if the process dies first, recovery counts it as
// dropped (its request may have reached the backend). Known limits: a
// record acknowledged more than 3,456 sequences above the oldest
// unacknowledged one (or above the live range's cursor) is forgotten by a
// restart (re-sent; counted as dropped if evicted first); power loss during the fsync that commits a drop can
// count it again at the next start or bring the evicted records back.
//
// # Budget
//
// MaxBytes bounds the sum of segment file sizes, including the active
// segment and acknowledged segments not yet unlinked. The log checks the
// budget before each write, so disk usage never exceeds MaxBytes +
// SegmentBytes. When an append does not fit: acknowledged segments are
// unlinked first; then DropOldest deletes whole oldest segments,
// acknowledged or not (the active one is rolled first when it is the only
// one); DropNewest returns ErrFull (a refusal, not a drop: the caller keeps
// the data); Block waits until acknowledgements free space or ctx is done.
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
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
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
	// MaxSegmentBytes caps SegmentBytes: recovery sets aside files larger
	// than a segment can be without scanning them.
	MaxSegmentBytes = 256 << 20
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
	// CursorSyncInterval is how often the cursor file is fsynced when it
	// changed (default 1s). The cursor itself is written (without fsync) on
	// every append and acknowledgement, so a process crash re-delivers at
	// most the records in flight; the interval bounds re-delivery after
	// power loss.
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
	// OnDrop, if set, is called when records are lost: reason is
	// DropReasonBudget or DropReasonCorrupt. Every lost record is reported
	// exactly once across any number of restarts and process crashes: the
	// call follows the cursor write that records the loss. It may be called
	// with internal locks held and must not call into the Log.
	OnDrop func(reason string, records, items uint64)
	// OnFsync, if set, is called with the duration of every fsync of a
	// segment file (for latency metrics). It must not call into the Log.
	OnFsync func(time.Duration)
	// Shared, if set, is a disk budget shared with other logs (see
	// SharedBudget): MaxBytes bounds the segment bytes of all of them.
	Shared *SharedBudget
	// Class ranks the log in a shared budget: DropOldest evicts from the
	// log with the highest Class first (the lowest priority), never from a
	// log with a lower Class than the appending one's.
	Class int
	// Logf, if set, receives notable events (recovery notes, I/O errors). It
	// may be called with internal locks held and must not call into the Log.
	Logf func(format string, args ...any)
}

func (o Options) withDefaults() Options {
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	o.SegmentBytes = min(o.SegmentBytes, MaxSegmentBytes)
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
	// SetAside lists files named like segments that held no record and
	// were renamed with the ".corrupt" suffix (or removed if one is already
	// set aside).
	SetAside []string
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
	AckedSeq       uint64    // ack cursor: all seq <= AckedSeq are acknowledged or accounted
	// LiveStart (0: none) and LiveAckedSeq: the live range of live-first
	// delivery; every seq in [LiveStart, LiveAckedSeq] is acknowledged or
	// accounted.
	LiveStart, LiveAckedSeq uint64
	LastSeq                 uint64 // last assigned sequence

	Appends       uint64 // successful appends
	AppendedBytes uint64 // stored bytes appended (frames)
	RejectedFull  uint64 // appends refused with ErrFull (DropNewest): not drops, the caller got the error

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

// flight is a record returned by a Reader and not yet acknowledged.
type flight struct {
	items uint32
	rd    *Reader
}

// ackInfo is the state of a record above the cursor that needs no delivery.
type ackInfo struct {
	items   uint32
	dropped bool // counted as dropped (corrupt), not acknowledged
}

// Log is a durable segmented write-ahead log. All methods are safe for
// concurrent use.
//
// Lock order: cursorMu (Close only) -> syncMu -> mu -> cmu, and mu -> gc.mu.
type Log struct {
	dir  string
	opts Options
	fs   FS
	lock io.Closer
	enc  *zstd.Encoder
	dec  *zstd.Decoder

	mu       sync.Mutex
	closed   bool
	closedCh chan struct{}
	segs     []*segment // in sequence order; the last one is active
	// diskBytes is the sum of segment file sizes, including removed
	// segments not yet unlinked (trash).
	diskBytes int64
	nextSeq   uint64
	cursor    uint64
	// acked holds acknowledged (or dropped) records above the cursor.
	acked map[uint64]ackInfo
	// liveStart (0: none) and liveCursor: the second acknowledged range of
	// live-first delivery: every record with liveStart <= seq <= liveCursor
	// is acknowledged or accounted (and not in acked). When set,
	// liveStart-1 <= liveCursor and cursor < liveStart-1: the ranges merge
	// when the cursor reaches liveStart-1.
	liveStart, liveCursor uint64
	// inflight holds records returned by a Reader and not yet acknowledged;
	// evictedInFlight those of them whose segment was evicted meanwhile:
	// their fate (sent or dropped) is known only when they are acknowledged
	// or the reader that read them rewinds.
	inflight        map[uint64]flight
	evictedInFlight map[uint64]flight
	// pendingRecs/Items: records on disk neither acknowledged nor accounted.
	pendingRecs, pendingItems uint64
	// trash: fully acknowledged segments removed from segs, to be unlinked
	// once a durable cursor covers them.
	trash      []*segment
	trashBytes int64 // bytes of trash and of unlinks in progress
	// retired: removed segments whose append handle is still open.
	retired   []*segment
	mem       memTier
	dataCh    chan struct{} // closed when records are appended (if dataWait)
	dataWait  bool
	spaceCh   chan struct{} // closed when space is freed (if spaceWait)
	spaceWait bool
	st        Stats // counters guarded by mu
	recovery  Recovery
	// shared is the budget shared with other logs (nil: MaxBytes is this
	// log's alone); set once recovered.
	shared *SharedBudget

	syncMu         sync.Mutex // serialises fsyncs and closing of segment files
	fsyncs         atomic.Uint64
	lastFsyncNanos atomic.Int64

	errMu   sync.Mutex
	lastErr error

	gc groupCommit

	cmu sync.Mutex // guards cur
	cur cursorFile

	kick chan struct{} // wakes the background goroutine (reclaim, seal syncs)
	stop chan struct{}
	wg   sync.WaitGroup
}

// Open opens or creates the log in dir and recovers its content. It fails
// only when the directory cannot be used (permissions, lock held by another
// process, cursor file cannot be written); corrupt data is skipped and
// reported by Recovery.
func Open(dir string, opts Options) (*Log, error) {
	opts = opts.withDefaults()
	l := &Log{
		dir:             dir,
		opts:            opts,
		fs:              opts.FS,
		closedCh:        make(chan struct{}),
		acked:           make(map[uint64]ackInfo),
		inflight:        make(map[uint64]flight),
		evictedInFlight: make(map[uint64]flight),
		mem:             memTier{max: opts.MemoryBytes},
		kick:            make(chan struct{}, 1),
		stop:            make(chan struct{}),
	}
	l.gc.cond = sync.NewCond(&l.gc.mu)
	l.cur.dir = dir
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
			if s.w != nil {
				_ = s.w.Close()
			}
		}
		_ = l.cur.close()
		l.releaseResources()
		return nil, err
	}
	if opts.Shared != nil {
		opts.Shared.register(l)
	}
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

func (l *Log) active() *segment {
	if len(l.segs) == 0 {
		return nil
	}
	return l.segs[len(l.segs)-1]
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
	r.SetAside = append([]string(nil), r.SetAside...)
	return r
}

// Dir returns the log directory.
func (l *Log) Dir() string { return l.dir }

// Stats returns a snapshot of the log's state and counters.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	st := l.st
	st.DiskBytes = l.diskBytes
	st.Segments = len(l.segs)
	st.PendingRecords = l.pendingRecs
	st.PendingItems = l.pendingItems
	st.AckedSeq = l.cursor
	st.LiveStart, st.LiveAckedSeq = l.liveStart, l.liveCursor
	st.LastSeq = l.nextSeq - 1
	st.MemoryBytes = l.mem.bytes
	if s, j, ok := l.firstPendingLocked(); ok {
		st.OldestPending = appendTime(s, s.recs[j])
	}
	l.mu.Unlock()
	st.Fsyncs = l.fsyncs.Load()
	st.LastFsyncDuration = time.Duration(l.lastFsyncNanos.Load())
	l.errMu.Lock()
	st.LastError = l.lastErr
	l.errMu.Unlock()
	return st
}

// firstPendingLocked returns the oldest record that is neither acknowledged
// nor accounted. Must hold mu.
func (l *Log) firstPendingLocked() (*segment, int, bool) {
	s, j, ok := l.locateLocked(l.cursor + 1)
	for n := 0; ok && n < 1024; n++ {
		seq := s.recs[j].seq
		if l.inLiveLocked(seq) {
			s, j, ok = l.locateLocked(l.liveCursor + 1)
			continue
		}
		if _, done := l.acked[seq]; !done {
			return s, j, true
		}
		s, j, ok = l.locateLocked(seq + 1)
	}
	return s, j, ok
}

// Close fsyncs the segments, persists the cursor durably and releases the
// directory lock. Blocked Appends and Readers return ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closed = true
	close(l.closedCh)
	// Records evicted while in flight and not acknowledged by now were not
	// delivered: they are dropped.
	l.dropEvictedInFlightLocked(nil)
	l.mu.Unlock()

	close(l.stop)
	l.wg.Wait()

	var errs []error
	if err := l.reclaim(); err != nil {
		errs = append(errs, err)
	}
	if err := l.syncAll(true, true); err != nil {
		errs = append(errs, err)
	}
	l.gc.mu.Lock()
	l.gc.cond.Broadcast()
	l.gc.mu.Unlock()
	l.mu.Lock()
	st := l.cursorStateLocked()
	l.cmu.Lock()
	l.mu.Unlock()
	if l.cur.f != nil {
		if err := l.cur.writeDurable(st, nil); err != nil {
			l.setErr(err)
			errs = append(errs, err)
		}
		if err := l.cur.close(); err != nil {
			errs = append(errs, err)
		}
	}
	l.cmu.Unlock()
	if l.opts.Shared != nil {
		l.opts.Shared.unregister(l)
	}
	l.releaseResources()
	return errors.Join(errs...)
}
