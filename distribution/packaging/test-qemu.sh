#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The ARM binaries of `make package` under user-mode QEMU (make test-package-qemu):
# the arm64 collector runs the packaged config (distribution/packaging/config.yaml)
# on this machine, buffers traces while its backend is down and delivers every one
# of them, and those sent once it is up, to a real OTLP sink; the arm (v7) binary
# prints its version and validates the same config.
#
#   test-qemu.sh ARM64_BINARY ARM_BINARY OTLPCHECK VERSION
#
# QEMU: qemu-aarch64-static / qemu-arm-static (Debian's qemu-user-static) or
# qemu-aarch64 / qemu-arm (qemu-user); installed with apt-get when missing and
# this is root on a machine with apt. The collectors are static Go binaries, so no
# ARM libraries are needed. Nothing outside a temporary directory is written.
set -euo pipefail

[ $# -eq 4 ] || { echo "usage: $0 ARM64_BINARY ARM_BINARY OTLPCHECK VERSION" >&2; exit 2; }
arm64_bin=$1 arm_bin=$2 otlpcheck=$3 version=$4
config=$(cd "$(dirname "$0")" && pwd)/config.yaml

step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
check() { local what=$1; shift; if "$@"; then echo "ok   $what"; else fail "$what"; fi; }

# qemu_for ARCH: the user-mode emulator of ARCH (aarch64, arm) on PATH, or nothing.
qemu_for() { command -v "qemu-$1-static" || command -v "qemu-$1" || true; }

if [ -z "$(qemu_for aarch64)" ] || [ -z "$(qemu_for arm)" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        step "installing qemu-user-static (apt-get)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null
    else
        fail "no qemu-aarch64(-static)/qemu-arm(-static) on PATH, and apt-get cannot install qemu-user-static here (needs root)"
    fi
fi
qemu_arm64=$(qemu_for aarch64) qemu_arm=$(qemu_for arm)

work=$(mktemp -d)
collector_pid= sink_pid=
cleanup() {
    local rc=$?
    [ -n "$collector_pid" ] && kill "$collector_pid" 2>/dev/null && wait "$collector_pid" 2>/dev/null
    [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null && wait "$sink_pid" 2>/dev/null
    if [ $rc -ne 0 ] && [ -f "$work/collector.log" ]; then
        echo "--- collector log (tail)"; tail -n 40 "$work/collector.log"
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# elf_machine FILE: e_machine of an ELF file (183 = AArch64, 40 = ARM, 62 = x86-64).
elf_machine() { od -An -t u2 -j 18 -N 2 "$1" | tr -d ' '; }

step "binaries ($qemu_arm64, $qemu_arm)"
check "$arm64_bin is an AArch64 ELF" [ "$(elf_machine "$arm64_bin")" = 183 ]
check "$arm_bin is an ARM ELF" [ "$(elf_machine "$arm_bin")" = 40 ]
check "arm64 --version prints $version" [ "$("$qemu_arm64" "$arm64_bin" --version)" = "otelcol-edge version $version" ]
check "arm --version prints $version" [ "$("$qemu_arm" "$arm_bin" --version)" = "otelcol-edge version $version" ]
check "arm validates the packaged config" env OTELCOL_EDGE_DATA_DIR="$work/arm-buffer" "$qemu_arm" "$arm_bin" validate --config="$config"

read -r grpc_port http_port health_port zpages_port metrics_port sink_port <<<"$("$otlpcheck" freeports 6)"

step "arm64 collector under QEMU, packaged config, backend down"
start=$(date +%s)
env OTELCOL_EDGE_ENDPOINT="127.0.0.1:$sink_port" OTELCOL_EDGE_INSECURE=true \
    OTELCOL_EDGE_DATA_DIR="$work/buffer" \
    OTELCOL_EDGE_OTLP_GRPC_ENDPOINT="127.0.0.1:$grpc_port" OTELCOL_EDGE_OTLP_HTTP_ENDPOINT="127.0.0.1:$http_port" \
    OTELCOL_EDGE_HEALTH_ENDPOINT="127.0.0.1:$health_port" OTELCOL_EDGE_ZPAGES_ENDPOINT="127.0.0.1:$zpages_port" \
    OTELCOL_EDGE_METRICS_PORT="$metrics_port" \
    "$qemu_arm64" "$arm64_bin" --config="$config" >"$work/collector.log" 2>&1 &
collector_pid=$!
"$otlpcheck" wait-health -url "http://127.0.0.1:$health_port/" -timeout 60s
echo "     healthy after $(( $(date +%s) - start )) s"
check "the collector is the arm64 binary under $qemu_arm64" \
    bash -c "tr '\0' ' ' </proc/$collector_pid/cmdline | grep -q '$arm64_bin'"
"$otlpcheck" send -endpoint "127.0.0.1:$grpc_port" -protocol grpc -prefix offline -spans 200
check "the buffer holds a segment" bash -c "ls '$work'/buffer/edge/wal/*.seg >/dev/null"

step "backend up: the backlog and new traces arrive"
"$otlpcheck" sink -listen "127.0.0.1:$sink_port" -want offline:200,online:100 -timeout 120s &
sink_pid=$!
"$otlpcheck" send -endpoint "127.0.0.1:$http_port" -protocol http -prefix online -spans 100
if wait "$sink_pid"; then sink_pid=; echo "ok   the sink received all 300 spans"; else sink_pid=; fail "the sink did not receive every span"; fi

step "SIGTERM"
kill -TERM "$collector_pid"
if wait "$collector_pid"; then echo "ok   clean exit"; else rc=$?; collector_pid=; fail "exit code $rc after SIGTERM"; fi
collector_pid=
echo "PASS: arm64 under QEMU ($(( $(date +%s) - start )) s from start to exit)"
