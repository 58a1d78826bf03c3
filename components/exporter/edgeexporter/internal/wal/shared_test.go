// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dropCounter sums OnDrop calls of one log.
type dropCounter struct {
	mu           sync.Mutex
	recs, items  uint64
	budgetCalled int
}

func (d *dropCounter) onDrop(reason string, recs, items uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if reason == DropReasonBudget {
		d.budgetCalled++
	}
	d.recs += recs
	d.items += items
}

func (d *dropCounter) get() (uint64, uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.recs, d.items
}

func openShared(t *testing.T, dir string, b *SharedBudget, class int, maxBytes int64, d *dropCounter) *Log {
	t.Helper()
	return openT(t, dir, Options{
		MaxBytes: maxBytes, SegmentBytes: 4 << 10, DisableCompression: true, MemoryBytes: -1,
		Shared: b, Class: class, OnDrop: d.onDrop,
	})
}

// TestSharedBudgetEvictsLowestClassFirst: two logs share one budget; the
// high class (Class 0) loses nothing while the low class (Class 1) holds a
// record, the low class loses its oldest data, and every item of each log
// is delivered, pending or counted by that log's OnDrop exactly once.
func TestSharedBudgetEvictsLowestClassFirst(t *testing.T) {
	const maxBytes = 32 << 10
	dir := t.TempDir()
	b := NewSharedBudget()
	var dHigh, dLow dropCounter
	high := openShared(t, filepath.Join(dir, "high"), b, 0, maxBytes, &dHigh)
	low := openShared(t, filepath.Join(dir, "low"), b, 1, maxBytes, &dLow)
	defer high.Close()
	defer low.Close()
	ctx := context.Background()
	var highItems, lowItems uint64
	check := func(i uint64) {
		used := high.Stats().DiskBytes + low.Stats().DiskBytes
		require.Equal(t, used, b.Used())
		require.LessOrEqual(t, used, int64(maxBytes+4<<10), "after append %d", i)
	}
	appendLow := func(i uint64) {
		_, err := low.Append(ctx, 1, itemsFor(i), makePayload(i, 300))
		require.NoError(t, err)
		lowItems += uint64(itemsFor(i))
		check(i)
	}
	// A flood of low-class data fills the budget, then high-class data
	// arrives (each of its appends needs room), then more low-class data.
	for i := uint64(1); i <= 300; i++ {
		appendLow(i)
	}
	for i := uint64(1); i <= 60; i++ {
		_, err := high.Append(ctx, 1, itemsFor(i), makePayload(i, 300))
		require.NoError(t, err)
		highItems += uint64(itemsFor(i))
		check(i)
	}
	for i := uint64(301); i <= 400; i++ {
		appendLow(i)
	}
	hr, hi := dHigh.get()
	lr, li := dLow.get()
	assert.Zero(t, hr, "the high class lost nothing")
	assert.Zero(t, hi)
	assert.Positive(t, lr, "the low class was evicted")
	assert.Equal(t, low.Stats().DroppedBudgetItems, li)

	// Everything of the high class is there, in order; the low class kept
	// a contiguous suffix (oldest evicted first).
	hrecs := readAll(t, high.NewReader(), 20*time.Millisecond)
	assert.Equal(t, 60, len(hrecs))
	var got uint64
	for _, r := range hrecs {
		got += uint64(r.Items)
	}
	assert.Equal(t, highItems, got)
	lrecs := readAll(t, low.NewReader(), 20*time.Millisecond)
	require.NotEmpty(t, lrecs)
	assert.Equal(t, uint64(400), lrecs[len(lrecs)-1].Seq, "newest low record kept")
	got = 0
	for i, r := range lrecs {
		got += uint64(r.Items)
		if i > 0 {
			require.Equal(t, lrecs[i-1].Seq+1, r.Seq)
		}
	}
	assert.Equal(t, lowItems, got+li, "low: delivered + dropped = appended")
}

// TestSharedBudgetHighEvictedWhenLowEmpty: when the lower classes hold no
// record, the appending class evicts its own oldest data (drop_oldest
// still makes room), and counts it itself.
func TestSharedBudgetHighEvictedWhenLowEmpty(t *testing.T) {
	const maxBytes = 32 << 10
	dir := t.TempDir()
	b := NewSharedBudget()
	var dHigh, dLow dropCounter
	high := openShared(t, filepath.Join(dir, "high"), b, 0, maxBytes, &dHigh)
	low := openShared(t, filepath.Join(dir, "low"), b, 1, maxBytes, &dLow)
	defer high.Close()
	defer low.Close()
	ctx := context.Background()
	var items uint64
	for i := uint64(1); i <= 300; i++ {
		_, err := high.Append(ctx, 1, itemsFor(i), makePayload(i, 300))
		require.NoError(t, err)
		items += uint64(itemsFor(i))
	}
	hr, hi := dHigh.get()
	lr, _ := dLow.get()
	assert.Positive(t, hr)
	assert.Zero(t, lr)
	var got uint64
	for _, r := range readAll(t, high.NewReader(), 20*time.Millisecond) {
		got += uint64(r.Items)
	}
	assert.Equal(t, items, got+hi)
	assert.LessOrEqual(t, b.Used(), int64(maxBytes+4<<10))
}

