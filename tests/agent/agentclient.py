#!/usr/bin/python3
"""agentclient.py — test clients for the agent, standard library only.

  poll SOCK PROFILE INTERVAL SECONDS THREADS OUT
      THREADS callers, each asking GET /v1/token/PROFILE every INTERVAL
      seconds for SECONDS on its own kept-alive connection; one JSON line
      per hand-out in OUT: {c (the caller, 0..THREADS-1), t, ms, status, tok
      (a SHA-256 prefix, never the token), expires_at}.
  probe SOCK PATH N
      N requests on new connections; prints the slowest in ms (exit 1 on
      any non-2xx answer).
  idle SOCK N SECONDS
      opens N connections and sends nothing; prints how many the agent
      accepted and how many it had closed after SECONDS.
  trickle SOCK INTERVAL
      sends a request one byte every INTERVAL seconds; prints the seconds
      until the agent closed the connection and how many bytes got out.
  raw SOCK HEX|@FILE
      sends the bytes (hex, or hex read from FILE), prints the status line of the answer, "closed" when
      the agent closed without one, "timeout" after 10 s of silence.
"""

import hashlib
import http.client
import json
import socket
import sys
import threading
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("agent", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def get(path, url, method="GET"):
    c = UnixConnection(path)
    try:
        c.request(method, url)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def poll(sock, profile, interval, seconds, threads, out):
    rows, lock = [], threading.Lock()
    end = time.time() + seconds

    def caller(c):
        nxt = time.time()
        conn = UnixConnection(sock)  # kept alive, as a service's client would
        while time.time() < end:
            t0 = time.time()
            try:
                conn.request("GET", "/v1/token/" + profile)
                r = conn.getresponse()
                status, body = r.status, r.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = UnixConnection(sock)
                continue
            ms = (time.time() - t0) * 1000
            row = {"c": c, "t": t0, "ms": ms, "status": status}
            if status == 200:
                d = json.loads(body)
                row["tok"] = hashlib.sha256(d["access_token"].encode()).hexdigest()[:16]
                row["expires_at"] = d["expires_at"]
            with lock:
                rows.append(row)
            nxt += interval
            time.sleep(max(0, nxt - time.time()))

    ts = [threading.Thread(target=caller, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    with open(out, "w") as f:
        for r in sorted(rows, key=lambda r: r["t"]):
            f.write(json.dumps(r) + "\n")


def probe(sock, url, n):
    worst = 0.0
    for _ in range(n):
        t0 = time.time()
        status, _ = get(sock, url)
        worst = max(worst, (time.time() - t0) * 1000)
        if status // 100 != 2:
            print(f"status {status}", file=sys.stderr)
            sys.exit(1)
    print(f"{worst:.1f}")


def idle(sock, n, seconds):
    conns = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(sock)
            conns.append(s)
        except OSError:
            s.close()
    time.sleep(seconds)
    closed = 0
    for s in conns:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        s.close()
    print(len(conns), closed)


def trickle(sock, interval):
    req = b"GET /v1/health HTTP/1.1\r\nHost: agent\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    t0, sent = time.time(), 0
    try:
        for b in req:
            s.send(bytes([b]))
            sent += 1
            time.sleep(interval)
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    break
            except BlockingIOError:
                pass
            s.setblocking(True)
    except OSError:
        pass
    print(f"{time.time() - t0:.1f} {sent}")


def raw(sock, data):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sock)
    ans = b""
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        while b"\r\n" not in ans:
            chunk = s.recv(4096)
            if not chunk:
                break
            ans += chunk
    except socket.timeout:
        print("timeout")
        return
    except OSError:
        pass
    print(ans.split(b"\r\n")[0].decode(errors="replace") if ans else "closed")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "poll":
        poll(args[0], args[1], float(args[2]), float(args[3]), int(args[4]), args[5])
    elif cmd == "probe":
        probe(args[0], args[1], int(args[2]))
    elif cmd == "idle":
        idle(args[0], int(args[1]), float(args[2]))
    elif cmd == "trickle":
        trickle(args[0], float(args[1]))
    elif cmd == "raw":
        hexdata = open(args[1][1:]).read() if args[1].startswith("@") else args[1]
        raw(args[0], bytes.fromhex(hexdata))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
