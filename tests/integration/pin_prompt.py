"""pin_prompt.py — the PIN prompt on a real terminal (a pty): echo is off
while the PIN is typed and back on after Ctrl-C kills the process, while
Ctrl-Z has it stopped, and after the prompt; a PIN longer than 256 bytes is
refused, not cut short; the right PIN logs in.

Usage: pin_prompt.py P11JWT_BIN TOKEN_URI PIN
"""
import fcntl
import os
import select
import signal
import sys
import termios
import time

from itlib import check

BIN, TOKEN, PIN = sys.argv[1], sys.argv[2], sys.argv[3]


def spawn():
    """Starts `p11jwt list --token TOKEN` with a new pty as its controlling
    terminal, in the foreground process group of a session whose leader
    (its parent, as a shell would be) waits for it: so Ctrl-Z can stop it
    (a process group without such a parent is orphaned, and the kernel
    drops terminal stop signals for those). Returns (pid of the leader,
    pid of p11jwt, master, slave); the leader exits 0, 1... as p11jwt did,
    or 128 + the signal that killed it."""
    master, slave = os.openpty()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        os.close(master)
        child = os.fork()
        if child == 0:
            os.setpgid(0, 0)
            os.execv(BIN, [BIN, "list", "--token", TOKEN])
        os.setpgid(child, child)
        signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        os.tcsetpgrp(0, child)
        os.write(w, b"%d\n" % child)
        os.close(w)
        while True:
            _, status = os.waitpid(child, os.WUNTRACED)
            if os.WIFEXITED(status):
                os._exit(os.WEXITSTATUS(status))
            if os.WIFSIGNALED(status):
                os._exit(128 + os.WTERMSIG(status))
    os.close(w)
    child = int(os.read(r, 32))
    os.close(r)
    return pid, child, master, slave


def stopped(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "T"


def read_until(master, text, timeout=20):
    buf = b""
    end = time.time() + timeout
    while text.encode() not in buf:
        r, _, _ = select.select([master], [], [], max(0, end - time.time()))
        if not r:
            sys.exit(f"FAIL: no {text!r} within {timeout} s; got {buf!r}")
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        buf += data
    return buf


def echo_on(slave):
    return bool(termios.tcgetattr(slave)[3] & termios.ECHO)


def drain(master):
    out = b""
    while True:
        r, _, _ = select.select([master], [], [], 0.5)
        if not r:
            return out
        try:
            data = os.read(master, 4096)
        except OSError:
            return out
        if not data:
            return out
        out += data


def finish(pid, master, timeout=30):
    end = time.time() + timeout
    out = b""
    while time.time() < end:
        out += drain(master)
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status, out + drain(master)
    os.kill(pid, signal.SIGKILL)
    sys.exit("FAIL: p11jwt did not end")


print("-- Ctrl-C at the prompt: the process ends, echo is back on")
pid, child, master, slave = spawn()
read_until(master, "PIN for token")
time.sleep(0.2)
check(not echo_on(slave), "echo is on while the PIN is typed")
os.write(master, b"12\x03")
status, out = finish(pid, master)
check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 128 + signal.SIGINT,
      f"Ctrl-C did not end p11jwt by SIGINT (status {status}): {out!r}")
check(echo_on(slave), "echo is still off after Ctrl-C killed p11jwt")
os.close(master)
os.close(slave)

print("-- Ctrl-Z at the prompt: echo on while stopped, off again after fg; then the PIN works")
pid, child, master, slave = spawn()
read_until(master, "PIN for token")
time.sleep(0.2)
os.write(master, b"\x1a")
for _ in range(100):
    if stopped(child):
        break
    time.sleep(0.05)
check(stopped(child), "Ctrl-Z did not stop p11jwt")
check(echo_on(slave), "echo is off while p11jwt is stopped")
os.kill(child, signal.SIGCONT)
time.sleep(0.3)
check(not echo_on(slave), "echo is on again after the prompt continued")
os.write(master, PIN.encode() + b"\n")
status, out = finish(pid, master)
check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0,
      f"the right PIN after Ctrl-Z / fg: status {status}: {out!r}")
check(b"KID" in out, f"no key list: {out!r}")
check(PIN.encode() not in out, "the PIN was echoed")
check(echo_on(slave), "echo is off after the prompt")
os.close(master)
os.close(slave)

print("-- a PIN longer than 256 bytes is refused, not cut short")
pid, child, master, slave = spawn()
read_until(master, "PIN for token")
os.write(master, b"7" * 300 + b"\n")
status, out = finish(pid, master)
check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 1, f"status {status}: {out!r}")
check(b"longer than 256 bytes" in out, f"not refused as too long: {out!r}")
check(echo_on(slave), "echo is off after the prompt")
os.close(master)
os.close(slave)

print("-- a PIN of exactly 256 bytes is taken whole (and refused by the token)")
pid, child, master, slave = spawn()
read_until(master, "PIN for token")
os.write(master, b"7" * 256 + b"\n")
status, out = finish(pid, master)
check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 1, f"status {status}: {out!r}")
check(b"longer than" not in out and b"incorrect" in out.lower(), f"{out!r}")
print("pin prompt ok")
