// SPDX-License-Identifier: Apache-2.0

package edgeexporter

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc/codes"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/metadatatest"
)

// errorsFirst is the usual configuration: error spans and warn+ logs first.
func errorsFirst() []PriorityClass {
	return []PriorityClass{{Name: "errors", Match: []PriorityRule{{SpanStatus: "error"}, {LogSeverityAtLeast: "warn"}}}}
}

func TestValidatePriorities(t *testing.T) {
	tooMany := make([]PriorityClass, 9)
	for i := range tooMany {
		tooMany[i] = PriorityClass{Name: fmt.Sprintf("c%d", i), Match: []PriorityRule{{Signal: "logs"}}}
	}
	tests := []struct {
		name    string
		classes []PriorityClass
		want    []string
	}{
		{"unknown signal", []PriorityClass{{Name: "a", Match: []PriorityRule{{Signal: "profiles"}}}},
			[]string{`"buffer.priorities[0]".match[0] (a): "signal" must be traces, metrics or logs, got "profiles"`}},
		{"bad severity", []PriorityClass{{Name: "a", Match: []PriorityRule{{LogSeverityAtLeast: "loud"}}}},
			[]string{`"log_severity_at_least" "loud" is not a severity`}},
		{"severity out of range", []PriorityClass{{Name: "a", Match: []PriorityRule{{LogSeverityAtLeast: "25"}}}},
			[]string{`"log_severity_at_least" "25" is not a severity`}},
		{"duplicate names", []PriorityClass{{Name: "a", Match: []PriorityRule{{Signal: "logs"}}}, {Name: "a", Match: []PriorityRule{{Signal: "traces"}}}},
			[]string{`"buffer.priorities[1]" name "a" is already used by "buffer.priorities[0]"`}},
		{"too many classes", tooMany, []string{`"buffer.priorities" lists 9 classes, at most 8 are allowed`}},
		{"reserved name", []PriorityClass{{Name: "default", Match: []PriorityRule{{Signal: "logs"}}}}, []string{`name "default" is reserved`}},
		{"bad name", []PriorityClass{{Name: "../x", Match: []PriorityRule{{Signal: "logs"}}}}, []string{`name "../x" must be 1 to 32 characters`}},
		{"no rule", []PriorityClass{{Name: "a"}}, []string{`"buffer.priorities[0]" (a) must list at least one rule`}},
		{"empty rule", []PriorityClass{{Name: "a", Match: []PriorityRule{{}}}}, []string{`sets no condition`}},
		{"severity on traces", []PriorityClass{{Name: "a", Match: []PriorityRule{{Signal: "traces", LogSeverityAtLeast: "warn"}}}},
			[]string{`"log_severity_at_least" matches logs only, "signal" is "traces"`}},
		{"bad span status", []PriorityClass{{Name: "a", Match: []PriorityRule{{SpanStatus: "ok"}}}}, []string{`"span_status" must be "error", got "ok"`}},
		{"span and severity", []PriorityClass{{Name: "a", Match: []PriorityRule{{SpanStatus: "error", LogSeverityAtLeast: "warn"}}}},
			[]string{`cannot both be set in one rule`}},
		{"attribute without values", []PriorityClass{{Name: "a", Match: []PriorityRule{{ResourceAttribute: &AttributeMatch{Key: "k"}}}}},
			[]string{`"resource_attribute.values" must list at least one value`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, "127.0.0.1:4317")
			cfg.Buffer.Priorities = tc.classes
			err := cfg.Validate()
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
	cfg := testConfig(t, "127.0.0.1:4317")
	cfg.Buffer.Priorities = errorsFirst()
	require.NoError(t, cfg.Validate())
	cfg.Buffer.Encryption = EncryptionConfig{Active: "a", Keys: []EncryptionKey{{ID: "a", Key: configopaque.String(keyA)}}}
	require.ErrorContains(t, cfg.Validate(), `"buffer.priorities" cannot be used with "buffer.encryption"`)
}

func logsWith(sevs ...plog.SeverityNumber) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "edge")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i, s := range sevs {
		lr := lrs.AppendEmpty()
		lr.SetSeverityNumber(s)
		lr.Body().SetStr(fmt.Sprintf("line %d", i))
		lr.Attributes().PutStr("detail", "connection pool stats: idle=4 active=12 waiting=0 max=16 created=1203 closed=1187 timeouts=0")
	}
	return ld
}

