// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/metadata"
	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"
)

// Sending states, exported as the value of otelcol_exporter_edge_state.
const (
	stateOnline    int32 = 0
	stateOffline   int32 = 1
	stateReplaying int32 = 2
)

func stateName(s int32) string {
	switch s {
	case stateOnline:
		return "online"
	case stateOffline:
		return "offline"
	case stateReplaying:
		return "replaying"
	}
	return "unknown"
}

var errShuttingDown = errors.New("edge exporter is shutting down")

// edgeExporter owns the durable log and drains it to the endpoints. One
// instance serves every pipeline that names the same component ID.
type edgeExporter struct {
	cfg    *Config
	set    exporter.Settings
	logger *zap.Logger
	tb     *metadata.TelemetryBuilder
	std    stdTelemetry // the standard exporter metrics (stdtelemetry.go)

	mu              sync.Mutex // guards refs and lifecycle
	refs            int
	onFinalShutdown func()

	host       component.Host
	statuses   statusHosts // hosts of every pipeline instance, for componentstatus
	userAgent  string
	log        *wal.Log
	disc       discoveryState
	eps        *endpointSet
	deadLetter *deadLetter
	cancel     context.CancelFunc
	done       chan struct{}

	// classes are the logs of buffer.priorities (classes.go), nil without
	// classes; log is then the class "default". prio classifies appended
	// items (nil without buffer.priorities); appended wakes class readers.
	classes  []*classLog
	prio     *classifier
	appended appendSignal

	state       atomic.Int32
	ioDegraded  atomic.Bool // an append failed with an I/O error; cleared by the next success
	closing     atomic.Bool
	retryNeeded atomic.Bool
	// beginLive asks the dispatcher to open the log's live range (replay
	// order live_first): set when the backend answers after an outage.
	beginLive atomic.Bool
	// sentLive and sentBacklog are the bytes of the requests sent from the
	// live range and from the backlog since the range opened (status page).
	sentLive, sentBacklog atomic.Int64
	// batchCap limits the records per request after a backend refused one as
	// too large (0: no limit); reset by the next success.
	batchCap atomic.Int64
	// durable holds back, under buffer.fsync always, records whose group
	// commit has not completed (see durableGate).
	durable durableGate

	// replay pacing and the link budget (dispatcher goroutine only)
	paceNext time.Time
	linkNext time.Time
	// wireRatio is the float64 bits of the recent wire bytes per body byte
	// (compression), for the link budget; 0 before the first answer.
	// wireSum and bodySum (under wireMu) are its decayed sums.
	wireRatio        atomic.Uint64
	wireMu           sync.Mutex
	wireSum, bodySum float64
	// linkRefund is link time (ns) to give back (failed requests, estimates
	// above the wire size) or, negative, to add (estimates below it); added
	// by send, taken by the dispatcher.
	linkRefund atomic.Int64

	// walFS replaces the file system of the log in tests (nil: the OS).
	walFS wal.FS

	// keys encrypts and decrypts records (nil: buffer.encryption not set).
	keys *keyring

	// precomputed attribute sets
	signalAttrs map[uint8]metric.MeasurementOption
	reasonAttrs map[string]metric.MeasurementOption
	refusedFull metric.MeasurementOption
	phaseLive   metric.MeasurementOption
	phaseReplay metric.MeasurementOption

	// poison tracks the record at the head of the log that a live backend
	// keeps failing on (retry.max_attempts_per_record).
	poison poisonTracker

	warnLimiter rateLimitedLog

	// report feeds the offline summary and the status page (offline.go);
	// statusDone is closed when runStatus has returned.
	report     offlineReport
	statusDone chan struct{}
	statusSrv  *statusServer
}

func newEdgeExporter(set exporter.Settings, cfg *Config) (*edgeExporter, error) {
	e := &edgeExporter{
		cfg:         cfg,
		set:         set,
		logger:      withoutSignal(set.Logger),
		signalAttrs: map[uint8]metric.MeasurementOption{},
		reasonAttrs: map[string]metric.MeasurementOption{},
		phaseLive:   metric.WithAttributeSet(attribute.NewSet(attribute.String("phase", "live"))),
		phaseReplay: metric.WithAttributeSet(attribute.NewSet(attribute.String("phase", "replay"))),
	}
	for _, k := range []uint8{kindTraces, kindMetrics, kindLogs} {
		e.signalAttrs[k] = metric.WithAttributeSet(attribute.NewSet(attribute.String("signal", kindName(k))))
	}
	for _, r := range []string{wal.DropReasonBudget, wal.DropReasonCorrupt, reasonDeadLetter, reasonPoison, reasonRejected, reasonMaxAge} {
		e.reasonAttrs[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r)))
	}
	e.refusedFull = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", refusedBufferFull)))
	e.durable.enabled = cfg.Buffer.Fsync == FsyncAlways
	return e, nil
}

