// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestModelRandomOps runs random operation sequences (append, read, ack in
// and out of order, rewind, clean close and reopen, evictions under a small
// DropOldest budget) against the log and a reference model, without
// crashes. Odd seeds use the simulated FS, even seeds the OS (which also
// cross-checks the simulation). WAL_MODEL_SEEDS sets the number of seeds.
func TestModelRandomOps(t *testing.T) {
	n := crashEnvInt("WAL_MODEL_SEEDS", 24)
	for seed := uint64(1); seed <= uint64(n); seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runModelSeed(t, seed) })
	}
}

type modelRec struct {
	seq       uint64
	kind      uint8
	items     uint32
	payload   []byte
	acked     bool // acknowledged (in this process for acks above the cursor)
	evicted   bool
	inflight  bool // returned by Next since the last Rewind, not acked
	evictedIF bool // evicted while in flight
	sentAfter bool // acked (sent) after it was evicted in flight
}

type modelLog struct {
	t       *testing.T
	seed    uint64
	rng     *rand.Rand
	opts    Options
	dir     string
	l       *Log
	rd      *Reader
	recs    map[uint64]*modelRec
	nextSeq uint64
	cursor  uint64
	pos     uint64 // reader position
	drops   crashDrops
	// all evicted in-flight records of an eviction were counted at once
	countedIF map[uint64]bool
	step      int
	op        string
	bad       []string
}

func (m *modelLog) failf(format string, args ...any) {
	m.t.Helper()
	m.t.Fatalf("seed %d step %d (%s): %s [opts seg=%d max=%d fsync=%d mem=%d nocompress=%v]", m.seed, m.step, m.op, fmt.Sprintf(format, args...),
		m.opts.SegmentBytes, m.opts.MaxBytes, m.opts.Fsync, m.opts.MemoryBytes, m.opts.DisableCompression)
}

func (m *modelLog) pending() (recs, items uint64, unresolved uint64) {
	for _, r := range m.recs {
		switch {
		case r.evicted:
			if r.evictedIF && r.inflight {
				unresolved++
			}
		case !r.acked:
			recs++
			items += uint64(r.items)
		}
	}
	return
}

// advance moves the model cursor over acknowledged or evicted records.
func (m *modelLog) advance() {
	for {
		r := m.recs[m.cursor+1]
		if r == nil || !(r.acked || r.evicted) {
			return
		}
		m.cursor++
	}
}

func (m *modelLog) checkStats() {
	m.t.Helper()
	st := m.l.Stats()
	if st.AckedSeq != m.cursor {
		m.failf("Stats().AckedSeq = %d, model cursor %d", st.AckedSeq, m.cursor)
	}
	if st.LastSeq != m.nextSeq-1 {
		m.failf("Stats().LastSeq = %d, model %d", st.LastSeq, m.nextSeq-1)
	}
	recs, items, unresolved := m.pending()
	if st.PendingRecords < recs || st.PendingRecords > recs+unresolved {
		m.failf("Stats().PendingRecords = %d, model %d (+%d evicted in flight)", st.PendingRecords, recs, unresolved)
	}
	if unresolved == 0 && st.PendingItems != items {
		m.failf("Stats().PendingItems = %d, model %d", st.PendingItems, items)
	}
	if m.opts.MaxBytes > 0 && st.DiskBytes > m.opts.MaxBytes+m.opts.SegmentBytes {
		m.failf("DiskBytes %d exceeds MaxBytes %d + SegmentBytes %d", st.DiskBytes, m.opts.MaxBytes, m.opts.SegmentBytes)
	}
	if _, _, c, _ := m.drops.get(); c != 0 {
		m.failf("%d records counted corrupt without any damage", c)
	}
}

