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

echo "hostile input: all checks passed"
