// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

const (
	cursorFileName = "cursor"
	cursorTmpName  = "cursor.tmp"
	// cursorFileSizeV1 is the size of the first format (acknowledged
	// sequence only), still read.
	cursorFileSizeV1 = 20
	// cursorFileSizeV2 is the size of the second format (one slot with a
	// watermark, replaced by rename), still read.
	cursorFileSizeV2 = 44
	// cursorSlotSize is the encoded size of one slot of the current format
	// (v5): the v4 fields, the live range and its bitmap.
	cursorSlotSize = slotFixed + 2*aboveBytes + 4
	// slotFixed is the size of the fixed fields of a v5 slot.
	slotFixed = 80
	// cursorSlotSizeV4 and cursorSlotStrideV4: the fourth format (no live
	// range, slots in 512-byte sectors), still read.
	cursorSlotSizeV4   = 64 + aboveBytes + 4
	cursorSlotStrideV4 = 512
	// aboveBytes is the size of each bitmap of records acknowledged (or
	// accounted) above a cursor: aboveBits sequences after Acked, and as
	// many after LiveAcked.
	aboveBytes = 432
	aboveBits  = aboveBytes * 8
	// cursorSlotStride separates the slots: each lives in its own two
	// 512-byte sectors so that a torn write damages at most one.
	cursorSlotStride = 1024
	// cursorSlots: slots 0 and 1 take durable writes in turn, slot 2 plain
	// writes.
	cursorSlots     = 3
	cursorPlainSlot = 2
	// cursorFileSize is the size of the current format: three slots.
	cursorFileSize = (cursorSlots-1)*cursorSlotStride + cursorSlotSize
)

var (
	cursorMagicV1 = [8]byte{'O', 'E', 'C', 'U', 'R', 0, 0, 1}
	cursorMagicV2 = [8]byte{'O', 'E', 'C', 'U', 'R', 0, 0, 2}
	cursorMagicV4 = [8]byte{'O', 'E', 'C', 'U', 'R', 0, 0, 4}
	cursorMagic   = [8]byte{'O', 'E', 'C', 'U', 'R', 0, 0, 5}
)

// Formats of the cursor file, as returned by decodeCursor.
const (
	cursorFormatV1 = 1
	cursorFormatV2 = 2
	cursorFormatV4 = 4
	cursorFormat   = 5 // the current one, updated in place
)

var errCursorCorrupt = errors.New("wal: cursor file corrupt")

// cursorState is what the cursor file holds: the acknowledged sequence and a
// watermark of what was on disk beyond it when it was written. The watermark
// lets recovery count exactly the items lost to damage it cannot see
// record by record (a destroyed header, a truncated or deleted segment).
type cursorState struct {
	// Gen orders the writes of the two slots; the valid slot with the
	// highest generation is the current state.
	Gen uint64
	// Acked: every record with seq <= Acked is acknowledged or accounted.
	Acked uint64
	// HasWatermark is false for files of the first format.
	HasWatermark bool
	// Last is the last sequence appended when the slot was written.
	Last uint64
	// TailRecords and TailItems count the intact records (and their items)
	// with Acked < seq <= Last at that time that are neither counted as
	// dropped nor marked in Above.
	TailRecords, TailItems uint64
	// FateRecords and FateItems count records evicted (DropOldest) while in
	// flight whose fate (sent or not) was not known yet: if the process
	// dies, recovery counts them as dropped (the request may have reached
	// the backend: a drop counted too many rather than a loss not counted).
	FateRecords, FateItems uint64
	// Above marks the records Acked+1+i (bit i) that were acknowledged out
	// of order or counted as dropped: recovery neither re-delivers them nor
	// counts them as lost.
	Above [aboveBytes]byte
	// LiveStart (0: none) opens a second acknowledged range, for live-first
	// delivery: every record with LiveStart <= seq <= LiveAcked is
	// acknowledged or accounted, and LiveAbove marks the records
	// LiveAcked+1+i (bit i) acknowledged out of order above it. LiveStart-1
	// <= LiveAcked, and Acked < LiveStart-1 (the ranges merge when the
	// first reaches the second).
	LiveStart, LiveAcked uint64
	LiveAbove            [aboveBytes]byte
}

