#!/usr/bin/env bash
# client_credentials.sh — client credentials, no assertion: JSA/QRadar's GET
# ?grant_type=client_credentials&client_id=&client_secret= (dialect jsa,
# auth_method get-query), and RFC 6749 POST with HTTP Basic or with the
# secret in the form body; the secret from a file or from an environment
# variable. The secret here holds characters that must be encoded (":",
# "+", "&", "=", "%", " ", "/"): RFC 6749 2.3.1 form-encodes them even inside
# Basic credentials.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"

CLIENT=app-7
(umask 077 && printf 'Zx9:q+w&e=r%%t y/%s\n' "$(rand_hex 12)" >"$T/cc.secret")
(umask 077 && printf 'not-the-secret\n' >"$T/bad.secret")
CC_SECRET=$(cat "$T/cc.secret")
export CC_SECRET
(umask 077 && printf 'plainSecret%s\n' "$(rand_hex 12)" >"$T/plain.secret")
PLAIN_SECRET=$(cat "$T/plain.secret")
export PLAIN_SECRET
start_sts sts --client "$CLIENT=$T/cc.secret" --client "app-plain=$T/plain.secret"

cc_profile() {   # cc_profile NAME DIALECT PATH [extra line]...
    printf '\n[profile %s]\ndialect = %s\ntoken_url = %s/%s/token\nclient_id = %s\n' \
        "$1" "$2" "$STS" "$3" "${CID:-$CLIENT}" >>"$CONF"
    shift 3
    (($# == 0)) || printf '%s\n' "$@" >>"$CONF"
}
cc_profile jsa jsa jsa "client_secret_file = $T/cc.secret"
cc_profile cc-query client-credentials cc "client_secret_env = CC_SECRET" 'auth_method = get-query'
cc_profile cc-basic client-credentials cc "client_secret_file = $T/cc.secret" 'auth_method = basic' \
    'scope = read write'
CID=app-plain cc_profile cc-basic-plain client-credentials cc "client_secret_file = $T/plain.secret" \
    'auth_method = basic'
CID=app-plain cc_profile cc-default client-credentials client-credentials \
    "client_secret_env = PLAIN_SECRET"
cc_profile cc-form client-credentials cc "client_secret_file = $T/cc.secret" 'auth_method = post-form' \
    'scope = ADMIN' 'header.X-Tenant = blue'
cc_profile cc-bad client-credentials cc "client_secret_file = $T/bad.secret" 'auth_method = post-form'
cc_profile cc-noenv client-credentials cc "client_secret_env = P11JWT_TEST_UNSET_SECRET"

# last_token_request: the STS's summary of the latest /PATH/token request.
last_token_request() {
    sts_stats | "$PYTHON" -c '
import json, sys
rs = [q for q in json.load(sys.stdin)["requests"] if q.get("kind") == "token"]
print(json.dumps(rs[-1]))'
}

# check_auth PROFILE METHOD HTTP_METHOD PARAMS SCOPE
check_auth() {
    local t0
    t0=$(date +%s)
    expect_exit 0 x token --config "$CONF" --profile "$1" --json
    pycheck "$OUT" "$(last_token_request)" "$2" "$3" "$4" "$5" "$t0" <<'PY'
import json, sys
from itlib import *
d, r = json.loads(sys.argv[1]), json.loads(sys.argv[2])
method, http_method, params, scope, t0 = sys.argv[3:8]
check(r["status"] == 200, f"STS refused: {r}")
check(r["auth_method"] == method, f"client authenticated by {r['auth_method']}, not {method}")
check(r["method"] == http_method, f"HTTP {r['method']}, not {http_method}")
check(r["params"] == params.split(), f"parameters {r['params']}, expected {params.split()}")
check(d["token_type"] == "Bearer" and len(d["access_token"]) == 32, f"{d}")
check(d["scope"] == scope, f"scope {d['scope']!r}, expected {scope!r}")
check(int(t0) + 3595 <= d["expires_at"] <= int(t0) + 3630, f"expires_at {d['expires_at']}")
PY
    step "$1: $2 ok"
}

step "the three ways of sending the client secret"
check_auth jsa get-query GET 'client_id client_secret grant_type' ADMIN
check_auth cc-query get-query GET 'client_id client_secret grant_type' ADMIN
check_auth cc-basic-plain basic POST 'grant_type' ADMIN
check_auth cc-default basic POST 'grant_type' ADMIN
check_auth cc-form post-form POST 'client_id client_secret grant_type scope' ADMIN

step "token prints the access token alone"
expect_exit 0 x token --config "$CONF" --profile jsa
[[ $OUT =~ ^[0-9a-f]{32}$ ]] || fail "token printed '$OUT'"

step "call: Bearer + header.X-Tenant, for each profile"
for prof in jsa cc-query cc-basic-plain cc-form; do
    expect_exit 0 x call --config "$CONF" --profile "$prof" "$STS/cc/resource"
    pycheck "$OUT" "$prof" <<'PY'
import json, sys
from itlib import *
d = json.loads(sys.argv[1])
check(d["ok"] and d["dialect"] == "client-credentials", f"{sys.argv[2]}: {d}")
if sys.argv[2] == "cc-form":
    check(d["headers"].get("X-Tenant") == "blue", f"header.X-Tenant: {d['headers']}")
PY
done

step "a wrong secret: 401 invalid_client, one clear line, no retry"
before=$(calls /cc/token)
expect_exit 1 x token --config "$CONF" --profile cc-bad
expect_err_matches 'invalid_client'
expect_err_matches '401'
[[ $(($(calls /cc/token) - before)) == 1 ]] || fail "invalid_client was retried"
[[ $ERR != *not-the-secret* ]] || fail "the client secret appears in the error: $ERR"

step "the secret's environment variable is unset: a clear error, nothing sent"
before=$(calls /cc/token)
expect_exit 1 x token --config "$CONF" --profile cc-noenv
expect_err_matches 'P11JWT_TEST_UNSET_SECRET'
[[ $(calls /cc/token) == "$before" ]] || fail "a request was sent without a secret"

step "the secret never reaches the STS log"
grep -qF -- "$CC_SECRET" "$STS_LOG" && fail "the STS log holds the client secret"
grep -qF -- "$(printf %s "$CC_SECRET" | "$PYTHON" -c 'import sys,urllib.parse;print(urllib.parse.quote_plus(sys.stdin.read()))')" \
    "$STS_LOG" && fail "the STS log holds the encoded client secret"

step "Basic with a secret that needs encoding"
# RFC 6749 2.3.1: id and secret are form-encoded, then joined by ":" and
# base64-encoded; a server decodes them, so a raw "+" would become " ".
check_auth cc-basic basic POST 'grant_type scope' 'read write'
expect_exit 0 x call --config "$CONF" --profile cc-basic "$STS/cc/resource"
