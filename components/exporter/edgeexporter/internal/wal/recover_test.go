// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRecoveryDamagedSegmentHeader: a damaged 8-byte segment header does not
// discard the segment's records: each record has its own checksums, so
// recovery resynchronises on record headers and delivers them all.
func TestRecoveryDamagedSegmentHeader(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentBytes: 4 << 10, DisableCompression: true})
	for i := uint64(1); i <= 40; i++ {
		_, err := l.Append(context.Background(), 1, 2, makePayload(i, 500))
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	segs := segFiles(t, dir)
	require.GreaterOrEqual(t, len(segs), 3)
	f, err := os.OpenFile(segs[1], os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("XXXXXXXX"), 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	l = openT(t, dir, Options{})
	defer l.Close()
	rec := l.Recovery()
	assert.Zero(t, rec.CorruptRecords)
	assert.Equal(t, 1, rec.CorruptSegments)
	recs := readAll(t, l.NewReader(), 20*time.Millisecond)
	require.Len(t, recs, 40)
	for i, r := range recs {
		assert.Equal(t, uint64(i+1), r.Seq)
		assert.True(t, payloadOK(r.Payload))
	}
}

// craftedStaleSegment builds a segment whose every byte position starts a
// header with a valid checksum, a stale sequence and a large length: the
// input that made the previous scanner checksum a payload at every byte.
func craftedStaleSegment(size int) []byte {
	b := append([]byte(nil), segmentMagic[:]...)
	hdr := make([]byte, recordHeaderSize)
	putHeader(hdr, recordHeader{length: 1 << 20, seq: 1, items: 1})
	for len(b) < size {
		b = append(b, hdr...)
	}
	return b[:size]
}

// TestRecoveryScanIsLinear: the scan never checksums a payload before the
// header's sequence is known plausible, so a crafted segment costs one pass.
func TestRecoveryScanIsLinear(t *testing.T) {
	data := craftedStaleSegment(2 << 20)
	res, _ := scanSegment(data, 5, DefaultMaxRecordBytes) // records must be > 5
	assert.LessOrEqual(t, res.crcBytes, int64(len(data)), "payload bytes checksummed")
	assert.Zero(t, res.records)
}

// TestRecoverySetsAsideGarbage: a file named like a segment that holds no
// record is set aside (renamed, never read again), not scanned forever or
// deleted; the log's own records are unaffected and nothing is counted
// twice at the next start.
func TestRecoverySetsAsideGarbage(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentBytes: 4 << 10})
	for i := uint64(1); i <= 10; i++ {
		_, err := l.Append(context.Background(), 1, 1, makePayload(i, 300))
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	garbage := filepath.Join(dir, segmentName(500))
	require.NoError(t, os.WriteFile(garbage, craftedStaleSegment(1 << 20)[segmentHeaderSize:], 0o600))

	l = openT(t, dir, Options{})
	rec := l.Recovery()
	require.Len(t, rec.SetAside, 1)
	assert.FileExists(t, garbage+quarantineSuffix)
	assert.NoFileExists(t, garbage)
	assert.Len(t, readAll(t, l.NewReader(), 20*time.Millisecond), 10)
	require.NoError(t, l.Close())
	l = openT(t, dir, Options{})
	defer l.Close()
	assert.Empty(t, l.Recovery().SetAside)
	assert.Zero(t, l.Recovery().CorruptRecords)
}

// TestRecoveryReadsAreBounded: recovery reads segments through a bounded
// window, whatever their size and the size of their records.
func TestRecoveryReadsAreBounded(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{SegmentBytes: 16 << 20, DisableCompression: true})
	big := makePayload(1, 6<<20)
	for i := 0; i < 3; i++ {
		_, err := l.Append(context.Background(), 1, 1, big)
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	rfs := &readSizeFS{}
	l = openT(t, dir, Options{FS: rfs})
	defer l.Close()
	assert.LessOrEqual(t, rfs.max.Load(), int64(scanWindow))
	assert.Equal(t, uint64(3), l.Recovery().PendingRecords)
}

type readSizeFS struct {
	OSFS
	max atomic.Int64
}

func (f *readSizeFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &readSizeFile{File: file, fs: f}, nil
}

type readSizeFile struct {
	File
	fs *readSizeFS
}

func (f *readSizeFile) ReadAt(p []byte, off int64) (int, error) {
	for {
		m := f.fs.max.Load()
		if int64(len(p)) <= m || f.fs.max.CompareAndSwap(m, int64(len(p))) {
			break
		}
	}
	return f.File.ReadAt(p, off)
}

// heapSampler records the peak heap in use while it runs.
type heapSampler struct {
	peak atomic.Uint64
	stop chan struct{}
	done chan struct{}
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		var ms runtime.MemStats
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > h.peak.Load() {
				h.peak.Store(ms.HeapInuse)
			}
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) finish() uint64 {
	close(h.stop)
	<-h.done
	return h.peak.Load()
}

