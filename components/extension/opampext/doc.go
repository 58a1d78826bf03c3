// SPDX-License-Identifier: Apache-2.0

// Package opampext is the OpAMP agent of otelcol-edge: with its confmap
// provider (package opampprovider) it receives configurations from a fleet
// server, validates and tries them, rolls back on failure, and reports status.
package opampext // import "github.com/otelcol-edge/otelcol-edge/components/extension/opampext"
