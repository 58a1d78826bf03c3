# Packaging of otelcol-edge: .deb/.rpm (nfpm), their install test, and the
# static checks of the container image and Kubernetes manifests. Included from
# the repository Makefile (-include distribution/package.mk), which defines GO,
# TOOLS_DIR and BINARY.
#
#   make package              _build/packages/otelcol-edge_<version>_<arch>.deb and .rpm
#   make test-distribution    gofmt, vet and tests of distribution/packaging: every manifest and config
#                             (k8s.io/api strict decoding, `otelcol-edge validate`), Dockerfile, unit, nfpm
#   make test-package         test-distribution + the .rpm inspected + the .deb installed on this machine
#                             with dpkg (root), run as its service user, data sent through it, removed, purged
#
# The version is dist.version of builder-config.yaml, the version `otelcol-edge --version` prints.

NFPM_VERSION     := v2.45.2
NFPM             := $(TOOLS_DIR)/nfpm-$(NFPM_VERSION)
PACKAGING_DIR    := distribution/packaging
PACKAGE_DIR      := $(CURDIR)/_build/packages
DIST_VERSION     := $(shell awk '/^dist:/ {d=1; next} /^[^ \t#]/ {d=0} d && $$1 == "version:" {v=$$2; gsub(/"/, "", v); print v; exit}' builder-config.yaml)
PKG_ARCH         := $(shell $(GO) env GOARCH)
RPM_ARCH         := $(if $(filter amd64,$(PKG_ARCH)),x86_64,$(if $(filter arm64,$(PKG_ARCH)),aarch64,$(PKG_ARCH)))
DEB              := $(PACKAGE_DIR)/otelcol-edge_$(DIST_VERSION)_$(PKG_ARCH).deb
RPM              := $(PACKAGE_DIR)/otelcol-edge-$(DIST_VERSION)-1.$(RPM_ARCH).rpm
OTLPCHECK        := $(CURDIR)/_build/packaging/otlpcheck
PACKAGING_INPUTS := $(PACKAGING_DIR)/nfpm.yaml $(PACKAGING_DIR)/config.yaml $(PACKAGING_DIR)/otelcol-edge.conf \
                    $(PACKAGING_DIR)/otelcol-edge.service $(wildcard $(PACKAGING_DIR)/scripts/*.sh) \
                    CHANGELOG.md builder-config.yaml

# nfpm v2.46+ needs go.digitalxero.dev modules the Go proxy here does not serve.
$(NFPM):
	@mkdir -p $(TOOLS_DIR)/nfpm-build
	GOBIN=$(TOOLS_DIR)/nfpm-build $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
	mv $(TOOLS_DIR)/nfpm-build/nfpm $(NFPM)
	rmdir $(TOOLS_DIR)/nfpm-build

## package: the .deb and .rpm of the distribution into _build/packages/
.PHONY: package
package: check-dist-version $(DEB) $(RPM)
	@ls -l $(DEB) $(RPM)

.PHONY: check-dist-version
check-dist-version:
	@test -n "$(DIST_VERSION)" || { echo "no dist.version in builder-config.yaml"; exit 1; }

# The file names are the conventional ones of each format (those nfpm gives in a directory).
NFPM_PACKAGE = mkdir -p $(PACKAGE_DIR) && \
	VERSION=$(DIST_VERSION) ARCH=$(PKG_ARCH) BINARY=$(BINARY) \
	$(NFPM) package --config $(PACKAGING_DIR)/nfpm.yaml --packager $(1) --target $@

$(DEB): $(BINARY) $(NFPM) $(PACKAGING_INPUTS)
	$(call NFPM_PACKAGE,deb)

$(RPM): $(BINARY) $(NFPM) $(PACKAGING_INPUTS)
	$(call NFPM_PACKAGE,rpm)

$(OTLPCHECK): $(wildcard $(PACKAGING_DIR)/cmd/otlpcheck/*.go) $(PACKAGING_DIR)/go.mod $(PACKAGING_DIR)/go.sum
	cd $(PACKAGING_DIR) && $(GO) build -o $(OTLPCHECK) ./cmd/otlpcheck

## test-distribution: static checks of the packaging, image and Kubernetes manifests (needs the binary)
.PHONY: test-distribution
test-distribution: $(BINARY)
	@out=$$(gofmt -l $(PACKAGING_DIR)); if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	cd $(PACKAGING_DIR) && $(GO) vet ./...
	cd $(PACKAGING_DIR) && OTELCOL_EDGE_BIN=$(BINARY) OTELCOL_EDGE_VERSION=$(DIST_VERSION) \
		$(GO) test -count=1 -timeout 5m -skip TestRPMPackage ./...

## test-package: build the packages, inspect the .rpm, install the .deb on this machine and run it (root)
.PHONY: test-package
test-package: $(BINARY) package $(OTLPCHECK) test-distribution
	cd $(PACKAGING_DIR) && OTELCOL_EDGE_BIN=$(BINARY) OTELCOL_EDGE_VERSION=$(DIST_VERSION) OTELCOL_EDGE_RPM=$(RPM) \
		$(GO) test -count=1 -run 'TestRPMPackage' -v .
	$(PACKAGING_DIR)/test-install.sh $(DEB) $(RPM) $(OTLPCHECK) $(DIST_VERSION)
