// SPDX-License-Identifier: Apache-2.0

package edgeexporter

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"
)

// TestTenMinuteOutageLogLines: ten minutes of outage on a fake clock, with
// the dispatcher's pattern of one attempt per endpoint whenever its backoff
// expires (retry 1s..30s, two endpoints) and a summary interval of one
// minute, log exactly: one "Endpoint down" per endpoint (with its reason),
// ten "Offline summary" lines (each with every field), and one "Endpoint up"
// per endpoint (with the outage's length and the failed attempts). Hundreds
// of failed attempts add nothing.
func TestTenMinuteOutageLogLines(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	now := time.Unix(1_700_000_000, 0).UTC()
	clock := func() time.Time { return now }
	retry := RetryConfig{InitialInterval: time.Second, MaxInterval: 30 * time.Second, Multiplier: 1.5, RandomizationFactor: 0.5}
	e := &edgeExporter{logger: zap.New(core), eps: newEndpointSet(BalancingFailover, retry)}
	e.eps.now = clock
	a, b := &endpoint{id: "a:4317", weight: 1}, &endpoint{id: "b:4317", weight: 1}
	e.eps.setEndpoints([]*endpoint{a, b})
	// Both served until now.
	e.endpointOK(a)
	e.endpointOK(b)

	start := now
	e.report.stateChanged(stateOnline, stateOffline, now, 0)
	refused := errors.New(`rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp 10.0.0.1:4317: connect: connection refused"`)
	st := wal.Stats{DiskBytes: 64 << 20, PendingItems: 120_000, OldestPending: start}
	attempts := 0
	for now.Sub(start) <= 10*time.Minute {
		for _, ep := range []*endpoint{a, b} {
			if ep.healthy(now) {
				require.True(t, ep.state == epHealthy || e.eps.beginProbe(ep))
				e.endpointFailed(ep, refused, 0, time.Time{})
				attempts++
			}
		}
		if now.Sub(start)%(7*time.Second) == 0 {
			e.report.dropped(wal.DropReasonBudget, 10)
		}
		if e.report.summaryDue(now, time.Minute) {
			s := e.report.summary(now, stateOffline, st, 256<<20, e.eps.views(), true)
			e.logger.Info("Offline summary", s.fields()...)
		}
		now = now.Add(100 * time.Millisecond)
	}
	now = start.Add(10 * time.Minute)
	for _, ep := range []*endpoint{a, b} {
		e.eps.beginProbe(ep)
		e.endpointOK(ep)
	}

	require.Greater(t, attempts, 40, "the outage must have produced many failed attempts")
	lines := logs.All()
	require.Len(t, lines, 2+10+2, "lines: %v", messages(lines))
	for i, l := range lines {
		t.Run(fmt.Sprintf("line %d %s", i, l.Message), func(t *testing.T) {
			f := l.ContextMap()
			switch {
			case i < 2:
				assert.Equal(t, "Endpoint down", l.Message)
				assert.Equal(t, zapcore.WarnLevel, l.Level)
				assert.Equal(t, []string{"a:4317", "b:4317"}[i], f["endpoint"])
				assert.Contains(t, f["reason"], "connection refused")
			case i < 12:
				assert.Equal(t, "Offline summary", l.Message)
				assert.Equal(t, "offline", f["state"])
				assert.Equal(t, start, f["offline_since"])
				assert.Equal(t, (time.Duration(i-1) * time.Minute).String(), f["offline_for"])
				assert.Equal(t, int64(64<<20), f["backlog_bytes"])
				assert.Equal(t, uint64(120_000), f["backlog_items"])
				assert.Equal(t, (time.Duration(i-1) * time.Minute).String(), f["oldest_age"])
				assert.Equal(t, 25.0, f["budget_used_percent"])
				// 60 s / 7 s: 8 or 9 drops of 10 items in each minute.
				d := f["dropped_since_last_summary"].(map[string]uint64)[wal.DropReasonBudget]
				assert.True(t, d == 80 || d == 90, "dropped %d", d)
				eps := f["endpoints"].(map[string]string)
				assert.Contains(t, []string{"failing", "probing"}, eps["a:4317"])
				assert.Contains(t, []string{"failing", "probing"}, eps["b:4317"])
			default:
				assert.Equal(t, "Endpoint up", l.Message)
				assert.Equal(t, []string{"a:4317", "b:4317"}[i-12], f["endpoint"])
				assert.Equal(t, "10m0s", f["outage"])
				assert.Greater(t, f["failed_attempts"], int64(10))
			}
		})
	}
}

func messages(entries []observer.LoggedEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Message
	}
	return out
}

// TestReplaySummary: while replaying, the summary tells the progress against
// the backlog when the replay started and the time left at the rate so far.
func TestReplaySummary(t *testing.T) {
	var r offlineReport
	t0 := time.Unix(1_700_000_000, 0).UTC()
	r.stateChanged(stateOnline, stateOffline, t0, 1000)
	r.stateChanged(stateOffline, stateReplaying, t0.Add(time.Hour), 1000)
	r.replayed(250)
	s := r.summary(t0.Add(time.Hour+10*time.Second), stateReplaying, wal.Stats{PendingItems: 750}, 0, nil, true)
	require.NotNil(t, s.Replay)
	assert.Equal(t, 25.0, s.Replay.Percent)
	assert.Equal(t, "30s", s.Replay.ETA) // 750 items at 25 items/s
	assert.Nil(t, s.BudgetUsedPercent)
	assert.Equal(t, "1h0m10s", s.OfflineFor)
	r.stateChanged(stateReplaying, stateOnline, t0.Add(2*time.Hour), 0)
	assert.False(t, r.summaryDue(t0.Add(3*time.Hour), time.Minute), "no summary while online")
}

// TestGRPCConnectFailuresFiltered: the gRPC core's connection failures to an
// edge endpoint's address are left out and counted; the same message for
// another address, and every other message, pass with the collector's fields.
func TestGRPCConnectFailuresFiltered(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	f := &grpcAddrFilter{addrs: map[string]int{}}
	f.add("127.0.0.1:4319")
	l := &filteredGRPCLogger{next: newCollectorGRPCLogger(zap.New(core)), f: f}
	ours := `[Channel #1 SubChannel #2]grpc: addrConn.createTransport failed to connect to {Addr: "127.0.0.1:4319", ServerName: "127.0.0.1:4319", BalancerAttributes: {"<%!p(pickfirstleaf.managedByPickfirstKeyType={})>": "<%!p(bool=true)>" }}. Err: connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:4319: connect: connection refused"`
	theirs := `[Channel #5 SubChannel #6]grpc: addrConn.createTransport failed to connect to {Addr: "10.1.2.3:4317", ServerName: "10.1.2.3:4317", }. Err: connection error`
	for range 100 {
		l.Warningln("[core]", ours)
	}
	l.Warningln("[core]", theirs)
	l.Errorf("[transport] %s", "something else broke")
	l.Infoln("[core]", "below the level: not written")
	assert.Equal(t, uint64(100), f.suppressed.Load())
	require.Equal(t, 2, logs.Len(), "%v", messages(logs.All()))
	assert.Contains(t, logs.All()[0].Message, "10.1.2.3:4317")
	assert.Equal(t, true, logs.All()[0].ContextMap()["grpc_log"])
	assert.Equal(t, zapcore.ErrorLevel, logs.All()[1].Level)

	f.remove("127.0.0.1:4319")
	l.Warningln("[core]", ours)
	assert.Equal(t, 3, logs.Len(), "an address no longer used is not filtered")
}
