// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRandomCorruption flips random bytes in segment files and checks that
// Open never fails, every undamaged record is delivered intact, no damaged
// record is delivered, and losses are counted.
func TestRandomCorruption(t *testing.T) {
	src := t.TempDir()
	l := openT(t, src, Options{SegmentBytes: 4 << 10})
	const n = 60
	payloads := map[uint64][]byte{}
	for i := uint64(1); i <= n; i++ {
		p := makePayload(i, 50+int(i*97%600))
		payloads[i] = p
		_, err := l.Append(context.Background(), 1, itemsFor(i), p)
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	require.NoError(t, os.Remove(filepath.Join(src, cursorFileName)))

	type span struct {
		file     string
		seq      uint64
		off, end int64
	}
	var spans []span
	files := map[string][]byte{}
	names := []string{}
	for _, path := range segFiles(t, src) {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		name := filepath.Base(path)
		files[name] = b
		names = append(names, name)
		res, recs := scanSegment(b, 0, DefaultMaxRecordBytes)
		require.Empty(t, res.corrupt)
		for _, r := range recs {
			spans = append(spans, span{name, r.h.seq, r.off, r.off + recordHeaderSize + int64(r.h.length)})
		}
	}
	require.Len(t, spans, n)
	lastName := names[len(names)-1]

	rng := rand.New(rand.NewPCG(42, 4242))
	for trial := 0; trial < 200; trial++ {
		dir := filepath.Join(t.TempDir(), fmt.Sprint(trial))
		require.NoError(t, os.MkdirAll(dir, 0o700))
		flipped := map[string][]int64{}
		for k := 0; k < 1+rng.IntN(4); k++ {
			name := names[rng.IntN(len(names))]
			flipped[name] = append(flipped[name], rng.Int64N(int64(len(files[name]))))
		}
		for name, b := range files {
			c := append([]byte(nil), b...)
			for _, off := range flipped[name] {
				c[off] ^= byte(1 + rng.IntN(255))
			}
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), c, 0o600))
		}
		damaged := map[uint64]bool{}
		badSeg := map[string]bool{}
		for name, offs := range flipped {
			for _, off := range offs {
				if off < segmentHeaderSize {
					badSeg[name] = true
				}
			}
		}
		lostInLastBadSeg := 0
		for _, s := range spans {
			if badSeg[s.file] {
				damaged[s.seq] = true
				if s.file == lastName {
					lostInLastBadSeg++
				}
				continue
			}
			for _, off := range flipped[s.file] {
				if off >= s.off && off < s.end {
					damaged[s.seq] = true
				}
			}
		}

		l, err := Open(dir, Options{MemoryBytes: -1})
		require.NoError(t, err, "trial %d", trial)
		recs := readAll(t, l.NewReader(), 10*time.Millisecond)
		rec := l.Recovery()
		require.NoError(t, l.Close())

		got := map[uint64]bool{}
		for _, r := range recs {
			require.Equal(t, string(payloads[r.Seq]), string(r.Payload), "trial %d seq %d", trial, r.Seq)
			require.False(t, damaged[r.Seq], "trial %d: damaged record %d delivered", trial, r.Seq)
			got[r.Seq] = true
		}
		for seq := uint64(1); seq <= n; seq++ {
			if !damaged[seq] {
				require.True(t, got[seq], "trial %d: undamaged record %d lost (flips %v)", trial, seq, flipped)
			}
		}
		lost := uint64(len(damaged))
		require.LessOrEqual(t, rec.CorruptRecords, lost, "trial %d", trial)
		// Only a damaged record at the very end of the log (indistinguishable
		// from a torn write) or a garbled last segment can go uncounted.
		require.LessOrEqual(t, lost-rec.CorruptRecords, uint64(1+lostInLastBadSeg), "trial %d: %+v", trial, rec)
	}
}

// TestCorruptionAfterOpen damages a record on disk while the log is open: the
// reader skips and counts it instead of returning a corrupt payload.
func TestCorruptionAfterOpen(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Options{MemoryBytes: -1, DisableCompression: true})
	defer l.Close()
	for i := uint64(1); i <= 3; i++ {
		_, err := l.Append(context.Background(), 1, 5, makePayload(i, 200))
		require.NoError(t, err)
	}
	path := segFiles(t, dir)[0]
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte{0xff, 0xfe}, segmentHeaderSize+recordHeaderSize+225+50) // payload of record 2
	require.NoError(t, err)
	require.NoError(t, f.Close())
	recs := readAll(t, l.NewReader(), 20*time.Millisecond)
	require.Len(t, recs, 2)
	require.Equal(t, uint64(1), recs[0].Seq)
	require.Equal(t, uint64(3), recs[1].Seq)
	st := l.Stats()
	require.Equal(t, uint64(1), st.DroppedCorruptRecords)
	require.Equal(t, uint64(5), st.DroppedCorruptItems)
	require.Error(t, st.LastError)
}

