#!/usr/bin/env bash
# secrets.sh — what must never leave p11jwt: a jsa client secret (it rides
# in the query string) in an error message (connection refused, TLS with an
# untrusted CA, an answer over 1 MiB) or a config error; a URL's userinfo;
# a plain-http (loopback) request through a proxy named in the environment,
# whatever the case of its scheme; a pin-value in a client_key URI echoed
# back.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"

SECRET=s3cr3t-$(rand_hex 8)
(umask 077 && printf '%s\n' "$SECRET" >"$T/jsa.secret")
start_sts sts --client "app-1=$T/jsa.secret"
JSA_PORT=$STS_PORT

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
grep -qF -- "$SECRET" <<<"$ERR" && fail "the client secret is in the error: $ERR"
grep -q "127.0.0.1:9/jsa/token" <<<"$ERR" || fail "the error does not name the URL: $ERR"

step "an answer over 1 MiB to a jsa request: the error shows no query"
sts_control '{"path": "/jsa/token", "mode": "big"}'
expect_exit 1 x token --config "$CONF" --profile up
grep -qF -- "$SECRET" <<<"$ERR" && fail "the client secret is in the error: $ERR"
grep -qi "larger than" <<<"$ERR" || fail "not the size error: $ERR"
grep -q "?" <<<"$ERR" && fail "a query is shown: $ERR"
sts_control '{"clear": true}'

step "a URL's userinfo is not shown"
conf <<CONF

[profile userinfo]
dialect = jsa
client_id = app-1
client_secret_file = $T/jsa.secret
token_url = http://someone:Pa55w0rdInUrl@127.0.0.1:9/jsa/token
max_retries = 0
CONF
expect_exit 1 x token --config "$CONF" --profile userinfo
grep -q "Pa55w0rdInUrl\|someone" <<<"$ERR" && fail "the userinfo is in the error: $ERR"
grep -q "http://127.0.0.1:9/jsa/token" <<<"$ERR" || fail "the error does not name the URL: $ERR"

step "a refused token_url is shown without its query"
cat >"$T/badurl.conf" <<CONF
[profile badurl]
dialect = jsa
client_id = app-1
client_secret_file = $T/jsa.secret
token_url = http://sts.example.invalid/token?client_secret=QuerySecret42
CONF
expect_exit 1 x token --config "$T/badurl.conf" --profile badurl
grep -q "QuerySecret42" <<<"$ERR" && fail "the query is in the error: $ERR"
grep -q "http://sts.example.invalid/token" <<<"$ERR" || fail "the error does not name the URL: $ERR"
expect_exit 1 x call --config "$CONF" --profile up "http://sts.example.invalid/r?api_key=QuerySecret42"
grep -q "QuerySecret42" <<<"$ERR" && fail "the query is in the error: $ERR"

step "jsa over TLS with an untrusted CA: the error shows no query"
if command -v openssl >/dev/null 2>&1; then
    bash "$MKCERTS" "$T/pki" >/dev/null 2>&1 || fail "mkcerts.sh failed"
    start_sts tls --tls-cert "$T/pki/server.pem" --tls-key "$T/pki/server.key" \
        --client "app-1=$T/jsa.secret"
    conf <<CONF

[profile tls-untrusted]
dialect = jsa
client_id = app-1
client_secret_file = $T/jsa.secret
token_url = $STS/jsa/token
ca_file = $T/pki/other-ca.pem
max_retries = 0
CONF
    expect_exit 1 x token --config "$CONF" --profile tls-untrusted
    grep -qF -- "$SECRET" <<<"$ERR" && fail "the client secret is in the TLS error: $ERR"
    grep -qi "not trusted" <<<"$ERR" || fail "not the TLS error: $ERR"
    grep -qF -- "$STS/jsa/token" <<<"$ERR" || fail "the TLS error does not name the URL: $ERR"
    grep -q "?" <<<"$ERR" && fail "a query is shown: $ERR"
else
    step "(skipped: no openssl)"
fi

step "plain http to loopback ignores http_proxy (a closed port: using it would fail)"
expect_exit 0 env http_proxy=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 \
    ALL_PROXY=http://127.0.0.1:9 NO_PROXY= no_proxy= \
    timeout 60 "$P11JWT_BIN" token --config "$CONF" --profile up
[[ -n $OUT ]] || fail "no token"

step "HTTP:// (any case) to loopback never goes to a proxy either"
# A listening "proxy" that records what reaches it and answers 502.
"$PYTHON" - "$T/proxy.port" "$T/proxy.log" <<'PY' &
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    c, _ = s.accept()
    data = c.recv(65536)
    with open(sys.argv[2], "ab") as f:
        f.write(data or b"(connection)")
    c.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    c.close()
PY
STS_PIDS+=("$!")
for _ in $(seq 100); do [[ -s $T/proxy.port ]] && break; sleep 0.05; done
PROXY=http://127.0.0.1:$(cat "$T/proxy.port")
conf <<CONF

[profile upper]
dialect = jsa
client_id = app-1
client_secret_file = $T/jsa.secret
token_url = HTTP://127.0.0.1:$JSA_PORT/jsa/token
max_retries = 0
CONF
expect_exit 0 env http_proxy="$PROXY" HTTP_PROXY="$PROXY" ALL_PROXY="$PROXY" \
    all_proxy="$PROXY" NO_PROXY= no_proxy= \
    timeout 60 "$P11JWT_BIN" token --config "$CONF" --profile upper
expect_exit 0 env http_proxy="$PROXY" HTTP_PROXY="$PROXY" ALL_PROXY="$PROXY" \
    all_proxy="$PROXY" NO_PROXY= no_proxy= \
    timeout 60 "$P11JWT_BIN" call --config "$CONF" --profile up "HtTp://127.0.0.1:$JSA_PORT/jsa/resource"
[[ ! -s $T/proxy.log ]] || fail "the proxy received: $(head -c 300 "$T/proxy.log")"

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
grep -qF -- "$PIN" <<<"$ERR" && fail "the PIN is in the error: $ERR"
grep -q "client_key" <<<"$ERR" || fail "the error does not name client_key: $ERR"
echo "no secret, PIN or proxy leak"
