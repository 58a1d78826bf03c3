// SPDX-License-Identifier: Apache-2.0

package enrichprocessor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-edge/otelcol-edge/components/processor/enrichprocessor/internal/metadata"
)

const (
	benchResources = 10
	benchSpans     = 100 // per resource: 1,000 spans per batch
)

// benchTraces is a batch of 1,000 spans with 10 attributes each, over 10
// resources with a service.name each.
func benchTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	for r := range benchResources {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", r))
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		for s := range benchSpans {
			span := spans.AppendEmpty()
			span.SetName("op")
			for a := range 10 {
				span.Attributes().PutStr(fmt.Sprintf("attr.%d", a), fmt.Sprintf("v%d", s))
			}
		}
	}
	return td
}

func runBench(b *testing.B, cfg *Config) {
	require.NoError(b, cfg.Validate())
	e := newEnricher(cfg, processortest.NewNopSettings(metadata.Type))
	e.env = fakeEnv(nil)
	require.NoError(b, e.start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(b, e.shutdown(context.Background())) }()
	src := benchTraces()
	ctx := context.Background()
	const items = benchResources * benchSpans
	// Each iteration needs a fresh copy of the batch; the garbage collector
	// is run between iterations, outside the timed part, so that collecting
	// the copies is not billed to the processor.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		b.StopTimer()
		if n++; n%4 == 0 {
			runtime.GC()
		}
		td := ptrace.NewTraces()
		src.CopyTo(td)
		b.StartTimer()
		if _, err := e.processTraces(ctx, td); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/items, "ns/item")
}

func benchStatic() []StaticAttribute {
	return []StaticAttribute{
		{Key: "deployment.environment.name", Value: "production"},
		{Key: "site.id", Value: "shop-42"},
		{Key: "host.name", Value: "edge-1"},
		{Key: "cloud.region", Value: "eu-west-1"},
		{Key: "service.name", Value: "ignored"}, // present: insert does nothing
	}
}

// BenchmarkResource: four resource attributes inserted (one present already)
// plus a two-column lookup by service.name, per resource.
func BenchmarkResource(b *testing.B) {
	dir := b.TempDir()
	csv := "service.name,team,owner\n"
	for r := range benchResources {
		csv += fmt.Sprintf("svc-%d,team-%d,owner-%d\n", r, r, r)
	}
	path := filepath.Join(dir, "teams.csv")
	writeBenchFile(b, path, csv)
	cfg := testConfig()
	cfg.Static = benchStatic()
	cfg.Lookups = []LookupConfig{{File: path, Key: "service.name", Reload: ReloadNone}}
	runBench(b, cfg)
}

// BenchmarkSpanAttributes: the same five static attributes on every span
// (four inserted, one upserted).
func BenchmarkSpanAttributes(b *testing.B) {
	cfg := testConfig()
	cfg.Static = benchStatic()
	cfg.Static[4] = StaticAttribute{Key: "attr.0", Value: "replaced", Action: ActionUpsert}
	cfg.ApplyTo = []string{TargetSpan}
	runBench(b, cfg)
}

// BenchmarkNothingToDo: every attribute is already present (a gateway behind
// agents that set them).
func BenchmarkNothingToDo(b *testing.B) {
	cfg := testConfig()
	cfg.Static = []StaticAttribute{{Key: "attr.0", Value: "x"}, {Key: "attr.9", Value: "y"}}
	cfg.ApplyTo = []string{TargetResource, TargetSpan}
	runBench(b, cfg)
}

func writeBenchFile(b *testing.B, path, content string) {
	b.Helper()
	require.NoError(b, os.WriteFile(path, []byte(content), 0o600))
}

// BenchmarkInsertFloor bounds what adding one attribute to a received item
// can cost through pdata's API: 1,000 exactly-full maps of 10 attributes (as
// the OTLP decoder and Map.CopyTo leave them), one string attribute added to
// each. "append" is Map.PutStr alone (the slice doubles: what the upstream
// attributes processor pays), "sized" grows the slice once to 11 first (the
// floor: one 448-byte slice, one 16-byte value, the 10 attributes copied),
// "applyEntries" is the enrich processor's insert (sized, plus its checks).
func BenchmarkInsertFloor(b *testing.B) {
	src := pcommon.NewMap()
	for a := range 10 {
		src.PutStr(fmt.Sprintf("attr.%d", a), "v")
	}
	entries := []entry{{key: "team", val: strValue("payments"), act: actInsert}}
	for _, tc := range []struct {
		name string
		add  func(pcommon.Map)
	}{
		{"append", func(m pcommon.Map) { m.PutStr("team", "payments") }},
		{"sized", func(m pcommon.Map) { m.EnsureCapacity(m.Len() + 1); m.PutStr("team", "payments") }},
		{"applyEntries", func(m pcommon.Map) { applyEntries(m, entries) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			const n = benchResources * benchSpans
			maps := make([]pcommon.Map, n)
			defer debug.SetGCPercent(debug.SetGCPercent(-1))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				b.StopTimer()
				if i++; i%4 == 0 {
					runtime.GC()
				}
				for j := range maps {
					maps[j] = pcommon.NewMap()
					src.CopyTo(maps[j])
				}
				b.StartTimer()
				for _, m := range maps {
					tc.add(m)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/item")
		})
	}
}
