#!/usr/bin/env bash
# fuzz.sh — build the fuzz targets of tests/fuzz with clang and libFuzzer
# (-fsanitize=fuzzer,address,undefined) and run them (docs/fuzzing.md).
#
#   scripts/fuzz.sh --smoke [TARGET...]     each target 3 s, from the tree's corpus (CI)
#   scripts/fuzz.sh --seconds S [TARGET...] each target S seconds (--time S: the same)
#   scripts/fuzz.sh --runs N [TARGET...]    each target N executions
#   scripts/fuzz.sh --list                  the targets
#
# Every target starts from its corpus in tests/fuzz/corpus/TARGET (never
# written to: new inputs go to BUILD_DIR/corpus/TARGET, which later runs
# but --smoke start from too) with its dictionary, if it has one. Any
# crash, leak, sanitizer report, failed check or timeout fails the run;
# the input is kept in BUILD_DIR/artifacts/TARGET/ — add it to the corpus
# with the fix.
#
# BUILD_DIR (default build-fuzz), CC (default clang, else clang-14).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-fuzz}
targets_all="escape b64url jws jwks claims config token_response oauth_error keyring pkcs11_uri url
agent_request token_client fleet_entry www_auth"
mode=time
amount=60
smoke=0
smoke_seconds=3

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }

targets=""
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) mode=time; amount=$smoke_seconds; smoke=1 ;;
        --seconds|--time) [ $# -ge 2 ] || { usage >&2; exit 2; }; mode=time; amount=$2; shift ;;
        --runs) [ $# -ge 2 ] || { usage >&2; exit 2; }; mode=runs; amount=$2; shift ;;
        --list) echo $targets_all; exit 0 ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "fuzz.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
        *) case " $(echo $targets_all) " in
               *" $1 "*) targets="$targets $1" ;;
               *) echo "fuzz.sh: no target '$1' (try --list)" >&2; exit 2 ;;
           esac ;;
    esac
    shift
done
case "$amount" in
    ''|*[!0-9]*) echo "fuzz.sh: '$amount' is not a number" >&2; exit 2 ;;
esac
[ -n "$targets" ] || targets=$targets_all

cc=${CC:-}
if [ -z "$cc" ]; then
    for c in clang clang-14; do
        if command -v "$c" >/dev/null; then cc=$c; break; fi
    done
fi
if [ -z "$cc" ] || ! command -v "$cc" >/dev/null; then
    echo "fuzz.sh: needs clang with libFuzzer (apt-get install clang libclang-rt-14-dev," \
         "or run scripts/deps.sh)" >&2
    exit 1
fi

echo "== build the fuzz targets ($cc): $build"
CC=$cc cmake -S "$root" -B "$build" -DP11JWT_FUZZ=ON -DP11JWT_MAN=OFF \
    -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-O1 -g" >/dev/null
# shellcheck disable=SC2086
cmake --build "$build" -j"$(nproc)" --target $(for t in $targets; do echo "fuzz_$t"; done)

# Leaks inside p11-kit and libcurl's global state are theirs (tests/lsan.supp).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

dict_of() {
    case "$1" in
        jws|jwks|claims|token_response|oauth_error|keyring) echo json ;;
        token_client) echo http ;;
        *) echo "$1" ;;
    esac
}

failed=""
start=$(date +%s)
for t in $targets; do
    work=$build/corpus/$t
    # A smoke run starts from the tree's corpus alone, so that it takes the
    # same time on every run, however much earlier runs found.
    if [ "$smoke" = 1 ]; then
        work=$build/smoke-corpus/$t
        rm -rf "$work"
    fi
    art=$build/artifacts/$t
    mkdir -p "$work" "$art"
    args=(-artifact_prefix="$art/" -timeout=10 -rss_limit_mb=2048 -max_len=8192
          -print_final_stats=1)
    dict=$root/tests/fuzz/dict/$(dict_of "$t").dict
    [ -f "$dict" ] && args+=(-dict="$dict")
    if [ "$mode" = time ]; then
        args+=(-max_total_time="$amount")
    else
        args+=(-runs="$amount")
    fi
    log=$build/fuzz-$t.log
    echo "== fuzz $t ($mode $amount)"
    if "$build/tests/fuzz/fuzz_$t" "${args[@]}" "$work" "$root/tests/fuzz/corpus/$t" \
        >"$log" 2>&1; then
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        secs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
        echo "   ok: ${execs:-?} executions (${secs:-?}/s)"
    else
        echo "   FAILED: $t (log: $log)"
        { grep -E 'ERROR|SUMMARY|check failed|Test unit written|ParseDictionary' "$log" ||
              tail -5 "$log"; } | head -20 | sed 's/^/   /'
        failed="$failed $t"
    fi
done
echo "== $(($(date +%s) - start)) s of fuzzing"
if [ -n "$failed" ]; then
    echo "fuzz.sh: failed:$failed" >&2
    exit 1
fi
echo "== no crash, leak or failed check"
