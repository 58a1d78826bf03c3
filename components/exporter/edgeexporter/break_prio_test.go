// SPDX-License-Identifier: Apache-2.0

package edgeexporter

// Adversarial tests of buffer.priorities (issue #15). The TestBreakPrio
// tests showed a break (their comments say what happened and how it was
// fixed) and are now regression tests; the others hold and add coverage.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/grpc/codes"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/metadatatest"
)

// segmentFiles lists the segment files of a log directory (every file but
// the lock and cursor files).
func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".seg") {
			continue
		}
		out = append(out, filepath.Join(dir, e.Name()))
	}
	return out
}

// TestBreakPrioRemovedClassCorruptDropNotInStatus: a class removed from the
// list whose log holds a record damaged on disk. The damage is found by the
// throwaway wal.Open of removedClasses (classes.go removedClasses), which
// counts it in otelcol_exporter_edge_items_dropped{reason=corrupt,class=...}
// through e.tb directly, then commits it, so the real open of the class finds
// nothing more.
//
// Expected: the drop is counted once everywhere an operator reads drops: the
// metric, the status summary's dropped_since_last_summary{corrupt} (the
// totals every other drop reaches through countDroppedClass ->
// e.report.dropped) and the class's dropped_items on the status page.
// Was broken: the metric had the items; the summary's totals and the class
// view said 0 (the summary totals and the per-class view disagreed with the
// metric), and the repair never reached the "Recovered the buffer with
// repairs" line. Fixed: a removed class is no longer looked at by a
// throwaway open; its log is opened once, for real, with its class's
// accounting (onClassDrop -> countDroppedClass: metric, status totals and
// the class's own counter), its Recovery part of the instance's; an empty
// one is closed and its directory removed after that open. Regression test.
func TestBreakPrioRemovedClassCorruptDropNotInStatus(t *testing.T) {
	sink := newStoppedSink(t)
	cfg := testConfig(t, sink.addr)
	cfg.Buffer.Priorities = errorsFirst()
	cfg.Buffer.Compression = false
	cfg.Buffer.Fsync = FsyncAlways
	h := startExporter(t, cfg)
	ctx := context.Background()
	require.NoError(t, h.traces.ConsumeTraces(ctx, errorSpans(0, 7)))
	require.NoError(t, h.traces.ConsumeTraces(ctx, errorSpans(100, 5)))
	dir := h.traces.e.bufferDir()
	h.stop()

	// Damage the payload of the first record of the removed class (its
	// header intact: a corrupt record behind an intact header).
	classDir := filepath.Join(dir, classesDirName, "errors")
	segs := segmentFiles(t, classDir)
	require.NotEmpty(t, segs)
	var damaged bool
	for _, p := range segs {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		const payloadAt = 8 + 25 + 10 // segment header, record header, into the payload
		if len(b) > payloadAt+20 {
			b[payloadAt] ^= 0xff
			require.NoError(t, os.WriteFile(p, b, 0o600))
			damaged = true
			break
		}
	}
	require.True(t, damaged, "a segment with a record: %v", segs)

	cfg2 := *cfg
	cfg2.Buffer.Priorities = nil
	h2 := startExporter(t, &cfg2)
	e := h2.traces.e
	require.Len(t, e.classes, 2)
	metric := h2.sumAttrs("otelcol_exporter_edge_items_dropped", "reason", "corrupt", "class", "errors")
	require.Equal(t, int64(7), metric, "the damaged record's 7 items counted in the metric")

	s := e.currentSummary(false)
	assert.Equal(t, uint64(metric), s.Dropped["corrupt"],
		"status totals (dropped_since_last_summary) must count the corrupt drop found in the removed class")
	require.Len(t, s.Classes, 2)
	assert.Equal(t, "errors", s.Classes[1].Name)
	assert.Equal(t, uint64(metric), s.Classes[1].DroppedItems,
		"the removed class's dropped_items must include its corrupt drop")
	assert.Equal(t, uint64(5), s.Classes[1].PendingItems, "the intact record is pending")
}

