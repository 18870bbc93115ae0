#!/usr/bin/env bash
# cycle: a full rotation against an STS whose trusted keys go old → old+next
# → next, with an exchange between every step. No exchange may fail.
set -euo pipefail
source "$(dirname "$0")/rlib.sh"

step "an ES384 key, trusted by the STS"
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES384
old=$OUT
start_sts "$(jwks_of "$old")"
write_config "$old" "grace = 0"
exchange_ok

step "status before anything is stored: the profile's kid"
expect_exit 0 rot status --json
pycheck "$OUT" "$old" <<'PY'
import json, sys
from itlib import check
s = json.loads(sys.argv[1])
check(s["active"]["kid"] == sys.argv[2] and s["next"] is None and s["previous"] == [], s)
check(s["version"] == 0 and s.get("stored") is False, s)
PY

step "stage: a next key; the JWKS printed holds active + next"
expect_exit 0 rot stage
printf '%s' "$OUT" >"$T/staged-jwks.json"
next=$(status_kid next)
[[ -n $next && $next != "$old" ]] || fail "no next key after stage"
pycheck "$T/staged-jwks.json" "$old" "$next" <<'PY'
import json, sys
from itlib import check
kids = sorted(k["kid"] for k in json.load(open(sys.argv[1]))["keys"])
check(kids == sorted(sys.argv[2:4]), f"stage printed kids {kids}")
PY
exchange_ok    # still signs with old

step "register: the STS now trusts old and next"
start_sts "$T/staged-jwks.json"
exchange_ok

step "promote: next becomes active"
expect_exit 0 rot promote
[[ $(status_kid active) == "$next" ]] || fail "active is not $next after promote"
exchange_ok

step "the STS drops old; exchanges go on with next"
start_sts "$(jwks_of "$next")"
exchange_ok

step "retire (grace 0): old is destroyed, next stays"
expect_exit 0 rot retire --yes
expect_exit 0 p11jwt list "${TOK[@]}" --json
pycheck "$OUT" "$old" "$next" <<'PY'
import json, sys
from itlib import check
kids = [k["kid"] for k in json.loads(sys.argv[1])]
check(sys.argv[2] not in kids, f"old key still in the token: {kids}")
check(sys.argv[3] in kids, f"active key gone: {kids}")
PY
exchange_ok

step "status after the full cycle"
expect_exit 0 rot status --json
echo "$OUT"
pycheck "$OUT" "$next" <<'PY'
import json, sys
from itlib import check
s = json.loads(sys.argv[1])
check(s["active"]["kid"] == sys.argv[2] and s["next"] is None and s["previous"] == [], s)
check(s["version"] == 3, f"expected 3 stored versions (stage, promote, retire): {s['version']}")
PY

step "audit: one line per stage, promote, retire and per signature"
pycheck "$T/audit.log" "$old" "$next" <<'PY'
import json, sys
from itlib import check
lines = [json.loads(l) for l in open(sys.argv[1])]
events = [l["event"] for l in lines if l["event"] != "sign"]
check(events == ["stage", "promote", "retire"], f"rotation events {events}")
signs = [l for l in lines if l["event"] == "sign"]
# Six exchanges, one assertion each (no retries, no fallback needed).
check(len(signs) == 6, f"{len(signs)} signatures audited, expected 6")
for l in signs:
    check(set(l) >= {"time", "kid", "alg", "jti", "sha256", "profile"}, l)
    check(len(l["sha256"]) == 64, l)
check({l["kid"] for l in signs} == {sys.argv[2], sys.argv[3]}, "signing kids")
PY
echo "rotation cycle ok"
