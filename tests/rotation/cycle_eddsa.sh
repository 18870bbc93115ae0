#!/usr/bin/env bash
# cycle_eddsa: a rotation of an EdDSA (Ed25519) key against an rfc7523 STS
# that trusts keys by their OKP JWKs: stage generates the next key as an
# Ed25519 pair (not a secret to import), the JWKS it prints holds both OKP
# keys, and after promote the exchange signs with the next key.
set -euo pipefail
source "$(dirname "$0")/rlib.sh"

# SoftHSM 2.6.1 leaks 37 bytes in each EdDSA C_SignInit with a key it made
# (see integration/keys_eddsa.sh): let LeakSanitizer see its frames, which
# tests/lsan.supp suppresses as SoftHSM's.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0

step "an EdDSA key, trusted by an rfc7523 STS"
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg EdDSA
old=$OUT
start_sts "$(jwks_of "$old")"
cat >"$CONFIG" <<CONF
[profile rot]
dialect = rfc7523
token = $TOKEN
pin_file = $PIN_FILE
kid = $old
iss = rotation test
token_url = http://127.0.0.1:$STS_PORT/rfc7523/token
grace = 0
CONF
exchange_ok

step "stage: the next key is an Ed25519 pair; the JWKS holds both OKP keys"
expect_exit 0 rot stage
printf '%s' "$OUT" >"$T/staged-jwks.json"
next=$(status_kid next)
[[ -n $next && $next != "$old" ]] || fail "no next key after stage"
pycheck "$T/staged-jwks.json" "$old" "$next" <<'PY'
import json, sys
from itlib import *
keys = json.load(open(sys.argv[1]))["keys"]
check(sorted(k["kid"] for k in keys) == sorted(sys.argv[2:4]), f"stage printed {keys}")
check(all(k["kty"] == "OKP" and k["alg"] == "EdDSA" for k in keys), f"not OKP: {keys}")
check(all(jwk_thumbprint(k) == k["kid"] for k in keys), "a kid is not its thumbprint")
PY
expect_exit 0 rot status --json
pycheck "$OUT" <<'PY'
import json, sys
from itlib import check
s = json.loads(sys.argv[1])
check(s["active"]["alg"] == "EdDSA" and s["next"]["alg"] == "EdDSA", s)
PY

step "promote; the STS trusts only the next key; exchanges go on"
start_sts "$T/staged-jwks.json"
expect_exit 0 rot promote
[[ $(status_kid active) == "$next" ]] || fail "active is not $next after promote"
start_sts "$(jwks_of "$next")"
exchange_ok

step "retire (grace 0): the old Ed25519 pair is destroyed"
expect_exit 0 rot retire --yes
expect_exit 0 p11jwt list "${TOK[@]}" --json
pycheck "$OUT" "$old" "$next" <<'PY'
import json, sys
from itlib import check
kids = [k["kid"] for k in json.loads(sys.argv[1])]
check(sys.argv[2] not in kids and sys.argv[3] in kids, f"kids after retire: {kids}")
PY
exchange_ok

echo "cycle_eddsa: all checks passed"
