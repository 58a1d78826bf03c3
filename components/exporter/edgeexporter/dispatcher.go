// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"
)

// batch is a run of consecutive records of one kind sent as one request.
// Serialized OTLP export requests of one kind concatenate into a valid request
// holding all their resource entries, so a batch is the records' payloads
// joined without decoding them.
type batch struct {
	kind  uint8
	seqs  []uint64
	items int
	// body is the request (the records' payloads one after the other: a
	// concatenation of OTLP export requests is one request); nil for a
	// batch of several records until bytes joins parts.
	body []byte
	// parts are the payloads of a batch of several records, sent as they
	// are by a client that takes parts (grpcClient: no copy).
	parts [][]byte
	// size is the length of the request in bytes.
	size int
	// meta is the client metadata block its records share (nil: none),
	// restored on the request (clientmeta.go).
	meta []byte
	// linkCharge is the link time charged for it (replay.max_bytes_per_second),
	// given back if it does not reach the backend.
	linkCharge time.Duration
}

// run is the dispatcher: the only goroutine that reads the log. It drives the
// online / offline / replaying state machine.
//
//   - online: batches are sent to the chosen endpoint with up to
//     sending.max_in_flight requests in flight. Batching is adaptive (see
//     nextBatch): while a slot is free, what is in the log is sent at once;
//     while every slot is busy, records accumulate into the next request;
//   - a retryable failure marks the endpoint down (exponential backoff with
//     jitter); the dispatcher waits for the requests in flight, rewinds the
//     reader to the first unacknowledged record and sends from there again,
//     to another endpoint if one is healthy;
//   - offline: no endpoint is eligible; records keep being appended, nothing is
//     dropped for age or attempts; when an endpoint's backoff expires the next
//     batch is sent to it alone as the probe;
//   - replaying: after an outage (or with a recovered backlog at start) the
//     backlog is sent in log order, paced by sending.replay_bytes_per_second,
//     until the reader catches up with the tail: then online again.
func (e *edgeExporter) run(ctx context.Context) {
	defer close(e.done)
	// With replay.order live_first the dispatcher reads the log's live
	// range (r) and its backlog (br) apart: live data first, the backlog
	// with at least replay.min_share of the bytes sent while both have data.
	liveFirst := e.cfg.Replay.Order == ReplayLiveFirst
	r := e.newReader(readAll)
	var br recordReader
	var carryB *wal.Record
	var sentLive, sentBacklog int64
	if liveFirst {
		r, br = e.newReader(readLive), e.newReader(readBacklog)
		if e.state.Load() == stateReplaying {
			e.beginLive.Store(true) // a backlog recovered at start
		}
	}
	var (
		wg      sync.WaitGroup
		carry   *wal.Record
		probing bool
	)
	slots := newInflightSlots(e.cfg.Sending.MaxInFlight)
	defer wg.Wait()

	for ctx.Err() == nil {
		if e.retryNeeded.Load() {
			wg.Wait()
			e.retryNeeded.Store(false)
			r.Rewind()
			carry = nil
			if br != nil {
				br.Rewind()
				carryB = nil
			}
			probing = true
		}
		if liveFirst && e.beginLive.Load() {
			// Nothing in flight while the readers' ranges change.
			wg.Wait()
			e.beginLive.Store(false)
			if e.beginLiveAll() > 0 {
				sentLive, sentBacklog = 0, 0
				e.sentLive.Store(0)
				e.sentBacklog.Store(0)
			}
			r.Rewind()
			br.Rewind()
			carry, carryB = nil, nil
		}

		if until, ok := e.eps.available(); !ok {
			e.setState(stateOffline)
			sleepUntil(ctx, until)
			continue
		}
		// Still offline while the probe is in flight: only a success (in
		// send) moves the state to replaying.

		// replay.max_bytes_per_second: choose the next request only when
		// the link budget allows one, so that live data that arrived
		// meanwhile competes for it (live_first).
		if e.cfg.Replay.MaxBytesPerSecond > 0 {
			// Link time of requests that failed (nothing reached the
			// backend) is given back, and the estimate of answered ones
			// corrected to their wire size.
			if d := e.linkRefund.Swap(0); d != 0 {
				e.linkNext = e.linkNext.Add(-time.Duration(d))
			}
			// Wait for the budget, but not past a failure: the state
			// machine (offline, probing) must see it at once.
			if wait := time.Until(e.linkNext); wait > 0 {
				sleepUntil(ctx, time.Now().Add(min(wait, 20*time.Millisecond)))
				continue
			}
		}

		var b *batch
		var caughtUp, backlog bool
		if liveFirst && e.liveStart() > 0 {
			// Both ranges: the backlog first when it is owed its share,
			// else live data first; each without waiting, then wait for
			// live data (the backlog does not grow).
			owed := float64(sentBacklog) < e.cfg.Replay.MinShare*float64(sentLive+sentBacklog)
			if owed {
				b, _ = e.nextBatch(ctx, br, &carryB, slots, false)
				backlog = b != nil
			}
			if b == nil {
				b, caughtUp = e.nextBatch(ctx, r, &carry, slots, false)
			}
			if b == nil && !owed {
				b, _ = e.nextBatch(ctx, br, &carryB, slots, false)
				backlog = b != nil
			}
			if b == nil {
				b, caughtUp = e.nextBatch(ctx, r, &carry, slots, true)
			}
			caughtUp = false // online only once the backlog is delivered
			if b != nil {
				if backlog {
					sentBacklog += int64(b.size)
					e.sentBacklog.Store(sentBacklog)
				} else {
					sentLive += int64(b.size)
					e.sentLive.Store(sentLive)
				}
			}
		} else {
			b, caughtUp = e.nextBatch(ctx, r, &carry, slots, true)
		}
		if b == nil {
			if caughtUp && e.state.Load() == stateReplaying && !e.retryNeeded.Load() {
				e.setState(stateOnline)
			}
			continue
		}
		// buffer.fsync always: nothing leaves before its group commit.
		if gate, seq := e.gate(b.seqs[len(b.seqs)-1]); !gate.wait(ctx, seq) {
			return
		}
		// Choose the endpoint only now: the set may have changed while the
		// batch was being collected.
		ep := e.eps.pick()
		if ep == nil {
			// Every endpoint went away meanwhile: read the batch again later.
			e.retryNeeded.Store(true)
			continue
		}
		replay := e.state.Load() != stateOnline
		if liveFirst && e.liveStart() > 0 {
			replay = backlog // live data is not replay: neither paced nor counted as such
		}
		if replay {
			e.pace(ctx, b.size)
		}
		b.linkCharge = e.chargeLink(b.size)
		if !slots.acquire(ctx) {
			return
		}
		if e.retryNeeded.Load() {
			// A request failed while this batch was being collected: sending
			// it now could put it before the failed one. Drop it; the rewind
			// reads it again after the failed records.
			slots.release()
			e.linkNext = e.linkNext.Add(-b.linkCharge)
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { slots.release(); wg.Done() }()
			e.send(ctx, ep, b, replay)
		}()
		if probing {
			// One request at a time until the link is proven again.
			wg.Wait()
			probing = e.retryNeeded.Load()
		}
		if caughtUp && !probing && e.state.Load() == stateReplaying {
			e.setState(stateOnline)
		}
	}
}

