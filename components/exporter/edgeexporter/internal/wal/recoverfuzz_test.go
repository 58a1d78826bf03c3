// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// FuzzRecoverDir recovers a whole log directory (a cursor file and up to two
// segment files with arbitrary names and content) and checks that:
//   - Open never fails or panics and finishes fast;
//   - a Reader returns only intact records, in increasing sequence order;
//   - after acknowledging some of them and a clean Close, opening the same
//     directory again counts nothing (no drop is counted twice), returns no
//     record the first instance did not return, and no acknowledged record
//     of the contiguous prefix;
//   - when the first instance read every record, reading everything again
//     after reopening counts nothing either (a record the Reader found
//     corrupt is not counted again);
//   - appending still works and gets a fresh sequence number.
//
// acks: bit i acknowledges the i-th record read (i%8); bit 7 clear leaves
// half of the records unread.
func FuzzRecoverDir(f *testing.F) {
	for _, s := range recoverFuzzSeeds(f) {
		f.Add(s.cursor, s.seg1, s.seg2, s.first1, s.first2, s.acks)
	}
	f.Fuzz(func(t *testing.T, cursor, seg1, seg2 []byte, first1, first2 uint64, acks uint8) {
		checkRecoverDir(t, cursor, seg1, seg2, first1, first2, acks)
	})
}

type recoverFuzzSeed struct {
	cursor, seg1, seg2 []byte
	first1, first2     uint64
	acks               uint8
}

func checkRecoverDir(t *testing.T, cursor, seg1, seg2 []byte, first1, first2 uint64, acks uint8) {
	fsys := newSimFS()
	const dir = "/wal"
	if err := fsys.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if len(cursor) > 0 {
		fsys.putFile(filepath.Join(dir, "cursor"), cursor)
	}
	if len(seg1) > 0 {
		fsys.putFile(filepath.Join(dir, fmt.Sprintf("%020d.seg", first1)), seg1)
	}
	if len(seg2) > 0 && first2 != first1 {
		fsys.putFile(filepath.Join(dir, fmt.Sprintf("%020d.seg", first2)), seg2)
	}
	describe := func() string {
		var b strings.Builder
		snap := fsys.snapshot()
		var names []string
		for p := range snap {
			names = append(names, p)
		}
		sort.Strings(names)
		for _, p := range names {
			fmt.Fprintf(&b, " %s(%d bytes)", filepath.Base(p), len(snap[p]))
		}
		return b.String()
	}
	var drops crashDrops
	opts := Options{FS: fsys, MaxRecordBytes: 1 << 20, Fsync: FsyncNever, FsyncInterval: time.Hour, CursorSyncInterval: time.Hour, OnDrop: drops.add}
	start := time.Now()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open failed on%s: %v", describe(), err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Open took %v", d)
	}
	rd := l.NewReader()
	seen := map[uint64][]byte{}
	var last uint64
	var read int
	for i := 0; i < 10000; i++ {
		rec, ok, err := nextNow(rd)
		if err != nil {
			_ = l.Close()
			t.Fatalf("Next: %v", err)
		}
		if !ok {
			break
		}
		if rec.Seq <= last {
			t.Errorf("Reader returned seq %d after %d", rec.Seq, last)
			break
		}
		last = rec.Seq
		seen[rec.Seq] = rec.Payload
		if acks&(1<<(read%7)) != 0 {
			l.Ack(rec.Seq)
		}
		read++
		if acks&0x80 == 0 && read >= 2 {
			break
		}
	}
	acked := l.Stats().AckedSeq
	if err := l.Close(); err != nil {
		t.Logf("Close: %v", err)
	}
	_, _, _, calls := drops.get()

	start = time.Now()
	l, err = Open(dir, opts)
	if err != nil {
		t.Fatalf("second Open failed: %v", err)
	}
	defer l.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("second Open took %v", d)
	}
	rv := l.Recovery()
	if _, _, _, c := drops.get(); c != calls || rv.CorruptRecords != 0 || rv.CorruptItems != 0 {
		r1, i1, c1, _ := drops.get()
		t.Errorf("second Open after a clean Close counted drops again: recovery corrupt=%d/%d items (totals %d records, %d items, %d corrupt), directory%s",
			rv.CorruptRecords, rv.CorruptItems, r1, i1, c1, describe())
	}
	rd = l.NewReader()
	for i := 0; i < 10000; i++ {
		rec, ok, err := nextNow(rd)
		if err != nil {
			t.Fatalf("Next after reopen: %v", err)
		}
		if !ok {
			break
		}
		if rec.Seq <= acked {
			t.Errorf("seq %d came back although the cursor was %d at Close", rec.Seq, acked)
		}
		if p, ok := seen[rec.Seq]; ok && string(p) != string(rec.Payload) {
			t.Errorf("seq %d: payload changed between two opens", rec.Seq)
		} else if !ok && acks&0x80 != 0 {
			t.Errorf("seq %d appears only at the second open", rec.Seq)
		}
	}
	if _, _, _, c := drops.get(); acks&0x80 != 0 && c != calls {
		r1, _, c1, _ := drops.get()
		t.Errorf("the first instance read every record, yet reading again after reopening counted new drops (totals %d records, %d corrupt), directory%s", r1, c1, describe())
	}
	st := l.Stats()
	seq, err := l.Append(context.Background(), 1, 1, []byte("after recovery"))
	if err != nil {
		t.Errorf("Append after recovery: %v", err)
	} else if seq <= st.LastSeq || seq <= last || seq == 0 {
		t.Errorf("Append after recovery got seq %d, last seq was %d (read up to %d)", seq, st.LastSeq, last)
	}
}

