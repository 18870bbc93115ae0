# lib.sh — sourced by every integration test (bash, set -euo pipefail).
#
# Gives each test a FRESH SoftHSM token nobody else touches: its own temp
# dir, its own SOFTHSM2_CONF and token directory, a random user PIN in a
# 0600 file and a unique label, so tests run in parallel (ctest -j) without
# seeing each other's keys. Then the helpers the tests share:
#
#   $T                       the test's temp dir (removed on success, kept
#                            and named on failure)
#   $TOKEN $TOKEN_LABEL $PIN_FILE    its token's URI, label and PIN file
#                            (exported, with SOFTHSM2_CONF and P11JWT_MODULE)
#   p11jwt ARGS...           the CLI under test ($P11JWT_BIN)
#   TOK=(--token URI --pin-file F)   the options naming this test's token
#   expect_exit CODE CMD...  run CMD; check its exit code AND the CLI's stderr
#                            contract; leaves stdout in $OUT, stderr in $ERR
#   run_cmd / check_stderr   the two halves of expect_exit, for the rare test
#                            that accepts more than one outcome
#   fail MSG / skip MSG / step MSG
#   pycheck ARGS... <<'PY'   run a python check (itlib.py importable)
#   pyverify ARGS...         the independent PyJWT verifier
#   key_count                number of entries in `p11jwt list --json`
#   object_count             number of PKCS#11 objects pkcs11-tool sees
#
# Environment (set by CMake; defaults let a test run by hand from anywhere):
#   P11JWT_BIN       the p11jwt binary           (default $P11JWT_SRC/build/p11jwt)
#   P11JWT_SRC       the source tree             (default: two levels up)
#   P11JWT_TEST_TMP  where temp dirs go          (default /tmp)
#   P11JWT_KEEP_TMP  1: keep the temp dir even when the test passes

IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
P11JWT_SRC=${P11JWT_SRC:-$(cd "$IT_DIR/../.." && pwd)}
P11JWT_BIN=${P11JWT_BIN:-$P11JWT_SRC/build/p11jwt}
PYTHON=/usr/bin/python3         # the distribution's python, where python3-jwt lives
SOFTHSM_MODULE=/usr/lib/softhsm/libsofthsm2.so
TEST_NAME=$(basename "$0" .sh)

# ---- reporting -------------------------------------------------------------

fail() {
    printf 'FAIL [%s]: %s\n' "$TEST_NAME" "$*" >&2
    exit 1
}

skip() {
    printf 'SKIP [%s]: %s\n' "$TEST_NAME" "$*" >&2
    exit 77
}

step() {
    printf -- '-- %s\n' "$*"
}

# ---- prerequisites: a missing tool is a skip (77), not a failure -----------

command -v softhsm2-util >/dev/null 2>&1 || skip "softhsm2-util is not installed"
[[ -r $SOFTHSM_MODULE ]] || skip "SoftHSM module $SOFTHSM_MODULE is missing"
[[ -x $PYTHON ]] && "$PYTHON" -c 'import jwt, cryptography' 2>/dev/null ||
    skip "$PYTHON with PyJWT and cryptography (python3-jwt) is needed"
[[ -x $P11JWT_BIN ]] || fail "p11jwt binary not found at $P11JWT_BIN (set P11JWT_BIN)"

# A test must never sit waiting at a PIN prompt (the CLI falls back to one on
# the controlling terminal when no PIN source is given): when run from a
# terminal, re-run this script in a new session, which has none, so such a
# regression fails fast instead of hanging until the ctest timeout.
if [[ -z ${P11JWT_IT_NO_TTY:-} ]] && (: </dev/tty) 2>/dev/null; then
    export P11JWT_IT_NO_TTY=1
    exec setsid -w bash "$0" "$@"
fi

# ---- the test's private world ------------------------------------------------

mkdir -p "${P11JWT_TEST_TMP:-/tmp}"
T=$(mktemp -d "${P11JWT_TEST_TMP:-/tmp}/p11jwt-$TEST_NAME.XXXXXX")
chmod 700 "$T"

