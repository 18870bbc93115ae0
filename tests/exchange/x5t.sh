#!/usr/bin/env bash
# x5t.sh — a profile with x5t = yes and x5t_s256 = yes and no cert: the
# certificate stored next to the key (import-key --cert) is found by its
# kid, and the client assertion the STS receives carries x5t and x5t#S256
# equal to openssl's fingerprints of that certificate (private-key-jwt, as
# Entra ID takes it). The STS verifies the assertion with the JWKS; a
# token comes back.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null 2>&1 || skip "openssl is not installed"

CLIENT=entra-like-client
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/c.key" \
    -out "$T/c.pem" -subj /CN=$CLIENT -days 30 2>/dev/null ||
    fail "openssl cannot make a self-signed certificate"
expect_exit 0 p11jwt import-key "${TOK[@]}" --kid x5t-1 --key-file "$T/c.key" --cert "$T/c.pem"
export_jwks "$T/jwks.json"
start_sts sts --jwks "$T/jwks.json" --iss-allowed "$CLIENT"
URL=$STS/pkj/token

conf <<EOF
[profile entra]
dialect = private-key-jwt
token = $TOKEN
pin_file = $PIN_FILE
kid = x5t-1
token_url = $URL
client_id = $CLIENT
x5t = yes
x5t_s256 = yes
EOF

fp() {
    openssl x509 -in "$T/c.pem" -noout -fingerprint "-$1" | sed 's/^.*=//; s/://g' | xxd -r -p |
        base64 -w0 | tr '+/' '-_' | tr -d '='
}

step "token: the STS gets a client assertion whose header names the certificate"
expect_exit 0 x token --config "$CONF" --profile entra --json
pycheck "$OUT" "$(sts_stats)" "$(fp sha1)" "$(fp sha256)" <<'PY'
import json, sys
from itlib import *
d, st, sha1, sha256 = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
check(d["token_type"] == "Bearer" and d.get("access_token"), f"no token: {d}")
[a] = [a for a in st["assertions"] if a["path"] == "/pkj/token"]
h = a["header"]
check(h.get("kid") == "x5t-1" and h.get("alg") == "ES256", f"header {h}")
check(h.get("x5t") == sha1, f"x5t {h.get('x5t')!r}, openssl says {sha1!r}")
check(h.get("x5t#S256") == sha256, f"x5t#S256 {h.get('x5t#S256')!r}, openssl says {sha256!r}")
PY

step "assertion: the same header, and PyJWT verifies it"
expect_exit 0 x assertion --config "$CONF" --profile entra
pyverify --jwks "$T/jwks.json" --aud "$URL" --iss "$CLIENT" <<<"$OUT" >"$T/py.json" ||
    fail "PyJWT rejects the assertion"
pycheck "$T/py.json" "$(fp sha1)" <<'PY'
import sys
from itlib import *
[d] = load_json_lines(sys.argv[1])
check(d["header"].get("x5t") == sys.argv[2], f"header {d['header']}")
PY

echo "x5t: all checks passed"
