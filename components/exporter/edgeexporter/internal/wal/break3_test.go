// SPDX-License-Identifier: Apache-2.0

// Third adversarial round, against the live range of live-first reading
// (commit 59202b7: BeginLive, NewLiveReader/NewBacklogReader, cursor v5,
// reclaim of acknowledged live segments, merge of the ranges, Rewind per
// reader). Tests whose name starts with TestBreak3Guard pass and guard a
// property; the others FAIL on the code they were written against (see each
// comment for the scenario and the violated property).
// Run: go test -count=1 -run 'TestBreak3' -v ./internal/wal/

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// b3Kill9 copies the directory of the open log l as a kill -9 would leave it
// (the page cache): with l.mu and l.cmu held and no unlink in progress, so
// that the copy is a consistent image.
func b3Kill9(t *testing.T, l *Log, src string) string {
	t.Helper()
	require.Eventually(t, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.trashBytes == 0 && len(l.trash) == 0
	}, 5*time.Second, time.Millisecond, "trash not reclaimed")
	l.mu.Lock()
	l.cmu.Lock()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range ents {
		if e.Name() == lockFileName {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600))
	}
	l.cmu.Unlock()
	l.mu.Unlock()
	return dst
}

// b3CloseKilled closes the log whose kill -9 image was taken: what Close
// reports (in-flight evictions settled as dropped) the killed process would
// not have reported, so the counters are restored.
func b3CloseKilled(t *testing.T, l *Log, drops *crashDrops) {
	t.Helper()
	drops.mu.Lock()
	b, bi, c, ci := drops.budget, drops.budgetItems, drops.corrupt, drops.corruptItems
	drops.mu.Unlock()
	_ = l.Close()
	drops.mu.Lock()
	drops.budget, drops.budgetItems, drops.corrupt, drops.corruptItems = b, bi, c, ci
	drops.mu.Unlock()
}

func b3Append(t *testing.T, l *Log, id uint64, size int) uint64 {
	t.Helper()
	seq, err := l.Append(context.Background(), 1, 1, makePayload(id, size))
	require.NoError(t, err)
	return seq
}

func b3Next(t *testing.T, r *Reader) (Record, bool) {
	t.Helper()
	rec, ok, err := nextNow(r)
	require.NoError(t, err)
	return rec, ok
}

// TestBreak3BeginLiveWithRecordInFlight: BeginLive while a record is in
// flight. The live reader (without a live range it returns every record)
// has record 1 in flight; BeginLive puts it in the backlog, and the backlog
// reader returns it a second time (sent twice without any failure). Its
// segment is then evicted (DropOldest): the in-flight entry now names the
// backlog reader only. The backlog request fails (br.Rewind): record 1 is
// counted as dropped. The live reader's request succeeds (Ack(1)): record 1
// was delivered. It is counted as dropped AND delivered.
//
// Violated: "every record delivered, pending or counted in exactly one drop
// reason (never counted and delivered)"; also a record is handed to two
// readers at once. Diagnosis: reader.go Next (no check of l.inflight: a
// record in flight from another reader is returned again) and ack.go
// BeginLive (moves the boundary under records in flight: the live reader's
// in-flight records become backlog); reader.go:194/225 overwrite the
// in-flight owner (flight.rd), so the first reader's fate is lost.
func TestBreak3BeginLiveWithRecordInFlight(t *testing.T) {
	var drops crashDrops
	opts := Options{SegmentBytes: 1024, MaxBytes: 4096, WhenFull: DropOldest, DisableCompression: true,
		MemoryBytes: -1, OnDrop: drops.add}
	l := openT(t, t.TempDir(), opts)
	defer l.Close()
	b3Append(t, l, 1, 200)
	b3Append(t, l, 2, 200)
	lr := l.NewLiveReader()
	rec, ok := b3Next(t, lr)
	require.True(t, ok)
	require.Equal(t, uint64(1), rec.Seq)
	require.Equal(t, uint64(3), l.BeginLive())
	br := l.NewBacklogReader()
	dup, ok := b3Next(t, br)
	if ok && dup.Seq == 1 {
		t.Errorf("record 1, in flight from the live reader, returned again by the backlog reader (sent twice without a failure)")
	}
	for i := uint64(3); l.Stats().AckedSeq < 2; i++ {
		b3Append(t, l, i, 200)
		require.Less(t, i, uint64(100))
	}
	evicted := l.Stats().AckedSeq
	br.Rewind() // the backlog request failed
	l.Ack(1)    // the live request (record 1) succeeded: delivered
	lr.Rewind() // nothing of the live reader is left in flight
	n, _, _, _ := drops.get()
	require.Equal(t, evicted-1, n,
		"records 1..%d evicted; record 1 was delivered (acked) and must not be counted as dropped too", evicted)
}

