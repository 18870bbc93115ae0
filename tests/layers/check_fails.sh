#!/usr/bin/env bash
# check_fails.sh — scripts/check-layers.sh fails, naming file, line and
# include, on each kind of wrong include: a higher floor, a sibling on the
# same floor, another folder's private header, a folder not in the table;
# on two files of one name; and it reads its table from
# docs/architecture.md (a row changed there changes its verdict).
set -euo pipefail

SRC_ROOT=${P11JWT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
CHECK=$SRC_ROOT/scripts/check-layers.sh
mkdir -p "${P11JWT_TEST_TMP:-/tmp}"
T=$(mktemp -d "${P11JWT_TEST_TMP:-/tmp}/p11jwt-layers.XXXXXX")
trap 'rc=$?; [[ $rc -eq 0 ]] && rm -rf "$T" || echo "files kept in $T" >&2; exit $rc' EXIT

fail() { printf 'FAIL [layers.check_fails]: %s\n' "$*" >&2; exit 1; }

fresh() { rm -rf "$T/tree"; mkdir -p "$T/tree"; cp -r "$SRC_ROOT/src" "$SRC_ROOT/docs" "$T/tree/"; }

# expect_fail WHAT LINE...: the check exits 1 and prints each LINE.
expect_fail() {
    local what=$1 rc=0 line
    shift
    "$CHECK" "$T/tree" >"$T/out" 2>&1 || rc=$?
    [[ $rc -eq 1 ]] || { cat "$T/out" >&2; fail "$what: exit $rc, want 1"; }
    for line in "$@"; do
        grep -qxF -- "$line" "$T/out" || { cat "$T/out" >&2; fail "$what: no line '$line'"; }
    done
    echo "ok: $what"
}

# add_include FILE INCLUDE: a new include after the file's first one.
add_include() {
    sed -i "0,/^#include \"/s||#include \"$2\"\n&|" "$T/tree/$1"
    grep -n "^#include \"$2\"" "$T/tree/$1" | head -1 | cut -d: -f1
}

fresh
"$CHECK" "$T/tree" >"$T/out" 2>&1 || { cat "$T/out" >&2; fail "the copy of the tree does not pass"; }
echo "ok: the tree as it is passes"

fresh
n=$(add_include src/core/key.c exchange/exchange.h)
expect_fail "a higher floor" \
    "src/core/key.c:$n: #include \"exchange/exchange.h\": a higher floor: exchange is floor 4, core is floor 2"

# A path from the file's folder is judged by the folder it reaches.
fresh
n=$(add_include src/jose/jws.c ../exchange/exchange.h)
expect_fail "a higher floor, reached by ../" \
    "src/jose/jws.c:$n: #include \"../exchange/exchange.h\": a higher floor: exchange is floor 4, jose is floor 1"

fresh
n=$(add_include src/jose/jws.c pkcs11/pkcs11.h)
expect_fail "a sibling on the same floor" \
    "src/jose/jws.c:$n: #include \"pkcs11/pkcs11.h\": a sibling on the same floor (1): jose may not include pkcs11"

fresh
n=$(add_include src/rotation/step.c exchange/exchange_int.h)
expect_fail "another folder's private header" \
    "src/rotation/step.c:$n: #include \"exchange/exchange_int.h\": a private header of exchange: only exchange/exchange.h may be included from outside exchange/"

fresh
n=$(add_include src/cli/main.c pkcs11/pkcs11.h)
expect_fail "a library floor from the CLI" \
    "src/cli/main.c:$n: #include \"pkcs11/pkcs11.h\": cli (floor 7) may not include pkcs11 (floor 1): not listed in its row"

fresh
n=$(add_include src/token-client/http1.c p11jwt.h)
expect_fail "the public header in the libc-only client" \
    "src/token-client/http1.c:$n: #include \"p11jwt.h\": token-client may not include the public header (its table row does not list p11jwt)"

fresh
mkdir "$T/tree/src/extra"
printf '#include "base/base.h"\n' >"$T/tree/src/extra/x.c"
expect_fail "a folder not in the table" \
    "src/extra/x.c: folder src/extra/ is not in the floor table of docs/architecture.md"

fresh
cp "$T/tree/src/agent/log.c" "$T/tree/src/cli/log.c"
expect_fail "two files of one name" "src/: 2 files are named log.c: src/agent/log.c src/cli/log.c"

# The document is the source: take jose out of core's row, and core's
# include of jose/jose.h fails.
fresh
sed -i 's/^| 2 | `src\/core\/` | - | `p11jwt`, `base`, `jose`, `pkcs11` |$/| 2 | `src\/core\/` | - | `p11jwt`, `base`, `pkcs11` |/' \
    "$T/tree/docs/architecture.md"
n=$(grep -n '^#include "jose/jose.h"' "$T/tree/src/core/core_int.h" | cut -d: -f1)
[[ -n $n ]] || fail "core_int.h no longer includes jose/jose.h: update this test"
expect_fail "a row of the document changed" \
    "src/core/core_int.h:$n: #include \"jose/jose.h\": core (floor 2) may not include jose (floor 1): not listed in its row"

# No table: exit 2, not a pass.
fresh
sed -i '/<!-- layers:begin -->/d' "$T/tree/docs/architecture.md"
rc=0
"$CHECK" "$T/tree" >"$T/out" 2>&1 || rc=$?
[[ $rc -eq 2 ]] || { cat "$T/out" >&2; fail "without its table: exit $rc, want 2"; }
echo "ok: no table is an error, not a pass"
