#!/usr/bin/env bash
# tamper.sh — what Redis holds cannot be read, and what it hands back is
# not trusted: a value altered in Redis is refused (never used), logged,
# and a fresh exchange serves the request and replaces it. The CLI (the
# library client, a new process per command) shares through Redis too; a
# wrong Redis password ends in a local exchange; the profile refuses a
# Redis cache that would store readable tokens unless it says so; the
# A256GCM key is sensitive, non-extractable and encrypt/decrypt only.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../exchange/lib.sh"
source "$(dirname "$0")/../agent/lib.sh"
source "$(dirname "$0")/lib.sh"

fleet_setup
fleet_profile dt
start_hosts

step "the cache key's attributes"
out=$(pkcs11-tool --module "$SOFTHSM_MODULE" --token-label "$TOKEN_LABEL" --login \
    --pin "$(cat "$PIN_FILE")" --list-objects --type secrkey 2>/dev/null)
grep -q 'AES' <<<"$out" || fail "no AES key listed: $out"
grep -A8 'label: *cachekey' <<<"$out" >"$T/key.txt" || fail "the key cachekey is not listed"
grep -q 'Usage:.*encrypt.*decrypt' "$T/key.txt" || fail "the key cannot encrypt and decrypt: $(cat "$T/key.txt")"
grep -qiE 'Usage:.*(sign|wrap|derive)' "$T/key.txt" && fail "the key may do more than encrypt and decrypt: $(cat "$T/key.txt")"
grep -q 'never extractable' "$T/key.txt" || grep -q 'Access:.*sensitive' "$T/key.txt" ||
    fail "the key is not sensitive: $(cat "$T/key.txt")"
expect_exit 1 p11jwt keygen "${TOK[@]}" --alg A256GCM --kid cachekey
expect_usage x keygen "${TOK[@]}" --alg A256GCM

first=$(tok_at "$SOCK_A")
key=$(rcli --scan --pattern 'p11jwt:*')
[[ $key =~ ^p11jwt:[0-9a-f]{64}$ ]] || fail "unexpected Redis key '$key'"

step "a value altered in Redis is refused and replaced"
len=$(rcli STRLEN "$key")
rcli SETRANGE "$key" $((len - 5)) "X" >/dev/null
before=$(calls /dt/token)
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK_B" http://agent/v1/token/dt)
[[ $code == 200 ]] || fail "host b: $code with an altered value in Redis"
b=$(tok_at "$SOCK_B")
[[ $b != "$first" ]] || fail "host b used the altered value"
(($(calls /dt/token) == before + 1)) || fail "host b did not exchange after refusing the value"
grep -q "cache: the fleet's entry is refused" "$LOG_B" ||
    fail "host b did not log the refused value: $(tail -n 3 "$LOG_B")"
n=$(metric "$SOCK_B" p11jwt_agent_fleet_errors_total)
((n == 1)) || fail "host b did not count it once: p11jwt_agent_fleet_errors_total $n"
curl -sSf -o /dev/null -H "Authorization: Bearer $b" "$STS/dt/resource" ||
    fail "host b's fresh token is refused"
step "the value is whole again: host a takes host b's token from Redis"
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK_A" -X POST \
    -d "{\"access_token\": \"$first\"}" http://agent/v1/token/dt/invalidate)
[[ $code == 204 ]] || fail "invalidate: $code"
[[ $(tok_at "$SOCK_A") == "$b" ]] || fail "host a did not take the fleet's token"
(($(calls /dt/token) == before + 1)) || fail "host a exchanged instead of sharing"

assert_unreadable "$first" "$b"

step "the CLI shares through Redis: two processes, no exchange"
before=$(calls /dt/token)
c1=$(x token --config "$T/host-a.conf" --profile dt) || fail "p11jwt token failed"
c2=$(x token --config "$T/host-a.conf" --profile dt) || fail "p11jwt token failed"
[[ $c1 == "$b" && $c2 == "$b" ]] || fail "the CLI did not take the fleet's token"
(($(calls /dt/token) == before)) || fail "the CLI exchanged"

step "a wrong Redis password: a local exchange, a clear log line"
rcli CONFIG SET requirepass right-password >/dev/null
echo wrong-password >"$T/redis.pw"
cp "$T/host-a.conf" "$T/pw.conf"
echo "cache_password_file = $T/redis.pw" >>"$T/pw.conf"
x token --config "$T/pw.conf" --profile dt >"$T/out" 2>"$T/err" ||
    fail "a wrong Redis password failed the request: $(cat "$T/err")"
ERR=$(cat "$T/err")
grep -q 'p11jwt: cache: redis .*AUTH refused' <<<"$ERR" || fail "no line about the refused AUTH: $ERR"
(($(wc -l <"$T/err") == 1)) || fail "more than one line on stderr: $ERR"
grep -q 'wrong-password' <<<"$ERR" && fail "the password is shown: $ERR"
(($(calls /dt/token) == before + 1)) || fail "no local exchange with a wrong password"
echo right-password >"$T/redis.pw"
expect_exit 0 x token --config "$T/pw.conf" --profile dt
[[ -z $ERR ]] || fail "with the right password: $ERR"
(($(calls /dt/token) == before + 1)) || fail "the right password did not share"
rcli -a right-password --no-auth-warning CONFIG SET requirepass '' >/dev/null

step "profiles that would store readable tokens are refused"
cat >"$T/bad.conf" <<EOF2
[profile plain]
dialect = dt
token = $TOKEN
pin_file = $PIN_FILE
kid = k1
iss = svc@example.com
token_url = $STS/dt/token
cache = redis+unix://$REDIS_SOCK
EOF2
expect_exit 1 x token --config "$T/bad.conf" --profile plain
grep -q 'cache_key' <<<"$ERR" || fail "the refusal does not name cache_key: $ERR"
echo "cache_plaintext = yes" >>"$T/bad.conf"
expect_exit 0 x token --config "$T/bad.conf" --profile plain
sed -i 's/^cache = .*/cache = rediss:\/\/example.com/' "$T/bad.conf"
expect_exit 1 x token --config "$T/bad.conf" --profile plain
grep -q 'TLS' <<<"$ERR" || fail "rediss:// refused without saying why: $ERR"
sed -i 's/^cache = .*/cache = memory/' "$T/bad.conf"
expect_exit 1 x token --config "$T/bad.conf" --profile plain
grep -q 'cache_plaintext' <<<"$ERR" || fail "a fleet key without Redis: $ERR"
for log in "$LOG_A" "$LOG_B"; do check_log_clean "$log" "$first" "$b"; done