// TestBreak3GuardEvictIntoLiveRange: DropOldest evicts the backlog while a
// live range is open, with out-of-order acks in both ranges and records in
// flight from both readers, up to and into the live range (the straddling
// segment); then a kill -9. Accounting must balance and no acknowledged
// record comes back.
func TestBreak3GuardEvictIntoLiveRange(t *testing.T) {
	var drops crashDrops
	dir := t.TempDir()
	opts := Options{SegmentBytes: 1024, MaxBytes: 5 * 1024, WhenFull: DropOldest, DisableCompression: true,
		MemoryBytes: -1, OnDrop: drops.add, CursorSyncInterval: time.Hour}
	l := openT(t, dir, opts)
	appended := map[uint64]bool{}
	delivered := map[uint64]bool{}
	for i := uint64(1); i <= 10; i++ {
		appended[b3Append(t, l, i, 150)] = true
	}
	ls := l.BeginLive()
	require.Equal(t, uint64(11), ls)
	lr, br := l.NewLiveReader(), l.NewBacklogReader()
	// backlog: read 1..4, ack 2 and 4 (out of order), 1 and 3 stay in flight
	for i := 0; i < 4; i++ {
		_, ok := b3Next(t, br)
		require.True(t, ok)
	}
	l.Ack(2, 4)
	delivered[2], delivered[4] = true, true
	id := uint64(11)
	for step := 0; step < 40; step++ {
		appended[b3Append(t, l, id, 150)] = true
		id++
		rec, ok := b3Next(t, lr)
		require.True(t, ok)
		require.GreaterOrEqual(t, rec.Seq, ls)
		if rec.Seq%3 != 0 { // every third live record stays in flight
			l.Ack(rec.Seq)
			delivered[rec.Seq] = true
		}
	}
	st := l.Stats()
	t.Logf("after live traffic: %+v", st)
	l.Ack(1) // the evicted record in flight was sent after all
	delivered[1] = true
	img := b3Kill9(t, l, dir)
	b3CloseKilled(t, l, &drops)
	_, _, corruptBefore, _ := drops.get()

	l2 := openT(t, img, opts)
	defer l2.Close()
	recs := readAll(t, l2.NewReader(), 20*time.Millisecond)
	pending := map[uint64]bool{}
	for _, r := range recs {
		require.False(t, delivered[r.Seq], "acknowledged record %d delivered again after kill -9", r.Seq)
		pending[r.Seq] = true
	}
	n, _, corrupt, _ := drops.get()
	missing := 0
	for s := range appended {
		if !delivered[s] && !pending[s] {
			missing++
		}
	}
	require.Zero(t, corrupt, "kill -9 only: no corruption (before reopen %d)", corruptBefore)
	require.Equal(t, uint64(missing), n, "drops counted must equal the records neither delivered nor pending")
}