func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// BenchmarkRecover1GiB opens a log holding a 1 GiB backlog (default segment
// size, compression off so the bytes on disk are 1 GiB) and reports the
// recovery time, the peak heap above the heap before Open, and the heap the
// open log keeps (its index: one entry per record). Record size:
// WAL_BENCH_RECORD (default 4096 bytes).
func BenchmarkRecover1GiB(b *testing.B) {
	recSize := 4096
	if v := os.Getenv("WAL_BENCH_RECORD"); v != "" {
		_, _ = fmt.Sscan(v, &recSize)
	}
	dir := b.TempDir()
	l := openT(b, dir, Options{DisableCompression: true, MemoryBytes: -1, Fsync: FsyncNever})
	p := makePayload(1, recSize)
	n := (1 << 30) / (recSize + recordHeaderSize)
	for i := 0; i < n; i++ {
		if _, err := l.Append(context.Background(), 1, 10, p); err != nil {
			b.Fatal(err)
		}
	}
	require.NoError(b, l.Close())
	b.ResetTimer()
	var peakAbove, kept float64
	for i := 0; i < b.N; i++ {
		base := heapInuse()
		hs := startHeapSampler()
		l := openT(b, dir, Options{})
		peak := hs.finish()
		after := heapInuse()
		if got := l.Recovery().PendingRecords; got != uint64(n) {
			b.Fatalf("recovered %d records, want %d", got, n)
		}
		peakAbove = float64(peak-min(peak, base)) / (1 << 20)
		kept = float64(after-min(after, base)) / (1 << 20)
		require.NoError(b, l.Close())
	}
	b.ReportMetric(peakAbove, "peak-heap-MiB")
	b.ReportMetric(kept, "kept-heap-MiB")
	b.ReportMetric(float64(n), "records")
}

// BenchmarkRecoverGarbage128MiB: a crafted 128 MiB file named like a segment
// (every position looks like a record header of a stale sequence) is set
// aside at Open; reports the time to do so.
func BenchmarkRecoverGarbage128MiB(b *testing.B) {
	garbage := craftedStaleSegment(128 << 20)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		l := openT(b, dir, Options{})
		for j := uint64(1); j <= 10; j++ {
			if _, err := l.Append(context.Background(), 1, 1, makePayload(j, 300)); err != nil {
				b.Fatal(err)
			}
		}
		require.NoError(b, l.Close())
		// Placed after the log's segment, with a sequence the log could use.
		require.NoError(b, os.WriteFile(filepath.Join(dir, segmentName(11)), garbage, 0o600))
		b.StartTimer()
		start := time.Now()
		l = openT(b, dir, Options{})
		b.ReportMetric(time.Since(start).Seconds(), "open-s")
		b.StopTimer()
		if len(l.Recovery().SetAside) != 1 {
			b.Fatalf("garbage not set aside: %+v", l.Recovery())
		}
		require.NoError(b, l.Close())
	}
}

// TestCursorTornDurableWriteKeepsLastDurableState: a durable cursor write
// torn by power loss (its slot garbled) falls back to the previous durable
// state, never to an older plain one: durable writes alternate between two
// slots, plain writes have their own.
func TestCursorTornDurableWriteKeepsLastDurableState(t *testing.T) {
	dir := t.TempDir()
	f, err := createCursor(OSFS{}, dir, cursorState{Acked: 1, HasWatermark: true, Last: 1})
	require.NoError(t, err)
	c := &cursorFile{dir: dir, f: f, gen: cursorSlots}
	require.NoError(t, c.write(cursorState{Acked: 2, HasWatermark: true, Last: 5}))             // plain, older
	require.NoError(t, c.writeDurable(cursorState{Acked: 3, HasWatermark: true, Last: 5}, nil)) // durable
	require.NoError(t, c.writeDurable(cursorState{Acked: 4, HasWatermark: true, Last: 6}, nil)) // durable, the last completed
	next := c.durableSlot
	require.NoError(t, c.close())
	// The next durable write is torn: its slot holds garbage.
	raw, err := os.ReadFile(filepath.Join(dir, cursorFileName))
	require.NoError(t, err)
	for i := 0; i < 40; i++ {
		raw[int(next)*cursorSlotStride+8+i] ^= 0x5a
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, cursorFileName), raw, 0o600))
	st, err := readCursor(OSFS{}, dir)
	require.NoError(t, err)
	assert.Equal(t, uint64(4), st.Acked, "the last completed durable state survives a torn durable write")
}

