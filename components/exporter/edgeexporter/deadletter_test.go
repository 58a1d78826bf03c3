// SPDX-License-Identifier: Apache-2.0

package edgeexporter

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/grpc/codes"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"
)

// readLines returns the lines of a dead-letter file; every line must end with
// a newline.
func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	if len(data) == 0 {
		return nil
	}
	require.Equal(t, byte('\n'), data[len(data)-1], "%s ends with a whole line", path)
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	require.NoError(t, sc.Err())
	return lines
}

// readTraceLines parses every line of a traces dead-letter file with the
// OTLP JSON unmarshaler (as the otlpjsonfile receiver does).
func readTraceLines(t *testing.T, path string) []ptrace.Traces {
	t.Helper()
	var out []ptrace.Traces
	for i, line := range readLines(t, path) {
		td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(line)
		require.NoError(t, err, "line %d of %s", i+1, path)
		out = append(out, td)
	}
	return out
}

func encodedTraces(t *testing.T, start uint64, n int) []byte {
	t.Helper()
	b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(genTraces(start, n))
	require.NoError(t, err)
	return b
}

// TestDeadLetterOTLPJSONPerSignal: each signal's rejected requests land in
// their own file, one OTLP JSON export request per line, which the pdata JSON
// unmarshalers read back with every item.
func TestDeadLetterOTLPJSONPerSignal(t *testing.T) {
	sink := newTestSink(t)
	sink.setFail(codes.InvalidArgument)
	h := startExporter(t, testConfig(t, sink.addr))
	h.sendSpans(0, 30)
	h.sendSpans(100, 20)
	md := pmetric.NewMetrics()
	g := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge()
	for i := range 7 {
		g.DataPoints().AppendEmpty().SetIntValue(int64(i))
	}
	require.NoError(t, h.metrics.ConsumeMetrics(context.Background(), md))
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for range 5 {
		lrs.AppendEmpty().Body().SetStr("line")
	}
	require.NoError(t, h.logs.ConsumeLogs(context.Background(), ld))
	waitFor(t, 10*time.Second, func() bool { return h.sum("otelcol_exporter_edge_items_dropped", "reason", "dead_letter") == 62 },
		"everything dead-lettered (got %d)", h.sum("otelcol_exporter_edge_items_dropped", "reason", "dead_letter"))
	dir := h.traces.e.bufferDir()
	h.stop()

	spans := 0
	for _, td := range readTraceLines(t, filepath.Join(dir, "deadletter-traces.jsonl")) {
		spans += td.SpanCount()
	}
	assert.Equal(t, 50, spans)

	points := 0
	for i, line := range readLines(t, filepath.Join(dir, "deadletter-metrics.jsonl")) {
		md, err := (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(line)
		require.NoError(t, err, "metrics line %d", i+1)
		points += md.DataPointCount()
	}
	assert.Equal(t, 7, points)

	logs := 0
	for i, line := range readLines(t, filepath.Join(dir, "deadletter-logs.jsonl")) {
		ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(line)
		require.NoError(t, err, "logs line %d", i+1)
		logs += ld.LogRecordCount()
	}
	assert.Equal(t, 5, logs)
}

// TestDeadLetterRepairsTornTail: a crash in the middle of a write leaves a last
// line without its newline; opening the files cuts it, so they parse line by
// line and new entries follow whole lines.
func TestDeadLetterRepairsTornTail(t *testing.T) {
	good, err := encodeDeadLetter(kindTraces, encodedTraces(t, 0, 3))
	require.NoError(t, err)
	torn, err := encodeDeadLetter(kindTraces, encodedTraces(t, 10, 3))
	require.NoError(t, err)

	for _, tc := range []struct {
		name     string
		content  []byte
		keep     int
		repaired bool
	}{
		{"torn after a whole line", append(append([]byte{}, good...), torn[:len(torn)/2]...), len(good), true},
		{"only a torn line", torn[:len(torn)-1], 0, true},
		{"intact", append(append([]byte{}, good...), good...), 2 * len(good), false},
		{"empty", nil, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, deadLetterName(kindTraces))
			require.NoError(t, os.WriteFile(path, tc.content, 0o600))
			d, notes, err := openDeadLetter(dir, 1<<20, FsyncAlways, 0)
			require.NoError(t, err)
			assert.Equal(t, tc.repaired, len(notes) == 1, "notes: %v", notes)
			st, err := os.Stat(path)
			require.NoError(t, err)
			assert.Equal(t, int64(tc.keep), st.Size())
			assert.Equal(t, int64(tc.keep), d.size, "the repaired size counts against the bound")

			require.NoError(t, d.write(kindTraces, encodedTraces(t, 20, 4)))
			require.NoError(t, d.close())
			lines := readTraceLines(t, path)
			require.NotEmpty(t, lines)
			assert.Equal(t, 4, lines[len(lines)-1].SpanCount())
		})
	}
}