// bytes returns the request as one buffer, joining the parts of a batch of
// several records the first time.
func (b *batch) bytes() []byte {
	if b.body == nil && b.parts != nil {
		b.body = make([]byte, 0, b.size)
		for _, p := range b.parts {
			b.body = append(b.body, p...)
		}
	}
	return b.body
}

// partsClient is an endpointClient that sends a request given in parts
// without joining them.
type partsClient interface {
	exportParts(ctx context.Context, kind uint8, parts [][]byte) (exportResult, *sendError)
}

// nextBatch collects consecutive records of one kind up to the batch limits
// (sending.batch_max_items, sending.batch_max_bytes). Batching is adaptive:
//
//   - it takes every record already in the log, without waiting;
//   - then, if an in-flight slot is free, the batch is sent at once: an idle
//     link adds no batching delay, whatever sending.flush_interval;
//   - while every slot is busy, it waits for more records and sends them as
//     one request when a slot frees up, when the batch is full, or at the
//     latest sending.flush_interval after its first record was read (the
//     batch then waits for the next free slot as it is).
//
// Under saturation the batches fill up by themselves while the requests are
// in flight. It returns nil when no record arrived within
// sending.flush_interval (so the dispatcher checks its state at least that
// often); caughtUp reports that the reader reached the tail of the log.
//
// With block false it returns nil at once when the reader has nothing.
func (e *edgeExporter) nextBatch(ctx context.Context, r recordReader, carry **wal.Record, slots *inflightSlots, block bool) (*batch, bool) {
	wait := e.cfg.Sending.FlushInterval
	if wait <= 0 {
		wait = time.Millisecond
	}
	if !block && *carry == nil {
		rec, err := e.read(doneContext, r)
		if err != nil {
			e.readError(err)
			return nil, true
		}
		c := rec
		*carry = &c
	}

	var recs []wal.Record
	if *carry != nil {
		recs = append(recs, **carry)
		*carry = nil
	} else {
		dctx, cancel := context.WithTimeout(ctx, wait)
		rec, err := e.read(dctx, r)
		cancel()
		if err != nil {
			e.readError(err)
			return nil, true
		}
		recs = append(recs, rec)
	}
	deadline := time.Now().Add(wait)
	items, size := int(recs[0].Items), len(recs[0].Payload)
	caughtUp := false
	maxRecords := int(e.batchCap.Load())
	for items < e.cfg.Sending.BatchMaxItems && size < e.cfg.Sending.BatchMaxBytes && !e.retryNeeded.Load() &&
		(maxRecords == 0 || len(recs) < maxRecords) {
		// What is in the log already joins the batch.
		rec, err := e.read(doneContext, r)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				e.readError(err)
				caughtUp = true
				break
			}
			// Nothing more in the log now. With a free slot (or past
			// the deadline) send; otherwise wait for a record, a free
			// slot or the deadline, whichever comes first.
			if !time.Now().Before(deadline) {
				caughtUp = true
				break
			}
			wctx, cancel, free := slots.waitContext(ctx, deadline)
			if free {
				caughtUp = true
				break
			}
			rec, err = e.read(wctx, r)
			cancel()
			if err != nil {
				if ctx.Err() != nil || !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
					e.readError(err)
					caughtUp = true
					break
				}
				continue // a slot freed up, or the deadline: checked above
			}
		}
		if !samePartition(rec, recs[0]) || classOf(rec.Seq) != classOf(recs[0].Seq) || items+int(rec.Items) > e.cfg.Sending.BatchMaxItems || size+len(rec.Payload) > e.cfg.Sending.BatchMaxBytes {
			c := rec
			*carry = &c
			break
		}
		recs = append(recs, rec)
		items += int(rec.Items)
		size += len(rec.Payload)
	}

	b := &batch{kind: recs[0].Kind &^ kindMetadata, items: items, seqs: make([]uint64, len(recs))}
	b.meta, b.body = splitMetadata(recs[0])
	b.size = len(b.body)
	if len(recs) > 1 {
		// Joined only if the client needs one buffer (bytes).
		b.body, b.size = nil, 0
		b.parts = make([][]byte, len(recs))
		for i, rec := range recs {
			_, b.parts[i] = splitMetadata(rec)
			b.size += len(b.parts[i])
		}
	}
	for i, rec := range recs {
		b.seqs[i] = rec.Seq
	}
	return b, caughtUp
}