// done reports whether seq is acknowledged or accounted in s: under the
// cursor, in the live range, or marked in a bitmap.
func (s *cursorState) done(seq uint64) bool {
	return seq <= s.Acked || s.inLive(seq) || s.above(seq) || s.liveAbove(seq)
}

// inLive reports whether seq is in the acknowledged live range.
func (s *cursorState) inLive(seq uint64) bool {
	return s.LiveStart > 0 && seq >= s.LiveStart && seq <= s.LiveAcked
}

func (s *cursorState) liveAbove(seq uint64) bool {
	if s.LiveStart == 0 || seq <= s.LiveAcked || seq-s.LiveAcked > aboveBits {
		return false
	}
	i := seq - s.LiveAcked - 1
	return s.LiveAbove[i/8]&(1<<(i%8)) != 0
}

func (s *cursorState) setLiveAbove(seq uint64) bool {
	if s.LiveStart == 0 || seq <= s.LiveAcked || seq-s.LiveAcked > aboveBits {
		return false
	}
	i := seq - s.LiveAcked - 1
	s.LiveAbove[i/8] |= 1 << (i % 8)
	return true
}

// covers reports whether the state accounts for every record of a segment
// whose sequences are within [first, last]: under the cursor, or inside the
// live range.
func (s *cursorState) covers(first, last uint64) bool {
	return last <= s.Acked || s.LiveStart > 0 && first >= s.LiveStart && last <= s.LiveAcked
}

func (s *cursorState) above(seq uint64) bool {
	if seq <= s.Acked || seq-s.Acked > aboveBits {
		return false
	}
	i := seq - s.Acked - 1
	return s.Above[i/8]&(1<<(i%8)) != 0
}

func (s *cursorState) setAbove(seq uint64) bool {
	if seq <= s.Acked || seq-s.Acked > aboveBits {
		return false
	}
	i := seq - s.Acked - 1
	s.Above[i/8] |= 1 << (i % 8)
	return true
}

// encodeSlot encodes s as one slot of the current format (v5). Layout
// (little endian): magic[8] | gen u64 | acked u64 | last u64 | tail records
// u64 | tail items u64 | fate records u64 | fate items u64 | live start u64 |
// live acked u64 | above bitmap [432] | live above bitmap [432] | CRC32C of
// the preceding bytes u32.
func encodeSlot(b []byte, s cursorState) []byte {
	const end = slotFixed + 2*aboveBytes
	b = b[:cursorSlotSize]
	copy(b, cursorMagic[:])
	binary.LittleEndian.PutUint64(b[8:16], s.Gen)
	binary.LittleEndian.PutUint64(b[16:24], s.Acked)
	binary.LittleEndian.PutUint64(b[24:32], s.Last)
	binary.LittleEndian.PutUint64(b[32:40], s.TailRecords)
	binary.LittleEndian.PutUint64(b[40:48], s.TailItems)
	binary.LittleEndian.PutUint64(b[48:56], s.FateRecords)
	binary.LittleEndian.PutUint64(b[56:64], s.FateItems)
	binary.LittleEndian.PutUint64(b[64:72], s.LiveStart)
	binary.LittleEndian.PutUint64(b[72:80], s.LiveAcked)
	copy(b[slotFixed:slotFixed+aboveBytes], s.Above[:])
	copy(b[slotFixed+aboveBytes:end], s.LiveAbove[:])
	binary.LittleEndian.PutUint32(b[end:end+4], crc(b[:end]))
	return b
}

func decodeSlot(b []byte) (cursorState, bool) {
	const end = slotFixed + 2*aboveBytes
	if len(b) < cursorSlotSize || [8]byte(b[:8]) != cursorMagic ||
		binary.LittleEndian.Uint32(b[end:end+4]) != crc(b[:end]) {
		return cursorState{}, false
	}
	s := decodeSlotFields(b)
	s.LiveStart = binary.LittleEndian.Uint64(b[64:72])
	s.LiveAcked = binary.LittleEndian.Uint64(b[72:80])
	copy(s.Above[:], b[slotFixed:slotFixed+aboveBytes])
	copy(s.LiveAbove[:], b[slotFixed+aboveBytes:end])
	return s, true
}

