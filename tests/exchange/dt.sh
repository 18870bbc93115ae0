#!/usr/bin/env bash
# dt.sh — the dt dialect end to end: a provider secret imported into the
# token under the provider's key id, HS256 assertions (iss = account e-mail,
# aud = token URL, exp - iat <= 3600), the form grant, {access_token,
# token_type, expires_in}, Bearer at the resource. Then each of dt's
# documented error bodies must reach the user in one line, with its hint,
# and a 400 invalid_grant must not be retried blindly.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"

EMAIL=svc-account@example.com
make_secret "$T/dt.secret"        # what dt handed out for dt-key-1
make_secret "$T/other.secret"     # a wrong secret, imported under dt-key-2
make_secret "$T/dt2.secret"       # what the STS knows as dt-key-2's secret
make_secret "$T/ghost.secret"     # dt-key-3: the STS has never heard of it
expect_exit 0 p11jwt import-secret "${TOK[@]}" --kid dt-key-1 --alg HS256 --secret-file "$T/dt.secret"
expect_exit 0 p11jwt import-secret "${TOK[@]}" --kid dt-key-2 --alg HS256 --secret-file "$T/other.secret"
expect_exit 0 p11jwt import-secret "${TOK[@]}" --kid dt-key-3 --alg HS256 --secret-file "$T/ghost.secret"

start_sts sts --secret "dt-key-1=$T/dt.secret" --secret "dt-key-2=$T/dt2.secret" \
    --iss-allowed "$EMAIL"
URL=$STS/dt/token