func TestClassifyPredicates(t *testing.T) {
	c := newClassifier([]PriorityClass{
		{Name: "errors", Match: []PriorityRule{{SpanStatus: "error"}, {LogSeverityAtLeast: "warn"}}},
		{Name: "payments", Match: []PriorityRule{{ResourceAttribute: &AttributeMatch{Key: "service.name", Values: []string{"pay", "checkout"}}}}},
		{Name: "metrics", Match: []PriorityRule{{Signal: "metrics"}}},
	})
	// Logs: severity at least warn (13) is "errors", else default (3).
	got := c.classifyLogs(logsWith(plog.SeverityNumberDebug, plog.SeverityNumberWarn-1, plog.SeverityNumberWarn, plog.SeverityNumberFatal, 0))
	assert.Equal(t, -1, got.single)
	assert.Equal(t, []uint8{3, 3, 0, 0, 3}, got.buf.c)
	got.release()
	got = c.classifyLogs(logsWith(plog.SeverityNumberError, plog.SeverityNumberWarn))
	assert.Equal(t, 0, got.single, "all in one class: the request is appended as it is")
	got.release()

	// Traces: status error first, then the resource attribute in a set.
	td := genTraces(0, 3) // service.name checkout
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(1).Status().SetCode(ptrace.StatusCodeError)
	other := td.ResourceSpans().AppendEmpty()
	other.Resource().Attributes().PutStr("service.name", "search")
	other.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	got = c.classifyTraces(td)
	assert.Equal(t, []uint8{1, 0, 1, 3}, got.buf.c)
	got.release()

	// Metrics: per resource entry, the first matching class.
	md := pmetric.NewMetrics()
	md.ResourceMetrics().AppendEmpty().Resource().Attributes().PutStr("service.name", "pay")
	md.ResourceMetrics().AppendEmpty().Resource().Attributes().PutStr("service.name", "search")
	got = c.classifyMetrics(md)
	assert.Equal(t, []uint8{1, 2}, got.buf.c)
	got.release()
	// A signal rule first: every data point is in its class, without
	// looking at them.
	cm := newClassifier([]PriorityClass{{Name: "metrics", Match: []PriorityRule{{Signal: "metrics"}}}, {Name: "b", Match: []PriorityRule{{ResourceAttribute: &AttributeMatch{Key: "k", Values: []string{"v"}}}}}})
	got = cm.classifyMetrics(md)
	assert.Equal(t, 0, got.single)
	assert.Nil(t, got.buf, "no per-item work")

	// No rule for a signal: everything is default, without looking.
	c2 := newClassifier([]PriorityClass{{Name: "errors", Match: []PriorityRule{{SpanStatus: "error"}}}})
	got = c2.classifyLogs(logsWith(plog.SeverityNumberFatal))
	assert.Equal(t, 1, got.single)
	assert.Nil(t, got.buf)
	// The first matching class wins.
	c3 := newClassifier([]PriorityClass{
		{Name: "a", Match: []PriorityRule{{LogSeverityAtLeast: "error"}}},
		{Name: "b", Match: []PriorityRule{{LogSeverityAtLeast: "info"}}},
	})
	got = c3.classifyLogs(logsWith(plog.SeverityNumberError, plog.SeverityNumberInfo, plog.SeverityNumberDebug))
	assert.Equal(t, []uint8{0, 1, 2}, got.buf.c)
	got.release()
}