// TestBreak3GuardMergeOutOfOrder: acks arrive out of order in both ranges;
// the backlog's last ack merges the ranges; kill -9 at each step; no
// acknowledged record comes back and nothing is counted.
func TestBreak3GuardMergeOutOfOrder(t *testing.T) {
	dir := t.TempDir()
	var drops crashDrops
	opts := Options{SegmentBytes: 2048, DisableCompression: true, MemoryBytes: 4096, OnDrop: drops.add, CursorSyncInterval: time.Hour}
	l := openT(t, dir, opts)
	defer l.Close()
	for i := uint64(1); i <= 20; i++ {
		b3Append(t, l, i, 100)
	}
	ls := l.BeginLive()
	require.Equal(t, uint64(21), ls)
	for i := uint64(21); i <= 80; i++ {
		b3Append(t, l, i, 100)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	order := rng.Perm(80)
	acked := map[uint64]bool{}
	for k, i := range order {
		seq := uint64(i + 1)
		l.Ack(seq)
		acked[seq] = true
		if k%7 != 0 && k != len(order)-1 {
			continue
		}
		img := b3Kill9(t, l, dir)
		l2 := openT(t, img, Options{SegmentBytes: 2048, DisableCompression: true, OnDrop: drops.add})
		for _, r := range readAll(t, l2.NewReader(), 5*time.Millisecond) {
			require.False(t, acked[r.Seq], "step %d: acked %d came back (stats %+v)", k, r.Seq, l.Stats())
		}
		require.Zero(t, l2.Recovery().CorruptRecords)
		require.NoError(t, l2.Close())
	}
	st := l.Stats()
	require.Zero(t, st.LiveStart)
	require.Equal(t, uint64(80), st.AckedSeq)
	n, _, _, _ := drops.get()
	require.Zero(t, n)
}

// b3Model is a randomized live-first workload on real files with kill -9
// images between cycles: the accounting must balance after every restart.
type b3Model struct {
	t         *testing.T
	rng       *rand.Rand
	drops     *crashDrops
	opts      Options
	appended  map[uint64]uint64 // seq -> id
	delivered map[uint64]bool
	maxSeq    uint64
	nextID    uint64
	notes     []string
}

func (m *b3Model) notef(f string, a ...any) {
	m.notes = append(m.notes, fmt.Sprintf(f, a...))
	if len(m.notes) > 80 {
		m.notes = m.notes[1:]
	}
}

func (m *b3Model) fail(f string, a ...any) {
	m.t.Helper()
	m.t.Fatalf("%s\nlast events:\n%v", fmt.Sprintf(f, a...), m.notes)
}

func (m *b3Model) cycle(l *Log, steps int) {
	t := m.t
	ctx := context.Background()
	type fl struct {
		seq uint64
		rd  *Reader
	}
	var inflight []fl
	readers := []*Reader{l.NewReader()}
	live := false
	if st := l.Stats(); st.LiveStart > 0 {
		readers = []*Reader{l.NewLiveReader(), l.NewBacklogReader()}
		live = true
	}
	for step := 0; step < steps; step++ {
		switch x := m.rng.IntN(100); {
		case x < 40:
			m.nextID++
			size := 50 + m.rng.IntN(300)
			seq, err := l.Append(ctx, 1, 1, makePayload(m.nextID, size))
			if err != nil {
				require.ErrorIs(t, err, ErrFull)
				continue
			}
			if seq <= m.maxSeq {
				m.fail("I10: seq %d reused (max so far %d)", seq, m.maxSeq)
			}
			m.maxSeq = seq
			m.appended[seq] = m.nextID
			m.notef("append %d", seq)
		case x < 65:
			rd := readers[m.rng.IntN(len(readers))]
			rec, ok := b3Next(t, rd)
			if !ok {
				continue
			}
			if id, ok := m.appended[rec.Seq]; !ok || binary.LittleEndian.Uint64(rec.Payload) != id {
				m.fail("I3: seq %d returned with a wrong payload", rec.Seq)
			}
			if m.delivered[rec.Seq] {
				m.fail("seq %d returned again after its Ack", rec.Seq)
			}
			for _, f := range inflight {
				if f.seq == rec.Seq {
					m.fail("seq %d returned while in flight", rec.Seq)
				}
			}
			inflight = append(inflight, fl{rec.Seq, rd})
			m.notef("read %d (reader %d)", rec.Seq, indexOf(readers, rd))
		case x < 85:
			if len(inflight) == 0 {
				continue
			}
			i := 0
			if m.rng.IntN(2) == 0 {
				i = m.rng.IntN(len(inflight))
			}
			f := inflight[i]
			inflight = append(inflight[:i], inflight[i+1:]...)
			l.Ack(f.seq)
			m.delivered[f.seq] = true
			st := l.Stats()
			m.notef("ack %d -> cursor %d live [%d,%d]", f.seq, st.AckedSeq, st.LiveStart, st.LiveAckedSeq)
		case x < 90:
			rd := readers[m.rng.IntN(len(readers))]
			rd.Rewind()
			kept := inflight[:0]
			for _, f := range inflight {
				if f.rd != rd {
					kept = append(kept, f)
				}
			}
			inflight = kept
			m.notef("rewind reader %d", indexOf(readers, rd))
		case x < 94:
			// BeginLive as the dispatcher does: nothing in flight, rewind.
			for _, r := range readers {
				r.Rewind()
			}
			inflight = nil
			ls := l.BeginLive()
			m.notef("BeginLive -> %d", ls)
			if !live {
				readers = []*Reader{l.NewLiveReader(), l.NewBacklogReader()}
				live = true
			}
		default:
			if m.rng.IntN(4) == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}
}

func indexOf(rs []*Reader, r *Reader) int {
	for i, x := range rs {
		if x == r {
			return i
		}
	}
	return -1
}

// check reopens img and balances the books.
func (m *b3Model) check(img string) *Log {
	t := m.t
	l := openT(t, img, m.opts)
	if c := l.Recovery().CorruptRecords; c != 0 {
		m.fail("I6: kill -9 only, yet %d records counted corrupt (recovery notes %v)", c, l.Recovery().Notes)
	}
	rd := l.NewReader()
	recs := readAll(t, rd, 5*time.Millisecond)
	rd.Rewind()
	pending := map[uint64]bool{}
	for _, r := range recs {
		if m.delivered[r.Seq] {
			m.fail("I7: acknowledged seq %d delivered again after kill -9", r.Seq)
		}
		if pending[r.Seq] {
			m.fail("seq %d returned twice by one reader", r.Seq)
		}
		pending[r.Seq] = true
		if _, ok := m.appended[r.Seq]; !ok {
			m.fail("I3: seq %d was never appended", r.Seq)
		}
	}
	var missing []uint64
	for s := range m.appended {
		if !m.delivered[s] && !pending[s] {
			missing = append(missing, s)
		}
	}
	sort.Slice(missing, func(i, j int) bool { return missing[i] < missing[j] })
	n, _, corrupt, _ := m.drops.get()
	if corrupt != 0 {
		m.fail("I6: %d corrupt drops with kill -9 only", corrupt)
	}
	if n != uint64(len(missing)) {
		st := l.Stats()
		m.fail("I4/I5: %d records counted as dropped, %d neither delivered nor pending (%v); stats after reopen %+v",
			n, len(missing), missing, st)
	}
	if st := l.Stats(); st.LastSeq < m.maxSeq {
		m.fail("I10: LastSeq %d after reopen < %d assigned before", st.LastSeq, m.maxSeq)
	}
	return l
}

func TestBreak3GuardLiveModel(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0xb3))
			drops := &crashDrops{}
			opts := Options{SegmentBytes: int64(1024 * (1 + rng.IntN(3))), DisableCompression: rng.IntN(2) == 0,
				OnDrop: drops.add, CursorSyncInterval: time.Hour}
			switch rng.IntN(3) {
			case 0:
				opts.MemoryBytes = -1
			case 1:
				opts.MemoryBytes = 2048
			}
			if rng.IntN(2) == 0 {
				opts.MaxBytes = opts.SegmentBytes * int64(3+rng.IntN(4))
				opts.WhenFull = []FullPolicy{DropOldest, DropNewest}[rng.IntN(2)]
			}
			m := &b3Model{t: t, rng: rng, drops: drops, opts: opts, appended: map[uint64]uint64{}, delivered: map[uint64]bool{}}
			dir := t.TempDir()
			l := openT(t, dir, opts)
			for c := 0; c < 4; c++ {
				m.cycle(l, 150+rng.IntN(150))
				img := b3Kill9(t, l, dir)
				// The killed process reports nothing more: count only what
				// it reported so far.
				b3CloseKilled(t, l, drops)
				m.notef("--- kill -9, reopen")
				l = m.check(img)
				dir = img
			}
			require.NoError(t, l.Close())
		})
	}
}