// Drop reasons besides the log's own (budget, corrupt).
const (
	reasonDeadLetter = "dead_letter"
	reasonPoison     = "poison"
	reasonRejected   = "rejected"
	reasonMaxAge     = "max_age"
)

// refusedBufferFull is the reason of otelcol_exporter_edge_items_refused for
// appends refused under when_full drop_newest.
const refusedBufferFull = "buffer_full"

// bufferDir is the directory of this instance: one per component ID.
func (e *edgeExporter) bufferDir() string {
	name := strings.NewReplacer("/", "_", "\\", "_", ":", "_").Replace(e.set.ID.String())
	return filepath.Join(e.cfg.Buffer.Directory, name)
}

func (e *edgeExporter) acquire(ctx context.Context, host component.Host) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.refs++
	if e.refs > 1 {
		return nil
	}
	if err := e.start(ctx, host); err != nil {
		e.refs--
		e.cleanupAfterFailedStart()
		return err
	}
	return nil
}

func (e *edgeExporter) release(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.refs == 0 {
		// Shutdown without a successful Start.
		if e.onFinalShutdown != nil {
			e.onFinalShutdown()
		}
		return nil
	}
	e.refs--
	if e.refs > 0 {
		return nil
	}
	err := e.shutdown(ctx)
	if e.onFinalShutdown != nil {
		e.onFinalShutdown()
	}
	return err
}

