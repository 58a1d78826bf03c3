// SPDX-License-Identifier: Apache-2.0

package e2e // import "github.com/otelcol-edge/otelcol-edge/internal/e2e"

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	grpcgzip "google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/metadata"
)

// ExportResult is what an OTLP export answered besides success or error.
type ExportResult struct {
	// Rejected is the partial-success count of rejected items (0 if all
	// were accepted).
	Rejected int64
	// ErrorMessage is the partial-success error message.
	ErrorMessage string
}

// HTTPStatusError is returned by an HTTP Client when the server answers a
// status other than 200.
type HTTPStatusError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Body is (the start of) the response body.
	Body string
}

// Error implements error.
func (e *HTTPStatusError) Error() string {
	return fmt.Sprintf("OTLP/HTTP status %d: %q", e.StatusCode, e.Body)
}

// HTTPStatus returns the HTTP status carried by err (an *HTTPStatusError
// anywhere in its chain), or 0.
func HTTPStatus(err error) int {
	var he *HTTPStatusError
	if errors.As(err, &he) {
		return he.StatusCode
	}
	return 0
}

// GRPCClientOptions configures NewGRPCClientWithOptions.
type GRPCClientOptions struct {
	// Gzip compresses requests.
	Gzip bool
	// Headers are sent as gRPC metadata with every request.
	Headers map[string]string
}

// HTTPClientOptions configures NewHTTPClientWithOptions.
type HTTPClientOptions struct {
	// Gzip compresses request bodies.
	Gzip bool
	// JSON sends OTLP/JSON instead of protobuf.
	JSON bool
	// Headers are sent with every request.
	Headers map[string]string
	// Timeout bounds each request; 0 means 30s.
	Timeout time.Duration
}

// Client sends OTLP traces, metrics and logs to a collector (or a Sink) over
// gRPC or HTTP. It is safe for concurrent use and closed on cleanup.
type Client struct {
	// gRPC
	conn    *grpc.ClientConn
	traces  ptraceotlp.GRPCClient
	metrics pmetricotlp.GRPCClient
	logs    plogotlp.GRPCClient
	callOps []grpc.CallOption
	md      metadata.MD

	// HTTP
	baseURL string
	http    *http.Client
	hopts   HTTPClientOptions
}

// NewGRPCClient returns an OTLP/gRPC client for endpoint ("127.0.0.1:4317").
func NewGRPCClient(t testing.TB, endpoint string) *Client {
	t.Helper()
	return NewGRPCClientWithOptions(t, endpoint, GRPCClientOptions{})
}

