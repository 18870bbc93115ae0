#!/usr/bin/env bash
# scope.sh — scope sets in the fleet's Redis (issue 12, "Scopes"): the
# entry's key names the normalised scope set asked for, so separate `p11jwt
# token --scope` commands (each its own process, with only Redis between
# them) and two agents (two hosts) share one token per set: "a b", "b a"
# and "a b a" one entry, "c" another, the profile's own scope a third.
# Every entry sealed in the token: Redis holds no readable token.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../exchange/lib.sh"
source "$(dirname "$0")/../agent/lib.sh"
source "$(dirname "$0")/lib.sh"

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid sc-1
export_jwks "$T/jwks.json" sc-1
fleet_setup --jwks "$T/jwks.json" --scopes 'backend=a b c'
conf <<EOF
[profile s]
dialect = rfc7523
token = $TOKEN
pin_file = $PIN_FILE
kid = sc-1
token_url = $STS/rfc7523/token
iss = backend
scope = b
cache = redis+unix://$REDIS_SOCK
cache_key = cachekey
EOF
ex() { calls /rfc7523/token; }
# entries: the fleet's token entries in Redis (not its locks)
entries() { rcli --scan --pattern 'p11jwt:*' | grep -vc ':lock$' || true; }

step "the CLI, one process per command: one exchange per scope set, shared through Redis"
expect_exit 0 x token --config "$CONF" --profile s --scope 'a b'
ab=$OUT
expect_exit 0 x token --config "$CONF" --profile s --scope 'b a'
[[ $OUT == "$ab" ]] || fail "'b a' in a new process: another token"
expect_exit 0 x token --config "$CONF" --profile s --scope 'a b a'
[[ $OUT == "$ab" ]] || fail "'a b a' in a new process: another token"
[[ $(ex) == 1 ]] || fail "one scope set asked three ways: $(ex) exchanges, expected 1"
expect_exit 0 x token --config "$CONF" --profile s --scope c
c=$OUT
[[ $c != "$ab" && $(ex) == 2 ]] || fail "scope c: the same token, or $(ex) exchanges (expected 2)"
expect_exit 0 x token --config "$CONF" --profile s --scope 'c c'
[[ $OUT == "$c" && $(ex) == 2 ]] || fail "scope 'c c' again: another token or an exchange"
expect_exit 0 x token --config "$CONF" --profile s
b=$OUT
expect_exit 0 x token --config "$CONF" --profile s --scope b
[[ $OUT == "$b" && $b != "$ab" && $b != "$c" && $(ex) == 3 ]] ||
    fail "the profile's scope (b): $(ex) exchanges (expected 3), or a shared token"
n=$(entries)
((n == 3)) || fail "Redis holds $n entries, expected 3 (one per scope set)"
step "STS exchanges for 3 scope sets asked 7 times by 7 processes: $(ex); Redis entries: $n"

step "two hosts: host b takes host a's token of a set, by any spelling"
start_hosts
v=$(curl -sS --unix-socket "$SOCK_A" 'http://agent/v1/token/s?scope=c+a' |
    "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
[[ $(ex) == 4 ]] || fail "a new set (a c) on host a: $(ex) exchanges, expected 4"
w=$(timeout 60 "$P11JWT_TOKEN_BIN" --socket "$SOCK_B" s --scope 'a c a')
[[ $w == "$v" && $(ex) == 4 ]] || fail "host b, set 'a c': another token or an exchange"
w=$(timeout 60 "$P11JWT_TOKEN_BIN" --socket "$SOCK_B" s --scope 'b a')
[[ $w == "$ab" && $(ex) == 4 ]] || fail "host b, set 'a b': not the CLI's token from Redis"
assert_unreadable "$ab" "$c" "$b" "$v"
