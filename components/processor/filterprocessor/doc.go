// SPDX-License-Identifier: Apache-2.0

//go:generate go tool -modfile=../../../tools/mdatagen/go.mod mdatagen metadata.yaml

// Package filterprocessor drops or keeps spans, span events, metrics, data points
// and log records by OTTL conditions and redacts sensitive values before data
// leaves the site. Until that behaviour lands it passes data through unchanged.
package filterprocessor // import "github.com/otelcol-edge/otelcol-edge/components/processor/filterprocessor"
