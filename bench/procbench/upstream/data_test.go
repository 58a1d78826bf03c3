// SPDX-License-Identifier: Apache-2.0

package procbench // import "github.com/otelcol-edge/otelcol-edge/bench/procbench/upstream"

// This file is identical in bench/procbench/ours and bench/procbench/upstream
// (run.sh checks it, apart from the package's import comment): the same data,
// benchmarks, checks and measurement loop for both sides. Only the processors
// and their configuration differ: stagesFor in bench_test.go.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
)

const (
	benchResources = 10
	benchSpans     = 100 // per resource: 1,000 spans per batch
	benchItems     = benchResources * benchSpans
)

// dataset selects which spans of the batch match the filter conditions.
type dataset int

const (
	// dataAnchor: 10% of the spans (every tenth) have http.route "/healthz";
	// nothing else matches any filter condition.
	dataAnchor dataset = iota
	// dataMixed: 5% have http.route "/healthz", 5% http.status_code 503, 5% the
	// name "GET /internal/metrics", and the last resource (10% of the spans)
	// has service.name "load-generator": 23.5% of the spans match a rule.
	dataMixed
)

// genTraces builds a batch of 1,000 spans with 10 attributes each over 10
// resources. Every resource has service.name; even resources also carry
// host.name (so the host.name upsert overwrites on half of them and inserts on
// the other half). No span carries "team".
func genTraces(ds dataset) ptrace.Traces {
	td := ptrace.NewTraces()
	for r := range benchResources {
		rs := td.ResourceSpans().AppendEmpty()
		ra := rs.Resource().Attributes()
		service := fmt.Sprintf("svc-%d", r)
		if ds == dataMixed && r == benchResources-1 {
			service = "load-generator"
		}
		ra.PutStr("service.name", service)
		ra.PutStr("service.version", "1.4.2")
		if r%2 == 0 {
			ra.PutStr("host.name", fmt.Sprintf("node-%d", r))
		}
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("otelhttp")
		ss.Scope().SetVersion("0.60.0")
		spans := ss.Spans()
		spans.EnsureCapacity(benchSpans)
		for i := range benchSpans {
			route, status, name := "/api/cart", int64(200), "GET /api/cart"
			switch ds {
			case dataAnchor:
				if i%10 == 0 {
					route = "/healthz"
				}
			case dataMixed:
				switch i % 20 {
				case 0:
					route = "/healthz"
				case 5:
					status = 503
				case 10:
					name = "GET /internal/metrics"
				}
			}
			s := spans.AppendEmpty()
			n := r*benchSpans + i
			var tid [16]byte
			var sid [8]byte
			tid[0], tid[1], tid[15] = byte(r), byte(i), 1
			sid[0], sid[7] = byte(i), byte(r+1)
			s.SetTraceID(pcommon.TraceID(tid))
			s.SetSpanID(pcommon.SpanID(sid))
			s.SetName(name)
			s.SetKind(ptrace.SpanKindServer)
			s.SetStartTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + int64(n)*1_000_000))
			s.SetEndTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + int64(n)*1_000_000 + 250_000))
			a := s.Attributes()
			a.EnsureCapacity(10)
			a.PutStr("http.route", route)
			a.PutStr("http.request.method", "GET")
			a.PutInt("http.status_code", status)
			a.PutStr("url.scheme", "https")
			a.PutStr("url.path", fmt.Sprintf("%s/%d", route, i))
			a.PutStr("server.address", "shop.example.com")
			a.PutInt("server.port", 443)
			a.PutStr("client.address", fmt.Sprintf("10.0.%d.%d", r, i))
			a.PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)")
			a.PutInt("thread.id", int64(i%8))
		}
	}
	return td
}

// Filter configurations, written in the upstream (contrib) syntax, which our
// filter processor accepts unchanged.

// anchorFilterConfig is the filter of bench/anchor/pipeline.yaml.
func anchorFilterConfig() map[string]any {
	return map[string]any{
		"error_mode": "ignore",
		"traces": map[string]any{"span": []any{
			`attributes["http.route"] == "/healthz"`,
		}},
	}
}