// TestBreakPrioClassDroppedItemsMissesSendDrops: the status page's per-class
// dropped_items (classViews, classes.go) is the log's own budget + corrupt
// drops only; drops decided by the dispatcher (a permanent rejection:
// dead_letter, poison, rejected, max_age) are counted in
// items_dropped{class} (countDroppedSeq) but never reach it.
//
// Expected: a class whose 10 error spans the backend rejects permanently
// shows dropped_items 10 on the status page, as items_dropped{class=errors}
// says. Was broken: dropped_items 0. Fixed: each class counts its dropped
// items, every reason, in countDroppedClass (the one path of every drop);
// the status page shows that counter. Regression test.
func TestBreakPrioClassDroppedItemsMissesSendDrops(t *testing.T) {
	sink := newTestSink(t)
	sink.mu.Lock()
	sink.failTraces = func(td ptrace.Traces) codes.Code {
		if td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Status().Code() == ptrace.StatusCodeError {
			return codes.InvalidArgument // permanent: given up, counted as dropped
		}
		return codes.OK
	}
	sink.mu.Unlock()
	cfg := testConfig(t, sink.addr)
	cfg.Buffer.Priorities = errorsFirst()
	h := startExporter(t, cfg)
	e := h.traces.e
	require.NoError(t, h.traces.ConsumeTraces(context.Background(), errorSpans(0, 10)))
	waitFor(t, 10*time.Second, func() bool {
		return h.sumAttrs("otelcol_exporter_edge_items_dropped", "class", "errors") == 10
	}, "the rejected error spans counted as dropped in the metric")
	waitFor(t, 5*time.Second, func() bool { return e.stats().PendingItems == 0 }, "nothing pending")
	views := e.classViews()
	require.Equal(t, "errors", views[0].Name)
	assert.Equal(t, uint64(10), views[0].DroppedItems,
		"status page dropped_items of class errors = items_dropped{class=errors}")
}

