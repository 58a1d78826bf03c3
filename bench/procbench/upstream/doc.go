// SPDX-License-Identifier: Apache-2.0

// Package procbench benchmarks the upstream (contrib v0.161.0) resource,
// attributes and filter processors on the work of the anchor pipeline
// (bench/anchor/pipeline.yaml), with the same data and the same
// benchmark names as ../ours. Run both with ../run.sh (make bench-processors).
package procbench // import "github.com/otelcol-edge/otelcol-edge/bench/procbench/upstream"