// NewGRPCClientWithOptions returns an OTLP/gRPC client for endpoint. Its
// reconnect backoff is short (at most 1s) so a restarted server is reached
// again quickly.
func NewGRPCClientWithOptions(t testing.TB, endpoint string, opts GRPCClientOptions) *Client {
	t.Helper()
	conn, err := grpc.NewClient(endpoint,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(maxHTTPBody), grpc.MaxCallRecvMsgSize(maxHTTPBody)),
	)
	if err != nil {
		t.Fatalf("NewGRPCClient %s: %v", endpoint, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := &Client{
		conn:    conn,
		traces:  ptraceotlp.NewGRPCClient(conn),
		metrics: pmetricotlp.NewGRPCClient(conn),
		logs:    plogotlp.NewGRPCClient(conn),
	}
	if opts.Gzip {
		c.callOps = append(c.callOps, grpc.UseCompressor(grpcgzip.Name))
	}
	if len(opts.Headers) > 0 {
		c.md = metadata.New(opts.Headers)
	}
	return c
}

// NewHTTPClient returns an OTLP/HTTP protobuf client posting to
// baseURL + "/v1/traces" etc. (baseURL like "http://127.0.0.1:4318").
func NewHTTPClient(t testing.TB, baseURL string) *Client {
	t.Helper()
	return NewHTTPClientWithOptions(t, baseURL, HTTPClientOptions{})
}

// NewHTTPClientWithOptions returns an OTLP/HTTP client for baseURL.
func NewHTTPClientWithOptions(t testing.TB, baseURL string, opts HTTPClientOptions) *Client {
	t.Helper()
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return &Client{
		baseURL: strings.TrimSuffix(baseURL, "/"),
		http:    &http.Client{Transport: tr, Timeout: opts.Timeout},
		hopts:   opts,
	}
}

// grpcContext attaches the configured metadata.
func (c *Client) grpcContext(ctx context.Context) context.Context {
	if c.md == nil {
		return ctx
	}
	return metadata.NewOutgoingContext(ctx, c.md)
}

// SendTraces exports td; a partial success is not an error.
func (c *Client) SendTraces(ctx context.Context, td ptrace.Traces) error {
	_, err := c.ExportTraces(ctx, td)
	return err
}

// SendMetrics exports md; a partial success is not an error.
func (c *Client) SendMetrics(ctx context.Context, md pmetric.Metrics) error {
	_, err := c.ExportMetrics(ctx, md)
	return err
}

// SendLogs exports ld; a partial success is not an error.
func (c *Client) SendLogs(ctx context.Context, ld plog.Logs) error {
	_, err := c.ExportLogs(ctx, ld)
	return err
}

// ExportTraces exports td and returns the partial-success part of the
// answer. gRPC errors are status errors (use status.Code); HTTP errors are
// *HTTPStatusError (use HTTPStatus).
func (c *Client) ExportTraces(ctx context.Context, td ptrace.Traces) (ExportResult, error) {
	req := ptraceotlp.NewExportRequestFromTraces(td)
	if c.conn != nil {
		resp, err := c.traces.Export(c.grpcContext(ctx), req, c.callOps...)
		if err != nil {
			return ExportResult{}, err
		}
		return ExportResult{Rejected: resp.PartialSuccess().RejectedSpans(), ErrorMessage: resp.PartialSuccess().ErrorMessage()}, nil
	}
	resp := ptraceotlp.NewExportResponse()
	if err := c.post(ctx, "/v1/traces", req.MarshalJSON, req.MarshalProto, resp.UnmarshalJSON, resp.UnmarshalProto); err != nil {
		return ExportResult{}, err
	}
	return ExportResult{Rejected: resp.PartialSuccess().RejectedSpans(), ErrorMessage: resp.PartialSuccess().ErrorMessage()}, nil
}

// ExportMetrics exports md and returns the partial-success part of the
// answer (see ExportTraces).
func (c *Client) ExportMetrics(ctx context.Context, md pmetric.Metrics) (ExportResult, error) {
	req := pmetricotlp.NewExportRequestFromMetrics(md)
	if c.conn != nil {
		resp, err := c.metrics.Export(c.grpcContext(ctx), req, c.callOps...)
		if err != nil {
			return ExportResult{}, err
		}
		return ExportResult{Rejected: resp.PartialSuccess().RejectedDataPoints(), ErrorMessage: resp.PartialSuccess().ErrorMessage()}, nil
	}
	resp := pmetricotlp.NewExportResponse()
	if err := c.post(ctx, "/v1/metrics", req.MarshalJSON, req.MarshalProto, resp.UnmarshalJSON, resp.UnmarshalProto); err != nil {
		return ExportResult{}, err
	}
	return ExportResult{Rejected: resp.PartialSuccess().RejectedDataPoints(), ErrorMessage: resp.PartialSuccess().ErrorMessage()}, nil
}

// ExportLogs exports ld and returns the partial-success part of the answer
// (see ExportTraces).
func (c *Client) ExportLogs(ctx context.Context, ld plog.Logs) (ExportResult, error) {
	req := plogotlp.NewExportRequestFromLogs(ld)
	if c.conn != nil {
		resp, err := c.logs.Export(c.grpcContext(ctx), req, c.callOps...)
		if err != nil {
			return ExportResult{}, err
		}
		return ExportResult{Rejected: resp.PartialSuccess().RejectedLogRecords(), ErrorMessage: resp.PartialSuccess().ErrorMessage()}, nil
	}
	resp := plogotlp.NewExportResponse()
	if err := c.post(ctx, "/v1/logs", req.MarshalJSON, req.MarshalProto, resp.UnmarshalJSON, resp.UnmarshalProto); err != nil {
		return ExportResult{}, err
	}
	return ExportResult{Rejected: resp.PartialSuccess().RejectedLogRecords(), ErrorMessage: resp.PartialSuccess().ErrorMessage()}, nil
}

// post sends one OTLP/HTTP request and decodes the response.
func (c *Client) post(ctx context.Context, path string, toJSON, toProto func() ([]byte, error), fromJSON, fromProto func([]byte) error) error {
	contentType := contentTypeProto
	marshal, unmarshal := toProto, fromProto
	if c.hopts.JSON {
		contentType, marshal, unmarshal = contentTypeJSON, toJSON, fromJSON
	}
	body, err := marshal()
	if err != nil {
		return fmt.Errorf("marshal: %w", err)
	}
	if c.hopts.Gzip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(body); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		body = buf.Bytes()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	if c.hopts.Gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	for k, v := range c.hopts.Headers {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, maxHTTPBody))
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return &HTTPStatusError{StatusCode: resp.StatusCode, Body: tail(string(respBody), 10, 2048)}
	}
	if len(respBody) == 0 {
		return nil
	}
	if err := unmarshal(respBody); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}
