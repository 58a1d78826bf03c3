// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
)

// rateLimitedLog writes at most one warning per message every 10 seconds and
// says how many were suppressed, so an outage does not flood the log.
type rateLimitedLog struct {
	mu         sync.Mutex
	last       map[string]time.Time
	suppressed map[string]int
}

func (r *rateLimitedLog) warn(l *zap.Logger, msg string, fields ...zap.Field) {
	r.mu.Lock()
	if r.last == nil {
		r.last = map[string]time.Time{}
		r.suppressed = map[string]int{}
	}
	now := time.Now()
	if t, ok := r.last[msg]; ok && now.Sub(t) < 10*time.Second {
		r.suppressed[msg]++
		r.mu.Unlock()
		return
	}
	n := r.suppressed[msg]
	r.last[msg] = now
	r.suppressed[msg] = 0
	r.mu.Unlock()
	if n > 0 {
		fields = append(fields, zap.Int("suppressed_since_last", n))
	}
	l.Warn(msg, fields...)
}

func endpointKindAttrs(endpoint, kind string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String("endpoint", endpoint), attribute.String("kind", kind)))
}
