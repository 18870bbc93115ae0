#!/usr/bin/env bash
# reload.sh — SIGHUP reloads the config: an unchanged profile keeps its
# client and cached token (no new exchange, even when lines above it moved),
# a changed one is rebuilt (new token, new headers), an added one is served
# and a removed one is gone. A config with an error — bad syntax, an
# unknown key, an unknown user in allow, a token that cannot be opened — is
# refused with the reason logged, and the agent goes on serving the old one.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../exchange/lib.sh"
source "$(dirname "$0")/lib.sh"

dt_setup
write_conf() { # write_conf HEADER-VALUE [extra profile] [comment lines]
    : >"$CONF"
    printf '%s\n' "${@:3}" >>"$CONF"
    dt_profile keep
    dt_profile change "header.X-V = $1"
    [[ -z $2 ]] || dt_profile "$2"
}
write_conf 1 gone
start_agent a

# tok NAME: the token handed out now
tok() { ag "http://agent/v1/token/$1" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'; }
reloads() { grep -cE 'reloaded|reload refused' "$AGENT_LOG" || true; }
hup() {
    local n
    n=$(reloads)
    kill -HUP "$AGENT_PID"
    for ((i = 0; i < 300; i++)); do
        (($(reloads) > n)) && return 0
        sleep 0.1
    done
    fail "no reload logged within 30 s of SIGHUP"
}

keep=$(tok keep)
change=$(tok change)
[[ -n $(tok gone) ]] || fail "gone: no token"
[[ $(calls /dt/token) == 3 ]] || fail "3 profiles: $(calls /dt/token) exchanges"

step "SIGHUP: keep unchanged (moved down two lines), change changed, gone removed, new added"
write_conf 2 new '# a comment' '; another'
hup
grep -q 'reloaded .*keep (kept), change (rebuilt), new (added), gone (removed)' "$AGENT_LOG" ||
    fail "reload summary: $(tail -n 1 "$AGENT_LOG")"
[[ $(tok keep) == "$keep" ]] || fail "the unchanged profile lost its token"
[[ $(calls /dt/token) == 3 ]] || fail "the unchanged profile made a new exchange"
[[ $(tok change) != "$change" ]] || fail "the changed profile kept its old token"
ag http://agent/v1/token/change | grep -q '"headers":{"X-V":"2"}' || fail "the change's new header is not served"
[[ -n $(tok new) ]] || fail "the added profile is not served"
[[ $(ag -o /dev/null -w '%{http_code}' http://agent/v1/token/gone) == 404 ]] || fail "the removed profile is still served"
n=$(calls /dt/token)
[[ $n == 5 ]] || fail "after the reload: $n exchanges, expected 5 (change and new)"

# refused REGEX: the reload was refused with a reason matching REGEX and the
# agent still serves the old set, keep's token unchanged and no exchange.
refused() {
    hup
    tail -n 1 "$AGENT_LOG" | grep -Eq "reload refused, still serving the previous configuration: .*$1" ||
        fail "reload not refused with /$1/: $(tail -n 1 "$AGENT_LOG")"
    kill -0 "$AGENT_PID" || fail "the agent died on a bad config"
    [[ $(tok keep) == "$keep" && -n $(tok new) ]] || fail "the old config is not served after a refused reload"
    [[ $(calls /dt/token) == "$n" ]] || fail "a refused reload made an exchange"
}
step "a config with a syntax error"
cp "$CONF" "$T/good.conf"
printf '\n[profile broken\n' >>"$CONF"
refused "p11jwt.conf:[0-9]+: section header"
step "an unknown key"
cp "$T/good.conf" "$CONF"
printf 'colour = blue\n' >>"$CONF"
refused "colour: unknown key"
step "an unknown user in allow"
cp "$T/good.conf" "$CONF"
printf 'allow = user:no-such-user-p11jwt\n' >>"$CONF"
refused "no user named 'no-such-user-p11jwt'"
step "a changed profile whose token cannot be opened"
cp "$T/good.conf" "$CONF"
sed -i "/^\[profile change\]/,/^\[/ s|^token = .*|token = pkcs11:token=no-such-token|" "$CONF"
refused "profile 'change': token: no token matches"
[[ $(tok change) != "" ]] || fail "change is not served after a refused reload"

step "the good config again"
cp "$T/good.conf" "$CONF"
hup
tail -n 1 "$AGENT_LOG" | grep -q 'reloaded .*keep (kept), change (kept), new (kept)' ||
    fail "reload: $(tail -n 1 "$AGENT_LOG")"
ag http://agent/metrics | grep -q '^p11jwt_agent_reloads_total{result="refused"} 4$' ||
    fail "metrics: refused reloads not counted"
stop_agent
[[ $AGENT_RC == 0 ]] || fail "agent exit $AGENT_RC"
check_log_clean "$AGENT_LOG" "$keep" "$change"
