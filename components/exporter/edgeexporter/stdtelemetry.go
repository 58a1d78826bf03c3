// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/metadata"
)

// stdTelemetry records the standard exporter metrics of exporterhelper
// (otelcol_exporter_sent_*, send_failed_*, enqueue_failed_*, queue_size,
// queue_capacity) with its names, units and the attributes it records at the
// normal telemetry level (exporter="<component id>"), so collector dashboards
// and alerts see the edge exporter like any other. What each means for edge
// is in the README ("Standard exporter metrics").
type stdTelemetry struct {
	attr                            metric.MeasurementOption
	sent, sendFailed, enqueueFailed map[uint8]metric.Int64Counter
}

// exporterKey is exporterhelper's attribute naming the exporter.
const exporterKey = "exporter"

func newStdTelemetry(tb *metadata.TelemetryBuilder, id component.ID) stdTelemetry {
	return stdTelemetry{
		attr: metric.WithAttributeSet(attribute.NewSet(attribute.String(exporterKey, id.String()))),
		sent: map[uint8]metric.Int64Counter{
			kindTraces: tb.ExporterSentSpans, kindMetrics: tb.ExporterSentMetricPoints, kindLogs: tb.ExporterSentLogRecords,
		},
		sendFailed: map[uint8]metric.Int64Counter{
			kindTraces: tb.ExporterSendFailedSpans, kindMetrics: tb.ExporterSendFailedMetricPoints, kindLogs: tb.ExporterSendFailedLogRecords,
		},
		enqueueFailed: map[uint8]metric.Int64Counter{
			kindTraces: tb.ExporterEnqueueFailedSpans, kindMetrics: tb.ExporterEnqueueFailedMetricPoints, kindLogs: tb.ExporterEnqueueFailedLogRecords,
		},
	}
}

func (s *stdTelemetry) add(m map[uint8]metric.Int64Counter, kind uint8, n int64) {
	if c, ok := m[kind]; ok && n > 0 {
		c.Add(context.Background(), n, s.attr)
	}
}

// sentItems counts items a backend accepted.
func (s *stdTelemetry) sentItems(kind uint8, n int64) { s.add(s.sent, kind, n) }

// failedItems counts the items of a failed request (each attempt) and the
// items a backend rejected in a partial success.
func (s *stdTelemetry) failedItems(kind uint8, n int64) { s.add(s.sendFailed, kind, n) }

// refusedItems counts items refused at append (the pipeline got an error).
func (s *stdTelemetry) refusedItems(kind uint8, n int64) { s.add(s.enqueueFailed, kind, n) }

// registerQueueCallbacks reports the durable log as the queue, in bytes:
// queue_size is the log's segment files on disk and queue_capacity its disk
// budget (max_disk_bytes less the dead letter's share), the size at which
// when_full applies. Without a budget (max_disk_bytes 0) there is no capacity
// and queue_capacity is not reported.
func (e *edgeExporter) registerQueueCallbacks() error {
	capacity := e.cfg.Buffer.logMaxBytes()
	return errors.Join(
		e.tb.RegisterExporterQueueSizeCallback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(e.stats().DiskBytes, e.std.attr)
			return nil
		}),
		e.tb.RegisterExporterQueueCapacityCallback(func(_ context.Context, o metric.Int64Observer) error {
			if capacity > 0 {
				o.Observe(capacity, e.std.attr)
			}
			return nil
		}),
	)
}
