#!/usr/bin/env bash
# man_examples.sh — the EXAMPLES of the man pages run, as printed, on a
# fresh SoftHSM token: p11jwt.conf(5)'s profiles and commands first (the
# other pages use those profiles), then p11jwt(1)'s, then libp11jwt(3)'s C
# program, compiled against the built library, and its commands.
#
# The examples assume a token labelled "app" with its PIN in
# /etc/p11jwt/pin, the profiles in ~/.config/p11jwt/config, and secret
# files in the current folder. Here the token "app" is made in this test's
# own SoftHSM, /etc/p11jwt/pin and /var/log/p11jwt/ are replaced by files
# of the test, and HOME and the current folder are the test's. Not run:
# `p11jwt token` and `p11jwt call` (they need the provider's service; the
# exchange tests run them against the test STS) and `cc` (replaced by a
# compile with the build's flags). Every command must exit 0 with nothing
# on standard error; the audit line the noa profile asks for must appear.
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
export HOME=$W/home PATH=$W/bin:$PATH
unset P11JWT_CONFIG
# Provider secrets the examples import: 32 bytes, as dt issues them.
printf '239dcd912b8041a58054f843a2a633a4\n' >"$W/cwd/sa-key-1.secret"
printf '5f0e0b7c1f0e5f2a4d3c9a582f9c1b6d\n' >"$W/cwd/provider.secret"

# Cut the pages' EXAMPLES into: the config file, the C program, and one
# shell script of every command (`$ ` lines with their continuations), each
# followed by a check of its exit status naming page and line.
/usr/bin/python3 - "$P11JWT_SRC" "$W" "$PIN_FILE" <<'PY'
import re, shlex, sys
src, w, pin = sys.argv[1:]
subst = [("/etc/p11jwt/pin", pin), ("/var/log/p11jwt/", w + "/log/")]
skip = re.compile(r"^(p11jwt (token|call)\b|cc )")
script = ["set -o pipefail"]
config, program = [], []
for page in ["p11jwt.conf.5", "p11jwt.1", "libp11jwt.3"]:
    path = f"man/{page}.scd"
    lines = open(f"{src}/{path}").read().splitlines()
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
            elif any(l.startswith("#include") for l in text):
                program += text
            elif not text[0].startswith("$ "):
                config += text
            else:
                cmd, first = "", None
                for i, l in enumerate(text):
                    if first is None:
                        first = start + i
                    cmd += (l[2:] if l.startswith("$ ") and not cmd else l) + "\n"
                    if l.endswith("\\") or l.rstrip().endswith("|"):
                        continue
                    where = f"{path}:{first}"
                    if skip.match(cmd):
                        script.append("echo " + shlex.quote(f"not run ({where}): "
                                                            f"{cmd.splitlines()[0]}"))
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
if not config or not program or len(script) < 10:
    sys.exit("man_examples: found too few examples (config, C program, commands)")
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
echo "all man page examples ran"
