// SPDX-License-Identifier: Apache-2.0

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"context"
	"testing"
)

func benchAppend(b *testing.B, opts Options, parallel bool) {
	l := openT(b, b.TempDir(), opts)
	defer l.Close()
	p := makePayload(1, 64<<10)
	ctx := context.Background()
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	// Keep the log bounded: ack everything as we go.
	b.ResetTimer()
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				seq, err := l.Append(ctx, 1, 100, p)
				if err != nil {
					b.Error(err)
					return
				}
				l.Ack(seq)
			}
		})
		return
	}
	for i := 0; i < b.N; i++ {
		seq, err := l.Append(ctx, 1, 100, p)
		if err != nil {
			b.Fatal(err)
		}
		l.Ack(seq)
	}
}

func BenchmarkAppend(b *testing.B) {
	b.Run("interval", func(b *testing.B) { benchAppend(b, Options{Fsync: FsyncInterval}, false) })
	b.Run("interval-nocompress", func(b *testing.B) {
		benchAppend(b, Options{Fsync: FsyncInterval, DisableCompression: true}, false)
	})
	b.Run("always", func(b *testing.B) { benchAppend(b, Options{Fsync: FsyncAlways}, false) })
	b.Run("always-parallel", func(b *testing.B) { benchAppend(b, Options{Fsync: FsyncAlways}, true) })
}

func benchRead(b *testing.B, opts Options) {
	l := openT(b, b.TempDir(), opts)
	defer l.Close()
	p := makePayload(1, 64<<10)
	ctx := context.Background()
	const n = 256
	for i := 0; i < n; i++ {
		if _, err := l.Append(ctx, 1, 100, p); err != nil {
			b.Fatal(err)
		}
	}
	r := l.NewReader()
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%n == 0 {
			r.Rewind()
		}
		if _, err := r.Next(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRead(b *testing.B) {
	b.Run("disk-compressed", func(b *testing.B) { benchRead(b, Options{MemoryBytes: -1}) })
	b.Run("disk-uncompressed", func(b *testing.B) { benchRead(b, Options{MemoryBytes: -1, DisableCompression: true}) })
	b.Run("memory", func(b *testing.B) { benchRead(b, Options{MemoryBytes: 64 << 20}) })
}
