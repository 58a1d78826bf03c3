// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"context"
	"math"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"
)

// What an operator sees while the exporter is offline, whatever the length of
// the outage (issue #18):
//
//   - one line per state change of each endpoint: "Endpoint down" (with the
//     reason) when a healthy endpoint fails, "Endpoint up" (with the outage's
//     length and the failed attempts) when a request or probe to a failing
//     endpoint succeeds; the failures in between are counted, not logged;
//   - one line per change of the exporter's state (online, offline,
//     replaying);
//   - at most one "Offline summary" line per status.summary_interval while
//     offline or replaying (offlineReport.summary);
//   - the same summary as JSON on the status endpoint (statusserver.go).

// offlineReport accumulates what the summary tells between two summaries.
// Pure state, handed the current time by its callers.
type offlineReport struct {
	mu sync.Mutex
	// since is when the exporter last left the online state (zero: online).
	since time.Time
	// lastSummary is when the last summary was logged (or since).
	lastSummary time.Time
	// drops are the items dropped since the last summary, by reason.
	drops map[string]uint64
	// replay progress, from the moment the backlog started draining.
	replayStart      time.Time
	replayStartItems uint64
	replayedItems    uint64
}

// stateChanged follows the exporter's state.
func (r *offlineReport) stateChanged(from, to int32, now time.Time, pendingItems uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if to != stateOnline && r.since.IsZero() {
		r.since, r.lastSummary = now, now
		clear(r.drops)
	}
	if to == stateReplaying && from != stateReplaying {
		r.replayStart, r.replayStartItems, r.replayedItems = now, pendingItems, 0
	}
	if to == stateOnline {
		r.since = time.Time{}
		r.replayStart = time.Time{}
	}
}

// recoveredBacklog starts the replay of the backlog found at start. Unlike
// stateChanged it keeps the drops counted while the logs were opened
// (corruption found by recovery, in any class): they belong to this period.
func (r *offlineReport) recoveredBacklog(now time.Time, pendingItems uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.since, r.lastSummary = now, now
	r.replayStart, r.replayStartItems, r.replayedItems = now, pendingItems, 0
}

// dropped counts items dropped for reason.
func (r *offlineReport) dropped(reason string, items uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.drops == nil {
		r.drops = map[string]uint64{}
	}
	r.drops[reason] += items
}

// replayed counts items a backend accepted while replaying.
func (r *offlineReport) replayed(items uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.replayStart.IsZero() {
		r.replayedItems += items
	}
}

// summaryDue reports whether a summary line is due at now: offline or
// replaying, and interval elapsed since the last one (or since going offline).
func (r *offlineReport) summaryDue(now time.Time, interval time.Duration) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return interval > 0 && !r.since.IsZero() && now.Sub(r.lastSummary) >= interval
}

// offlineSummary is the summary line's content and the status page's JSON.
type offlineSummary struct {
	// State is online, offline or replaying.
	State string `json:"state"`
	// OfflineSince is when the exporter left the online state (absent while online).
	OfflineSince time.Time `json:"offline_since,omitzero"`
	// OfflineFor is the time since then, rounded to the second.
	OfflineFor string `json:"offline_for,omitempty"`
	// BacklogBytes are the bytes of the log on disk.
	BacklogBytes int64 `json:"backlog_bytes"`
	// BacklogItems are the items not yet acknowledged by a backend.
	BacklogItems uint64 `json:"backlog_items"`
	// OldestAge is the age of the oldest of them, rounded to the second.
	OldestAge string `json:"oldest_age"`
	// BudgetUsedPercent is BacklogBytes against the log's budget (absent
	// without a budget).
	BudgetUsedPercent *float64 `json:"budget_used_percent,omitempty"`
	// Dropped are the items dropped since the last summary line, by reason.
	Dropped map[string]uint64 `json:"dropped_since_last_summary"`
	// Replay is the progress of the replay (only while replaying).
	Replay *replayProgress `json:"replay,omitempty"`
	// LiveFirst is the split of the link between live data and backlog
	// since the live range opened (replay.order live_first, only while
	// the range is open).
	LiveFirst *liveFirstProgress `json:"live_first,omitempty"`
	// Classes are the priority classes, highest first (buffer.priorities;
	// absent without classes).
	Classes []classView `json:"classes,omitempty"`
	// Endpoints are the endpoints and their states.
	Endpoints []endpointView `json:"endpoints"`
}

