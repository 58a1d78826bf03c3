// SPDX-License-Identifier: Apache-2.0

package e2e // import "github.com/otelcol-edge/otelcol-edge/internal/e2e"

import (
	"bytes"
	"compress/zlib"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	spb "google.golang.org/genproto/googleapis/rpc/status"
)

// clientKinds builds every client flavour against a sink.
var clientKinds = []struct {
	name string
	grpc bool
	make func(t *testing.T, s *Sink, headers map[string]string) *Client
}{
	{"grpc", true, func(t *testing.T, s *Sink, h map[string]string) *Client {
		return NewGRPCClientWithOptions(t, s.GRPCEndpoint(), GRPCClientOptions{Headers: h})
	}},
	{"grpc-gzip", true, func(t *testing.T, s *Sink, h map[string]string) *Client {
		return NewGRPCClientWithOptions(t, s.GRPCEndpoint(), GRPCClientOptions{Gzip: true, Headers: h})
	}},
	{"http-proto", false, func(t *testing.T, s *Sink, h map[string]string) *Client {
		return NewHTTPClientWithOptions(t, s.HTTPEndpoint(), HTTPClientOptions{Headers: h})
	}},
	{"http-proto-gzip", false, func(t *testing.T, s *Sink, h map[string]string) *Client {
		return NewHTTPClientWithOptions(t, s.HTTPEndpoint(), HTTPClientOptions{Gzip: true, Headers: h})
	}},
	{"http-json", false, func(t *testing.T, s *Sink, h map[string]string) *Client {
		return NewHTTPClientWithOptions(t, s.HTTPEndpoint(), HTTPClientOptions{JSON: true, Headers: h})
	}},
	{"http-json-gzip", false, func(t *testing.T, s *Sink, h map[string]string) *Client {
		return NewHTTPClientWithOptions(t, s.HTTPEndpoint(), HTTPClientOptions{JSON: true, Gzip: true, Headers: h})
	}},
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSinkReceivesAllSignals(t *testing.T) {
	for _, kind := range clientKinds {
		t.Run(kind.name, func(t *testing.T) {
			sink := NewSink(t, SinkOptions{KeepData: true})
			c := kind.make(t, sink, map[string]string{"x-tenant": "acme"})
			ctx := testCtx(t)

			td := GenTraces(3, 10, 1000)
			require.NoError(t, c.SendTraces(ctx, td))
			require.NoError(t, c.SendMetrics(ctx, GenMetrics(7)))
			require.NoError(t, c.SendLogs(ctx, GenLogs(5)))

			assert.Equal(t, 30, sink.SpanCount())
			assert.Equal(t, 7, sink.DataPointCount())
			assert.Equal(t, 5, sink.LogCount())
			assert.EqualValues(t, 3, sink.Requests())
			assert.EqualValues(t, 1, sink.SignalRequests(SignalTraces))
			assert.Zero(t, sink.FailedRequests())

			ids := sink.SpanIDs()
			require.Len(t, ids, 30)
			for i := range uint64(30) {
				assert.Equal(t, 1, ids[SpanIDFor(1000+i)], "span %d", 1000+i)
			}
			assert.Equal(t, 30, sink.UniqueSpanCount())
			assert.Zero(t, sink.DuplicateSpanCount())

			attrs := sink.LastResourceAttributes(SignalTraces)
			require.Len(t, attrs, 3)
			assert.Equal(t, "edge-svc-2", attrs[2]["service.name"])
			require.Len(t, sink.LastResourceAttributes(SignalMetrics), 1)
			require.Len(t, sink.LastResourceAttributes(SignalLogs), 1)

			assert.Equal(t, []string{"acme"}, headerValues(sink.LastHeaders(SignalLogs), "x-tenant"))

			kept := sink.ReceivedTraces()
			require.Len(t, kept, 1)
			assert.Equal(t, SpanIDsOf(td), SpanIDsOf(kept[0]))
			require.Len(t, sink.ReceivedMetrics(), 1)
			require.Len(t, sink.ReceivedLogs(), 1)

			// Same spans again: duplicates are measurable.
			require.NoError(t, c.SendTraces(ctx, td))
			sink.WaitForSpans(t, 60, time.Second)
			assert.Equal(t, 30, sink.DuplicateSpanCount())
			assert.Equal(t, 2, sink.SpanIDs()[SpanIDFor(1000)])

			sink.Reset()
			assert.Zero(t, sink.SpanCount())
			assert.Zero(t, sink.Requests())
			assert.Empty(t, sink.SpanIDs())
			assert.Empty(t, sink.ReceivedTraces())
		})
	}
}

// headerValues looks a header up case-insensitively.
func headerValues(h map[string][]string, key string) []string {
	for k, v := range h {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}

func TestSinkDisableSpanIDsAndKeepBound(t *testing.T) {
	sink := NewSink(t, SinkOptions{DisableSpanIDs: true, KeepData: true, MaxKeptRequests: 2})
	c := NewGRPCClient(t, sink.GRPCEndpoint())
	for i := range uint64(3) {
		require.NoError(t, c.SendTraces(testCtx(t), GenTraces(1, 5, i*5)))
	}
	assert.Equal(t, 15, sink.SpanCount())
	assert.Empty(t, sink.SpanIDs())
	kept := sink.ReceivedTraces()
	require.Len(t, kept, 2)
	assert.Equal(t, [8]byte(SpanIDFor(5)), SpanIDsOf(kept[0])[0], "oldest payload dropped first")
}

func TestSinkStopStartSamePorts(t *testing.T) {
	sink := NewSink(t, SinkOptions{})
	grpcPort, httpPort := sink.GRPCPort(), sink.HTTPPort()
	gc := NewGRPCClient(t, sink.GRPCEndpoint())
	hc := NewHTTPClient(t, sink.HTTPEndpoint())
	require.NoError(t, gc.SendTraces(testCtx(t), GenTraces(1, 1, 1)))
	require.NoError(t, hc.SendTraces(testCtx(t), GenTraces(1, 1, 2)))

	sink.Stop()
	assert.False(t, sink.Running())
	err := gc.SendTraces(testCtx(t), GenTraces(1, 1, 3))
	require.Error(t, err)
	assert.Equal(t, codes.Unavailable, status.Code(err))
	require.Error(t, hc.SendTraces(testCtx(t), GenTraces(1, 1, 3)))
	sink.Stop() // idempotent

	sink.Start()
	assert.True(t, sink.Running())
	assert.Equal(t, grpcPort, sink.GRPCPort())
	assert.Equal(t, httpPort, sink.HTTPPort())
	// The gRPC client may still be in reconnect backoff for a moment.
	Eventually(t, 10*time.Second, 50*time.Millisecond, func() bool {
		return gc.SendTraces(testCtx(t), GenTraces(1, 1, 4)) == nil
	}, "gRPC send after restart")
	require.NoError(t, hc.SendTraces(testCtx(t), GenTraces(1, 1, 5)))
	assert.Equal(t, 4, sink.SpanCount(), "counts survive a restart")
	assert.Equal(t, 1, sink.SpanIDs()[SpanIDFor(5)])
}

func TestSinkFixedPorts(t *testing.T) {
	ports := FreePorts(t, 2)
	sink := NewSink(t, SinkOptions{GRPCPort: ports[0], HTTPPort: ports[1]})
	assert.Equal(t, "127.0.0.1:"+strconv.Itoa(ports[0]), sink.GRPCEndpoint())
	assert.Equal(t, "http://127.0.0.1:"+strconv.Itoa(ports[1]), sink.HTTPEndpoint())
	require.NoError(t, NewHTTPClient(t, sink.HTTPEndpoint()).SendLogs(testCtx(t), GenLogs(2)))
	assert.Equal(t, 2, sink.LogCount())
}

func TestSinkFailureModes(t *testing.T) {
	cases := []struct {
		mode     FailureMode
		grpcCode codes.Code
		httpCode int
	}{
		{FailUnavailable, codes.Unavailable, http.StatusServiceUnavailable},
		{FailInvalidArgument, codes.InvalidArgument, http.StatusBadRequest},
		{FailResourceExhausted, codes.ResourceExhausted, http.StatusTooManyRequests},
	}
	sink := NewSink(t, SinkOptions{})
	gc := NewGRPCClient(t, sink.GRPCEndpoint())
	hc := NewHTTPClient(t, sink.HTTPEndpoint())
	jc := NewHTTPClientWithOptions(t, sink.HTTPEndpoint(), HTTPClientOptions{JSON: true})
	ctx := testCtx(t)
	for _, tc := range cases {
		t.Run(tc.mode.String(), func(t *testing.T) {
			sink.Reset()
			sink.SetFailure(tc.mode)

			err := gc.SendTraces(ctx, GenTraces(1, 2, 0))
			assert.Equal(t, tc.grpcCode, status.Code(err), "traces: %v", err)
			err = gc.SendMetrics(ctx, GenMetrics(2))
			assert.Equal(t, tc.grpcCode, status.Code(err), "metrics: %v", err)
			err = gc.SendLogs(ctx, GenLogs(2))
			assert.Equal(t, tc.grpcCode, status.Code(err), "logs: %v", err)

			err = hc.SendTraces(ctx, GenTraces(1, 2, 0))
			assert.Equal(t, tc.httpCode, HTTPStatus(err), "http traces: %v", err)
			err = hc.SendMetrics(ctx, GenMetrics(2))
			assert.Equal(t, tc.httpCode, HTTPStatus(err))
			err = jc.SendLogs(ctx, GenLogs(2))
			assert.Equal(t, tc.httpCode, HTTPStatus(err))
			assert.Contains(t, err.Error(), "simulated")

			assert.Zero(t, sink.SpanCount())
			assert.Zero(t, sink.DataPointCount())
			assert.Zero(t, sink.LogCount())
			assert.EqualValues(t, 6, sink.Requests())
			assert.EqualValues(t, 6, sink.FailedRequests())
		})
	}

	sink.SetFailure(FailNone)
	require.NoError(t, gc.SendTraces(ctx, GenTraces(1, 1, 0)))

	// Per-request decisions: fail every odd request over HTTP only.
	sink.Reset()
	sink.SetFailureFunc(func(ri RequestInfo) FailureMode {
		if ri.Transport == TransportHTTP && ri.Seq%2 == 1 {
			return FailUnavailable
		}
		return FailNone
	})
	assert.Equal(t, http.StatusServiceUnavailable, HTTPStatus(hc.SendTraces(ctx, GenTraces(1, 1, 10)))) // seq 1
	require.NoError(t, hc.SendTraces(ctx, GenTraces(1, 1, 11)))                                         // seq 2
	require.NoError(t, gc.SendTraces(ctx, GenTraces(1, 1, 12)))                                         // seq 3, gRPC
	assert.Equal(t, 2, sink.SpanCount())
	assert.Equal(t, map[[8]byte]int{SpanIDFor(11): 1, SpanIDFor(12): 1}, sink.SpanIDs())
	sink.SetFailureFunc(nil)
	require.NoError(t, hc.SendTraces(ctx, GenTraces(1, 1, 13)))
}

func TestSinkHTTPErrorBodyIsStatus(t *testing.T) {
	sink := NewSink(t, SinkOptions{})
	sink.SetFailure(FailUnavailable)
	body, err := ptraceotlp.NewExportRequestFromTraces(GenTraces(1, 1, 0)).MarshalProto()
	require.NoError(t, err)
	resp := postRaw(t, sink.HTTPEndpoint()+"/v1/traces", "application/x-protobuf", "", body)
	assert.Equal(t, http.StatusServiceUnavailable, resp.code)
	var st spb.Status
	require.NoError(t, proto.Unmarshal(resp.body, &st))
	assert.Equal(t, int32(codes.Unavailable), st.GetCode())
}

func TestSinkPartialSuccess(t *testing.T) {
	for _, kind := range clientKinds {
		t.Run(kind.name, func(t *testing.T) {
			sink := NewSink(t, SinkOptions{})
			sink.SetPartialSuccess(3, "too old")
			c := kind.make(t, sink, nil)
			ctx := testCtx(t)

			res, err := c.ExportTraces(ctx, GenTraces(1, 5, 0))
			require.NoError(t, err)
			assert.Equal(t, ExportResult{Rejected: 3, ErrorMessage: "too old"}, res)
			res, err = c.ExportMetrics(ctx, GenMetrics(4))
			require.NoError(t, err)
			assert.Equal(t, ExportResult{Rejected: 3, ErrorMessage: "too old"}, res)
			res, err = c.ExportLogs(ctx, GenLogs(4))
			require.NoError(t, err)
			assert.Equal(t, ExportResult{Rejected: 3, ErrorMessage: "too old"}, res)
			assert.Equal(t, 5, sink.SpanCount(), "the sink still records what it received")

			sink.SetPartialSuccess(0, "")
			res, err = c.ExportLogs(ctx, GenLogs(1))
			require.NoError(t, err)
			assert.Equal(t, ExportResult{}, res)
		})
	}
}

func TestSinkDelay(t *testing.T) {
	sink := NewSink(t, SinkOptions{})
	gc := NewGRPCClient(t, sink.GRPCEndpoint())
	hc := NewHTTPClient(t, sink.HTTPEndpoint())
	sink.SetDelay(300 * time.Millisecond)

	start := time.Now()
	require.NoError(t, gc.SendLogs(testCtx(t), GenLogs(1)))
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := gc.SendLogs(ctx, GenLogs(1))
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err))
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	require.Error(t, hc.SendLogs(ctx2, GenLogs(1)))

	// A stop cuts the delay short. The request is of another signal so that
	// its arrival can be told apart: a request given 50 ms above may never
	// have reached the sink (its deadline can pass before it is sent on a
	// loaded machine), so the total count is not known (waiting for 4
	// requests failed 3 times in 100 runs under load).
	sink.SetDelay(time.Minute)
	errc := make(chan error, 1)
	go func() { errc <- hc.SendTraces(context.Background(), GenTraces(1, 1, 0)) }()
	Eventually(t, 5*time.Second, 10*time.Millisecond, func() bool { return sink.SignalRequests(SignalTraces) == 1 }, "the delayed request did not reach the sink")
	start = time.Now()
	sink.Stop()
	select {
	case err := <-errc:
		require.Error(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("delayed request not ended by Stop")
	}
	assert.Less(t, time.Since(start), 10*time.Second)
	// Every request but the first failed: the delays cut short by the
	// client's deadline and the one cut short by Stop.
	Eventually(t, 5*time.Second, 20*time.Millisecond, func() bool { return sink.FailedRequests() == sink.Requests()-1 },
		"failed requests: %d of %d", sink.FailedRequests(), sink.Requests())
	assert.GreaterOrEqual(t, sink.FailedRequests(), int64(1))
	assert.Equal(t, 1, sink.LogCount())
	assert.Zero(t, sink.SpanCount())
}

type rawResp struct {
	code int
	body []byte
}

func postRaw(t *testing.T, url, contentType, encoding string, body []byte) rawResp {
	t.Helper()
	return doRaw(t, http.MethodPost, url, contentType, encoding, body)
}

func doRaw(t *testing.T, method, url, contentType, encoding string, body []byte) rawResp {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), method, url, bytes.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(resp.Body)
	require.NoError(t, err)
	return rawResp{code: resp.StatusCode, body: buf.Bytes()}
}

