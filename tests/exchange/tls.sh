#!/usr/bin/env bash
# tls.sh — TLS to the STS: an https STS with a per-run CA works when the
# profile's ca_file names that CA (for 127.0.0.1 and for localhost, per the
# certificate's SANs); another CA, or the system store, is refused; plain
# http to anything but loopback is refused before any connection is made.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"

command -v openssl >/dev/null 2>&1 || skip "openssl is not installed"
bash "$MKCERTS" "$T/pki" || fail "mkcerts.sh failed"

CLIENT=tls-app
(umask 077 && printf 'tlsSecret%s\n' "$(rand_hex 12)" >"$T/cc.secret")
start_sts tls --tls-cert "$T/pki/server.pem" --tls-key "$T/pki/server.key" \
    --client "$CLIENT=$T/cc.secret"
[[ $STS == https://* ]] || fail "the STS is not https: $STS"

cc() {   # cc NAME TOKEN_URL [extra line]...
    printf '\n[profile %s]\ndialect = client-credentials\ntoken_url = %s\n' "$1" "$2" >>"$CONF"
    printf 'client_id = %s\nclient_secret_file = %s\nmax_retries = 0\ntimeout = 5\n' \
        "$CLIENT" "$T/cc.secret" >>"$CONF"
    shift 2
    (($# == 0)) || printf '%s\n' "$@" >>"$CONF"
}
cc tls "$STS/cc/token" "ca_file = $T/pki/ca.pem"
cc tls-localhost "https://localhost:$STS_PORT/cc/token" "ca_file = $T/pki/ca.pem"
cc tls-wrong-ca "$STS/cc/token" "ca_file = $T/pki/other-ca.pem"
cc tls-system "$STS/cc/token"
cc plain-loopback "http://127.0.0.1:$STS_PORT/cc/token"
# resource calls only: a valid profile whose token endpoint is fine
cc tls-res "$STS/cc/token" "ca_file = $T/pki/ca.pem"

step "https with ca_file = the run's CA"
expect_exit 0 x token --config "$CONF" --profile tls
expect_exit 0 x token --config "$CONF" --profile tls-localhost
expect_exit 0 x call --config "$CONF" --profile tls "$STS/cc/resource"
pycheck "$OUT" <<'PY'
import json, sys
from itlib import *
check(json.loads(sys.argv[1])["ok"], sys.argv[1])
PY
ok_calls=$(calls /cc/token)

step "a certificate from another CA: refused"
expect_exit 1 x token --config "$CONF" --profile tls-wrong-ca
expect_err_matches 'certificate|ssl|tls|verif'
step "$ERR"
expect_exit 1 x token --config "$CONF" --profile tls-system
expect_err_matches 'certificate|ssl|tls|verif'
[[ $(calls /cc/token) == "$ok_calls" ]] || fail "a request got through an unverified TLS connection"

step "the resource is verified with the same CA"
expect_exit 1 x call --config "$CONF" --profile tls-system "$STS/cc/resource"

step "plain http to a TLS port: a clear failure"
expect_exit 1 x token --config "$CONF" --profile plain-loopback

step "plain http to a non-loopback host: refused before connecting"
# 192.0.2.1 is TEST-NET-1: a connection attempt would hang until a timeout.
t0=$(now_ms)
expect_exit 1 x call --config "$CONF" --profile tls "http://192.0.2.1/resource"
assert_elapsed "$t0" 0 3000 "call http://192.0.2.1"
expect_err_matches 'https|loopback|plain|http:'
step "$ERR"
printf '\n[profile remote-http]\ndialect = client-credentials\ntoken_url = http://192.0.2.1/token\n' >>"$CONF"
printf 'client_id = x\nclient_secret_file = %s\ntimeout = 30\n' "$T/cc.secret" >>"$CONF"
t0=$(now_ms)
expect_exit 1 x token --config "$CONF" --profile remote-http
assert_elapsed "$t0" 0 3000 "token_url http://192.0.2.1/token"
expect_err_matches 'https|loopback|plain'
step "$ERR"
t0=$(now_ms)
expect_exit 1 x call --config "$CONF" --profile tls "http://example.com.invalid/x"
assert_elapsed "$t0" 0 3000 "call http://example.com.invalid"