func TestSplitLogsKeepsEveryItemOnce(t *testing.T) {
	c := newClassifier(errorsFirst())
	ld := logsWith(plog.SeverityNumberDebug, plog.SeverityNumberError, plog.SeverityNumberDebug, plog.SeverityNumberFatal)
	sl2 := ld.ResourceLogs().At(0).ScopeLogs().AppendEmpty()
	sl2.Scope().SetName("second")
	sl2.LogRecords().AppendEmpty().SetSeverityNumber(plog.SeverityNumberWarn)
	cls := c.classifyLogs(ld)
	defer cls.release()
	hi, n := splitLogs(ld, cls.buf.c, 0)
	lo, m := splitLogs(ld, cls.buf.c, 1)
	assert.Equal(t, 3, n)
	assert.Equal(t, 2, m)
	assert.Equal(t, 3, hi.LogRecordCount())
	assert.Equal(t, 2, lo.LogRecordCount())
	// Resource and scope are kept; the empty scope is not repeated.
	assert.Equal(t, 2, hi.ResourceLogs().At(0).ScopeLogs().Len())
	assert.Equal(t, "second", hi.ResourceLogs().At(0).ScopeLogs().At(1).Scope().Name())
	assert.Equal(t, 1, lo.ResourceLogs().At(0).ScopeLogs().Len())
	v, _ := hi.ResourceLogs().At(0).Resource().Attributes().Get("service.name")
	assert.Equal(t, "edge", v.Str())
	assert.Equal(t, "line 1", hi.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str())
	assert.Equal(t, "line 3", hi.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(1).Body().Str())
}

// sumAttrs adds the points of an int sum or gauge whose attributes include
// every key/value pair given.
func (h *harness) sumAttrs(name string, kv ...string) int64 {
	m, err := h.tt.GetMetric(name)
	if err != nil {
		return 0
	}
	match := func(s attribute.Set) bool {
		for i := 0; i+1 < len(kv); i += 2 {
			v, ok := s.Value(attribute.Key(kv[i]))
			if !ok || v.AsString() != kv[i+1] {
				return false
			}
		}
		return true
	}
	var total int64
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, dp := range d.DataPoints {
			if match(dp.Attributes) {
				total += dp.Value
			}
		}
	case metricdata.Gauge[int64]:
		for _, dp := range d.DataPoints {
			if match(dp.Attributes) {
				total += dp.Value
			}
		}
	}
	return total
}

// errorSpans makes n spans with status error, IDs from start.
func errorSpans(start uint64, n int) ptrace.Traces {
	td := genTraces(start, n)
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i := 0; i < spans.Len(); i++ {
		spans.At(i).Status().SetCode(ptrace.StatusCodeError)
	}
	return td
}

// TestPrioritiesFullBudgetKeepsErrors: offline, with a budget far smaller
// than a flood of debug logs mixed with error logs and a trickle of error
// spans: every error span and error log survives, the debug logs are
// evicted oldest first, and the drops are counted per class exactly
// (appended = delivered + dropped).
func TestPrioritiesFullBudgetKeepsErrors(t *testing.T) {
	sink := newStoppedSink(t)
	cfg := testConfig(t, sink.addr)
	cfg.Buffer.Priorities = errorsFirst()
	cfg.Buffer.SegmentBytes = 64 << 10
	cfg.Buffer.MaxDiskBytes = 640 << 10
	cfg.Buffer.DeadLetterMaxBytes = 0
	cfg.Buffer.Fsync = FsyncNever
	cfg.Buffer.Compression = false
	require.NoError(t, cfg.Validate())
	h := startExporter(t, cfg)
	ctx := context.Background()
	var debugN, errLogN, spanN int
	for i := 0; i < 400; i++ {
		// 50 log records: 49 debug, 1 error (a mixed batch keeps its error).
		sevs := make([]plog.SeverityNumber, 50)
		for k := range sevs {
			sevs[k] = plog.SeverityNumberDebug
		}
		sevs[i%50] = plog.SeverityNumberError
		require.NoError(t, h.logs.ConsumeLogs(ctx, logsWith(sevs...)))
		debugN += 49
		errLogN++
		if i%10 == 0 {
			require.NoError(t, h.traces.ConsumeTraces(ctx, errorSpans(uint64(spanN), 5)))
			spanN += 5
		}
	}
	e := h.traces.e
	require.Len(t, e.classes, 2)
	droppedDefault := h.sumAttrs("otelcol_exporter_edge_items_dropped", "reason", "budget", "class", "default")
	require.Positive(t, droppedDefault, "the budget was full")
	assert.Zero(t, h.sumAttrs("otelcol_exporter_edge_items_dropped", "class", "errors"), "nothing of the errors class dropped")
	assert.Equal(t, int64(errLogN+spanN), h.sumAttrs("otelcol_exporter_edge_class_buffer_items", "class", "errors"))
	assert.LessOrEqual(t, e.stats().DiskBytes, cfg.Buffer.logMaxBytes()+cfg.Buffer.SegmentBytes)

	sink.start()
	waitFor(t, 20*time.Second, func() bool { return e.stats().PendingItems == 0 }, "the buffer to drain")
	sink.mu.Lock()
	spans, logs := len(sink.spanSeqs), sink.logs
	sink.mu.Unlock()
	assert.Equal(t, spanN, spans, "every error span survives")
	assert.Equal(t, int64(errLogN+debugN), int64(logs)+droppedDefault, "debug logs: delivered + dropped = appended, exactly")
	assert.Equal(t, int64(errLogN+spanN+debugN), h.sum("otelcol_exporter_edge_items_sent")+droppedDefault)
	assert.Less(t, int64(logs), int64(errLogN+debugN))
}

