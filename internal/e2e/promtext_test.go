// SPDX-License-Identifier: Apache-2.0

package e2e // import "github.com/otelcol-edge/otelcol-edge/internal/e2e"

import (
	"math"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sampleExposition = `# HELP otelcol_receiver_accepted_spans_total Number of spans successfully pushed into the pipeline.
# TYPE otelcol_receiver_accepted_spans_total counter
otelcol_receiver_accepted_spans_total{transport="grpc",receiver="otlp",service_name="otelcol-edge"} 120
otelcol_receiver_accepted_spans_total{receiver="otlp",service_name="otelcol-edge",transport="http"} 30
otelcol_receiver_accepted_spans_total{receiver="otlp/2",service_name="otelcol-edge",transport="http"} 5 1712345678000

# HELP otelcol_exporter_queue_size Current size of the retry queue (in batches)
# TYPE otelcol_exporter_queue_size gauge
otelcol_exporter_queue_size{data_type="traces",exporter="otlp"} 0
otelcol_process_uptime_seconds_total 12.5e0
target_info{msg="say \"hi\", ok",path="C:\\tmp"} 1
latency_bucket{le="0.1"} 3
latency_bucket{le="+Inf"} 7
latency_sum -Inf
latency_nan NaN
{"otelcol.custom.metric",kind="x"} 2
spaced { a = "1" , b="2" , } 4
`

func TestParsePrometheusText(t *testing.T) {
	m, err := ParsePrometheusText(sampleExposition)
	require.NoError(t, err)

	assert.InDelta(t, 120, m[`otelcol_receiver_accepted_spans_total{receiver="otlp",service_name="otelcol-edge",transport="grpc"}`], 0)
	assert.InDelta(t, 5, m[`otelcol_receiver_accepted_spans_total{receiver="otlp/2",service_name="otelcol-edge",transport="http"}`], 0)
	assert.InDelta(t, 0, m[`otelcol_exporter_queue_size{data_type="traces",exporter="otlp"}`], 0)
	assert.InDelta(t, 12.5, m["otelcol_process_uptime_seconds_total"], 0)
	assert.InDelta(t, 1, m[`target_info{msg="say \"hi\", ok",path="C:\\tmp"}`], 0)
	assert.InDelta(t, 7, m[`latency_bucket{le="+Inf"}`], 0)
	assert.True(t, math.IsInf(m["latency_sum"], -1))
	assert.True(t, math.IsNaN(m["latency_nan"]))
	assert.InDelta(t, 2, m[`otelcol.custom.metric{kind="x"}`], 0)
	assert.InDelta(t, 4, m[`spaced{a="1",b="2"}`], 0)
	assert.Len(t, m, 12)

	assert.InDelta(t, 155, SumMetric(m, "otelcol_receiver_accepted_spans_total", nil), 0)
	assert.InDelta(t, 150, SumMetric(m, "otelcol_receiver_accepted_spans_total", map[string]string{"receiver": "otlp"}), 0)
	assert.InDelta(t, 30, SumMetric(m, "otelcol_receiver_accepted_spans_total", map[string]string{"receiver": "otlp", "transport": "http"}), 0)
	assert.InDelta(t, 0, SumMetric(m, "otelcol_receiver_accepted_spans_total", map[string]string{"receiver": "nope"}), 0)
	assert.InDelta(t, 0, SumMetric(m, "otelcol_receiver_accepted_spans", nil), 0, "no prefix matches")
	assert.InDelta(t, 1, SumMetric(m, "target_info", map[string]string{"msg": `say "hi", ok`, "path": `C:\tmp`}), 0)

	key := SeriesKey("target_info", map[string]string{"path": `C:\tmp`, "msg": `say "hi", ok`})
	assert.Contains(t, m, key)
	name, labels, err := ParseSeriesKey(key)
	require.NoError(t, err)
	assert.Equal(t, "target_info", name)
	assert.Equal(t, map[string]string{"path": `C:\tmp`, "msg": `say "hi", ok`}, labels)
}

func TestParsePrometheusTextErrors(t *testing.T) {
	for _, bad := range []string{
		"metric_without_value",
		`m{a="1" 3`,
		`m{a=1} 3`,
		`m{a="1} 3`,
		"m abc",
		"m 1 2 3",
		`{a="1"} 3`,
	} {
		_, err := ParsePrometheusText(bad + "\n")
		assert.Error(t, err, "%q", bad)
	}
}

func TestScrapeMetrics(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte(sampleExposition))
	}))
	t.Cleanup(srv.Close)
	m := ScrapeMetrics(t, srv.URL+"/metrics")
	assert.InDelta(t, 155, SumMetric(m, "otelcol_receiver_accepted_spans_total", nil), 0)

	_, err := TryScrapeMetrics(srv.URL + "/other")
	require.Error(t, err)
	f := &fakeTB{TB: t}
	ScrapeMetrics(f, srv.URL+"/other")
	assert.Len(t, f.messages(), 1)
}
