// SPDX-License-Identifier: Apache-2.0

package edgeexporter

import (
	"context"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/grpc/codes"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/metadatatest"
	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"
)

// A flush interval no test waits for: a request that goes out did not wait
// for it.
const neverFlush = 10 * time.Minute

// heldSink is a testSink whose trace requests can be held in flight: every
// request records its span count on arrival; while hold is set it then waits
// until release is called. Every wait is bounded by the test's deadline.
type heldSink struct {
	*testSink
	mu       sync.Mutex
	sizes    []int         // spans per request, in arrival order
	holding  bool          // new requests wait on gate
	gate     chan struct{} // closed by release
	inFlight atomic.Int32  // requests waiting on gate
}

func newHeldSink(t *testing.T) *heldSink {
	h := &heldSink{testSink: newTestSink(t), gate: make(chan struct{})}
	h.failTraces = func(td ptrace.Traces) codes.Code {
		h.mu.Lock()
		h.sizes = append(h.sizes, td.SpanCount())
		holding, gate := h.holding, h.gate
		h.mu.Unlock()
		if holding {
			h.inFlight.Add(1)
			defer h.inFlight.Add(-1)
			select {
			case <-gate:
			case <-time.After(30 * time.Second):
			}
		}
		return codes.OK
	}
	t.Cleanup(h.release)
	return h
}

func (h *heldSink) hold() {
	h.mu.Lock()
	h.holding = true
	h.gate = make(chan struct{})
	h.mu.Unlock()
}

// release lets the held requests (and every later one) through.
func (h *heldSink) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.holding {
		h.holding = false
		close(h.gate)
	}
}

func (h *heldSink) requestSizes() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int(nil), h.sizes...)
}

// TestIdleEndpointSendsAtOnce: one record and an idle endpoint: the request
// leaves without waiting for sending.flush_interval (10 minutes here).
func TestIdleEndpointSendsAtOnce(t *testing.T) {
	sink := newHeldSink(t)
	cfg := testConfig(t, sink.addr)
	cfg.Sending.FlushInterval = neverFlush
	h := startExporter(t, cfg)

	h.sendSpans(0, 1)
	waitFor(t, 10*time.Second, func() bool { return sink.spanCount() == 1 }, "the span to arrive (flush_interval is %s)", neverFlush)
	// And again once the link has been idle.
	h.sendSpans(1, 1)
	waitFor(t, 10*time.Second, func() bool { return sink.spanCount() == 2 }, "the second span to arrive")
	assert.Equal(t, []int{1, 1}, sink.requestSizes())
	assert.Equal(t, []uint64{0, 1}, sink.seqs())
}

// TestBusySlotsAccumulateIntoOneRequest: with max_in_flight requests
// outstanding, records that arrive meanwhile accumulate and leave as one
// request when a slot frees up, not one request each and not after
// flush_interval.
func TestBusySlotsAccumulateIntoOneRequest(t *testing.T) {
	sink := newHeldSink(t)
	cfg := testConfig(t, sink.addr)
	cfg.Sending.FlushInterval = neverFlush
	cfg.Sending.MaxInFlight = 1
	h := startExporter(t, cfg)

	sink.hold()
	h.sendSpans(0, 1)
	waitFor(t, 10*time.Second, func() bool { return sink.inFlight.Load() == 1 }, "the first request to be in flight")
	for i := uint64(1); i <= 3; i++ {
		h.sendSpans(i, 1) // returns once the record is in the log
	}
	assert.Equal(t, []int{1}, sink.requestSizes(), "nothing else may leave while the only slot is busy")
	sink.release()
	waitFor(t, 10*time.Second, func() bool { return sink.spanCount() == 4 }, "every span to arrive")
	assert.Equal(t, []int{1, 3}, sink.requestSizes(), "the three records that waited leave as one request")
	assert.Equal(t, []uint64{0, 1, 2, 3}, sink.seqs())
	waitFor(t, 5*time.Second, func() bool { return h.pending() == 0 }, "log to drain")
}

