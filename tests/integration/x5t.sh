#!/usr/bin/env bash
# x5t.sh — certificate thumbprints in the JWS header (issue 10 item 7):
# sign --x5t/--x5t-s256 puts x5t (SHA-1) and x5t#S256 (SHA-256) of the DER
# certificate there, equal to what `openssl x509 -fingerprint` gives, from
# a PEM or DER file, a pkcs11: URI or the certificate stored by kid
# (import-cert, import-key --cert); PyJWT verifies the JWS (EC, RSA and
# Ed25519 keys). A certificate of another key, a missing one, a secret key
# and a non-certificate are clear errors, and a refused import-key --cert
# leaves nothing in the token; an RSA key that pins no alg takes its
# certificate too. A profile with x5t = yes and no cert finds it by kid.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

AUD=https://sts.example.invalid/token
umask 077
command -v openssl >/dev/null 2>&1 || skip "openssl is not installed"

# fp ALG FILE: openssl's fingerprint of a PEM certificate, as base64url.
fp() {
    openssl x509 -in "$2" -noout -fingerprint "-$1" | sed 's/^.*=//; s/://g' | xxd -r -p |
        base64 -w0 | tr '+/' '-_' | tr -d '='
}

# header JWS: the decoded JOSE header, compact JSON.
header() {
    "$PYTHON" -c '
import json, sys
from itlib import *
h, _, _ = split_jws(sys.argv[1])
print(json.dumps(h, separators=(",", ":")))' "$1"
}

# check_prints JWS CERT.pem [x5t|s256|both]: the header's thumbprints are
# openssl's, and only those asked for are there.
check_prints() {
    local want=${3:-both}
    pycheck "$(header "$1")" "$(fp sha1 "$2")" "$(fp sha256 "$2")" "$want" <<'PY'
import json, sys
from itlib import *
h, sha1, sha256, want = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
check(list(h)[:3] == ["alg", "kid", "typ"], f"header starts {list(h)}")
if want in ("both", "x5t"):
    check(h.get("x5t") == sha1, f"x5t {h.get('x5t')!r} is not openssl's {sha1!r}")
else:
    check("x5t" not in h, f"x5t not asked but present: {h}")
if want in ("both", "s256"):
    check(h.get("x5t#S256") == sha256, f"x5t#S256 {h.get('x5t#S256')!r} is not openssl's {sha256!r}")
else:
    check("x5t#S256" not in h, f"x5t#S256 not asked but present: {h}")
PY
}

cert_count() {
    p11tool --list-objects --type cert 2>/dev/null | grep -c 'Certificate Object' || true
}

# make_cert JWKS CN OUT: a certificate (OUT.pem, OUT.der) for the JWKS's
# only key, issued by a throwaway test CA: the token key's own public key,
# with no need for its private key.
make_cert() {
    "$PYTHON" - "$@" <<'PY' || fail "cannot make a test certificate"
import datetime, json, sys
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from itlib import *
jwks, cn, out = sys.argv[1:4]
pub = ec_public_key(json.load(open(jwks))["keys"][0]) if jwks != "-" else \
    ec.generate_private_key(ec.SECP256R1()).public_key()
ca = ec.generate_private_key(ec.SECP256R1())
now = datetime.datetime.now(datetime.timezone.utc)
c = (x509.CertificateBuilder()
     .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
     .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "p11jwt test CA")]))
     .public_key(pub).serial_number(x509.random_serial_number())
     .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
     .sign(ca, hashes.SHA256()))
open(out + ".pem", "wb").write(c.public_bytes(serialization.Encoding.PEM))
open(out + ".der", "wb").write(c.public_bytes(serialization.Encoding.DER))
PY
}

step "a key made in the token, a certificate for its public key (from jwks) by a test CA"
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid es1
export_jwks "$T/jwks.json" es1
make_cert "$T/jwks.json" es1 "$T/es1"
make_cert - "someone else" "$T/other"

step "sign --cert PEM --x5t --x5t-s256: openssl's thumbprints, PyJWT verifies"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid es1 --iss me --aud "$AUD" --cert "$T/es1.pem" \
    --x5t --x5t-s256