// TestPrioritiesHigherClassSentFirst: a backlog of both classes is sent
// highest class first: every error span arrives before the first debug log
// of the backlog.
func TestPrioritiesHigherClassSentFirst(t *testing.T) {
	sink := newStoppedSink(t)
	cfg := testConfig(t, sink.addr)
	cfg.Buffer.Priorities = errorsFirst()
	cfg.Sending.MaxInFlight = 1
	cfg.Sending.BatchMaxItems = 100
	h := startExporter(t, cfg)
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		require.NoError(t, h.logs.ConsumeLogs(ctx, logsWith(plog.SeverityNumberDebug, plog.SeverityNumberDebug)))
		require.NoError(t, h.traces.ConsumeTraces(ctx, errorSpans(uint64(i*10), 10)))
	}
	// At each traces request: how many debug logs had arrived.
	logsAtSpans := -1
	sink.mu.Lock()
	sink.failTraces = func(ptrace.Traces) codes.Code {
		sink.mu.Lock()
		logsAtSpans = max(logsAtSpans, sink.logs)
		sink.mu.Unlock()
		return codes.OK
	}
	sink.mu.Unlock()
	sink.start()
	e := h.traces.e
	waitFor(t, 10*time.Second, func() bool { return e.stats().PendingItems == 0 }, "the buffer to drain")
	sink.mu.Lock()
	defer sink.mu.Unlock()
	assert.Equal(t, 200, len(sink.spanSeqs))
	assert.Equal(t, 40, sink.logs)
	// The probe that finds the backend back may be a debug log request
	// sent before: at most one request of debug logs ahead of the spans.
	assert.GreaterOrEqual(t, logsAtSpans, 0)
	assert.LessOrEqual(t, logsAtSpans, 2, "debug logs sent before the last error spans")
}