// TestCursorSyncSurvivesTornPlainWrite: the periodic cursor sync must put the
// state it makes durable where the next plain write cannot reach it. Fsyncing
// the plain slot in place (the previous behaviour) let the next plain write,
// torn by a power loss, destroy the only durable copy of the acknowledgements
// that the background had already used to unlink segments: recovery then
// counted delivered records as corrupt (seen at 20,000 crash points).
func TestCursorSyncSurvivesTornPlainWrite(t *testing.T) {
	dir := t.TempDir()
	f, err := createCursor(OSFS{}, dir, cursorState{Acked: 1, HasWatermark: true, Last: 1})
	require.NoError(t, err)
	c := &cursorFile{dir: dir, f: f, gen: cursorSlots}
	require.NoError(t, c.write(cursorState{Acked: 5, HasWatermark: true, Last: 8})) // plain
	require.NoError(t, c.sync())                                                    // the background's periodic sync
	assert.Equal(t, uint64(5), c.durable.Acked)
	require.NoError(t, c.write(cursorState{Acked: 6, HasWatermark: true, Last: 9})) // plain, torn below
	require.NoError(t, c.close())
	raw, err := os.ReadFile(filepath.Join(dir, cursorFileName))
	require.NoError(t, err)
	for i := 0; i < 40; i++ {
		raw[cursorPlainSlot*cursorSlotStride+8+i] ^= 0x5a
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, cursorFileName), raw, 0o600))
	st, err := readCursor(OSFS{}, dir)
	require.NoError(t, err)
	assert.Equal(t, uint64(5), st.Acked, "the state the sync made durable survives a torn plain write")
}

// TestRecoveryCountsSegmentWithNoIntactRecord: a power loss before any
// durable cursor covered them leaves segments whose only record lost its
// header. Their names say which records were appended: recovery counts the
// first record of each such segment as corrupt (items unknown) and never
// assigns its sequence again. Before, the set-aside segment was counted
// nowhere and its sequence was handed to the next append (found at 20,000
// crash points: I4 and I10 with fsync interval, injected damage and power
// loss).
func TestRecoveryCountsSegmentWithNoIntactRecord(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 600, DisableCompression: true, Fsync: FsyncAlways}
	l := openT(t, dir, opts)
	fresh, err := os.ReadFile(filepath.Join(dir, cursorFileName))
	require.NoError(t, err)
	for i := uint64(1); i <= 4; i++ {
		seq, err := l.Append(context.Background(), 1, 2, makePayload(i, 500))
		require.NoError(t, err)
		require.Equal(t, i, seq)
	}
	// The image a power loss leaves: every segment (fsynced by the appends)
	// and the cursor as created, before any of its writes was fsynced.
	img := t.TempDir()
	copyDir(t, dir, img)
	require.NoError(t, l.Close())
	require.NoError(t, os.WriteFile(filepath.Join(img, cursorFileName), fresh, 0o600))
	segs := segFiles(t, img)
	require.Len(t, segs, 4, "one record per segment")
	last := segs[len(segs)-1]
	require.Equal(t, "00000000000000000004.seg", filepath.Base(last))
	f, err := os.OpenFile(last, os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("XXXXXXXXXXXX"), segmentHeaderSize+4) // the record header
	require.NoError(t, err)
	require.NoError(t, f.Close())

	l = openT(t, img, opts)
	defer l.Close()
	rec := l.Recovery()
	assert.Equal(t, uint64(1), rec.CorruptRecords, "record 4 is counted")
	assert.Equal(t, uint64(3), rec.PendingRecords)
	seq, err := l.Append(context.Background(), 1, 2, makePayload(5, 100))
	require.NoError(t, err)
	assert.Greater(t, seq, uint64(4), "sequence 4 is not assigned again")
}

// TestRecoveryCountsRecordWithDestroyedHeaderAtTail: the same as above for a
// record at the end of a segment that still holds intact records before it:
// the bytes after the last intact record are the next record, counted as
// corrupt and its sequence not reused.
func TestRecoveryCountsRecordWithDestroyedHeaderAtTail(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 1 << 20, DisableCompression: true, Fsync: FsyncAlways}
	l := openT(t, dir, opts)
	fresh, err := os.ReadFile(filepath.Join(dir, cursorFileName))
	require.NoError(t, err)
	var off int64 = segmentHeaderSize
	for i := uint64(1); i <= 3; i++ {
		_, err := l.Append(context.Background(), 1, 2, makePayload(i, 300))
		require.NoError(t, err)
		if i < 3 {
			off = segBytes(t, dir)
		}
	}
	img := t.TempDir()
	copyDir(t, dir, img)
	require.NoError(t, l.Close())
	require.NoError(t, os.WriteFile(filepath.Join(img, cursorFileName), fresh, 0o600))
	segs := segFiles(t, img)
	require.Len(t, segs, 1)
	f, err := os.OpenFile(segs[0], os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("XXXXXXXXXXXX"), off+4) // record 3's header
	require.NoError(t, err)
	require.NoError(t, f.Close())

	l = openT(t, img, opts)
	defer l.Close()
	rec := l.Recovery()
	assert.Equal(t, uint64(1), rec.CorruptRecords, "record 3 is counted")
	assert.Equal(t, uint64(2), rec.PendingRecords)
	seq, err := l.Append(context.Background(), 1, 2, makePayload(4, 100))
	require.NoError(t, err)
	assert.Greater(t, seq, uint64(3), "sequence 3 is not assigned again")
}
