#!/usr/bin/env bash
# peercred.sh — who may ask: the kernel's SO_PEERCRED against each profile's
# allow. A caller running as nobody (setpriv) is refused with 404 — the very
# answer an unknown profile gets, so profile names cannot be enumerated —
# and a log line naming its uid, gid and pid, and the agent keeps serving
# the others;
# a profile without allow serves the agent's own uid only; user:, uid:,
# group: (supplementary groups included) and gid: rules let the right
# callers in and no one else; health lists only a caller's profiles.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../exchange/lib.sh"
source "$(dirname "$0")/lib.sh"
command -v setpriv >/dev/null 2>&1 || skip "setpriv (util-linux) is not installed"
[[ $(id -u) == 0 ]] || skip "running callers as other users needs root"
getent passwd nobody >/dev/null || skip "no user 'nobody'"

dt_setup
dt_profile dt
dt_profile for-nobody 'allow = user:nobody'
dt_profile by-uid 'allow = uid:4242 uid:65534'
dt_profile by-group 'allow = gid:4343'
dt_profile by-groupname 'allow = group:nogroup'
public_sockdir
start_agent_at "$SOCKDIR/agent.sock" a --socket-mode 0666

# code_as WHO PATH: the HTTP status a caller gets (WHO: root, nobody, or
# setpriv options)
code_as() {
    local who=$1 path=$2
    local -a pre=()
    case $who in
        root) ;;
        nobody) pre=(setpriv --reuid 65534 --regid 65534 --clear-groups --) ;;
        *) read -r -a pre <<<"setpriv $who --"
    esac
    # The body through our own redirection: the caller cannot write in $T.
    "${pre[@]}" curl -s -w '%{stderr}%{http_code}' --max-time 30 --unix-socket "$SOCK" \
        "http://agent$path" >"$T/body" 2>"$T/code" || true
    cat "$T/code"
}

step "nobody asks for a profile without allow: 404, logged, others still served"
[[ $(code_as root /v1/token/dt) == 200 ]] || fail "the agent's own uid was refused"
[[ $(code_as nobody /v1/token/dt) == 404 ]] || fail "nobody was not refused: $(cat "$T/body")"
grep -q '"error":"not_found"' "$T/body" || fail "404 body: $(cat "$T/body")"
not_allowed=$(sed 's/dt/NAME/g' "$T/body")
# An unknown profile: the same status and the same body, but for its name.
[[ $(code_as nobody /v1/token/zz) == 404 ]] || fail "unknown profile: $(cat "$T/body")"
[[ $(sed 's/zz/NAME/g' "$T/body") == "$not_allowed" ]] ||
    fail "unknown and not-allowed profiles answer differently: $(cat "$T/body") / $not_allowed"
for name in dt zz; do
    for ep in "/v1/assertion/$name -X POST" "/v1/jwks/$name" "/v1/token/$name"; do
        read -r path extra <<<"$ep"
        setpriv --reuid 6000 --regid 6000 --clear-groups -- curl -s -w ' %{http_code}' \
            ${extra:+$extra} --unix-socket "$SOCK" "http://agent$path" |
            sed "s/$name/NAME/g" >>"$T/answers.$name"
    done
done
cmp -s "$T/answers.dt" "$T/answers.zz" ||
    fail "a uid allowed nothing tells known from unknown profiles: $(cat "$T/answers.dt") / $(cat "$T/answers.zz")"
grep -q ' 404$' "$T/answers.dt" || fail "answers to a uid allowed nothing: $(cat "$T/answers.dt")"
run_cmd as_nobody timeout 30 "$P11JWT_TOKEN_BIN" --socket "$SOCK" dt
[[ $RC == 1 && $ERR == "p11jwt-token: no profile 'dt' is served here to uid 65534" ]] ||
    fail "p11jwt-token as nobody: exit $RC: $ERR"
wait_log "refused uid 65534 gid 65534 pid [0-9]+: token of profile 'dt'"
elapsed_ms code_as root /v1/token/dt >/dev/null
((MS < 1000)) || fail "the agent took $MS ms to serve root after refusing nobody"
[[ $(code_as root /v1/token/dt) == 200 ]] || fail "root refused after nobody was"
for ep in "/v1/assertion/dt -X POST" "/v1/jwks/dt" "/v1/token/dt/invalidate -X POST"; do
    read -r path extra <<<"$ep"
    code=$(setpriv --reuid 65534 --regid 65534 --clear-groups -- curl -s -o /dev/null \
        -w '%{http_code}' ${extra:+$extra} --unix-socket "$SOCK" "http://agent$path")
    [[ $code == 404 ]] || fail "nobody got $code from $path"
done

step "allow = user:nobody, uid:N, group:NAME, gid:N"
[[ $(code_as nobody /v1/token/for-nobody) == 200 ]] || fail "user:nobody refused nobody"
[[ $(code_as root /v1/token/for-nobody) == 404 ]] ||
    fail "allow = user:nobody still let the agent's own uid in"
[[ $(code_as nobody /v1/token/by-uid) == 200 ]] || fail "uid:65534 refused nobody"
[[ $(code_as '--reuid 4242 --regid 4242 --clear-groups' /v1/token/by-uid) == 200 ]] ||
    fail "uid:4242 refused uid 4242"
[[ $(code_as '--reuid 4343 --regid 4343 --clear-groups' /v1/token/by-uid) == 404 ]] ||
    fail "uid 4343 let in by 'uid:4242 uid:65534'"
[[ $(code_as '--reuid 5000 --regid 4343 --clear-groups' /v1/token/by-group) == 200 ]] ||
    fail "gid:4343 refused primary gid 4343"
[[ $(code_as '--reuid 5000 --regid 5000 --groups 4343' /v1/token/by-group) == 200 ]] ||
    fail "gid:4343 refused a caller with supplementary group 4343"
[[ $(code_as '--reuid 5000 --regid 5000 --clear-groups' /v1/token/by-group) == 404 ]] ||
    fail "gid:4343 let in a caller without that group"
[[ $(code_as nobody /v1/token/by-groupname) == 200 ]] || fail "group:nogroup refused nobody"

step "health and metrics: only for callers some profile allows"
[[ $(code_as nobody /v1/health) == 200 ]] || fail "health refused nobody"
pycheck "$(cat "$T/body")" <<'PY'
import json, sys
from itlib import check
d = json.loads(sys.argv[1])
check(set(d["profiles"]) == {"for-nobody", "by-uid", "by-groupname"},
      f"nobody sees {sorted(d['profiles'])}")
PY
[[ $(code_as '--reuid 6000 --regid 6000 --clear-groups' /v1/health) == 403 ]] ||
    fail "health answered a uid no profile allows"
[[ $(code_as '--reuid 6000 --regid 6000 --clear-groups' /metrics) == 403 ]] ||
    fail "metrics answered a uid no profile allows"
[[ $(code_as root /metrics) == 200 ]] || fail "metrics refused the agent's own uid"

step "a profile's allow naming an unknown user refuses the start"
dt_profile bad 'allow = user:no-such-user-p11jwt'
run_cmd timeout 60 "$P11JWT_BIN" agent --config "$CONF" --socket "$T/b.sock"
[[ $RC == 1 && $ERR == *"no user named 'no-such-user-p11jwt'"* ]] ||
    fail "unknown user in allow: exit $RC: $ERR"
check_stderr 1
stop_agent
[[ $AGENT_RC == 0 ]] || fail "agent exit $AGENT_RC"
