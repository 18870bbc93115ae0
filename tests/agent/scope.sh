#!/usr/bin/env bash
# scope.sh — the agent's ?scope= (issue 12, "Scopes"), against a real agent,
# a real token and the test STS acting as a real one (the client is
# registered for scopes a, b and c): two scope sets of one profile get two
# tokens (two exchanges at the STS), asked again they cost none; "b a" and
# "a b a" are the set "a b" and share its token, from curl (+ and %20),
# `p11jwt token --agent --scope` and `p11jwt-token --scope`; the profile's
# own set shares the profile's token; invalidating a scoped token drops
# only it; a bad scope is a 400 naming the byte, an invalid_scope from the
# STS a 502 with its description; `p11jwt call --agent --scope` on a 403
# insufficient_scope exits 1 naming the scope, with no new exchange.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../exchange/lib.sh"
source "$(dirname "$0")/lib.sh"

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid sc-1
export_jwks "$T/jwks.json"
start_sts sts --jwks "$T/jwks.json" --scopes 'backend=a b c'
conf <<EOF
[profile s]
dialect = rfc7523
token = $TOKEN
pin_file = $PIN_FILE
kid = sc-1
token_url = $STS/rfc7523/token
iss = backend
scope = c
EOF
start_agent a

# get PATH: status in $CODE, body in $BODY
get() {
    CODE=$(ag -o "$T/body" -w '%{http_code}' "http://agent$1")
    BODY=$(cat "$T/body")
}
# field NAME: a member of the last answer (read from its file: tok runs in
# a subshell)
field() { "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$T/body" "$1"; }
ex() { calls /rfc7523/token; }
# tok PATH: the token at PATH (200 required)
tok() {
    get "$1"
    [[ $CODE == 200 ]] || fail "$1: HTTP $CODE: $BODY"
    field access_token
}

step "two scope sets: two tokens, two exchanges, each granted its set"
ab=$(tok '/v1/token/s?scope=a+b')
[[ $(field scope) == 'a b' ]] || fail "scope a b granted '$(field scope)'"
bc=$(tok '/v1/token/s?scope=b%20c')
[[ $(field scope) == 'b c' ]] || fail "scope b c granted '$(field scope)'"
[[ $ab != "$bc" ]] || fail "two scope sets got one token"
[[ $(ex) == 2 ]] || fail "$(ex) exchanges for two scope sets, expected 2"

step "asked again: the same tokens, no exchange"
[[ $(tok '/v1/token/s?scope=a+b') == "$ab" ]] || fail "a b again: another token"
[[ $(tok '/v1/token/s?scope=b+c') == "$bc" ]] || fail "b c again: another token"
[[ $(ex) == 2 ]] || fail "asking again made $(($(ex) - 2)) exchanges"

step "'b a' and 'a b a' are the set 'a b': its token, from curl, p11jwt and p11jwt-token"
[[ $(tok '/v1/token/s?scope=b+a') == "$ab" ]] || fail "'b a' got another token"
[[ $(tok '/v1/token/s?min_valid=60&scope=a%20b%20a') == "$ab" ]] || fail "'a b a' got another token"
expect_exit 0 x token --agent="$SOCK" --profile s --scope 'a b a'
[[ $OUT == "$ab" ]] || fail "p11jwt token --agent --scope 'a b a' got another token"
expect_exit 0 x token --agent="$SOCK" --profile s --scope 'b  a' --json
pycheck "$OUT" "$ab" <<'PY'
import json, sys
from itlib import check
d = json.loads(sys.argv[1])
check(d["access_token"] == sys.argv[2] and d["scope"] == "a b", f"{d['scope']!r}")
PY
run_cmd ptok s --scope 'b a'
[[ $RC == 0 && $OUT == "$ab" ]] || fail "p11jwt-token --scope 'b a': exit $RC, $ERR"
[[ $(ex) == 2 ]] || fail "the same set in other words made $(($(ex) - 2)) exchanges"

step "the profile's own set (scope = c): the profile's token, with or without ?scope="
c=$(tok /v1/token/s)
[[ $(ex) == 3 ]] || fail "the profile's token: $(ex) exchanges, expected 3"
[[ $(tok '/v1/token/s?scope=c+c') == "$c" ]] || fail "?scope=c c is not the profile's token"
[[ $c != "$ab" && $c != "$bc" ]] || fail "the profile's token is a scope set's"
[[ $(ex) == 3 ]] || fail "?scope=c made an exchange"

