// SPDX-License-Identifier: Apache-2.0

package e2e // import "github.com/otelcol-edge/otelcol-edge/internal/e2e"

import (
	"encoding/binary"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// idTag marks generated IDs so that they are never all-zero.
const idTag = 0x5e

// spansPerTrace is how many consecutive generated spans share a trace.
const spansPerTrace = 8

// SpanIDFor returns the span ID GenTraces gives to the span with sequence
// number n: 0x5e in the first byte, n big-endian in the other seven (so n
// must be below 2^56).
func SpanIDFor(n uint64) pcommon.SpanID {
	var id [8]byte
	binary.BigEndian.PutUint64(id[:], n)
	id[0] = idTag
	return id
}

// SpanIDSeq is the inverse of SpanIDFor; ok is false for IDs it did not
// make.
func SpanIDSeq(id [8]byte) (n uint64, ok bool) {
	if id[0] != idTag {
		return 0, false
	}
	id[0] = 0
	return binary.BigEndian.Uint64(id[:]), true
}

// traceIDFor returns the trace ID of the trace whose root span has
// sequence number n.
func traceIDFor(n uint64) pcommon.TraceID {
	var id [16]byte
	id[0] = idTag
	id[1] = 0x7e
	binary.BigEndian.PutUint64(id[8:], n)
	return id
}

// Realistic span shapes cycled through by GenTraces.
var spanShapes = []struct {
	name string
	kind ptrace.SpanKind
	attr map[string]string
}{
	{"GET /api/v1/users/{id}", ptrace.SpanKindServer, map[string]string{"http.request.method": "GET", "http.route": "/api/v1/users/{id}", "url.scheme": "https"}},
	{"POST /api/v1/orders", ptrace.SpanKindServer, map[string]string{"http.request.method": "POST", "http.route": "/api/v1/orders", "url.scheme": "https"}},
	{"SELECT orders", ptrace.SpanKindClient, map[string]string{"db.system.name": "postgresql", "db.operation.name": "SELECT", "db.collection.name": "orders"}},
	{"redis GET", ptrace.SpanKindClient, map[string]string{"db.system.name": "redis", "db.operation.name": "GET", "server.address": "cache.internal"}},
	{"orders publish", ptrace.SpanKindProducer, map[string]string{"messaging.system": "kafka", "messaging.operation.type": "publish", "messaging.destination.name": "orders"}},
	{"HTTP GET", ptrace.SpanKindClient, map[string]string{"http.request.method": "GET", "server.address": "inventory.internal", "url.full": "http://inventory.internal/stock"}},
	{"process-payment", ptrace.SpanKindInternal, map[string]string{"code.function.name": "ProcessPayment", "code.file.path": "payment/service.go", "payment.provider": "acme"}},
}

// setResource fills the attributes of generated resource r (0-based).
func setResource(res pcommon.Resource, r int) {
	attrs := res.Attributes()
	attrs.PutStr("service.name", fmt.Sprintf("edge-svc-%d", r))
	attrs.PutStr("service.namespace", "e2e")
	attrs.PutStr("service.version", "1.4.2")
	attrs.PutStr("service.instance.id", fmt.Sprintf("edge-svc-%d-instance", r))
	attrs.PutStr("host.name", fmt.Sprintf("edge-host-%d", r%4))
	attrs.PutStr("deployment.environment.name", "test")
	attrs.PutStr("telemetry.sdk.name", "opentelemetry")
	attrs.PutStr("telemetry.sdk.language", "go")
}

// GenTraces returns nResources resources of spansPerResource spans each.
// Span i in generation order (0-based, over all resources) has span ID
// SpanIDFor(startID+i), so consecutive calls with startID advanced by the
// previous total produce disjoint IDs. Every 8 consecutive spans of a
// resource form a trace (first is the root, the others its children). Each
// span has a realistic name and kind and 10 to 20 attributes.
func GenTraces(nResources, spansPerResource int, startID uint64) ptrace.Traces {
	td := ptrace.NewTraces()
	now := time.Now()
	n := startID
	for r := range nResources {
		rs := td.ResourceSpans().AppendEmpty()
		setResource(rs.Resource(), r)
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("github.com/otelcol-edge/otelcol-edge/internal/e2e")
		ss.Scope().SetVersion("1.0.0")
		spans := ss.Spans()
		spans.EnsureCapacity(spansPerResource)
		var root uint64
		for i := range spansPerResource {
			span := spans.AppendEmpty()
			shape := spanShapes[n%uint64(len(spanShapes))]
			if i%spansPerTrace == 0 {
				root = n
			} else {
				span.SetParentSpanID(SpanIDFor(root))
			}
			span.SetTraceID(traceIDFor(root))
			span.SetSpanID(SpanIDFor(n))
			span.SetName(shape.name)
			span.SetKind(shape.kind)
			start := now.Add(-time.Duration(spansPerResource-i) * time.Millisecond)
			span.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
			span.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(1+n%50) * time.Millisecond)))
			attrs := span.Attributes()
			attrs.EnsureCapacity(20)
			for k, v := range shape.attr {
				attrs.PutStr(k, v)
			}
			attrs.PutInt("e2e.seq", int64(n))
			attrs.PutInt("e2e.resource", int64(r))
			attrs.PutStr("e2e.run", "harness")
			attrs.PutBool("e2e.sampled", n%2 == 0)
			attrs.PutDouble("e2e.load", float64(n%100)/100)
			attrs.PutStr("user.id", fmt.Sprintf("user-%d", n%1000))
			attrs.PutStr("session.id", fmt.Sprintf("sess-%x", n*2654435761))
			// 3 shape + 7 fixed = 10; add 0..10 more for 10..20 in total.
			for extra := range int(n % 11) {
				attrs.PutStr(fmt.Sprintf("app.extra.%d", extra), fmt.Sprintf("value-%d-%d", n, extra))
			}
			if shape.kind == ptrace.SpanKindServer {
				attrs.PutInt("http.response.status_code", 200)
			}
			if n%10 == 9 {
				span.Status().SetCode(ptrace.StatusCodeError)
				span.Status().SetMessage("simulated failure")
				ev := span.Events().AppendEmpty()
				ev.SetName("exception")
				ev.SetTimestamp(pcommon.NewTimestampFromTime(start))
				ev.Attributes().PutStr("exception.type", "e2e.SimulatedError")
				ev.Attributes().PutStr("exception.message", "simulated failure")
			} else {
				span.Status().SetCode(ptrace.StatusCodeOk)
			}
			n++
		}
	}
	return td
}