// TestBreakPrioManyRemovedClassesSeqOverflow: removed classes were not
// bounded (classes.go openLogs, before the fix: order = configured + default + every
// leftover directory under classes/), but the class index rides in the top
// byte of the dispatcher's sequence numbers (classShift = 56,
// classLog.seq / classReader.Next: rec.Seq |= uint64(i) << 56). A class of
// index 256 or more wraps: its records' sequence numbers carry the index
// of another class, so their acknowledgement goes to that other class's log
// (e.ack -> e.classes[classOf(seq)]). Renaming classes over the life of a
// site (or a leftover per rename while a backend is down) accumulates
// directories.
//
// Expected: every record of every class delivered and acknowledged in its
// own log: nothing pending after the drain. Was broken: the records of
// class 256 were delivered but stayed pending for ever (their ack was routed
// to class 0, where it was ignored or, when the raw sequence was pending
// there, acknowledged a record never sent: loss), so the drain never ended
// and a restart re-sent them. Fixed: at most maxClasses (64) classes,
// configured, default and removed ones with data: a start with more refuses
// with an error naming the leftover directories (nothing opened, nothing
// deleted), and classLog.seq panics rather than wrap (a compile-time check
// keeps maxClasses within the top byte). Regression test: 248 leftovers are
// refused; with 55 of them (64 classes) every record is delivered and
// acknowledged in its own log.
func TestBreakPrioManyRemovedClassesSeqOverflow(t *testing.T) {
	sink := newStoppedSink(t)
	cfg := testConfig(t, sink.addr)
	cfg.Buffer.Fsync = FsyncNever
	// Eight configured classes (c0..c7) by resource attribute; default is 8.
	var classes []PriorityClass
	for i := range 8 {
		classes = append(classes, PriorityClass{Name: fmt.Sprintf("c%d", i),
			Match: []PriorityRule{{ResourceAttribute: &AttributeMatch{Key: "class", Values: []string{fmt.Sprint(i)}}}}})
	}
	tmpl := *cfg
	tmpl.Buffer.Priorities = []PriorityClass{{Name: "tmpl", Match: []PriorityRule{{Signal: "traces"}}}}
	// One record in a template class, copied to 248 leftover directories
	// (indexes 9..256 once c0..c7 are configured).
	h := startExporter(t, &tmpl)
	require.NoError(t, h.traces.ConsumeTraces(context.Background(), genTraces(1000, 1)))
	dir := h.traces.e.bufferDir()
	h.stop()
	src := filepath.Join(dir, classesDirName, "tmpl")
	const removed = 248
	for i := range removed {
		dst := filepath.Join(dir, classesDirName, fmt.Sprintf("r%03d", i))
		require.NoError(t, os.Mkdir(dst, 0o700))
		ents, err := os.ReadDir(src)
		require.NoError(t, err)
		for _, ent := range ents {
			b, err := os.ReadFile(filepath.Join(src, ent.Name()))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dst, ent.Name()), b, 0o600))
		}
	}
	require.NoError(t, os.RemoveAll(src))

	cfg.Buffer.Priorities = classes
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tt.Shutdown(context.Background()) })
	e0, err := newEdgeExporter(metadatatest.NewSettings(tt), cfg)
	require.NoError(t, err)
	te := &tracesExporter{signalExporter{e0}}
	startErr := te.Start(context.Background(), componenttest.NewNopHost())
	if startErr == nil {
		_ = te.Shutdown(context.Background())
	}
	require.Error(t, startErr, "257 classes: the start must refuse, never wrap the class index")
	assert.Contains(t, startErr.Error(), "r000")
	assert.Contains(t, startErr.Error(), "r247")
	assert.Contains(t, startErr.Error(), "at most 64")
	for i := range removed {
		require.NotEmpty(t, segmentFiles(t, filepath.Join(dir, classesDirName, fmt.Sprintf("r%03d", i))), "leftover r%03d kept", i)
	}

	// Within the cap (8 + default + 55 = 64 classes): move the others out.
	keep := maxClasses - 9
	aside := t.TempDir()
	for i := keep; i < removed; i++ {
		name := fmt.Sprintf("r%03d", i)
		require.NoError(t, os.Rename(filepath.Join(dir, classesDirName, name), filepath.Join(aside, name)))
	}
	h2 := startExporter(t, cfg)
	e := h2.traces.e
	require.Len(t, e.classes, maxClasses)
	last := e.classes[len(e.classes)-1]
	require.Equal(t, maxClasses-1, last.idx)
	sink.start()
	waitFor(t, 20*time.Second, func() bool { return sink.spanCount() >= keep }, "every leftover record delivered")
	waitFor(t, 5*time.Second, func() bool { return e.stats().PendingItems == 0 },
		"every delivered record acknowledged in its own log (pending %d; class %s pending %d)",
		e.stats().PendingItems, last.name, last.log.Stats().PendingItems)
	assert.Equal(t, keep, sink.spanCount(), "each record once")
}