// fiveRulesFilterConfig is the rule set of the filter processor's benchmarks
// (route equality, status code list of 4, regex on the name, resource
// service.name, a rule that never matches), as one upstream span list (ORed).
func fiveRulesFilterConfig() map[string]any {
	return map[string]any{
		"error_mode": "ignore",
		"traces": map[string]any{"span": []any{
			`attributes["http.route"] == "/healthz"`,
			`attributes["http.status_code"] == 500 or attributes["http.status_code"] == 502 or attributes["http.status_code"] == 503 or attributes["http.status_code"] == 504`,
			`IsMatch(name, "^GET /internal/.*")`,
			`resource.attributes["service.name"] == "load-generator"`,
			`attributes["never"] == "set"`,
		}},
	}
}

// unmarshalConfig fills the factory's default configuration from raw (as the
// collector does from YAML) and validates it.
func unmarshalConfig(b testing.TB, cfg component.Config, raw map[string]any) component.Config {
	b.Helper()
	if err := confmap.NewFromStringMap(raw).Unmarshal(cfg); err != nil {
		b.Fatal(err)
	}
	if v, ok := cfg.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			b.Fatal(err)
		}
	}
	return cfg
}

// runTraces starts the chain (components listed from the last to the first,
// the order a collector starts them), sends a fresh copy of the batch through
// head per iteration and reports ns/span and allocs/span. The copy and a
// garbage collection every 4 iterations happen with the timer stopped and the
// collector otherwise off, so neither is billed to the processors (their own
// allocations are counted, but not the cost of collecting them).
func runTraces(b *testing.B, ds dataset, head consumer.Traces, chain ...component.Component) {
	ctx := context.Background()
	host := componenttest.NewNopHost()
	for _, c := range chain {
		if err := c.Start(ctx, host); err != nil {
			b.Fatal(err)
		}
	}
	defer func() {
		for i := len(chain) - 1; i >= 0; i-- {
			if err := chain[i].Shutdown(ctx); err != nil {
				b.Error(err)
			}
		}
	}()
	src := genTraces(ds)
	// One untimed warm-up pass (lazy initialisation, pools).
	warm := ptrace.NewTraces()
	src.CopyTo(warm)
	if err := head.ConsumeTraces(ctx, warm); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))

	var ms runtime.MemStats
	var mallocs, before uint64
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		if n > 0 {
			runtime.ReadMemStats(&ms)
			mallocs += ms.Mallocs - before
		}
		if n++; n%4 == 0 {
			runtime.GC()
		}
		td := ptrace.NewTraces()
		src.CopyTo(td)
		runtime.ReadMemStats(&ms)
		before = ms.Mallocs
		b.StartTimer()
		if err := head.ConsumeTraces(ctx, td); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms)
	mallocs += ms.Mallocs - before
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchItems, "ns/span")
	b.ReportMetric(float64(mallocs)/float64(b.N)/benchItems, "allocs/span")
}

// stage is one processor of a chain: its factory and its raw configuration.
type stage struct {
	factory processor.Factory
	raw     map[string]any
}

// The work measured, by benchmark name; stagesFor (bench_test.go) returns the
// processors doing it.
const (
	// workAdditions (a): deployment.environment.name inserted and host.name
	// upserted on every resource, team inserted on every span.
	workAdditions = "AnchorAdditions"
	// workFilter (b): drop spans whose http.route is "/healthz".
	workFilter = "AnchorFilter"
	// workFiveRules (c): drop spans matching one of the five rules.
	workFiveRules = "FiveRules"
	// workPipeline: (a) then (b), the anchor pipeline's processors without batch.
	workPipeline = "AnchorPipeline"
)

// newChain creates the processors of stages, the first feeding the second and
// so on, the last feeding next. It returns the head and the components in
// start order (last stage first).
func newChain(tb testing.TB, next consumer.Traces, stages []stage) (consumer.Traces, []component.Component) {
	tb.Helper()
	var comps []component.Component
	for i := len(stages) - 1; i >= 0; i-- {
		f := stages[i].factory
		cfg := unmarshalConfig(tb, f.CreateDefaultConfig(), stages[i].raw)
		p, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(f.Type()), cfg, next)
		if err != nil {
			tb.Fatal(err)
		}
		comps = append(comps, p)
		next = p
	}
	return next, comps
}

func benchWork(b *testing.B, work string, ds dataset) {
	head, comps := newChain(b, consumertest.NewNop(), stagesFor(work))
	runTraces(b, ds, head, comps...)
}