// liveFirstProgress is the split of the bytes sent since the live range
// opened (uncompressed protobuf bytes of the requests, as bytes_sent).
type liveFirstProgress struct {
	LiveBytes    int64 `json:"live_bytes"`
	BacklogBytes int64 `json:"backlog_bytes"`
	// BacklogShare is BacklogBytes against both (what replay.min_share
	// guarantees while live data keeps the link busy).
	BacklogShare float64 `json:"backlog_share"`
	MinShare     float64 `json:"min_share"`
}

// replayProgress tells how far the replay of the backlog is.
type replayProgress struct {
	// Since is when the replay started.
	Since time.Time `json:"since"`
	// ReplayedItems were accepted by a backend since then.
	ReplayedItems uint64 `json:"replayed_items"`
	// Percent is ReplayedItems against the backlog when the replay started.
	Percent float64 `json:"percent"`
	// ETA is the time left at the rate so far ("" before anything was replayed).
	ETA string `json:"eta,omitempty"`
}

// summary builds the summary at now; take resets the drops counted since the
// last summary (the summary line does, the status page does not).
func (r *offlineReport) summary(now time.Time, state int32, st wal.Stats, budget int64, eps []endpointView, take bool) offlineSummary {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := offlineSummary{
		State:        stateName(state),
		BacklogBytes: st.DiskBytes,
		BacklogItems: st.PendingItems,
		OldestAge:    "0s",
		Dropped:      map[string]uint64{},
		Endpoints:    eps,
	}
	if s.Endpoints == nil {
		s.Endpoints = []endpointView{}
	}
	if !r.since.IsZero() {
		s.OfflineSince = r.since
		s.OfflineFor = now.Sub(r.since).Round(time.Second).String()
	}
	if !st.OldestPending.IsZero() {
		s.OldestAge = max(0, now.Sub(st.OldestPending)).Round(time.Second).String()
	}
	if budget > 0 {
		p := math.Round(float64(st.DiskBytes)*1000/float64(budget)) / 10
		s.BudgetUsedPercent = &p
	}
	for k, v := range r.drops {
		s.Dropped[k] = v
	}
	if state == stateReplaying && !r.replayStart.IsZero() {
		p := &replayProgress{Since: r.replayStart, ReplayedItems: r.replayedItems, Percent: 100}
		if r.replayStartItems > 0 {
			p.Percent = math.Min(100, math.Round(float64(r.replayedItems)*1000/float64(r.replayStartItems))/10)
		}
		if elapsed := now.Sub(r.replayStart); r.replayedItems > 0 && elapsed > 0 {
			rate := float64(r.replayedItems) / elapsed.Seconds()
			p.ETA = time.Duration(float64(st.PendingItems) / rate * float64(time.Second)).Round(time.Second).String()
		}
		s.Replay = p
	}
	if take {
		clear(r.drops)
		r.lastSummary = now
	}
	return s
}

// fields renders the summary as the fields of the summary line.
func (s offlineSummary) fields() []zap.Field {
	fs := []zap.Field{
		zap.String("state", s.State),
		zap.Time("offline_since", s.OfflineSince),
		zap.String("offline_for", s.OfflineFor),
		zap.Int64("backlog_bytes", s.BacklogBytes),
		zap.Uint64("backlog_items", s.BacklogItems),
		zap.String("oldest_age", s.OldestAge),
	}
	if s.BudgetUsedPercent != nil {
		fs = append(fs, zap.Float64("budget_used_percent", *s.BudgetUsedPercent))
	}
	fs = append(fs, zap.Any("dropped_since_last_summary", s.Dropped))
	if s.LiveFirst != nil {
		fs = append(fs, zap.Int64("live_bytes", s.LiveFirst.LiveBytes), zap.Int64("backlog_bytes_sent", s.LiveFirst.BacklogBytes),
			zap.Float64("backlog_share", s.LiveFirst.BacklogShare))
	}
	if s.Replay != nil {
		fs = append(fs, zap.Float64("replay_percent", s.Replay.Percent), zap.Uint64("replayed_items", s.Replay.ReplayedItems))
		if s.Replay.ETA != "" {
			fs = append(fs, zap.String("replay_eta", s.Replay.ETA))
		}
	}
	eps := make(map[string]string, len(s.Endpoints))
	for _, e := range s.Endpoints {
		eps[e.ID] = e.State
	}
	return append(fs, zap.Any("endpoints", eps))
}