// TestPrioConcurrentFloodAccountingExact: four goroutines flood mixed log
// batches (49 debug records and one error each: split per class at append)
// into a budget far too small, while a slow backend is up, so evictions of
// the default class race its requests in flight (evicted in flight, then
// acknowledged or rewound). Holds: no error record is dropped, and
// delivered + dropped = appended exactly over both classes (every drop
// counted once, nothing counted that was delivered).
func TestPrioConcurrentFloodAccountingExact(t *testing.T) {
	sink := newTestSink(t)
	sink.mu.Lock()
	sink.failPerCall = func(int) codes.Code { time.Sleep(2 * time.Millisecond); return codes.OK }
	sink.mu.Unlock()
	cfg := testConfig(t, sink.addr)
	cfg.Buffer.Priorities = errorsFirst()
	cfg.Buffer.SegmentBytes = 64 << 10
	cfg.Buffer.MaxDiskBytes = 640 << 10
	cfg.Buffer.DeadLetterMaxBytes = 0
	cfg.Buffer.Fsync = FsyncNever
	cfg.Buffer.Compression = false
	cfg.Sending.BatchMaxItems = 200
	require.NoError(t, cfg.Validate())
	h := startExporter(t, cfg)
	e := h.logs.e
	const workers, perWorker = 4, 150
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				sevs := make([]plog.SeverityNumber, 50)
				for k := range sevs {
					sevs[k] = plog.SeverityNumberDebug
				}
				sevs[(i+w)%50] = plog.SeverityNumberError
				assert.NoError(t, h.logs.ConsumeLogs(context.Background(), logsWith(sevs...)))
			}
		}()
	}
	wg.Wait()
	waitFor(t, 20*time.Second, func() bool { return e.stats().PendingItems == 0 }, "the buffer to drain")
	dropped := h.sum("otelcol_exporter_edge_items_dropped")
	assert.Zero(t, h.sumAttrs("otelcol_exporter_edge_items_dropped", "class", "errors"), "no error record dropped")
	assert.Equal(t, dropped, h.sumAttrs("otelcol_exporter_edge_items_dropped", "class", "default"))
	require.Positive(t, dropped, "the budget was too small: debug records evicted")
	sink.mu.Lock()
	got := sink.logs
	sink.mu.Unlock()
	assert.Equal(t, int64(workers*perWorker*50), int64(got)+dropped, "delivered + dropped = appended")
}

// TestBreakPrioRemovedClassRemoveAllCrashResurrects: a removed class whose
// data was all delivered was deleted at the next start by os.RemoveAll of
// its directory (classes.go removedClasses, before the fix). The directory still holds its
// last segment (delivered, acknowledged records: the active segment is
// never unlinked) next to the cursor that says so. os.RemoveAll unlinks in
// directory order (on ext4 hash order, not chosen by the exporter), so a
// kill -9 or a power loss after "cursor" is unlinked and before the segment
// is leaves a class directory with the segment and no cursor (on this
// machine's ext4, `ls -U` of a class directory lists LOCK, cursor, then the
// segment: RemoveAll unlinks the cursor first). The test made that state
// by hand (what RemoveAll had done when the process died) and started
// again.
//
// Expected: records delivered and acknowledged before are not sent again
// (the directory is on its way out; nothing in it is pending). Was broken:
// the log reopened with "cursor file missing; treating all records as
// unacknowledged", the 30 delivered spans were delivered a second time and
// counted in items_sent twice. Fixed (removeClassDir): the directory of an
// empty removed class is renamed to classes/.<name>.removing (a name the
// scan never opens as a class), classes/ is fsynced, and only then is it
// deleted; a start finishes deleting any .removing leftover. The state
// above (a class directory with a segment and no cursor) can no longer be
// made by the exporter: a crash inside RemoveAll now leaves
// classes/.errors.removing without its cursor, which this regression test
// makes by hand; a clean start removes the class directory entirely.
func TestBreakPrioRemovedClassRemoveAllCrashResurrects(t *testing.T) {
	sink := newTestSink(t)
	cfg := testConfig(t, sink.addr)
	cfg.Buffer.Priorities = errorsFirst()
	h := startExporter(t, cfg)
	require.NoError(t, h.traces.ConsumeTraces(context.Background(), errorSpans(0, 30)))
	waitFor(t, 10*time.Second, func() bool { return sink.spanCount() == 30 && h.traces.e.stats().PendingItems == 0 }, "delivered")
	dir := h.traces.e.bufferDir()
	h.stop()
	classDir := filepath.Join(dir, classesDirName, "errors")
	require.NotEmpty(t, segmentFiles(t, classDir), "the delivered class keeps its last segment")

	// The state a crash inside removeClassDir's os.RemoveAll can leave: the
	// directory renamed (durably), its cursor (and the lock file) unlinked,
	// the segment not yet.
	removing := filepath.Join(dir, classesDirName, ".errors"+removingSuffix)
	require.NoError(t, os.Rename(classDir, removing))
	require.NoError(t, os.Remove(filepath.Join(removing, "cursor")))
	_ = os.Remove(filepath.Join(removing, "LOCK"))

	cfg2 := *cfg
	cfg2.Buffer.Priorities = nil
	h2 := startExporter(t, &cfg2)
	assert.Nil(t, h2.traces.e.classes, "no class left: one log")
	time.Sleep(500 * time.Millisecond)
	waitFor(t, 5*time.Second, func() bool { return h2.traces.e.stats().PendingItems == 0 }, "idle")
	assert.Equal(t, 30, sink.spanCount(), "delivered spans of a deleted class sent again")
	assert.Zero(t, h2.sum("otelcol_exporter_edge_items_sent"), "nothing to send after the restart")
	assert.NoDirExists(t, removing, "the interrupted removal finished")
	h2.stop()

	// A clean start removes a drained removed class entirely (no leftover).
	h3 := startExporter(t, cfg)
	require.NoError(t, h3.traces.ConsumeTraces(context.Background(), errorSpans(100, 5)))
	waitFor(t, 10*time.Second, func() bool { return sink.spanCount() == 35 && h3.traces.e.stats().PendingItems == 0 }, "delivered")
	h3.stop()
	h4 := startExporter(t, &cfg2)
	assert.Nil(t, h4.traces.e.classes)
	assert.NoDirExists(t, classDir)
	assert.NoDirExists(t, removing)
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, 35, sink.spanCount(), "nothing sent again")
}

