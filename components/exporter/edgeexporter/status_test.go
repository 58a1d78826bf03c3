// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/metadatatest"
)

// TestStatusReachesEveryPipeline: the exporter shared by the traces, metrics
// and logs instances reports going offline (a recoverable error) and coming
// back (OK) to the host of each instance, not only to the first one started.
func TestStatusReachesEveryPipeline(t *testing.T) {
	sink := newStoppedSink(t)
	cfg := testConfig(t, sink.addr)
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tt.Shutdown(context.Background()) })
	e, err := newEdgeExporter(metadatatest.NewSettings(tt), cfg)
	require.NoError(t, err)
	te := &tracesExporter{signalExporter{e}}
	me := &metricsExporter{signalExporter{e}}
	le := &logsExporter{signalExporter{e}}
	hosts := []*statusHost{{}, {}, {}}
	for i, s := range []signalExporter{te.signalExporter, me.signalExporter, le.signalExporter} {
		require.NoError(t, s.Start(context.Background(), hosts[i]))
		t.Cleanup(func() { assert.NoError(t, s.Shutdown(context.Background())) })
	}
	h := &harness{t: t, tt: tt, traces: te}

	h.sendSpans(0, 10)
	for i, host := range hosts {
		waitFor(t, 5*time.Second, func() bool {
			ev := host.last()
			return ev != nil && ev.Status() == componentstatus.StatusRecoverableError
		}, "pipeline instance %d: recoverable error while offline", i)
		st, _ := host.last().Attributes().Get("edge.state")
		assert.Equal(t, "offline", st.Str(), "pipeline instance %d: edge.state", i)
	}
	sink.start()
	waitFor(t, 10*time.Second, func() bool { return sink.spanCount() == 10 }, "delivery after the outage")
	for i, host := range hosts {
		waitFor(t, 5*time.Second, func() bool {
			ev := host.last()
			return ev != nil && ev.Status() == componentstatus.StatusOK
		}, "pipeline instance %d: OK once delivering", i)
		st, _ := host.last().Attributes().Get("edge.state")
		assert.Equal(t, "replaying", st.Str(), "pipeline instance %d: edge.state after the outage", i)
	}
}