check_prints "$OUT" "$T/es1.pem" both
pyverify --jwks "$T/jwks.json" --aud "$AUD" --iss me <<<"$OUT" >/dev/null ||
    fail "PyJWT rejects a JWS with x5t in its header"
expect_exit 0 p11jwt verify --jwks "$T/jwks.json" --aud "$AUD" <<<"$OUT"

step "a DER file, and one thumbprint at a time"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid es1 --iss me --aud "$AUD" --cert "$T/es1.der" --x5t
check_prints "$OUT" "$T/es1.pem" x5t
expect_exit 0 p11jwt sign "${TOK[@]}" --kid es1 --iss me --aud "$AUD" --cert "$T/es1.der" \
    --x5t-s256
check_prints "$OUT" "$T/es1.pem" s256

step "--batch: every line's header carries them"
printf '{"n":1}\n{"n":2}\n{"n":3}\n' >"$T/batch.in"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid es1 --iss me --aud "$AUD" --cert "$T/es1.pem" \
    --x5t --batch --threads 2 <"$T/batch.in"
[[ $(wc -l <<<"$OUT") -eq 3 ]] || fail "batch wrote $(wc -l <<<"$OUT") lines, not 3"
while read -r jws; do check_prints "$jws" "$T/es1.pem" x5t; done <<<"$OUT"
pyverify --jwks "$T/jwks.json" --aud "$AUD" --lines <<<"$OUT" >/dev/null ||
    fail "PyJWT rejects a batch JWS with x5t"

step "--x5t with no certificate anywhere: refused, naming import-cert"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid es1 --iss me --aud "$AUD" --x5t
expect_err_matches "no certificate for key 'es1'.*import-cert"
[[ -z $OUT ]] || fail "something was output: $OUT"

step "a certificate of another key: refused (sign, import-cert)"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid es1 --iss me --aud "$AUD" --cert "$T/other.pem" \
    --x5t-s256
expect_err_matches "does not match key 'es1'"
[[ -z $OUT ]] || fail "something was output: $OUT"
expect_exit 1 p11jwt import-cert "${TOK[@]}" --kid es1 --cert "$T/other.pem"
expect_err_matches "does not match key 'es1'"
[[ $(cert_count) -eq 0 ]] || fail "a refused certificate was stored"

step "not a certificate, an unreadable file, --cert without a thumbprint"
echo "hello" >"$T/junk.pem"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid es1 --iss me --aud "$AUD" --cert "$T/junk.pem" --x5t
expect_err_matches "not an X.509 certificate"
openssl ecparam -name prime256v1 -genkey -noout -out "$T/a-key.pem" 2>/dev/null
expect_exit 1 p11jwt import-cert "${TOK[@]}" --kid es1 --cert "$T/a-key.pem"
expect_err_matches "no PEM certificate"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid es1 --iss me --aud "$AUD" --cert "$T/nope.pem" --x5t
expect_err_matches "nope.pem"
expect_exit 2 p11jwt sign "${TOK[@]}" --kid es1 --iss me --aud "$AUD" --cert "$T/es1.pem"
expect_err_matches "needs --x5t or --x5t-s256"
expect_exit 2 p11jwt import-cert "${TOK[@]}" --kid es1
expect_err_matches "--cert"

step "import-cert: stored by kid; sign --x5t finds it; a second one is refused"
expect_exit 0 p11jwt import-cert "${TOK[@]}" --kid es1 --cert "$T/es1.der"
[[ -z $OUT ]] || fail "import-cert printed '$OUT'"
[[ $(cert_count) -eq 1 ]] || fail "no certificate object in the token"
pycheck "$(p11tool --list-objects --type cert 2>/dev/null)" <<'PY'
import sys
from itlib import *
t = sys.argv[1]
check("label:      es1" in t and "ID:         657331" in t, f"not labelled/ID'd as the kid:\n{t}")
check("subject:    DN: CN=es1" in t, f"no subject:\n{t}")
PY
expect_exit 0 p11jwt sign "${TOK[@]}" --kid es1 --iss me --aud "$AUD" --x5t --x5t-s256
check_prints "$OUT" "$T/es1.pem" both
expect_exit 1 p11jwt import-cert "${TOK[@]}" --kid es1 --cert "$T/es1.pem"
expect_err_matches "already holds a certificate"
[[ $(cert_count) -eq 1 ]] || fail "a second certificate was stored"
expect_exit 0 p11jwt list "${TOK[@]}" --json
pycheck "$OUT" <<'PY'
import json, sys
from itlib import *
keys = json.loads(sys.argv[1])
check([k["kid"] for k in keys] == ["es1"], f"list shows the certificate as a key: {keys}")
PY

