// SPDX-License-Identifier: Apache-2.0

package tests // import "github.com/otelcol-edge/otelcol-edge/internal/e2e/tests"

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-edge/otelcol-edge/internal/e2e"
)

// TestFilterDropsHealthChecksAndMasksCards runs the built binary with testdata/filter_e2e.yaml:
// health-check spans never reach the sink, and a card number in a log body is masked.
func TestFilterDropsHealthChecksAndMasksCards(t *testing.T) {
	sink := e2e.NewSink(t, e2e.SinkOptions{KeepData: true})
	ports := e2e.FreePorts(t, 3)
	c := e2e.StartCollector(t, e2e.CollectorOptions{
		ConfigPath: filepath.Join(e2e.RepoRoot(t), "testdata", "filter_e2e.yaml"),
		Env: map[string]string{
			"OTLP_GRPC_PORT": strconv.Itoa(ports[0]),
			"HEALTH_PORT":    strconv.Itoa(ports[1]),
			"METRICS_PORT":   strconv.Itoa(ports[2]),
			"SINK_ENDPOINT":  sink.GRPCEndpoint(),
		},
		HealthURL:  "http://127.0.0.1:" + strconv.Itoa(ports[1]) + "/",
		MetricsURL: "http://127.0.0.1:" + strconv.Itoa(ports[2]) + "/metrics",
	})
	client := e2e.NewGRPCClient(t, "127.0.0.1:"+strconv.Itoa(ports[0]))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for i, route := range []string{"/healthz", "/cart", "/readyz", "/pay"} {
		s := spans.AppendEmpty()
		s.SetName("GET " + route)
		s.SetSpanID(e2e.SpanIDFor(uint64(i + 1)))
		s.Attributes().PutStr("http.route", route)
	}
	if err := client.SendTraces(ctx, td); err != nil {
		t.Fatalf("send traces: %v", err)
	}

	ld := plog.NewLogs()
	rec := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	rec.Body().SetStr("payment by 4111 1111 1111 1111 from jane@example.com accepted")
	rec.Attributes().PutInt("card", 4111111111111111)
	if err := client.SendLogs(ctx, ld); err != nil {
		t.Fatalf("send logs: %v", err)
	}

	sink.WaitForSpans(t, 2, 20*time.Second)
	sink.WaitForLogs(t, 1, 20*time.Second)
	var names []string
	for _, got := range sink.ReceivedTraces() {
		for i := 0; i < got.ResourceSpans().Len(); i++ {
			ss := got.ResourceSpans().At(i).ScopeSpans()
			for j := 0; j < ss.Len(); j++ {
				for k := 0; k < ss.At(j).Spans().Len(); k++ {
					names = append(names, ss.At(j).Spans().At(k).Name())
				}
			}
		}
	}
	if strings.Join(names, ",") != "GET /cart,GET /pay" {
		t.Fatalf("spans at the sink = %v, want only GET /cart and GET /pay", names)
	}
	got := sink.ReceivedLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	if body := got.Body().Str(); strings.Contains(body, "4111") || strings.Contains(body, "jane@") || !strings.Contains(body, "****") {
		t.Fatalf("log body not masked: %q", body)
	}
	if v, _ := got.Attributes().Get("card"); v.AsString() != "****" {
		t.Fatalf("card attribute not masked: %q", v.AsString())
	}

	// One scrape: contrib filterprocessor's counter, under its name and with its
	// attribute (a contrib dashboard works unchanged), beside our per-rule one.
	var m map[string]float64
	e2e.Eventually(t, 15*time.Second, 200*time.Millisecond, func() bool {
		m, _ = e2e.TryScrapeMetrics(c.Options().MetricsURL)
		return metricValue(m, "processor_filter_spans_filtered", map[string]string{"filter": "filter"}) == 2
	}, "otelcol_processor_filter_spans_filtered{filter=\"filter\"} == 2")
	if got := metricValue(m, "processor_filter_items_dropped", map[string]string{"rule": "health-checks", "signal": "traces"}); got != 2 {
		t.Errorf("otelcol_processor_filter_items_dropped{rule=health-checks} = %v, want 2", got)
	}
}
