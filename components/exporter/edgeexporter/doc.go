// SPDX-License-Identifier: Apache-2.0

//go:generate go tool -modfile=../../../tools/mdatagen/go.mod mdatagen metadata.yaml

// Package edgeexporter exports traces, metrics and logs over OTLP (gRPC or
// HTTP/protobuf) through a durable on-disk log: every accepted item is appended
// to the log before the pipeline is told it was accepted, and is deleted only
// after a backend acknowledged it. When the link is down the exporter keeps
// appending within a disk budget and replays the backlog, in order and within a
// rate limit, when the link returns.
package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"