// TestSpareSlotSendsWhileAnotherIsInFlight: with max_in_flight 2 and one
// request outstanding, the next record still leaves at once (there is spare
// capacity); once both slots are busy the following records accumulate, and
// the accumulated batch respects sending.batch_max_items.
func TestSpareSlotSendsWhileAnotherIsInFlight(t *testing.T) {
	sink := newHeldSink(t)
	cfg := testConfig(t, sink.addr)
	cfg.Sending.FlushInterval = neverFlush
	cfg.Sending.MaxInFlight = 2
	cfg.Sending.BatchMaxItems = 4
	h := startExporter(t, cfg)

	sink.hold()
	h.sendSpans(0, 1)
	waitFor(t, 10*time.Second, func() bool { return sink.inFlight.Load() == 1 }, "the first request to be in flight")
	h.sendSpans(1, 1)
	waitFor(t, 10*time.Second, func() bool { return sink.inFlight.Load() == 2 }, "the second request to use the spare slot")
	for i := uint64(2); i < 8; i++ {
		h.sendSpans(i, 1)
	}
	assert.Equal(t, []int{1, 1}, sink.requestSizes(), "nothing else may leave while both slots are busy")
	sink.release()
	waitFor(t, 10*time.Second, func() bool { return sink.spanCount() == 8 }, "every span to arrive")
	sizes := sink.requestSizes()
	require.Len(t, sizes, 4, "six waiting records leave as a full batch of batch_max_items and the rest: %v", sizes)
	// The last two may arrive in either order: both slots are free again.
	assert.ElementsMatch(t, []int{4, 2}, sizes[2:], "six waiting records leave as a full batch of batch_max_items and the rest")
	waitFor(t, 5*time.Second, func() bool { return h.pending() == 0 }, "log to drain")
}

// syncGateFS is the OS file system whose fsyncs of segment files wait while
// the gate is closed.
type syncGateFS struct {
	wal.OSFS
	mu      sync.Mutex
	gate    chan struct{} // nil: open
	waiting atomic.Int32
}

type syncGateFile struct {
	wal.File
	fs *syncGateFS
}

func (f *syncGateFS) OpenFile(name string, flag int, perm os.FileMode) (wal.File, error) {
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil || !strings.HasSuffix(name, ".seg") {
		return file, err
	}
	return &syncGateFile{File: file, fs: f}, nil
}

func (f *syncGateFS) close() {
	f.mu.Lock()
	f.gate = make(chan struct{})
	f.mu.Unlock()
}

func (f *syncGateFS) open() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gate != nil {
		close(f.gate)
		f.gate = nil
	}
}

func (f *syncGateFile) Sync() error {
	f.fs.mu.Lock()
	gate := f.fs.gate
	f.fs.mu.Unlock()
	if gate != nil {
		f.fs.waiting.Add(1)
		select {
		case <-gate:
		case <-time.After(30 * time.Second):
		}
		f.fs.waiting.Add(-1)
	}
	return f.File.Sync()
}

// TestFsyncAlwaysSendsOnlyDurableRecords: under buffer.fsync always a record
// is sent only after its group commit: while its fsync has not completed the
// record is in the log (readable) but nothing leaves, even with an idle
// endpoint and a free slot.
func TestFsyncAlwaysSendsOnlyDurableRecords(t *testing.T) {
	sink := newTestSink(t)
	cfg := testConfig(t, sink.addr)
	cfg.Buffer.Fsync = FsyncAlways
	cfg.Sending.FlushInterval = time.Millisecond
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tt.Shutdown(context.Background()) })
	e, err := newEdgeExporter(metadatatest.NewSettings(tt), cfg)
	require.NoError(t, err)
	gfs := &syncGateFS{}
	e.walFS = gfs
	te := &tracesExporter{signalExporter{e}}
	require.NoError(t, te.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { gfs.open(); assert.NoError(t, te.Shutdown(context.Background())) })

	gfs.close()
	appended := make(chan error, 1)
	go func() { appended <- te.ConsumeTraces(context.Background(), genTraces(0, 1)) }()
	waitFor(t, 10*time.Second, func() bool { return gfs.waiting.Load() >= 1 && e.log.Stats().LastSeq >= 1 },
		"the record to be written and its fsync to be waiting")
	// The record is readable now; the dispatcher must still hold it back.
	for i := 0; i < 30; i++ {
		time.Sleep(10 * time.Millisecond)
		require.Zero(t, sink.spanCount(), "a record was sent before its fsync completed")
	}
	select {
	case err := <-appended:
		t.Fatalf("append returned before its fsync: %v", err)
	default:
	}
	gfs.open()
	require.NoError(t, <-appended)
	waitFor(t, 10*time.Second, func() bool { return sink.spanCount() == 1 }, "the durable record to be sent")
}

// TestDurableGate: the gate opens exactly up to the highest durable sequence
// and wakes a waiter; disabled (fsync interval, never) it is always open.
func TestDurableGate(t *testing.T) {
	var off durableGate
	assert.True(t, off.durable(100))

	g := durableGate{enabled: true}
	g.advance(3)
	assert.True(t, g.durable(3))
	assert.False(t, g.durable(4))
	g.advance(2) // never goes back
	assert.True(t, g.durable(3))

	done := make(chan bool, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		done <- g.wait(ctx, 5)
	}()
	g.advance(4)
	g.advance(5)
	assert.True(t, <-done)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.False(t, g.wait(ctx, 6))
}