// TestBreak3MemTierIndexGrowsWithLiveRange: with a live range open, every
// acknowledged live record keeps an entry in the memory tier's index (its
// payload is freed, the entry is not) until the backlog is delivered and the
// ranges merge: dropThrough only removes entries at or below the backlog's
// cursor, and popFront only runs while the payload bytes exceed the budget,
// which freed payloads never do. Hours of live traffic during a slow backlog
// replay grow the index without bound (32 bytes per record, whatever
// MemoryBytes says).
//
// Violated: MemoryBytes bounds the in-memory tier. Diagnosis: memtier.go
// drop (keeps the entry, "so that the order stays intact") with
// ack.go:80 and ack.go:203 (dropThrough(l.cursor) only).
func TestBreak3MemTierIndexGrowsWithLiveRange(t *testing.T) {
	l := openT(t, t.TempDir(), Options{SegmentBytes: 64 << 10, DisableCompression: true, MemoryBytes: 4096})
	defer l.Close()
	b3Append(t, l, 1, 100)
	b3Append(t, l, 2, 100)
	require.NotZero(t, l.BeginLive())
	lr := l.NewLiveReader()
	for i := uint64(3); i <= 20000; i++ {
		b3Append(t, l, i, 100)
		rec, ok := b3Next(t, lr)
		require.True(t, ok)
		l.Ack(rec.Seq)
	}
	l.mu.Lock()
	n, bytes := len(l.mem.ents)-l.mem.head, l.mem.bytes
	l.mu.Unlock()
	t.Logf("memory tier: %d entries, %d payload bytes", n, bytes)
	// Bounded: the payloads the budget holds, plus at most 65 entries (or as
	// many as there are payloads) whose payload was dropped, compacted away
	// in amortised constant time.
	require.LessOrEqual(t, n, 2*(4096/100+1)+65,
		"the memory tier (MemoryBytes 4096, 100-byte payloads) holds %d index entries of acknowledged live records", n)
}

