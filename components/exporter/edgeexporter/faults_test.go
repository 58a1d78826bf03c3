// SPDX-License-Identifier: Apache-2.0

package edgeexporter

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/metadatatest"
	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"
)

// faultFS is the OS file system with writes that fail on demand.
type faultFS struct {
	wal.OSFS
	fail atomic.Pointer[error]
}

type faultFile struct {
	wal.File
	fs *faultFS
}

func (f *faultFS) OpenFile(name string, flag int, perm os.FileMode) (wal.File, error) {
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f}, nil
}

func (f *faultFile) Write(p []byte) (int, error) {
	if err := f.fs.fail.Load(); err != nil {
		return 0, *err
	}
	return f.File.Write(p)
}

// statusHost records the component status events reported to it.
type statusHost struct {
	mu     sync.Mutex
	events []*componentstatus.Event
}

func (*statusHost) GetExtensions() map[component.ID]component.Component { return nil }

func (h *statusHost) Report(ev *componentstatus.Event) {
	h.mu.Lock()
	h.events = append(h.events, ev)
	h.mu.Unlock()
}

func (h *statusHost) last() *componentstatus.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.events) == 0 {
		return nil
	}
	return h.events[len(h.events)-1]
}

// TestDiskFullDoesNotCrash: ENOSPC and EIO on the log are returned to the
// pipeline (nothing accepted is lost), counted and reported as a recoverable
// error; once the fault is gone the exporter carries on.
func TestDiskFullDoesNotCrash(t *testing.T) {
	sink := newTestSink(t)
	cfg := testConfig(t, sink.addr)
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tt.Shutdown(context.Background()) })
	e, err := newEdgeExporter(metadatatest.NewSettings(tt), cfg)
	require.NoError(t, err)
	ffs := &faultFS{}
	e.walFS = ffs
	host := &statusHost{}
	te := &tracesExporter{signalExporter{e}}
	require.NoError(t, te.Start(context.Background(), host))
	t.Cleanup(func() { assert.NoError(t, te.Shutdown(context.Background())) })
	h := &harness{t: t, tt: tt, traces: te}

	h.sendSpans(0, 10)
	for i, errno := range []error{syscall.ENOSPC, syscall.EIO} {
		ffs.fail.Store(&errno)
		err := te.ConsumeTraces(context.Background(), genTraces(uint64(100+i*10), 10))
		require.Error(t, err)
		assert.ErrorIs(t, err, errno)
		ev := host.last()
		require.NotNil(t, ev)
		assert.Equal(t, componentstatus.StatusRecoverableError, ev.Status())
		ffs.fail.Store(nil)
	}
	assert.Equal(t, int64(2), h.sum("otelcol_exporter_edge_io_errors"))

	h.sendSpans(1000, 10)
	require.NotNil(t, host.last())
	assert.Equal(t, componentstatus.StatusOK, host.last().Status(), "status recovers with the disk")
	waitFor(t, 10*time.Second, func() bool { return sink.spanCount() == 20 }, "delivery after the disk recovered (got %d)", sink.spanCount())
	assert.Equal(t, int64(20), h.sum("otelcol_exporter_edge_items_appended"), "failed appends are not counted as accepted")
}

// TestOfflineStatusDoesNotFlapWhileProbing: failed probes keep the exporter
// offline (one recoverable-error status, no OK in between); the first answer
// of the backend brings it back.
func TestOfflineStatusDoesNotFlapWhileProbing(t *testing.T) {
	sink := newStoppedSink(t)
	cfg := testConfig(t, sink.addr)
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tt.Shutdown(context.Background()) })
	e, err := newEdgeExporter(metadatatest.NewSettings(tt), cfg)
	require.NoError(t, err)
	host := &statusHost{}
	te := &tracesExporter{signalExporter{e}}
	require.NoError(t, te.Start(context.Background(), host))
	t.Cleanup(func() { assert.NoError(t, te.Shutdown(context.Background())) })
	h := &harness{t: t, tt: tt, traces: te}

	h.sendSpans(0, 10)
	// Several probes fail meanwhile (backoff 50-200 ms).
	time.Sleep(800 * time.Millisecond)
	require.Positive(t, h.sum("otelcol_exporter_edge_send_failures", "kind", "retryable"))
	assert.Equal(t, stateOffline, e.state.Load())
	host.mu.Lock()
	var statuses []componentstatus.Status
	for _, ev := range host.events {
		statuses = append(statuses, ev.Status())
	}
	host.mu.Unlock()
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, statuses, "one status for the outage, no flapping")

	sink.start()
	waitFor(t, 10*time.Second, func() bool { return sink.spanCount() == 10 }, "delivery after the outage")
	waitFor(t, 5*time.Second, func() bool { return e.state.Load() == stateOnline }, "online again")
	assert.Equal(t, componentstatus.StatusOK, host.last().Status())
}
