// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"
)

// Priority classes (buffer.priorities): one log per class, sharing the disk
// budget (wal.SharedBudget). The classes, highest first, are the configured
// ones, then "default" (items matching no class; its log is <instance>/wal,
// the log of an exporter without priorities) and then the removed classes
// whose directory still holds data (<instance>/classes/<name>, read and
// evicted first, never appended to, removed once empty at a start).
// Without priorities and without such leftovers e.classes is nil and the
// exporter runs exactly as before: one log, no classification.
//
// Sequence numbers seen by the dispatcher carry the class index in their
// top byte (classShift): class 0 (the default without priorities) keeps the
// log's own numbers.

const classShift = 56

func classOf(seq uint64) int   { return int(seq >> classShift) }
func rawSeq(seq uint64) uint64 { return seq & (1<<classShift - 1) }

// classLog is the log of one priority class.
type classLog struct {
	name    string
	idx     int
	log     *wal.Log
	removed bool // a class no longer configured: drained, never appended to
	durable *durableGate
	attr    metric.MeasurementOption // class=<name>
	// dropAttrs: reason and class, for exporter_edge_items_dropped.
	dropAttrs map[string]metric.MeasurementOption
	// dropped counts the class's dropped items, every reason (the status
	// page's dropped_items): what exporter_edge_items_dropped{class} says.
	dropped atomic.Uint64
}

func (c *classLog) seq(raw uint64) uint64 {
	if c.idx >= maxClasses {
		panic(fmt.Sprintf("edge exporter: class index %d over %d", c.idx, maxClasses)) // openLogs refuses more classes
	}
	return raw | uint64(c.idx)<<classShift
}

const classesDirName = "classes"

// maxClasses bounds the classes of an instance: configured, default and
// removed ones with data. The class index rides in the top byte of the
// dispatcher's sequence numbers (classShift) and must never wrap (an
// acknowledgement would go to another class's log); a start with more
// leftover classes than that refuses and names them.
const maxClasses = 64

// Compile-time check: every class index fits above classShift.
var _ [1<<(64-classShift) - maxClasses]struct{}

// removingSuffix marks a removed class's directory being deleted
// (<instance>/classes/.<name>.removing): renamed first, so that a crash in
// the middle of the deletion never leaves a class directory with segments
// and no cursor (its delivered records would be sent again). The scan
// ignores such names and finishes deleting them.
const removingSuffix = ".removing"

func newClassLog(name string, idx int, removed bool, gate *durableGate) *classLog {
	cl := &classLog{name: name, idx: idx, removed: removed, durable: gate}
	cl.attr = metric.WithAttributeSet(attribute.NewSet(attribute.String("class", name)))
	cl.dropAttrs = map[string]metric.MeasurementOption{}
	for _, r := range []string{wal.DropReasonBudget, wal.DropReasonCorrupt, reasonDeadLetter, reasonPoison, reasonRejected, reasonMaxAge} {
		cl.dropAttrs[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r), attribute.String("class", name)))
	}
	return cl
}