// TestBreak3CursorLostCountsReclaimedLiveAsCorrupt: acknowledged live
// segments are unlinked although they are not at the front. When the cursor
// file is then lost (deleted, or all slots unreadable), recovery treats
// every record as unacknowledged and counts every gap between segments as
// lost: the unlinked live segments' records, all delivered, are reported as
// corrupt drops. Before live ranges only front segments were unlinked, and
// without a cursor recovery starts at the first segment, so delivered
// records were never counted.
//
// Violated: "corrupt" counts only damaged/failed/non-durable records (and
// never counted and delivered). Diagnosis: recover.go countLossesStep
// (countGap with !rc.have) together with ack.go:218-229 (reclaim of live
// segments in the middle of the log).
func TestBreak3CursorLostCountsReclaimedLiveAsCorrupt(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 2048, DisableCompression: true, MemoryBytes: -1}
	l := openT(t, dir, opts)
	for i := uint64(1); i <= 5; i++ {
		b3Append(t, l, i, 100)
	}
	require.Equal(t, uint64(6), l.BeginLive())
	lr := l.NewLiveReader()
	for i := uint64(6); i <= 200; i++ {
		b3Append(t, l, i, 100)
		rec, ok := b3Next(t, lr)
		require.True(t, ok)
		l.Ack(rec.Seq)
	}
	require.NoError(t, l.Close())
	require.NoError(t, os.Remove(filepath.Join(dir, cursorFileName)))
	l2 := openT(t, dir, opts)
	defer l2.Close()
	rv := l2.Recovery()
	require.Zero(t, rv.CorruptRecords,
		"delivered live records of unlinked segments counted as corrupt (%d) after the cursor file was lost; notes %v", rv.CorruptRecords, rv.Notes)
}

// TestBreak3GuardBeginLiveTwiceMergeClose: BeginLive twice (same start),
// after a merge (a new range), right before Close; reopen: no drop, nothing
// acknowledged comes back (I9), the range is kept.
func TestBreak3GuardBeginLiveTwiceMergeClose(t *testing.T) {
	dir := t.TempDir()
	var drops crashDrops
	opts := Options{SegmentBytes: 1024, DisableCompression: true, OnDrop: drops.add}
	l := openT(t, dir, opts)
	for i := uint64(1); i <= 4; i++ {
		b3Append(t, l, i, 100)
	}
	require.Equal(t, uint64(5), l.BeginLive())
	require.Equal(t, uint64(5), l.BeginLive())
	for i := uint64(5); i <= 30; i++ {
		b3Append(t, l, i, 100)
	}
	lr, br := l.NewLiveReader(), l.NewBacklogReader()
	for _, r := range readAll(t, lr, 5*time.Millisecond) {
		l.Ack(r.Seq)
	}
	require.Equal(t, uint64(30), l.Stats().LiveAckedSeq)
	for _, r := range readAll(t, br, 5*time.Millisecond) {
		l.Ack(r.Seq)
	}
	st := l.Stats()
	require.Zero(t, st.LiveStart)
	require.Equal(t, uint64(30), st.AckedSeq)
	require.Zero(t, l.BeginLive(), "nothing pending: no range")
	for i := uint64(31); i <= 40; i++ {
		b3Append(t, l, i, 100)
	}
	require.Equal(t, uint64(41), l.BeginLive())
	b3Append(t, l, 41, 100)
	l.Ack(41)
	require.NoError(t, l.Close())

	l2 := openT(t, dir, opts)
	defer l2.Close()
	require.Zero(t, l2.Recovery().CorruptRecords)
	st = l2.Stats()
	require.Equal(t, uint64(41), st.LiveStart)
	require.Equal(t, uint64(41), st.LiveAckedSeq)
	var seqs []uint64
	for _, r := range readAll(t, l2.NewReader(), 5*time.Millisecond) {
		seqs = append(seqs, r.Seq)
	}
	require.Equal(t, []uint64{31, 32, 33, 34, 35, 36, 37, 38, 39, 40}, seqs)
	n, _, _, _ := drops.get()
	require.Zero(t, n)
}