// read returns the next record, dropping (and counting) records older than
// buffer.max_age when it is set, and leaving out records held aside as
// suspected poison (see poisonTracker).
func (e *edgeExporter) read(ctx context.Context, r recordReader) (wal.Record, error) {
	for {
		rec, err := r.Next(ctx)
		if err != nil {
			return rec, err
		}
		if e.cfg.Buffer.MaxAge <= 0 || time.Since(rec.Time) <= e.cfg.Buffer.MaxAge {
			if e.poison.skip(rec.Seq) {
				continue
			}
			if rec.Kind&kindEncrypted != 0 {
				plain, err := e.decrypt(ctx, rec)
				if errors.Is(err, errRecordTampered) {
					continue // acknowledged and counted as corrupt
				}
				if err != nil {
					return rec, err
				}
				rec.Payload, rec.Kind = plain, rec.Kind&^kindEncrypted
			}
			return rec, nil
		}
		e.ack(rec.Seq)
		e.poison.done(rec.Seq)
		e.countDroppedSeq(context.Background(), rec.Seq, reasonMaxAge, int64(rec.Items))
		e.warnLimiter.warn(e.logger, "Dropped data older than buffer.max_age", zap.Duration("max_age", e.cfg.Buffer.MaxAge), zap.Time("appended", rec.Time))
	}
}

