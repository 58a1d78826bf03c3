// SPDX-License-Identifier: Apache-2.0

// Package packaging holds the checks of otelcol-edge's packaging: the .deb and
// .rpm manifests and scripts, the systemd unit, the container image, the
// Kubernetes manifests and the OpenTelemetryCollector resource. Every collector
// config they carry is checked by the real binary (`otelcol-edge validate`).
//
// Run by `make test-package` (with the packages) or `make test-distribution`
// (static checks only); the binary is _build/otelcol-edge/otelcol-edge or
// $OTELCOL_EDGE_BIN.
package packaging // import "github.com/otelcol-edge/otelcol-edge/distribution/packaging"