// TestBreak3GuardCorruptFoundByLiveReader: a live record damaged on disk is
// found by the live reader: counted once, never delivered, not counted again
// after a kill -9 or a clean restart; the live range moves over it.
func TestBreak3GuardCorruptFoundByLiveReader(t *testing.T) {
	dir := t.TempDir()
	var drops crashDrops
	opts := Options{SegmentBytes: 1024, DisableCompression: true, MemoryBytes: -1, OnDrop: drops.add, CursorSyncInterval: time.Hour}
	l := openT(t, dir, opts)
	for i := uint64(1); i <= 5; i++ {
		b3Append(t, l, i, 100)
	}
	require.Equal(t, uint64(6), l.BeginLive())
	for i := uint64(6); i <= 30; i++ {
		b3Append(t, l, i, 100)
	}
	// Damage the payload of record 12.
	var path string
	var off int64
	l.mu.Lock()
	for _, s := range l.segs {
		for _, r := range s.recs {
			if r.seq == 12 {
				path, off = s.path, int64(r.off)+recordHeaderSize+10
			}
		}
	}
	l.mu.Unlock()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte{0xff, 0xee}, off)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	lr := l.NewLiveReader()
	for _, r := range readAll(t, lr, 5*time.Millisecond) {
		require.NotEqual(t, uint64(12), r.Seq)
		l.Ack(r.Seq)
	}
	st := l.Stats()
	require.Equal(t, uint64(30), st.LiveAckedSeq)
	n, _, c, _ := drops.get()
	require.Equal(t, uint64(1), n)
	require.Equal(t, uint64(1), c)
	img := b3Kill9(t, l, dir)
	b3CloseKilled(t, l, &drops)
	l2 := openT(t, img, opts)
	var seqs []uint64
	for _, r := range readAll(t, l2.NewReader(), 5*time.Millisecond) {
		seqs = append(seqs, r.Seq)
	}
	require.Equal(t, []uint64{1, 2, 3, 4, 5}, seqs)
	require.NoError(t, l2.Close())
	l3 := openT(t, img, opts)
	require.NoError(t, l3.Close())
	n, _, _, _ = drops.get()
	require.Equal(t, uint64(1), n, "counted once")
}

// TestBreak3GuardV4CursorWithPendingAndLive: a v4 cursor file (pending data,
// out-of-order acks) is replaced by v5 at Open; a live range opened then
// survives a kill -9.
func TestBreak3GuardV4CursorWithPendingAndLive(t *testing.T) {
	dir := t.TempDir()
	var drops crashDrops
	opts := Options{SegmentBytes: 1024, DisableCompression: true, OnDrop: drops.add, CursorSyncInterval: time.Hour}
	l := openT(t, dir, opts)
	for i := uint64(1); i <= 30; i++ {
		b3Append(t, l, i, 100)
	}
	l.Ack(1, 2, 5, 7)
	require.NoError(t, l.Close())
	st, _, err := readCursorFormat(OSFS{}, dir)
	require.NoError(t, err)
	img := make([]byte, 2*cursorSlotStrideV4+cursorSlotSizeV4)
	for i := 0; i < cursorSlots; i++ {
		b := img[i*cursorSlotStrideV4:]
		copy(b, cursorMagicV4[:])
		binary.LittleEndian.PutUint64(b[8:], uint64(i+1))
		binary.LittleEndian.PutUint64(b[16:], st.Acked)
		binary.LittleEndian.PutUint64(b[24:], st.Last)
		binary.LittleEndian.PutUint64(b[32:], st.TailRecords)
		binary.LittleEndian.PutUint64(b[40:], st.TailItems)
		copy(b[64:64+aboveBytes], st.Above[:])
		binary.LittleEndian.PutUint32(b[64+aboveBytes:], crc(b[:64+aboveBytes]))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, cursorFileName), img, 0o600))
	l = openT(t, dir, opts)
	require.Zero(t, l.Recovery().CorruptRecords)
	require.Equal(t, uint64(31), l.BeginLive())
	for i := uint64(31); i <= 60; i++ {
		b3Append(t, l, i, 100)
	}
	lr := l.NewLiveReader()
	for _, r := range readAll(t, lr, 5*time.Millisecond) {
		l.Ack(r.Seq)
	}
	k := b3Kill9(t, l, dir)
	b3CloseKilled(t, l, &drops)
	l2 := openT(t, k, opts)
	defer l2.Close()
	require.Zero(t, l2.Recovery().CorruptRecords)
	var seqs []uint64
	for _, r := range readAll(t, l2.NewReader(), 5*time.Millisecond) {
		seqs = append(seqs, r.Seq)
	}
	want := []uint64{3, 4, 6}
	for i := uint64(8); i <= 30; i++ {
		want = append(want, i)
	}
	require.Equal(t, want, seqs)
	n, _, _, _ := drops.get()
	require.Zero(t, n)
}

