#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each, starting from
# the committed seeds in fuzz/seeds/TARGET and growing fuzz/corpus/TARGET
# (the seeds are never modified). Fails if any target crashes; the crashing
# input is left in fuzz/artifacts/TARGET.
#
#   fuzz/run.sh SECONDS [TARGET...]
#
# Needs `cargo install cargo-fuzz`. cargo fuzz passes -Z flags to rustc,
# which RUSTC_BOOTSTRAP=1 allows on a stable toolchain.
set -euo pipefail

if [ $# -lt 1 ] || ! [[ $1 =~ ^[0-9]+$ ]]; then
    echo "usage: $0 SECONDS [TARGET...]" >&2
    exit 2
fi
seconds=$1
shift

dir=$(cd "$(dirname "$0")" && pwd)
cd "$dir"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "$0: cargo-fuzz is missing: cargo install cargo-fuzz" >&2
    exit 2
fi

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

cargo fuzz build

failed=()
for target in "${targets[@]}"; do
    echo "=== $target: ${seconds}s"
    mkdir -p "corpus/$target"
    if ! cargo fuzz run "$target" "$dir/corpus/$target" "$dir/seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1; then
        failed+=("$target")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz targets that crashed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzzed ${#targets[@]} targets for ${seconds}s each: no crash"
