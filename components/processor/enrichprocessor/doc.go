// SPDX-License-Identifier: Apache-2.0

//go:generate go tool -modfile=../../../tools/mdatagen/go.mod mdatagen metadata.yaml

// Package enrichprocessor adds to telemetry the attributes that say where it
// comes from: detected about the host, Kubernetes and the cloud (in the
// background, never blocking start-up), set statically, or looked up in
// hot-reloaded tables keyed by an attribute such as service.name.
package enrichprocessor // import "github.com/otelcol-edge/otelcol-edge/components/processor/enrichprocessor"