// TestBreak3GuardPowerLossLiveReclaim: FsyncAlways, a backlog, a live range
// acknowledged far ahead with its segments unlinked, then power losses at
// random points of the simulated FS: no record is counted as corrupt (all
// were durable), the backlog comes back, and sequences are not reused.
func TestBreak3GuardPowerLossLiveReclaim(t *testing.T) {
	for seed := uint64(1); seed <= 30; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0x3b))
			fsys := newSimFS()
			var drops crashDrops
			opts := Options{FS: fsys, Fsync: FsyncAlways, SegmentBytes: 1024, DisableCompression: true,
				MemoryBytes: -1, OnDrop: drops.add, CursorSyncInterval: time.Hour}
			l, err := Open("/wal", opts)
			require.NoError(t, err)
			for i := uint64(1); i <= 8; i++ {
				b3Append(t, l, i, 100)
			}
			require.Equal(t, uint64(9), l.BeginLive())
			lr := l.NewLiveReader()
			crashAt := fsys.opCount() + 5 + rng.IntN(300)
			fsys.setCrashAt(crashAt)
			var last uint64
			appendFailed := uint64(0)
			for i := uint64(9); i <= 200; i++ {
				seq, err := l.Append(context.Background(), 1, 1, makePayload(i, 100))
				if err != nil {
					appendFailed = 1 // its frame may be on disk, torn: may be counted
					break
				}
				last = seq
				rec, ok, err := nextNow(lr)
				if err != nil || !ok {
					break
				}
				l.Ack(rec.Seq)
			}
			fsys.crashNow()
			_ = l.Close()
			img := fsys.afterPowerLoss(rng, rng.IntN(2) == 0)
			opts.FS = img
			l2, err := Open("/wal", opts)
			require.NoError(t, err)
			defer l2.Close()
			rv := l2.Recovery()
			require.LessOrEqual(t, rv.CorruptRecords, appendFailed,
				"all records whose Append returned were durable (FsyncAlways); notes %v", rv.Notes)
			var seqs []uint64
			for _, r := range readAll(t, l2.NewReader(), 5*time.Millisecond) {
				seqs = append(seqs, r.Seq)
			}
			require.GreaterOrEqual(t, len(seqs), 8)
			for i := 0; i < 8; i++ {
				require.Equal(t, uint64(i+1), seqs[i])
			}
			seq, err := l2.Append(context.Background(), 1, 1, makePayload(999, 100))
			require.NoError(t, err)
			require.Greater(t, seq, last, "I10: sequence reused")
		})
	}
}

// TestBreak3GuardBurnedSeqAtLiveStart: the first append of the live range
// fails after a partial write whose truncate fails too: its sequence (the
// live range's start) is burned and the segment abandoned. Live records
// after it are acknowledged; their segments unlinked; kill -9: the torn
// frame is not counted (the Append failed, it is under the watermark),
// nothing acknowledged comes back, no sequence is reused.
func TestBreak3GuardBurnedSeqAtLiveStart(t *testing.T) {
	dir := t.TempDir()
	ffs := &faultFS{}
	var drops crashDrops
	opts := Options{FS: ffs, SegmentBytes: 1024, DisableCompression: true, MemoryBytes: -1, OnDrop: drops.add, CursorSyncInterval: time.Hour}
	l := openT(t, dir, opts)
	for i := uint64(1); i <= 3; i++ {
		b3Append(t, l, i, 100)
	}
	require.Equal(t, uint64(4), l.BeginLive())
	ffs.set(func(f *faultFS) { f.failWrites, f.writeErr, f.partial, f.failTruncate = 1, errors.New("EIO"), true, 1 })
	_, err := l.Append(context.Background(), 1, 1, makePayload(4, 100))
	require.Error(t, err)
	lr := l.NewLiveReader()
	var last uint64
	for i := uint64(5); i <= 60; i++ {
		last = b3Append(t, l, i, 100)
		rec, ok := b3Next(t, lr)
		require.True(t, ok)
		l.Ack(rec.Seq)
	}
	st := l.Stats()
	require.Equal(t, uint64(4), st.LiveStart)
	require.Equal(t, last, st.LiveAckedSeq)
	img := b3Kill9(t, l, dir)
	b3CloseKilled(t, l, &drops)
	opts.FS = nil
	l2 := openT(t, img, opts)
	defer l2.Close()
	require.Zero(t, l2.Recovery().CorruptRecords, "notes %v", l2.Recovery().Notes)
	var seqs []uint64
	for _, r := range readAll(t, l2.NewReader(), 5*time.Millisecond) {
		seqs = append(seqs, r.Seq)
	}
	require.Equal(t, []uint64{1, 2, 3}, seqs)
	seq := b3Append(t, l2, 999, 100)
	require.Greater(t, seq, last)
}

