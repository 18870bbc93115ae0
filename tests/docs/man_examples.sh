#!/usr/bin/env bash
# man_examples.sh — the EXAMPLES of the man pages run, as printed, on a
# fresh SoftHSM token: p11jwt.conf(5)'s profiles and commands first (the
# other pages use those profiles), then p11jwt(1)'s, then libp11jwt(3)'s C
# program, compiled against the built library, and its commands, then
# p11jwt-agent(8)'s against a real agent, then p11jwt-token(1)'s.
#
# The examples assume a token labelled "app" with its PIN in
# /etc/p11jwt/pin, the profiles in ~/.config/p11jwt/config, and secret
# files in the current folder. Here the token "app" is made in this test's
# own SoftHSM, /etc/p11jwt/pin and /var/log/p11jwt/ are replaced by files
# of the test, and HOME and the current folder are the test's. Not run:
# `p11jwt token` and `p11jwt call` (they need the provider's service; the
# exchange tests run them against the test STS), any command that asks
# the agent for an access token (`p11jwt-token`, `GET /v1/token/NAME` - the
# same reason; tests/agent/ runs them against the test STS) and `cc` (replaced
# by a compile with the build's flags). Each of these is listed as "not
# run" in the output. Every command must exit 0 with nothing on standard
# error; the audit line the noa profile asks for must appear.
#
# The agent: a command `p11jwt agent ... &` is run as printed but for its
# log (standard error), which goes to a file of the test; the next command
# runs once the agent logs that it listens (at most 60 s). The page's own
# commands must stop it (`kill %1; wait %1` exits with the agent's status);
# one left running is stopped by pid when the test ends, and fails it.
# Each of the two groups of pages gets an empty $XDG_RUNTIME_DIR of its
# own, so the agent's page starts from what a new login has.
#
# Only p11jwt.conf(5)'s EXAMPLES may hold other blocks than shell sessions
# (its profiles, which become ~/.config/p11jwt/config) and libp11jwt(3)'s
# (its C program); anywhere else such a block fails the test.
#
# Environment (from CMake): P11JWT_LIB (the built libp11jwt.so), CC,
# P11JWT_EXAMPLE_CFLAGS (the sanitizer flags of the build, if any).
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"

CC=${CC:-cc}
command -v "$CC" >/dev/null 2>&1 || skip "no C compiler ($CC) for libp11jwt(3)'s example"
[[ -n ${P11JWT_LIB:-} && -e $P11JWT_LIB ]] || fail "P11JWT_LIB (the built library) is not set"

# The token the examples name, next to lib.sh's, with the same PIN.
softhsm2-util --init-token --free --label app --pin "$(cat "$PIN_FILE")" \
    --so-pin "$(cat "$SO_PIN_FILE")" >"$T/init-app.log" 2>&1 ||
    fail "softhsm2-util could not make token 'app': $(cat "$T/init-app.log")"

W=$T/world
mkdir -p "$W/bin" "$W/home/.config/p11jwt" "$W/cwd" "$W/log"
ln -s "$P11JWT_BIN" "$W/bin/p11jwt"
ln -s "$(dirname "$P11JWT_BIN")/p11jwt-token" "$W/bin/p11jwt-token"
export HOME=$W/home PATH=$W/bin:$PATH
# Nothing of the caller's may steer the commands to an agent, a runtime
# directory, systemd or a config file.
unset P11JWT_CONFIG P11JWT_AGENT_SOCKET RUNTIME_DIRECTORY CREDENTIALS_DIRECTORY \
    LISTEN_FDS LISTEN_PID NOTIFY_SOCKET JOURNAL_STREAM
# The runtime directories: short paths (a socket path has at most 107
# bytes), 0700 as pam_systemd makes them, removed at the end.
RUN=$(mktemp -d /tmp/p11jwt-man.XXXXXX)
mkdir -m 0700 "$RUN/pages" "$RUN/agent"
export XDG_RUNTIME_DIR=$RUN/pages

