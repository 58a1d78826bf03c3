// SPDX-License-Identifier: Apache-2.0

package filterprocessor

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-edge/otelcol-edge/components/processor/filterprocessor/internal/metadata"
)

// BenchmarkRedactMetrics: redaction only (allow_keys, a key rule, the four built-in value
// rules; no condition) over the benchmark batch of 1000 data points, which matches no rule so
// the batch is reused. "no_exemplars" is the common case; "exemplars" gives every data point
// one exemplar with two filtered attributes, to be redacted like the point's own.
func BenchmarkRedactMetrics(b *testing.B) {
	ctx := context.Background()
	for _, exemplars := range []bool{false, true} {
		name := map[bool]string{false: "no_exemplars", true: "exemplars"}[exemplars]
		b.Run(name, func(b *testing.B) {
			cfg := createDefaultConfig().(*Config)
			cfg.Redact = RedactConfig{
				AllowKeys: []string{"service.*", "http.*", "trace.id"},
				Keys:      []KeyRule{{Pattern: "*password*", Match: MatchGlob, Action: RedactDelete}},
				Values:    []ValueRule{{Builtin: PatternCard}, {Builtin: PatternEmail}, {Builtin: PatternBearer}, {Builtin: PatternIPv4}},
			}
			p, err := newFilterProcessor(processortest.NewNopSettings(metadata.Type), cfg, signalMetrics)
			if err != nil {
				b.Fatal(err)
			}
			md := benchMetrics(false)
			if exemplars {
				rms := md.ResourceMetrics()
				for i := range rms.Len() {
					ms := rms.At(i).ScopeMetrics().At(0).Metrics()
					for j := range ms.Len() {
						dps := ms.At(j).Sum().DataPoints()
						for k := range dps.Len() {
							ex := dps.At(k).Exemplars().AppendEmpty()
							ex.SetIntValue(1)
							ex.FilteredAttributes().PutStr("http.route", "/api/cart")
							ex.FilteredAttributes().PutStr("trace.id", "4bf92f3577b34da6a3ce929d0e0e4736")
						}
					}
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				_, _ = p.processMetrics(ctx, md)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(benchResources*benchItems), "ns/item")
		})
	}
}