// SpanIDsOf returns the span IDs of td in order.
func SpanIDsOf(td ptrace.Traces) [][8]byte {
	ids := make([][8]byte, 0, td.SpanCount())
	for i := range td.ResourceSpans().Len() {
		rs := td.ResourceSpans().At(i)
		for j := range rs.ScopeSpans().Len() {
			spans := rs.ScopeSpans().At(j).Spans()
			for k := range spans.Len() {
				ids = append(ids, spans.At(k).SpanID())
			}
		}
	}
	return ids
}

// GenMetrics returns one resource with exactly n data points: ceil(n/2)
// double gauge points in metric "e2e.gauge" and floor(n/2) cumulative
// monotonic int sum points in "e2e.requests", each point a distinct series
// (attribute "e2e.seq").
func GenMetrics(n int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	setResource(rm.Resource(), 0)
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("github.com/otelcol-edge/otelcol-edge/internal/e2e")
	now := pcommon.NewTimestampFromTime(time.Now())
	start := pcommon.NewTimestampFromTime(time.Now().Add(-time.Minute))

	gauge := sm.Metrics().AppendEmpty()
	gauge.SetName("e2e.gauge")
	gauge.SetDescription("Generated gauge.")
	gauge.SetUnit("1")
	gdps := gauge.SetEmptyGauge().DataPoints()

	sum := sm.Metrics().AppendEmpty()
	sum.SetName("e2e.requests")
	sum.SetDescription("Generated monotonic counter.")
	sum.SetUnit("{request}")
	s := sum.SetEmptySum()
	s.SetIsMonotonic(true)
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	sdps := s.DataPoints()

	for i := range n {
		if i%2 == 0 {
			dp := gdps.AppendEmpty()
			dp.SetTimestamp(now)
			dp.SetDoubleValue(float64(i) * 0.5)
			dp.Attributes().PutInt("e2e.seq", int64(i))
			dp.Attributes().PutStr("host.cpu", fmt.Sprintf("cpu%d", i%8))
		} else {
			dp := sdps.AppendEmpty()
			dp.SetStartTimestamp(start)
			dp.SetTimestamp(now)
			dp.SetIntValue(int64(i * 10))
			dp.Attributes().PutInt("e2e.seq", int64(i))
			dp.Attributes().PutStr("http.route", spanShapes[i%2].attr["http.route"])
		}
	}
	if sdps.Len() == 0 {
		sm.Metrics().RemoveIf(func(m pmetric.Metric) bool { return m.Name() == "e2e.requests" })
	}
	if gdps.Len() == 0 {
		sm.Metrics().RemoveIf(func(m pmetric.Metric) bool { return m.Name() == "e2e.gauge" })
	}
	return md
}

// GenLogs returns one resource with n log records with bodies, severities,
// attributes (including "e2e.seq") and trace context.
func GenLogs(n int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	setResource(rl.Resource(), 0)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("github.com/otelcol-edge/otelcol-edge/internal/e2e")
	now := time.Now()
	severities := []struct {
		num  plog.SeverityNumber
		text string
	}{
		{plog.SeverityNumberInfo, "INFO"},
		{plog.SeverityNumberDebug, "DEBUG"},
		{plog.SeverityNumberWarn, "WARN"},
		{plog.SeverityNumberError, "ERROR"},
	}
	records := sl.LogRecords()
	records.EnsureCapacity(n)
	for i := range n {
		lr := records.AppendEmpty()
		sev := severities[i%len(severities)]
		ts := pcommon.NewTimestampFromTime(now.Add(-time.Duration(n-i) * time.Millisecond))
		lr.SetTimestamp(ts)
		lr.SetObservedTimestamp(ts)
		lr.SetSeverityNumber(sev.num)
		lr.SetSeverityText(sev.text)
		lr.Body().SetStr(fmt.Sprintf("%s request %d handled by %s in %dms", sev.text, i, spanShapes[i%len(spanShapes)].name, 1+i%50))
		lr.SetTraceID(traceIDFor(uint64(i)))
		lr.SetSpanID(SpanIDFor(uint64(i)))
		attrs := lr.Attributes()
		attrs.PutInt("e2e.seq", int64(i))
		attrs.PutStr("log.logger", "edge.handler")
		attrs.PutStr("user.id", fmt.Sprintf("user-%d", i%1000))
		attrs.PutInt("http.response.status_code", int64(200+(i%4)*100))
	}
	return ld
}
