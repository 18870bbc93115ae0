#!/usr/bin/env bash
# test.sh — install what is missing, build with warnings as errors, run the
# whole suite with ctest; run the benchmark once as a smoke check; build,
# lint, install, test and purge the Debian packages (scripts/package-test.sh,
# as root); run every fuzz target a few seconds (clang, libFuzzer); then
# build again with AddressSanitizer and UndefinedBehaviorSanitizer and run
# the suite once more. CI runs this. Each stage prints its time.
#
#   scripts/test.sh                  all of it
#   scripts/test.sh --quick          the WERROR pass only
#   scripts/test.sh --no-packages    all but the packages (no root needed
#                                    once scripts/deps.sh has run)
#
# BUILD_DIR (default build-ci) and the ASan build next to it (BUILD_DIR-asan).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-ci}
quick=0
packages=1
case "${1:-}" in
    --quick) quick=1 ;;
    --no-packages) packages=0 ;;
    "") ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
esac
jobs=$(nproc)
# Each stage's wall time and CPU time (user + system of the processes it
# ran, from the shell's `times`): on a shared machine the wall time is
# mostly the others' load, the CPU time is the stage's own cost.
times_file=$(mktemp "${TMPDIR:-/tmp}/p11jwt-test-times.XXXXXX")
trap 'rm -f "$times_file"' EXIT
cpu_s() { # sets CPU to the seconds so far
    times >"$times_file"    # in this shell, not a $(...) subshell: its children are ours
    CPU=$(awk 'NR == 2 { s = 0; for (i = 1; i <= 2; i++) { split($i, t, "m"); s += t[1] * 60 + t[2] }
                         printf "%.0f", s }' "$times_file")
}
t0=$(date +%s)
stage_start=$t0
cpu_s
stage_cpu=$CPU
stage_done() { # NAME: prints how long the stage that just ended took
    local now
    now=$(date +%s)
    cpu_s
    printf '== stage %s: %d s, %d s CPU\n' "$1" $((now - stage_start)) $((CPU - stage_cpu))
    stage_start=$now
    stage_cpu=$CPU
}

"$root/scripts/deps.sh"

run_suite() { # build-dir extra-cmake-args...
    local dir=$1; shift
    echo "== configure and build: $dir $*"
    cmake -S "$root" -B "$dir" -DWERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$dir" -j"$jobs"
    echo "== ctest: $dir"
    rm -rf "$dir/test-tmp"
    (cd "$dir" && ctest -j"$jobs" --output-on-failure --timeout 300) && return 0
    # LeakSanitizer's own stop-the-world tracer now and then crashes at a
    # process's exit ("Tracer caught signal 11 ... LeakSanitizer has
    # encountered a fatal error": google/sanitizers#1353, a crash of the
    # tool, not a leak report). Only then are the failed tests run once
    # more, and they must pass; a leak, a sanitizer report or any other
    # failure fails here.
    if grep -q 'LeakSanitizer has encountered a fatal error' "$dir/Testing/Temporary/LastTest.log" 2>/dev/null; then
        echo "== LeakSanitizer's tracer crashed (not a leak): the failed tests once more"
        (cd "$dir" && ctest --rerun-failed --output-on-failure --timeout 300) && return 0
    fi
    return 1
}

run_suite "$build"
stage_done "WERROR build + ctest"
[ "$quick" = 1 ] && exit 0

# The benchmark, as a smoke check that it runs (1 s per row; it asserts
# nothing about speed). scripts/bench.sh writes the real numbers.
echo "== benchmark smoke run (scripts/bench.sh --quick)"
BUILD_DIR="$build-bench" "$root/scripts/bench.sh" --quick
stage_done "benchmark smoke"

# The Debian packages: built (nocheck: the suite above is the check) and
# linted, installed on this host, tested as installed, removed and purged.
if [ "$packages" = 1 ]; then
    echo "== packages (scripts/package-test.sh)"
    "$root/scripts/package-test.sh"
    stage_done "packages"
fi

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
stage_done "ASan/UBSan build + ctest"
cpu_s
echo "== all passes green ($(($(date +%s) - t0)) s, $CPU s CPU)"
