#!/usr/bin/env bash
# fallback_dt: mid-rotation against an STS that answers an unknown key id
# the way Disruptive Technologies documents it (seeds/001, "Other"): HTTP
# 400 with a bare {"error": "invalid_grant"}. The exchange must take that
# as pointing at the key and fall back once to the staged (next) key; and
# an STS that knows neither key gets one clear error naming both.
set -euo pipefail
source "$(dirname "$0")/rlib.sh"

secret() { (umask 077 && head -c 48 /dev/urandom | base64 | tr -d '\n/+' | head -c 32 >"$1"); }
secret "$T/old.secret"
secret "$T/new.secret"
expect_exit 0 p11jwt import-secret "${TOK[@]}" --kid old-key-id --alg HS256 --secret-file "$T/old.secret"

# start_dt KID=FILE...: the test STS trusting exactly these HMAC keys
start_dt() {
    local args=() s
    for s in "$@"; do args+=(--secret "$s"); done
    stop_sts
    rm -f "$T/sts.port"
    "$PYTHON" "$STS_PY" --port "$STS_PORT" --port-file "$T/sts.port" "${args[@]}" \
        2>>"$T/sts.log" &
    STS_PID=$!
    for _ in $(seq 100); do [[ -s $T/sts.port ]] && break; sleep 0.05; done
    [[ -s $T/sts.port ]] || fail "the test STS did not start: $(tail -5 "$T/sts.log")"
    STS_PORT=$(cat "$T/sts.port")
}
start_dt "old-key-id=$T/old.secret"
cat >"$CONFIG" <<CONF
[profile rot]
dialect = dt
token = $TOKEN
pin_file = $PIN_FILE
kid = old-key-id
iss = sa@example.serviceaccount.d21s.com
token_url = http://127.0.0.1:$STS_PORT/dt/token
max_retries = 0
CONF
expect_exit 0 p11jwt token --profile rot --config "$CONFIG"

step "the STS answers an unknown kid with a bare invalid_grant"
start_dt "other=$T/new.secret"
expect_exit 1 p11jwt token --profile rot --config "$CONFIG"
expect_err_matches 'HTTP 400\): invalid_grant( |$)'

step "staged next key known to the STS, active one not: falls back to next"
expect_exit 0 rot stage --kid new-key-id --secret-file "$T/new.secret"
start_dt "new-key-id=$T/new.secret"
run_cmd p11jwt token --profile rot --config "$CONFIG"
[[ $RC -eq 0 ]] || fail "the exchange did not fall back on a bare invalid_grant: $ERR"
[[ -n $OUT ]] || fail "no token"
grep -q "refused kid 'old-key-id' and accepted kid 'new-key-id'" <<<"$ERR" ||
    fail "no notice about the fallback: $ERR"
grep -q "promote' is safe" <<<"$ERR" || fail "the notice does not say promote is safe: $ERR"

step "neither key known: one error naming both kids"
start_dt "unrelated=$T/new.secret"
run_cmd p11jwt token --profile rot --config "$CONFIG"
[[ $RC -eq 1 ]] || fail "expected exit 1, got $RC: $ERR"
last=$(tail -1 <<<"$ERR")
grep -q "old-key-id" <<<"$last" && grep -q "new-key-id" <<<"$last" ||
    fail "the error does not name both kids: $last"
echo "dt fallback ok"
