#!/usr/bin/python3
"""selftest.py — checks the test STS (sts.py) on its own, with assertions
made here by PyJWT and keys made here by `cryptography`, so that a failing
exchange test can be blamed on p11jwt and not on its test server.

Usage: selftest.py [WORKDIR]   (exit 0: all good; 1: the first failure)
"""

import base64
import hashlib
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

try:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec
except ImportError:
    print("SKIP [sts selftest]: PyJWT and cryptography (python3-jwt) are needed")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
STS = os.path.join(HERE, "sts.py")
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CAT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def fail(msg):
    sys.exit("FAIL [sts selftest]: %s" % msg)


def check(cond, msg):
    if not cond:
        fail(msg)


def b64e(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def ec_jwk(key, kid, alg):
    """Public JWK with full-length coordinates (RFC 7518 6.2.1.2)."""
    crv, size = {"ES256": ("P-256", 32), "ES384": ("P-384", 48), "ES512": ("P-521", 66)}[alg]
    n = key.public_key().public_numbers()
    return {"kty": "EC", "crv": crv, "x": b64e(n.x.to_bytes(size, "big")),
            "y": b64e(n.y.to_bytes(size, "big")), "kid": kid, "alg": alg, "use": "sig"}


class Client:
    def __init__(self, port):
        self.port = port
        self.base = "http://127.0.0.1:%d" % port

    def req(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, dict(r.getheaders()), data
        finally:
            c.close()

    def json(self, method, path, body=None, headers=None):
        st, h, data = self.req(method, path, body, headers)
        try:
            return st, json.loads(data)
        except ValueError:
            fail("%s %s: answer is not JSON: %r" % (method, path, data[:200]))

    def form(self, path, fields, headers=None):
        hdrs = {"Content-Type": "application/x-www-form-urlencoded"}
        hdrs.update(headers or {})
        return self.json("POST", path, urllib.parse.urlencode(fields), hdrs)

    def control(self, doc):
        st, d = self.json("POST", "/_control", json.dumps(doc))
        check(st == 200, "control %s: %s" % (doc, d))

    def stats(self):
        return self.json("GET", "/_stats")[1]


def main():
    work = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="sts-selftest.")
    os.makedirs(work, exist_ok=True)
    hs_secret = "dt-secret-" + secrets.token_hex(16)
    with open(os.path.join(work, "hs.secret"), "w") as f:
        f.write(hs_secret + "\n")        # one trailing newline: stripped
    cc_secret = "a:b+c&d=e%f g/" + secrets.token_hex(4)
    with open(os.path.join(work, "cc.secret"), "w") as f:
        f.write(cc_secret + "\n")
    k512 = ec.generate_private_key(ec.SECP521R1())
    k256 = ec.generate_private_key(ec.SECP256R1())
    with open(os.path.join(work, "jwks.json"), "w") as f:
        json.dump({"keys": [ec_jwk(k512, "k512", "ES512"), ec_jwk(k256, "k256", "ES256")]}, f)
    port_file = os.path.join(work, "port")
    log = open(os.path.join(work, "sts.log"), "w")
    proc = subprocess.Popen([sys.executable, STS, "--port-file", port_file,
                             "--secret", "hk=" + os.path.join(work, "hs.secret"),
                             "--jwks", os.path.join(work, "jwks.json"),
                             "--client", "app=" + os.path.join(work, "cc.secret"),
                             "--iss-allowed", "sa@example.com", "--iss-allowed", "backend",
                             "--iss-allowed", "app", "--scopes", "backend=a b,c"], stderr=log)
    try:
        for _ in range(100):
            if os.path.exists(port_file):
                break
            check(proc.poll() is None, "sts.py died: see %s/sts.log" % work)
            time.sleep(0.1)
        port = int(open(port_file).read())
        run(Client(port), hs_secret, cc_secret, k512, k256)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        log.close()
    text = open(os.path.join(work, "sts.log")).read()
    check(hs_secret not in text and cc_secret not in text, "a secret reached the STS log")
    if len(sys.argv) <= 1:
        shutil.rmtree(work)
    print("sts selftest: ok")


def run(c, hs_secret, cc_secret, k512, k256):
    now = int(time.time())
    dt_url = c.base + "/dt/token"

    def dt_assertion(**kw):
        p = {"iat": now, "exp": now + 3600, "aud": dt_url, "iss": "sa@example.com"}
        p.update(kw)
        p = {k: v for k, v in p.items() if v is not None}
        return jwt.encode(p, hs_secret, algorithm="HS256", headers={"kid": "hk"})

    def dt(assertion, grant=JWT_BEARER):
        return c.form("/dt/token", {"assertion": assertion, "grant_type": grant})

    # dt: success and each documented error body, exactly.
    st, d = dt(dt_assertion())
    check(st == 200 and set(d) == {"access_token", "token_type", "expires_in"}, "dt ok: %s" % d)
    check(d["token_type"] == "bearer" and d["expires_in"] == 3599, "dt ok: %s" % d)
    token = d["access_token"]
    timing = {"error": "invalid_grant",
              "error_description": "Timing-related error. Check the 'exp' and 'iat' claims."}
    entity = {"error": "invalid_grant",
              "error_description": "Untrusted entity. Check the 'aud' and 'iss' claims."}
    for kw in ({"exp": now + 7200}, {"iat": None}, {"exp": None}, {"iat": now - 7200, "exp": now - 3600},
               {"iat": now + 1000, "exp": now + 2000}):
        check(dt(dt_assertion(**kw)) == (400, timing), "dt timing %s" % kw)
    for kw in ({"iss": "other@example.com"}, {"aud": "https://x.invalid/token"}, {"aud": None}):
        check(dt(dt_assertion(**kw)) == (400, entity), "dt entity %s" % kw)
    bad_sig = jwt.encode({"iat": now, "exp": now + 60, "aud": dt_url, "iss": "sa@example.com"},
                         "wrong-secret-" + "x" * 32, algorithm="HS256", headers={"kid": "hk"})
    check(dt(bad_sig) == (400, {"error": "invalid_grant", "error_description": "Invalid signature"}),
          "dt signature")
    unknown = jwt.encode({"iat": now, "exp": now + 60, "aud": dt_url, "iss": "sa@example.com"},
                         hs_secret, algorithm="HS256", headers={"kid": "nope"})
    check(dt(unknown) == (400, {"error": "invalid_grant"}), "dt unknown kid")
    check(dt(dt_assertion(), grant="password") == (400, {"error": "unsupported_grant_type"}),
          "dt grant")
    st, d = c.json("POST", "/dt/token", json.dumps({"assertion": dt_assertion(),
                                                    "grant_type": JWT_BEARER}),
                   {"Content-Type": "application/json"})
    check((st, d) == (400, {"error": "unsupported_grant_type"}), "dt JSON body: %s" % d)

    # resource: Bearer (any case), dialect-bound, revocation, scripted 401.
    st, d = c.json("POST", "/dt/resource?x=1", "hello", {"Authorization": "bearer " + token})
    check(st == 200 and d["ok"] and d["body"] == "hello" and d["query"] == "x=1", "resource %s" % d)
    check(c.json("GET", "/neowit/resource", None, {"Authorization": "Bearer " + token})[0] == 401,
          "a dt token accepted by the neowit resource")
    check(c.json("GET", "/dt/resource", None, {"Authorization": "JWT " + token})[0] == 401,
          "JWT scheme accepted for dt")
    c.control({"resource_401": 1})
    check(c.json("GET", "/dt/resource", None, {"Authorization": "Bearer " + token})[0] == 401,
          "resource_401")
    check(c.json("GET", "/dt/resource", None, {"Authorization": "Bearer " + token})[0] == 200,
          "resource_401 lasts one call")
    c.control({"revoke_all": True})
    check(c.json("GET", "/dt/resource", None, {"Authorization": "Bearer " + token})[0] == 401,
          "revoke_all")

    # neowit: accessToken only; expiry enforced server side.
    nw_url = c.base + "/neowit/token"
    c.control({"expires_in": 1})
    a = jwt.encode({"iat": now, "exp": now + 3600, "aud": nw_url, "iss": "sa@example.com"},
                   hs_secret, algorithm="HS256", headers={"kid": "hk"})
    st, d = c.form("/neowit/token", {"assertion": a, "grant_type": JWT_BEARER})
    check(st == 200 and list(d) == ["accessToken"], "neowit: %s" % d)
    time.sleep(1.2)
    check(c.json("GET", "/neowit/resource", None, {"Authorization": "Bearer " + d["accessToken"]})[0]
          == 401, "expired neowit token accepted")
    c.control({"expires_in": 3600})

    # noa: JSON body, ES512 without kid (noa's own sample), JWT + Accept.
    noa_url = c.base + "/noa/token"
    a = jwt.encode({"iss": "backend", "organization": "org-1", "iat": now, "exp": now + 600},
                   k512, algorithm="ES512")
    st, d = c.json("POST", "/noa/token", json.dumps({"assertion": a}))
    check(st == 200 and list(d) == ["jwt"], "noa: %s" % d)
    issued = jwt.decode(d["jwt"], options={"verify_signature": False})
    check(issued["exp"] - issued["iat"] == 3600 and issued["sub"] == "backend", "noa jwt %s" % issued)
    hdr = {"Authorization": "JWT " + d["jwt"], "Accept": "application/json; version=1.0"}
    check(c.json("GET", "/noa/resource", None, hdr)[0] == 200, "noa resource")
    check(c.json("GET", "/noa/resource", None, {"Authorization": "JWT " + d["jwt"]})[0] == 406,
          "noa resource without Accept")
    long_a = jwt.encode({"iss": "backend", "organization": "o", "iat": now, "exp": now + 601},
                        k512, algorithm="ES512", headers={"kid": "k512"})
    check(c.json("POST", "/noa/token", json.dumps({"assertion": long_a}))[0] == 400, "noa > 600 s")
    es256 = jwt.encode({"iss": "backend", "organization": "o", "iat": now, "exp": now + 60},
                       k256, algorithm="ES256", headers={"kid": "k256"})
    check(c.json("POST", "/noa/token", json.dumps({"assertion": es256}))[0] == 400, "noa ES256")

    # client credentials: the three ways; the secret needs encoding.
    q = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": "app",
                                "client_secret": cc_secret})
    st, d = c.json("GET", "/jsa/token?" + q)
    check(st == 200 and d["scope"] == "ADMIN" and d["token_type"] == "Bearer", "jsa GET: %s" % d)
    basic = base64.b64encode(("app:" + urllib.parse.quote_plus(cc_secret)).encode()).decode()
    st, d = c.form("/cc/token", {"grant_type": "client_credentials", "scope": "read"},
                   {"Authorization": "Basic " + basic})
    check(st == 200 and d["scope"] == "read", "cc basic: %s" % d)
    st, d = c.form("/cc/token", {"grant_type": "client_credentials", "client_id": "app",
                                 "client_secret": cc_secret})
    check(st == 200, "cc form: %s" % d)
    st, d = c.form("/cc/token", {"grant_type": "client_credentials", "client_id": "app",
                                 "client_secret": "wrong"})
    check((st, d["error"]) == (401, "invalid_client"), "cc wrong secret: %s" % d)

    # rfc7523 and private-key-jwt.
    r_url = c.base + "/rfc7523/token"
    a = jwt.encode({"iss": "backend", "sub": "u", "aud": r_url, "iat": now, "exp": now + 60},
                   k256, algorithm="ES256", headers={"kid": "k256"})
    st, d = c.form("/rfc7523/token", {"assertion": a, "grant_type": JWT_BEARER, "scope": "a b"})
    check(st == 200 and d["scope"] == "a b", "rfc7523: %s" % d)
    # scopes (--scopes backend=a b,c): what the client is registered for only,
    # and RFC 6750 3.1 at a resource that needs one the token lacks.
    tok_ab = d["access_token"]
    bearer = {"Authorization": "Bearer " + tok_ab}
    check(c.json("GET", "/rfc7523/resource/need/a", None, bearer)[0] == 200, "need/a with a b")
    st, h, body = c.req("GET", "/rfc7523/resource/need/c", None, bearer)
    check(st == 403 and json.loads(body)["error"] == "insufficient_scope", "need/c: %s" % body)
    check(h.get("WWW-Authenticate") == 'Bearer realm="sts", error="insufficient_scope", '
          'error_description="this resource needs scope c", scope="c"', "challenge %s" % h)
    for asked, why in (("a z", "scope 'z' is not granted to client 'backend'"),
                       ('a"b', "malformed scope: character '\"' is not allowed")):
        a = jwt.encode({"iss": "backend", "sub": "u", "aud": r_url, "iat": now, "exp": now + 60},
                       k256, algorithm="ES256", headers={"kid": "k256"})
        st, d = c.form("/rfc7523/token", {"assertion": a, "grant_type": JWT_BEARER,
                                          "scope": asked})
        check((st, d) == (400, {"error": "invalid_scope", "error_description": why}),
              "rfc7523 scope %r: %s %s" % (asked, st, d))
    p_url = c.base + "/pkj/token"
    ca = jwt.encode({"iss": "app", "sub": "app", "aud": p_url, "iat": now, "exp": now + 60,
                     "jti": secrets.token_hex(8)}, k256, algorithm="ES256", headers={"kid": "k256"})
    f = {"grant_type": "client_credentials", "client_assertion_type": CAT,
         "client_assertion": ca, "client_id": "app"}
    st, d = c.form("/pkj/token", f)
    check(st == 200, "pkj: %s" % d)
    st, d = c.form("/pkj/token", f)
    check((st, d["error"]) == (400, "invalid_grant"), "pkj replay: %s" % d)

    # scripted failures.
    c.control({"path": "/cc/token", "status": 503, "headers": {"Retry-After": "1"},
               "body": {"error": "temporarily_unavailable"}, "count": 2})
    for _ in range(2):
        st, h, _b = c.req("GET", "/cc/token?" + q)
        check(st == 503 and h.get("Retry-After") == "1", "scripted 503: %s %s" % (st, h))
    check(c.req("GET", "/cc/token?" + q)[0] == 200, "scripted count")
    c.control({"path": "/cc/token", "mode": "malformed"})
    st, h, body = c.req("GET", "/cc/token?" + q)
    try:
        json.loads(body)
        fail("malformed mode sent valid JSON")
    except ValueError:
        pass
    c.control({"path": "/cc/token", "mode": "big"})
    st, h, body = c.req("GET", "/cc/token?" + q)
    check(len(body) == 10 * 1024 * 1024, "big mode: %d bytes" % len(body))
    c.control({"path": "/cc/token", "mode": "close"})
    try:
        c.req("GET", "/cc/token?" + q)
        fail("close mode answered")
    except (http.client.HTTPException, ConnectionError):
        pass
    c.control({"path": "/cc/token", "mode": "hang"})
    s = socket.create_connection(("127.0.0.1", c.port))
    s.sendall(("GET /cc/token?%s HTTP/1.1\r\nHost: x\r\n\r\n" % q).encode())
    s.settimeout(1.5)
    try:
        data = s.recv(100)
        fail("hang mode answered %r" % data)
    except socket.timeout:
        pass
    s.close()

    st = c.stats()
    check(st["token_calls"].get("/cc/token", 0) >= 9, "stats token_calls %s" % st["token_calls"])
    check(any(a["payload"].get("sub") == "u" for a in st["assertions"]), "stats assertions")
    digest = hashlib.sha256(ca.encode()).hexdigest()[:16]
    check(any(r.get("assertion_sha") == digest for r in st["requests"]), "stats assertion_sha")


if __name__ == "__main__":
    main()