func runModelSeed(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x30de1))
	m := &modelLog{t: t, seed: seed, rng: rng, recs: map[uint64]*modelRec{}, nextSeq: 1, pos: 1, countedIF: map[uint64]bool{}}
	m.opts = Options{
		SegmentBytes:       int64(1024 + rng.IntN(4)*1024),
		Fsync:              []FsyncPolicy{FsyncAlways, FsyncInterval, FsyncNever}[rng.IntN(3)],
		DisableCompression: rng.IntN(3) == 0,
		MemoryBytes:        []int64{0, -1, 2048}[rng.IntN(3)],
		CursorSyncInterval: []time.Duration{time.Hour, 2 * time.Millisecond}[rng.IntN(2)],
		FsyncInterval:      []time.Duration{time.Hour, time.Millisecond}[rng.IntN(2)],
		MaxRecordBytes:     1 << 20,
		OnDrop:             m.drops.add,
	}
	if rng.IntN(2) == 0 {
		m.opts.MaxBytes = m.opts.SegmentBytes * int64(3+rng.IntN(4))
		m.opts.WhenFull = DropOldest
	}
	if seed%2 == 1 {
		m.opts.FS = newSimFS()
		m.dir = "/wal"
	} else {
		m.dir = t.TempDir()
	}
	var err error
	m.l, err = Open(m.dir, m.opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.l.Close() }()
	m.rd = m.l.NewReader()
	ctx := context.Background()
	id := uint64(0)
	// WAL_MODEL_TRACE=<seed> logs every step of that seed.
	trace := crashEnvInt("WAL_MODEL_TRACE", 0) == int(seed)
	for m.step = 0; m.step < 300; m.step++ {
		switch x := rng.IntN(100); {
		case x < 40:
			m.op = "append"
			id++
			r := &modelRec{kind: uint8(rng.IntN(4)), items: uint32(rng.IntN(10)), payload: crashPayload(rng, id)}
			b0, _, _, _ := m.drops.get()
			seq, err := m.l.Append(ctx, r.kind, r.items, r.payload)
			if err != nil {
				m.failf("Append: %v", err)
			}
			if seq != m.nextSeq {
				m.failf("Append returned seq %d, want %d", seq, m.nextSeq)
			}
			r.seq = seq
			m.recs[seq] = r
			m.nextSeq++
			m.evictions(b0)
		case x < 65:
			m.op = "next"
			var want *modelRec
			for s := max(m.pos, m.cursor+1); s < m.nextSeq; s++ {
				if r := m.recs[s]; r != nil && !r.acked && !r.evicted {
					want = r
					break
				}
			}
			rec, ok, err := nextNow(m.rd)
			if err != nil {
				m.failf("Next: %v", err)
			}
			switch {
			case want == nil && ok:
				m.failf("Next returned seq %d, model has nothing to read", rec.Seq)
			case want != nil && !ok:
				m.failf("Next returned nothing, model expects seq %d", want.seq)
			case want != nil && (rec.Seq != want.seq || string(rec.Payload) != string(want.payload) || rec.Kind != want.kind || rec.Items != want.items):
				m.failf("Next returned seq %d (%d bytes), model expects seq %d (%d bytes)", rec.Seq, len(rec.Payload), want.seq, len(want.payload))
			}
			if ok {
				want.inflight = true
				m.pos = rec.Seq + 1
			}
		case x < 85:
			m.op = "ack"
			var fl []*modelRec
			for s := uint64(1); s < m.nextSeq; s++ {
				if r := m.recs[s]; r != nil && r.inflight {
					fl = append(fl, r)
				}
			}
			if len(fl) == 0 {
				continue
			}
			r := fl[0]
			if rng.IntN(5) < 2 {
				r = fl[rng.IntN(len(fl))]
			}
			m.l.Ack(r.seq)
			r.inflight = false
			if r.evicted {
				r.sentAfter = true
				if m.countedIF[r.seq] {
					m.bad = append(m.bad, fmt.Sprintf("step %d: seq %d was evicted while in flight and counted dropped, then acknowledged (sent)", m.step, r.seq))
				}
				break
			}
			r.acked = true
			m.advance()
		case x < 92:
			m.op = "rewind"
			m.rd.Rewind()
			m.pos = m.cursor + 1
			for _, r := range m.recs {
				r.inflight = false
			}
		case x < 95:
			m.op = "reopen"
			if err := m.l.Close(); err != nil {
				m.failf("Close: %v", err)
			}
			_, _, _, calls := m.drops.get()
			m.l, err = Open(m.dir, m.opts)
			if err != nil {
				m.failf("Open: %v", err)
			}
			if _, _, _, c := m.drops.get(); c != calls {
				m.failf("reopen after a clean Close counted drops")
			}
			if rv := m.l.Recovery(); rv.CorruptRecords != 0 || rv.CorruptItems != 0 || rv.CorruptBytes != 0 || rv.TruncatedBytes != 0 {
				m.failf("reopen after a clean Close found damage: %+v", rv)
			}
			// Acks above the cursor are persisted in the cursor's bitmap
			// within aboveBits of it; beyond, those records come back
			// (at-least-once).
			for _, r := range m.recs {
				if r.seq > m.cursor+aboveBits && r.acked {
					r.acked = false
				}
				r.inflight = false
			}
			m.rd = m.l.NewReader()
			m.pos = m.cursor + 1
		default:
			m.op = "sleep"
			time.Sleep(time.Millisecond)
		}
		m.checkStats()
		if trace {
			d, _, _, _ := m.drops.get()
			pr, _, un := m.pending()
			t.Logf("step %d %s: cursor %d pos %d drops %d model pending %d (+%d evicted in flight) stats pending %d", m.step, m.op, m.cursor, m.pos, d, pr, un, m.l.Stats().PendingRecords)
		}
	}
	// Drop accounting: every evicted record that was not sent afterwards is
	// counted once, and nothing else (records evicted in flight are counted
	// at the latest by Close).
	if err := m.l.Close(); err != nil {
		m.failf("Close: %v", err)
	}
	var want, wantItems uint64
	for _, r := range m.recs {
		if r.evicted && !r.sentAfter {
			want++
			wantItems += uint64(r.items)
		}
	}
	got, gotItems, _, _ := m.drops.get()
	if got != want || gotItems != wantItems {
		m.bad = append(m.bad, fmt.Sprintf("budget drops counted %d records / %d items, want %d / %d (evicted and never sent)", got, gotItems, want, wantItems))
	}
	for _, b := range m.bad {
		t.Errorf("seed %d: %s", seed, b)
	}
}