// TestSharedBudgetAcknowledgedSpaceFirst: acknowledged data of another log
// is reclaimed before anything is evicted.
func TestSharedBudgetAcknowledgedSpaceFirst(t *testing.T) {
	const maxBytes = 32 << 10
	dir := t.TempDir()
	b := NewSharedBudget()
	var dHigh, dLow dropCounter
	high := openShared(t, filepath.Join(dir, "high"), b, 0, maxBytes, &dHigh)
	low := openShared(t, filepath.Join(dir, "low"), b, 1, maxBytes, &dLow)
	defer high.Close()
	defer low.Close()
	ctx := context.Background()
	// Fill with low-class data, then acknowledge all of it.
	for i := uint64(1); i <= 80; i++ {
		_, err := low.Append(ctx, 1, 1, makePayload(i, 300))
		require.NoError(t, err)
	}
	r := low.NewReader()
	for _, rec := range readAll(t, r, 20*time.Millisecond) {
		low.Ack(rec.Seq)
	}
	// High-class appends take its place without any drop.
	for i := uint64(1); i <= 80; i++ {
		_, err := high.Append(ctx, 1, 1, makePayload(i, 300))
		require.NoError(t, err)
	}
	lr, _ := dLow.get()
	hr, _ := dHigh.get()
	assert.Zero(t, lr)
	assert.Zero(t, hr)
}

// TestSharedBudgetDropNewest: the shared budget refuses under DropNewest.
func TestSharedBudgetDropNewest(t *testing.T) {
	dir := t.TempDir()
	b := NewSharedBudget()
	opts := func(class int) Options {
		return Options{MaxBytes: 32 << 10, SegmentBytes: 4 << 10, DisableCompression: true, WhenFull: DropNewest, Shared: b, Class: class}
	}
	high := openT(t, filepath.Join(dir, "high"), opts(0))
	low := openT(t, filepath.Join(dir, "low"), opts(1))
	defer high.Close()
	defer low.Close()
	ctx := context.Background()
	var err error
	for i := uint64(1); i <= 200 && err == nil; i++ {
		_, err = low.Append(ctx, 1, 1, makePayload(i, 300))
	}
	require.ErrorIs(t, err, ErrFull)
	_, err = high.Append(ctx, 1, 1, makePayload(1, 300))
	require.ErrorIs(t, err, ErrFull, "the budget is shared")
}

// TestSharedBudgetRestartKeepsCounts: a log reopened into a shared budget
// brings its disk usage; drops counted before a restart are not counted
// again after it (each log's own exact accounting).
func TestSharedBudgetRestartKeepsCounts(t *testing.T) {
	const maxBytes = 32 << 10
	dir := t.TempDir()
	ctx := context.Background()
	var lowItems uint64
	var dLow1 dropCounter
	{
		b := NewSharedBudget()
		var dHigh dropCounter
		high := openShared(t, filepath.Join(dir, "high"), b, 0, maxBytes, &dHigh)
		low := openShared(t, filepath.Join(dir, "low"), b, 1, maxBytes, &dLow1)
		for i := uint64(1); i <= 300; i++ {
			_, err := low.Append(ctx, 1, itemsFor(i), makePayload(i, 300))
			require.NoError(t, err)
			lowItems += uint64(itemsFor(i))
		}
		require.NoError(t, high.Close())
		require.NoError(t, low.Close())
	}
	b := NewSharedBudget()
	var dHigh, dLow2 dropCounter
	high := openShared(t, filepath.Join(dir, "high"), b, 0, maxBytes, &dHigh)
	low := openShared(t, filepath.Join(dir, "low"), b, 1, maxBytes, &dLow2)
	defer high.Close()
	defer low.Close()
	assert.Equal(t, high.Stats().DiskBytes+low.Stats().DiskBytes, b.Used())
	_, d2 := dLow2.get()
	assert.Zero(t, d2, "nothing counted again at reopen")
	_, d1 := dLow1.get()
	var got uint64
	for _, r := range readAll(t, low.NewReader(), 20*time.Millisecond) {
		got += uint64(r.Items)
	}
	assert.Equal(t, lowItems, got+d1)
}
