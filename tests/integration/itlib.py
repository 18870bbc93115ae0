"""itlib.py — small helpers for the integration tests' python checks.

Everything here is written from the RFCs (7515 JWS, 7518 JWA, 7638
thumbprints), on top of the standard library and `cryptography`, so that the
checks never reuse p11jwt's own code. PyJWT is used by pyjwt_verify.py; this
module only decodes, crafts and compares.
"""

import base64
import hashlib
import hmac
import json
import sys

# alg -> (curve name, coordinate bytes, signature bytes, hash)
EC = {
    "ES256": ("P-256", 32, 64, hashlib.sha256),
    "ES384": ("P-384", 48, 96, hashlib.sha384),
    "ES512": ("P-521", 66, 132, hashlib.sha512),
}
HS = {
    "HS256": (32, hashlib.sha256),
    "HS384": (48, hashlib.sha384),
    "HS512": (64, hashlib.sha512),
}
SIG_LEN = {**{a: v[2] for a, v in EC.items()}, **{a: v[0] for a, v in HS.items()}}


def check(cond, msg):
    """Fails the calling test with msg unless cond holds."""
    if not cond:
        sys.exit(f"FAIL: {msg}")


def b64d(s):
    """base64url without padding -> bytes (strict: no padding accepted)."""
    check("=" not in s, f"base64url with padding: {s!r}")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64e(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def compact_json(obj):
    return json.dumps(obj, separators=(",", ":"))


def split_jws(jws):
    """Decodes a compact JWS WITHOUT verifying it: (header, payload, sig).
    header and payload keep their member order (dicts are ordered)."""
    parts = jws.strip().split(".")
    check(len(parts) == 3, f"not a compact JWS (3 parts): {jws!r}")
    return json.loads(b64d(parts[0])), json.loads(b64d(parts[1])), b64d(parts[2])


def jwk_thumbprint(jwk):
    """RFC 7638 thumbprint of an EC or RSA JWK: SHA-256 of the required
    members in lexicographic order, no whitespace, base64url."""
    members = ("e", "kty", "n") if jwk.get("kty") == "RSA" else ("crv", "kty", "x", "y")
    required = {k: jwk[k] for k in members}
    canon = json.dumps(required, separators=(",", ":"), sort_keys=True)
    return b64e(hashlib.sha256(canon.encode()).digest())


def ec_public_key(jwk):
    """The cryptography public key of an EC JWK; raises if the point is not on
    the curve (so a garbled JWKS cannot pass)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    curves = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}
    x = int.from_bytes(b64d(jwk["x"]), "big")
    y = int.from_bytes(b64d(jwk["y"]), "big")
    return ec.EllipticCurvePublicNumbers(x, y, curves[jwk["crv"]]).public_key()


def hs_sign(header, payload, secret, alg):
    """A compact HS JWS made here (for crafting expired, odd-aud... tokens)."""
    signing_input = f"{b64e(compact_json(header).encode())}.{b64e(compact_json(payload).encode())}"
    mac = hmac.new(secret, signing_input.encode(), HS[alg][1]).digest()
    return f"{signing_input}.{b64e(mac)}"


def read_secret(path):
    """A secret file as the CLI reads it: its bytes, less ONE trailing newline."""
    with open(path, "rb") as f:
        data = f.read()
    return data[:-1] if data.endswith(b"\n") else data


def load_json_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


RSA_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")


def rsa_jwk_of_pem(path):
    """The RSA JWK members (kty, n, e) of a PEM private or public key, from
    its numbers (cryptography), n and e without leading zero bytes."""
    from cryptography.hazmat.primitives import serialization
    data = open(path, "rb").read()
    try:
        key = serialization.load_pem_private_key(data, None).public_key()
    except (ValueError, TypeError):
        key = serialization.load_pem_public_key(data)
    n = key.public_numbers()

    def be(i):
        return i.to_bytes((i.bit_length() + 7) // 8, "big")
    return {"kty": "RSA", "n": b64e(be(n.n)), "e": b64e(be(n.e))}
