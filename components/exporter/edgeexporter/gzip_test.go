// Copyright The otelcol-edge Authors
// SPDX-License-Identifier: Apache-2.0

package edgeexporter

import (
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"crypto/rand"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
)

// realisticTraces is a request like the benchmark's: random trace and span
// IDs, a handful of attributes.
func realisticTraces(n int) []byte {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	rs.Resource().Attributes().PutStr("host.name", "shop-0042-pos-3")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	var id [24]byte
	for i := 0; i < n; i++ {
		_, _ = rand.Read(id[:])
		sp := spans.AppendEmpty()
		sp.SetTraceID([16]byte(id[:16]))
		sp.SetSpanID([8]byte(id[16:]))
		sp.SetName("GET /cart")
		start := uint64(1_700_000_000_000_000_000) + binary.LittleEndian.Uint64(id[:8])%1e12
		sp.SetStartTimestamp(pcommon.Timestamp(start))
		sp.SetEndTimestamp(pcommon.Timestamp(start + 1_500_000))
		sp.Attributes().PutStr("http.route", "/cart")
		sp.Attributes().PutInt("http.status_code", 200)
		sp.Attributes().PutStr("user.session", "3f1c0a9e-52b7-4c2e-9d0b-7e1f4b0c6a11")
	}
	b, _ := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	return b
}

func fastCompress(t testing.TB, p []byte) []byte {
	var w sliceWriter
	require.NoError(t, gzipAppend(&w, p))
	return w.b
}

func stdDecompress(p []byte) ([]byte, error) {
	r, err := stdgzip.NewReader(bytes.NewReader(p))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// TestGRPCGzipCompressorIsFast: the process-wide gRPC "gzip" compressor is
// ours (the standard library's otherwise).
func TestGRPCGzipCompressorIsFast(t *testing.T) {
	c := encoding.GetCompressor("gzip")
	require.NotNil(t, c)
	assert.IsType(t, &gzipCodec{}, c)
}

// TestFastGzipInteroperates: what we write, the standard library reads, and
// what the standard library (any other client) writes, we read; pooled
// writers and readers do not leak state from one message into the next.
func TestFastGzipInteroperates(t *testing.T) {
	for _, p := range [][]byte{nil, []byte("x"), realisticTraces(1), realisticTraces(500), bytes.Repeat([]byte{0}, 3<<20)} {
		for i := 0; i < 3; i++ { // reuse the pooled writer and reader
			got, err := stdDecompress(fastCompress(t, p))
			require.NoError(t, err)
			assert.True(t, bytes.Equal(p, got), "standard library reads ours (%d bytes)", len(p))

			var std bytes.Buffer
			zw := stdgzip.NewWriter(&std)
			_, _ = zw.Write(p)
			require.NoError(t, zw.Close())
			r, err := fastGzip.Decompress(bytes.NewReader(std.Bytes()))
			require.NoError(t, err)
			got, err = io.ReadAll(r)
			require.NoError(t, err)
			require.NoError(t, r.(io.Closer).Close())
			assert.True(t, bytes.Equal(p, got), "ours reads the standard library's (%d bytes)", len(p))
		}
	}
	_, err := fastGzip.Decompress(bytes.NewReader([]byte("not gzip")))
	assert.Error(t, err)
}

// FuzzFastGzipAgainstStdlib: any input round-trips through our writer and
// the standard library's reader.
func FuzzFastGzipAgainstStdlib(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("hello hello hello"))
	f.Add(realisticTraces(3))
	f.Fuzz(func(t *testing.T, p []byte) {
		got, err := stdDecompress(fastCompress(t, p))
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("round trip of %d bytes failed: %v", len(p), err)
		}
	})
}

// TestGRPCGzipThroughOurCodecBothWays: a gRPC server in this process (like
// the collector's OTLP receiver, which shares the compressor registry)
// decompresses what a client compressed with the registered "gzip".
func TestGRPCGzipThroughOurCodecBothWays(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	got := make(chan int, 1)
	ptraceotlp.RegisterGRPCServer(srv, &traceServer{f: func(req ptraceotlp.ExportRequest) {
		got <- req.Traces().SpanCount()
	}})
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	body := realisticTraces(200)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var resp []byte
	err = conn.Invoke(ctx, grpcMethods[kindTraces], &body, &resp, grpc.ForceCodecV2(rawCodecV2{}), grpc.UseCompressor("gzip"))
	require.NoError(t, err)
	assert.Equal(t, 200, <-got)
}

type traceServer struct {
	ptraceotlp.UnimplementedGRPCServer
	f func(ptraceotlp.ExportRequest)
}

func (s *traceServer) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.f(req)
	return ptraceotlp.NewExportResponse(), nil
}

// TestHTTPGzipBody: with compression gzip (the default), OTLP/HTTP bodies
// are gzip (Content-Encoding set once) and decode to the request.
func TestHTTPGzipBody(t *testing.T) {
	type seen struct {
		enc  []string
		body []byte
	}
	ch := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- seen{r.Header.Values("Content-Encoding"), b}
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	cfg := createDefaultConfig().(*Config)
	require.Equal(t, configcompression.TypeGzip, cfg.HTTP.Compression, "gzip is the default")
	c, err := newHTTPClient(context.Background(), cfg, srv.URL, componenttest.NewNopHost(), componenttest.NewNopTelemetrySettings(), "test")
	require.NoError(t, err)
	defer c.close()
	body := realisticTraces(100)
	for i := 0; i < 2; i++ {
		_, serr := c.export(context.Background(), kindTraces, body)
		require.Nil(t, serr)
		s := <-ch
		assert.Equal(t, []string{"gzip"}, s.enc)
		plain, err := stdDecompress(s.body)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(body, plain))
	}
}

// BenchmarkWireGzip compares the standard library's gzip (what gRPC and
// confighttp use by default) with ours on a realistic 512-span request.
func BenchmarkWireGzip(b *testing.B) {
	body := realisticTraces(512)
	b.Run("stdlib", func(b *testing.B) {
		var buf bytes.Buffer
		zw := stdgzip.NewWriter(&buf)
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			buf.Reset()
			zw.Reset(&buf)
			_, _ = zw.Write(body)
			_ = zw.Close()
		}
		b.ReportMetric(float64(buf.Len())/float64(len(body)), "ratio")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/512, "ns/span")
	})
	b.Run("fast", func(b *testing.B) {
		var w sliceWriter
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			w.b = w.b[:0]
			_ = gzipAppend(&w, body)
		}
		b.ReportMetric(float64(len(w.b))/float64(len(body)), "ratio")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/512, "ns/span")
	})
}
