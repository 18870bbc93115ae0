#!/usr/bin/env bash
# user_agent.sh — a user's own agent, its socket in $XDG_RUNTIME_DIR/p11jwt
# (made 0750), shares that directory with rotation's lock files: /v1/jwks
# answers 200 (not 503), and `p11jwt jwks --profile` by the same user works
# beside it. A profile that sends a client secret has no key: /v1/assertion
# and /v1/jwks of it answer 404 with a message saying so.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../exchange/lib.sh"
source "$(dirname "$0")/lib.sh"

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid ec-1
make_secret "$T/cs.secret"
start_sts sts
conf <<EOF2
[profile ec]
dialect = rfc7523
token = $TOKEN
pin_file = $PIN_FILE
kid = ec-1
iss = ec-client
token_url = $STS/rfc7523/token

[profile cs]
dialect = client-credentials
client_id = cs-client
client_secret_file = $T/cs.secret
token_url = $STS/client-credentials/token
EOF2
mkdir -m 0700 "$T/xdg"
export XDG_RUNTIME_DIR=$T/xdg
start_agent_at "$T/xdg/p11jwt/agent.sock" user
[[ $(stat -c %a "$T/xdg/p11jwt") == 750 ]] || fail "socket directory mode $(stat -c %a "$T/xdg/p11jwt")"

step "/v1/jwks of an EC profile: 200, the lock taken in \$XDG_RUNTIME_DIR/p11jwt"
code=$(ag -o "$T/body" -w '%{http_code}' http://agent/v1/jwks/ec)
[[ $code == 200 ]] || fail "/v1/jwks/ec: $code $(cat "$T/body")"
pycheck "$(cat "$T/body")" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
assert [k["kid"] for k in d["keys"]] == ["ec-1"], d
PY
ls "$T/xdg/p11jwt"/keyring-*.lock >/dev/null 2>&1 || fail "no lock file in \$XDG_RUNTIME_DIR/p11jwt"
expect_exit 0 p11jwt jwks --profile ec --config "$CONF"

step "a client-secret profile has no key: 404 for /v1/assertion and /v1/jwks"
for ep in "/v1/assertion/cs -X POST" "/v1/jwks/cs"; do
    read -r path extra <<<"$ep"
    code=$(ag -o "$T/body" -w '%{http_code}' ${extra:+$extra} "http://agent$path")
    [[ $code == 404 ]] || fail "$path: $code $(cat "$T/body")"
    grep -q '"error":"not_found"' "$T/body" || fail "$path: $(cat "$T/body")"
    grep -q "client secret" "$T/body" || fail "$path does not say why: $(cat "$T/body")"
done
stop_agent
[[ $AGENT_RC == 0 ]] || fail "agent exit $AGENT_RC"
echo "a user's agent serves its JWKS; a client-secret profile's key requests are 404"
