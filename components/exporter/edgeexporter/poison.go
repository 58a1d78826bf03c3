// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import "sync"

// maxHeld bounds the records held aside as suspects. Each one took
// retry.max_attempts_per_record attempts with backoff to get there, so the
// bound is reached only after hours of a backend failing on everything; past
// it the next record is simply retried, as before the bound existed.
const maxHeld = 1024

// poisonTracker decides when a record that a live backend keeps failing on
// (gRPC Internal/Unknown, HTTP 500) is poison, and only then: a backend that
// fails on every request is down, not poisoned, and must not lose data.
//
//  1. The record at the head of the log, sent alone, collects server errors;
//     a failure of another record starts the count over, outages neither
//     count nor reset it.
//  2. At retry.max_attempts_per_record it is held aside: the dispatcher skips
//     it and sends the records behind it.
//  3. When the backend accepts one of those (evidence that it otherwise
//     works), the held records are sent again, alone; one that still gets a
//     server error is poison and is given up; one that gets through is
//     delivered (late: after records that followed it).
//
// While the backend fails on everything no request succeeds, so nothing is
// given up; a run of poison records is held one after the other until a good
// record behind them gets through. An outage clears the evidence.
//
// Its methods are called by the send goroutines and the dispatcher.
type poisonTracker struct {
	mu       sync.Mutex
	seq      uint64 // the record whose server errors are counted
	attempts int
	held     map[uint64]struct{}
	evidence bool // the backend accepted other data since the last hold
}

// serverError records a server error for the record seq sent alone. giveUp
// says it is poison; held that it was just held aside.
func (p *poisonTracker) serverError(seq uint64, limit int) (giveUp, held bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.held[seq]; ok {
		if p.evidence {
			delete(p.held, seq)
			return true, false
		}
		return false, false
	}
	if p.seq != seq {
		p.seq, p.attempts = seq, 0
	}
	p.attempts++
	if p.attempts < limit || len(p.held) >= maxHeld {
		return false, false
	}
	if p.held == nil {
		p.held = map[uint64]struct{}{}
	}
	p.held[seq] = struct{}{}
	p.seq, p.attempts = 0, 0
	p.evidence = false
	return false, true
}

// accepted records that a backend accepted the records seqs. retryHeld says
// that this is the first evidence for held records: the caller must go back
// to them.
func (p *poisonTracker) accepted(seqs []uint64) (retryHeld bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range seqs {
		delete(p.held, s)
	}
	if len(p.held) == 0 || p.evidence {
		return false
	}
	p.evidence = true
	return true
}

// done forgets records acknowledged otherwise (dead letter, max_age).
func (p *poisonTracker) done(seqs ...uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range seqs {
		delete(p.held, s)
	}
}

// doneThrough forgets held records up to seq: the log acknowledged them all
// (or evicted them for the budget).
func (p *poisonTracker) doneThrough(seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for s := range p.held {
		if s <= seq {
			delete(p.held, s)
		}
	}
}

// outage records a failure that says nothing about the data (connection
// errors, timeouts, Unavailable...): the evidence is stale.
func (p *poisonTracker) outage() {
	p.mu.Lock()
	p.evidence = false
	p.mu.Unlock()
}

// skip says whether the dispatcher must leave the record out: it is held and
// waits for evidence.
func (p *poisonTracker) skip(seq uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.held[seq]
	return ok && !p.evidence
}

// heldCount is the number of records held aside.
func (p *poisonTracker) heldCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.held)
}

// doneThroughClass forgets held records of class cls up to seq (its log's
// own sequence numbers; see classOf).
func (p *poisonTracker) doneThroughClass(cls int, seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for s := range p.held {
		if classOf(s) == cls && rawSeq(s) <= seq {
			delete(p.held, s)
		}
	}
}