func (e *edgeExporter) start(ctx context.Context, host component.Host) error {
	e.host = host
	tb, err := metadata.NewTelemetryBuilder(e.set.TelemetrySettings)
	if err != nil {
		return err
	}
	e.tb = tb
	e.std = newStdTelemetry(tb, e.set.ID)

	dir := e.bufferDir()
	if err := e.prepareBufferDir(dir); err != nil {
		return fmt.Errorf("edge exporter %s: %w", e.set.ID, err)
	}
	if err := e.loadKeys(dir); err != nil {
		return fmt.Errorf("edge exporter %s: %w", e.set.ID, err)
	}
	opts := walOptions(e.cfg)
	opts.FS = e.walFS
	opts.OnFsync = func(d time.Duration) {
		e.tb.ExporterEdgeFsyncLatency.Record(context.Background(), d.Seconds())
	}
	opts.Logf = func(format string, args ...any) {
		e.logger.Warn(fmt.Sprintf(format, args...), zap.String("directory", dir))
	}
	if err := e.openLogs(dir, opts); err != nil {
		return fmt.Errorf("edge exporter %s: %w", e.set.ID, err)
	}
	if len(e.cfg.Buffer.Priorities) > 0 {
		e.prio = newClassifier(e.cfg.Buffer.Priorities)
	}
	if err := e.advanceKeyEpochs(dir); err != nil {
		return fmt.Errorf("edge exporter %s: %w", e.set.ID, err)
	}
	rec := e.recovery()
	fields := []zap.Field{
		zap.String("directory", dir), zap.Int("segments", rec.Segments),
		zap.Uint64("pending_records", rec.PendingRecords), zap.Uint64("pending_items", rec.PendingItems),
	}
	if rec.CorruptRecords > 0 || rec.CorruptSegments > 0 || rec.TruncatedBytes > 0 || rec.CursorRebuilt {
		e.logger.Warn("Recovered the buffer with repairs",
			append(fields, zap.Uint64("corrupt_records", rec.CorruptRecords), zap.Uint64("corrupt_items", rec.CorruptItems),
				zap.Int64("corrupt_bytes", rec.CorruptBytes), zap.Int64("truncated_bytes", rec.TruncatedBytes),
				zap.Int("corrupt_segments", rec.CorruptSegments), zap.Bool("cursor_rebuilt", rec.CursorRebuilt),
				zap.Strings("notes", rec.Notes))...)
	} else {
		e.logger.Info("Opened the buffer", fields...)
	}

	if e.cfg.Buffer.DeadLetterMaxBytes > 0 {
		var repaired []string
		e.deadLetter, repaired, err = openDeadLetter(dir, e.cfg.Buffer.DeadLetterMaxBytes, e.cfg.Buffer.Fsync, e.cfg.Buffer.FsyncInterval)
		if err != nil {
			return fmt.Errorf("edge exporter %s: opening dead-letter files: %w", e.set.ID, err)
		}
		e.deadLetter.keys = e.keys
		if len(repaired) > 0 {
			e.logger.Warn("Repaired the dead-letter files", zap.Strings("notes", repaired))
		}
	}

	e.warnPlaintext()
	if e.cfg.Protocol != ProtocolHTTP {
		installGRPCLogFilter(e.set.Logger)
	}
	e.eps = newEndpointSet(e.cfg.Balancing, e.cfg.Retry)
	if e.eps.router, err = newRouter(e.cfg.ZoneRouting, e.cfg.SlowStart, e.set.MeterProvider); err != nil {
		return err
	}
	e.userAgent = fmt.Sprintf("%s/%s (otelcol-edge edge exporter)", e.set.BuildInfo.Command, e.set.BuildInfo.Version)
	if e.cfg.Discovery != nil {
		if err := e.followDiscovery(ctx, host); err != nil {
			return fmt.Errorf("edge exporter %s: %w", e.set.ID, err)
		}
	} else {
		var eps []*endpoint
		for _, addr := range e.cfg.Endpoints {
			c, err := e.newClient(ctx, addr)
			if err != nil {
				for _, ep := range eps {
					_ = ep.client.close()
				}
				return fmt.Errorf("edge exporter %s: %w", e.set.ID, err)
			}
			eps = append(eps, &endpoint{id: addr, address: addr, weight: 1, client: c})
		}
		e.eps.setEndpoints(eps)
	}

	if err := errors.Join(e.registerCallbacks(), e.registerQueueCallbacks(), e.registerClassCallbacks()); err != nil {
		return err
	}
	if err := e.startStatusServer(); err != nil {
		return fmt.Errorf("edge exporter %s: %w", e.set.ID, err)
	}
	if rec.PendingRecords > 0 {
		e.state.Store(stateReplaying)
		e.report.recoveredBacklog(time.Now(), rec.PendingItems)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.done = make(chan struct{})
	// Everything recovered at start is durable; set before the first append
	// can happen (not in run, which may start after it).
	e.durable.advance(e.log.Stats().LastSeq)
	for _, cl := range e.classes {
		cl.durable.advance(cl.log.Stats().LastSeq)
	}
	go e.run(runCtx)
	e.statusDone = make(chan struct{})
	go func() {
		defer close(e.statusDone)
		var wg sync.WaitGroup
		defer wg.Wait()
		e.runStatus(runCtx, &wg)
	}()
	return nil
}

// walOptions translates the buffer configuration into the log's options
// (without the callbacks and the file system, which belong to the instance).
func walOptions(cfg *Config) wal.Options {
	b := cfg.Buffer
	opts := wal.Options{
		SegmentBytes:       b.SegmentBytes,
		MaxBytes:           b.logMaxBytes(),
		FsyncInterval:      b.FsyncInterval,
		DisableCompression: !b.Compression || b.Encryption.encrypts(),
		MemoryBytes:        b.MemoryBytes,
	}
	if b.MemoryBytes == 0 {
		opts.MemoryBytes = -1
	}
	switch b.WhenFull {
	case WhenFullDropNewest:
		opts.WhenFull = wal.DropNewest
	case WhenFullBlock:
		opts.WhenFull = wal.Block
	default:
		opts.WhenFull = wal.DropOldest
	}
	switch b.Fsync {
	case FsyncAlways:
		opts.Fsync = wal.FsyncAlways
	case FsyncNever:
		opts.Fsync = wal.FsyncNever
	default:
		opts.Fsync = wal.FsyncInterval
	}
	return opts
}

// newClient makes the OTLP client of one endpoint.
func (e *edgeExporter) newClient(ctx context.Context, address string) (endpointClient, error) {
	if e.cfg.Protocol == ProtocolHTTP {
		return newHTTPClient(ctx, e.cfg, address, e.host, e.set.TelemetrySettings, e.userAgent)
	}
	return newGRPCClient(ctx, e.cfg, address, e.host, e.set.TelemetrySettings, e.userAgent)
}

func (e *edgeExporter) cleanupAfterFailedStart() {
	e.stopStatusServer()
	e.stopDiscovery()
	if e.eps != nil {
		for _, ep := range e.eps.all() {
			_ = ep.client.close()
		}
	}
	if e.log != nil {
		_ = e.closeLogs()
		e.log, e.classes = nil, nil
	}
	if e.deadLetter != nil {
		_ = e.deadLetter.close()
		e.deadLetter = nil
	}
	if e.tb != nil {
		e.tb.Shutdown()
	}
	e.keys.close()
	e.keys = nil
}

func (e *edgeExporter) registerCallbacks() error {
	tb := e.tb
	return errors.Join(
		tb.RegisterExporterEdgeStateCallback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(int64(e.state.Load()))
			return nil
		}),
		tb.RegisterExporterEdgeBufferBytesCallback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(e.stats().DiskBytes)
			return nil
		}),
		tb.RegisterExporterEdgeBufferItemsCallback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(int64(e.stats().PendingItems))
			return nil
		}),
		tb.RegisterExporterEdgeBufferOldestAgeCallback(func(_ context.Context, o metric.Float64Observer) error {
			var age float64
			if t := e.stats().OldestPending; !t.IsZero() {
				age = time.Since(t).Seconds()
			}
			o.Observe(age)
			return nil
		}),
		tb.RegisterExporterEdgeEndpointHealthyCallback(func(_ context.Context, o metric.Int64Observer) error {
			for name, st := range e.eps.health() {
				v := int64(0)
				if st == epHealthy {
					v = 1
				}
				o.Observe(v, metric.WithAttributes(attribute.String("endpoint", name)))
			}
			return nil
		}),
		e.registerEndpointStateCallback(),
	)
}