func (e *edgeExporter) readError(err error) {
	if err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, wal.ErrClosed) ||
		errors.Is(err, errKeyUnavailable) { // logged by decrypt
		return
	}
	e.tb.ExporterEdgeIoErrors.Add(context.Background(), 1)
	e.warnLimiter.warn(e.logger, "Could not read from the buffer", zap.Error(err))
}

// send exports one batch and acknowledges it unless the failure is retryable.
func (e *edgeExporter) send(ctx context.Context, ep *endpoint, b *batch, replay bool) {
	if probe := e.eps.beginProbe(ep); probe || e.eps.failing(ep) {
		ep.client.reconnect()
	}
	sctx, cancel := context.WithTimeout(withClientMetadata(ctx, b.meta), e.cfg.Timeout)
	started := e.eps.now()
	var res exportResult
	var serr *sendError
	if pc, ok := ep.client.(partsClient); ok && b.parts != nil {
		res, serr = pc.exportParts(sctx, b.kind, b.parts)
	} else {
		res, serr = ep.client.export(sctx, b.kind, b.bytes())
	}
	cancel()
	bg := context.Background()
	if serr != nil && serr.tooLarge {
		if len(b.seqs) > 1 {
			// The endpoint is fine (but not proven healthy if it was failing).
			e.eps.settle(ep)
			e.std.failedItems(b.kind, int64(b.items))
			e.bisect(b)
			e.warnLimiter.warn(e.logger, "Backend refused a request as too large; sending smaller batches",
				zap.String("endpoint", ep.id), zap.Int("records", len(b.seqs)), zap.Int("bytes", b.size), zap.Error(serr))
			return
		}
		// One record alone is too large for the backend: it can never be
		// delivered there, so it goes to the dead letter like any permanent error.
		serr.permanent = true
	}
	reason := reasonDeadLetter
	if serr != nil && serr.serverError && !serr.permanent {
		if len(b.seqs) > 1 {
			// The backend failed on this request, perhaps because of one of
			// its records: bisect, as for a request too large, so the good
			// records get through and a bad one ends up alone. The backend
			// answered: no backoff.
			e.eps.settle(ep)
			e.bisect(b)
			e.reportResult(ep, serr)
			e.tb.ExporterEdgeSendFailures.Add(bg, 1, endpointKindAttrs(ep.id, "retryable"))
			e.std.failedItems(b.kind, int64(b.items))
			e.warnLimiter.warn(e.logger, "Backend failed on a request; sending smaller batches",
				zap.String("endpoint", ep.id), zap.String("signal", kindName(b.kind)), zap.Int("records", len(b.seqs)), zap.Error(serr))
			return
		}
		if limit := e.cfg.Retry.MaxAttemptsPerRecord; limit > 0 {
			giveUp, held := e.poison.serverError(b.seqs[0], limit)
			if giveUp {
				// The backend accepts other data and still fails on this
				// record alone: it would hold up the log forever. Give it
				// up (below).
				serr.permanent = true
				reason = reasonPoison
			} else if held {
				e.logger.Warn("Backend keeps failing on a record; holding it aside and sending the data behind it",
					zap.String("endpoint", ep.id), zap.String("signal", kindName(b.kind)), zap.Int("items", b.items),
					zap.Int("attempts", limit), zap.Error(serr))
			}
		}
	}
	if serr != nil && !serr.permanent {
		if !serr.serverError {
			e.poison.outage()
		}
		e.linkRefund.Add(int64(b.linkCharge))
		// The backend's Retry-After / RetryInfo is honoured up to
		// retry.max_interval: a backend cannot park an endpoint for longer
		// than the exporter's own backoff would.
		// One line when the endpoint goes down; the failures that follow are
		// counted and shown by the offline summary (offline.go).
		hint := capRetryAfter(serr.retryAfter, e.cfg.Retry.MaxInterval)
		if ctx.Err() == nil {
			fields := []zap.Field{zap.String("signal", kindName(b.kind))}
			if serr.retryAfter > 0 {
				fields = append(fields, zap.Duration("retry_after", serr.retryAfter), zap.Duration("retry_after_honoured", hint))
			}
			e.endpointFailed(ep, serr, hint, started, fields...)
			e.reportResult(ep, serr)
		} else {
			e.eps.failure(ep, serr, hint, started)
		}
		e.retryNeeded.Store(true)
		if ctx.Err() == nil {
			e.tb.ExporterEdgeSendFailures.Add(bg, 1, endpointKindAttrs(ep.id, "retryable"))
			e.std.failedItems(b.kind, int64(b.items))
		}
		return
	}
	// The endpoint answered: good for its health, whatever it said of the data.
	e.reportResult(ep, nil)
	e.observeWire(b.size, res.wireBytes)
	if rate := e.cfg.Replay.MaxBytesPerSecond; rate > 0 && b.linkCharge > 0 && res.wireBytes > 0 {
		// Charge what the request took on the wire, not the estimate.
		actual := time.Duration(float64(res.wireBytes) / float64(rate) * float64(time.Second))
		e.linkRefund.Add(int64(b.linkCharge - actual))
	}
	e.endpointOK(ep)
	if e.state.Load() == stateOffline {
		// The link is back: replay the backlog (live_first: data appended
		// from now on goes first).
		e.setState(stateReplaying)
		e.beginLive.Store(true)
	}
	if serr != nil {
		// The backend will never accept this request: keep it in the
		// dead-letter files, count it, and move on.
		kind := "permanent"
		if reason == reasonPoison {
			kind = "retryable" // the same answer as the attempts before
		}
		e.tb.ExporterEdgeSendFailures.Add(bg, 1, endpointKindAttrs(ep.id, kind))
		e.std.failedItems(b.kind, int64(b.items))
		e.countDroppedSeq(bg, b.seqs[0], reason, int64(b.items))
		written := false
		if e.deadLetter != nil {
			if err := e.deadLetter.write(b.kind, b.bytes()); err != nil {
				e.warnLimiter.warn(e.logger, "Dead-letter file not written", zap.String("signal", kindName(b.kind)), zap.Int("items", b.items), zap.Error(err))
			} else {
				written = true
			}
		}
		msg := "Export rejected permanently"
		if reason == reasonPoison {
			msg = fmt.Sprintf("Backend failed on a record alone %d times while accepting other data, gave it up as poison", e.cfg.Retry.MaxAttemptsPerRecord+1)
		}
		e.logger.Error(msg, zap.String("endpoint", ep.id), zap.String("signal", kindName(b.kind)), zap.Int("items", b.items),
			zap.Bool("dead_letter_written", written), zap.Error(serr))
		e.poison.done(b.seqs...)
	} else {
		e.batchCap.Store(0)
		if e.poison.heldCount() > 0 {
			// Held records evicted for the budget meanwhile are gone.
			e.poisonDoneThrough()
		}
		if e.poison.accepted(b.seqs) {
			// The backend accepts other data: go back to the records held
			// aside and send each alone once more.
			e.batchCap.Store(1)
			e.retryNeeded.Store(true)
		}
		accepted := int64(b.items)
		if res.rejected > 0 {
			rej := min(res.rejected, accepted)
			accepted -= rej
			e.countDroppedSeq(bg, b.seqs[0], reasonRejected, rej)
			e.std.failedItems(b.kind, rej)
			e.warnLimiter.warn(e.logger, "Backend rejected part of a request (partial success)",
				zap.String("endpoint", ep.id), zap.String("signal", kindName(b.kind)), zap.Int64("rejected", rej), zap.String("message", res.message))
		}
		e.tb.ExporterEdgeItemsSent.Add(bg, accepted, e.signalAttrs[b.kind])
		e.std.sentItems(b.kind, accepted)
		phase := e.phaseLive
		if replay {
			phase = e.phaseReplay
			e.report.replayed(uint64(accepted))
		}
		e.tb.ExporterEdgeBytesSent.Add(bg, int64(b.size), phase)
	}
	// One call: the cursor file is written once per request.
	e.ack(b.seqs...)
}