step "--cert pkcs11: URI of the certificate object"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid es1 --iss me --aud "$AUD" \
    --cert "pkcs11:token=$TOKEN_LABEL;object=es1;type=cert" --x5t --x5t-s256
check_prints "$OUT" "$T/es1.pem" both
expect_exit 1 p11jwt sign "${TOK[@]}" --kid es1 --iss me --aud "$AUD" \
    --cert "pkcs11:token=$TOKEN_LABEL;object=nothing-here" --x5t
expect_err_matches "no certificate object matches"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid es1 --iss me --aud "$AUD" \
    --cert "pkcs11:token=another-token;object=es1" --x5t
expect_err_matches "another token"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid es1 --iss me --aud "$AUD" \
    --cert "pkcs11:token=$TOKEN_LABEL;object=es1?pin-value=1234" --x5t
expect_err_matches "pin-source"

step "a profile with x5t = yes, x5t_s256 = yes and no cert: found by kid"
cat >"$T/p11jwt.conf" <<EOF
[profile x]
dialect = rfc7523
token = $TOKEN
pin_file = $PIN_FILE
kid = es1
iss = me
token_url = http://127.0.0.1:9/token
x5t = yes
x5t_s256 = yes

[profile only-cert]
dialect = rfc7523
token = $TOKEN
pin_file = $PIN_FILE
kid = es1
iss = me
token_url = http://127.0.0.1:9/token
cert = $T/es1.pem

[profile wrong-cert]
dialect = rfc7523
token = $TOKEN
pin_file = $PIN_FILE
kid = es1
iss = me
token_url = http://127.0.0.1:9/token
cert = $T/other.pem
x5t = yes

[profile no-sign]
dialect = client-credentials
client_id = c
client_secret_env = NOPE
token_url = http://127.0.0.1:9/token
x5t = yes
EOF
expect_exit 0 p11jwt assertion --config "$T/p11jwt.conf" --profile x
check_prints "$OUT" "$T/es1.pem" both
pyverify --jwks "$T/jwks.json" --aud http://127.0.0.1:9/token --iss me <<<"$OUT" >/dev/null ||
    fail "PyJWT rejects the profile's assertion"
expect_exit 1 p11jwt assertion --config "$T/p11jwt.conf" --profile only-cert
expect_err_matches "cert: needs x5t = yes or x5t_s256 = yes"
expect_exit 1 p11jwt assertion --config "$T/p11jwt.conf" --profile wrong-cert
expect_err_matches "does not match key 'es1'"
expect_exit 1 p11jwt assertion --config "$T/p11jwt.conf" --profile no-sign
expect_err_matches "signs no assertion"

step "delete removes the certificate with the key"
expect_exit 0 p11jwt delete "${TOK[@]}" --kid es1 --yes
[[ $(cert_count) -eq 0 ]] || fail "the certificate outlived its key"

step "a key made by another tool (binary CKA_ID): its certificate found by that CKA_ID"
command -v pkcs11-tool >/dev/null 2>&1 || skip "pkcs11-tool (opensc) is not installed"
p11tool --keypairgen --key-type EC:prime256v1 --id 0a0b --label foreign >/dev/null 2>&1 ||
    fail "pkcs11-tool cannot make an EC pair"
export_jwks "$T/foreign.json" foreign
make_cert "$T/foreign.json" foreign "$T/foreign"
p11tool --write-object "$T/foreign.der" --type cert --id 0a0b >/dev/null 2>&1 ||
    fail "pkcs11-tool cannot store the certificate"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid foreign --iss me --aud "$AUD" --x5t --x5t-s256