# One good profile and one per documented error.
profile() {   # profile NAME KID ISS [extra line]...
    printf '\n[profile %s]\ndialect = dt\ntoken = %s\npin_file = %s\ntoken_url = %s\n' \
        "$1" "$TOKEN" "$PIN_FILE" "$URL" >>"$CONF"
    printf 'kid = %s\niss = %s\n' "$2" "$3" >>"$CONF"
    shift 3
    (($# == 0)) || printf '%s\n' "$@" >>"$CONF"
}
conf <<EOF
# p11jwt profiles for the dt test
; both comment styles
EOF
profile dt dt-key-1 "$EMAIL" 'header.X-Trace = dt-test-42'
profile dt-wrong-iss dt-key-1 someone-else@example.com
profile dt-wrong-aud dt-key-1 "$EMAIL" 'aud = https://identity.example.invalid/oauth2/token'
profile dt-wrong-secret dt-key-2 "$EMAIL"
profile dt-unknown-kid dt-key-3 "$EMAIL"
profile dt-timing dt-key-1 "$EMAIL" 'iat_backdate = 2h'

step "assertion: signed offline, nothing sent"
expect_exit 0 x assertion --config "$CONF" --profile dt
jws=$OUT
pyverify --secret-file "$T/dt.secret" --alg HS256 --aud "$URL" --iss "$EMAIL" <<<"$jws" \
    >"$T/py.json" || fail "PyJWT rejects the dt assertion"
pycheck "$T/py.json" "$URL" "$EMAIL" <<'PY'
import sys
from itlib import *
[d] = load_json_lines(sys.argv[1])
h, p = d["header"], d["payload"]
check(h["alg"] == "HS256" and h["kid"] == "dt-key-1", f"header {h}")
check(p["aud"] == sys.argv[2] and p["iss"] == sys.argv[3], f"aud/iss {p}")
check(0 < p["exp"] - p["iat"] <= 3600, f"dt wants exp - iat <= 3600: {p}")
PY
[[ $(calls /dt/token) == 0 ]] || fail "'p11jwt assertion' contacted the STS"

step "token: the exchange, as dt documents it"
expect_exit 0 x token --config "$CONF" --profile dt
[[ $OUT =~ ^[0-9a-f]{32}$ ]] || fail "token printed '$OUT', not the access token alone"
tok=$OUT
[[ $(calls /dt/token) == 1 ]] || fail "expected 1 token request, STS saw $(calls /dt/token)"
sts_stats >"$T/stats.json"
pycheck "$T/stats.json" "$URL" <<'PY'
import json, sys
from itlib import *
st = json.load(open(sys.argv[1]))
r = [q for q in st["requests"] if q["path"] == "/dt/token"][-1]
check(r["method"] == "POST" and r["form"], f"dt wants a form POST: {r}")
check(r["status"] == 200, f"STS refused: {r}")
check(sorted(r["params"]) == ["assertion", "grant_type"], f"form fields {r['params']}")
a = st["assertions"][-1]
check(a["header"]["kid"] == "dt-key-1" and a["payload"]["aud"] == sys.argv[2], f"{a}")
PY

step "token --json: expires_at from expires_in"
t0=$(date +%s)
expect_exit 0 x token --config "$CONF" --profile dt --json
pycheck "$OUT" "$t0" <<'PY'
import json, sys
from itlib import *
d = json.loads(sys.argv[1]); t0 = int(sys.argv[2])
check(set(d) >= {"access_token", "token_type", "expires_at", "scope"}, f"fields {d}")
check(len(d["access_token"]) == 32, f"access_token {d['access_token']!r}")
check(d["token_type"].lower() == "bearer", f"token_type {d['token_type']!r}")
check(t0 + 3599 - 5 <= d["expires_at"] <= t0 + 3599 + 30, f"expires_at {d['expires_at']} vs now {t0}")
check(d["scope"] is None, f"scope {d['scope']!r}: dt names none")
PY

step "call: Bearer and the profile's extra headers reach the resource"
expect_exit 0 x call --config "$CONF" --profile dt "$STS/dt/resource?q=1"
pycheck "$OUT" <<'PY'
import json, sys
from itlib import *
d = json.loads(sys.argv[1])
check(d["ok"] and d["dialect"] == "dt" and d["method"] == "GET", f"{d}")
check(d["query"] == "q=1", f"query {d['query']!r}")
check(d["headers"].get("X-Trace") == "dt-test-42", f"header.X-Trace missing: {d['headers']}")
PY
expect_exit 0 x call --config "$CONF" --profile dt -X POST -H 'X-Extra: yes' \
    -H 'Content-Type: application/json' -d '{"a":1}' "$STS/dt/resource"
pycheck "$OUT" <<'PY'
import json, sys
from itlib import *
d = json.loads(sys.argv[1])
check(d["method"] == "POST" and d["body"] == '{"a":1}', f"{d}")
check(d["headers"].get("X-Extra") == "yes", f"-H X-Extra missing: {d['headers']}")
check(d["headers"].get("Content-Type") == "application/json", f"-H Content-Type: {d['headers']}")
check(d["headers"].get("X-Trace") == "dt-test-42", f"header.X-Trace missing: {d['headers']}")
PY
sts_stats >"$T/stats.json"
pycheck "$T/stats.json" <<'PY'
import json, sys
from itlib import *
rs = [q for q in json.load(open(sys.argv[1]))["requests"] if q["path"] == "/dt/resource"]
check(len(rs) == 2 and all(q["scheme"].lower() == "bearer" and q["status"] == 200 for q in rs),
      f"resource requests {rs}")
PY

step "call: a non-2xx answer is exit 1 with the status"
expect_exit 1 x call --config "$CONF" --profile dt "$STS/dt/nowhere"
expect_err_matches '404'

# expect_refusal PROFILE REGEX... : token fails, in one line matching every
# REGEX; the STS saw at most MAX_CALLS requests for it (no blind retry).
expect_refusal() {
    local prof=$1 before after re max=${MAX_CALLS:-1}
    shift
    before=$(calls /dt/token)
    expect_exit 1 x token --config "$CONF" --profile "$prof"
    [[ -z $OUT ]] || fail "$prof: a refused exchange printed '$OUT'"
    for re in "$@"; do expect_err_matches "$re"; done
    after=$(calls /dt/token)
    (((after - before) >= 1 && (after - before) <= max)) ||
        fail "$prof: STS saw $((after - before)) token requests, expected 1..$max"
    step "$prof: $ERR"
}

step "documented errors, each with its hint"
expect_refusal dt-wrong-iss 'invalid_grant' "Untrusted entity\. Check the 'aud' and 'iss' claims\." \
    '\baud\b' '\biss\b' 'e-?mail'
expect_refusal dt-wrong-aud 'invalid_grant' 'Untrusted entity' 'token URL|token_url'
expect_refusal dt-wrong-secret 'invalid_grant' 'Invalid signature' 'secret' 'kid|key id'
expect_refusal dt-unknown-kid 'invalid_grant'
# A timing refusal may be retried once with a fresh assertion (clock skew),
# never more.
MAX_CALLS=2 expect_refusal dt-timing 'invalid_grant' "Timing-related error\. Check the 'exp' and 'iat' claims\." \
    'clock' '3600'
sts_control '{"path": "/dt/token", "status": 400, "body": {"error": "unsupported_grant_type"}}'
expect_refusal dt 'unsupported_grant_type' 'form'
sts_control '{"path": "/dt/token", "status": 400, "count": 2,
  "body": {"error": "invalid_grant", "error_description": "Timing-related error. Check the '"'exp'"' and '"'iat'"' claims."}}'
MAX_CALLS=2 expect_refusal dt 'Timing-related error' 'clock'
sts_control '{"clear": true}'

step "the good profile still works after all that"
expect_exit 0 x token --config "$CONF" --profile dt
grep -qF -- "$tok" "$STS_LOG" && fail "the STS log holds a full access token"
grep -q -- "$(cut -c1-40 "$T/dt.secret")" "$STS_LOG" && fail "the STS log holds the secret"
true