examples_cleanup() {
    local rc=$? pid
    set +e
    if [[ -s $W/agent.pids ]]; then
        while read -r pid; do
            if kill -0 "$pid" 2>/dev/null; then
                printf 'FAIL [%s]: the examples left the agent (pid %s) running\n' \
                    "$TEST_NAME" "$pid" >&2
                kill -TERM "$pid" 2>/dev/null
                for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
                kill -KILL "$pid" 2>/dev/null
                [[ $rc -ne 0 ]] || rc=1
            fi
        done <"$W/agent.pids"
    fi
    rm -rf "$RUN"
    (exit "$rc")
    cleanup
}
trap examples_cleanup EXIT
# Provider secrets the examples import: 32 bytes, as dt issues them.
printf '239dcd912b8041a58054f843a2a633a4\n' >"$W/cwd/sa-key-1.secret"
printf '5f0e0b7c1f0e5f2a4d3c9a582f9c1b6d\n' >"$W/cwd/provider.secret"

# Cut the pages' EXAMPLES into: the config file, the C program, and one
# shell script of every command (`$ ` lines with their continuations), each
# followed by a check of its exit status naming page and line.
/usr/bin/python3 - "$P11JWT_SRC" "$W" "$PIN_FILE" "$RUN" <<'PY'
import re, shlex, sys
src, w, pin, run = sys.argv[1:]
subst = [("/etc/p11jwt/pin", pin), ("/var/log/p11jwt/", w + "/log/")]
skip = re.compile(r"^(p11jwt (token|call)\b|cc )")
needs_sts = re.compile(r"\bp11jwt-token\b|/v1/token/[^\s'\"/?]+(?=[\s'\"?]|$)")
agent = re.compile(r"^p11jwt agent\b[^\n]*&\s*$")
script = ["set -o pipefail"]
config, program = [], []
agents = 0
for page in ["p11jwt.conf.5", "p11jwt.1", "libp11jwt.3", "p11jwt-agent.8", "p11jwt-token.1"]:
    path = f"man/{page}.scd"
    lines = open(f"{src}/{path}").read().splitlines()
    if page == "p11jwt-agent.8":
        script.append(f"export XDG_RUNTIME_DIR={shlex.quote(run + '/agent')}")
    sec, block, start = None, None, 0
    for n, line in enumerate(lines, 1):
        if line.startswith("```"):
            if block is None:
                block, start = [], n + 1
                continue
            text = [re.sub(r"\\(.)", r"\1", l) for l in block]
            for a, b in subst:
                text = [l.replace(a, b) for l in text]
            if sec != "EXAMPLES":
                pass
            elif page == "libp11jwt.3" and any(l.startswith("#include") for l in text):
                program += text
            elif page == "p11jwt.conf.5" and not text[0].startswith("$ "):
                config += text
            elif not text[0].startswith("$ "):
                sys.exit(f"man_examples: {path}:{start}: a block in EXAMPLES that is not a "
                         f"shell session ('$ ' lines); only p11jwt.conf(5) has profiles "
                         f"and libp11jwt(3) a C program there")
            else:
                cmd, first = "", None
                for i, l in enumerate(text):
                    if first is None:
                        first = start + i
                    cmd += (l[2:] if l.startswith("$ ") and not cmd else l) + "\n"
                    if l.endswith("\\") or l.rstrip().endswith("|"):
                        continue
                    where = f"{path}:{first}"
                    if skip.match(cmd) or needs_sts.search(cmd):
                        script.append("echo " + shlex.quote(f"not run ({where}): "
                                                            f"{cmd.splitlines()[0]}"))
                    elif agent.match(cmd):
                        # Its log to a file; on once it listens.
                        agents += 1
                        log = shlex.quote(f"{w}/agent-{agents}.log")
                        script.append("echo " + shlex.quote(f"== {where}: {cmd.splitlines()[0]}"))
                        script.append(cmd.rstrip().rstrip("&").rstrip() + f" 2>>{log} &")
                        pids = shlex.quote(f"{w}/agent.pids")
                        script.append(f'agent_pid=$!; echo "$agent_pid" >>{pids}')
                        script.append(f"for _ in $(seq 600); do grep -qs 'listening on' {log} && "
                                      f"break; kill -0 $agent_pid 2>/dev/null || break; "
                                      f"sleep 0.1; done")
                        script.append(f"grep -qs 'listening on' {log} || {{ echo \"example "
                                      f"{where}: the agent did not start: $(cat {log})\" >&2; "
                                      f"exit 1; }}")
                    else:
                        script.append("echo " + shlex.quote(f"== {where}: {cmd.splitlines()[0]}"))
                        script.append(cmd.rstrip("\n"))
                        script.append(f'rc=$?; [ $rc -eq 0 ] || {{ echo "example {where} '
                                      f'exited $rc" >&2; exit 1; }}')
                    cmd, first = "", None
            block = None
            continue
        if block is not None:
            block.append(line)
        elif line.startswith("# "):
            sec = line[2:].strip()
