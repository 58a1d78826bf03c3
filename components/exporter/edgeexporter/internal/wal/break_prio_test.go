// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

// Adversarial tests of SharedBudget (issue #15 priorities). The break
// found here is fixed (see its comment) and the test is a regression test;
// the others hold and add coverage.

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBreakPrioLowerClassAppendEvictsHigherClass: the high class (Class 0,
// "errors") holds the whole shared budget (a long outage with a steady
// trickle of error spans fills it: the high class then evicts its own
// oldest, which is fine). Then ONE record of the low class (Class 1,
// "default": a debug log line) is appended.
//
// Expected (issue #15: "a burst of debug logs can [no longer] evict the
// only error spans of the outage", "every error span survives"): a lower
// class never takes space from a higher one; the debug record is the one
// that does not fit (dropped and counted by the low class).
// Was broken: SharedBudget.evict walked every log of the budget, the
// higher ones included, so a whole segment of the high class (12 error
// records here) was evicted to store one debug record. Fixed: evict looks
// only at the logs ranked at or below the appending one (its own oldest
// last); when none holds a record the appended record is dropped, counted
// once as a budget drop of its class, and Append returns seq 0, nil.
// Regression test.
func TestBreakPrioLowerClassAppendEvictsHigherClass(t *testing.T) {
	const maxBytes = 32 << 10
	dir := t.TempDir()
	b := NewSharedBudget()
	var dHigh, dLow dropCounter
	high := openShared(t, filepath.Join(dir, "high"), b, 0, maxBytes, &dHigh)
	low := openShared(t, filepath.Join(dir, "low"), b, 1, maxBytes, &dLow)
	defer high.Close()
	defer low.Close()
	ctx := context.Background()
	// Fill the budget with the high class up to the point where one more
	// record would not fit (no high drop yet).
	var n uint64
	for {
		if b.Used()+int64(300+recordHeaderSize+segmentHeaderSize) > maxBytes {
			break
		}
		n++
		_, err := high.Append(ctx, 1, 1, makePayload(n, 300))
		require.NoError(t, err)
	}
	hr, _ := dHigh.get()
	require.Zero(t, hr, "the high class filled the budget without dropping")

	// One low-class record.
	_, err := low.Append(ctx, 1, 1, makePayload(1, 300))
	require.NoError(t, err)
	hr, hi := dHigh.get()
	assert.Zero(t, hr, "a low-class append evicted %d high-class records (%d items) of %d", hr, hi, n)
	lr, li := dLow.get()
	assert.Equal(t, uint64(1), lr, "the low record is dropped, counted once by its class")
	assert.Equal(t, uint64(1), li)
	assert.Equal(t, uint64(1), low.Stats().DroppedBudgetItems)
}

// TestPrioSharedBudgetConcurrentAppendersAccounting: four logs of one
// budget appended to concurrently (the exporter's consumers of different
// classes), two of them also read and acknowledged concurrently, the budget
// full all along. Holds: the budget's usage stays within MaxBytes + one
// segment + one record per log (the documented bound), Used equals the sum
// of the logs' DiskBytes once quiet, and for each log appended = delivered
// + dropped (its OnDrop) + pending, exactly.
func TestPrioSharedBudgetConcurrentAppendersAccounting(t *testing.T) {
	const (
		maxBytes = 48 << 10
		segBytes = 4 << 10
		nLogs    = 4
		perLog   = 400
		recSize  = 300
	)
	dir := t.TempDir()
	b := NewSharedBudget()
	logs := make([]*Log, nLogs)
	drops := make([]dropCounter, nLogs)
	for i := range logs {
		logs[i] = openT(t, filepath.Join(dir, fmt.Sprint(i)), Options{
			MaxBytes: maxBytes, SegmentBytes: segBytes, DisableCompression: true, MemoryBytes: -1,
			Shared: b, Class: i, OnDrop: drops[i].onDrop,
		})
	}
	bound := int64(maxBytes + segBytes + nLogs*(recSize+recordHeaderSize+segmentHeaderSize))
	var maxSeen atomic.Int64
	var appended [nLogs]atomic.Uint64
	var delivered [nLogs]atomic.Uint64
	ctx, cancel := context.WithCancel(context.Background())
	var wg, readers sync.WaitGroup
	for i := range logs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := uint64(1); k <= perLog; k++ {
				_, err := logs[i].Append(context.Background(), 1, itemsFor(k), makePayload(k, recSize))
				if !assert.NoError(t, err) {
					return
				}
				appended[i].Add(uint64(itemsFor(k)))
				if u := b.Used(); u > maxSeen.Load() {
					maxSeen.Store(u)
				}
			}
		}()
	}
	for _, i := range []int{0, 2} { // the high class and a middle one are being sent
		readers.Add(1)
		go func() {
			defer readers.Done()
			r := logs[i].NewReader()
			for {
				rec, err := r.Next(ctx)
				if err != nil {
					return
				}
				logs[i].Ack(rec.Seq)
				delivered[i].Add(uint64(rec.Items))
				time.Sleep(200 * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	time.Sleep(50 * time.Millisecond)
	cancel()
	readers.Wait()
	assert.LessOrEqual(t, maxSeen.Load(), bound, "shared usage within MaxBytes + a segment + a record per log")
	var sum int64
	for i, l := range logs {
		st := l.Stats()
		sum += st.DiskBytes
		_, dropped := drops[i].get()
		assert.Equal(t, st.DroppedBudgetItems+st.DroppedCorruptItems, dropped, "log %d: OnDrop = Stats", i)
		// Records read but not acknowledged when the reader stopped are
		// pending (the reader is not rewound): still counted once.
		assert.Equal(t, appended[i].Load(), delivered[i].Load()+dropped+st.PendingItems,
			"log %d: appended = delivered + dropped + pending", i)
	}
	assert.Equal(t, sum, b.Used(), "Used = sum of DiskBytes")
	for _, l := range logs {
		require.NoError(t, l.Close())
	}
	assert.Zero(t, b.Used(), "every log closed: nothing counted")
}