cleanup() {
    local rc=$?
    if [[ $rc -eq 0 || $rc -eq 77 ]] && [[ ${P11JWT_KEEP_TMP:-0} != 1 ]]; then
        rm -rf "$T"
    else
        printf '[%s] exit %d; token and files kept in %s\n' "$TEST_NAME" "$rc" "$T" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT

# Nothing from the caller's environment may steer the CLI to another module
# or token: the module is named explicitly, and tracing is off (it writes to
# stderr, which the tests inspect).
unset P11JWT_TRACE
export P11JWT_MODULE=$SOFTHSM_MODULE

mkdir -m 700 "$T/tokendir"
sed "s|@TOKENDIR@|$T/tokendir|" "$P11JWT_SRC/tokens/softhsm2.conf.in" >"$T/softhsm2.conf"
export SOFTHSM2_CONF=$T/softhsm2.conf

# Random PINs, in files only this user can read. softhsm2-util takes them on
# argv once, at init; p11jwt never does.
rand_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
(umask 077 && rand_hex 8 >"$T/pin" && rand_hex 8 >"$T/so-pin")
PIN_FILE=$T/pin
SO_PIN_FILE=$T/so-pin

# Token labels are at most 32 characters; the random part keeps two runs of
# the same test (or a leftover dir) from ever sharing one.
TOKEN_LABEL="it-${TEST_NAME:0:16}-$(rand_hex 4)"
softhsm2-util --init-token --free --label "$TOKEN_LABEL" \
    --pin "$(cat "$PIN_FILE")" --so-pin "$(cat "$SO_PIN_FILE")" >"$T/init.log" 2>&1 ||
    fail "softhsm2-util --init-token failed: $(cat "$T/init.log")"

TOKEN="pkcs11:token=$TOKEN_LABEL"
TOK=(--token "$TOKEN" --pin-file "$PIN_FILE")
export P11JWT_BIN P11JWT_SRC TOKEN TOKEN_LABEL PIN_FILE
export PYTHONPATH=$IT_DIR${PYTHONPATH:+:$PYTHONPATH}
export PYTHONDONTWRITEBYTECODE=1

# ---- running things ------------------------------------------------------------

p11jwt() { "$P11JWT_BIN" "$@"; }

pyverify() { "$PYTHON" "$IT_DIR/pyjwt_verify.py" "$@"; }

# pycheck ARGS... <<'PY' ... PY — a python check read from the here-doc; its
# arguments in sys.argv[1:]. It reports its own failure (itlib.check).
pycheck() {
    "$PYTHON" - "$@" || fail "python check failed (message above)"
}

# pkcs11-tool on this test's token, logged in. A test may put the PIN on
# pkcs11-tool's command line; the product may not.
p11tool() {
    pkcs11-tool --module "$SOFTHSM_MODULE" --token-label "$TOKEN_LABEL" \
        --login --pin "$(cat "$PIN_FILE")" "$@"
}

# run_cmd CMD [ARG...] — runs CMD (stdin inherited) and records, without
# judging: exit code in $RC, stdout in $OUT, stderr in $ERR (trailing
# newlines dropped; the raw bytes stay in $T/out and $T/err).
run_cmd() {
    RC=0
    "$@" >"$T/out" 2>"$T/err" || RC=$?
    OUT=$(cat "$T/out")
    ERR=$(cat "$T/err")
    RAN=$(printf '%q ' "$@")
}

# check_stderr CODE — the stderr of the last run_cmd keeps the CLI's promise
# for exit CODE:
#   - success (0): nothing at all on stderr;
#   - failure (1 or 2): exactly one line, "p11jwt: " and a message.
check_stderr() {
    local code=$1 n msg
    local -a lines
    if [[ $code -eq 0 ]]; then
        [[ -s $T/err ]] && fail "success but stderr is not empty: $RAN: $ERR"
        return 0
    fi
    mapfile -t lines <"$T/err"
    n=${#lines[@]}
    [[ $n -eq 1 ]] || fail "stderr should be one 'p11jwt: ' line, got $n lines: $RAN: $ERR"
    [[ ${lines[0]} == "p11jwt: "?* ]] || fail "stderr does not start with 'p11jwt: ': $RAN: $ERR"
    # "clear": a message, not just a prefix (e.g. "p11jwt: sign: " and nothing).
    msg=${lines[0]#p11jwt: }
    msg=${msg#*: }
    [[ ${#msg} -ge 8 ]] || fail "stderr message is too short to be useful: $RAN: $ERR"
    return 0
}

# expect_exit CODE CMD [ARG...]
#
# run_cmd, then fail the test unless CMD exited with CODE and its stderr has
# the shape check_stderr describes. `expect_exit 1 p11jwt verify ... <<<"$jws"`
# works: the here-string is the function's stdin, which CMD inherits.
expect_exit() {
    local want=$1
    shift
    run_cmd "$@"
    if [[ $RC -ne $want ]]; then
        printf -- '--- stdout:\n%s\n--- stderr:\n%s\n---\n' "$(head -c 2000 "$T/out")" "$ERR" >&2
        fail "expected exit $want, got $RC: $RAN"
    fi
    check_stderr "$want"
}

# The stderr of the last expect_exit must match an extended regex (case
# insensitive): for the few messages the CLI itself words.
expect_err_matches() {
    grep -Eqi -- "$1" <<<"$ERR" || fail "stderr '$ERR' does not match /$1/"
}

# Number of keys `p11jwt list --json` shows.
key_count() {
    p11jwt list "${TOK[@]}" --json | "$PYTHON" -c 'import json,sys; print(len(json.load(sys.stdin)))'
}

# Number of objects of any class pkcs11-tool sees on the token (logged in):
# catches a half-made key that `list` might fold away.
object_count() {
    p11tool --list-objects 2>/dev/null | grep -c 'Object;' || true
}

# Writes a JWKS with only these kids (default: all EC keys) to FILE.
export_jwks() {
    local file=$1
    shift
    local -a kids=()
    local k
    for k in "$@"; do kids+=(--kid "$k"); done
    p11jwt jwks --token "$TOKEN" "${kids[@]}" >"$file" || fail "jwks ${*:-} failed"
}
