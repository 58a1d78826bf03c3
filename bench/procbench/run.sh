#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Processor-level benchmarks: otelcol-edge's enrich and filter processors
# (./ours, collector core v0.165.0 / v1.71.0, pkg/ottl v1.4.1) against the
# upstream resource, attributes and filter processors of the anchor build
# (./upstream, contrib v0.161.0), on the same batch of 1,000 spans with 10
# attributes over 10 resources and the same work (bench/anchor/pipeline.yaml).
#
#   bench/procbench/run.sh            (or: make bench-processors)
#
# Runs `go test -run '^$' -bench . -benchmem` 5 times in each module,
# interleaved (ours, upstream, ours, ...), keeps the raw outputs in bench/results/procbench/
# (ours.txt, upstream.txt: committed with the table the README quotes) and
# prints a markdown table of the medians of ns/span and allocs/span (also
# written to bench/results/procbench/table.md).
#
# Environment: PROCBENCH_COUNT (default 5), PROCBENCH_BENCH (default .),
# PROCBENCH_FLAGS (extra go test flags, e.g. -benchtime 2s), PROCBENCH_OUT
# (output directory), GO (default go).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${PROCBENCH_OUT:-$repo/bench/results/procbench}
count=${PROCBENCH_COUNT:-5}
bench=${PROCBENCH_BENCH:-.}
GO=${GO:-go}
mkdir -p "$out"

# Both sides must measure the same data the same way.
if ! diff <(grep -v '^package ' "$here/ours/data_test.go") <(grep -v '^package ' "$here/upstream/data_test.go") >/dev/null; then
	echo "ours/data_test.go and upstream/data_test.go differ: copy one onto the other (keep the import comment)" >&2
	exit 1
fi

# The two sides run interleaved, one count each in turn (ours, upstream, ours,
# ...), from test binaries built once, so that a change of load on a shared
# machine hits both sides alike instead of one whole side.
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
for side in ours upstream; do
	(cd "$here/$side" && "$GO" test -c -o "$bin/$side.test" .)
	: >"$out/$side.txt"
done
load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
for i in $(seq "$count"); do
	for side in ours upstream; do
		echo "==> $side ($i/$count): go test -run '^\$' -bench $bench -benchmem -count 1 ${PROCBENCH_FLAGS:-}" >&2
		# go test flags as the test binary takes them (-test.bench, ...).
		# shellcheck disable=SC2086 # PROCBENCH_FLAGS is a list of flags
		(cd "$here/$side" && "$bin/$side.test" -test.run '^$' -test.bench "$bench" -test.benchmem -test.count 1 \
			$(printf '%s\n' ${PROCBENCH_FLAGS:-} | sed 's/^-\([a-z]\)/-test.\1/')) \
			| tee -a "$out/$side.txt" >&2
	done
done

{
	echo "Processor benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $("$GO" version | cut -d' ' -f3-), $(nproc) CPUs,"
	echo "load average before / after: $load_before / $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown),"
	echo "command: \`bench/procbench/run.sh\` (go test -run '^\$' -bench $bench -benchmem ${PROCBENCH_FLAGS:-} in ours/ and upstream/, $count counts each, interleaved)"
	echo
	(cd "$here/ours" && "$GO" run ./cmd/benchtable "$out/ours.txt" "$out/upstream.txt")
} | tee "$out/table.md"