// TestDeadLetterFullIsCountedNotWritten: once the bound is reached, rejected
// requests are still counted as dropped but not written, and the file stays
// within the bound.
func TestDeadLetterFullIsCountedNotWritten(t *testing.T) {
	small, err := encodeDeadLetter(kindTraces, encodedTraces(t, 0, 2))
	require.NoError(t, err)
	sink := newTestSink(t)
	sink.setFail(codes.InvalidArgument)
	cfg := testConfig(t, sink.addr)
	cfg.Sending.MaxInFlight = 1
	cfg.Buffer.DeadLetterMaxBytes = int64(len(small)) + 100
	h := startExporter(t, cfg)
	h.sendSpans(0, 2) // fits
	waitFor(t, 5*time.Second, func() bool { return h.pending() == 0 }, "first request dead-lettered")
	h.sendSpans(100, 300) // does not fit
	waitFor(t, 5*time.Second, func() bool { return h.pending() == 0 }, "second request handled")
	assert.Equal(t, int64(302), h.sum("otelcol_exporter_edge_items_dropped", "reason", "dead_letter"), "counted, written or not")
	path := filepath.Join(h.traces.e.bufferDir(), "deadletter-traces.jsonl")
	h.stop()
	lines := readTraceLines(t, path)
	require.Len(t, lines, 1, "only the request that fitted was written")
	assert.Equal(t, 2, lines[0].SpanCount())
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.LessOrEqual(t, st.Size(), cfg.Buffer.DeadLetterMaxBytes)

	// The bound holds across restarts: the existing file counts.
	d, _, err := openDeadLetter(filepath.Dir(path), cfg.Buffer.DeadLetterMaxBytes, FsyncNever, 0)
	require.NoError(t, err)
	require.ErrorIs(t, d.write(kindTraces, encodedTraces(t, 0, 2)), errDeadLetterFull)
	require.NoError(t, d.close())
}

// TestDeadLetterFsync: "always" fsyncs every entry before write returns,
// "interval" in the background, "never" only at close.
func TestDeadLetterFsync(t *testing.T) {
	body := encodedTraces(t, 0, 2)
	t.Run("always", func(t *testing.T) {
		d, _, err := openDeadLetter(t.TempDir(), 1<<20, FsyncAlways, 0)
		require.NoError(t, err)
		for i := range 3 {
			require.NoError(t, d.write(kindTraces, body))
			assert.Equal(t, int64(i+1), d.syncs.Load())
		}
		require.NoError(t, d.close())
		assert.Equal(t, int64(3), d.syncs.Load(), "nothing left to sync at close")
	})
	t.Run("interval", func(t *testing.T) {
		d, _, err := openDeadLetter(t.TempDir(), 1<<20, FsyncInterval, 10*time.Millisecond)
		require.NoError(t, err)
		require.NoError(t, d.write(kindTraces, body))
		require.NoError(t, d.write(kindLogs, mustLogs(t)))
		require.Eventually(t, func() bool { return d.syncs.Load() == 2 }, 5*time.Second, 5*time.Millisecond, "both files synced by the ticker")
		require.NoError(t, d.close())
		assert.Equal(t, int64(2), d.syncs.Load())
	})
	t.Run("never", func(t *testing.T) {
		d, _, err := openDeadLetter(t.TempDir(), 1<<20, FsyncNever, 10*time.Millisecond)
		require.NoError(t, err)
		require.NoError(t, d.write(kindTraces, body))
		time.Sleep(50 * time.Millisecond)
		assert.Equal(t, int64(0), d.syncs.Load())
		require.NoError(t, d.close())
		assert.Equal(t, int64(1), d.syncs.Load(), "synced at close")
		require.ErrorIs(t, d.write(kindTraces, body), errDeadLetterClosed)
	})
}

func mustLogs(t *testing.T) []byte {
	t.Helper()
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("x")
	b, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)
	return b
}

// TestWALOptions: the config to log options translation; the log gets the
// disk budget minus the dead-letter bound.
func TestWALOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*BufferConfig)
		want func(*wal.Options)
	}{
		{"defaults", func(*BufferConfig) {}, func(o *wal.Options) {
			o.MaxBytes = 1<<30 - 64<<20
		}},
		{"no dead letter", func(b *BufferConfig) { b.DeadLetterMaxBytes = 0 }, func(o *wal.Options) {
			o.MaxBytes = 1 << 30
		}},
		{"unlimited", func(b *BufferConfig) { b.MaxDiskBytes = 0 }, func(o *wal.Options) {
			o.MaxBytes = 0
		}},
		{"every policy", func(b *BufferConfig) {
			b.WhenFull, b.Fsync, b.MemoryBytes, b.Compression = WhenFullBlock, FsyncAlways, 0, false
		}, func(o *wal.Options) {
			o.MaxBytes = 1<<30 - 64<<20
			o.WhenFull, o.Fsync, o.MemoryBytes, o.DisableCompression = wal.Block, wal.FsyncAlways, -1, true
		}},
		{"drop newest, never", func(b *BufferConfig) { b.WhenFull, b.Fsync = WhenFullDropNewest, FsyncNever }, func(o *wal.Options) {
			o.MaxBytes = 1<<30 - 64<<20
			o.WhenFull, o.Fsync = wal.DropNewest, wal.FsyncNever
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			tc.edit(&cfg.Buffer)
			want := wal.Options{
				SegmentBytes:  defaultSegmentBytes,
				FsyncInterval: defaultFsyncInterval,
				MemoryBytes:   defaultMemoryBytes,
				WhenFull:      wal.DropOldest,
				Fsync:         wal.FsyncInterval,
			}
			tc.want(&want)
			got := walOptions(cfg)
			assert.Equal(t, want.MaxBytes, got.MaxBytes)
			assert.Equal(t, want.SegmentBytes, got.SegmentBytes)
			assert.Equal(t, want.FsyncInterval, got.FsyncInterval)
			assert.Equal(t, want.MemoryBytes, got.MemoryBytes)
			assert.Equal(t, want.WhenFull, got.WhenFull)
			assert.Equal(t, want.Fsync, got.Fsync)
			assert.Equal(t, want.DisableCompression, got.DisableCompression)
		})
	}
}
