"""batch_progress.py — `sign --batch`'s progress line, on a real terminal
(a pty as standard error): drawn in place with \\r, with %, ETA and the
rate for a regular file, the rate alone for a pipe, and a last line with
the totals and a newline; nothing on the terminal with --no-progress, nor
when standard output is the terminal too; the assertions on standard
output are the same bytes (iat and exp aside) as without a terminal.

Usage: batch_progress.py P11JWT_BIN TOKEN_URI PIN_FILE KID AUD INPUT OUTDIR
Writes OUTDIR/tty.jws (stderr on a pty) for the caller to verify.
"""
import os
import re
import subprocess
import sys
import time

from itlib import check

BIN, TOKEN, PIN_FILE, KID, AUD, INPUT, OUTDIR = sys.argv[1:8]
N = sum(1 for _ in open(INPUT))
CMD = [BIN, "sign", "--token", TOKEN, "--pin-file", PIN_FILE, "--kid", KID, "--iss", "batch",
       "--aud", AUD, "--no-jti", "--batch"]


def drain(master):
    """All a pty's master reads until the slave side is gone."""
    data = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every slave fd closed
            break
        if not chunk:
            break
        data += chunk
    os.close(master)
    return data


def run(extra=(), out_name=None, pipe=False, stdout_tty=False):
    """Runs the batch with stderr on a new pty (stdout too when stdout_tty);
    returns (exit code, what the terminal got, seconds)."""
    master, slave = os.openpty()
    out = open(os.path.join(OUTDIR, out_name or "scratch.jws"), "wb")
    src = open(INPUT, "rb")
    feeder = None
    stdin = src
    if pipe:  # the same lines through a pipe: no size known
        feeder = subprocess.Popen(["cat"], stdin=src, stdout=subprocess.PIPE)
        stdin = feeder.stdout
    t0 = time.monotonic()
    p = subprocess.Popen(CMD + list(extra), stdin=stdin, stdout=slave if stdout_tty else out,
                         stderr=slave)
    os.close(slave)
    if feeder is not None:
        feeder.stdout.close()
    term = drain(master)
    rc = p.wait()
    secs = time.monotonic() - t0
    if feeder is not None:
        feeder.wait()
    out.close()
    src.close()
    return rc, term.decode("utf-8", "replace"), secs


FINAL = re.compile(r"p11jwt: sign --batch: %d lines in [0-9.]+ s, [0-9]+ lines/s *\r?\n$" % N)
TICK = re.compile(r"\rp11jwt: sign --batch: ([0-9]+) lines, [0-9]+ lines/s(, ([0-9]+)%, ETA "
                  r"[0-9]+:[0-9]{2})?")

# A regular file: the ticks carry % and ETA, the last line the totals.
rc, term, secs = run(out_name="tty.jws")
check(rc == 0, f"sign --batch on a terminal exited {rc}: {term[-500:]!r}")
check(FINAL.search(term), f"no final progress line with {N} lines: {term[-300:]!r}")
check(term.count("\n") == 1 and term.endswith("\n"), f"not one line at the end: {term[-300:]!r}")
check("eyJ" not in term, "an assertion went to the terminal")
ticks = TICK.findall(term)
for lines, pct_part, pct in ticks:
    check(0 < int(lines) <= N, f"a tick says {lines} lines of {N}")
    check(pct_part and 0 <= int(pct) <= 100, f"a tick from a regular file lacks %/ETA: {term!r}")
# At most 4 draws a second (and one for the end), with a margin for the clock.
check(len(ticks) <= 4 * secs + 2, f"{len(ticks)} draws in {secs:.2f} s")
if secs >= 1.0:  # long enough that a tick must have been drawn
    check(len(ticks) >= 1, f"no progress drawn in {secs:.2f} s: {term!r}")
print(f"batch_progress: regular file, {N} lines in {secs:.2f} s, {len(ticks)} draws")

# A pipe: the rate and the count, never a % or an ETA.
rc, term, secs = run(pipe=True)
check(rc == 0, f"sign --batch from a pipe exited {rc}")
check(FINAL.search(term), f"no final progress line (pipe): {term[-300:]!r}")
check("ETA" not in term and "%" not in term, f"% or ETA without a known size: {term!r}")

# --no-progress: the terminal gets nothing at all.
rc, term, _ = run(extra=["--no-progress"])
check(rc == 0 and term == "", f"--no-progress: exit {rc}, terminal got {term[:200]!r}")

# Standard output on the same terminal: the assertions only, no progress.
rc, term, _ = run(stdout_tty=True)
check(rc == 0, f"sign --batch with stdout on the terminal exited {rc}")
check("lines/s" not in term, f"progress mixed into the assertions: {term[:300]!r}")
jws = re.findall(r"eyJ[\w-]*\.eyJ[\w-]*\.[\w-]+\r?\n", term)
check(len(jws) == N, f"{len(jws)} assertions on the terminal, want {N}")