// decodeSlotV4 decodes a slot of the fourth format (no live range).
func decodeSlotV4(b []byte) (cursorState, bool) {
	const end = 64 + aboveBytes
	if len(b) < cursorSlotSizeV4 || [8]byte(b[:8]) != cursorMagicV4 ||
		binary.LittleEndian.Uint32(b[end:end+4]) != crc(b[:end]) {
		return cursorState{}, false
	}
	s := decodeSlotFields(b)
	copy(s.Above[:], b[64:end])
	return s, true
}

// decodeSlotFields decodes the fields that v4 and v5 slots share.
func decodeSlotFields(b []byte) cursorState {
	return cursorState{
		Gen:          binary.LittleEndian.Uint64(b[8:16]),
		Acked:        binary.LittleEndian.Uint64(b[16:24]),
		HasWatermark: true,
		Last:         binary.LittleEndian.Uint64(b[24:32]),
		TailRecords:  binary.LittleEndian.Uint64(b[32:40]),
		TailItems:    binary.LittleEndian.Uint64(b[40:48]),
		FateRecords:  binary.LittleEndian.Uint64(b[48:56]),
		FateItems:    binary.LittleEndian.Uint64(b[56:64]),
	}
}

// decodeCursor decodes a cursor file of any format: the newest valid slot of
// the current format, else of the fourth, or a file of an earlier format.
// It returns the format found.
func decodeCursor(b []byte) (cursorState, int, error) {
	for _, f := range []struct {
		format       int
		stride, size int
		decode       func([]byte) (cursorState, bool)
	}{
		{cursorFormat, cursorSlotStride, cursorSlotSize, decodeSlot},
		{cursorFormatV4, cursorSlotStrideV4, cursorSlotSizeV4, decodeSlotV4},
	} {
		var best cursorState
		found := false
		for i := 0; i < cursorSlots; i++ {
			off := i * f.stride
			if len(b) < off+f.size {
				continue
			}
			if s, ok := f.decode(b[off : off+f.size]); ok && (!found || s.Gen > best.Gen) {
				best, found = s, true
			}
		}
		if found {
			return best, f.format, nil
		}
	}
	switch {
	case len(b) == cursorFileSizeV2 && [8]byte(b[:8]) == cursorMagicV2 &&
		binary.LittleEndian.Uint32(b[40:44]) == crc(b[:40]):
		return cursorState{
			Acked:        binary.LittleEndian.Uint64(b[8:16]),
			HasWatermark: true,
			Last:         binary.LittleEndian.Uint64(b[16:24]),
			TailRecords:  binary.LittleEndian.Uint64(b[24:32]),
			TailItems:    binary.LittleEndian.Uint64(b[32:40]),
		}, cursorFormatV2, nil
	case len(b) == cursorFileSizeV1 && [8]byte(b[:8]) == cursorMagicV1 &&
		binary.LittleEndian.Uint32(b[16:20]) == crc(b[:16]):
		return cursorState{Acked: binary.LittleEndian.Uint64(b[8:16])}, cursorFormatV1, nil
	}
	return cursorState{}, 0, errCursorCorrupt
}

func readCursor(fsys FS, dir string) (cursorState, error) {
	s, _, err := readCursorFormat(fsys, dir)
	return s, err
}

// readCursorFormat reads the cursor file and reports its format.
func readCursorFormat(fsys FS, dir string) (cursorState, int, error) {
	f, err := fsys.OpenFile(filepath.Join(dir, cursorFileName), os.O_RDONLY, 0)
	if err != nil {
		return cursorState{}, 0, err
	}
	defer f.Close()
	b := make([]byte, cursorFileSize+1)
	n, err := f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return cursorState{}, 0, err
	}
	return decodeCursor(b[:n])
}

// createCursor writes a fresh cursor file atomically (write cursor.tmp with
// the state in every slot, fsync, rename over cursor, fsync the directory)
// and returns it opened for in-place updates. The slots get generations 1,
// 2 and 3.
func createCursor(fsys FS, dir string, s cursorState) (File, error) {
	tmp := filepath.Join(dir, cursorTmpName)
	// O_EXCL: recovery removed any stale cursor.tmp; one that is there now
	// (a planted link) is refused, never truncated or written through.
	f, err := fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("wal: create %s: %w", tmp, err)
	}
	img := make([]byte, cursorFileSize)
	for i := 0; i < cursorSlots; i++ {
		s.Gen = uint64(i + 1)
		encodeSlot(img[i*cursorSlotStride:], s)
	}
	if _, err := f.Write(img); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("wal: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("wal: fsync %s: %w", tmp, err)
	}
	dst := filepath.Join(dir, cursorFileName)
	if err := fsys.Rename(tmp, dst); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("wal: rename %s: %w", dst, err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("wal: fsync dir %s: %w", dir, err)
	}
	return f, nil
}

