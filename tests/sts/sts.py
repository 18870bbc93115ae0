#!/usr/bin/python3
"""sts.py — a small, faithful security-token service and protected resource
for p11jwt's exchange tests. Loopback only; standard library + PyJWT.

One process serves every provider dialect of docs/exchange.md, each under its
own path prefix; TOKEN_URL is http(s)://127.0.0.1:PORT/<prefix>/token and the
audience an assertion must carry is exactly that URL, as this server
reconstructs it from its own scheme, the Host it was reached by (127.0.0.1 or
localhost) and the port.

  dialect             token endpoint                       resource
  dt                  POST /dt/token        (form)         /dt/resource      Bearer
  neowit              POST /neowit/token    (form)         /neowit/resource  Bearer
  noa                 POST /noa/token       (JSON)         /noa/resource     JWT + Accept
  client-credentials  GET|POST /cc/token    (also /jsa/, /client-credentials/)
  rfc7523             POST /rfc7523/token   (form)         /rfc7523/resource Bearer
  private-key-jwt     POST /pkj/token       (also /private-key-jwt/)

Keys: --secret KID=FILE (an HMAC secret: the file's bytes less ONE trailing
newline, as p11jwt import-secret and PyJWT with a str key use it), --jwks FILE
(public EC keys, and RSA keys with an RS/PS "alg", by kid; the rfc7523 and
private-key-jwt endpoints take RS/PS as Okta and Entra ID do), --client
ID=SECRETFILE (client-credentials).
--iss-allowed ISS (repeatable) restricts the accepted issuers of assertions
(dt: the account e-mail; neowit: the service account id; noa: the client
name; rfc7523); without it any non-empty iss is accepted.

Scopes (RFC 6749 3.3, as a real STS registers them per client): --scopes
CLIENT=SCOPE... (repeatable; CLIENT is the client_id of client-credentials
and private-key-jwt, the iss of rfc7523) names every scope CLIENT may be
granted. A request that asks for any other, or for a malformed scope
(outside %x21 / %x23-5B / %x5D-7E, space-separated), gets 400 invalid_scope
with a description naming it. A client without --scopes is granted any
well-formed scope; asking none, a client-credentials client is granted its
--scopes list (else ADMIN, as JSA answers). The granted scope is recorded
with the token: GET /<prefix>/resource/need/SCOPE answers 200 only to a
token granted SCOPE, else 403 with an RFC 6750 3.1 challenge
(WWW-Authenticate: Bearer realm="sts", error="insufficient_scope",
error_description="...", scope="SCOPE").

Test control (JSON): POST /_control, GET /_stats — see Control below.
Scripted answers ({"path", "mode", "count", ...}) are status (default;
with "seconds", answered that late: a loaded STS that fails slowly), close,
hang (seconds, then close unanswered), big, malformed, delay (seconds, then
the normal answer: a slow but working STS), and hold (the request waits
until {"release": PATH} — or "seconds", default 60 — then gets the normal
answer: a slow STS whose slowness the test ends, so that it can order
events without timing them). /_stats counts the requests held now ("held")
and the most token requests of a path ever in progress at once
("max_inflight").

Every request is logged to stderr as one line; tokens, assertions and secrets
never appear in full (query values and tokens are truncated).
"""

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import select
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FORM = "application/x-www-form-urlencoded"

# path prefix -> dialect
PREFIXES = {
    "dt": "dt",
    "neowit": "neowit",
    "noa": "noa",
    "cc": "client-credentials",
    "jsa": "client-credentials",
    "client-credentials": "client-credentials",
    "rfc7523": "rfc7523",
    "pkj": "private-key-jwt",
    "private-key-jwt": "private-key-jwt",
}

DT_TIMING = "Timing-related error. Check the 'exp' and 'iat' claims."
DT_ENTITY = "Untrusted entity. Check the 'aud' and 'iss' claims."
DT_SIGNATURE = "Invalid signature"

CRV_ALG = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
RSA_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
# what the generic endpoints (rfc7523, private-key-jwt) take, as Okta, Entra ID
# and Keycloak do
GENERIC_ALGS = ("ES256", "ES384", "ES512", "HS256", "HS384", "HS512") + RSA_ALGS
MAX_BODY = 1 << 20            # what the server accepts in a request
CLOCK_SKEW = 120              # how far in the future an iat may be
NOA_MAX_LIFETIME = 600        # noa: exp - iat <= 10 minutes
DT_MAX_LIFETIME = 3600        # dt/neowit: exp - iat <= 1 hour


