// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// sharedCrashLog is one log of the shared-budget crash test and what the
// "process" knew of it before the crash.
type sharedCrashLog struct {
	dir   string
	class int
	l     *Log
	// appended: items of appends that returned success; appending: of the
	// append the crash interrupted (in or out).
	appended, appending uint64
	// acked: items acknowledged by Ack calls that completed before the
	// crash; acking: of the Ack call the crash interrupted.
	acked, acking uint64
	dropped       uint64 // reported by OnDrop while alive, and at recovery
	lostReports   uint64 // OnDrop calls after the crash point (nobody hears them)
}

// runSharedCrash runs the workload of TestSharedBudgetCrashPoints on fsys
// (crashing at its crash point, if any) and returns the logs' counts and
// the number of file-system operations it took.
func runSharedCrash(t *testing.T, fsys *simFS) []*sharedCrashLog {
	logs := []*sharedCrashLog{{dir: "/high", class: 0}, {dir: "/low", class: 1}}
	b := NewSharedBudget()
	for _, sl := range logs {
		l, err := Open(sl.dir, Options{
			FS: fsys, SegmentBytes: 4 << 10, MaxBytes: 24 << 10, WhenFull: DropOldest, Fsync: FsyncNever,
			CursorSyncInterval: time.Hour, DisableCompression: true, MemoryBytes: -1, Shared: b, Class: sl.class,
			OnDrop: func(_ string, _, items uint64) {
				if fsys.isCrashed() {
					sl.lostReports += items
					return
				}
				sl.dropped += items
			},
		})
		if err != nil {
			if fsys.isCrashed() {
				return logs
			}
			t.Fatalf("open %s: %v", sl.dir, err)
		}
		sl.l = l
	}
	high, low := logs[0], logs[1]
	readers := []*Reader{high.l.NewReader(), low.l.NewReader()}
	ctx := context.Background()
	appendTo := func(sl *sharedCrashLog, id uint64) bool {
		items := itemsFor(id)
		sl.appending = uint64(items)
		_, err := sl.l.Append(ctx, 1, items, makePayload(id, 300))
		if fsys.isCrashed() {
			return false
		}
		sl.appending = 0
		if err != nil {
			t.Fatalf("append %s: %v", sl.dir, err)
		}
		sl.appended += uint64(items)
		return true
	}
	deliver := func(i int, n int) bool {
		sl := logs[i]
		for range n {
			rec, err := readers[i].Next(doneCtx())
			if err != nil {
				return !fsys.isCrashed()
			}
			sl.acking = uint64(rec.Items)
			sl.l.Ack(rec.Seq)
			if fsys.isCrashed() {
				return false
			}
			sl.acking = 0
			sl.acked += uint64(rec.Items)
		}
		return true
	}
	alive := func() bool {
		for id := uint64(1); id <= 240; id++ {
			if !appendTo(low, id) {
				return false
			}
			if id%6 == 0 && !appendTo(high, id) {
				return false
			}
			if id%40 == 0 && (!deliver(0, 3) || !deliver(1, 5)) {
				return false
			}
		}
		return true
	}
	completed := alive()
	if completed {
		for _, sl := range logs {
			if err := sl.l.Close(); err != nil && !fsys.isCrashed() {
				t.Fatalf("close %s: %v", sl.dir, err)
			}
		}
	}
	return logs
}

func doneCtx() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// TestSharedBudgetCrashPoints kills the process (kill -9: the page cache
// survives) at every file-system operation of a workload in which a flood
// of a low class evicts, through the shared budget, while a high class
// appends and both deliver. After each crash both logs are recovered and,
// for each log on its own: every item that an append returned for is
// delivered, still pending or counted by that log's OnDrop exactly once
// (the interrupted append and Ack are the only uncertain items), and the
// high class has lost nothing.
func TestSharedBudgetCrashPoints(t *testing.T) {
	probe := newSimFS()
	runSharedCrash(t, probe)
	total := probe.opCount()
	if total < 500 {
		t.Fatalf("the workload took only %d operations", total)
	}
	step := 1
	if testing.Short() {
		step = max(1, total/400)
	}
	evictions := 0
	for k := 1; k <= total; k += step {
		fsys := newSimFS()
		fsys.setCrashAt(k)
		logs := runSharedCrash(t, fsys)
		if !fsys.isCrashed() {
			// The background goroutines' operations vary a little: the
			// last points may lie past the end of this run.
			if k < total*9/10 {
				t.Fatalf("crash point %d of %d not reached", k, total)
			}
			continue
		}
		killed := fsys.afterKill9()
		for _, sl := range logs {
			if sl.l != nil {
				_ = sl.l.Close() // the dead process: stops goroutines, changes nothing
			}
		}
		b := NewSharedBudget()
		for _, sl := range logs {
			var recovered uint64
			l, err := Open(sl.dir, Options{FS: killed, SegmentBytes: 4 << 10, MaxBytes: 24 << 10, DisableCompression: true,
				MemoryBytes: -1, Shared: b, Class: sl.class,
				OnDrop: func(_ string, _, items uint64) { recovered += items }})
			if err != nil {
				t.Fatalf("crash point %d: reopen %s: %v", k, sl.dir, err)
			}
			pending := l.Stats().PendingItems
			var read uint64
			rd := l.NewReader()
			for {
				rec, err := rd.Next(doneCtx())
				if err != nil {
					break
				}
				read += uint64(rec.Items)
			}
			_ = l.Close()
			if read != pending {
				t.Fatalf("crash point %d: %s: %d items readable, %d pending", k, sl.dir, read, pending)
			}
			// Reports the dead process never made are made by recovery
			// (committed drops are not counted again).
			got := sl.acked + sl.dropped + recovered + pending
			lo := sl.appended - sl.acking
			hi := sl.appended + sl.appending
			if got < lo || got > hi {
				t.Fatalf("crash point %d of %d: %s: delivered %d + dropped %d (+%d at recovery, %d unheard) + pending %d = %d, want %d..%d (appended %d, append in progress %d, ack in progress %d)\n%s",
					k, total, sl.dir, sl.acked, sl.dropped, recovered, sl.lostReports, pending, got, lo, hi, sl.appended, sl.appending, sl.acking, killed.lastOps())
			}
			if sl.class == 0 && sl.dropped+recovered > 0 {
				t.Fatalf("crash point %d: the high class lost %d items", k, sl.dropped+recovered)
			}
			if sl.class == 1 && sl.dropped > 0 {
				evictions++
			}
		}
	}
	if evictions == 0 {
		t.Fatal("no crash point after an eviction: the workload does not fill the budget")
	}
	t.Log(fmt.Sprintf("%d operations, crashed at every %d", total, step))
}
