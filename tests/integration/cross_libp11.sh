#!/usr/bin/env bash
# cross_libp11.sh — p11jwt against another PKCS#11 client that shares none of
# its code: libp11 (through cross_libp11.c) signs with p11jwt's keys and
# p11jwt verifies; libp11 exports the public key and PyJWT checks p11jwt's
# JWS with it. Both directions for ES256 and ES512 (the P-521 one catches
# r||s padding and coordinate-length mistakes on either side).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

CROSS=${CROSS_LIBP11_BIN:-}
[[ -n $CROSS && -x $CROSS ]] || skip "cross_libp11 was not built (libp11 missing?)"

AUD=https://sts.example.invalid/token

libp11() { "$CROSS" "$1" --module "$SOFTHSM_MODULE" --token "$TOKEN_LABEL" "${@:2}"; }

for alg in ES256 ES512; do
    expect_exit 0 p11jwt keygen "${TOK[@]}" --alg "$alg"
    kid=$OUT
    export_jwks "$T/jwks-$alg.json" "$kid"

    step "$alg: libp11 signs with p11jwt's key; p11jwt and PyJWT verify"
    # Several signatures: about one in 256 has an r or s with a leading zero
    # byte, which the DER -> r||s conversion must keep.
    for i in 1 2 3 4 5 6 7 8; do
        libp11 sign --pin-file "$PIN_FILE" --kid "$kid" --alg "$alg" --iss libp11-client \
            --aud "$AUD" >"$T/libp11.jws" 2>"$T/libp11.err" ||
            fail "$alg: cross_libp11 sign failed: $(cat "$T/libp11.err")"
        jws=$(cat "$T/libp11.jws")
        expect_exit 0 p11jwt verify --jwks "$T/jwks-$alg.json" --aud "$AUD" --iss libp11-client <<<"$jws"
        expect_exit 0 p11jwt verify "${TOK[@]}" --kid "$kid" --aud "$AUD" <<<"$jws"
        pyverify --jwks "$T/jwks-$alg.json" --aud "$AUD" <<<"$jws" >/dev/null ||
            fail "$alg: PyJWT rejects libp11's JWS: the cross tool itself is wrong"
    done
    pycheck "$jws" "$alg" "$kid" <<'PY'
import sys
from itlib import *
h, p, sig = split_jws(sys.argv[1])
check(h == {"alg": sys.argv[2], "kid": sys.argv[3], "typ": "JWT"}, f"libp11 header {h}")
check(len(sig) == SIG_LEN[sys.argv[2]], f"libp11 signature of {len(sig)} bytes")
PY
    # Control: p11jwt does reject libp11's JWS once a signature bit flips.
    flipped=$("$PYTHON" - "$jws" <<'PY'
import sys
from itlib import *
h, p, s = sys.argv[1].split(".")
sig = bytearray(b64d(s))
sig[-1] ^= 0x80
print(f"{h}.{p}.{b64e(bytes(sig))}")
PY
)
    expect_exit 1 p11jwt verify --jwks "$T/jwks-$alg.json" --aud "$AUD" <<<"$flipped"

    step "$alg: libp11's view of the public key equals p11jwt's JWK"
    libp11 pubkey --kid "$kid" >"$T/pub-$alg.pem" 2>"$T/libp11.err" ||
        fail "$alg: cross_libp11 pubkey failed: $(cat "$T/libp11.err")"
    pycheck "$T/pub-$alg.pem" "$T/jwks-$alg.json" <<'PY'
import json, sys
from itlib import *
from cryptography.hazmat.primitives import serialization
pem = serialization.load_pem_public_key(open(sys.argv[1], "rb").read())
jwk = json.load(open(sys.argv[2]))["keys"][0]
a, b = pem.public_numbers(), ec_public_key(jwk).public_numbers()
check((a.x, a.y, a.curve.name) == (b.x, b.y, b.curve.name),
      f"libp11's public key ({a.curve.name}) differs from the JWKS ({b.curve.name})")
PY

    step "$alg: p11jwt signs; PyJWT verifies with libp11's PEM"
    for i in 1 2 3 4 5 6 7 8; do
        expect_exit 0 p11jwt sign "${TOK[@]}" --kid "$kid" --iss p11jwt-client --aud "$AUD"
        pyverify --pem "$T/pub-$alg.pem" --alg "$alg" --aud "$AUD" --iss p11jwt-client <<<"$OUT" \
            >/dev/null || fail "$alg: PyJWT rejects p11jwt's JWS with libp11's public key"
    done
    # Control: the PEM of the other alg's key does not verify it.
    if [[ $alg == ES512 ]]; then
        if pyverify --pem "$T/pub-ES256.pem" --alg ES256 --aud "$AUD" <<<"$OUT" >/dev/null 2>&1; then
            fail "an ES512 JWS verified with the ES256 key: the check is blind"
        fi
    fi
done

echo "cross_libp11: all checks passed"