// TestPrioRestartReorderedClassesKeepsData: the same two classes listed in
// the other order at a restart (a site promoting "payments" above
// "errors"). Holds: each class keeps its own directory and data (nothing
// becomes a removed class, nothing is lost or sent twice), and the class
// now listed first is sent first.
func TestPrioRestartReorderedClassesKeepsData(t *testing.T) {
	errorsCls := PriorityClass{Name: "errors", Match: []PriorityRule{{SpanStatus: "error"}}}
	paymentsCls := PriorityClass{Name: "payments", Match: []PriorityRule{{ResourceAttribute: &AttributeMatch{Key: "service.name", Values: []string{"payment"}}}}}
	sink := newStoppedSink(t)
	cfg := testConfig(t, sink.addr)
	cfg.Buffer.Priorities = []PriorityClass{errorsCls, paymentsCls}
	cfg.Sending.MaxInFlight = 1
	h := startExporter(t, cfg)
	ctx := context.Background()
	payments := func(start uint64, n int) ptrace.Traces {
		td := genTraces(start, n)
		td.ResourceSpans().At(0).Resource().Attributes().PutStr("service.name", "payment")
		return td
	}
	for i := range 10 {
		require.NoError(t, h.traces.ConsumeTraces(ctx, errorSpans(uint64(i*10), 10)))     // errors: 0..99
		require.NoError(t, h.traces.ConsumeTraces(ctx, payments(uint64(1000+i*10), 10)))  // payments: 1000..1099
		require.NoError(t, h.traces.ConsumeTraces(ctx, genTraces(uint64(2000+i*10), 10))) // default: 2000..2099
	}
	h.stop()

	cfg2 := *cfg
	cfg2.Buffer.Priorities = []PriorityClass{paymentsCls, errorsCls}
	h2 := startExporter(t, &cfg2)
	e := h2.traces.e
	require.Len(t, e.classes, 3, "payments, errors, default: no removed class")
	assert.Equal(t, []string{"payments", "errors", "default"}, []string{e.classes[0].name, e.classes[1].name, e.classes[2].name})
	assert.Equal(t, uint64(100), e.classes[0].log.Stats().PendingItems)
	sink.start()
	waitFor(t, 10*time.Second, func() bool { return sink.spanCount() == 300 && e.stats().PendingItems == 0 }, "every span once")
	seqs := sink.seqs()
	seen := map[uint64]int{}
	lastPayment, firstErrorAfterProbe := -1, -1
	for i, s := range seqs {
		seen[s]++
		switch {
		case s >= 1000 && s < 2000:
			lastPayment = i
		case s < 100 && firstErrorAfterProbe < 0 && i > 10:
			firstErrorAfterProbe = i
		}
	}
	assert.Len(t, seen, 300, "every span delivered")
	for s, n := range seen {
		assert.Equal(t, 1, n, "span %d delivered once", s)
	}
	// The probe that finds the backend back may be any one request (10
	// spans); after it, every payment span before the errors.
	assert.Less(t, lastPayment, firstErrorAfterProbe, "payments (now first) sent before errors")
}

