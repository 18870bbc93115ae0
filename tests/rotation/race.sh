#!/usr/bin/env bash
# race: two `rotate auto` processes at once on one token, 50 times; every
# time the keyring in force has exactly one active key that exists in the
# token, and no version is lost.
set -euo pipefail
source "$(dirname "$0")/rlib.sh"

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256
first=$OUT
STS_PORT=9   # never contacted: rotate auto does not exchange
# rotate_after 0: a stage is always due; overlap 0: a promote is due as
# soon as there is a next key; grace 0: previous keys go at once.
write_config "$first" "rotate_after = 0" "overlap = 0" "grace = 0"

for i in $(seq 1 50); do
    rot auto >"$T/a.out" 2>"$T/a.err" &
    a=$!
    rot auto >"$T/b.out" 2>"$T/b.err" &
    b=$!
    wait "$a" || fail "run $i: rotate auto (A) failed: $(cat "$T/a.err")"
    wait "$b" || fail "run $i: rotate auto (B) failed: $(cat "$T/b.err")"
    expect_exit 0 rot status --json
    status=$OUT
    expect_exit 0 p11jwt list "${TOK[@]}" --json
    pycheck "$status" "$OUT" "$i" <<'PY'
import json, sys
from itlib import check
s, keys, run = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
kids = {k["kid"] for k in keys}
active = s["active"]["kid"]
check(active in kids, f"run {run}: active {active} is not in the token: {sorted(kids)}")
named = [active] + ([s["next"]["kid"]] if s["next"] else []) + [p["kid"] for p in s["previous"]]
check(len(named) == len(set(named)), f"run {run}: a kid in two states: {s}")
for k in named:
    check(k in kids, f"run {run}: keyring names {k}, not in the token")
PY
done
echo "50 races, one active key each time"
