# otelcol-edge: `make run` and `make test` set everything up on a fresh machine.
# Every tool is installed at a pinned version into ./.tools (ignored by git).

SHELL := /bin/bash
GO ?= go
export GOFLAGS ?= -buildvcs=false

OCB_VERSION      := v0.165.0
TOOLS_DIR        := $(CURDIR)/.tools
OCB              := $(TOOLS_DIR)/builder-$(OCB_VERSION)
BUILD_DIR        := $(CURDIR)/_build/otelcol-edge
BINARY           := $(BUILD_DIR)/otelcol-edge
CONFIG           ?= distribution/config.yaml
RUN_DATA_DIR     ?= $(CURDIR)/_build/data

# Our Go modules: each component is its own module so a user can pull one into
# their own ocb manifest; the root module holds the end-to-end tests.
COMPONENT_MODULES := components/exporter/edgeexporter \
                     components/extension/discoveryext \
                     components/extension/discoveryext/discoveryapi \
                     components/extension/opampext \
                     components/processor/enrichprocessor \
                     components/processor/filterprocessor \
                     components/resourceapi
# bench/ is the benchmark harness against the upstream anchor (make bench);
# bench/procbench/ours and upstream are the processor benchmarks (make
# bench-processors): their TestWork checks that both sides do the same work.
TEST_MODULES := $(COMPONENT_MODULES) bench bench/procbench/ours bench/procbench/upstream
MODULES := $(TEST_MODULES) .

COMPONENT_SOURCES := $(shell find components -name '*.go' -o -name 'go.mod' -o -name 'go.sum' 2>/dev/null)

.PHONY: all
all: build

$(OCB):
	@mkdir -p $(TOOLS_DIR)
	GOBIN=$(TOOLS_DIR) $(GO) install go.opentelemetry.io/collector/cmd/builder@$(OCB_VERSION)
	mv $(TOOLS_DIR)/builder $(OCB)

.PHONY: tools
tools: $(OCB)

## build: generate and compile the distribution with ocb into _build/otelcol-edge/
.PHONY: build
build: $(BINARY)

$(BINARY): $(OCB) builder-config.yaml $(COMPONENT_SOURCES)
	@mkdir -p _build
	$(OCB) --config builder-config.yaml
	@touch $(BINARY)

## run: build if needed and run the distribution with its default config
.PHONY: run
run: $(BINARY)
	@mkdir -p $(RUN_DATA_DIR)
	OTELCOL_EDGE_DATA_DIR=$${OTELCOL_EDGE_DATA_DIR:-$(RUN_DATA_DIR)} $(BINARY) --config $(CONFIG)

## test: format and vet checks, the binary cross-compiled for darwin and windows (check-platforms), unit tests of
## every module with -race, end-to-end tests against the built binary, static checks of the packaging (manifests,
## Dockerfile, packaged configs validated by the binary)
.PHONY: test
test: check check-platforms test-unit test-e2e test-distribution

.PHONY: test-unit
test-unit:
	@set -e; for m in $(TEST_MODULES); do \
		echo "==> go test -race $$m"; \
		(cd $$m && $(GO) test -race -count=1 -timeout 15m ./...); \
	done
	@echo "==> go test -race (root module, without end-to-end)"
	$(GO) test -race -count=1 -timeout 10m $$($(GO) list ./... | grep -v /internal/e2e/tests)

.PHONY: test-e2e
test-e2e: $(BINARY)
	OTELCOL_EDGE_OCB=$(OCB) OTELCOL_EDGE_BIN=$(BINARY) $(GO) test -race -count=1 -timeout 30m ./internal/e2e/tests/...

## test-long: the long reliability variants (kill -9 with 1M spans, long fuzzing, many corruption trials,
## 20,000 crash points of the write-ahead log, whole-directory recovery fuzzing)
.PHONY: test-long
test-long: $(BINARY)
	OTELCOL_EDGE_LONG=1 OTELCOL_EDGE_OCB=$(OCB) OTELCOL_EDGE_BIN=$(BINARY) $(GO) test -count=1 -timeout 60m ./internal/e2e/tests/...
	cd components/exporter/edgeexporter && $(GO) test -run '^$$' -fuzz FuzzDecodeRecord -fuzztime 5m ./internal/wal/
	cd components/exporter/edgeexporter && WAL_CRASH_POINTS=20000 $(GO) test -count=1 -run 'TestCrash' -timeout 30m ./internal/wal/
	cd components/exporter/edgeexporter && $(GO) test -run '^$$' -fuzz FuzzRecoverDir -fuzztime 2m ./internal/wal/

## check: gofmt and go vet on every module
.PHONY: check
check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './_build/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	@set -e; for m in $(MODULES); do echo "==> go vet $$m"; (cd $$m && $(GO) vet ./...); done

## generate: regenerate internal/metadata of every component from metadata.yaml (mdatagen v0.159.0 as a tool)
.PHONY: generate
generate:
	@set -e; for m in $(COMPONENT_MODULES); do \
		echo "==> mdatagen $$m"; \
		(cd tools/mdatagen && $(GO) tool mdatagen $(CURDIR)/$$m/metadata.yaml); \
	done

## tidy: go mod tidy in every module
.PHONY: tidy
tidy:
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) mod tidy); done

# Benchmarks against the upstream anchor build (make bench, make bench-quick).
-include bench/bench.mk
-include distribution/package.mk

.PHONY: clean
clean:
	rm -rf _build