// TestBreakPrioClassesSymlinkFollowedAndRemoved: with buffer.priorities
// unset, removedClasses (classes.go) reads <instance>/classes with
// os.ReadDir, which follows a symbolic link, and checks only the last
// component of each class directory (ownDir: Lstat of classes/<name>).
// Every other directory of the exporter must be a real directory
// (bufferdir.go: "the exporter's own directories must be real
// directories"), and with priorities set ownDir(classes) refuses the link;
// without them it is followed: each directory named like a class in the
// link's target is opened as a log (LOCK and cursor files created in it)
// and, holding no record, deleted with os.RemoveAll, whatever else it
// contains.
//
// Expected: a start refuses a symbolic link at <instance>/classes (as it
// does with priorities set) or leaves the target alone. Was broken: the
// start succeeded and deleted <target>/reports with the file in it. Fixed:
// <instance>/classes is checked by ownDir (Lstat: a real directory of the
// running user) before it is read, priorities set or not, and the start
// refuses naming it; and an empty removed class's directory is deleted
// only when it holds nothing but the log's own files (segments, cursor,
// LOCK): anything else (set-aside .corrupt files, a file not the
// exporter's) leaves it in place with a warning. Regression test, both.
func TestBreakPrioClassesSymlinkFollowedAndRemoved(t *testing.T) {
	sink := newTestSink(t)
	cfg := testConfig(t, sink.addr)
	h := startExporter(t, cfg)
	dir := h.traces.e.bufferDir()
	h.stop()

	outside := t.TempDir()
	victim := filepath.Join(outside, "reports")
	require.NoError(t, os.Mkdir(victim, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(victim, "q3.csv"), []byte("not the exporter's"), 0o600))
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, classesDirName)))

	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tt.Shutdown(context.Background()) })
	e, err := newEdgeExporter(metadatatest.NewSettings(tt), cfg)
	require.NoError(t, err)
	te := &tracesExporter{signalExporter{e}}
	startErr := te.Start(context.Background(), componenttest.NewNopHost())
	if startErr == nil {
		assert.NoError(t, te.Shutdown(context.Background()))
	}
	_, statErr := os.Stat(filepath.Join(victim, "q3.csv"))
	assert.NoError(t, statErr, "a file outside the buffer, reached through a symlinked classes directory, was deleted (start error: %v)", startErr)
	require.Error(t, startErr, "a symbolic link at <instance>/classes is refused")
	assert.Contains(t, startErr.Error(), "symbolic link")
	assert.NoFileExists(t, filepath.Join(victim, "cursor"), "nothing opened in the target")

	// A real classes directory: an empty removed class whose directory holds
	// a file that is not the log's own is left in place.
	require.NoError(t, os.Remove(filepath.Join(dir, classesDirName)))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, classesDirName, "reports"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, classesDirName, "reports", "q3.csv"), []byte("not the exporter's"), 0o600))
	h2 := startExporter(t, cfg)
	assert.Nil(t, h2.traces.e.classes, "the empty removed class is not a class")
	assert.FileExists(t, filepath.Join(dir, classesDirName, "reports", "q3.csv"), "a directory with other files is never deleted")
}
