#!/usr/bin/env bash
# neowit.sh — the neowit dialect: HS256 with kid, iss = service account id,
# aud = token URL (the code sample, not the walkthrough that swaps them),
# the same form grant as dt, and an answer of {"accessToken"} ONLY: the
# client must know the token lives one hour without being told.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"

ACCOUNT=sa-4f1c2b9e
make_secret "$T/neowit.secret"
expect_exit 0 p11jwt import-secret "${TOK[@]}" --kid nw-key --alg HS256 --secret-file "$T/neowit.secret"
start_sts sts --secret "nw-key=$T/neowit.secret" --iss-allowed "$ACCOUNT"
URL=$STS/neowit/token

conf <<EOF
[profile neowit]
dialect = neowit
token = $TOKEN
pin_file = $PIN_FILE
kid = nw-key
token_url = $URL
iss = $ACCOUNT

[profile neowit-short]
dialect = neowit
token = $TOKEN
pin_file = $PIN_FILE
kid = nw-key
token_url = $URL
iss = $ACCOUNT
default_lifetime = 10m

[profile neowit-swapped]
# the walkthrough's mistake: aud and iss swapped
dialect = neowit
token = $TOKEN
pin_file = $PIN_FILE
kid = nw-key
token_url = $URL
iss = $URL
aud = $ACCOUNT
EOF

step "assertion: aud = token URL, iss = service account id"
expect_exit 0 x assertion --config "$CONF" --profile neowit
pyverify --secret-file "$T/neowit.secret" --alg HS256 --aud "$URL" --iss "$ACCOUNT" <<<"$OUT" \
    >"$T/py.json" || fail "PyJWT rejects the neowit assertion"
pycheck "$T/py.json" <<'PY'
import sys
from itlib import *
[d] = load_json_lines(sys.argv[1])
check(d["header"]["kid"] == "nw-key" and d["header"]["alg"] == "HS256", f"header {d['header']}")
check(d["payload"]["exp"] - d["payload"]["iat"] <= 3600, f"payload {d['payload']}")
PY

step "token --json: accessToken read, lifetime 1 h by default"
t0=$(date +%s)
expect_exit 0 x token --config "$CONF" --profile neowit --json
pycheck "$OUT" "$t0" <<'PY'
import json, sys
from itlib import *
d = json.loads(sys.argv[1]); t0 = int(sys.argv[2])
check(len(d["access_token"]) == 32, f"access_token {d['access_token']!r}")
check(d["token_type"].lower() == "bearer", f"token_type {d['token_type']!r}")
check(t0 + 3600 - 5 <= d["expires_at"] <= t0 + 3600 + 30, f"expires_at {d['expires_at']} vs now {t0}: 1 h")
PY
expect_exit 0 x token --config "$CONF" --profile neowit-short --json
pycheck "$OUT" "$t0" <<'PY'
import json, sys
from itlib import *
d = json.loads(sys.argv[1]); t0 = int(sys.argv[2])
check(t0 + 600 - 5 <= d["expires_at"] <= t0 + 600 + 30, f"default_lifetime 10m: expires_at {d['expires_at']} vs now {t0}")
PY
expect_exit 0 x token --config "$CONF" --profile neowit
[[ $OUT =~ ^[0-9a-f]{32}$ ]] || fail "token printed '$OUT'"

step "call: Bearer at the resource"
expect_exit 0 x call --config "$CONF" --profile neowit -X POST -d 'x=1' "$STS/neowit/resource"
pycheck "$OUT" <<'PY'
import json, sys
from itlib import *
d = json.loads(sys.argv[1])
check(d["ok"] and d["dialect"] == "neowit" and d["method"] == "POST" and d["body"] == "x=1", f"{d}")
PY

step "the walkthrough's swapped aud/iss is refused by the STS, in one clear line"
expect_exit 1 x token --config "$CONF" --profile neowit-swapped
expect_err_matches 'invalid_grant'
expect_err_matches 'aud'
