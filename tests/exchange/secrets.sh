#!/usr/bin/env bash
# secrets.sh — what must never leave p11jwt: a jsa client secret (it rides
# in the query string) in an error message; a plain-http (loopback) request
# through a proxy named in the environment; a pin-value in a client_key URI
# echoed back.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"

SECRET=s3cr3t-$(rand_hex 8)
(umask 077 && printf '%s\n' "$SECRET" >"$T/jsa.secret")
start_sts sts --client "app-1=$T/jsa.secret"

step "a jsa request that fails does not show its query (the secret)"
conf <<CONF
[profile down]
dialect = jsa
client_id = app-1
client_secret_file = $T/jsa.secret
token_url = http://127.0.0.1:9/jsa/token
max_retries = 0

[profile up]
dialect = jsa
client_id = app-1
client_secret_file = $T/jsa.secret
token_url = $STS/jsa/token
max_retries = 0
CONF
expect_exit 1 x token --config "$CONF" --profile down
grep -q "$SECRET" <<<"$ERR" && fail "the client secret is in the error: $ERR"
grep -q "127.0.0.1:9/jsa/token" <<<"$ERR" || fail "the error does not name the URL: $ERR"

step "plain http to loopback ignores http_proxy (a closed port: using it would fail)"
expect_exit 0 env http_proxy=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 \
    ALL_PROXY=http://127.0.0.1:9 NO_PROXY= no_proxy= \
    timeout 60 "$P11JWT_BIN" token --config "$CONF" --profile up
[[ -n $OUT ]] || fail "no token"

step "a pin-value in client_key is not echoed"
PIN=$(cat "$PIN_FILE")
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256
conf <<CONF

[profile mtls]
dialect = rfc7523
token = $TOKEN
pin_file = $PIN_FILE
kid = $OUT
iss = me
token_url = $STS/rfc7523/token
client_cert = $T/none.pem
client_key = $TOKEN?pin-value=$PIN
max_retries = 0
CONF
expect_exit 1 x token --config "$CONF" --profile mtls
grep -q "$PIN" <<<"$ERR" && fail "the PIN is in the error: $ERR"
grep -q "client_key" <<<"$ERR" || fail "the error does not name client_key: $ERR"
echo "no secret, PIN or proxy leak"