func BenchmarkAnchorAdditions(b *testing.B) { benchWork(b, workAdditions, dataAnchor) }

func BenchmarkAnchorFilter(b *testing.B) { benchWork(b, workFilter, dataAnchor) }

// BenchmarkFiveRules: on the anchor data (10% match the route rule) and on
// mixed data (23.5% match one of the rules).
func BenchmarkFiveRules(b *testing.B) {
	b.Run("anchordata", func(b *testing.B) { benchWork(b, workFiveRules, dataAnchor) })
	b.Run("mixed", func(b *testing.B) { benchWork(b, workFiveRules, dataMixed) })
}

func BenchmarkAnchorPipeline(b *testing.B) { benchWork(b, workPipeline, dataAnchor) }

// TestWork checks that both sides do the same work: one batch through each
// chain, and the result compared with what the anchor pipeline must produce.
func TestWork(t *testing.T) {
	for _, tc := range []struct {
		work     string
		ds       dataset
		spans    int
		enriched bool
	}{
		{workAdditions, dataAnchor, 1000, true},
		{workFilter, dataAnchor, 900, false},
		{workFiveRules, dataAnchor, 900, false},
		{workFiveRules, dataMixed, 765, false},
		{workPipeline, dataAnchor, 900, true},
	} {
		t.Run(fmt.Sprintf("%s/%s", tc.work, map[dataset]string{dataAnchor: "anchordata", dataMixed: "mixed"}[tc.ds]), func(t *testing.T) {
			ctx := context.Background()
			sink := new(consumertest.TracesSink)
			head, comps := newChain(t, sink, stagesFor(tc.work))
			for _, c := range comps {
				if err := c.Start(ctx, componenttest.NewNopHost()); err != nil {
					t.Fatal(err)
				}
			}
			if err := head.ConsumeTraces(ctx, genTraces(tc.ds)); err != nil {
				t.Fatal(err)
			}
			for _, c := range comps {
				if err := c.Shutdown(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if got := sink.SpanCount(); got != tc.spans {
				t.Fatalf("%d spans out, want %d", got, tc.spans)
			}
			for _, td := range sink.AllTraces() {
				for i := range td.ResourceSpans().Len() {
					rs := td.ResourceSpans().At(i)
					checkAttr(t, "resource", rs.Resource().Attributes(), "deployment.environment.name", "edge", tc.enriched)
					checkAttr(t, "resource", rs.Resource().Attributes(), "host.name", "edge-01", tc.enriched)
					for j := range rs.ScopeSpans().Len() {
						spans := rs.ScopeSpans().At(j).Spans()
						for k := range spans.Len() {
							s := spans.At(k)
							checkAttr(t, "span", s.Attributes(), "team", "payments", tc.enriched)
							if v, _ := s.Attributes().Get("http.route"); tc.spans < benchItems && v.Str() == "/healthz" {
								t.Fatal("a /healthz span was not dropped")
							}
							if want := 10 + map[bool]int{true: 1}[tc.enriched]; s.Attributes().Len() != want {
								t.Fatalf("span has %d attributes, want %d", s.Attributes().Len(), want)
							}
						}
					}
				}
			}
		})
	}
}

// TestSameFileBothSides: this file is the same in ../ours and ../upstream
// apart from the package clause (run.sh checks it too), so that both sides
// measure the same data the same way.
func TestSameFileBothSides(t *testing.T) {
	var text [2]string
	for i, side := range []string{"ours", "upstream"} {
		b, err := os.ReadFile(filepath.Join("..", side, "data_test.go"))
		if err != nil {
			t.Fatal(err)
		}
		var keep []string
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(l, "package ") {
				keep = append(keep, l)
			}
		}
		text[i] = strings.Join(keep, "\n")
	}
	if text[0] != text[1] {
		t.Fatal("ours/data_test.go and upstream/data_test.go differ: copy one onto the other (keep the import comment)")
	}
}

func checkAttr(t *testing.T, where string, m pcommon.Map, key, want string, present bool) {
	t.Helper()
	v, ok := m.Get(key)
	if !present {
		if ok && v.Str() == want {
			t.Fatalf("%s attribute %s=%s set, want untouched", where, key, want)
		}
		return
	}
	if !ok || v.Str() != want {
		t.Fatalf("%s attribute %s = %q (present %v), want %q", where, key, v.AsString(), ok, want)
	}
}
