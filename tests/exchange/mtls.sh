#!/usr/bin/env bash
# mtls.sh — mutual TLS to an STS that requires a client certificate, with
# the client key in the token (client_key = a pkcs11: URI; libp11's engine
# signs the handshake in SoftHSM): works with the certificate, fails
# without it. The certificate is issued per run by the test CA for a key
# generated in this test's token; and for an RSA key imported into it
# without a JWS alg (pinned none), as a TLS client key usually is.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"

command -v openssl >/dev/null 2>&1 || skip "openssl is not installed"
[[ -r /usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so || -n $(find /usr/lib -name pkcs11.so -path '*engines*' 2>/dev/null | head -1) ]] ||
    skip "libengine-pkcs11-openssl (libp11's OpenSSL engine) is not installed"

# libp11's engine loads p11-kit's proxy by default, and with it every module
# registered on this machine; one that prints to stderr when it finds no
# device (tpm2-pkcs11 without a TPM) would break the CLI's one-line stderr.
# The engine takes SoftHSM's module directly instead: the test sees only
# its own token, whatever else is installed.
export PKCS11_MODULE_PATH=$SOFTHSM_MODULE

bash "$MKCERTS" "$T/pki" || fail "mkcerts.sh failed"
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid sig-1
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid tls-client
KEY_URI="pkcs11:token=$TOKEN_LABEL;object=tls-client;type=private"
bash "$MKCERTS" --client "$T/pki" "$KEY_URI" "$PIN_FILE" "$T/client.pem" p11jwt-mtls-client ||
    fail "could not issue the client certificate for the key in the token"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/tls-rsa.pem" 2>/dev/null ||
    fail "openssl cannot make an RSA key"
expect_exit 0 p11jwt import-key "${TOK[@]}" --kid tls-rsa --key-file "$T/tls-rsa.pem"
RSA_URI="pkcs11:token=$TOKEN_LABEL;object=tls-rsa;type=private"
bash "$MKCERTS" --client "$T/pki" "$RSA_URI" "$PIN_FILE" "$T/client-rsa.pem" p11jwt-mtls-rsa ||
    fail "could not issue the client certificate for the RSA key in the token"
export_jwks "$T/jwks.json" sig-1

start_sts mtls --tls-cert "$T/pki/server.pem" --tls-key "$T/pki/server.key" \
    --client-ca "$T/pki/ca.pem" --jwks "$T/jwks.json" --iss-allowed mtls-backend

prof() {   # prof NAME [extra line]...
    printf '\n[profile %s]\ndialect = rfc7523\ntoken = %s\npin_file = %s\nkid = sig-1\n' \
        "$1" "$TOKEN" "$PIN_FILE" >>"$CONF"
    printf 'token_url = %s/rfc7523/token\niss = mtls-backend\nca_file = %s\nmax_retries = 0\n' \
        "$STS" "$T/pki/ca.pem" >>"$CONF"
    shift
    (($# == 0)) || printf '%s\n' "$@" >>"$CONF"
}
prof mtls "client_cert = $T/client.pem" "client_key = $KEY_URI"
prof mtls-rsa "client_cert = $T/client-rsa.pem" "client_key = $RSA_URI"
prof mtls-nocert
prof mtls-wrong-key "client_cert = $T/client.pem" \
    "client_key = pkcs11:token=$TOKEN_LABEL;object=no-such-key;type=private"

step "with the client certificate (key in the token): works"
expect_exit 0 x token --config "$CONF" --profile mtls --json
sts_stats >"$T/stats.json"
pycheck "$T/stats.json" <<'PY'
import json, sys
from itlib import *
r = [q for q in json.load(open(sys.argv[1]))["requests"] if q["path"] == "/rfc7523/token"][-1]
check(r["status"] == 200, f"{r}")
check(r["peer_cn"] == "p11jwt-mtls-client", f"the STS saw client certificate {r['peer_cn']!r}")
PY
expect_exit 0 x token --config "$CONF" --profile mtls

step "an RSA client key that pins no JWS alg: works"
expect_exit 0 x token --config "$CONF" --profile mtls-rsa --json
sts_stats >"$T/stats.json"
pycheck "$T/stats.json" <<'PY'
import json, sys
from itlib import *
r = [q for q in json.load(open(sys.argv[1]))["requests"] if q["path"] == "/rfc7523/token"][-1]
check(r["status"] == 200 and r["peer_cn"] == "p11jwt-mtls-rsa", f"{r}")
PY

step "the engine loads the client key's own module, not p11-kit's proxy"
# libp11's engine defaults to p11-kit's proxy, which loads every module
# registered on the host: one broken there (tpm2-pkcs11 without its daemon,
# NSS without its arguments) and mTLS fails for nothing to do with our
# token. The dynamic loader's own record says which modules the process
# opened (written to files, so stderr stays the CLI's).
rm -f "$T"/ld.*
LD_DEBUG=files LD_DEBUG_OUTPUT=$T/ld x token --config "$CONF" --profile mtls >/dev/null 2>"$T/err" ||
    fail "token with LD_DEBUG failed: $(cat "$T/err")"
loaded=$(cat "$T"/ld.* | sed -n 's/^ *[0-9]*:[[:space:]]*file=\([^ ]*\).*/\1/p' | sort -u)
grep -q 'engines-3/pkcs11.so$\|engines-3/libpkcs11.so$' <<<"$loaded" ||
    fail "libp11's engine was not loaded (the test proves nothing): $loaded"
grep -q 'libsofthsm2.so$' <<<"$loaded" || fail "SoftHSM was not loaded: $loaded"
if grep -E 'p11-kit-proxy.so|opensc-pkcs11.so|p11-kit-trust.so|libtpm2_pkcs11' <<<"$loaded"; then
    fail "the engine went through p11-kit's proxy and loaded every registered module"
fi

step "without a client certificate: the handshake is refused"
before=$(calls /rfc7523/token)
expect_exit 1 x token --config "$CONF" --profile mtls-nocert
expect_err_matches 'certificate|ssl|tls|handshake|alert|reset|recv|send'
step "$ERR"
[[ $(calls /rfc7523/token) == "$before" ]] || fail "a token request got through without a client certificate"

step "a client_key URI naming no key: a clear failure"
expect_exit 1 x token --config "$CONF" --profile mtls-wrong-key
step "$ERR"

step "the PIN is not on any command line, nor in the STS log"
pin=$(cat "$PIN_FILE")
grep -qF -- "$pin" "$STS_LOG" && fail "the PIN appears in the STS log"
true