// evictions updates the model after an Append that may have evicted
// segments (the cursor jumps over them) and checks the drop count.
func (m *modelLog) evictions(before uint64) {
	m.t.Helper()
	st := m.l.Stats()
	if st.AckedSeq <= m.cursor {
		return
	}
	var notIF, inIF, notIFItems, inIFItems uint64
	var ifSeqs []uint64
	for s := m.cursor + 1; s <= st.AckedSeq; s++ {
		r := m.recs[s]
		if r == nil || r.acked || r.evicted {
			continue
		}
		r.evicted = true
		if r.inflight {
			r.evictedIF = true
			inIF++
			inIFItems += uint64(r.items)
			ifSeqs = append(ifSeqs, s)
		} else {
			notIF++
			notIFItems += uint64(r.items)
		}
	}
	m.cursor = st.AckedSeq
	m.advance()
	after, _, _, _ := m.drops.get()
	d := after - before
	if d < notIF || d > notIF+inIF {
		m.failf("eviction counted %d dropped records, model expects %d (+ up to %d in flight)", d, notIF, inIF)
	}
	if inIF > 0 && d == notIF+inIF {
		for _, s := range ifSeqs {
			m.countedIF[s] = true
		}
	}
	if m.opts.WhenFull != DropOldest || m.opts.MaxBytes == 0 {
		m.failf("cursor jumped to %d without a budget", st.AckedSeq)
	}
}
