// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBudgetDropOldest(t *testing.T) {
	const maxBytes, segBytesOpt = 32 << 10, 4 << 10
	dir := t.TempDir()
	var mu sync.Mutex
	var cbRecs, cbItems uint64
	l := openT(t, dir, Options{
		MaxBytes: maxBytes, SegmentBytes: segBytesOpt, DisableCompression: true,
		OnDrop: func(reason string, records, items uint64) {
			assert.Equal(t, DropReasonBudget, reason)
			mu.Lock()
			cbRecs += records
			cbItems += items
			mu.Unlock()
		},
	})
	defer l.Close()
	r := l.NewReader()
	ctx := context.Background()
	var appendedItems, deliveredItems uint64
	var lastDelivered uint64
	const n = 600
	for i := uint64(1); i <= n; i++ {
		_, err := l.Append(ctx, 1, itemsFor(i), makePayload(i, 100+int(i*37%700)))
		require.NoError(t, err)
		appendedItems += uint64(itemsFor(i))
		disk := segBytes(t, dir)
		require.LessOrEqual(t, disk, int64(maxBytes+segBytesOpt), "after append %d", i)
		// DiskBytes counts acknowledged segments until the background has
		// unlinked them.
		require.Eventually(t, func() bool { return segBytes(t, dir) == l.Stats().DiskBytes }, 5*time.Second, time.Millisecond)
		// Occasionally consume and ack a few records.
		if i%50 == 0 {
			for k := 0; k < 5; k++ {
				rec, err := r.Next(ctx)
				require.NoError(t, err)
				require.Greater(t, rec.Seq, lastDelivered)
				require.True(t, payloadOK(rec.Payload))
				lastDelivered = rec.Seq
				deliveredItems += uint64(rec.Items)
				l.Ack(rec.Seq)
			}
		}
	}
	recs := readAll(t, r, 20*time.Millisecond)
	for _, rec := range recs {
		require.Greater(t, rec.Seq, lastDelivered)
		require.True(t, payloadOK(rec.Payload))
		lastDelivered = rec.Seq
		deliveredItems += uint64(rec.Items)
	}
	st := l.Stats()
	assert.Equal(t, uint64(n), lastDelivered, "newest record retained")
	// Retained records are a contiguous suffix.
	for i := 1; i < len(recs); i++ {
		require.Equal(t, recs[i-1].Seq+1, recs[i].Seq)
	}
	assert.Positive(t, st.DroppedBudgetRecords)
	assert.Equal(t, appendedItems, deliveredItems+st.DroppedBudgetItems)
	mu.Lock()
	assert.Equal(t, st.DroppedBudgetRecords, cbRecs)
	assert.Equal(t, st.DroppedBudgetItems, cbItems)
	mu.Unlock()
	// Acks for evicted sequences are ignored.
	l.Ack(1)
	assert.Equal(t, uint64(len(recs)), l.Stats().PendingRecords)
}

func TestBudgetDropOldestReaderInEvictedSegment(t *testing.T) {
	l := openT(t, t.TempDir(), Options{MaxBytes: 16 << 10, SegmentBytes: 4 << 10, DisableCompression: true, MemoryBytes: -1})
	defer l.Close()
	ctx := context.Background()
	for i := uint64(1); i <= 10; i++ {
		_, err := l.Append(ctx, 1, 1, makePayload(i, 500))
		require.NoError(t, err)
	}
	r := l.NewReader()
	rec, err := r.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(1), rec.Seq)
	for i := uint64(11); i <= 100; i++ {
		_, err := l.Append(ctx, 1, 1, makePayload(i, 500))
		require.NoError(t, err)
	}
	rec, err = r.Next(ctx)
	require.NoError(t, err)
	assert.Greater(t, rec.Seq, uint64(2))
	assert.True(t, payloadOK(rec.Payload))
	// Record 1 was in flight when its segment was evicted: it is not
	// counted as dropped while its fate is open (the backend may accept it).
	st := l.Stats()
	assert.Equal(t, rec.Seq-2, st.DroppedBudgetRecords)
	// The send failed: the reader rewinds, record 1 is now dropped, once.
	r.Rewind()
	assert.Equal(t, rec.Seq-1, l.Stats().DroppedBudgetRecords)
	r.Rewind()
	assert.Equal(t, rec.Seq-1, l.Stats().DroppedBudgetRecords)
}