func TestSinkHTTPEdgeCases(t *testing.T) {
	sink := NewSink(t, SinkOptions{})
	base := sink.HTTPEndpoint()
	body, err := ptraceotlp.NewExportRequestFromTraces(GenTraces(1, 3, 0)).MarshalProto()
	require.NoError(t, err)

	assert.Equal(t, http.StatusMethodNotAllowed, doRaw(t, http.MethodGet, base+"/v1/traces", "", "", nil).code)
	assert.Equal(t, http.StatusUnsupportedMediaType, postRaw(t, base+"/v1/traces", "text/plain", "", body).code)
	assert.Equal(t, http.StatusBadRequest, postRaw(t, base+"/v1/traces", "application/x-protobuf", "", []byte("\xff\xff garbage")).code)
	assert.Equal(t, http.StatusBadRequest, postRaw(t, base+"/v1/traces", "application/x-protobuf", "br", body).code)
	assert.Equal(t, http.StatusNotFound, postRaw(t, base+"/v1/profiles", "application/x-protobuf", "", body).code)
	assert.Zero(t, sink.SpanCount())

	var zbuf bytes.Buffer
	zw := zlib.NewWriter(&zbuf)
	_, err = zw.Write(body)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	resp := postRaw(t, base+"/v1/traces", "application/x-protobuf; charset=utf-8", "deflate", zbuf.Bytes())
	require.Equal(t, http.StatusOK, resp.code, string(resp.body))
	er := ptraceotlp.NewExportResponse()
	require.NoError(t, er.UnmarshalProto(resp.body))
	assert.Equal(t, 3, sink.SpanCount())
}

func TestSinkWaitForTimesOut(t *testing.T) {
	sink := NewSink(t, SinkOptions{})
	f := &fakeTB{TB: t}
	start := time.Now()
	sink.WaitForSpans(f, 1, 200*time.Millisecond)
	sink.WaitForDataPoints(f, 1, 10*time.Millisecond)
	sink.WaitForLogs(f, 1, 10*time.Millisecond)
	assert.Less(t, time.Since(start), 5*time.Second)
	msgs := f.messages()
	require.Len(t, msgs, 3)
	assert.Contains(t, msgs[0], "have 0")

	Eventually(f, 10*time.Millisecond, time.Millisecond, func() bool { return false }, "never %d", 42)
	assert.Contains(t, f.messages()[3], "never 42")
}
