// SPDX-License-Identifier: Apache-2.0

package filterprocessor // import "github.com/otelcol-edge/otelcol-edge/components/processor/filterprocessor"

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-edge/otelcol-edge/components/processor/filterprocessor/internal/metadata"
)

// errorLogInterval is the minimum time between two error logs of one rule.
const errorLogInterval = 10 * time.Second

// telemetry records the per-rule counters, contrib's per-signal `filtered`
// counter, and writes rate-limited error logs.
type telemetry struct {
	set component.TelemetrySettings
	tb  *metadata.TelemetryBuilder
	// filtered is contrib filterprocessor's counter of this signal
	// (otelcol_processor_filter_spans.filtered, _datapoints.filtered,
	// _logs.filtered): items removed from a batch, with filterAttr, contrib's
	// attribute `filter` = the component ID.
	filtered   metric.Int64Counter
	filterAttr metric.MeasurementOption

	mu         sync.Mutex
	last       map[string]time.Time
	suppressed map[string]int
}

func newTelemetry(set processor.Settings, sig signal) (*telemetry, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	t := &telemetry{
		set: set.TelemetrySettings, tb: tb, last: map[string]time.Time{}, suppressed: map[string]int{},
		filterAttr: metric.WithAttributeSet(attribute.NewSet(attribute.String(metadata.Type.String(), set.ID.String()))),
	}
	switch sig {
	case signalTraces:
		t.filtered = tb.ProcessorFilterSpansFiltered
	case signalMetrics:
		t.filtered = tb.ProcessorFilterDatapointsFiltered
	case signalLogs:
		t.filtered = tb.ProcessorFilterLogsFiltered
	}
	return t, nil
}

// recordFiltered adds the items a batch lost to the signal's `filtered`
// counter, zero included (as contrib does, so the series exists from the
// first batch). In dry run nothing is removed and it adds zero.
func (t *telemetry) recordFiltered(ctx context.Context, removed int) {
	if t.filtered != nil {
		t.filtered.Add(ctx, int64(removed), t.filterAttr)
	}
}

// logError logs a failed condition at most once per rule every errorLogInterval, saying how
// many failures were not logged since.
func (t *telemetry) logError(r *rule, c *condition, err error) {
	if t.last == nil {
		return
	}
	t.mu.Lock()
	now := time.Now()
	if last, ok := t.last[r.name]; ok && now.Sub(last) < errorLogInterval {
		t.suppressed[r.name]++
		t.mu.Unlock()
		return
	}
	n := t.suppressed[r.name]
	t.last[r.name] = now
	t.suppressed[r.name] = 0
	t.mu.Unlock()
	t.set.Logger.Warn("filter condition failed; it counts as not matched (drop rule) or matched (keep rule)",
		zap.String("rule", r.name), zap.String("condition", c.text), zap.Error(err),
		zap.Int("suppressed_since_last", n))
}

// record adds a pass's counts to the internal metrics and resets them.
func (t *telemetry) record(st *pass) {
	if t.tb == nil {
		return
	}
	ctx := context.Background()
	for i, r := range st.set.rules {
		if st.evaluated[i] != 0 {
			t.tb.ProcessorFilterItemsEvaluated.Add(ctx, st.evaluated[i], r.attrs)
		}
		if st.dropped[i] != 0 {
			t.tb.ProcessorFilterItemsDropped.Add(ctx, st.dropped[i], r.attrs)
		}
		if st.kept[i] != 0 {
			t.tb.ProcessorFilterItemsKept.Add(ctx, st.kept[i], r.attrs)
		}
		if st.errors[i] != 0 {
			t.tb.ProcessorFilterErrors.Add(ctx, st.errors[i], r.attrs)
		}
		st.evaluated[i], st.dropped[i], st.kept[i], st.errors[i] = 0, 0, 0, 0
	}
	for i := range st.redacted {
		if st.redacted[i] != 0 {
			t.tb.ProcessorFilterValuesRedacted.Add(ctx, st.redacted[i], st.red.attrs(i, st.set.sig))
			st.redacted[i] = 0
		}
	}
}

func (t *telemetry) shutdown() {
	if t.tb != nil {
		t.tb.Shutdown()
	}
}