func (e *edgeExporter) onLogDrop(reason string, _, items uint64) {
	e.countDropped(context.Background(), reason, int64(items))
	e.warnLimiter.warn(e.logger, "Dropped buffered data", zap.String("reason", reason), zap.Uint64("items", items))
}

func (e *edgeExporter) reasonAttr(r string) metric.MeasurementOption {
	if a, ok := e.reasonAttrs[r]; ok {
		return a
	}
	return metric.WithAttributes(attribute.String("reason", r))
}

// append writes one encoded request to the log. It returns only after the
// record is in the log (and fsynced under fsync "always"). The payload is
// handed over: the log may keep it as its in-memory copy of the record
// (wal.Log.AppendOwned), so the caller must not modify or reuse it.
func (e *edgeExporter) append(ctx context.Context, kind uint8, items int, payload []byte) error {
	return e.appendPayload(ctx, nil, kind, items, payload, true)
}

// appendTo writes one encoded request to the log of class cl (nil: the
// log without classes). The log copies the payload.
func (e *edgeExporter) appendTo(ctx context.Context, cl *classLog, kind uint8, items int, payload []byte) error {
	return e.appendPayload(ctx, cl, kind, items, payload, false)
}

// appendPayload is append (owned) and appendTo (not owned).
func (e *edgeExporter) appendPayload(ctx context.Context, cl *classLog, kind uint8, items int, payload []byte, owned bool) error {
	if e.closing.Load() || e.log == nil {
		e.std.refusedItems(kind, int64(items))
		return errShuttingDown
	}
	// metadata_keys: the client metadata goes in front of the payload
	// (clientmeta.go), inside the envelope when encrypting.
	recKind, prefixed, release := e.prefixMetadata(ctx, kind, payload)
	defer release() // the log copies the payload
	stored, storedKind := prefixed, recKind
	if e.keys != nil && e.keys.active != nil {
		bp := sealBufPool.Get().(*[]byte)
		*bp = e.keys.seal((*bp)[:0], recKind, prefixed, e.cfg.Buffer.Compression)
		stored, storedKind = *bp, recKind|kindEncrypted
		defer putSealBuf(bp) // the log copies the payload
	}
	lg, gate := e.log, &e.durable
	if cl != nil {
		lg, gate = cl.log, cl.durable
	}
	var seq uint64
	var err error
	if owned && storedKind == kind {
		// Neither a metadata prefix nor an envelope (each sets its kind
		// flag and builds a pooled buffer): stored is the caller's own
		// buffer, which the log keeps instead of a copy.
		seq, err = lg.AppendOwned(ctx, storedKind, uint32(items), stored)
	} else {
		seq, err = lg.Append(ctx, storedKind, uint32(items), stored)
	}
	if err != nil {
		e.std.refusedItems(kind, int64(items))
		switch {
		case errors.Is(err, wal.ErrFull):
			// Not a drop: the pipeline gets the error and its client keeps
			// the data (and may send it again).
			e.tb.ExporterEdgeItemsRefused.Add(ctx, int64(items), e.refusedFull)
			return fmt.Errorf("edge exporter buffer is full (buffer.max_disk_bytes=%d, when_full=drop_newest): %w", e.cfg.Buffer.MaxDiskBytes, err)
		case errors.Is(err, wal.ErrClosed):
			return errShuttingDown
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			return err
		default:
			// The record may be in the log without its fsync (the pipeline
			// gets the error and may send it again): do not hold back the
			// records behind it for ever.
			gate.advance(lg.Stats().LastSeq)
			e.tb.ExporterEdgeIoErrors.Add(ctx, 1)
			e.ioDegraded.Store(true)
			e.reportStatus(componentstatus.NewRecoverableErrorEvent(fmt.Errorf("buffer I/O error: %w", err)))
			e.warnLimiter.warn(e.logger, "Could not write to the buffer", zap.Error(err))
			return err
		}
	}
	gate.advance(seq)
	if e.classes != nil {
		e.appended.fire() // class readers (also without priorities, while removed classes drain)
	}
	e.tb.ExporterEdgeItemsAppended.Add(ctx, int64(items), e.signalAttrs[kind])
	if e.ioDegraded.Load() && e.ioDegraded.Swap(false) && e.state.Load() != stateOffline {
		e.reportStatus(componentstatus.NewEvent(componentstatus.StatusOK))
	}
	return nil
}

