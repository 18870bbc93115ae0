#!/usr/bin/env bash
# start.sh — what the agent checks before it listens, and how it listens:
# a wrong PIN ends the start with a clear message (once, not retried); the
# PIN from a systemd credential (pin_credential, $CREDENTIALS_DIRECTORY);
# the socket's directory made 0750 and the socket 0660 (or --socket-mode);
# a live agent's socket is never taken, a dead one's is replaced, a file
# that is not a socket is left alone; the default socket under
# $XDG_RUNTIME_DIR, found by p11jwt-token; --profile; core dumps off and
# the descriptor limit raised; p11jwt-token linked against libc alone.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../exchange/lib.sh"
source "$(dirname "$0")/lib.sh"

dt_setup
dt_profile dt
dt_profile other

# fails_to_start REGEX ARGS...: exit 1 within 30 s, one line matching REGEX
fails_to_start() {
    local re=$1
    shift
    run_cmd timeout 30 "$P11JWT_BIN" agent "$@"
    [[ $RC == 1 ]] || fail "agent $*: exit $RC, expected 1: $ERR"
    check_stderr 1
    expect_err_matches "$re"
}

step "a wrong PIN: the start fails at once, with a clear message"
echo 000000 >"$T/wrong.pin"
sed "s|^pin_file = .*|pin_file = $T/wrong.pin|" "$CONF" >"$T/wrong.conf"
t0=$(now_ms)
fails_to_start "profile 'dt'.*(PIN|CKR_PIN_INCORRECT)" --config "$T/wrong.conf" --socket "$T/w.sock"
((($(now_ms) - t0) < 10000)) || fail "a wrong PIN took $(($(now_ms) - t0)) ms to fail"
[[ ! -e $T/w.sock ]] || fail "a socket was made although the start failed"
step "wrong PIN: $ERR"
# Tried once: the right PIN still works (the token did not lock).
expect_exit 0 p11jwt list "${TOK[@]}"

step "pin_credential: the PIN from \$CREDENTIALS_DIRECTORY"
mkdir -m 700 "$T/creds"
cp "$PIN_FILE" "$T/creds/token-pin"
sed "s|^pin_file = .*|pin_credential = token-pin|" "$CONF" >"$T/cred.conf"
fails_to_start 'CREDENTIALS_DIRECTORY' --config "$T/cred.conf" --socket "$T/c.sock"
CREDENTIALS_DIRECTORY=$T/creds start_agent_at "$T/c.sock" cred --config "$T/cred.conf"
[[ -n $(ptok dt) ]] || fail "no token with the PIN from a credential"
stop_agent
printf 'pin_file = %s\n' "$PIN_FILE" >>"$T/cred.conf"
CREDENTIALS_DIRECTORY=$T/creds fails_to_start 'one of pin_credential, pin_file' \
    --config "$T/cred.conf" --socket "$T/c2.sock"

step "the socket: directory 0750, socket 0660; --socket-mode"
ulimit -Sn 1024 # the agent must raise it
start_agent_at "$T/run/agent.sock" modes
[[ $(stat -c %a "$T/run") == 750 ]] || fail "directory mode $(stat -c %a "$T/run"), expected 750"
[[ $(stat -c %a "$T/run/agent.sock") == 660 ]] ||
    fail "socket mode $(stat -c %a "$T/run/agent.sock"), expected 660"
limits=$(cat "/proc/$AGENT_PID/limits")
grep -Eq '^Max core file size +0 +0 ' <<<"$limits" || fail "core dumps not disabled: $(grep core <<<"$limits")"
# the descriptor limit raised to the hard one (at most 65536), for floods
read -r soft hard < <(sed -n 's/^Max open files *\([0-9]*\) *\([0-9]*\).*/\1 \2/p' <<<"$limits")
want=$((hard > 65536 ? 65536 : hard))
((soft == want)) || fail "open files: soft limit $soft, expected $want (hard $hard)"