// bisect makes the dispatcher send the records of b again, from the first
// unacknowledged record on, in batches of half as many records (until the
// next success resets the cap).
func (e *edgeExporter) bisect(b *batch) {
	e.batchCap.Store(int64(max(1, len(b.seqs)/2)))
	e.retryNeeded.Store(true)
}

// pace sleeps so that replayed bytes stay under sending.replay_bytes_per_second.
func (e *edgeExporter) pace(ctx context.Context, n int) {
	rate := e.cfg.Sending.ReplayBytesPerSecond
	if rate <= 0 {
		return
	}
	now := time.Now()
	if e.paceNext.Before(now) {
		e.paceNext = now
	}
	start := e.paceNext
	e.paceNext = e.paceNext.Add(time.Duration(float64(n) / float64(rate) * float64(time.Second)))
	sleepUntil(ctx, start)
}

// chargeLink counts a request of n body bytes against the link budget
// (replay.max_bytes_per_second): the next request is chosen once its wire
// bytes have passed at that rate. The wire size is not known before the
// request is compressed and sent, so n is scaled by the ratio of wire to
// body bytes of the recent answered requests (observeWire; 1 before the
// first).
func (e *edgeExporter) chargeLink(n int) time.Duration {
	rate := e.cfg.Replay.MaxBytesPerSecond
	if rate <= 0 {
		return 0
	}
	ratio := 1.0
	if r := math.Float64frombits(e.wireRatio.Load()); r > 0 {
		ratio = r
	}
	now := time.Now()
	if e.linkNext.Before(now) {
		e.linkNext = now
	}
	d := time.Duration(float64(n) * ratio / float64(rate) * float64(time.Second))
	e.linkNext = e.linkNext.Add(d)
	return d
}

// observeWire folds the wire size of an answered request of body bytes into
// wireRatio: decayed sums of wire and body bytes (factor 0.8 a request), so
// the ratio is weighted by bytes and a stream of tiny requests (live data,
// whose gzip header outweighs what it saves) does not make the large backlog
// requests look incompressible.
func (e *edgeExporter) observeWire(body, wire int) {
	if e.cfg.Replay.MaxBytesPerSecond <= 0 || body <= 0 || wire <= 0 {
		return
	}
	e.wireMu.Lock()
	e.wireSum = 0.8*e.wireSum + float64(wire)
	e.bodySum = 0.8*e.bodySum + float64(body)
	r := e.wireSum / e.bodySum
	e.wireMu.Unlock()
	e.wireRatio.Store(math.Float64bits(r))
}

func sleepUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}
