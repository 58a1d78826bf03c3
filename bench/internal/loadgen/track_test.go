// SPDX-License-Identifier: Apache-2.0

package loadgen

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/otelcol-edge/otelcol-edge/bench/internal/otlpwire"
	"github.com/otelcol-edge/otelcol-edge/bench/internal/payload"
	"github.com/otelcol-edge/otelcol-edge/bench/internal/procstat"
	"github.com/otelcol-edge/otelcol-edge/bench/internal/sink"
)

// TestTrackedIDsAndInjectedErrors: the IDs reported by OnAccepted are exactly
// the IDs the sink counts, and the sink's injected errors reject every n-th
// request (those spans are neither accepted nor counted as received).
func TestTrackedIDsAndInjectedErrors(t *testing.T) {
	ports, err := procstat.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	sk := sink.New(fmt.Sprintf("127.0.0.1:%d", ports[0]))
	sk.TrackIDs(true)
	sk.FailEvery(5, codes.InvalidArgument)
	if err := sk.Start(); err != nil {
		t.Fatal(err)
	}
	defer sk.Stop()
	req, err := payload.Build(100)
	if err != nil {
		t.Fatal(err)
	}
	offs, err := otlpwire.IDOffsets(req)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var acked []uint64
	var progress atomic.Int64
	res, err := Run(context.Background(), Config{
		Endpoint: sk.Addr(), Payload: req, Connections: 2, Workers: 2,
		Duration: 20 * time.Second, MaxSpans: 10_000, UniqueIDs: true,
		Progress: &progress,
		OnAccepted: func(b []byte) {
			mu.Lock()
			for _, o := range offs {
				acked = append(acked, otlpwire.SpanID(b, o.Span))
			}
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// 100 requests, every 5th rejected.
	if res.Accepted != 8_000 || res.Rejected != 2_000 || progress.Load() != 8_000 {
		t.Fatalf("accepted %d rejected %d progress %d", res.Accepted, res.Rejected, progress.Load())
	}
	if sk.FailedSpans() != 2_000 || sk.FailedRequests() != 20 || sk.Spans() != 8_000 {
		t.Fatalf("sink: failed %d spans in %d requests, received %d", sk.FailedSpans(), sk.FailedRequests(), sk.Spans())
	}
	if int64(len(acked)) != res.Accepted || sk.UniqueSpans() != res.Accepted || sk.DuplicateSpans() != 0 {
		t.Fatalf("acked IDs %d, unique at the sink %d, duplicates %d", len(acked), sk.UniqueSpans(), sk.DuplicateSpans())
	}
	missing := 0
	sk.IDCounts(acked, func(_ int, n uint32) {
		if n != 1 {
			missing++
		}
	})
	if missing != 0 {
		t.Fatalf("%d acknowledged IDs not received exactly once", missing)
	}
	// Kill and restart: the sink keeps its counts; Reset clears them.
	sk.Kill()
	if sk.Running() {
		t.Fatal("running after Kill")
	}
	if err := sk.Start(); err != nil {
		t.Fatal(err)
	}
	sk.Reset()
	if sk.UniqueSpans() != 0 || sk.Spans() != 0 {
		t.Fatal("Reset kept counts")
	}
}