// openLogs opens the log (no priorities, nothing left of earlier classes)
// or the logs of the priority classes.
func (e *edgeExporter) openLogs(dir string, opts wal.Options) error {
	var names []string
	for _, pc := range e.cfg.Buffer.Priorities {
		names = append(names, pc.Name)
	}
	leftovers, err := e.removedClasses(dir, names)
	if err != nil {
		return err
	}
	classesDir := filepath.Join(dir, classesDirName)
	shared := wal.NewSharedBudget()
	// The removed classes are opened first, for real (with their class's
	// accounting: a drop found by recovery is counted once, like any other
	// drop of the class): an empty one is closed and its directory removed,
	// the others are drained after every configured class.
	var removed []*classLog
	closeRemoved := func() {
		for _, cl := range removed {
			_ = cl.log.Close()
		}
	}
	for j, name := range leftovers {
		cl := newClassLog(name, 0, true, &durableGate{enabled: e.durable.enabled})
		o := opts
		o.Shared, o.Class = shared, len(names)+1+j
		o.OnDrop = func(reason string, recs, items uint64) { e.onClassDrop(cl, reason, recs, items) }
		l, err := wal.Open(filepath.Join(classesDir, name), o)
		if err != nil {
			closeRemoved()
			return fmt.Errorf("opening buffer of removed class %q: %w", name, err)
		}
		cl.log = l
		if l.Recovery().PendingRecords > 0 {
			removed = append(removed, cl)
			continue
		}
		rec := l.Recovery()
		if err := l.Close(); err != nil {
			closeRemoved()
			return fmt.Errorf("closing the empty buffer of removed class %q: %w", name, err)
		}
		if rec.CorruptRecords > 0 || rec.TruncatedBytes > 0 || len(rec.Notes) > 0 {
			e.logger.Warn("Recovered the buffer of a class no longer configured with repairs; it holds nothing to send",
				zap.String("class", name), zap.Uint64("corrupt_records", rec.CorruptRecords), zap.Uint64("corrupt_items", rec.CorruptItems),
				zap.Int64("truncated_bytes", rec.TruncatedBytes), zap.Strings("notes", rec.Notes))
		}
		if err := e.removeClassDir(classesDir, name); err != nil {
			closeRemoved()
			return err
		}
	}
	if len(names) == 0 && len(removed) == 0 {
		opts.OnDrop = e.onLogDrop
		l, err := wal.Open(filepath.Join(dir, "wal"), opts)
		if err != nil {
			return fmt.Errorf("opening buffer: %w", err)
		}
		e.log = l
		return nil
	}
	removedNames := make([]string, len(removed))
	for i, cl := range removed {
		removedNames[i] = cl.name
	}
	if e.cfg.Buffer.Encryption.encrypts() {
		closeRemoved()
		return fmt.Errorf("buffer.encryption cannot be used with priority classes: %s holds data of classes %v (set buffer.priorities back, or deliver it without encryption first)",
			classesDir, removedNames)
	}
	if n := len(names) + 1 + len(removed); n > maxClasses {
		closeRemoved()
		return fmt.Errorf("buffer classes: %d classes (%d configured, default and %d removed ones that still hold data), at most %d: "+
			"%s holds the data of %d classes no longer in buffer.priorities: %s; list some of them in buffer.priorities again "+
			"until they are delivered, or move the directories of those you do not need out of %s",
			n, len(names), len(removed), maxClasses, classesDir, len(removed), strings.Join(removedNames, ", "), classesDir)
	}
	if len(names) > 0 {
		if _, err := ownDir(classesDir, os.Geteuid()); err != nil {
			closeRemoved()
			return err
		}
	}
	for i, name := range append(slices.Clone(names), defaultClassName) {
		cl := newClassLog(name, i, false, &durableGate{enabled: e.durable.enabled})
		path := filepath.Join(dir, "wal")
		if name != defaultClassName {
			path = filepath.Join(classesDir, name)
			if _, err := ownDir(path, os.Geteuid()); err != nil {
				e.closeLogs()
				closeRemoved()
				return err
			}
		} else {
			cl.durable = &e.durable
		}
		o := opts
		o.Shared, o.Class = shared, i
		o.OnDrop = func(reason string, recs, items uint64) { e.onClassDrop(cl, reason, recs, items) }
		l, err := wal.Open(path, o)
		if err != nil {
			e.closeLogs()
			closeRemoved()
			return fmt.Errorf("opening buffer of class %q: %w", name, err)
		}
		cl.log = l
		e.classes = append(e.classes, cl)
		if name == defaultClassName {
			e.log = l
		}
	}
	for _, cl := range removed {
		cl.idx = len(e.classes)
		e.classes = append(e.classes, cl)
		e.logger.Warn("buffer.priorities no longer lists a class whose data is in the buffer: it is sent after every other class and evicted first under a full budget (drops counted with its class name); its directory is removed at a start once it is empty",
			zap.String("class", cl.name), zap.Uint64("pending_items", cl.log.Recovery().PendingItems))
	}
	return nil
}