check_prints "$OUT" "$T/foreign.pem" both
pyverify --jwks "$T/foreign.json" --aud "$AUD" --iss me <<<"$OUT" >/dev/null ||
    fail "PyJWT rejects the foreign key's JWS"
expect_exit 0 p11jwt delete "${TOK[@]}" --kid foreign --yes
step "import-cert for such a key: the certificate gets the key's CKA_ID"
p11tool --keypairgen --key-type EC:prime256v1 --id 0c0d --label foreign2 >/dev/null 2>&1 ||
    fail "pkcs11-tool cannot make an EC pair"
export_jwks "$T/foreign2.json" foreign2
make_cert "$T/foreign2.json" foreign2 "$T/foreign2"
expect_exit 0 p11jwt import-cert "${TOK[@]}" --kid foreign2 --cert "$T/foreign2.pem"
pycheck "$(p11tool --list-objects --type cert 2>/dev/null)" <<'PY'
import sys
from itlib import *
t = sys.argv[1]
check("ID:         0c0d" in t and "label:      foreign2" in t, f"not the key's CKA_ID:\n{t}")
PY
expect_exit 0 p11jwt sign "${TOK[@]}" --kid foreign2 --iss me --aud "$AUD" --x5t
check_prints "$OUT" "$T/foreign2.pem" x5t
expect_exit 0 p11jwt delete "${TOK[@]}" --kid foreign2 --yes
[[ $(cert_count) -eq 0 ]] || fail "certificates outlived their keys"

step "import-key --cert: key and certificate stored; sign --x5t finds it"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout "$T/p.key" \
    -out "$T/p.pem" -subj /CN=provider-client -days 30 2>/dev/null ||
    fail "openssl cannot make a self-signed certificate"
openssl pkey -in "$T/p.key" -pubout -out "$T/p.pub"
expect_exit 0 p11jwt import-key "${TOK[@]}" --kid prov --key-file "$T/p.key" --cert "$T/p.pem"
[[ $OUT == prov ]] || fail "import-key printed '$OUT'"
[[ $(cert_count) -eq 1 ]] || fail "import-key --cert stored no certificate"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid prov --iss me --aud "$AUD" --x5t --x5t-s256
check_prints "$OUT" "$T/p.pem" both
pyverify --pem "$T/p.pub" --alg ES384 --aud "$AUD" --iss me <<<"$OUT" >/dev/null ||
    fail "PyJWT rejects the imported key's JWS"

step "import-key --cert with another key's certificate: refused, nothing left"
before_keys=$(key_count)
before_objs=$(object_count)
openssl ecparam -name secp384r1 -genkey -noout -out "$T/q.key" 2>/dev/null
expect_exit 1 p11jwt import-key "${TOK[@]}" --kid q --key-file "$T/q.key" --cert "$T/p.pem"
expect_err_matches "does not match key 'q'.*not kept"
[[ $(key_count) -eq $before_keys ]] || fail "the refused key was kept"
[[ $(object_count) -eq $before_objs ]] || fail "objects were left in the token"

step "an RSA key (PS256) and its certificate: import-key --cert, sign --x5t, PyJWT verifies"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/r.key" -out "$T/r.pem" \
    -subj /CN=rsa-client -days 30 2>/dev/null || fail "openssl cannot make an RSA certificate"
openssl pkey -in "$T/r.key" -pubout -out "$T/r.pub"
expect_exit 0 p11jwt import-key "${TOK[@]}" --kid rsa1 --alg PS256 --key-file "$T/r.key" \
    --cert "$T/r.pem"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid rsa1 --iss me --aud "$AUD" --x5t --x5t-s256
check_prints "$OUT" "$T/r.pem" both
pyverify --pem "$T/r.pub" --alg PS256 --aud "$AUD" --iss me <<<"$OUT" >/dev/null ||
    fail "PyJWT rejects the RSA key's JWS with x5t"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid rsa1 --iss me --aud "$AUD" --cert "$T/p.pem" --x5t
