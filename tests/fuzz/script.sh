#!/usr/bin/env bash
# script.sh — scripts/fuzz.sh keeps issue 9's contract, `fuzz.sh [--seconds
# N] [NAME...]`, and knows every target in tests/fuzz/. Only the argument
# checks run (they come before the clang build), so this needs no clang.
set -euo pipefail
SRC=${P11JWT_SRC:?}
fz=$SRC/scripts/fuzz.sh
fail() { printf 'FAIL [fuzz.script]: %s\n' "$*" >&2; exit 1; }

# expect RC PATTERN ARGS...: fuzz.sh ARGS exits RC and prints PATTERN
expect() {
    local want=$1 pat=$2 out rc=0
    shift 2
    out=$(BUILD_DIR=/nonexistent "$fz" "$@" 2>&1) || rc=$?
    [[ $rc == "$want" ]] || fail "fuzz.sh $*: exit $rc, not $want: $out"
    grep -qF -- "$pat" <<<"$out" || fail "fuzz.sh $*: no '$pat' in: $out"
}

expect 0 '--seconds S' --help
expect 2 "'x' is not a number" --seconds x
expect 2 "'x' is not a number" --time x
expect 2 "'x' is not a number" --runs x
expect 2 "--seconds S" --seconds
expect 2 "unknown option '--second'" --second 5
expect 2 "no target 'nosuch'" --seconds 1 nosuch

listed=$("$fz" --list | tr ' ' '\n' | sort)
present=$(cd "$SRC/tests/fuzz" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//' | sort)
[[ $listed == "$present" ]] ||
    fail "fuzz.sh --list and tests/fuzz/fuzz_*.c differ: $(diff <(echo "$listed") <(echo "$present") | grep '^[<>]' | tr '\n' ' ')"
registered=$(sed -n '/^set(P11JWT_FUZZ_TARGETS/,/)/p' "$SRC/tests/fuzz/CMakeLists.txt" |
    grep -o '[a-z_0-9]*:[0-9]*' | cut -d: -f1 | sort)
[[ $registered == "$present" ]] ||
    fail "P11JWT_FUZZ_TARGETS and tests/fuzz/fuzz_*.c differ"
echo "fuzz.sh takes --seconds, --time, --runs, refuses bad ones; its $(wc -l <<<"$present") targets are the tree's"
