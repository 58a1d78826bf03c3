// SPDX-License-Identifier: Apache-2.0

// Command loadgen sends pre-encoded OTLP trace export requests to a collector
// over gRPC, as fast as they are accepted or at a fixed rate, and prints the
// accepted and rejected span counts.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/otelcol-edge/otelcol-edge/bench/internal/loadgen"
	"github.com/otelcol-edge/otelcol-edge/bench/internal/payload"
)

func main() {
	endpoint := flag.String("endpoint", "127.0.0.1:4317", "OTLP/gRPC receiver (loopback only)")
	spans := flag.Int("spans-per-request", 500, "spans per export request")
	conns := flag.Int("connections", 4, "gRPC connections")
	workers := flag.Int("workers", 2, "concurrent requests per connection")
	rate := flag.Float64("rate", 0, "spans per second (0: as fast as accepted)")
	dur := flag.Duration("duration", 10*time.Second, "run time (0: until -max-spans)")
	maxSpans := flag.Int64("max-spans", 0, "stop after this many spans attempted (0: no limit)")
	unique := flag.Bool("unique-ids", true, "make every span's trace and span ID unique")
	healthChecks := flag.Bool("health-checks", false, "make every tenth span a health check (http.route /healthz), like the benchmark's payload")
	flag.Parse()

	host := (*endpoint)[:max(strings.LastIndex(*endpoint, ":"), 0)]
	if host != "127.0.0.1" && host != "localhost" && host != "[::1]" {
		fmt.Fprintln(os.Stderr, "loadgen: only loopback endpoints are allowed")
		os.Exit(2)
	}
	if *dur <= 0 && *maxSpans <= 0 {
		fmt.Fprintln(os.Stderr, "loadgen: set -duration or -max-spans")
		os.Exit(2)
	}
	build := payload.Build
	if *healthChecks {
		build = payload.BuildWithHealthChecks
	}
	req, err := build(*spans)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := loadgen.Run(ctx, loadgen.Config{
		Endpoint: *endpoint, Payload: req, Connections: *conns, Workers: *workers,
		Rate: *rate, Duration: *dur, MaxSpans: *maxSpans, UniqueIDs: *unique,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	fmt.Printf("request_bytes=%d bytes_per_span=%d accepted=%d rejected=%d requests=%d failures=%d elapsed=%s spans_per_s=%.0f\n",
		len(req), len(req) / *spans, res.Accepted, res.Rejected, res.Requests, res.Failures, res.Elapsed.Round(time.Millisecond), res.SpansPerSecond())
	if res.LastError != "" {
		fmt.Printf("last_error=%q\n", res.LastError)
	}
}
