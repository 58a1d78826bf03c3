// SPDX-License-Identifier: Apache-2.0

// Package tests holds the end-to-end tests of the otelcol-edge distribution:
// they run the built collector binary (OTELCOL_EDGE_BIN, see the e2e
// harness) with the configs in testdata/, against a real OTLP sink, and
// check what arrives, what the edge exporter reports on its Prometheus
// endpoint, and what it leaves on disk.
//
// Set OTELCOL_EDGE_LONG=1 for the long variants (more spans, longer
// flapping).
package tests // import "github.com/otelcol-edge/otelcol-edge/internal/e2e/tests"