// currentSummary is the summary of the running exporter now.
func (e *edgeExporter) currentSummary(take bool) offlineSummary {
	s := e.report.summary(time.Now(), e.state.Load(), e.stats(), e.cfg.Buffer.logMaxBytes(), e.eps.views(), take)
	s.Classes = e.classViews()
	if e.cfg.Replay.Order == ReplayLiveFirst && e.liveStart() > 0 {
		p := &liveFirstProgress{LiveBytes: e.sentLive.Load(), BacklogBytes: e.sentBacklog.Load(), MinShare: e.cfg.Replay.MinShare}
		if tot := p.LiveBytes + p.BacklogBytes; tot > 0 {
			p.BacklogShare = math.Round(float64(p.BacklogBytes)*1000/float64(tot)) / 1000
		}
		s.LiveFirst = p
	}
	return s
}

// countDropped counts items dropped after they were accepted: the metric
// and the next summary.
func (e *edgeExporter) countDropped(ctx context.Context, reason string, items int64) {
	e.tb.ExporterEdgeItemsDropped.Add(ctx, items, e.reasonAttr(reason))
	e.report.dropped(reason, uint64(items))
}

// endpointOK records a request or probe to ep that succeeded, and logs the
// end of its outage.
func (e *edgeExporter) endpointOK(ep *endpoint) {
	if up, outage, attempts := e.eps.success(ep); up {
		e.logger.Info("Endpoint up", zap.String("endpoint", ep.id),
			zap.String("outage", outage.Round(time.Millisecond).String()), zap.Int("failed_attempts", attempts))
	}
}

// endpointFailed records a retryable failure of a request or probe to ep, and
// logs the start of an outage (only then: the failures that follow are
// counted, and shown by the summary and the status page).
func (e *edgeExporter) endpointFailed(ep *endpoint, err error, hint time.Duration, started time.Time, fields ...zap.Field) {
	if e.eps.failure(ep, err, hint, started) {
		e.logger.Warn("Endpoint down", append([]zap.Field{zap.String("endpoint", ep.id), zap.String("reason", err.Error())}, fields...)...)
	}
}

// runStatus logs the summary while offline or replaying and probes idle
// endpoints: failing ones whose backoff expired, healthy ones that got
// nothing for retry.max_interval. It probes only while the log is empty: with
// data pending the dispatcher's next request is the probe.
func (e *edgeExporter) runStatus(ctx context.Context, wg *sync.WaitGroup) {
	tick := min(max(e.cfg.Retry.InitialInterval/2, 10*time.Millisecond), time.Second)
	if iv := e.cfg.Status.SummaryInterval; iv > 0 {
		tick = min(tick, max(iv/10, 10*time.Millisecond))
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if e.report.summaryDue(time.Now(), e.cfg.Status.SummaryInterval) {
			e.logger.Info("Offline summary", e.currentSummary(true).fields()...)
		}
		if e.stats().PendingRecords > 0 {
			continue
		}
		for _, ep := range e.eps.probeCandidates(e.cfg.Retry.MaxInterval) {
			wg.Go(func() { e.probe(ctx, ep) })
		}
	}
}

// probe sends an empty export request to ep. Any answer of the backend,
// even an error about the request, proves the endpoint reachable; only what a
// request would be retried for marks it failing.
func (e *edgeExporter) probe(ctx context.Context, ep *endpoint) {
	if e.eps.failing(ep) {
		ep.client.reconnect()
	}
	pctx, cancel := context.WithTimeout(context.WithValue(ctx, probeKey{}, true), e.cfg.Timeout)
	started := e.eps.now()
	_, serr := ep.client.export(pctx, kindTraces, nil)
	cancel()
	if ctx.Err() != nil {
		return
	}
	if serr != nil && !serr.permanent && !serr.serverError && !serr.tooLarge {
		e.endpointFailed(ep, serr, capRetryAfter(serr.retryAfter, e.cfg.Retry.MaxInterval), started, zap.Bool("probe", true))
		e.reportResult(ep, serr)
		return
	}
	e.endpointOK(ep)
	e.reportResult(ep, nil)
	if e.state.Load() == stateOffline {
		e.setState(stateReplaying)
		e.beginLive.Store(true)
	}
}

// probeKey marks the context of a probe request.
type probeKey struct{}

func isProbe(ctx context.Context) bool {
	v, _ := ctx.Value(probeKey{}).(bool)
	return v
}