step "a live agent's socket is not taken"
fails_to_start 'already answers' --config "$CONF" --socket "$T/run/agent.sock"
[[ -n $(ptok dt) ]] || fail "the first agent stopped serving"

step "a dead agent's socket is replaced"
kill -KILL "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true
[[ -S $T/run/agent.sock ]] || fail "no stale socket left to test with"
start_agent_at "$T/run/agent.sock" again --socket-mode 0600
[[ $(stat -c %a "$T/run/agent.sock") == 600 ]] || fail "--socket-mode 0600: $(stat -c %a "$T/run/agent.sock")"
[[ -n $(ptok dt) ]] || fail "no token from the replacing agent"
stop_agent

step "a file that is not a socket is left alone"
echo keep >"$T/plain"
fails_to_start 'not a socket' --config "$CONF" --socket "$T/plain"
[[ $(cat "$T/plain") == keep ]] || fail "the file was touched"

step "default socket: \$XDG_RUNTIME_DIR/p11jwt/agent.sock, found by p11jwt-token"
mkdir -m 700 "$T/xdg"
XDG_RUNTIME_DIR=$T/xdg "$P11JWT_BIN" agent --config "$CONF" --profile dt 2>"$T/xdg.log" &
AGENT_PID=$!
AGENT_PIDS+=("$AGENT_PID")
AGENT_LOGS+=("$T/xdg.log")
SOCK=$T/xdg/p11jwt/agent.sock
AGENT_LOG=$T/xdg.log
wait_agent "$AGENT_PID"
out=$(XDG_RUNTIME_DIR=$T/xdg timeout 30 "$P11JWT_TOKEN_BIN" dt) || fail "p11jwt-token did not find the agent"
[[ -n $out ]] || fail "no token through the default socket"
step "--profile: only the named profiles are served"
[[ $(ag -o /dev/null -w '%{http_code}' http://agent/v1/token/other) == 404 ]] ||
    fail "a profile not named by --profile is served"
stop_agent
fails_to_start "no \\[profile nope\\]" --config "$CONF" --profile nope --socket "$T/n.sock"
fails_to_start "given twice" --config "$CONF" --profile dt --profile dt --socket "$T/n.sock"
: >"$T/empty.conf"
fails_to_start "no \\[profile NAME\\]" --config "$T/empty.conf" --socket "$T/n.sock"
expect_usage "$P11JWT_BIN" agent --socket-mode 0999
expect_usage "$P11JWT_BIN" agent --max-connections 0
expect_usage "$P11JWT_BIN" agent extra

step "p11jwt-token needs libc alone"
needed=$(readelf -d "$P11JWT_TOKEN_BIN" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p' |
    grep -Ev '^lib(asan|ubsan|lsan|tsan)\.so' | tr '\n' ' ' || true)
if [[ -z $needed ]]; then
    # Linked static-pie (CMakeLists.txt, P11JWT_TOKEN_STATIC): no loader,
    # and of the libraries only libc's code inside.
    readelf -l "$P11JWT_TOKEN_BIN" | awk '/INTERP/ { f = 1 } END { exit f }' ||
        fail "p11jwt-token: no NEEDED, but an INTERP"
    nm "$P11JWT_TOKEN_BIN" 2>/dev/null | awk '$NF == "main" { f = 1 } END { exit !f }' ||
        fail "p11jwt-token (static) has no symbol table to check"
    others=$(nm "$P11JWT_TOKEN_BIN" | awk '{ print $NF }' |
        grep -E '^(EVP_|OPENSSL_|curl_|p11_kit_|json_|MHD_|sd_|redis|p11jwt_)' | head -n 3 |
        tr '\n' ' ' || true)
    [[ -z $others ]] || fail "p11jwt-token (static) holds more than libc: $others"
    step "p11jwt-token: static-pie, libc only"
else
    [[ $needed == "libc.so.6 " ]] || fail "p11jwt-token needs: $needed"
fi
