// SPDX-License-Identifier: Apache-2.0

// Package procbench benchmarks otelcol-edge's enrich and filter processors
// on the work of the anchor pipeline (bench/anchor/pipeline.yaml); the
// same benchmarks of the upstream processors are in ../upstream. Run both
// with ../run.sh (make bench-processors).
package procbench // import "github.com/otelcol-edge/otelcol-edge/bench/procbench/ours"