// TestPrioritiesRemovedClassDrained: data of a class that a restart no
// longer configures is not lost: it is sent (and counted under its class
// name), and its directory removed at the next start once empty.
func TestPrioritiesRemovedClassDrained(t *testing.T) {
	sink := newStoppedSink(t)
	cfg := testConfig(t, sink.addr)
	cfg.Buffer.Priorities = errorsFirst()
	h := startExporter(t, cfg)
	require.NoError(t, h.traces.ConsumeTraces(context.Background(), errorSpans(0, 30)))
	require.NoError(t, h.traces.ConsumeTraces(context.Background(), genTraces(100, 10)))
	dir := h.traces.e.bufferDir()
	h.stop()
	assert.DirExists(t, filepath.Join(dir, classesDirName, "errors"))

	cfg2 := *cfg
	cfg2.Buffer.Priorities = nil
	h2 := startExporter(t, &cfg2)
	e := h2.traces.e
	require.Len(t, e.classes, 2, "default and the removed class")
	assert.True(t, e.classes[1].removed)
	assert.Nil(t, e.prio, "no classification without priorities")
	sink.start()
	waitFor(t, 10*time.Second, func() bool { return sink.spanCount() == 40 }, "every span, from both logs")
	waitFor(t, 5*time.Second, func() bool { return e.stats().PendingItems == 0 }, "the buffer to drain")
	h2.stop()

	h3 := startExporter(t, &cfg2)
	assert.Nil(t, h3.traces.e.classes, "the empty removed class is gone: one log as before")
	_, err := os.Stat(filepath.Join(dir, classesDirName, "errors"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// TestPrioritiesUnsetKeepsLayout: without priorities nothing changes: one
// log in <instance>/wal, no classes directory, no classifier.
func TestPrioritiesUnsetKeepsLayout(t *testing.T) {
	sink := newTestSink(t)
	h := startExporter(t, testConfig(t, sink.addr))
	e := h.traces.e
	assert.Nil(t, e.classes)
	assert.Nil(t, e.prio)
	h.sendSpans(0, 10)
	waitFor(t, 5*time.Second, func() bool { return sink.spanCount() == 10 }, "spans")
	assert.NoDirExists(t, filepath.Join(e.bufferDir(), classesDirName))
	assert.DirExists(t, filepath.Join(e.bufferDir(), "wal"))
	_, err := h.tt.GetMetric("otelcol_exporter_edge_class_buffer_bytes")
	assert.Error(t, err, "no per-class metric without classes")
}

// TestClassSeq: the class index rides in the top byte; class 0 keeps the
// log's numbers.
func TestClassSeq(t *testing.T) {
	cl := &classLog{idx: 3}
	s := cl.seq(12345)
	assert.Equal(t, 3, classOf(s))
	assert.Equal(t, uint64(12345), rawSeq(s))
	assert.Equal(t, uint64(7), (&classLog{idx: 0}).seq(7))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], s)
	assert.Equal(t, byte(3), b[0])
}

// TestPrioritiesStatus: component status (attribute edge.classes) and the
// status summary (JSON "classes") show the classes and their backlog.
//
// edge.classes is taken when the exporter goes offline. With a stopped sink
// the first request (the errors) could fail and the exporter go offline
// before the second ConsumeTraces had appended the default class, showing
// default:0 (8 runs in 600 under load). So the sink holds every request
// until both are appended, then answers Unavailable.
func TestPrioritiesStatus(t *testing.T) {
	sink := newTestSink(t)
	appended := make(chan struct{})
	release := sync.OnceFunc(func() { close(appended) })
	t.Cleanup(release) // before the sink stops, should the test end early
	sink.setFailTraces(func(ptrace.Traces) codes.Code {
		<-appended
		return codes.Unavailable
	})
	cfg := testConfig(t, sink.addr)
	cfg.Buffer.Priorities = errorsFirst()
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tt.Shutdown(context.Background()) })
	e, err := newEdgeExporter(metadatatest.NewSettings(tt), cfg)
	require.NoError(t, err)
	te := &tracesExporter{signalExporter{e}}
	host := &statusHost{}
	require.NoError(t, te.Start(context.Background(), host))
	t.Cleanup(func() { assert.NoError(t, te.Shutdown(context.Background())) })
	require.NoError(t, te.ConsumeTraces(context.Background(), errorSpans(0, 3)))
	require.NoError(t, te.ConsumeTraces(context.Background(), genTraces(10, 5)))
	release()
	waitFor(t, 5*time.Second, func() bool {
		ev := host.last()
		return ev != nil && ev.Status() == componentstatus.StatusRecoverableError
	}, "offline")
	v, ok := host.last().Attributes().Get("edge.classes")
	require.True(t, ok)
	assert.Equal(t, "errors:3,default:5", v.Str())

	s := e.currentSummary(false)
	require.Len(t, s.Classes, 2)
	assert.Equal(t, "errors", s.Classes[0].Name)
	assert.Equal(t, uint64(3), s.Classes[0].PendingItems)
	assert.Equal(t, uint64(5), s.Classes[1].PendingItems)
	b, err := json.Marshal(s)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"classes":[{"name":"errors","pending_items":3`)
}

// TestLoadConfigPriorities: the commented example of testdata/config.yaml.
func TestLoadConfigPriorities(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub("edge/priorities")
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, []PriorityClass{
		{Name: "errors", Match: []PriorityRule{{SpanStatus: "error"}, {LogSeverityAtLeast: "warn"}}},
		{Name: "payments", Match: []PriorityRule{{ResourceAttribute: &AttributeMatch{Key: "service.name", Values: []string{"checkout", "payment"}}}}},
		{Name: "metrics", Match: []PriorityRule{{Signal: "metrics"}}},
	}, cfg.Buffer.Priorities)
}

// TestPrioritiesMixedRequestsDelivered: mixed traces and metrics requests
// are split per class and every item arrives once.
func TestPrioritiesMixedRequestsDelivered(t *testing.T) {
	sink := newTestSink(t)
	cfg := testConfig(t, sink.addr)
	cfg.Buffer.Priorities = []PriorityClass{
		{Name: "errors", Match: []PriorityRule{{SpanStatus: "error"}}},
		{Name: "pay", Match: []PriorityRule{{ResourceAttribute: &AttributeMatch{Key: "service.name", Values: []string{"pay"}}}}},
	}
	h := startExporter(t, cfg)
	ctx := context.Background()
	td := genTraces(0, 10)
	for i := 0; i < 10; i += 3 {
		td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(i).Status().SetCode(ptrace.StatusCodeError)
	}
	c := newClassifier(cfg.Buffer.Priorities)
	cls := c.classifyTraces(td)
	assert.Equal(t, uint32(0b101), cls.set, "errors and default")
	cls.release()
	require.NoError(t, h.traces.ConsumeTraces(ctx, td))

	md := pmetric.NewMetrics()
	for _, svc := range []string{"pay", "search", "pay"} {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", svc)
		g := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge()
		g.DataPoints().AppendEmpty().SetIntValue(1)
		g.DataPoints().AppendEmpty().SetIntValue(2)
	}
	require.NoError(t, h.metrics.ConsumeMetrics(ctx, md))
	waitFor(t, 10*time.Second, func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return len(sink.spanSeqs) == 10 && sink.points == 6
	}, "every span and data point")
	seen := map[uint64]bool{}
	for _, s := range sink.seqs() {
		assert.False(t, seen[s], "span %d twice", s)
		seen[s] = true
	}
	assert.Len(t, seen, 10)
	assert.Equal(t, int64(10), h.sum("otelcol_exporter_edge_items_appended", "signal", "traces"))
	assert.Equal(t, int64(6), h.sum("otelcol_exporter_edge_items_appended", "signal", "metrics"))
}

// TestRemovedClassLiveDataNotDelayed: while a removed class drains (no
// priorities configured any more), new data is read at once, not after
// sending.flush_interval (class readers are woken by every append).
func TestRemovedClassLiveDataNotDelayed(t *testing.T) {
	sink := newStoppedSink(t)
	cfg := testConfig(t, sink.addr)
	cfg.Buffer.Priorities = errorsFirst()
	h := startExporter(t, cfg)
	require.NoError(t, h.traces.ConsumeTraces(context.Background(), errorSpans(0, 5)))
	h.stop()

	cfg2 := *cfg
	cfg2.Buffer.Priorities = nil
	cfg2.Sending.FlushInterval = 20 * time.Second
	sink.start()
	h2 := startExporter(t, &cfg2)
	require.Len(t, h2.traces.e.classes, 2)
	waitFor(t, 10*time.Second, func() bool { return sink.spanCount() == 5 }, "the removed class drained")
	time.Sleep(100 * time.Millisecond) // the dispatcher waits for new data
	start := time.Now()
	h2.sendSpans(100, 3)
	waitFor(t, 5*time.Second, func() bool { return sink.spanCount() == 8 }, "new spans")
	assert.Less(t, time.Since(start), 2*time.Second)
}
