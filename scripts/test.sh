#!/usr/bin/env bash
# test.sh — install what is missing, build with warnings as errors, run the
# whole suite with ctest; run the benchmark once as a smoke check; run every
# fuzz target a few seconds (clang, libFuzzer); then build again with
# AddressSanitizer and UndefinedBehaviorSanitizer and run the suite once
# more. CI runs this.
#
#   scripts/test.sh            all of it
#   scripts/test.sh --quick    the WERROR pass only
#
# BUILD_DIR (default build-ci) and the ASan build next to it (BUILD_DIR-asan).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-ci}
quick=0
case "${1:-}" in
    --quick) quick=1 ;;
    "") ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
esac
jobs=$(nproc)

"$root/scripts/deps.sh"

run_suite() { # build-dir extra-cmake-args...
    local dir=$1; shift
    echo "== configure and build: $dir $*"
    cmake -S "$root" -B "$dir" -DWERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$dir" -j"$jobs"
    echo "== ctest: $dir"
    rm -rf "$dir/test-tmp"
    (cd "$dir" && ctest -j"$jobs" --output-on-failure --timeout 300)
}

run_suite "$build"
[ "$quick" = 1 ] && exit 0

# The benchmark, as a smoke check that it runs (1 s per row; it asserts
# nothing about speed). scripts/bench.sh writes the real numbers.
echo "== benchmark smoke run (scripts/bench.sh --quick)"
BUILD_DIR="$build-bench" "$root/scripts/bench.sh" --quick

# The fuzz targets under libFuzzer (clang), a few seconds each: any crash,
# leak, sanitizer report or failed check fails CI. The corpus in the tree
# (with every regression input) also runs in ctest above (fuzz.*).
echo "== fuzz smoke run (scripts/fuzz.sh --smoke)"
BUILD_DIR="$build-fuzz" "$root/scripts/fuzz.sh" --smoke

# Sanitizers. Leaks inside SoftHSM and p11-kit (loaded into our process)
# are theirs; the suppressions file names only those libraries.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export LSAN_OPTIONS=suppressions=$root/tests/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_suite "$build-asan" -DSANITIZE='address;undefined'
echo "== all passes green"