// removedClasses lists (sorted) the class directories under
// <instance>/classes that are not configured, and finishes deleting the
// directories a crash left being removed. <instance>/classes must be a real
// directory of the running user, priorities set or not (never followed
// through a symbolic link).
func (e *edgeExporter) removedClasses(dir string, names []string) ([]string, error) {
	classesDir := filepath.Join(dir, classesDirName)
	if _, err := os.Lstat(classesDir); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if _, err := ownDir(classesDir, os.Geteuid()); err != nil {
		return nil, fmt.Errorf("buffer classes: %w", err)
	}
	ents, err := os.ReadDir(classesDir)
	if err != nil {
		return nil, fmt.Errorf("buffer classes: %w", err)
	}
	var out []string
	for _, ent := range ents {
		name := ent.Name()
		if strings.HasPrefix(name, ".") && strings.HasSuffix(name, removingSuffix) {
			// A removal interrupted by a crash: renamed before anything in
			// it was deleted, so nothing in it is pending.
			if err := os.RemoveAll(filepath.Join(classesDir, name)); err != nil {
				return nil, fmt.Errorf("buffer classes: finishing the removal of %s: %w", filepath.Join(classesDir, name), err)
			}
			e.logger.Info("Finished removing the empty buffer of a class no longer configured", zap.String("directory", filepath.Join(classesDir, name)))
			continue
		}
		if slices.Contains(names, name) || !classNameRE.MatchString(name) || name == defaultClassName {
			continue
		}
		if _, err := ownDir(filepath.Join(classesDir, name), os.Geteuid()); err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out, nil
}

// isLogFile reports whether a file name in a log directory is the log's own
// (and deleted with it): segments, cursor, lock and their temporary files.
func isLogFile(name string) bool {
	switch {
	case name == "LOCK", name == "cursor", name == "cursor.tmp":
		return true
	case strings.HasSuffix(name, wal.PrivateTmpSuffix):
		return true
	}
	base, ok := strings.CutSuffix(name, ".seg")
	if !ok || len(base) != 20 {
		return false
	}
	for _, c := range base {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// removeClassDir deletes the directory of a removed class whose log is
// empty (and closed): renamed to .<name>.removing, the rename made durable,
// then deleted, so a crash never leaves a class log without its cursor. A
// directory holding anything that is not the log's own (files set aside by
// recovery, ".corrupt", to inspect; anything else) is left in place.
func (e *edgeExporter) removeClassDir(classesDir, name string) error {
	path := filepath.Join(classesDir, name)
	ents, err := os.ReadDir(path)
	if err != nil {
		return fmt.Errorf("removing the empty buffer of removed class %q: %w", name, err)
	}
	var other []string
	for _, ent := range ents {
		if !ent.Type().IsRegular() || !isLogFile(ent.Name()) {
			other = append(other, ent.Name())
		}
	}
	if len(other) > 0 {
		e.logger.Warn("The buffer of a class no longer configured is empty but its directory holds other files (set aside by recovery, or not the exporter's): left in place; delete it once inspected",
			zap.String("class", name), zap.String("directory", path), zap.Strings("files", other))
		return nil
	}
	tmp := filepath.Join(classesDir, "."+name+removingSuffix)
	if err := os.Rename(path, tmp); err != nil {
		return fmt.Errorf("removing the empty buffer of removed class %q: %w", name, err)
	}
	if err := syncDir(classesDir); err != nil {
		return fmt.Errorf("removing the empty buffer of removed class %q: %w", name, err)
	}
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("removing the empty buffer of removed class %q: %w", name, err)
	}
	e.logger.Info("Removed the empty buffer of a class no longer configured", zap.String("class", name))
	return nil
}

func (e *edgeExporter) closeLogs() error {
	if e.classes == nil {
		if e.log == nil {
			return nil
		}
		return e.log.Close()
	}
	var errs []error
	for _, cl := range e.classes {
		if cl.log != nil {
			errs = append(errs, cl.log.Close())
		}
	}
	return errors.Join(errs...)
}

func (e *edgeExporter) onClassDrop(cl *classLog, reason string, _, items uint64) {
	e.countDroppedClass(context.Background(), cl, reason, int64(items))
	e.warnLimiter.warn(e.logger, "Dropped buffered data", zap.String("reason", reason), zap.String("class", cl.name), zap.Uint64("items", items))
}

// countDroppedClass counts items dropped from class cl (nil: no classes).
func (e *edgeExporter) countDroppedClass(ctx context.Context, cl *classLog, reason string, items int64) {
	if cl == nil {
		e.countDropped(ctx, reason, items)
		return
	}
	a, ok := cl.dropAttrs[reason]
	if !ok {
		a = metric.WithAttributes(attribute.String("reason", reason), attribute.String("class", cl.name))
	}
	e.tb.ExporterEdgeItemsDropped.Add(ctx, items, a)
	cl.dropped.Add(uint64(items))
	e.report.dropped(reason, uint64(items))
}

// countDroppedSeq counts items of the record seq (as the dispatcher sees
// it) dropped.
func (e *edgeExporter) countDroppedSeq(ctx context.Context, seq uint64, reason string, items int64) {
	e.countDroppedClass(ctx, e.classFor(seq), reason, items)
}

// classFor is the class of a dispatcher sequence number (nil: no classes).
func (e *edgeExporter) classFor(seq uint64) *classLog {
	if e.classes == nil {
		return nil
	}
	return e.classes[classOf(seq)]
}

// ack acknowledges records (dispatcher sequence numbers) in their logs.
func (e *edgeExporter) ack(seqs ...uint64) {
	if e.classes == nil {
		e.log.Ack(seqs...)
		return
	}
	for len(seqs) > 0 {
		c := classOf(seqs[0])
		n := 1
		for n < len(seqs) && classOf(seqs[n]) == c {
			n++
		}
		raw := make([]uint64, n)
		for i := range raw {
			raw[i] = rawSeq(seqs[i])
		}
		e.classes[c].log.Ack(raw...)
		seqs = seqs[n:]
	}
}

// gate is the durable gate of the class of seq.
func (e *edgeExporter) gate(seq uint64) (*durableGate, uint64) {
	if e.classes == nil {
		return &e.durable, seq
	}
	return e.classes[classOf(seq)].durable, rawSeq(seq)
}

// stats is the log's Stats, or the sum over the classes' logs.
func (e *edgeExporter) stats() wal.Stats {
	if e.classes == nil {
		return e.log.Stats()
	}
	var sum wal.Stats
	for _, cl := range e.classes {
		st := cl.log.Stats()
		sum.DiskBytes += st.DiskBytes
		sum.Segments += st.Segments
		sum.PendingRecords += st.PendingRecords
		sum.PendingItems += st.PendingItems
		if !st.OldestPending.IsZero() && (sum.OldestPending.IsZero() || st.OldestPending.Before(sum.OldestPending)) {
			sum.OldestPending = st.OldestPending
		}
		sum.Appends += st.Appends
		sum.AppendedBytes += st.AppendedBytes
		sum.RejectedFull += st.RejectedFull
		sum.DroppedBudgetRecords += st.DroppedBudgetRecords
		sum.DroppedBudgetItems += st.DroppedBudgetItems
		sum.DroppedCorruptRecords += st.DroppedCorruptRecords
		sum.DroppedCorruptItems += st.DroppedCorruptItems
		sum.Fsyncs += st.Fsyncs
		sum.MemoryBytes += st.MemoryBytes
		sum.MemoryHits += st.MemoryHits
		sum.DiskReads += st.DiskReads
		if st.LastError != nil {
			sum.LastError = st.LastError
		}
		// Sequence numbers are the default class's (key epochs: no
		// encryption with classes).
		if cl.name == defaultClassName {
			sum.AckedSeq, sum.LastSeq = st.AckedSeq, st.LastSeq
			sum.LiveStart, sum.LiveAckedSeq = st.LiveStart, st.LiveAckedSeq
		}
	}
	return sum
}

// liveStart reports whether a live range is open (in any class).
func (e *edgeExporter) liveStart() uint64 {
	if e.classes == nil {
		return e.log.LiveStart()
	}
	for _, cl := range e.classes {
		if ls := cl.log.LiveStart(); ls > 0 {
			return ls
		}
	}
	return 0
}

// beginLiveAll opens the live range of every class; it returns non-zero
// when one has a backlog.
func (e *edgeExporter) beginLiveAll() uint64 {
	if e.classes == nil {
		return e.log.BeginLive()
	}
	var any uint64
	for _, cl := range e.classes {
		if ls := cl.log.BeginLive(); ls > 0 {
			any = ls
		}
	}
	return any
}

// recordReader is what the dispatcher reads: a log's Reader, or the
// readers of every class (classReader).
type recordReader interface {
	Next(ctx context.Context) (wal.Record, error)
	Rewind()
}

type readerPart int

const (
	readAll readerPart = iota
	readLive
	readBacklog
)

// newReader returns the dispatcher's reader of part.
func (e *edgeExporter) newReader(part readerPart) recordReader {
	open := func(l *wal.Log) *wal.Reader {
		switch part {
		case readLive:
			return l.NewLiveReader()
		case readBacklog:
			return l.NewBacklogReader()
		}
		return l.NewReader()
	}
	if e.classes == nil {
		return open(e.log)
	}
	cr := &classReader{sig: &e.appended}
	for _, cl := range e.classes {
		cr.rs = append(cr.rs, open(cl.log))
	}
	return cr
}

// classReader reads the logs of the classes, the highest class with a
// record first: a lower class is read only while every higher one is
// empty (strict priority; each class in its own order).
type classReader struct {
	rs  []*wal.Reader
	sig *appendSignal
}

func (c *classReader) Next(ctx context.Context) (wal.Record, error) {
	for {
		wake := c.sig.wait() // before looking: no append is missed
		for i, r := range c.rs {
			rec, err := r.Next(doneContext)
			if err == nil {
				rec.Seq |= uint64(i) << classShift
				return rec, nil
			}
			if !errors.Is(err, context.Canceled) {
				return rec, err
			}
		}
		if err := ctx.Err(); err != nil {
			return wal.Record{}, err
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return wal.Record{}, ctx.Err()
		}
	}
}

func (c *classReader) Rewind() {
	for _, r := range c.rs {
		r.Rewind()
	}
}

// appendSignal wakes class readers waiting for a record of any class.
type appendSignal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *appendSignal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *appendSignal) fire() {
	s.mu.Lock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
	s.mu.Unlock()
}

// appendClassified appends a request under buffer.priorities: as it is
// when all its items are in one class, else one record per class (items in
// their order). An error after some classes were appended returns the
// error: the pipeline may send the whole request again (at least once).
func (e *edgeExporter) appendLogs(ctx context.Context, ld plog.Logs, n int) error {
	c := e.prio.classifyLogs(ld)
	defer c.release()
	if c.single >= 0 {
		var pm plog.ProtoMarshaler
		buf, err := pm.MarshalLogs(ld)
		if err != nil {
			return consumererror.NewPermanent(err)
		}
		return e.appendTo(ctx, e.classes[c.single], kindLogs, n, buf)
	}
	var errs []error
	for cls := range len(e.prio.names) {
		if c.set&(1<<cls) == 0 {
			continue
		}
		part, k := splitLogs(ld, c.buf.c, uint8(cls))
		var pm plog.ProtoMarshaler
		buf, err := pm.MarshalLogs(part)
		if err != nil {
			return consumererror.NewPermanent(err)
		}
		errs = append(errs, e.appendTo(ctx, e.classes[cls], kindLogs, k, buf))
	}
	return errors.Join(errs...)
}

func (e *edgeExporter) appendTraces(ctx context.Context, td ptrace.Traces, n int) error {
	c := e.prio.classifyTraces(td)
	defer c.release()
	if c.single >= 0 {
		var m ptrace.ProtoMarshaler
		buf, err := m.MarshalTraces(td)
		if err != nil {
			return consumererror.NewPermanent(err)
		}
		return e.appendTo(ctx, e.classes[c.single], kindTraces, n, buf)
	}
	var errs []error
	for cls := range len(e.prio.names) {
		if c.set&(1<<cls) == 0 {
			continue
		}
		part, k := splitTraces(td, c.buf.c, uint8(cls))
		var m ptrace.ProtoMarshaler
		buf, err := m.MarshalTraces(part)
		if err != nil {
			return consumererror.NewPermanent(err)
		}
		errs = append(errs, e.appendTo(ctx, e.classes[cls], kindTraces, k, buf))
	}
	return errors.Join(errs...)
}

func (e *edgeExporter) appendMetrics(ctx context.Context, md pmetric.Metrics, n int) error {
	c := e.prio.classifyMetrics(md)
	defer c.release()
	if c.single >= 0 {
		var m pmetric.ProtoMarshaler
		buf, err := m.MarshalMetrics(md)
		if err != nil {
			return consumererror.NewPermanent(err)
		}
		return e.appendTo(ctx, e.classes[c.single], kindMetrics, n, buf)
	}
	var errs []error
	for cls := range len(e.prio.names) {
		if c.set&(1<<cls) == 0 {
			continue
		}
		part, k := splitMetrics(md, c.buf.c, uint8(cls))
		var m pmetric.ProtoMarshaler
		buf, err := m.MarshalMetrics(part)
		if err != nil {
			return consumererror.NewPermanent(err)
		}
		errs = append(errs, e.appendTo(ctx, e.classes[cls], kindMetrics, k, buf))
	}
	return errors.Join(errs...)
}

// classView is a class on the status page.
type classView struct {
	Name             string  `json:"name"`
	Removed          bool    `json:"removed,omitempty"`
	PendingItems     uint64  `json:"pending_items"`
	DiskBytes        int64   `json:"disk_bytes"`
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
	DroppedItems     uint64  `json:"dropped_items"`
}

// classViews describes the classes (nil without classes).
func (e *edgeExporter) classViews() []classView {
	if e.classes == nil {
		return nil
	}
	out := make([]classView, 0, len(e.classes))
	now := time.Now()
	for _, cl := range e.classes {
		st := cl.log.Stats()
		v := classView{Name: cl.name, Removed: cl.removed, PendingItems: st.PendingItems, DiskBytes: st.DiskBytes,
			DroppedItems: cl.dropped.Load()}
		if !st.OldestPending.IsZero() {
			v.OldestAgeSeconds = now.Sub(st.OldestPending).Round(time.Millisecond).Seconds()
		}
		out = append(out, v)
	}
	return out
}

// registerClassCallbacks reports per-class bytes, items and backlog age.
func (e *edgeExporter) registerClassCallbacks() error {
	if e.classes == nil {
		return nil
	}
	return errors.Join(
		e.tb.RegisterExporterEdgeClassBufferBytesCallback(func(_ context.Context, o metric.Int64Observer) error {
			for _, cl := range e.classes {
				o.Observe(cl.log.Stats().DiskBytes, cl.attr)
			}
			return nil
		}),
		e.tb.RegisterExporterEdgeClassBufferItemsCallback(func(_ context.Context, o metric.Int64Observer) error {
			for _, cl := range e.classes {
				o.Observe(int64(cl.log.Stats().PendingItems), cl.attr)
			}
			return nil
		}),
		e.tb.RegisterExporterEdgeClassOldestAgeCallback(func(_ context.Context, o metric.Float64Observer) error {
			for _, cl := range e.classes {
				var age float64
				if t := cl.log.Stats().OldestPending; !t.IsZero() {
					age = time.Since(t).Seconds()
				}
				o.Observe(age, cl.attr)
			}
			return nil
		}),
	)
}

// recovery is what Open found, summed over the classes.
func (e *edgeExporter) recovery() wal.Recovery {
	if e.classes == nil {
		return e.log.Recovery()
	}
	var sum wal.Recovery
	for _, cl := range e.classes {
		r := cl.log.Recovery()
		sum.Segments += r.Segments
		sum.Records += r.Records
		sum.PendingRecords += r.PendingRecords
		sum.PendingItems += r.PendingItems
		sum.CorruptRecords += r.CorruptRecords
		sum.CorruptItems += r.CorruptItems
		sum.CorruptBytes += r.CorruptBytes
		sum.TruncatedBytes += r.TruncatedBytes
		sum.CorruptSegments += r.CorruptSegments
		sum.SetAside = append(sum.SetAside, r.SetAside...)
		sum.CursorRebuilt = sum.CursorRebuilt || r.CursorRebuilt
		for _, n := range r.Notes {
			sum.Notes = append(sum.Notes, cl.name+": "+n)
		}
	}
	return sum
}

// poisonDoneThrough forgets held records the logs acknowledged or evicted.
func (e *edgeExporter) poisonDoneThrough() {
	if e.classes == nil {
		e.poison.doneThrough(e.log.Stats().AckedSeq)
		return
	}
	for _, cl := range e.classes {
		e.poison.doneThroughClass(cl.idx, cl.log.Stats().AckedSeq)
	}
}

// classSummary is the classes and their pending items, highest first, for
// component status ("errors:12,default:3400").
func (e *edgeExporter) classSummary() string {
	var b []byte
	for i, cl := range e.classes {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, "%s:%d", cl.name, cl.log.Stats().PendingItems)
	}
	return string(b)
}
