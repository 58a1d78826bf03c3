// SPDX-License-Identifier: Apache-2.0

//go:generate go tool -modfile=../../../tools/mdatagen/go.mod mdatagen metadata.yaml

// Package discoveryext is a registry of backend endpoints, from static lists, DNS
// and watched files, health-checked, that other components subscribe to. Until
// that behaviour lands the extension only starts and stops.
package discoveryext // import "github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext"