def log(msg):
    sys.stderr.write("sts: %s %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def short(s, n=8):
    """A loggable prefix of a secret-ish string."""
    if s is None:
        return "-"
    s = str(s)
    return s if len(s) <= n else s[:n] + "..."


def quote(s):
    """An RFC 9110 quoted-string: backslash and DQUOTE escaped."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def read_secret_file(path):
    with open(path, "rb") as f:
        data = f.read()
    if data.endswith(b"\n"):
        data = data[:-1]
    return data


def b64url_decode(s):
    if "=" in s:
        raise ValueError("padding in base64url")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def assertion_fingerprint(body):
    """SHA-256 prefix of the assertion a token request carries (form field
    assertion or client_assertion, or noa's JSON), None if none: lets a test
    see whether retries sent a fresh assertion, without logging it."""
    value = None
    try:
        doc = json.loads(body)
        if isinstance(doc, dict):
            value = doc.get("assertion")
    except ValueError:
        try:
            q = urllib.parse.parse_qs(body.decode("ascii"))
            value = (q.get("assertion") or q.get("client_assertion") or [None])[0]
        except (UnicodeDecodeError, ValueError):
            pass
    if not isinstance(value, str):
        return None
    return hashlib.sha256(value.encode()).hexdigest()[:16]


class OAuthError(Exception):
    """An error answer: status and JSON body."""

    def __init__(self, status, error, description=None, headers=None):
        super().__init__(error)
        self.status = status
        self.body = {"error": error}
        if description is not None:
            self.body["error_description"] = description
        self.headers = headers or {}


class State:
    """Everything the handlers share, behind one lock."""

    def __init__(self, args):
        self.lock = threading.Lock()
        self.hs_keys = {}       # kid -> secret bytes
        self.ec_keys = {}       # kid -> (alg, public key): EC, and RSA JWKs with an alg
        self.clients = {}       # client_id -> secret bytes
        self.iss_allowed = set(args.iss_allowed or [])
        self.scopes = {}        # client -> set of scopes it may be granted
        for spec in getattr(args, "scopes", None) or []:
            cid, _, sc = spec.partition("=")
            if not cid:
                sys.exit("sts: --scopes wants CLIENT=SCOPE..., got %r" % spec)
            self.scopes[cid] = set(sc.replace(",", " ").split())
        self.lifetime = args.expires_in
        self.clock_skew = getattr(args, "clock_skew", 0)
        self.server_key = secrets.token_bytes(32)   # signs noa's JWTs
        self.issued = {}        # token -> {dialect, exp, gen}
        self.revoked_gen = 0    # tokens with gen <= this are revoked
        self.gen = 0
        self.scripts = {}       # path -> [script dicts with "count"]
        self.resource_401 = 0
        self.token_calls = {}
        self.resource_calls = {}
        self.revoke_calls = {}
        self.revoked = 0        # tokens revoked through RFC 7009
        self.assertions = []    # last decoded assertions
        self.requests = []      # last request summaries
        self.jtis = set()
        self.held = {}          # path -> requests held now (mode hold)
        self.releases = {}      # path -> threading.Event ending the holds
        self.inflight = {}      # path -> requests in progress now
        self.max_inflight = {}  # path -> the most ever at once
        for spec in args.secret or []:
            kid, _, path = spec.partition("=")
            if not kid or not path:
                sys.exit("sts: --secret wants KID=FILE, got %r" % spec)
            self.hs_keys[kid] = read_secret_file(path)
        for spec in args.client or []:
            cid, _, path = spec.partition("=")
            if not cid or not path:
                sys.exit("sts: --client wants ID=SECRETFILE, got %r" % spec)
            self.clients[cid] = read_secret_file(path)
        for path in args.jwks or []:
            with open(path) as f:
                doc = json.load(f)
            for jwk in doc.get("keys", []):
                if jwk.get("kty") == "RSA" and "kid" in jwk:
                    # an RSA JWK must say its alg: RS vs PS, and the hash
                    if jwk.get("alg") not in RSA_ALGS:
                        sys.exit("sts: RSA JWK %s has no RS/PS alg" % jwk["kid"])
                    self.ec_keys[jwk["kid"]] = (jwk["alg"],
                                                RSAAlgorithm.from_jwk(json.dumps(jwk)))
                    continue
                if jwk.get("kty") != "EC" or "kid" not in jwk:
                    continue
                alg = CRV_ALG.get(jwk.get("crv"))
                if alg is None or jwk.get("alg", alg) != alg:
                    sys.exit("sts: JWK %s: curve %s and alg %s do not match"
                             % (jwk["kid"], jwk.get("crv"), jwk.get("alg")))
                self.ec_keys[jwk["kid"]] = (alg, ECAlgorithm.from_jwk(json.dumps(jwk)))

    # -- bookkeeping --------------------------------------------------------

    def count(self, table, path):
        with self.lock:
            table[path] = table.get(path, 0) + 1

    def record(self, summary):
        with self.lock:
            self.requests.append(summary)
            del self.requests[:-500]

    def record_assertion(self, path, header, payload):
        with self.lock:
            self.assertions.append({"path": path, "header": header, "payload": payload,
                                    "t": time.time()})
            del self.assertions[:-100]

    def next_script(self, path):
        with self.lock:
            queue = self.scripts.get(path)
            if not queue:
                return None
            script = queue[0]
            script["count"] -= 1
            if script["count"] <= 0:
                queue.pop(0)
            return script

    def issue(self, dialect, value, lifetime, client=None, scope=None):
        with self.lock:
            self.gen += 1
            self.issued[value] = {"dialect": dialect, "exp": time.time() + lifetime,
                                  "gen": self.gen, "client": client,
                                  "scope": set((scope or "").split())}

    def token_scope(self, value):
        with self.lock:
            info = self.issued.get(value)
            return set(info["scope"]) if info else set()

    def revoke(self, dialect, value, client):
        """RFC 7009 2.1: revokes value if this dialect issued it (to this
        client, for the dialects that authenticate one); an unknown or
        invalid token is no error. Raises for a token of another client."""
        with self.lock:
            info = self.issued.get(value)
            if info is None or info["dialect"] != dialect:
                return False
            if info.get("client") is not None and info["client"] != client:
                raise OAuthError(400, "unauthorized_client",
                                 "the token was issued to another client")
            if not info.get("revoked"):
                info["revoked"] = True
                self.revoked += 1
            return True

    def check_token(self, dialect, value):
        """None if the token is good for dialect, else why not."""
        with self.lock:
            if self.resource_401 > 0:
                self.resource_401 -= 1
                return "scripted 401"
            info = self.issued.get(value)
            if info is None:
                return "unknown token"
            if info["dialect"] != dialect:
                return "token of dialect %s" % info["dialect"]
            if info["gen"] <= self.revoked_gen or info.get("revoked"):
                return "revoked"
            if info["exp"] <= time.time():
                return "expired"
            return None

    def use_jti(self, jti):
        with self.lock:
            if jti in self.jtis:
                return False
            self.jtis.add(jti)
            return True

    def control(self, doc):
        with self.lock:
            if doc.get("clear"):
                self.scripts.clear()
                self.resource_401 = 0
                for ev in self.releases.values():
                    ev.set()
            if doc.get("reset_stats"):
                self.token_calls.clear()
                self.resource_calls.clear()
                self.revoke_calls.clear()
                self.assertions.clear()
                self.requests.clear()
                self.max_inflight.clear()
            if "path" in doc:
                script = dict(doc)
                script["count"] = int(doc.get("count", 1))
                mode = script.get("mode")
                if mode not in (None, "status", "close", "hang", "big", "malformed", "delay",
                                "hold"):
                    raise ValueError("unknown mode %r" % mode)
                if mode == "hold":
                    self.releases[doc["path"]] = threading.Event()
                self.scripts.setdefault(doc["path"], []).append(script)
            if "release" in doc:
                ev = self.releases.get(doc["release"])
                if ev is not None:
                    ev.set()
            if "expires_in" in doc:
                self.lifetime = int(doc["expires_in"])
            if doc.get("revoke_all"):
                self.revoked_gen = self.gen
            if "resource_401" in doc:
                self.resource_401 = int(doc["resource_401"])

    def stats(self):
        with self.lock:
            return {
                "token_calls": dict(self.token_calls),
                "resource_calls": dict(self.resource_calls),
                "revoke_calls": dict(self.revoke_calls),
                "revoked": self.revoked,
                "assertions": list(self.assertions),
                "requests": list(self.requests),
                "expires_in": self.lifetime,
                "scripts_pending": {p: sum(s["count"] for s in q)
                                    for p, q in self.scripts.items() if q},
                "held": {p: n for p, n in self.held.items() if n},
                "max_inflight": dict(self.max_inflight),
            }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "p11jwt-test-sts/1"
    sys_version = ""

    # -- plumbing -------------------------------------------------------------

    def date_time_string(self, timestamp=None):
        # A server whose clock is off (--clock-skew) says so in its Date.
        if timestamp is None:
            timestamp = time.time()
        return super().date_time_string(timestamp + self.server.state.clock_skew)

    def setup(self):
        super().setup()
        self.peer_cn = None
        conn = self.connection
        if isinstance(conn, ssl.SSLSocket):
            conn.settimeout(10)
            try:
                conn.do_handshake()
            except (ssl.SSLError, OSError) as e:
                log("TLS handshake with %s failed: %s" % (self.client_address[0], e))
                self.close_connection = True
                self.tls_failed = True
                return
            conn.settimeout(None)
            cert = conn.getpeercert()
            if cert:
                for rdn in cert.get("subject", ()):
                    for k, v in rdn:
                        if k == "commonName":
                            self.peer_cn = v
        self.tls_failed = False

    def handle(self):
        if getattr(self, "tls_failed", False):
            return
        try:
            super().handle()
        except (ConnectionError, ssl.SSLError, socket.timeout) as e:
            log("connection from %s ended: %s" % (self.client_address[0], e))

    def log_message(self, fmt, *args):
        pass    # we log our own, redacted line

    def log_line(self, status, note=""):
        parts = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        shown = "&".join("%s=%s" % (k, "***" if "secret" in k or k == "assertion"
                                    else short(v, 12)) for k, v in q)
        log('%s "%s %s%s" %s %s' % (self.client_address[0], self.command, parts.path,
                                    "?" + shown if shown else "", status, note))

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                line = self.rfile.readline(100)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1000) not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline(10)
                if len(data) > MAX_BODY:
                    raise OAuthError(413, "invalid_request", "request too large")
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise OAuthError(413, "invalid_request", "request too large")
        return self.rfile.read(n) if n else b""

    def send_json(self, status, obj, headers=None, raw=None):
        body = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(status)
        hdrs = {"Content-Type": "application/json", "Cache-Control": "no-store",
                "Pragma": "no-cache"}
        hdrs.update(headers or {})
        for k, v in hdrs.items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    @property
    def state(self):
        return self.server.state

    def token_url(self, path):
        scheme = "https" if self.server.tls else "http"
        port = self.server.server_address[1]
        host = "127.0.0.1"
        h = (self.headers.get("Host") or "").strip().lower()
        if h in ("localhost:%d" % port, "localhost"):
            host = "localhost"
        return "%s://%s:%d%s" % (scheme, host, port, path)

    # -- dispatch ---------------------------------------------------------------

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def dispatch(self):
        path = urllib.parse.urlsplit(self.path).path
        summary = {"t": time.time(), "method": self.command, "path": path,
                   "content_type": self.headers.get("Content-Type"),
                   "peer_cn": self.peer_cn,
                   # the client's port: which requests shared a connection
                   "port": self.client_address[1]}
        try:
            body = self.read_body()
        except (OAuthError, ValueError) as e:
            self.close_connection = True
            self.send_json(413, {"error": "invalid_request"})
            self.log_line(413, str(e))
            return
        try:
            if path == "/_control" and self.command == "POST":
                self.state.control(json.loads(body or b"{}"))
                self.send_json(200, {"ok": True})
                self.log_line(200, "control %s" % short(body.decode(errors="replace"), 80))
                return
            if path == "/_stats" and self.command == "GET":
                self.send_json(200, self.state.stats())
                return
        except (ValueError, KeyError, TypeError) as e:
            self.send_json(400, {"error": "bad control: %s" % e})
            self.log_line(400, "control error %s" % e)
            return

        if self.server.control_only:
            self.send_json(404, {"error": "not_found (control listener)"})
            self.log_line(404)
            return
        segs = path.strip("/").split("/")
        dialect = PREFIXES.get(segs[0]) if segs else None
        kind = segs[1] if len(segs) >= 2 else None
        if dialect is None or kind not in ("token", "resource", "revoke") or \
                (kind in ("token", "revoke") and len(segs) != 2):
            self.send_json(404, {"error": "not_found"})
            self.log_line(404)
            return

        summary["kind"] = kind
        summary["dialect"] = dialect
        if kind == "token":
            summary["assertion_sha"] = assertion_fingerprint(body)
        table = {"token": self.state.token_calls, "revoke": self.state.revoke_calls}.get(
            kind, self.state.resource_calls)
        self.state.count(table, path)
        st = self.state
        with st.lock:
            st.inflight[path] = st.inflight.get(path, 0) + 1
            st.max_inflight[path] = max(st.max_inflight.get(path, 0), st.inflight[path])
        try:
            self.answer(path, kind, dialect, body, summary)
        finally:
            with st.lock:
                st.inflight[path] -= 1

    def answer(self, path, kind, dialect, body, summary):
        script = self.state.next_script(path)
        if script is not None and script.get("mode") == "delay":
            # a slow but working STS: hold the request, then answer it
            time.sleep(float(script.get("seconds", 1)))
            script = None
        if script is not None and script.get("mode") == "hold":
            # a slow STS the test ends: held until released, then answered
            st = self.state
            with st.lock:
                st.held[path] = st.held.get(path, 0) + 1
                ev = st.releases.get(path)
            if ev is not None:
                ev.wait(float(script.get("seconds", 60)))
            with st.lock:
                st.held[path] -= 1
            script = None
        if script is not None and (script.get("mode") or "status") == "status" \
                and "seconds" in script:
            time.sleep(float(script["seconds"]))     # a loaded STS fails slowly
        if script is not None:
            summary["scripted"] = script.get("mode") or script.get("status")
            self.state.record(summary)
            self.play(script)
            return
        try:
            if kind == "token":
                status, obj, headers = self.token(dialect, path, body, summary)
            elif kind == "revoke":
                status, obj, headers = self.revoke(dialect, path, body, summary)
            else:
                status, obj, headers = self.resource(dialect, path, body, summary)
        except OAuthError as e:
            status, obj, headers = e.status, e.body, e.headers
        summary["status"] = status
        if obj is None:     # RFC 7009: a 200 with no body
            self.state.record(summary)
            self.send_json(status, None, headers, raw=b"")
            self.log_line(status, "revoked")
            return
        if "error" in obj:
            summary["error"] = obj["error"]
            summary["error_description"] = obj.get("error_description")
        self.state.record(summary)
        self.send_json(status, obj, headers)
        note = obj.get("error_description") or obj.get("error") or ""
        self.log_line(status, "%s %s" % (summary.get("auth_method", ""), note))

    # -- scripted failures ----------------------------------------------------------

    def play(self, script):
        mode = script.get("mode") or "status"
        self.log_line(script.get("status", "-"), "scripted %s" % mode)
        if mode == "close":
            self.close_connection = True
            try:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if mode == "hang":
            self.close_connection = True
            deadline = time.time() + float(script.get("seconds", 300))
            sock = self.connection
            while time.time() < deadline and not self.server.stopping:
                r, _, _ = select.select([sock], [], [], 0.25)
                if r:
                    try:
                        if not sock.recv(1024):
                            break       # the client gave up
                    except (OSError, ssl.SSLError):
                        break
            log("hang ended")
            return
        if mode == "big":
            size = int(script.get("size", 10 * 1024 * 1024))
            chunked = bool(script.get("chunked"))
            self.close_connection = True
            self.send_response(int(script.get("status", 200)))
            self.send_header("Content-Type", "application/json")
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(size))
            self.end_headers()
            head = b'{"access_token":"'
            tail = b'","token_type":"Bearer","expires_in":3600}'
            filler = size - len(head) - len(tail)
            chunk = b"A" * 65536
            try:
                def out(data):
                    if chunked:
                        self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
                    else:
                        self.wfile.write(data)
                out(head)
                while filler > 0:
                    n = min(filler, len(chunk))
                    out(chunk[:n])
                    filler -= n
                out(tail)
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (OSError, ssl.SSLError) as e:
                log("big body: client stopped reading (%s)" % e.__class__.__name__)
            return
        if mode == "malformed":
            self.send_json(int(script.get("status", 200)), None,
                           raw=b'{"access_token": "abc", "token_type": "Bearer", "expires_in": 36')
            return
        body = script.get("body", "")
        if not isinstance(body, str):
            body = json.dumps(body)
        self.send_json(int(script.get("status", 500)), None,
                       headers=script.get("headers"), raw=body.encode())

    # -- assertions -----------------------------------------------------------

    def verify_assertion(self, token, path, algs, errors):
        """Verifies a compact JWS with the key its kid names; returns
        (header, payload). errors maps failure kinds to OAuthError factories:
        malformed, kid, signature."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise errors["malformed"]()
        alg = header.get("alg")
        kid = header.get("kid")
        if alg not in algs:
            raise errors["malformed"]()
        key = None
        if alg.startswith("HS"):
            key = self.state.hs_keys.get(kid)
        else:
            if kid is not None:
                entry = self.state.ec_keys.get(kid)
                if entry and entry[0] == alg:
                    key = entry[1]
            else:   # noa's own sample sends no kid: try every key of that alg
                for kalg, k in self.state.ec_keys.values():
                    if kalg == alg:
                        try:
                            jwt.api_jws.decode_complete(token, key=k, algorithms=[alg])
                            key = k
                            break
                        except jwt.PyJWTError:
                            continue
        if key is None:
            raise errors["kid"]()
        try:
            parts = jwt.api_jws.decode_complete(token, key=key, algorithms=[alg])
        except jwt.InvalidSignatureError:
            raise errors["signature"]()
        except jwt.PyJWTError:
            raise errors["malformed"]()
        try:
            payload = json.loads(parts["payload"])
            if not isinstance(payload, dict):
                raise ValueError
        except ValueError:
            raise errors["malformed"]()
        self.state.record_assertion(path, header, payload)
        return header, payload

    def iss_ok(self, iss):
        if not isinstance(iss, str) or not iss:
            return False
        return not self.state.iss_allowed or iss in self.state.iss_allowed

    @staticmethod
    def is_num(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    def form(self, body, summary):
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        summary["form"] = ctype == FORM
        if ctype != FORM:
            return None
        try:
            q = urllib.parse.parse_qs(body.decode("ascii"), keep_blank_values=True,
                                      strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError):
            return None
        for k, v in q.items():
            if len(v) != 1:
                raise OAuthError(400, "invalid_request", "parameter %s repeated" % k)
        f = {k: v[0] for k, v in q.items()}
        summary["params"] = sorted(f)
        return f

    # -- token endpoints ----------------------------------------------------------

    def token(self, dialect, path, body, summary):
        allowed = ("GET", "POST") if dialect == "client-credentials" else ("POST",)
        if self.command not in allowed:
            raise OAuthError(405, "invalid_request", "method not allowed",
                             {"Allow": ", ".join(allowed)})
        return getattr(self, "token_" + dialect.replace("-", "_"))(path, body, summary)

    def lifetime(self):
        return self.state.lifetime

    def new_token(self, dialect, lifetime, client=None, scope=None):
        value = secrets.token_hex(16)
        self.state.issue(dialect, value, lifetime, client, scope)
        return value

    def grant_scope(self, client, asked, summary, default=None):
        """The scope granted for a request asking `asked` (None: none), as
        RFC 6749 3.3 has an STS decide: invalid_scope for a malformed one
        or one the client was not registered for (--scopes)."""
        known = self.state.scopes.get(client)
        if asked is None or asked == "":
            return " ".join(sorted(known)) if known and default is not None else default
        summary["scope"] = asked
        for ch in asked:
            if ch != " " and not ("\x21" <= ch <= "\x7e" and ch not in '"\\'):
                raise OAuthError(400, "invalid_scope",
                                 "malformed scope: character %r is not allowed" % ch)
        words = asked.split(" ")
        if not asked.strip(" "):
            raise OAuthError(400, "invalid_scope", "the scope is empty")
        if known is not None:
            unknown = [w for w in words if w and w not in known]
            if unknown:
                raise OAuthError(400, "invalid_scope", "scope '%s' is not granted to client '%s'"
                                 % (" ".join(unknown), client))
        return asked

    def jwt_bearer_form(self, body, summary, unsupported):
        f = self.form(body, summary)
        if f is None or f.get("grant_type") != JWT_BEARER:
            raise unsupported()
        return f

    def token_dt(self, path, body, summary):
        f = self.jwt_bearer_form(body, summary,
                                 lambda: OAuthError(400, "unsupported_grant_type"))
        assertion = f.get("assertion")
        if not assertion:
            raise OAuthError(400, "invalid_grant")
        bare = lambda: OAuthError(400, "invalid_grant")
        header, p = self.verify_assertion(assertion, path, ("HS256",), {
            "malformed": bare, "kid": bare,
            "signature": lambda: OAuthError(400, "invalid_grant", DT_SIGNATURE)})
        now = time.time()
        iat, exp = p.get("iat"), p.get("exp")
        if not self.is_num(iat) or not self.is_num(exp) or exp < iat or \
                exp - iat > DT_MAX_LIFETIME or iat > now + CLOCK_SKEW or \
                iat < now - DT_MAX_LIFETIME or exp <= now:
            raise OAuthError(400, "invalid_grant", DT_TIMING)
        if p.get("aud") != self.token_url(path) or not self.iss_ok(p.get("iss")):
            raise OAuthError(400, "invalid_grant", DT_ENTITY)
        life = self.lifetime()
        return 200, {"access_token": self.new_token("dt", life), "token_type": "bearer",
                     "expires_in": max(life - 1, 0)}, None

    def token_neowit(self, path, body, summary):
        f = self.jwt_bearer_form(body, summary,
                                 lambda: OAuthError(400, "unsupported_grant_type"))
        assertion = f.get("assertion")
        bad = lambda d: (lambda: OAuthError(400, "invalid_grant", d))
        if not assertion:
            raise bad("assertion missing")()
        header, p = self.verify_assertion(assertion, path, ("HS256",), {
            "malformed": bad("malformed assertion"), "kid": bad("unknown key"),
            "signature": bad("invalid signature")})
        now = time.time()
        iat, exp = p.get("iat"), p.get("exp")
        if not self.is_num(iat) or not self.is_num(exp) or exp < iat or \
                exp - iat > DT_MAX_LIFETIME or iat > now + CLOCK_SKEW or exp <= now:
            raise bad("check iat and exp")()
        if p.get("aud") != self.token_url(path) or not self.iss_ok(p.get("iss")):
            raise bad("check aud and iss")()
        # neowit answers the token only; it is valid for one hour (or what
        # /_control set), which the client must know without being told.
        return 200, {"accessToken": self.new_token("neowit", self.lifetime())}, None

    def token_noa(self, path, body, summary):
        try:
            doc = json.loads(body)
            assertion = doc["assertion"]
            if not isinstance(assertion, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise OAuthError(400, "invalid_request", "body must be JSON {\"assertion\": ...}")
        summary["params"] = sorted(doc)
        bad = lambda d: (lambda: OAuthError(400, "invalid_grant", d))
        header, p = self.verify_assertion(assertion, path, ("ES384", "ES512"), {
            "malformed": bad("malformed assertion (ES384 or ES512 expected)"),
            "kid": bad("unknown client key"), "signature": bad("invalid signature")})
        now = time.time()
        iat, exp = p.get("iat"), p.get("exp")
        if not self.is_num(iat) or not self.is_num(exp) or exp <= iat or \
                exp - iat > NOA_MAX_LIFETIME or iat > now + CLOCK_SKEW or exp <= now:
            raise bad("iat and exp required, exp - iat <= 600, not expired")()
        if not self.iss_ok(p.get("iss")):
            raise bad("unknown client (iss)")()
        if not isinstance(p.get("organization"), str) or not p["organization"]:
            raise bad("organization claim required")()
        if "aud" in p and p["aud"] != self.token_url(path):
            raise bad("wrong aud")()
        life = self.lifetime()
        iat_s = int(now)
        claims = {"iss": self.token_url(path), "sub": p["iss"],
                  "organization": p["organization"], "iat": iat_s,
                  "exp": iat_s + life, "jti": secrets.token_hex(8)}
        value = jwt.encode(claims, self.state.server_key, algorithm="HS256")
        self.state.issue("noa", value, life)
        return 200, {"jwt": value}, None

    def client_auth(self, summary, params):
        """RFC 6749 2.3.1 (Basic or body) and JSA's query: (id, secret)."""
        methods = []
        auth = self.headers.get("Authorization")
        cid = secret = None
        if auth:
            scheme, _, cred = auth.partition(" ")
            if scheme.lower() != "basic":
                raise OAuthError(401, "invalid_client", "unsupported authentication scheme")
            try:
                raw = base64.b64decode(cred.strip(), validate=True).decode()
                u, _, pw = raw.partition(":")
                cid, secret = urllib.parse.unquote_plus(u), urllib.parse.unquote_plus(pw)
            except (binascii.Error, UnicodeDecodeError):
                raise OAuthError(401, "invalid_client", "malformed Basic credentials",
                                 {"WWW-Authenticate": 'Basic realm="sts"'})
            methods.append("basic")
        if "client_secret" in params:
            methods.append("get-query" if self.command == "GET" else "post-form")
            cid, secret = params.get("client_id"), params["client_secret"]
        if len(methods) > 1:
            raise OAuthError(400, "invalid_request", "more than one client authentication")
        summary["auth_method"] = methods[0] if methods else "none"
        if "basic" not in methods and "client_id" in params and cid is None:
            cid = params["client_id"]
        return cid, secret

    def token_client_credentials(self, path, body, summary):
        if self.command == "GET":
            query = urllib.parse.urlsplit(self.path).query
            q = urllib.parse.parse_qs(query, keep_blank_values=True)
            params = {k: v[0] for k, v in q.items()}
            summary["params"] = sorted(params)
        else:
            params = self.form(body, summary)
            if params is None:
                raise OAuthError(400, "invalid_request",
                                 "body must be application/x-www-form-urlencoded")
        if params.get("grant_type") != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type")
        cid, secret = self.client_auth(summary, params)
        want = self.state.clients.get(cid) if cid is not None else None
        basic = summary["auth_method"] == "basic"
        if want is None or secret is None or \
                not hmac.compare_digest(want, secret.encode()):
            raise OAuthError(401, "invalid_client", "client authentication failed",
                             {"WWW-Authenticate": 'Basic realm="sts"'} if basic else None)
        summary["client_id"] = cid
        life = self.lifetime()
        scope = self.grant_scope(cid, params.get("scope"), summary, default="ADMIN")
        return 200, {"access_token": self.new_token("client-credentials", life, cid, scope),
                     "token_type": "Bearer", "scope": scope, "expires_in": life}, None

    def revoke(self, dialect, path, body, summary):
        """RFC 7009: POST form token (+ token_type_hint); the client
        authenticates as at the token endpoint (client-credentials: Basic or
        form; private-key-jwt: client_assertion; the jwt-bearer dialects:
        none). 200 with no body for any token, known or not."""
        if self.command != "POST":
            raise OAuthError(405, "invalid_request", "POST only", {"Allow": "POST"})
        params = self.form(body, summary)
        if params is None:
            raise OAuthError(400, "invalid_request",
                             "body must be application/x-www-form-urlencoded")
        client = None
        if dialect == "client-credentials":
            cid, secret = self.client_auth(summary, params)
            want = self.state.clients.get(cid) if cid is not None else None
            if want is None or secret is None or not hmac.compare_digest(want, secret.encode()):
                raise OAuthError(401, "invalid_client", "client authentication failed",
                                 {"WWW-Authenticate": 'Basic realm="sts"'}
                                 if summary["auth_method"] == "basic" else None)
            client = cid
        elif dialect == "private-key-jwt":
            client = self.authenticate_assertion(path, params)
        token = params.get("token")
        if not token:
            raise OAuthError(400, "invalid_request", "token missing")
        summary["revoked"] = self.state.revoke(dialect, token, client)
        return 200, None, None

    def rfc_claims(self, p, path, grant):
        now = time.time()
        exp, iat = p.get("exp"), p.get("iat")
        if not self.is_num(exp) or exp <= now:
            raise OAuthError(400, "invalid_grant", "exp missing or in the past")
        if iat is not None and (not self.is_num(iat) or iat > now + CLOCK_SKEW or exp < iat):
            raise OAuthError(400, "invalid_grant", "iat in the future or after exp")
        if "nbf" in p and (not self.is_num(p["nbf"]) or p["nbf"] > now + CLOCK_SKEW):
            raise OAuthError(400, "invalid_grant", "not yet valid (nbf)")
        aud = p.get("aud")
        url = self.token_url(path)
        if not (aud == url or (isinstance(aud, list) and url in aud)):
            raise OAuthError(400, "invalid_grant", "aud must be the token URL %s" % url)

    def token_rfc7523(self, path, body, summary):
        f = self.jwt_bearer_form(body, summary, lambda: OAuthError(
            400, "unsupported_grant_type", "grant_type must be %s (form-encoded)" % JWT_BEARER))
        if not f.get("assertion"):
            raise OAuthError(400, "invalid_request", "assertion missing")
        bad = lambda d: (lambda: OAuthError(400, "invalid_grant", d))
        header, p = self.verify_assertion(
            f["assertion"], path, GENERIC_ALGS, {
                "malformed": bad("malformed assertion"), "kid": bad("unknown kid"),
                "signature": bad("invalid signature")})
        self.rfc_claims(p, path, "jwt-bearer")
        if not self.iss_ok(p.get("iss")):
            raise OAuthError(400, "invalid_grant", "untrusted issuer")
        scope = self.grant_scope(p.get("iss"), f.get("scope"), summary)
        life = self.lifetime()
        out = {"access_token": self.new_token("rfc7523", life, None, scope),
               "token_type": "Bearer", "expires_in": life}
        if scope:
            out["scope"] = scope
        return 200, out, None

    def authenticate_assertion(self, path, f):
        """private_key_jwt client authentication (RFC 7523 2.2) of a form
        sent to the token or the revocation endpoint; aud is the token
        endpoint either way. Returns the client id."""
        if f.get("client_assertion_type") != CLIENT_ASSERTION_TYPE or \
                not f.get("client_assertion"):
            raise OAuthError(401, "invalid_client", "client_assertion missing or of a wrong type")
        path = path.rsplit("/", 1)[0] + "/token"
        bad = lambda d: (lambda: OAuthError(401, "invalid_client", d))
        header, p = self.verify_assertion(
            f["client_assertion"], path, GENERIC_ALGS,
            {"malformed": bad("malformed client assertion"), "kid": bad("unknown kid"),
             "signature": bad("invalid signature")})
        cid = f.get("client_id")
        if not p.get("iss") or p.get("iss") != p.get("sub") or \
                (cid is not None and cid != p["iss"]):
            raise OAuthError(401, "invalid_client", "iss and sub must both be the client_id")
        if not self.iss_ok(p["iss"]):
            raise OAuthError(401, "invalid_client", "unknown client")
        self.rfc_claims(p, path, "client_credentials")
        jti = p.get("jti")
        if not isinstance(jti, str) or not jti:
            raise OAuthError(400, "invalid_grant", "jti required")
        if not self.state.use_jti(jti):
            raise OAuthError(400, "invalid_grant", "jti already used (replay)")
        return p["iss"]

    def token_private_key_jwt(self, path, body, summary):
        f = self.form(body, summary)
        if f is None:
            raise OAuthError(400, "invalid_request",
                             "body must be application/x-www-form-urlencoded")
        if f.get("grant_type") != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type")
        summary["auth_method"] = "private_key_jwt"
        cid = self.authenticate_assertion(path, f)
        summary["client_id"] = cid
        scope = self.grant_scope(cid, f.get("scope"), summary)
        life = self.lifetime()
        out = {"access_token": self.new_token("private-key-jwt", life, cid, scope),
               "token_type": "Bearer", "expires_in": life}
        if scope:
            out["scope"] = scope
        return 200, out, None

    # -- protected resource ---------------------------------------------------------

    def resource(self, dialect, path, body, summary):
        auth = self.headers.get("Authorization") or ""
        scheme, _, value = auth.partition(" ")
        value = value.strip()
        summary["scheme"] = scheme
        summary["headers"] = {k: v for k, v in self.headers.items()
                              if k.lower() not in ("authorization", "cookie")}
        unauth = {"WWW-Authenticate": ('JWT' if dialect == "noa" else 'Bearer realm="sts"')
                  + ', error="invalid_token"'}
        want = "JWT" if dialect == "noa" else "Bearer"
        ok_scheme = scheme == want if dialect == "noa" else scheme.lower() == "bearer"
        if not ok_scheme or not value:
            summary["why"] = "scheme %r" % scheme
            raise OAuthError(401, "invalid_token", "%s scheme expected" % want, unauth)
        why = self.state.check_token(dialect, value)
        summary["token"] = short(value)
        if why is not None:
            summary["why"] = why
            raise OAuthError(401, "invalid_token", why, unauth)
        if dialect == "noa":
            if self.headers.get("Accept") != "application/json; version=1.0":
                raise OAuthError(406, "not_acceptable",
                                 "Accept: application/json; version=1.0 required")
            try:
                jwt.decode(value, self.state.server_key, algorithms=["HS256"])
            except jwt.PyJWTError as e:
                raise OAuthError(401, "invalid_token", str(e), unauth)
        segs = path.strip("/").split("/")
        if len(segs) == 4 and segs[2] == "need":
            # RFC 6750 3.1: a token without the scope this resource needs
            need = urllib.parse.unquote(segs[3])
            summary["need_scope"] = need
            if need not in self.state.token_scope(value):
                desc = "this resource needs scope %s" % need
                raise OAuthError(403, "insufficient_scope", desc, {
                    "WWW-Authenticate": 'Bearer realm="sts", error="insufficient_scope", '
                    'error_description=%s, scope=%s' % (quote(desc), quote(need))})
        try:
            echo = body.decode()
        except UnicodeDecodeError:
            echo = body.hex()
        query = urllib.parse.urlsplit(self.path).query
        return 200, {"ok": True, "dialect": dialect, "method": self.command, "body": echo,
                     "query": query, "headers": summary["headers"]}, None


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, state, tls_ctx, control_only=False):
        super().__init__(addr, Handler)
        self.state = state
        self.control_only = control_only
        self.tls = tls_ctx is not None
        self.tls_ctx = tls_ctx
        self.stopping = False

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.tls_ctx is not None:
            # the handshake runs in the handler's thread, not the accept loop
            sock = self.tls_ctx.wrap_socket(sock, server_side=True,
                                            do_handshake_on_connect=False)
        return sock, addr


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port-file", required=True,
                    help="write the port here once listening (127.0.0.1, port 0)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--control-port-file",
                    help="also serve /_control and /_stats (only) over plain http on another "
                         "loopback port, written here: for a server that requires client "
                         "certificates")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--client-ca", help="require a client certificate issued by this CA")
    ap.add_argument("--jwks", action="append", help="JWKS of trusted EC keys (repeatable)")
    ap.add_argument("--secret", action="append", metavar="KID=FILE",
                    help="HMAC secret for kid (repeatable)")
    ap.add_argument("--client", action="append", metavar="ID=SECRETFILE",
                    help="client-credentials client (repeatable)")
    ap.add_argument("--iss-allowed", action="append", metavar="ISS",
                    help="accepted assertion issuer (repeatable; default: any)")
    ap.add_argument("--scopes", action="append", metavar="CLIENT=SCOPE...",
                    help="the scopes CLIENT (client_id, or rfc7523's iss) may be granted, "
                    "space- or comma-separated (repeatable; default: any well-formed)")
    ap.add_argument("--expires-in", type=int, default=3600,
                    help="lifetime of issued tokens in seconds (default 3600)")
    ap.add_argument("--clock-skew", type=int, default=0, metavar="SECONDS",
                    help="this server's clock is SECONDS ahead (negative: behind): "
                    "its Date headers say so")
    args = ap.parse_args()

    tls_ctx = None
    if args.tls_cert:
        tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls_ctx.load_cert_chain(args.tls_cert, args.tls_key)
        if args.client_ca:
            tls_ctx.verify_mode = ssl.CERT_REQUIRED
            tls_ctx.load_verify_locations(args.client_ca)
    elif args.client_ca:
        sys.exit("sts: --client-ca needs --tls-cert")

    state = State(args)
    srv = Server(("127.0.0.1", args.port), state, tls_ctx)
    port = srv.server_address[1]
    if args.control_port_file:
        ctl = Server(("127.0.0.1", 0), state, None, control_only=True)
        threading.Thread(target=ctl.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True).start()
        tmp = args.control_port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % ctl.server_address[1])
        os.rename(tmp, args.control_port_file)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, args.port_file)
    log("listening on %s://127.0.0.1:%d (pid %d)%s" % (
        "https" if tls_ctx else "http", port, os.getpid(),
        ", client certificates required" if args.client_ca else ""))
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.stopping = True


if __name__ == "__main__":
    main()
