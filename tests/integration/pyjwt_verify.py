#!/usr/bin/python3
"""pyjwt_verify.py — the independent verifier: checks JWS made by p11jwt with
PyJWT, an implementation that shares no code with it.

Usage (the JWS on standard input):
  pyjwt_verify.py --jwks FILE                       --aud AUD [options] < jws
  pyjwt_verify.py --secret-file FILE --alg HS256|HS384|HS512 --aud AUD [options] < jws
  pyjwt_verify.py --pem FILE --alg ES256|ES384|ES512 --aud AUD [options] < jws
  pyjwt_verify.py --pem FILE --alg RS256|...|PS512 --aud AUD [options] < jws

Options:
  --iss ISS      require this issuer
  --leeway N     seconds of clock skew allowed on exp/nbf/iat (default 0)
  --lines        standard input holds many JWS, one per line: verify them all
                 in this one process, in order

For each valid JWS one line {"header": {...}, "payload": {...}} is printed
(the shape `p11jwt verify` prints), in input order. Exit 0: all valid;
1: the first invalid one, with the reason (and its line number) on stderr;
2: usage error.

The key pins the alg, as it must in any sane verifier: with --jwks the key is
chosen by the header's kid (or is the JWKS's only key) and the alg is the
JWK's "alg" (else the one its curve implies; an RSA JWK must say its alg);
with --secret-file or --pem it is --alg. A JWS whose header names another alg ("none" included) is
refused. A secret file loses exactly one trailing newline, the CLI's rule.
exp, iat, iss and aud must be present: every assertion p11jwt signs has them.
"""

import argparse
import json
import sys

import jwt
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

CRV_ALG = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
HS_ALGS = ("HS256", "HS384", "HS512")
ES_ALGS = ("ES256", "ES384", "ES512")
RSA_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")


class Invalid(Exception):
    pass


def read_secret(path):
    with open(path, "rb") as f:
        data = f.read()
    if data.endswith(b"\n"):
        data = data[:-1]
    if not data:
        raise SystemExit(f"pyjwt_verify: the secret in {path} is empty")
    return data


def key_from_jwks(jwks, token):
    """(key, alg) for the JWK the token's header names."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as e:
        raise Invalid(f"malformed JWS: {e}")
    keys = jwks.get("keys")
    if not isinstance(keys, list) or not keys:
        raise Invalid("the JWKS has no keys")
    kid = header.get("kid")
    if kid is not None:
        matches = [k for k in keys if k.get("kid") == kid]
    else:
        matches = keys if len(keys) == 1 else []
    if len(matches) != 1:
        raise Invalid(f"no single key in the JWKS for kid {kid!r}")
    jwk = matches[0]
    if jwk.get("kty") == "RSA":
        alg = jwk.get("alg")
        if alg not in RSA_ALGS:
            raise Invalid(f"RSA key {kid!r} has no RS/PS alg: {alg!r}")
        try:
            return RSAAlgorithm.from_jwk(json.dumps(jwk)), alg
        except (jwt.PyJWTError, ValueError) as e:
            raise Invalid(f"key {kid!r} is not a valid RSA JWK: {e}")
    if jwk.get("kty") != "EC" or jwk.get("crv") not in CRV_ALG:
        raise Invalid(f"key {kid!r} is not an EC key on P-256/384/521")
    alg = jwk.get("alg", CRV_ALG[jwk["crv"]])
    if alg != CRV_ALG[jwk["crv"]]:
        raise Invalid(f"key {kid!r}: alg {alg} does not fit curve {jwk['crv']}")
    try:
        # from_jwk insists on full-length coordinates (RFC 7518 6.2.1.2).
        return ECAlgorithm.from_jwk(json.dumps(jwk)), alg
    except (jwt.PyJWTError, ValueError) as e:
        raise Invalid(f"key {kid!r} is not a valid EC JWK: {e}")


def verify_one(token, args, fixed_key, fixed_alg, jwks):
    if jwks is not None:
        key, alg = key_from_jwks(jwks, token)
    else:
        key, alg = fixed_key, fixed_alg
    try:
        decoded = jwt.api_jwt.decode_complete(
            token,
            key,
            algorithms=[alg],
            audience=args.aud,
            issuer=args.iss,
            leeway=args.leeway,
            options={"require": ["exp", "iat", "iss", "aud"]},
        )
    except jwt.PyJWTError as e:
        raise Invalid(f"{type(e).__name__}: {e}")
    return {"header": decoded["header"], "payload": decoded["payload"]}


def main():
    ap = argparse.ArgumentParser(description="Verify JWS with PyJWT.")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--jwks")
    src.add_argument("--secret-file")
    src.add_argument("--pem")
    ap.add_argument("--alg")
    ap.add_argument("--aud", required=True)
    ap.add_argument("--iss")
    ap.add_argument("--leeway", type=int, default=0)
    ap.add_argument("--lines", action="store_true")
    args = ap.parse_args()

    jwks = fixed_key = fixed_alg = None
    if args.jwks is not None:
        if args.alg is not None:
            ap.error("--alg comes from the JWKS: do not give it with --jwks")
        with open(args.jwks) as f:
            jwks = json.load(f)
    elif args.secret_file is not None:
        if args.alg not in HS_ALGS:
            ap.error("--secret-file needs --alg HS256, HS384 or HS512")
        fixed_key, fixed_alg = read_secret(args.secret_file), args.alg
    else:
        if args.alg not in ES_ALGS + RSA_ALGS:
            ap.error("--pem needs --alg ES256, ES384, ES512, RS256...PS512")
        with open(args.pem, "rb") as f:
            fixed_key, fixed_alg = f.read(), args.alg

    data = sys.stdin.read()
    tokens = data.splitlines() if args.lines else [data.strip()]
    if args.lines and tokens and tokens[-1] == "":
        tokens.pop()
    if not tokens or any(t.strip() == "" for t in tokens):
        print("pyjwt_verify: invalid: empty JWS", file=sys.stderr)
        return 1
    out = []
    for n, token in enumerate(tokens, 1):
        try:
            out.append(verify_one(token.strip(), args, fixed_key, fixed_alg, jwks))
        except Invalid as e:
            where = f"line {n}: " if args.lines else ""
            print(f"pyjwt_verify: {where}invalid: {e}", file=sys.stderr)
            return 1
    sys.stdout.write("".join(json.dumps(o, separators=(",", ":")) + "\n" for o in out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
