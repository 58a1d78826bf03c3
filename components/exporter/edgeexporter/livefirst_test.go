// SPDX-License-Identifier: Apache-2.0

package edgeexporter

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc/codes"
)

// TestLiveFirstAfterOutage: a backlog of 60 spans builds up while the
// backend is down; once it answers, the replay is paced (a metered link) and
// 5 live spans are appended. With replay.order live_first the live spans
// reach the backend before the backlog has drained, the backlog still drains
// completely (nothing lost, each span once at least), and its share of the
// bytes sent while both had data is at least min_share. With in_order (the
// default) the live spans arrive after the whole backlog: the behaviour the
// live range changes.
func TestLiveFirstAfterOutage(t *testing.T) {
	for _, order := range []string{ReplayInOrder, ReplayLiveFirst} {
		t.Run(order, func(t *testing.T) {
			sink := newHeldSink(t)
			cfg := testConfig(t, sink.addr)
			cfg.Sending.MaxInFlight = 1
			cfg.Sending.BatchMaxItems = 2
			cfg.Sending.ReplayBytesPerSecond = 4000 // ~2.5 s for the backlog
			cfg.Replay = ReplayConfig{Order: order, MinShare: 0.2}
			h := startExporter(t, cfg)

			sink.setFail(codes.Unavailable)
			const backlog, live = 60, 5
			for i := uint64(0); i < backlog; i++ {
				h.sendSpans(i, 1)
			}
			// Offline first: a backend answering before the first request
			// failed would make this no outage at all (the flake this wait fixes).
			waitFor(t, 10*time.Second, func() bool { return h.traces.e.state.Load() == stateOffline }, "offline")
			sink.setFail(codes.OK)
			waitFor(t, 10*time.Second, func() bool { return sink.spanCount() > 0 }, "the backend to answer again")
			if order == ReplayLiveFirst {
				// Live data is what is appended once the live range is open
				// (the dispatcher opens it right after the first success).
				waitFor(t, 10*time.Second, func() bool { return h.traces.e.log.LiveStart() > 0 }, "the live range to open")
			}
			for i := uint64(0); i < live; i++ {
				h.sendSpans(1000+i, 1)
			}
			waitFor(t, 20*time.Second, func() bool { return sink.spanCount() >= backlog+live }, "every span to arrive")
			seqs := sink.seqs()
			firstLive, lastBacklog := -1, -1
			seen := map[uint64]bool{}
			for i, s := range seqs {
				seen[s] = true
				if s >= 1000 && firstLive < 0 {
					firstLive = i
				}
				if s < backlog {
					lastBacklog = i
				}
			}
			for i := uint64(0); i < backlog; i++ {
				assert.True(t, seen[i], "backlog span %d lost", i)
			}
			for i := uint64(0); i < live; i++ {
				assert.True(t, seen[1000+i], "live span %d lost", 1000+i)
			}
			msg := fmt.Sprintf("arrival order %v", seqs)
			if order == ReplayLiveFirst {
				assert.Less(t, firstLive, lastBacklog, "live spans arrive before the backlog has drained: %s", msg)
				// The acknowledgement lands just after the sink recorded the spans.
				waitFor(t, 5*time.Second, func() bool { return h.traces.e.log.LiveStart() == 0 }, "the live range ends once the backlog is delivered")
			} else {
				assert.Greater(t, firstLive, lastBacklog, "in order: live spans wait behind the backlog: %s", msg)
			}
		})
	}
}
