#!/usr/bin/env bash
# scope.sh — scopes through the CLI (issue 12, "Scopes"), against the test
# STS acting as a real one (--scopes: the client is registered for a, b and
# c only): `token --scope` overrides the profile's scope and sends the
# normalised set; a scope outside RFC 6749 syntax is refused before any
# request, its byte named and escaped; the STS's invalid_scope is shown with
# its description and the scope asked; `call` on a 403 insufficient_scope
# (RFC 6750 3.1) exits 1 with one line naming the scope the resource wants,
# without a second exchange or a retried request. Caching per scope set is
# tested through the agent (agent/scope.sh) and the fleet (fleet/scope.sh),
# where tokens outlive one command; here the library's own cache is driven
# through one process (exchange_threads has no scope; the CLI is one call).
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid sc-1
export_jwks "$T/jwks.json"
start_sts sts --jwks "$T/jwks.json" --scopes 'backend=a b c'
URL=$STS/rfc7523/token
conf <<EOF
[profile s]
dialect = rfc7523
token = $TOKEN
pin_file = $PIN_FILE
kid = sc-1
token_url = $URL
iss = backend
scope = a

[profile noa]
dialect = noa
token = $TOKEN
pin_file = $PIN_FILE
kid = sc-1
token_url = $STS/noa/token
iss = backend
claim.organization = 0b7c1f0e-5f2a-4d3c-9a58-2f9c1b6d7e41
EOF

# last_scope: the scope the STS's last token request asked for ("" none).
last_scope() {
    sts_stats | "$PYTHON" -c '
import json, sys
rs = [q for q in json.load(sys.stdin)["requests"] if q["path"] == "/rfc7523/token"]
print(rs[-1].get("scope", "") if rs else "-")'
}

step "token: the profile's scope, then --scope instead of it (normalised: sorted, once)"
expect_exit 0 x token --config "$CONF" --profile s --json
[[ $(last_scope) == a ]] || fail "the profile's scope was not sent: '$(last_scope)'"
expect_exit 0 x token --config "$CONF" --profile s --scope 'c b  c' --json
[[ $(last_scope) == 'b c' ]] || fail "--scope 'c b  c' sent '$(last_scope)', expected 'b c'"
pycheck "$OUT" <<'PY'
import json, sys
from itlib import check
d = json.loads(sys.argv[1])
check(d["scope"] == "b c", f"granted scope {d['scope']!r}")
PY
[[ $(calls /rfc7523/token) == 2 ]] || fail "$(calls /rfc7523/token) exchanges, expected 2"

step "a scope outside RFC 6749 syntax: refused before any request, the byte named and escaped"
before=$(calls /rfc7523/token)
expect_exit 1 x token --config "$CONF" --profile s --scope 'a"b'
expect_err_matches "scope 'a\"b': byte 2 \('\"'\) is not allowed.*RFC 6749"
expect_exit 1 x token --config "$CONF" --profile s --scope $'a\tb\x1b[31m'
expect_err_matches "scope 'a\\\\tb\\\\x1b\[31m': byte 2 \('\\\\t'\)"
[[ $ERR != *$'\x1b'* && $ERR != *$'\t'* ]] || fail "a control character reached stderr: $ERR"
expect_exit 1 x token --config "$CONF" --profile s --scope $'\xc3\xa9'
expect_err_matches "byte 1 \('\\\\xc3'\) is not allowed"
expect_exit 1 x token --config "$CONF" --profile s --scope '  '
expect_err_matches "names no scope token"
expect_exit 1 x token --config "$CONF" --profile s --scope "$(head -c 1100 /dev/zero | tr '\0' a)"
expect_err_matches "longer than 1024 bytes"
expect_exit 1 x token --config "$CONF" --profile noa --scope a
expect_err_matches "profile 'noa' \(dialect noa\) sends no scope"
[[ $(calls /rfc7523/token) == "$before" ]] || fail "a refused scope reached the STS"

step "a profile's scope outside the syntax is a config error naming the line"
printf '[profile bad]\ndialect = rfc7523\ntoken = %s\npin_file = %s\nkid = sc-1\ntoken_url = %s\niss = backend\nscope = a\\b\n' \
    "$TOKEN" "$PIN_FILE" "$URL" >"$T/bad.conf"
expect_exit 1 x token --config "$T/bad.conf" --profile bad
expect_err_matches "bad.conf:8: scope: scope 'a\\\\\\\\b': byte 2"

step "invalid_scope from the STS: its description and the scope asked, exit 1, not retried"
before=$(calls /rfc7523/token)
expect_exit 1 x token --config "$CONF" --profile s --scope 'a zz'
expect_err_matches "invalid_scope: scope 'zz' is not granted to client 'backend'"
expect_err_matches "asked for scope 'a zz'"
[[ $(calls /rfc7523/token) == $((before + 1)) ]] || fail "invalid_scope was retried"
# The description is escaped: a hostile STS cannot drive the terminal.
sts_control '{"path": "/rfc7523/token", "status": 400, "body": {"error": "invalid_scope", "error_description": "no\u001b[2J\nforged line"}}'
expect_exit 1 x token --config "$CONF" --profile s --scope b
expect_err_matches 'invalid_scope: no\\x1b\[2J\\nforged line'

step "call: 403 insufficient_scope names the scope wanted, exit 1, one exchange, no retry"
t0=$(calls /rfc7523/token)
r0=$(calls /rfc7523/resource/need/c resource)
expect_exit 1 x call --config "$CONF" --profile s --scope 'a b' "$STS/rfc7523/resource/need/c?x=1"
expect_err_matches "^p11jwt: call: the resource answered HTTP 403 insufficient_scope: it wants scope 'c': this resource needs scope c$"
[[ $(calls /rfc7523/token) == $((t0 + 1)) ]] || fail "insufficient_scope: $(($(calls /rfc7523/token) - t0)) exchanges, expected 1"
[[ $(calls /rfc7523/resource/need/c resource) == $((r0 + 1)) ]] || fail "insufficient_scope: the request was retried"
step "call with the scope it wants: 200"
expect_exit 0 x call --config "$CONF" --profile s --scope 'c a' "$STS/rfc7523/resource/need/c"
step "call with the profile's scope (a) at a resource needing a: 200; needing b: 403 naming b"
expect_exit 0 x call --config "$CONF" --profile s "$STS/rfc7523/resource/need/a"
expect_exit 1 x call --config "$CONF" --profile s "$STS/rfc7523/resource/need/b"
expect_err_matches "it wants scope 'b'"

step "a challenge that is not RFC 7235: said so, escaped, and no retry"
sts_control '{"path": "/rfc7523/resource/need/z", "status": 403, "body": "{}", "headers": {"WWW-Authenticate": "Bearer error=\"insufficient_scope, scope=\"x\u0007"}}'
expect_exit 1 x call --config "$CONF" --profile s "$STS/rfc7523/resource/need/z"
expect_err_matches "HTTP 403 with a WWW-Authenticate header that does not parse"
step "several challenges, escapes in a quoted-string: the Bearer one is read"
sts_control '{"path": "/rfc7523/resource/need/y", "status": 403, "body": "{}", "headers": {"WWW-Authenticate": "Basic realm=\"r, x\", Bearer realm=\"a\\\"b\", scope=\"y \\\\z\", error=insufficient_scope"}}'
expect_exit 1 x call --config "$CONF" --profile s "$STS/rfc7523/resource/need/y"
expect_err_matches "it wants scope 'y \\\\\\\\z'$"
