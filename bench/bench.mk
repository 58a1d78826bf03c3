# Side-by-side benchmark of otelcol-edge against the upstream-only anchor
# collector. Included from the repository Makefile:
#
#   include bench/bench.mk
#
#   make bench-quick   ~3 minutes: 1 run per collector, short scenarios
#   make bench         ~12 minutes: 3 interleaved runs per collector, and the
#                      latency under load (L: 1 run per collector and level)
#   Both include ours with buffer.encryption next to ours without (S1 and
#   S2+S3 fsync interval, key generated at run time, overlay
#   bench/configs/edge-encrypted.yaml): ~16 s of bench-quick, ~2 minutes of
#   bench; BENCH_FLAGS='-encryption=false' skips them.
#   make reliability-quick  ~6 minutes: fault scenarios, short version
#   make reliability        ~19 minutes: fault scenarios, full numbers
#
# (times on the 2-core machine with both binaries built; the first run also
# builds the anchor, ~2 minutes)
#
# Both build our distribution ($(BINARY), from the Makefile) and, if missing
# or older than its manifest, the anchor: builder v0.161.0 is installed into
# .tools/anchor/ (it does not replace our v0.165.0 builder) and
# bench/anchor/builder-config.yaml is built into _build/anchor/. The anchor
# runs bench/anchor/pipeline.yaml. Results go to bench/results/results.md.
# Extra runner flags: make bench BENCH_FLAGS='-runs 5 -s1-duration 30s'.
# A/B of a change: BENCH_FLAGS='-ours-before-bin _build/old/otelcol-edge' runs
# that binary interleaved as "ours (before)" in S1 and L.
# The reliability suite writes bench/results/reliability.md; extra flags:
# make reliability RELIABILITY_FLAGS='-scenarios r1,r4 -corrupt-trials 200'.
#
#   make bench-processors  ~12 minutes: Go benchmarks of our enrich and filter
#                      processors against upstream resource/attributes/filter
#                      v0.161.0 (bench/procbench/run.sh, no binaries needed;
#                      raw output and table in bench/results/procbench/)

BENCH_DIR          := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
BENCH_REPO         := $(abspath $(BENCH_DIR)/..)
GO                 ?= go
BINARY             ?= $(BENCH_REPO)/_build/otelcol-edge/otelcol-edge

ANCHOR_OCB_VERSION := v0.161.0
ANCHOR_TOOLS_DIR   := $(BENCH_REPO)/.tools/anchor
ANCHOR_OCB         := $(ANCHOR_TOOLS_DIR)/builder
ANCHOR_SRC_CONFIG  := $(BENCH_DIR)/anchor/builder-config.yaml
ANCHOR_PIPELINE    := $(BENCH_DIR)/anchor/pipeline.yaml
ANCHOR_DIR         := $(BENCH_REPO)/_build/anchor
ANCHOR_BINARY      := $(ANCHOR_DIR)/otelcol-anchor
BENCH_RUNNER       := $(BENCH_REPO)/_build/bench/bench
BENCH_RESULTS      := $(BENCH_DIR)/results/results.md
BENCH_FLAGS        ?=
RELIABILITY_RUNNER  := $(BENCH_REPO)/_build/bench/reliability
RELIABILITY_RESULTS := $(BENCH_DIR)/results/reliability.md
RELIABILITY_FLAGS   ?=

$(ANCHOR_OCB):
	@mkdir -p $(ANCHOR_TOOLS_DIR)
	GOBIN=$(ANCHOR_TOOLS_DIR) $(GO) install go.opentelemetry.io/collector/cmd/builder@$(ANCHOR_OCB_VERSION)

# Built once, and again when bench/anchor/builder-config.yaml changes.
$(ANCHOR_BINARY): $(ANCHOR_SRC_CONFIG) | $(ANCHOR_OCB)
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	sed 's#^\([[:space:]]*output_path:\).*#\1 $(ANCHOR_DIR)#' $(ANCHOR_SRC_CONFIG) > "$$tmp/builder-config.yaml"; \
	grep -q 'output_path: $(ANCHOR_DIR)$$' "$$tmp/builder-config.yaml" || { echo "no dist.output_path in $(ANCHOR_SRC_CONFIG)"; exit 1; }; \
	echo "building the anchor collector into $(ANCHOR_DIR) (about 2 minutes)"; \
	cd "$$tmp" && $(ANCHOR_OCB) --config "$$tmp/builder-config.yaml"; \
	touch $(ANCHOR_BINARY)

.PHONY: bench-anchor
bench-anchor: $(ANCHOR_BINARY)

.PHONY: bench-runner
bench-runner:
	@mkdir -p $(dir $(BENCH_RUNNER))
	cd $(BENCH_DIR) && $(GO) build -o $(BENCH_RUNNER) ./cmd/bench

## bench: full side-by-side benchmark (3 interleaved runs each, latency under load, encryption at rest, ~12 minutes on 2 cores)
.PHONY: bench
bench: $(BINARY) $(ANCHOR_BINARY) bench-runner
	timeout -k 30s 20m $(BENCH_RUNNER) -repo $(BENCH_REPO) -ours-bin $(BINARY) -anchor-bin $(ANCHOR_BINARY) -anchor-config $(ANCHOR_PIPELINE) \
		-out $(BENCH_RESULTS) -command "make bench" $(BENCH_FLAGS)

## bench-quick: one short run of every scenario (~3 minutes)
.PHONY: bench-quick
bench-quick: $(BINARY) $(ANCHOR_BINARY) bench-runner
	timeout -k 20s 6m $(BENCH_RUNNER) -repo $(BENCH_REPO) -ours-bin $(BINARY) -anchor-bin $(ANCHOR_BINARY) -anchor-config $(ANCHOR_PIPELINE) \
		-quick -out $(BENCH_RESULTS) -command "make bench-quick" $(BENCH_FLAGS)

## bench-processors: processor-level benchmarks, enrich and filter against upstream resource/attributes/filter v0.161.0 (-count 5 each)
.PHONY: bench-processors
bench-processors:
	$(BENCH_DIR)/procbench/run.sh

.PHONY: reliability-runner
reliability-runner:
	@mkdir -p $(dir $(RELIABILITY_RUNNER))
	cd $(BENCH_DIR) && $(GO) build -o $(RELIABILITY_RUNNER) ./cmd/reliability

## reliability: fault scenarios against ours and the anchor, full numbers (~19 minutes on 2 cores)
.PHONY: reliability
reliability: $(BINARY) $(ANCHOR_BINARY) reliability-runner
	timeout -k 30s 40m $(RELIABILITY_RUNNER) -repo $(BENCH_REPO) -ours-bin $(BINARY) -anchor-bin $(ANCHOR_BINARY) -anchor-config $(ANCHOR_PIPELINE) \
		-out $(RELIABILITY_RESULTS) -command "make reliability" $(RELIABILITY_FLAGS)

## reliability-quick: the same scenarios with small counts and short durations (~6 minutes)
.PHONY: reliability-quick
reliability-quick: $(BINARY) $(ANCHOR_BINARY) reliability-runner
	timeout -k 20s 8m $(RELIABILITY_RUNNER) -repo $(BENCH_REPO) -ours-bin $(BINARY) -anchor-bin $(ANCHOR_BINARY) -anchor-config $(ANCHOR_PIPELINE) \
		-quick -out $(RELIABILITY_RESULTS) -command "make reliability-quick" $(RELIABILITY_FLAGS)