// fuzzFrame builds a record frame with the documented layout.
func fuzzFrame(seq uint64, items uint32, kind uint8, stored []byte) []byte {
	b := make([]byte, 25+len(stored))
	binary.LittleEndian.PutUint32(b[4:8], uint32(len(stored)))
	binary.LittleEndian.PutUint64(b[8:16], seq)
	binary.LittleEndian.PutUint32(b[16:20], items)
	b[20] = kind
	binary.LittleEndian.PutUint32(b[21:25], crcC(stored))
	binary.LittleEndian.PutUint32(b[0:4], crcC(b[4:25]))
	copy(b[25:], stored)
	return b
}

// recoverFuzzSeeds builds directories written by the log itself (clean,
// killed, torn, damaged) and a few hand-made ones.
func recoverFuzzSeeds(tb testing.TB) []recoverFuzzSeed {
	build := func(closeIt bool, ackFirst int) map[string][]byte {
		fsys := newSimFS()
		l, err := Open("/wal", Options{FS: fsys, SegmentBytes: 1024, Fsync: FsyncNever, CursorSyncInterval: time.Hour, MaxRecordBytes: 1 << 20})
		if err != nil {
			tb.Fatal(err)
		}
		for i := uint64(1); i <= 9; i++ {
			if _, err := l.Append(context.Background(), uint8(i%4), uint32(i), makePayload(i, 60+int(i*53%300))); err != nil {
				tb.Fatal(err)
			}
		}
		for s := 1; s <= ackFirst; s++ {
			l.Ack(uint64(s))
		}
		var snap map[string][]byte
		if closeIt {
			_ = l.Close()
			snap = fsys.snapshot()
		} else {
			snap = fsys.afterKill9().snapshot()
			_ = l.Close()
		}
		return snap
	}
	pick := func(snap map[string][]byte, acks uint8) recoverFuzzSeed {
		var segs []string
		for p := range snap {
			if strings.HasSuffix(p, ".seg") {
				segs = append(segs, p)
			}
		}
		sort.Strings(segs)
		s := recoverFuzzSeed{cursor: snap["/wal/cursor"], acks: acks}
		name := func(p string) uint64 {
			v, _ := parseSegmentNameForTest(filepath.Base(p))
			return v
		}
		if len(segs) > 0 {
			s.seg1, s.first1 = snap[segs[0]], name(segs[0])
		}
		if len(segs) > 1 {
			s.seg2, s.first2 = snap[segs[1]], name(segs[1])
		}
		return s
	}
	clean := pick(build(true, 0), 0xff)
	killed := pick(build(false, 0), 0x85)
	acked := pick(build(true, 3), 0x8a)
	seeds := []recoverFuzzSeed{clean, killed, acked}
	add := func(s recoverFuzzSeed, fn func(*recoverFuzzSeed)) {
		c := recoverFuzzSeed{cursor: append([]byte(nil), s.cursor...), seg1: append([]byte(nil), s.seg1...), seg2: append([]byte(nil), s.seg2...), first1: s.first1, first2: s.first2, acks: s.acks}
		fn(&c)
		seeds = append(seeds, c)
	}
	add(clean, func(s *recoverFuzzSeed) { s.seg2 = s.seg2[:len(s.seg2)-7] })               // torn tail
	add(clean, func(s *recoverFuzzSeed) { s.seg1 = s.seg1[:len(s.seg1)-7] })               // torn tail of a non-last segment
	add(clean, func(s *recoverFuzzSeed) { s.seg1[len(s.seg1)-3] ^= 0x40 })                 // damaged payload
	add(clean, func(s *recoverFuzzSeed) { s.seg1[20] ^= 0x01 })                            // damaged first header
	add(clean, func(s *recoverFuzzSeed) { s.seg2[3] ^= 0x01 })                             // damaged segment magic
	add(clean, func(s *recoverFuzzSeed) { s.cursor = []byte("OECUR\x00\x00\x02garbage") }) // garbled cursor
	add(clean, func(s *recoverFuzzSeed) { s.seg1 = nil })                                  // deleted segment
	add(acked, func(s *recoverFuzzSeed) { s.seg2 = nil })
	add(clean, func(s *recoverFuzzSeed) { s.first2 = s.first1 + 1000 }) // names disagree with content
	add(clean, func(s *recoverFuzzSeed) { s.first1, s.first2 = math.MaxUint64-1, math.MaxUint64 })
	add(killed, func(s *recoverFuzzSeed) { s.first1 = 1 << 62 })
	// A record with valid checksums whose compressed payload does not
	// decompress: the Reader finds it corrupt. Behind an unread record, so
	// the cursor cannot cover it at Close.
	bad := append([]byte("OEWAL\x00\x00\x01"), fuzzFrame(1, 2, 1, makePayload(1, 40))...)
	bad = append(bad, fuzzFrame(2, 3, 0x81, []byte("not zstd at all"))...)
	bad = append(bad, fuzzFrame(3, 4, 2, makePayload(3, 50))...)
	seeds = append(seeds,
		recoverFuzzSeed{seg1: bad, first1: 1, acks: 0x84}, // reads all, acks the 3rd only
		recoverFuzzSeed{seg1: bad, first1: 1, acks: 0xff},
		recoverFuzzSeed{seg1: bad, first1: 1, acks: 0x00},
		recoverFuzzSeed{cursor: clean.cursor, seg1: bad, first1: 1, acks: 0x84},
	)
	// A frame whose sequence is far beyond the segment name.
	far := append([]byte("OEWAL\x00\x00\x01"), fuzzFrame(math.MaxUint64, 1, 0, []byte("last"))...)
	seeds = append(seeds, recoverFuzzSeed{seg1: far, first1: 1, acks: 0xff})
	seeds = append(seeds, recoverFuzzSeed{seg1: []byte("OEWAL\x00\x00\x01"), first1: 5, seg2: bad, first2: 1, acks: 0x80})
	return seeds
}

// parseSegmentNameForTest parses "<20 digits>.seg".
func parseSegmentNameForTest(name string) (uint64, bool) {
	base, ok := strings.CutSuffix(name, ".seg")
	if !ok || len(base) != 20 {
		return 0, false
	}
	var v uint64
	for _, c := range base {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// TestRecoverDirSeeds runs the seeds of FuzzRecoverDir as named subtests,
// so that a failure names its seed.
func TestRecoverDirSeeds(t *testing.T) {
	for i, s := range recoverFuzzSeeds(t) {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			checkRecoverDir(t, s.cursor, s.seg1, s.seg2, s.first1, s.first2, s.acks)
		})
	}
}