step "invalidate a scoped token: only it is dropped, the next ask of its set exchanges"
code=$(ag -o /dev/null -w '%{http_code}' -X POST -d "{\"access_token\": \"$ab\"}" \
    http://agent/v1/token/s/invalidate)
[[ $code == 204 ]] || fail "invalidate: HTTP $code"
ab2=$(tok '/v1/token/s?scope=a+b')
[[ $ab2 != "$ab" && $(ex) == 4 ]] || fail "after invalidate: same token or $(ex) exchanges, expected 4"
[[ $(tok '/v1/token/s?scope=b+c') == "$bc" && $(tok /v1/token/s) == "$c" ]] ||
    fail "invalidating a b dropped another set's token"
[[ $(ex) == 4 ]] || fail "the other sets exchanged again"

step "a bad scope: 400 naming the byte, escaped; no exchange"
get '/v1/token/s?scope=a%22b'
[[ $CODE == 400 && $(field error) == bad_request ]] || fail "a\"b: HTTP $CODE $BODY"
[[ $(field message) == *"scope 'a\"b': byte 2 ('\"') is not allowed"* ]] || fail "message: $BODY"
get '/v1/token/s?scope=a%09b%1b'
[[ $CODE == 400 && $(field message) == *"scope 'a\\tb\\x1b': byte 2 ('\\t')"* ]] ||
    fail "a<TAB>b<ESC>: HTTP $CODE $BODY"
expect_exit 1 x token --agent="$SOCK" --profile s --scope 'x\y'
expect_err_matches "byte 2 \('\\\\\\\\'\) is not allowed"
run_cmd ptok s --scope 'a"'
[[ $RC == 1 && $ERR == *"byte 2"* ]] || fail "p11jwt-token --scope 'a\"': exit $RC, $ERR"
[[ $(ex) == 4 ]] || fail "a bad scope reached the STS"

step "invalid_scope from the STS: 502 with its description; the CLI exits 1 saying it"
get '/v1/token/s?scope=a+zz'
[[ $CODE == 502 && $(field error) == sts_refused ]] || fail "a zz: HTTP $CODE $BODY"
[[ $(field message) == *"invalid_scope: scope 'zz' is not granted to client 'backend'"* &&
    $(field message) == *"asked for scope 'a zz'"* ]] || fail "message: $BODY"
expect_exit 1 x token --agent="$SOCK" --profile s --scope 'zz'
expect_err_matches "invalid_scope: scope 'zz' is not granted to client 'backend'"

step "call --agent --scope: 403 insufficient_scope names the scope, no new exchange, no retry"
t0=$(ex)
expect_exit 1 x call --agent="$SOCK" --profile s --scope 'b a' "$STS/rfc7523/resource/need/c?q=1"
expect_err_matches "/rfc7523/resource/need/c: the resource answered HTTP 403 insufficient_scope: it wants scope 'c'"
[[ $ERR != *q=1* ]] || fail "the URL's query was shown: $ERR"
[[ $(ex) == "$t0" ]] || fail "insufficient_scope made $(($(ex) - t0)) exchanges"
[[ $(calls /rfc7523/resource/need/c resource) == 1 ]] || fail "the refused request was retried"
expect_exit 0 x call --agent="$SOCK" --profile s --scope 'c b' "$STS/rfc7523/resource/need/c"
[[ $(ex) == "$t0" ]] || fail "'c b' is the set 'b c': no exchange expected"

step "health and metrics hold no scoped token"
get /v1/health
for t in "$ab" "$ab2" "$bc" "$c"; do
    [[ $BODY != *"$t"* ]] || fail "a token in /v1/health"
done
get /metrics
for t in "$ab" "$ab2" "$bc" "$c"; do
    [[ $BODY != *"$t"* ]] || fail "a token in /metrics"
done
stop_agent
[[ $AGENT_RC == 0 ]] || fail "the agent exited $AGENT_RC"
for t in "$ab" "$ab2" "$bc" "$c"; do
    grep -qF -- "$t" "$AGENT_LOG" && fail "a token in the agent's log"
done
true