func FuzzDecodeRecord(f *testing.F) {
	frame := make([]byte, recordHeaderSize+5)
	copy(frame[recordHeaderSize:], "hello")
	putHeader(frame, recordHeader{length: 5, seq: 7, items: 1, kind: 2, pcrc: crc([]byte("hello"))})
	f.Add(frame)
	f.Add([]byte{})
	f.Add(make([]byte, 40))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, p, n, err := decodeRecord(b, 1<<20)
		if err == nil {
			if crc(p) != h.pcrc || int(h.length) != len(p) || n != recordHeaderSize+len(p) || n > len(b) {
				t.Fatalf("bad record accepted: %+v", h)
			}
		}
	})
}

func FuzzScanSegment(f *testing.F) {
	seg := append([]byte(nil), segmentMagic[:]...)
	for i := uint64(1); i <= 3; i++ {
		p := makePayload(i, 40)
		frame := make([]byte, recordHeaderSize+len(p))
		copy(frame[recordHeaderSize:], p)
		putHeader(frame, recordHeader{length: uint32(len(p)), seq: i, items: 1, pcrc: crc(p)})
		seg = append(seg, frame...)
	}
	f.Add(seg)
	f.Add(seg[:len(seg)-7])
	f.Add([]byte("OEWAL\x00\x00\x01garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		res, recs := scanSegment(b, 0, 1<<20)
		last := uint64(0)
		for _, r := range recs {
			end := r.off + recordHeaderSize + int64(r.h.length)
			if end > int64(len(b)) || crc(b[r.off+recordHeaderSize:end]) != r.h.pcrc {
				t.Fatalf("record with bad payload accepted at %d", r.off)
			}
			if r.h.seq <= last {
				t.Fatalf("non-increasing seq")
			}
			last = r.h.seq
		}
		if res.goodEnd+res.tailBytes != int64(len(b)) || res.goodEnd > int64(len(b)) {
			t.Fatalf("bad accounting: %+v len %d", res, len(b))
		}
	})
}

// TestWatermarkCountsInvisibleLosses: damage that leaves no record header to
// count from (a destroyed header, a truncated or deleted segment) is counted
// exactly from the cursor file's watermark, once.
func TestWatermarkCountsInvisibleLosses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, segs []string)
		// lost records (items = 3 per record)
		lost uint64
	}{
		{"header of the first record destroyed", func(t *testing.T, segs []string) {
			f, err := os.OpenFile(segs[0], os.O_RDWR, 0)
			require.NoError(t, err)
			_, err = f.WriteAt([]byte{0xff, 0xff, 0xff, 0xff}, segmentHeaderSize)
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}, 1},
		{"middle segment deleted", func(t *testing.T, segs []string) {
			require.NoError(t, os.Remove(segs[1]))
		}, 0 /* computed below */},
		{"last segment truncated to its header", func(t *testing.T, segs []string) {
			require.NoError(t, os.Truncate(segs[len(segs)-1], segmentHeaderSize))
		}, 0 /* computed below */},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openT(t, dir, Options{SegmentBytes: 4 << 10, DisableCompression: true})
			const n = 60
			for i := uint64(1); i <= n; i++ {
				_, err := l.Append(context.Background(), 1, 3, makePayload(i, 500))
				require.NoError(t, err)
			}
			require.NoError(t, l.Close())
			segs := segFiles(t, dir)
			require.GreaterOrEqual(t, len(segs), 3)
			want := tc.lost
			if want == 0 {
				// Count the records of the segment the case destroys.
				victim := segs[1]
				if tc.name != "middle segment deleted" {
					victim = segs[len(segs)-1]
				}
				l2 := openT(t, dir, Options{})
				for _, s := range l2.segs {
					if s.path == victim {
						want = uint64(len(s.recs))
					}
				}
				require.NoError(t, l2.Close())
				require.NotZero(t, want)
			}
			tc.damage(t, segs)

			l = openT(t, dir, Options{})
			rec := l.Recovery()
			assert.Equal(t, want, rec.CorruptRecords, "records lost")
			assert.Equal(t, 3*want, rec.CorruptItems, "items lost, exactly")
			assert.Equal(t, uint64(n)-want, rec.PendingRecords)
			assert.Equal(t, 3*(uint64(n)-want), rec.PendingItems)
			assert.Equal(t, 3*want, l.Stats().DroppedCorruptItems)
			require.NoError(t, l.Close())

			// Counted once: the next start finds nothing new.
			l = openT(t, dir, Options{})
			defer l.Close()
			assert.Zero(t, l.Recovery().CorruptRecords)
			assert.Zero(t, l.Recovery().CorruptItems)
		})
	}
}