// cursorFile updates the cursor file in place. Slots 0 and 1 take durable
// writes in turn (one pwrite followed by an fsync): the slot not written
// holds the previous durable state, fsynced, so a durable write torn by power
// loss falls back to it. Slot 2 holds plain writes: one pwrite, no fsync,
// which is enough to survive kill -9 (the page cache outlives the process)
// but not power loss. A torn or lost write can therefore never bring back a
// state older than the last completed durable one: recovery takes the valid
// slot with the highest generation. Not goroutine-safe: guarded by Log.cmu.
type cursorFile struct {
	dir string
	f   File
	gen uint64 // generation of the last write
	buf [cursorSlotSize]byte
	// last state written, and the last state that is durable (survives
	// power loss).
	last        cursorState
	durable     cursorState
	dirty       bool  // a plain write since the last fsync
	durableSlot int64 // the slot of the next durable write (0 or 1)
}

func (c *cursorFile) path() string { return filepath.Join(c.dir, cursorFileName) }

func (c *cursorFile) writeSlot(slot int64, s cursorState) (cursorState, error) {
	c.gen++
	s.Gen = c.gen
	if _, err := c.f.WriteAt(encodeSlot(c.buf[:], s), slot*cursorSlotStride); err != nil {
		return s, fmt.Errorf("wal: write %s: %w", c.path(), err)
	}
	return s, nil
}

// write persists s with one pwrite of the plain slot (survives kill -9, not
// power loss).
func (c *cursorFile) write(s cursorState) error {
	s, err := c.writeSlot(cursorPlainSlot, s)
	if err != nil {
		return err
	}
	c.last, c.dirty = s, true
	return nil
}

// writeDurable persists s with one pwrite of a durable slot (0 and 1 in
// turn) and an fsync. The pwrite
// is the commit point for a process crash, so committed (if set) is called
// right after it, before the fsync: callers report what the new state
// accounts for (drops) there, so that a kill -9 can neither lose nor repeat
// the report. An fsync error is returned after committed ran.
func (c *cursorFile) writeDurable(s cursorState, committed func()) error {
	slot := c.durableSlot
	c.durableSlot ^= 1
	s, err := c.writeSlot(slot, s)
	if err != nil {
		return err
	}
	c.last = s
	if committed != nil {
		committed()
	}
	if err := c.f.Sync(); err != nil {
		c.dirty = true
		return fmt.Errorf("wal: fsync %s: %w", c.path(), err)
	}
	c.dirty, c.durable = false, s
	return nil
}

// sync makes the last state durable when plain writes were made since the
// last durable write. It copies the state into a durable slot and fsyncs:
// fsyncing the plain slot alone would not do, because the next plain write
// overwrites it in place, and a power loss during that write can tear it and
// lose the state the fsync had made durable.
func (c *cursorFile) sync() error {
	if !c.dirty {
		return nil
	}
	return c.writeDurable(c.last, nil)
}

// same reports whether s equals the last written state (generation aside).
func (c *cursorFile) same(s cursorState) bool {
	s.Gen = c.last.Gen
	return s == c.last
}

func (c *cursorFile) close() error {
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	return err
}

// nextDurableSlot returns the durable slot (0 or 1) that does not hold the
// newer durable state of the file, so that the next durable write never
// overwrites the last completed one.
func nextDurableSlot(f File) int64 {
	var gens [2]uint64
	b := make([]byte, cursorSlotSize)
	for i := range gens {
		if n, _ := f.ReadAt(b, int64(i)*cursorSlotStride); n == cursorSlotSize {
			if st, ok := decodeSlot(b); ok {
				gens[i] = st.Gen
			}
		}
	}
	if gens[0] <= gens[1] {
		return 0
	}
	return 1
}