if not config or not program or len(script) < 10 or agents != 1:
    sys.exit("man_examples: found too few examples (config, C program, commands, "
             "one agent started)")
open(f"{w}/home/.config/p11jwt/config", "w").write("\n".join(config) + "\n")
open(f"{w}/sign.c", "w").write("\n".join(program) + "\n")
open(f"{w}/examples.sh", "w").write("\n".join(script) + "\n")
PY

step "compile libp11jwt(3)'s program against the built library"
# shellcheck disable=SC2086  # the flags are words
"$CC" -std=c11 -Wall -Wextra -Werror ${P11JWT_EXAMPLE_CFLAGS:-} -I"$P11JWT_SRC/include" \
    -o "$W/cwd/sign" "$W/sign.c" -L"$(dirname "$P11JWT_LIB")" -lp11jwt \
    -Wl,-rpath,"$(dirname "$P11JWT_LIB")" 2>"$T/cc.log" ||
    fail "libp11jwt(3)'s example does not compile: $(cat "$T/cc.log")"

step "run the examples"
cd "$W/cwd"
rc=0
bash "$W/examples.sh" >"$T/examples.out" 2>"$T/examples.err" || rc=$?
cat "$T/examples.out"
if [[ $rc -ne 0 || -s $T/examples.err ]]; then
    printf -- '--- stderr:\n%s\n' "$(cat "$T/examples.err")" >&2
    fail "the examples exit $rc (0 wanted, with an empty stderr); the script is $W/examples.sh"
fi

step "what they made"
# verify printed the assertion sign made, and the batch two assertions.
grep -q '"iss":"my-client"' "$T/examples.out" || fail "verify printed no payload with iss my-client"
n=$(grep -cE '^ey[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$' "$T/examples.out" || true)
[[ $n -ge 5 ]] || fail "expected at least 5 JWS (2 assertions, 2 batch lines, the C program's), got $n"
grep -q '"event":"sign"' "$W/log/audit.log" 2>/dev/null ||
    fail "the noa profile's audit file has no sign record"

step "what the agent answered"
# curl -s exits 0 on an HTTP error too: the answers themselves are checked.
out=$(cat "$T/examples.out")
grep -q '^{"status":"ok","profiles":{"dt":{"state":"none",.*},"noa":{' <<<"$out" ||
    fail "the agent's /v1/health example did not list dt and noa"
grep -qE '^\{"assertion":"ey[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"\}$' <<<"$out" ||
    fail "the agent's /v1/assertion example printed no assertion"
grep -A1 -- '== man/p11jwt-agent.8.scd:[0-9]*: p11jwt assertion --agent' <<<"$out" |
    grep -qE '^ey[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$' ||
    fail "p11jwt assertion --agent printed no assertion"
grep -q '^{"keys":\[{.*"kid":"noa-1"' <<<"$out" ||
    fail "the agent's /v1/jwks example printed no key noa-1"
log=$W/agent-1.log
grep -q 'reloaded .*: dt (kept), noa (kept)' "$log" ||
    fail "the agent did not reload: $(cat "$log")"
grep -q ': info: stopped$' "$log" || fail "the agent did not stop cleanly: $(cat "$log")"
! grep -E ': (error|warning): ' "$log" || fail "the agent logged errors or warnings (above)"
echo "all man page examples ran"
