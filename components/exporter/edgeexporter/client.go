// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

// exportResult is what a backend said about one request.
type exportResult struct {
	// rejected items reported by a partial-success response.
	rejected int64
	// message of a partial-success response.
	message string
	// wireBytes is the request's size on the wire: the gRPC message after
	// compression with its 5-byte frame header (wireStats), or the HTTP
	// body as sent (after gzip when the exporter compresses it); 0 when
	// unknown.
	wireBytes int
}

// sendError classifies a failed request.
type sendError struct {
	err       error
	permanent bool
	// retryAfter is a backend's hint (HTTP Retry-After, gRPC RetryInfo) for
	// the minimum wait before the next attempt, as sent: uncapped (see
	// throttle.go).
	retryAfter time.Duration
	// tooLarge: the backend refused the request for its size (gRPC
	// "received message larger than max", HTTP 413). Sending it again as is
	// would fail forever and hold up everything behind it.
	tooLarge bool
	// serverError: a live backend answered with an internal error (gRPC
	// Internal or Unknown, HTTP 500). Retryable, but a record that gets this
	// answer every time is poison (retry.max_attempts_per_record). Outages
	// (connection errors, timeouts, Unavailable, 502/503/504...) never set it.
	serverError bool
}

func (e *sendError) Error() string { return e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

func retryable(err error) *sendError      { return &sendError{err: err} }
func permanentError(err error) *sendError { return &sendError{err: err, permanent: true} }

// endpointClient sends already-encoded OTLP export requests to one backend.
type endpointClient interface {
	export(ctx context.Context, kind uint8, body []byte) (exportResult, *sendError)
	// reconnect is called before probing an endpoint that failed: it makes the
	// transport try to connect now instead of after its own backoff.
	reconnect()
	close() error
}

var grpcMethods = map[uint8]string{
	kindTraces:  "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
	kindMetrics: "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
	kindLogs:    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}

var httpPaths = map[uint8]string{
	kindTraces:  "/v1/traces",
	kindMetrics: "/v1/metrics",
	kindLogs:    "/v1/logs",
}

// rawCodecV2 passes already-encoded protobuf bytes through gRPC unchanged
// (gRPC's buffer API), so a request read from the log is sent without
// decoding and re-encoding it. A request given in parts (*[][]byte, the
// payloads of a batch of records) goes out as one message without being
// joined into a new buffer first (the compressor reads the parts in turn;
// without compression they are written to the transport in turn). The parts
// are not gRPC's to free: they stay the caller's.
type rawCodecV2 struct{}

func (rawCodecV2) Marshal(v any) (mem.BufferSlice, error) {
	switch b := v.(type) {
	case *[]byte:
		return mem.BufferSlice{mem.SliceBuffer(*b)}, nil
	case *[][]byte:
		out := make(mem.BufferSlice, 0, len(*b))
		for _, p := range *b {
			if len(p) > 0 {
				out = append(out, mem.SliceBuffer(p))
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("rawCodec: unexpected type %T", v)
}

func (rawCodecV2) Unmarshal(data mem.BufferSlice, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: unexpected type %T", v)
	}
	*b = data.Materialize()
	return nil
}

// Name is "proto" so the request keeps the standard application/grpc+proto
// content subtype.
func (rawCodecV2) Name() string { return "proto" }

type grpcClient struct {
	conn     *grpc.ClientConn
	addr     string
	md       metadata.MD
	callOpts []grpc.CallOption
	// countWire: the connection has wireStats (replay.max_bytes_per_second).
	countWire bool
}

func newGRPCClient(ctx context.Context, cfg *Config, endpoint string, host component.Host, set component.TelemetrySettings, userAgent string) (*grpcClient, error) {
	cc := cfg.GRPC
	cc.Endpoint = endpoint
	opts := []configgrpc.ToClientConnOption{configgrpc.WithGrpcDialOption(grpc.WithUserAgent(userAgent))}
	countWire := cfg.Replay.MaxBytesPerSecond > 0 // only the link budget needs the wire size
	if countWire {
		opts = append(opts, configgrpc.WithGrpcDialOption(grpc.WithStatsHandler(wireStats{})))
	}
	conn, err := cc.ToClientConn(ctx, host.GetExtensions(), set, opts...)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %w", endpoint, err)
	}
	md := metadata.MD{}
	for _, h := range cc.Headers {
		md.Append(h.Name, string(h.Value))
	}
	// Its connection failures are our "Endpoint down" lines (grpclog.go).
	grpcLogFilter.add(endpoint)
	return &grpcClient{
		conn:      conn,
		addr:      endpoint,
		md:        md,
		callOpts:  []grpc.CallOption{grpc.ForceCodecV2(rawCodecV2{}), grpc.WaitForReady(cc.WaitForReady)},
		countWire: countWire,
	}, nil
}

func (c *grpcClient) export(ctx context.Context, kind uint8, body []byte) (exportResult, *sendError) {
	return c.invoke(ctx, kind, &body)
}

// exportParts sends the request made of parts (one after the other) without
// joining them (partsClient).
func (c *grpcClient) exportParts(ctx context.Context, kind uint8, parts [][]byte) (exportResult, *sendError) {
	return c.invoke(ctx, kind, &parts)
}

// invoke sends req (*[]byte or *[][]byte, rawCodecV2).
func (c *grpcClient) invoke(ctx context.Context, kind uint8, req any) (exportResult, *sendError) {
	method, ok := grpcMethods[kind]
	if !ok {
		return exportResult{}, permanentError(fmt.Errorf("unknown record kind %d", kind))
	}
	md, copied := c.md, false
	outgoingMetadata(ctx, func(k string, v ...string) {
		if !copied {
			md, copied = c.md.Copy(), true
		}
		md.Append(k, v...)
	})
	if len(md) > 0 {
		ctx = metadata.NewOutgoingContext(ctx, md)
	}
	var resp []byte
	opts := c.callOpts
	if isProbe(ctx) {
		// A probe waits for the connection (up to its deadline) instead of
		// failing at once while the channel is still reconnecting.
		opts = append(opts[:len(opts):len(opts)], grpc.WaitForReady(true))
	}
	var wire *atomic.Int64 // no allocation without the link budget
	if c.countWire {
		wire = new(atomic.Int64)
		ctx = context.WithValue(ctx, wireKey{}, wire)
	}
	if err := c.conn.Invoke(ctx, method, req, &resp, opts...); err != nil {
		return exportResult{}, classifyGRPC(err)
	}
	res := parseResponse(kind, resp)
	if wire != nil {
		res.wireBytes = int(wire.Load())
	}
	return res, nil
}

// wireKey holds, in a call's context, where wireStats adds the bytes the
// request took on the wire.
type wireKey struct{}

// wireStats is a gRPC stats handler that adds the wire length (compressed,
// with the message header) of every outgoing message to the counter in the
// call's context (wireKey): the link budget counts what the link carries.
type wireStats struct{}

func (wireStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (wireStats) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if p, ok := s.(*stats.OutPayload); ok {
		if w, ok := ctx.Value(wireKey{}).(*atomic.Int64); ok {
			w.Add(int64(p.WireLength))
		}
	}
}

func (wireStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (wireStats) HandleConn(context.Context, stats.ConnStats) {}

func (c *grpcClient) close() error {
	err := c.conn.Close()
	if err == nil {
		grpcLogFilter.remove(c.addr)
	}
	return err
}

// reconnect skips gRPC's own reconnection backoff (up to two minutes), so the
// probe after an outage reaches a backend that has come back.
func (c *grpcClient) reconnect() {
	c.conn.ResetConnectBackoff()
	c.conn.Connect()
}

// classifyGRPC decides whether a gRPC error is worth retrying. Authentication
// and authorization failures are retried too: at the edge they are fixed by an
// operator (a rotated token), and the data must still be there when they are.
func classifyGRPC(err error) *sendError {
	st, ok := status.FromError(err)
	if !ok {
		return retryable(err)
	}
	if st.Code() == codes.ResourceExhausted && strings.Contains(st.Message(), "larger than max") {
		return &sendError{err: err, tooLarge: true}
	}
	switch st.Code() {
	case codes.Internal, codes.Unknown:
		// The backend failed on this request: retried, up to
		// retry.max_attempts_per_record for a record sent alone.
		return &sendError{err: err, serverError: true, retryAfter: grpcRetryDelay(st)}
	case codes.Canceled, codes.DeadlineExceeded, codes.Aborted, codes.OutOfRange,
		codes.Unavailable, codes.DataLoss, codes.ResourceExhausted,
		codes.Unauthenticated, codes.PermissionDenied:
		return &sendError{err: err, retryAfter: grpcRetryDelay(st)}
	default:
		// InvalidArgument, NotFound, AlreadyExists, FailedPrecondition,
		// Unimplemented: the backend will never take this request.
		return permanentError(err)
	}
}

// parseResponse reads a partial-success answer; an undecodable response body is
// treated as full success (the backend did answer OK).
func parseResponse(kind uint8, body []byte) exportResult {
	if len(body) == 0 {
		return exportResult{}
	}
	switch kind {
	case kindTraces:
		r := ptraceotlp.NewExportResponse()
		if r.UnmarshalProto(body) == nil {
			return exportResult{rejected: r.PartialSuccess().RejectedSpans(), message: r.PartialSuccess().ErrorMessage()}
		}
	case kindMetrics:
		r := pmetricotlp.NewExportResponse()
		if r.UnmarshalProto(body) == nil {
			return exportResult{rejected: r.PartialSuccess().RejectedDataPoints(), message: r.PartialSuccess().ErrorMessage()}
		}
	case kindLogs:
		r := plogotlp.NewExportResponse()
		if r.UnmarshalProto(body) == nil {
			return exportResult{rejected: r.PartialSuccess().RejectedLogRecords(), message: r.PartialSuccess().ErrorMessage()}
		}
	}
	return exportResult{}
}

type httpClient struct {
	client  *http.Client
	baseURL string
	ua      string
	gzip    bool // compress bodies here (fastGzip) instead of in confighttp
}

func newHTTPClient(ctx context.Context, cfg *Config, endpoint string, host component.Host, set component.TelemetrySettings, userAgent string) (*httpClient, error) {
	hc := cfg.HTTP
	hc.Endpoint = endpoint
	gz := hc.Compression == configcompression.TypeGzip && hc.CompressionParams.Level == 0
	if gz {
		hc.Compression = "" // compressed in export with the faster gzip
	}
	client, err := hc.ToClient(ctx, host.GetExtensions(), set)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %w", endpoint, err)
	}
	return &httpClient{client: client, baseURL: strings.TrimRight(endpoint, "/"), ua: userAgent, gzip: gz}, nil
}

func (c *httpClient) export(ctx context.Context, kind uint8, body []byte) (exportResult, *sendError) {
	path, ok := httpPaths[kind]
	if !ok {
		return exportResult{}, permanentError(fmt.Errorf("unknown record kind %d", kind))
	}
	if c.gzip {
		zb := gzipBufs.Get().(*sliceWriter)
		defer gzipBufs.Put(zb)
		zb.b = zb.b[:0]
		if err := gzipAppend(zb, body); err != nil {
			return exportResult{}, permanentError(err)
		}
		body = zb.b
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+path, bytes.NewReader(body))
	if err != nil {
		return exportResult{}, permanentError(err)
	}
	if c.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", c.ua)
	outgoingMetadata(ctx, func(k string, v ...string) {
		for _, s := range v {
			req.Header.Add(k, s)
		}
	})
	resp, err := c.client.Do(req)
	if err != nil {
		return exportResult{}, retryable(err)
	}
	defer resp.Body.Close()
	respBody, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		res := parseResponse(kind, respBody)
		res.wireBytes = len(body)
		return res, nil
	}
	herr := fmt.Errorf("HTTP %d from %s: %s", resp.StatusCode, c.baseURL+path, strings.TrimSpace(string(truncate(respBody, 256))))
	return exportResult{}, classifyHTTP(resp.StatusCode, herr, resp.Header.Get("Retry-After"))
}

// classifyHTTP decides what a non-2xx answer means, as classifyGRPC does.
func classifyHTTP(code int, err error, retryAfter string) *sendError {
	switch code {
	case http.StatusRequestEntityTooLarge:
		return &sendError{err: err, tooLarge: true}
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout,
		http.StatusRequestTimeout, http.StatusUnauthorized, http.StatusForbidden, http.StatusInternalServerError:
		se := retryable(err)
		se.retryAfter = parseRetryAfter(retryAfter, time.Now())
		// 500: the backend answered and failed on this request; the others
		// say it is down, overloaded or not authorised: an outage.
		se.serverError = code == http.StatusInternalServerError
		return se
	default:
		return permanentError(err)
	}
}

func (c *httpClient) reconnect() { c.client.CloseIdleConnections() }

func (c *httpClient) close() error {
	c.client.CloseIdleConnections()
	return nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

var errNoEndpoint = errors.New("no endpoint reachable")
