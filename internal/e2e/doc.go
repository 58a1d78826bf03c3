// SPDX-License-Identifier: Apache-2.0

// Package e2e holds reusable helpers for end-to-end tests of the otelcol-edge
// collector distribution: free ports, locating and running the built binary,
// a real OTLP backend (Sink) reachable over gRPC and HTTP, OTLP clients and
// deterministic data generators, and a tiny Prometheus text-format parser for
// the collector's own telemetry.
//
// Every helper binds to 127.0.0.1 only, bounds its waits in time and count,
// and registers t.Cleanup for whatever it starts.
package e2e // import "github.com/otelcol-edge/otelcol-edge/internal/e2e"
