// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"context"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Record kinds stored in the log: one per signal.
const (
	kindTraces  uint8 = 1
	kindMetrics uint8 = 2
	kindLogs    uint8 = 3
)

func kindName(k uint8) string {
	switch k {
	case kindTraces:
		return "traces"
	case kindMetrics:
		return "metrics"
	case kindLogs:
		return "logs"
	}
	return fmt.Sprintf("kind_%d", k)
}

// signalExporter adapts the shared exporter to one pipeline: it starts the
// shared instance on the first Start and stops it on the last Shutdown.
type signalExporter struct {
	e *edgeExporter
}

// Start starts the shared exporter if this is the first pipeline to start it.
func (s signalExporter) Start(ctx context.Context, host component.Host) error {
	s.e.statuses.add(host)
	return s.e.acquire(ctx, host)
}

// Shutdown stops the shared exporter when the last pipeline using it stops.
func (s signalExporter) Shutdown(ctx context.Context) error {
	return s.e.release(ctx)
}

// Capabilities reports that the exporter does not modify the data it gets.
func (signalExporter) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

type tracesExporter struct{ signalExporter }

// ConsumeTraces appends the traces to the durable log.
func (t *tracesExporter) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	n := td.SpanCount()
	if n == 0 {
		return nil
	}
	if t.e.prio != nil {
		return t.e.appendTraces(ctx, td, n)
	}
	var m ptrace.ProtoMarshaler
	buf, err := m.MarshalTraces(td)
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	return t.e.append(ctx, kindTraces, n, buf)
}

type metricsExporter struct{ signalExporter }

// ConsumeMetrics appends the metrics to the durable log.
func (m *metricsExporter) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	n := md.DataPointCount()
	if n == 0 {
		return nil
	}
	if m.e.prio != nil {
		return m.e.appendMetrics(ctx, md, n)
	}
	var pm pmetric.ProtoMarshaler
	buf, err := pm.MarshalMetrics(md)
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	return m.e.append(ctx, kindMetrics, n, buf)
}

type logsExporter struct{ signalExporter }

// ConsumeLogs appends the logs to the durable log.
func (l *logsExporter) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	n := ld.LogRecordCount()
	if n == 0 {
		return nil
	}
	if l.e.prio != nil {
		return l.e.appendLogs(ctx, ld, n)
	}
	var pm plog.ProtoMarshaler
	buf, err := pm.MarshalLogs(ld)
	if err != nil {
		return consumererror.NewPermanent(err)
	}
	return l.e.append(ctx, kindLogs, n, buf)
}
