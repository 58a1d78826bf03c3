// SPDX-License-Identifier: Apache-2.0

//go:generate go tool -modfile=../../../tools/mdatagen/go.mod mdatagen metadata.yaml

// Package discoveryext is a registry of backend endpoints, from static lists,
// DNS (A/AAAA and SRV) and watched files, kept healthy by active checks (tcp,
// grpc.health.v1, http) and passive outlier ejection, that other components
// follow through the discoveryapi package.
package discoveryext // import "github.com/otelcol-edge/otelcol-edge/components/extension/discoveryext"
