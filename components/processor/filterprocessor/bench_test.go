// SPDX-License-Identifier: Apache-2.0

package filterprocessor

import (
	"context"
	"fmt"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-edge/otelcol-edge/components/processor/filterprocessor/internal/metadata"
)

// Benchmarks: five typical rules (route equality, status code list, regex on the name,
// resource service.name, a rule that never matches) over batches of 1000 spans, log records
// and data points (10 resources x 100 items), with the fast path and with OTTL only.
// "nomatch" batches match no rule (the common steady state: nothing is removed, so the
// batch is reused); "match" batches lose about a quarter of their items (a fresh copy per
// iteration, copied with the timer stopped).

const benchResources, benchItems = 10, 100

func benchRules(item string) []ConditionGroup {
	name := map[string]string{"span": "span.name", "log": "log.body", "datapoint": "metric.name"}[item]
	return []ConditionGroup{
		{Name: "route", Conditions: []string{fmt.Sprintf(`%s.attributes["http.route"] == "/healthz"`, item)}},
		{Name: "status", Conditions: []string{fmt.Sprintf(`%[1]s.attributes["http.status_code"] == 500 or %[1]s.attributes["http.status_code"] == 502 or %[1]s.attributes["http.status_code"] == 503 or %[1]s.attributes["http.status_code"] == 504`, item)}},
		{Name: "regex", Conditions: []string{fmt.Sprintf(`IsMatch(%s, "^GET /internal/.*")`, name)}},
		{Name: "service", Context: item, Conditions: []string{`resource.attributes["service.name"] == "load-generator"`}},
		{Name: "nomatch", Conditions: []string{fmt.Sprintf(`%s.attributes["never"] == "set"`, item)}},
	}
}

// benchAttrs decides what item i of resource r carries: in "match" batches every fourth item
// matches one rule.
func benchItem(match bool, r, i int) (route string, status int64, name, service string) {
	route, status, name, service = "/api/cart", 200, "GET /api/cart", fmt.Sprint("svc-", r)
	if !match || i%4 != 0 {
		return
	}
	switch (i / 4) % 3 {
	case 0:
		route = "/healthz"
	case 1:
		status = 503
	default:
		name = "GET /internal/metrics"
	}
	return
}

func benchTraces(match bool) ptrace.Traces {
	td := ptrace.NewTraces()
	for r := range benchResources {
		rs := td.ResourceSpans().AppendEmpty()
		ss := rs.ScopeSpans().AppendEmpty()
		for i := range benchItems {
			route, status, name, service := benchItem(match, r, i)
			rs.Resource().Attributes().PutStr("service.name", service)
			s := ss.Spans().AppendEmpty()
			s.SetName(name)
			s.Attributes().PutStr("http.route", route)
			s.Attributes().PutInt("http.status_code", status)
			s.Attributes().PutStr("http.method", "GET")
		}
	}
	return td
}

func benchLogs(match bool) plog.Logs {
	ld := plog.NewLogs()
	for r := range benchResources {
		rl := ld.ResourceLogs().AppendEmpty()
		sl := rl.ScopeLogs().AppendEmpty()
		for i := range benchItems {
			route, status, name, service := benchItem(match, r, i)
			rl.Resource().Attributes().PutStr("service.name", service)
			l := sl.LogRecords().AppendEmpty()
			l.Body().SetStr(name)
			l.Attributes().PutStr("http.route", route)
			l.Attributes().PutInt("http.status_code", status)
		}
	}
	return ld
}

func benchMetrics(match bool) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for r := range benchResources {
		rm := md.ResourceMetrics().AppendEmpty()
		sm := rm.ScopeMetrics().AppendEmpty()
		for i := range benchItems / 10 {
			m := sm.Metrics().AppendEmpty()
			dps := m.SetEmptySum().DataPoints()
			for j := range 10 {
				route, status, name, service := benchItem(match, r, i*10+j)
				rm.Resource().Attributes().PutStr("service.name", service)
				m.SetName("http.server.requests")
				if j == 0 && name != "GET /api/cart" {
					m.SetName(name)
				}
				dp := dps.AppendEmpty()
				dp.SetIntValue(1)
				dp.Attributes().PutStr("http.route", route)
				dp.Attributes().PutInt("http.status_code", status)
			}
		}
	}
	return md
}

func BenchmarkFilter(b *testing.B) {
	ctx := context.Background()
	for _, sig := range []signal{signalTraces, signalLogs, signalMetrics} {
		for _, match := range []bool{false, true} {
			for _, fast := range []bool{true, false} {
				name := fmt.Sprintf("%s/%s/%s", sig, map[bool]string{false: "nomatch", true: "match"}[match], map[bool]string{true: "fast", false: "ottl"}[fast])
				b.Run(name, func(b *testing.B) {
					cfg := createDefaultConfig().(*Config)
					cfg.ErrorMode = ottl.IgnoreError
					cfg.disableFastPath = !fast
					switch sig {
					case signalTraces:
						cfg.TraceConditions = benchRules("span")
					case signalLogs:
						cfg.LogConditions = benchRules("log")
					default:
						cfg.MetricConditions = benchRules("datapoint")
					}
					p, err := newFilterProcessor(processortest.NewNopSettings(metadata.Type), cfg, sig)
					if err != nil {
						b.Fatal(err)
					}
					var run func()
					switch sig {
					case signalTraces:
						src := benchTraces(match)
						td := ptrace.NewTraces()
						src.CopyTo(td)
						run = func() {
							if match {
								b.StopTimer()
								src.CopyTo(td)
								b.StartTimer()
							}
							_, _ = p.processTraces(ctx, td)
						}
					case signalLogs:
						src := benchLogs(match)
						ld := plog.NewLogs()
						src.CopyTo(ld)
						run = func() {
							if match {
								b.StopTimer()
								src.CopyTo(ld)
								b.StartTimer()
							}
							_, _ = p.processLogs(ctx, ld)
						}
					default:
						src := benchMetrics(match)
						md := pmetric.NewMetrics()
						src.CopyTo(md)
						run = func() {
							if match {
								b.StopTimer()
								src.CopyTo(md)
								b.StartTimer()
							}
							_, _ = p.processMetrics(ctx, md)
						}
					}
					b.ReportAllocs()
					b.ResetTimer()
					for b.Loop() {
						run()
					}
					items := float64(benchResources * benchItems)
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/items, "ns/item")
				})
			}
		}
	}
}
