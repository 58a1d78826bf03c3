// SPDX-License-Identifier: Apache-2.0

package edgeexporter

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// BenchmarkClassify is the classification cost per item (ns/item):
// classifying a request of 100 items with the usual classes (error spans
// and warn+ logs first). mixed has 2 errors in 100 (the request is split:
// see BenchmarkConsumeLogsPriorities), single has none (fast path: the
// request is appended as it is).
func BenchmarkClassify(b *testing.B) {
	c := newClassifier(errorsFirst())
	run := func(name string, n int, f func() classified) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				cl := f()
				cl.release()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/item")
		})
	}
	mixed, single := benchLogs(100, 50), benchLogs(100, 0)
	run("logs/mixed", 100, func() classified { return c.classifyLogs(mixed) })
	run("logs/single", 100, func() classified { return c.classifyLogs(single) })
	td := genTraces(0, 100)
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	spans.At(10).Status().SetCode(ptrace.StatusCodeError)
	run("traces/mixed", 100, func() classified { return c.classifyTraces(td) })
}

// BenchmarkConsumeLogsPriorities is BenchmarkConsumeLogs with the usual
// classes: single (no error: classified, appended as it is) and mixed (2
// errors in 100: split into two records, the copy included).
func BenchmarkConsumeLogsPriorities(b *testing.B) {
	for _, tc := range []struct {
		name     string
		errEvery int
	}{{"single", 0}, {"mixed", 50}} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := createDefaultConfig().(*Config)
			cfg.Buffer.Priorities = errorsFirst()
			le := startBenchLogs(b, cfg)
			ld := benchLogs(100, tc.errEvery)
			b.ReportAllocs()
			for b.Loop() {
				if err := le.ConsumeLogs(context.Background(), ld); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/item")
		})
	}
}
