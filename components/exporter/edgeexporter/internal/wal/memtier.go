// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import "sort"

// memTier keeps the uncompressed payloads of the most recent records, bounded
// by a byte budget, so that a reader near the tail neither reads the disk nor
// decompresses. Entries are kept in increasing sequence order. Not
// goroutine-safe; guarded by Log.mu.
type memTier struct {
	max   int64
	bytes int64
	ents  []memEntry
	head  int
	holes int // entries whose payload was dropped (p == nil)
}

type memEntry struct {
	seq uint64
	p   []byte
}

func (m *memTier) enabled() bool { return m.max > 0 }

// put adds the payload of seq (which must be greater than any stored one).
func (m *memTier) put(seq uint64, p []byte) {
	if p == nil || int64(len(p)) > m.max {
		return
	}
	m.ents = append(m.ents, memEntry{seq: seq, p: p})
	m.bytes += int64(len(p))
	for m.bytes > m.max {
		m.popFront()
	}
}

func (m *memTier) popFront() {
	e := &m.ents[m.head]
	if e.p == nil {
		m.holes--
	}
	m.bytes -= int64(len(e.p))
	*e = memEntry{}
	m.head++
	if m.head == len(m.ents) {
		m.ents = m.ents[:0]
		m.head = 0
	} else if m.head > 1024 && m.head > len(m.ents)/2 {
		n := copy(m.ents, m.ents[m.head:])
		clear(m.ents[n:])
		m.ents = m.ents[:n]
		m.head = 0
	}
}

// get returns the payload of seq if present.
func (m *memTier) get(seq uint64) ([]byte, bool) {
	live := m.ents[m.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].seq >= seq })
	if i < len(live) && live[i].seq == seq && live[i].p != nil {
		return live[i].p, true
	}
	return nil, false
}

// drop frees the payload of seq (acknowledged out of order: never read
// again), keeping its entry so that the order stays intact.
func (m *memTier) drop(seq uint64) {
	live := m.ents[m.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].seq >= seq })
	if i < len(live) && live[i].seq == seq && live[i].p != nil {
		m.bytes -= int64(len(live[i].p))
		live[i].p = nil
		m.holes++
		if m.holes > 64 && m.holes > len(live)/2 {
			m.compact()
		}
	}
}

// compact removes the entries whose payload was dropped, so that the index
// stays bounded when records are acknowledged far ahead of the front (a
// live range acknowledged while the backlog drains).
func (m *memTier) compact() {
	n := 0
	for _, e := range m.ents[m.head:] {
		if e.p != nil {
			m.ents[n] = e
			n++
		}
	}
	clear(m.ents[n:])
	m.ents = m.ents[:n]
	m.head, m.holes = 0, 0
}

// dropThrough removes all entries with sequence <= seq.
func (m *memTier) dropThrough(seq uint64) {
	for m.head < len(m.ents) && m.ents[m.head].seq <= seq {
		m.popFront()
	}
}