func (e *edgeExporter) reportStatus(ev *componentstatus.Event) {
	e.statuses.report(ev)
}

func (e *edgeExporter) setState(s int32) {
	old := e.state.Swap(s)
	if old == s {
		return
	}
	e.report.stateChanged(old, s, time.Now(), e.stats().PendingItems)
	e.logger.Info("Edge exporter state changed", zap.String("from", stateName(old)), zap.String("to", stateName(s)))
	// The component status carries the state as attribute edge.state:
	// offline is a recoverable error, leaving it is OK with the new state
	// (replaying after an outage). Replaying -> online reports nothing (an
	// OK then could hide a buffer I/O error reported meanwhile);
	// exporter_edge_state and the status page always tell.
	attrs := pcommon.NewMap()
	attrs.PutStr("edge.state", stateName(s))
	if e.classes != nil {
		attrs.PutStr("edge.classes", e.classSummary())
	}
	if s == stateOffline {
		e.reportStatus(componentstatus.NewEvent(componentstatus.StatusRecoverableError,
			componentstatus.WithError(fmt.Errorf("offline, buffering to disk: %w", errNoEndpoint)), componentstatus.WithAttributes(attrs)))
	} else if old == stateOffline {
		e.reportStatus(componentstatus.NewEvent(componentstatus.StatusOK, componentstatus.WithAttributes(attrs)))
	}
}

func (e *edgeExporter) shutdown(ctx context.Context) error {
	e.closing.Store(true)
	if e.cancel == nil {
		return nil
	}
	// Flush what can be sent: wait while the log drains, the link is up and
	// the drain deadline (the shutdown context or buffer timeout) allows.
	deadline := time.Now().Add(e.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if e.stats().PendingRecords == 0 || e.state.Load() == stateOffline {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.cancel()
	<-e.done
	<-e.statusDone
	e.stopStatusServer()
	e.stopDiscovery()
	var errs []error
	for _, ep := range e.eps.all() {
		errs = append(errs, ep.client.close())
	}
	if e.deadLetter != nil {
		errs = append(errs, e.deadLetter.close())
	}
	if err := e.advanceKeyEpochs(e.bufferDir()); err != nil {
		e.logger.Warn("Could not update the key epochs of the buffer", zap.Error(err))
	}
	errs = append(errs, e.closeLogs())
	e.keys.close()
	e.tb.Shutdown()
	st := e.stats()
	e.logger.Info("Edge exporter stopped", zap.Uint64("pending_records", st.PendingRecords), zap.Uint64("pending_items", st.PendingItems))
	return errors.Join(errs...)
}