// TestBudgetEvictedInFlightThenSent: a record evicted while in flight and
// then accepted by the backend is sent, not dropped (counted once, as sent).
func TestBudgetEvictedInFlightThenSent(t *testing.T) {
	var mu sync.Mutex
	var dropped uint64
	l := openT(t, t.TempDir(), Options{MaxBytes: 16 << 10, SegmentBytes: 4 << 10, DisableCompression: true, MemoryBytes: -1,
		OnDrop: func(_ string, recs, _ uint64) { mu.Lock(); dropped += recs; mu.Unlock() }})
	defer l.Close()
	ctx := context.Background()
	for i := uint64(1); i <= 10; i++ {
		_, err := l.Append(ctx, 1, 1, makePayload(i, 500))
		require.NoError(t, err)
	}
	r := l.NewReader()
	rec, err := r.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(1), rec.Seq)
	for i := uint64(11); i <= 100; i++ {
		_, err := l.Append(ctx, 1, 1, makePayload(i, 500))
		require.NoError(t, err)
	}
	l.Ack(1) // delivered after all
	r.Rewind()
	next, err := r.Next(ctx)
	require.NoError(t, err)
	st := l.Stats()
	assert.Equal(t, next.Seq-2, st.DroppedBudgetRecords, "record 1 is not counted as dropped")
	mu.Lock()
	assert.Equal(t, st.DroppedBudgetRecords, dropped)
	mu.Unlock()
}

func TestBudgetDropNewest(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{MaxBytes: 16 << 10, SegmentBytes: 4 << 10, WhenFull: DropNewest, DisableCompression: true})
	defer l.Close()
	ctx := context.Background()
	var ok int
	var err error
	for i := uint64(1); i <= 100; i++ {
		_, err = l.Append(ctx, 1, 1, makePayload(i, 500))
		if err != nil {
			break
		}
		ok++
		require.LessOrEqual(t, segBytes(t, dir), int64(16<<10))
	}
	require.ErrorIs(t, err, ErrFull)
	assert.Equal(t, uint64(1), l.Stats().RejectedFull)
	r := l.NewReader()
	recs := readAll(t, r, 20*time.Millisecond)
	require.Len(t, recs, ok)
	for _, rec := range recs {
		l.Ack(rec.Seq)
	}
	// Space is reclaimed after acks, including the active segment.
	_, err = l.Append(ctx, 1, 1, makePayload(1000, 500))
	require.NoError(t, err)
}

func TestBudgetBlock(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{MaxBytes: 16 << 10, SegmentBytes: 4 << 10, WhenFull: Block, DisableCompression: true})
	defer l.Close()
	ctx := context.Background()
	var n int
	for {
		c, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
		_, err := l.Append(c, 1, 1, makePayload(uint64(n+1), 500))
		cancel()
		if err != nil {
			require.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
			break
		}
		n++
		require.LessOrEqual(t, segBytes(t, dir), int64(16<<10))
	}
	require.Positive(t, n)
	done := make(chan error, 1)
	go func() {
		_, err := l.Append(ctx, 1, 1, makePayload(uint64(n+1), 500))
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("append did not block: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	r := l.NewReader()
	for i := 0; i < n; i++ {
		rec, err := r.Next(ctx)
		require.NoError(t, err)
		l.Ack(rec.Seq)
	}
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("append not unblocked by acks")
	}
	rec, err := r.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(n+1), rec.Seq)
	assert.Zero(t, l.Stats().DroppedBudgetRecords)
}

func TestBudgetRecordLargerThanBudget(t *testing.T) {
	l := openT(t, t.TempDir(), Options{MaxBytes: 4 << 10, DisableCompression: true})
	defer l.Close()
	_, err := l.Append(context.Background(), 1, 1, make([]byte, 5<<10))
	require.ErrorIs(t, err, ErrRecordTooLarge)
}
