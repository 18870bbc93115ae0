#!/usr/bin/env bash
# revoke.sh — RFC 7009 revocation across the fleet: `p11jwt revoke
# --agent` on one host revokes the token at the STS (the STS counts it),
# the resource then answers 401, and the next request on either host gets
# a new token (one exchange for the fleet: the other host finds it in
# Redis once it drops the revoked one). The STS answers 200 for a token it
# does not know (RFC 7009 2.2); a 503 is retried; a refusal is shown with
# the provider's text. A client-credentials profile authenticates with
# HTTP Basic as at its token endpoint.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../exchange/lib.sh"
source "$(dirname "$0")/../agent/lib.sh"
source "$(dirname "$0")/lib.sh"

make_secret "$T/cc.secret"
fleet_setup --client "svc=$T/cc.secret"
fleet_profile dt "revocation_url = $STS/dt/revoke" "retry_base = 0.1"
conf <<EOF2

[profile cc]
dialect = client-credentials
token_url = $STS/cc/token
revocation_url = $STS/cc/revoke
client_id = svc
client_secret_file = $T/cc.secret
EOF2
start_hosts
revoked() { sts_stats | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["revoked"])'; }
res() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" "$STS/${2:-dt}/resource"; }

step "the STS: 200 for a token it does not know, 400 without a token"
code=$(curl -s -o /dev/null -w '%{http_code}' -d 'token=not-a-token' "$STS/dt/revoke")
[[ $code == 200 ]] || fail "revoking an unknown token: $code, RFC 7009 says 200"
code=$(curl -s -o /dev/null -w '%{http_code}' -d 'token_type_hint=access_token' "$STS/dt/revoke")
[[ $code == 400 ]] || fail "a revocation without a token: $code, expected 400"
code=$(curl -s -o /dev/null -w '%{http_code}' -d 'token=x' "$STS/cc/revoke")
[[ $code == 401 ]] || fail "an unauthenticated client-credentials revocation: $code, expected 401"
sts_control '{"reset_stats": true}'

t1=$(tok_at "$SOCK_A")
[[ $(tok_at "$SOCK_B") == "$t1" ]] || fail "the hosts do not share"
[[ $(res "$t1") == 200 ]] || fail "the resource refuses the fresh token"
(($(calls /dt/token) == 1)) || fail "two hosts, one token: $(calls /dt/token) exchanges"

step "revoke through host a"
expect_exit 0 x revoke --profile dt --agent="$SOCK_A"
(($(calls /dt/revoke revoke) == 1)) || fail "the STS saw $(calls /dt/revoke revoke) revocations"
(($(revoked) == 1)) || fail "the STS revoked $(revoked) tokens, expected 1"
[[ $(res "$t1") == 401 ]] || fail "the resource still takes the revoked token"
rcli --scan --pattern 'p11jwt:*' | grep -qv ':lock$' && fail "Redis still holds the revoked token"
t2=$(tok_at "$SOCK_A")
[[ $t2 != "$t1" ]] || fail "host a still hands out the revoked token"
(($(calls /dt/token) == 2)) || fail "host a: expected one new exchange"
step "host b: after the resource's 401 it drops the token and takes the fleet's new one"
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK_B" -X POST \
    -d "{\"access_token\": \"$t1\"}" http://agent/v1/token/dt/invalidate)
[[ $code == 204 ]] || fail "invalidate on host b: $code"
[[ $(tok_at "$SOCK_B") == "$t2" ]] || fail "host b did not take the fleet's new token"
(($(calls /dt/token) == 2)) || fail "host b exchanged instead of sharing"
[[ $(res "$t2") == 200 ]] || fail "the new token is refused"

step "a 503 is retried; a refusal shows the provider's text"
sts_control '{"path": "/dt/revoke", "status": 503, "count": 1}'
expect_exit 0 x revoke --profile dt --agent="$SOCK_B"
(($(calls /dt/revoke revoke) == 3)) || fail "the 503 was not retried: $(calls /dt/revoke revoke) calls"
[[ $(res "$t2") == 401 ]] || fail "the resource still takes the token revoked through host b"
tok_at "$SOCK_B" >/dev/null
sts_control '{"path": "/dt/revoke", "status": 400, "count": 1, "body": {"error": "invalid_request", "error_description": "revocation is closed today"}}'
expect_exit 1 x revoke --profile dt --agent="$SOCK_B"
grep -q 'revocation is closed today' <<<"$ERR" || fail "the provider's text is not shown: $ERR"

step "the CLI without the agent revokes the fleet's token in Redis"
t3=$(tok_at "$SOCK_B")
expect_exit 0 x revoke --config "$T/host-a.conf" --profile dt
[[ $(res "$t3") == 401 ]] || fail "the fleet's token was not revoked"
expect_exit 1 x revoke --config "$T/host-a.conf" --profile dt
grep -q 'no token is cached' <<<"$ERR" || fail "with nothing cached: $ERR"

step "client-credentials: the client authenticates (HTTP Basic) to revoke"
c1=$(tok_at "$SOCK_A" cc)
[[ $(res "$c1" cc) == 200 ]] || fail "the cc token is refused"
expect_exit 0 x revoke --profile cc --agent="$SOCK_A"
[[ $(res "$c1" cc) == 401 ]] || fail "the cc token was not revoked"
sts_stats | "$PYTHON" -c '
import json, sys
reqs = [r for r in json.load(sys.stdin)["requests"] if r.get("kind") == "revoke" and "/cc/" in r.get("path", "")]
assert reqs and reqs[-1].get("auth_method") == "basic", reqs[-1:]' ||
    fail "the cc revocation did not authenticate with HTTP Basic"
for log in "$LOG_A" "$LOG_B"; do check_log_clean "$log" "$t1" "$t2" "$t3" "$c1"; done