expect_err_matches "does not match"

step "an RSA key that pins no alg (imported without --alg): import-key --cert and import-cert"
step "  check the certificate all the same; sign --alg --x5t"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/r2.key" -out "$T/r2.pem" \
    -subj /CN=rsa-unpinned -days 30 2>/dev/null || fail "openssl cannot make an RSA certificate"
openssl pkey -in "$T/r2.key" -pubout -out "$T/r2.pub"
expect_exit 0 p11jwt import-key "${TOK[@]}" --kid rsa2 --key-file "$T/r2.key" --cert "$T/r2.pem"
expect_exit 0 p11jwt list "${TOK[@]}" --json
pycheck "$OUT" <<'PY'
import json, sys
from itlib import *
k = {k["kid"]: k for k in json.loads(sys.argv[1])}["rsa2"]
check(k["pinned"] == "none", f"an RSA key imported without --alg: {k}")
PY
expect_exit 0 p11jwt sign "${TOK[@]}" --kid rsa2 --alg RS384 --iss me --aud "$AUD" --x5t --x5t-s256
check_prints "$OUT" "$T/r2.pem" both
pyverify --pem "$T/r2.pub" --alg RS384 --aud "$AUD" --iss me <<<"$OUT" >/dev/null ||
    fail "PyJWT rejects the unpinned RSA key's JWS with x5t"
expect_exit 1 p11jwt import-cert "${TOK[@]}" --kid rsa2 --cert "$T/r.pem"
expect_err_matches "does not match key 'rsa2'"
expect_exit 0 p11jwt import-key "${TOK[@]}" --kid rsa3 --key-file "$T/r2.key"
expect_exit 0 p11jwt import-cert "${TOK[@]}" --kid rsa3 --cert "$T/r2.pem"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid rsa3 --alg PS256 --iss me --aud "$AUD" --x5t-s256
check_prints "$OUT" "$T/r2.pem" s256

step "an Ed25519 key (EdDSA) and its certificate: import-key --cert, sign --x5t, PyJWT verifies"
openssl req -x509 -newkey ed25519 -nodes -keyout "$T/ed.key" -out "$T/ed.pem" \
    -subj /CN=ed25519-client -days 30 2>/dev/null ||
    fail "openssl cannot make an Ed25519 certificate"
openssl pkey -in "$T/ed.key" -pubout -out "$T/ed.pub"
expect_exit 0 p11jwt import-key "${TOK[@]}" --kid ed1 --key-file "$T/ed.key" --cert "$T/ed.pem"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid ed1 --iss me --aud "$AUD" --x5t --x5t-s256
check_prints "$OUT" "$T/ed.pem" both
[[ $(header "$OUT") == *'"alg":"EdDSA"'* ]] || fail "the Ed25519 key's JWS is not EdDSA"
pyverify --pem "$T/ed.pub" --alg EdDSA --aud "$AUD" --iss me <<<"$OUT" >/dev/null ||
    fail "PyJWT rejects the Ed25519 key's JWS with x5t"
export_jwks "$T/ed-jwks.json" ed1
expect_exit 0 p11jwt verify --jwks "$T/ed-jwks.json" --aud "$AUD" <<<"$OUT"
# an RSA certificate for the Ed25519 key, and the Ed25519 one for the RSA key
expect_exit 1 p11jwt sign "${TOK[@]}" --kid ed1 --iss me --aud "$AUD" --cert "$T/r.pem" --x5t
expect_err_matches "does not match key 'ed1'"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid rsa1 --iss me --aud "$AUD" --cert "$T/ed.pem" --x5t
expect_err_matches "does not match key 'rsa1'"

step "a secret key has no certificate"
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg HS256 --kid hs1
expect_exit 1 p11jwt sign "${TOK[@]}" --kid hs1 --iss me --aud "$AUD" --cert "$T/p.pem" --x5t
expect_err_matches "secret key"
expect_exit 1 p11jwt import-cert "${TOK[@]}" --kid hs1 --cert "$T/p.pem"
expect_err_matches "secret key"

echo "x5t: all checks passed"
