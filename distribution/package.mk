# Packaging of otelcol-edge: .deb/.rpm (nfpm), their install test, and the
# static checks of the container image and Kubernetes manifests. Included from
# the repository Makefile (-include distribution/package.mk), which defines GO,
# TOOLS_DIR and BINARY.
#
#   make package              _build/packages/otelcol-edge_<version>_<arch>.deb and .rpm for linux
#                             amd64, arm64 and arm (ARMv7, armhf / armv7hl): the native binary is the
#                             one of `make build`, the others are cross-compiled from its sources
#   make test-package-qemu    the arm64 binary run under user-mode QEMU, traces sent through it to a
#                             sink (installs qemu-user-static with apt-get when missing); part of
#                             test-package
#   make check-platforms      the binary cross-compiled for darwin/arm64 and windows/amd64 (part of
#                             make test). Measured on the 2-core machine: 15 s + 9 s with a warm build
#                             cache, 265 s + 134 s cold; `make package`'s two ARM builds about 11 min
#                             cold, under load (the QEMU test itself about 8 s)
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
# Linux architectures of the packages (GOARCH; arm is built with GOARM=7): the
# edge devices are mostly ARM. Each maps to nfpm's, Debian's and RPM's name.
PACKAGE_ARCHS    ?= amd64 arm64 arm
nfpm_arch_amd64  := amd64
nfpm_arch_arm64  := arm64
nfpm_arch_arm    := arm7
deb_arch_amd64   := amd64
deb_arch_arm64   := arm64
deb_arch_arm     := armhf
rpm_arch_amd64   := x86_64
rpm_arch_arm64   := aarch64
rpm_arch_arm     := armv7hl
# Binaries of the other architectures, from the sources ocb generated for $(BINARY).
CROSS_DIR        ?= $(CURDIR)/_build/linux
linux_binary     = $(if $(filter $(1),$(PKG_ARCH)),$(BINARY),$(CROSS_DIR)/$(1)/otelcol-edge)
deb_of           = $(PACKAGE_DIR)/otelcol-edge_$(DIST_VERSION)_$(deb_arch_$(1)).deb
rpm_of           = $(PACKAGE_DIR)/otelcol-edge-$(DIST_VERSION)-1.$(rpm_arch_$(1)).rpm
DEB              := $(call deb_of,$(PKG_ARCH))
RPM              := $(call rpm_of,$(PKG_ARCH))
DEBS             := $(foreach a,$(PACKAGE_ARCHS),$(call deb_of,$(a)))
RPMS             := $(foreach a,$(PACKAGE_ARCHS),$(call rpm_of,$(a)))
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

## package: the .deb and .rpm of the distribution, linux amd64, arm64 and arm (v7), into _build/packages/
.PHONY: package
package: check-dist-version $(DEBS) $(RPMS)
	@ls -l $(DEBS) $(RPMS)

.PHONY: check-dist-version
check-dist-version:
	@test -n "$(DIST_VERSION)" || { echo "no dist.version in builder-config.yaml"; exit 1; }

# The file names are the conventional ones of each format (those nfpm gives in a directory).
# $(1): packager, $(2): GOARCH.
NFPM_PACKAGE = mkdir -p $(PACKAGE_DIR) && \
	VERSION=$(DIST_VERSION) ARCH=$(nfpm_arch_$(2)) BINARY=$(call linux_binary,$(2)) \
	$(NFPM) package --config $(PACKAGING_DIR)/nfpm.yaml --packager $(1) --target $@

define PACKAGE_RULES
$(call deb_of,$(1)): $(call linux_binary,$(1)) $(NFPM) $(PACKAGING_INPUTS)
	$$(call NFPM_PACKAGE,deb,$(1))

$(call rpm_of,$(1)): $(call linux_binary,$(1)) $(NFPM) $(PACKAGING_INPUTS)
	$$(call NFPM_PACKAGE,rpm,$(1))
endef
$(foreach a,$(PACKAGE_ARCHS),$(eval $(call PACKAGE_RULES,$(a))))

# Cross-compiled as ocb compiles $(BINARY) (static, stripped, -trimpath), from
# the sources it generated next to it.
$(CROSS_DIR)/%/otelcol-edge: $(BINARY)
	@mkdir -p $(@D)
	cd $(dir $(BINARY)) && CGO_ENABLED=0 GOOS=linux GOARCH=$* $(if $(filter arm,$*),GOARM=7) \
		$(GO) build -trimpath -ldflags='-s -w' -o $@ .

## check-platforms: the binary compiles for darwin/arm64 and windows/amd64 (nothing is kept; the
## buffer refuses to start on Windows, see the edge exporter's README)
CHECK_PLATFORMS ?= darwin/arm64 windows/amd64
.PHONY: check-platforms
check-platforms: $(BINARY)
	@set -e; for p in $(CHECK_PLATFORMS); do \
		echo "==> go build $$p (sources of $(dir $(BINARY)))"; start=$$(date +%s); \
		(cd $(dir $(BINARY)) && CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -trimpath -o /dev/null .); \
		echo "    $$p: $$(( $$(date +%s) - start )) s"; \
	done

## test-package-qemu: the arm64 binary under user-mode QEMU, with traces through it to a sink
.PHONY: test-package-qemu
test-package-qemu: $(call linux_binary,arm64) $(call linux_binary,arm) $(OTLPCHECK)
	$(PACKAGING_DIR)/test-qemu.sh $(call linux_binary,arm64) $(call linux_binary,arm) $(OTLPCHECK) $(DIST_VERSION)

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
test-package: $(BINARY) package $(OTLPCHECK) test-distribution test-package-qemu
	cd $(PACKAGING_DIR) && OTELCOL_EDGE_BIN=$(BINARY) OTELCOL_EDGE_VERSION=$(DIST_VERSION) OTELCOL_EDGE_RPM=$(RPM) \
		$(GO) test -count=1 -run 'TestRPMPackage' -v .
	$(PACKAGING_DIR)/test-install.sh $(DEB) $(RPM) $(OTLPCHECK) $(DIST_VERSION)
