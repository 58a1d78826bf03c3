// SPDX-License-Identifier: Apache-2.0

package edgeexporter

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"
)

// benchPayload is an OTLP traces request of about size bytes (protobuf).
func benchPayload(tb testing.TB, size int) []byte {
	tb.Helper()
	var m ptrace.ProtoMarshaler
	one, err := m.MarshalTraces(genTraces(0, 1))
	require.NoError(tb, err)
	n := max(1, size/len(one))
	for {
		b, err := m.MarshalTraces(genTraces(uint64(n), n))
		require.NoError(tb, err)
		if len(b) >= size || n > 1<<20 {
			return b
		}
		n += max(1, (size-len(b))/len(one))
	}
}

var benchSizes = []int{4 << 10, 16 << 10, 64 << 10}

func benchKeyring(b *testing.B) *keyring {
	kr, err := loadKeyring(EncryptionConfig{Active: "a", Keys: []EncryptionKey{{ID: "a", Key: configopaque.String(keyA)}}}, true)
	require.NoError(b, err)
	b.Cleanup(kr.close)
	return kr
}

// BenchmarkSeal: what encryption adds to an append: zstd (moved from the log
// into the envelope) and AES-256-GCM.
func BenchmarkSeal(b *testing.B) {
	kr := benchKeyring(b)
	for _, size := range benchSizes {
		p := benchPayload(b, size)
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			buf := make([]byte, 0, 2*len(p))
			for b.Loop() {
				buf = kr.seal(buf[:0], kindTraces, p, true)
			}
			b.ReportMetric(float64(len(buf))/float64(len(p)), "stored/plain")
		})
	}
}

// BenchmarkOpen: what encryption adds to a read from disk (AES-256-GCM, then
// zstd, which the log would otherwise do).
func BenchmarkOpen(b *testing.B) {
	kr := benchKeyring(b)
	for _, size := range benchSizes {
		p := benchPayload(b, size)
		env := kr.seal(nil, kindTraces, p, true)
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := kr.open(kindTraces, env); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppendRecord: one record through the append path into a real log
// (fsync never), without and with encryption: plain = the log compresses;
// encrypted = the exporter compresses and seals, the log stores it as is.
func BenchmarkAppendRecord(b *testing.B) {
	for _, enc := range []bool{false, true} {
		for _, size := range benchSizes {
			name := "plain"
			if enc {
				name = "encrypted"
			}
			b.Run(fmt.Sprintf("%s/%dKiB", name, size>>10), func(b *testing.B) {
				p := benchPayload(b, size)
				var kr *keyring
				if enc {
					kr = benchKeyring(b)
				}
				l, err := wal.Open(b.TempDir(), wal.Options{Fsync: wal.FsyncNever, SegmentBytes: 64 << 20, MemoryBytes: -1, DisableCompression: enc})
				require.NoError(b, err)
				defer l.Close()
				ctx := context.Background()
				var stored []byte
				b.SetBytes(int64(len(p)))
				b.ReportAllocs()
				n := 0
				for b.Loop() {
					payload, kind := p, kindTraces
					if kr != nil {
						stored = kr.seal(stored[:0], kindTraces, p, true)
						payload, kind = stored, kindTraces|kindEncrypted
					}
					seq, err := l.Append(ctx, kind, 1, payload)
					if err != nil {
						b.Fatal(err)
					}
					l.Ack(seq)
					n++
				}
				b.ReportMetric(float64(l.Stats().AppendedBytes)/float64(n)/float64(len(p)), "stored/plain")
			})
		}
	}
}
