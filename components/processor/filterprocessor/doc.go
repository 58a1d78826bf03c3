// SPDX-License-Identifier: Apache-2.0

//go:generate go tool -modfile=../../../tools/mdatagen/go.mod mdatagen metadata.yaml

// Package filterprocessor drops or keeps spans, span events, metrics, data points and log
// records by OTTL conditions (a drop-in for the contrib filter processor's configuration,
// with keep rules and a native fast path for common condition shapes) and redacts sensitive
// values before data leaves the site.
package filterprocessor // import "github.com/otelcol-edge/otelcol-edge/components/processor/filterprocessor"
