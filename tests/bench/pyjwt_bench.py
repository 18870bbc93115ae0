#!/usr/bin/python3
"""pyjwt_bench.py — the seeds' own approach, for comparison in scripts/bench.sh.

Signs the same assertion shape p11jwt-bench measures (header alg/kid/typ,
claims iss, aud, iat, exp, jti) with PyJWT for a fixed time and prints
"MODE OPS_PER_S".

  es512-mem   ES512, the key loaded once as a cryptography key object
  es512-pem   ES512, the PEM file read and handed to PyJWT on every call, as
              the Noa sample does (PyJWT parses the PEM each time)
  hs256-mem   HS256, the secret held in memory

Usage: pyjwt_bench.py MODE SECONDS [PEM_FILE]
Needs the distribution's python (/usr/bin/python3, python3-jwt).
"""
import os
import secrets
import sys
import time

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_private_key

ISS = "bench-client"
AUD = "https://sts.example.com/oauth2/token"
TTL = 300
CHUNK = 16


def claims():
    now = int(time.time())
    return {"iss": ISS, "aud": AUD, "iat": now, "exp": now + TTL,
            "jti": secrets.token_urlsafe(16)}


def main():
    mode, seconds = sys.argv[1], float(sys.argv[2])
    pem_path = sys.argv[3] if len(sys.argv) > 3 else None
    headers = {"kid": "bench", "typ": "JWT"}

    if mode == "es512-mem":
        with open(pem_path, "rb") as f:
            key = load_pem_private_key(f.read(), password=None)

        def one():
            return jwt.encode(claims(), key, algorithm="ES512", headers=headers)
    elif mode == "es512-pem":
        def one():
            with open(pem_path, "r") as f:
                pem = f.read()
            return jwt.encode(claims(), pem, algorithm="ES512", headers=headers)
    elif mode == "hs256-mem":
        secret = os.urandom(32)

        def one():
            return jwt.encode(claims(), secret, algorithm="HS256", headers=headers)
    else:
        sys.exit(f"pyjwt_bench.py: unknown mode {mode}")

    # Warm up (imports, first key use), then measure.
    end = time.perf_counter() + min(0.5, seconds * 0.1)
    while time.perf_counter() < end:
        one()
    n = 0
    start = time.perf_counter()
    end = start + seconds
    while True:
        for _ in range(CHUNK):
            one()
        n += CHUNK
        t = time.perf_counter()
        if t >= end:
            break
    print(f"{mode} {n / (t - start):.1f}")


if __name__ == "__main__":
    main()