// TestBreak3GuardRewindOtherReaderInFlight: the backlog reader rewinds while
// the live reader has records in flight whose segment is evicted meanwhile
// (a straddling segment): the live reader's records are settled by its own
// acks, not by the other's rewind; kill -9 after: books balance.
func TestBreak3GuardRewindOtherReaderInFlight(t *testing.T) {
	dir := t.TempDir()
	var drops crashDrops
	opts := Options{SegmentBytes: 1024, MaxBytes: 4096, WhenFull: DropOldest, DisableCompression: true,
		MemoryBytes: -1, OnDrop: drops.add, CursorSyncInterval: time.Hour}
	l := openT(t, dir, opts)
	b3Append(t, l, 1, 150)
	b3Append(t, l, 2, 150)
	require.Equal(t, uint64(3), l.BeginLive())
	lr, br := l.NewLiveReader(), l.NewBacklogReader()
	b3Append(t, l, 3, 150) // live, in the same (straddling) segment
	rb, ok := b3Next(t, br)
	require.True(t, ok)
	require.Equal(t, uint64(1), rb.Seq)
	rl, ok := b3Next(t, lr)
	require.True(t, ok)
	require.Equal(t, uint64(3), rl.Seq)
	for i := uint64(4); l.Stats().AckedSeq < 3; i++ {
		b3Append(t, l, i, 150)
		require.Less(t, i, uint64(100))
	}
	// the straddling segment (1..k) is evicted: 1 and 3 were in flight.
	k := l.Stats().AckedSeq
	br.Rewind() // record 1: dropped
	l.Ack(3)    // record 3: sent
	n, _, _, _ := drops.get()
	require.Equal(t, k-1, n, "records 1..%d evicted, record 3 delivered", k)
	img := b3Kill9(t, l, dir)
	b3CloseKilled(t, l, &drops)
	l2 := openT(t, img, opts)
	defer l2.Close()
	n2, _, _, _ := drops.get()
	require.Equal(t, n, n2, "nothing counted again")
}

// TestBreak3DropOldestEvictsBacklogBeforeAckedLiveSegment: a live segment is
// acknowledged entirely while it is the active one (acks as records are
// appended), then a plain roll (not over budget) seals it. Moving it to the
// trash only happens in advancedLocked, i.e. on the next cursor move: while
// the link is down (no acks) it stays. When the budget fills, DropOldest
// evicts the oldest segment, the unacknowledged backlog, and counts its
// records as dropped, while the fully acknowledged live segment still
// occupies its share of MaxBytes (it is reclaimed only later).
//
// Violated: the Budget promise "acknowledged segments are unlinked first;
// then DropOldest deletes whole oldest segments": records are dropped that
// the budget did not require. (For the front this was harmless: the oldest
// segment was the acknowledged one, evicted with 0 drops.) Diagnosis:
// budget.go:28-37 (makeRoomLocked considers the trash and the active
// segment only) with ack.go:215-229 (acknowledged live segments are found
// only when a cursor moves) and append.go rollLocked (a roll does not
// re-check).
func TestBreak3DropOldestEvictsBacklogBeforeAckedLiveSegment(t *testing.T) {
	dir := t.TempDir()
	var drops crashDrops
	opts := Options{SegmentBytes: 1024, MaxBytes: 4096, WhenFull: DropOldest, DisableCompression: true,
		MemoryBytes: -1, OnDrop: drops.add}
	l := openT(t, dir, opts)
	defer l.Close()
	for i := uint64(1); i <= 5; i++ {
		b3Append(t, l, i, 150)
	}
	require.Equal(t, uint64(6), l.BeginLive())
	lr := l.NewLiveReader()
	for i := uint64(6); i <= 10; i++ {
		b3Append(t, l, i, 150)
		rec, ok := b3Next(t, lr)
		require.True(t, ok)
		l.Ack(rec.Seq) // acknowledged while its segment is the active one
	}
	require.Equal(t, uint64(10), l.Stats().LiveAckedSeq)
	live := filepath.Join(dir, fmt.Sprintf("%020d.seg", 6))
	_, err := os.Stat(live)
	require.NoError(t, err, "records 6..10 fill segment 6")
	// The link goes down: live records pile up, nothing is acknowledged.
	for i := uint64(11); ; i++ {
		require.Less(t, i, uint64(200))
		b3Append(t, l, i, 150)
		n, _, _, _ := drops.get()
		if n > 0 {
			_, err := os.Stat(live)
			t.Fatalf("after append %d: %d backlog records dropped (AckedSeq %d) while the fully acknowledged segment %s is still on disk (stat err %v)",
				i, n, l.Stats().AckedSeq, filepath.Base(live), err)
		}
		if _, err := os.Stat(live); errors.Is(err, os.ErrNotExist) {
			break // reclaimed first: fine
		}
	}
}
