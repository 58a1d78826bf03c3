// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// SharedBudget is one disk budget shared by several logs: the priority
// classes of the edge exporter, one log each. Each log checks the sum of the
// segment bytes of all of them against its Options.MaxBytes (give every log
// the same value). When an append does not fit, space is first freed
// without dropping anything (acknowledged segments of every log), then by
// the policy of the appending log: DropOldest evicts the oldest segment of
// the log with the highest Options.Class that holds a record, among the
// logs ranked at or below the appending one (Class >= its Class): the
// lowest priority class first, the appending log's own data last. A class
// never evicts data of a higher class: when none of those logs holds a
// record (the budget is full of higher classes' data), the appended record
// is dropped instead, counted once as a budget drop of the appending log
// (Stats.DroppedBudgetRecords/Items and OnDrop(DropReasonBudget, 1,
// items)), and Append returns sequence 0 with a nil error (it was accepted,
// like every record evicted by DropOldest). DropNewest refuses the append,
// Block waits until an acknowledgement in any log frees space.
//
// Each eviction is the single-log eviction of the log it happens in:
// committed to that log's cursor file before it is reported to that log's
// OnDrop, so every log keeps its exact accounting, and drops are reported
// by the log (class) they happened in.
//
// Appends to different logs do not serialise: concurrent appends may
// exceed the budget by the records being written at once (at most one per
// log), on top of the single log's bound of one segment.
type SharedBudget struct {
	used atomic.Int64

	mu   sync.Mutex
	logs []*Log // in eviction order: highest Class first
}

// NewSharedBudget returns an empty shared budget; pass it as Options.Shared
// to each log that shares it.
func NewSharedBudget() *SharedBudget { return &SharedBudget{} }

// Used returns the segment bytes of all the logs of the budget.
func (b *SharedBudget) Used() int64 { return b.used.Load() }

// register adds a recovered log (before it runs anything in the
// background): its disk usage joins the budget.
func (b *SharedBudget) register(l *Log) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.logs = append(b.logs, l)
	slices.SortStableFunc(b.logs, func(x, y *Log) int { return y.opts.Class - x.opts.Class })
	l.shared = b
	b.used.Add(l.diskBytes)
}

// unregister removes a closed log; its files stay on disk but no longer
// count (the budget belongs to the logs open together).
func (b *SharedBudget) unregister(l *Log) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if i := slices.Index(b.logs, l); i >= 0 {
		b.logs = slices.Delete(b.logs, i, i+1)
		l.mu.Lock()
		b.used.Add(-l.diskBytes)
		l.shared = nil
		l.mu.Unlock()
	}
}

func (b *SharedBudget) snapshot() []*Log {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.logs)
}

// reclaimOthers frees space in the other logs of the budget without
// dropping anything. Called with l.mu held; it releases it meanwhile (never
// two logs' locks at once).
func (b *SharedBudget) reclaimOthers(l *Log) bool {
	l.mu.Unlock()
	defer l.mu.Lock()
	for _, o := range b.snapshot() {
		if o == l {
			continue
		}
		o.mu.Lock()
		applied, ok := false, false
		if !o.closed {
			applied, ok, _ = o.localRoomLocked(context.Background())
		}
		o.mu.Unlock()
		if applied && ok {
			return true
		}
	}
	return false
}

// evict evicts the oldest segment of the lowest class that holds a record,
// among the logs ranked at or below l (Class >= l's): a class never evicts
// data of a higher class. l's own oldest data comes last. It returns
// errDropNew when none of them holds a record: the appended record is the
// one that does not fit (appendLocked drops it). Called with l.mu held; it
// releases it meanwhile.
func (b *SharedBudget) evict(l *Log) (bool, error) {
	l.mu.Unlock()
	defer l.mu.Lock()
	cands := slices.DeleteFunc(b.snapshot(), func(o *Log) bool { return o == l || o.opts.Class < l.opts.Class })
	cands = append(cands, l)
	for _, o := range cands {
		o.mu.Lock()
		ok, err := false, error(nil)
		if !o.closed {
			ok, err = o.evictOneLocked()
		}
		o.mu.Unlock()
		if ok || err != nil {
			return ok, err
		}
	}
	return false, errDropNew
}

// waitSpace waits a little for acknowledgements in any log (Block). Called
// with l.mu held; it releases it meanwhile.
func (b *SharedBudget) waitSpace(ctx context.Context, l *Log) (bool, error) {
	l.mu.Unlock()
	defer l.mu.Lock()
	t := time.NewTimer(10 * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return true, nil
	case <-l.closedCh:
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}
