#!/usr/bin/env bash
# hostile_input.sh — input made to break the output: values that carry
# terminal escapes and newlines are shown escaped on one line (never
# raw), and NUL bytes in text input are errors naming where they are.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

AUD=https://sts.example.invalid/token

# stderr of the last run has no raw control byte (ESC, CR, ...), and the
# CLI's one-line contract held (expect_exit checked that).
no_raw_controls() {
    if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$T/err"; then
        fail "raw control bytes on stderr: $(od -c "$T/err" | head -5)"
    fi
}

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid good
export_jwks "$T/jwks.json" good

step "a JWS whose kid and alg hold escape sequences and a newline"
hostile=$("$PYTHON" - <<'PY'
from itlib import *
h = {"alg": "ES256", "kid": "evil\x1b[31mRED\x1b[0m\nsecond line \x07\u202e"}
p = {"iss": "i", "aud": "x", "exp": 4102444800}
print(f"{b64e(compact_json(h).encode())}.{b64e(compact_json(p).encode())}.{b64e(bytes(64))}")
PY
)
expect_exit 1 p11jwt verify --jwks "$T/jwks.json" <<<"$hostile"
no_raw_controls
grep -qF 'evil\x1b[31mRED\x1b[0m\nsecond line \x07\u202e' "$T/err" ||
    fail "the kid is not shown escaped: $ERR"
expect_exit 1 p11jwt verify "${TOK[@]}" --kid good <<<"$hostile"
no_raw_controls
grep -qF '\x1b[31m' "$T/err" || fail "the kid is not shown escaped: $ERR"
badalg=$("$PYTHON" - <<'PY'
from itlib import *
h = {"alg": "ES256\r\nX: y\x1b]0;title\x07", "kid": "good"}
p = {"iss": "i", "aud": "x", "exp": 4102444800}
print(f"{b64e(compact_json(h).encode())}.{b64e(compact_json(p).encode())}.{b64e(bytes(64))}")
PY
)
expect_exit 1 p11jwt verify "${TOK[@]}" --kid good <<<"$badalg"
no_raw_controls
grep -qF 'ES256\r\nX: y\x1b]0;title\x07' "$T/err" || fail "the alg is not shown escaped: $ERR"

step "an argument with control characters is echoed escaped"
expect_exit 2 p11jwt sign "${TOK[@]}" --kid good --iss i --aud "$AUD" --alg $'ES256\e[2J'
no_raw_controls
expect_exit 2 p11jwt $'bogus\ncommand'
no_raw_controls

step "NUL bytes in text input are errors that say where"
printf '{"a":1}\n{"b":2}\0{"c":3}\n' >"$T/batch.in"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid good --iss i --aud "$AUD" --batch <"$T/batch.in"
expect_err_matches 'line 2: a NUL byte at offset 7'
[[ $(wc -l <"$T/out") -eq 1 ]] || fail "the line before the NUL was not signed: $OUT"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid good --iss i --aud "$AUD"
jws=$OUT
{ printf '%s' "$jws"; printf '\0garbage\n'; } >"$T/jws.in"
expect_exit 1 p11jwt verify --jwks "$T/jwks.json" --aud "$AUD" <"$T/jws.in"
expect_err_matches 'not a compact JWS: a NUL byte'
expect_exit 0 p11jwt verify --jwks "$T/jwks.json" --aud "$AUD" <<<"$jws"
{ cat "$T/jwks.json"; printf '\0{}'; } >"$T/jwks-nul.json"
expect_exit 1 p11jwt verify --jwks "$T/jwks-nul.json" --aud "$AUD" <<<"$jws"
expect_err_matches 'NUL byte'
printf '{"x":1}\0{"y":2}' >"$T/claims-nul.json"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid good --iss i --aud "$AUD" --claims-file "$T/claims-nul.json"
printf '[profile p]\ndialect = rfc7523\ntoken = %s\nkid = go\0od\niss = i\ntoken_url = http://127.0.0.1:9/t\n' \
    "$TOKEN" >"$T/nul.conf"
expect_exit 1 p11jwt assertion --config "$T/nul.conf" --profile p
expect_err_matches "nul.conf:4: a NUL byte at column 9"
printf '[profile p]\ndialect = rfc7523\nheader.X = a\rX-Injected: b\n' >"$T/cr.conf"
expect_exit 1 p11jwt assertion --config "$T/cr.conf" --profile p
expect_err_matches 'cr.conf:3: a control character \(\\x0d\) at column 13'
printf '[profile p]\r\ndialect = rfc7523\r\ntoken = %s\r\npin_file = %s\r\nkid = good\r\niss = i\r\ntoken_url = http://127.0.0.1:9/t\r\n' \
    "$TOKEN" "$PIN_FILE" >"$T/crlf.conf"
expect_exit 0 p11jwt assertion --config "$T/crlf.conf" --profile p
printf 'sec\0ret\n' >"$T/nul.secret"
printf '[profile j]\ndialect = jsa\nclient_id = c\nclient_secret_file = %s\ntoken_url = http://127.0.0.1:9/t\nmax_retries = 0\n' \
    "$T/nul.secret" >"$T/jsa.conf"
expect_exit 1 p11jwt token --config "$T/jsa.conf" --profile j
expect_err_matches 'holds a NUL byte'

echo "hostile input: all checks passed"
