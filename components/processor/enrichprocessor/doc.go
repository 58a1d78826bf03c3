// SPDX-License-Identifier: Apache-2.0

//go:generate go tool -modfile=../../../tools/mdatagen/go.mod mdatagen metadata.yaml

// Package enrichprocessor adds to telemetry the attributes that say where it comes
// from (host, Kubernetes, cloud, static attributes, lookup tables, the discovery
// registry). Until that behaviour lands it passes data through unchanged.
package enrichprocessor // import "github.com/otelcol-edge/otelcol-edge/components/processor/enrichprocessor"
