// SPDX-License-Identifier: Apache-2.0

package enrichprocessor // import "github.com/otelcol-edge/otelcol-edge/components/processor/enrichprocessor"

import (
	"context"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// batchCounts accumulates the lookup counters of one batch, so the
// instruments are updated once per batch and not once per item.
type batchCounts struct {
	hits, misses []int64
	enriched     int64
}

func (e *enricher) newCounts() *batchCounts {
	n := len(e.lookups)
	if n == 0 {
		return &batchCounts{}
	}
	buf := make([]int64, 2*n)
	return &batchCounts{hits: buf[:n], misses: buf[n:]}
}

// flush adds the batch's counts to the instruments.
func (e *enricher) flush(ctx context.Context, signal string, c *batchCounts) {
	if e.tb == nil {
		return
	}
	if c.enriched > 0 {
		e.tb.ProcessorEnrichItemsEnriched.Add(ctx, c.enriched, e.signalAttrs[signal])
	}
	for i, lt := range e.lookups {
		if c.hits[i] > 0 {
			e.tb.ProcessorEnrichLookupHits.Add(ctx, c.hits[i], lt.attrs)
		}
		if c.misses[i] > 0 {
			e.tb.ProcessorEnrichLookupMisses.Add(ctx, c.misses[i], lt.attrs)
		}
	}
}

// enrichMap applies the snapshot then the lookup tables to m. The lookup key
// is read from m, or, for item attributes, from the resource when the item
// does not carry it. It reports whether m changed.
func (e *enricher) enrichMap(m, resource pcommon.Map, itemLevel bool, snap *snapshot, c *batchCounts) bool {
	changed := applyEntries(m, snap.entries)
	for i, lt := range e.lookups {
		v, ok := m.Get(lt.key)
		if !ok && itemLevel {
			v, ok = resource.Get(lt.key)
		}
		if !ok {
			c.misses[i]++
			continue
		}
		var k string
		if v.Type() == pcommon.ValueTypeStr {
			k = v.Str()
		} else {
			k = v.AsString()
		}
		row, found := lt.lookup(k)
		if !found {
			c.misses[i]++
			continue
		}
		c.hits[i]++
		if applyEntries(m, row) {
			changed = true
		}
	}
	return changed
}

func (e *enricher) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	e.awaitDetection(ctx)
	snap := e.snap.Load()
	c := e.newCounts()
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := rs.Resource().Attributes()
		resChanged := e.toResource && e.enrichMap(res, res, false, snap, c)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			if !e.toSpan {
				if resChanged {
					c.enriched += int64(spans.Len())
				}
				continue
			}
			for k := 0; k < spans.Len(); k++ {
				if e.enrichMap(spans.At(k).Attributes(), res, true, snap, c) || resChanged {
					c.enriched++
				}
			}
		}
	}
	e.flush(ctx, "traces", c)
	return td, nil
}

func (e *enricher) processLogs(ctx context.Context, ld plog.Logs) (plog.Logs, error) {
	e.awaitDetection(ctx)
	snap := e.snap.Load()
	c := e.newCounts()
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := rl.Resource().Attributes()
		resChanged := e.toResource && e.enrichMap(res, res, false, snap, c)
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			recs := sls.At(j).LogRecords()
			if !e.toLog {
				if resChanged {
					c.enriched += int64(recs.Len())
				}
				continue
			}
			for k := 0; k < recs.Len(); k++ {
				if e.enrichMap(recs.At(k).Attributes(), res, true, snap, c) || resChanged {
					c.enriched++
				}
			}
		}
	}
	e.flush(ctx, "logs", c)
	return ld, nil
}

func (e *enricher) processMetrics(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	e.awaitDetection(ctx)
	snap := e.snap.Load()
	c := e.newCounts()
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		res := rm.Resource().Attributes()
		resChanged := e.toResource && e.enrichMap(res, res, false, snap, c)
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				if !e.toDataPoint {
					if resChanged {
						c.enriched += int64(dataPointCount(m))
					}
					continue
				}
				e.enrichDataPoints(m, res, resChanged, snap, c)
			}
		}
	}
	e.flush(ctx, "metrics", c)
	return md, nil
}

// enrichDataPoints enriches the attributes of every data point of m.
func (e *enricher) enrichDataPoints(m pmetric.Metric, res pcommon.Map, resChanged bool, snap *snapshot, c *batchCounts) {
	one := func(attrs pcommon.Map) {
		if e.enrichMap(attrs, res, true, snap, c) || resChanged {
			c.enriched++
		}
	}
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		dps := m.Gauge().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			one(dps.At(i).Attributes())
		}
	case pmetric.MetricTypeSum:
		dps := m.Sum().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			one(dps.At(i).Attributes())
		}
	case pmetric.MetricTypeHistogram:
		dps := m.Histogram().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			one(dps.At(i).Attributes())
		}
	case pmetric.MetricTypeExponentialHistogram:
		dps := m.ExponentialHistogram().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			one(dps.At(i).Attributes())
		}
	case pmetric.MetricTypeSummary:
		dps := m.Summary().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			one(dps.At(i).Attributes())
		}
	}
}

// dataPointCount returns the number of data points of m.
func dataPointCount(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	}
	return 0
}
