#!/usr/bin/env bash
# no_secret_output.sh — no secret ever reaches an output. Every command
# runs, successes and failures, some with P11JWT_TRACE=1, with distinctive
# values for the PIN (from a file and from an environment variable), an
# HMAC secret, a client secret and the STS's access tokens: none may appear
# on stdout, stderr (trace output included) or in an audit file — except
# the access token on the stdout of `token`, which prints it by design.
# Covered: key commands, sign/verify, token/assertion/call on dt and jsa
# and client-credentials profiles, an STS that refuses, a jsa profile over
# TLS with an untrusted CA, a wrong PIN, a rotation with audit = file:,
# doctor on every profile (with --exchange and --json) and on a token and
# key, sign --audit (its audit file is checked too), and sign, batch and
# token through the fault-injecting PKCS#11 module (tests/p11fault):
# recovered faults, a device that stays gone, a refused PIN.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../fault/lib.sh"

PIN=$(cat "$PIN_FILE")
HMAC=HmacSecretDistinct$(rand_hex 12)
HMAC2=HmacSecretSecond$(rand_hex 12)
CLIENT=ClientSecretDistinct$(rand_hex 8)
STS_TOKEN=StsTokenDistinct$(rand_hex 10)
(umask 077 && printf '%s\n' "$HMAC" >"$T/hmac.secret" && printf '%s\n' "$HMAC2" >"$T/hmac2.secret" &&
    printf '%s\n' "$CLIENT" >"$T/client.secret")
export NSO_PIN=$PIN NSO_CLIENT=$CLIENT
: >"$T/all.out"         # every output that must hold no secret
: >"$T/tokens.out"      # token's stdout: access tokens by design

expect_exit 0 p11jwt import-secret "${TOK[@]}" --kid dt-key --alg HS256 --secret-file "$T/hmac.secret"
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid ec-key
export_jwks "$T/jwks.json"
start_sts sts --secret "dt-key=$T/hmac.secret" --secret "dt-next=$T/hmac2.secret" \
    --jwks "$T/jwks.json" --client "app=$T/client.secret"
PLAIN=$STS
PLAIN_CTL=$STS_CTL
command -v openssl >/dev/null 2>&1 || skip "openssl is not installed"
bash "$MKCERTS" "$T/pki" >/dev/null 2>&1 || fail "mkcerts.sh failed"
start_sts tls --tls-cert "$T/pki/server.pem" --tls-key "$T/pki/server.key" \
    --client "app=$T/client.secret"
TLS=$STS
STS=$PLAIN
STS_CTL=$PLAIN_CTL

conf <<CONF
[profile dt]
dialect = dt
token = $TOKEN
pin_file = $PIN_FILE
kid = dt-key
iss = sa@example.serviceaccount.d21s.com
token_url = $PLAIN/dt/token
max_retries = 0
audit = file:$T/audit.log

[profile dt-env]
dialect = dt
token = $TOKEN
pin_env = NSO_PIN
kid = dt-key
iss = sa@example.serviceaccount.d21s.com
token_url = $PLAIN/dt/token
max_retries = 0
audit = file:$T/audit.log
keyring = dt

[profile jsa]
dialect = jsa
client_id = app
client_secret_file = $T/client.secret
token_url = $PLAIN/jsa/token
max_retries = 0

[profile cc-env]
dialect = client-credentials
client_id = app
client_secret_env = NSO_CLIENT
token_url = $PLAIN/cc/token
max_retries = 0

[profile jsa-tls-untrusted]
dialect = jsa
client_id = app
client_secret_file = $T/client.secret
token_url = $TLS/jsa/token
ca_file = $T/pki/other-ca.pem
max_retries = 0

[profile jsa-down]
dialect = jsa
client_id = app
client_secret_file = $T/client.secret
token_url = http://127.0.0.1:9/jsa/token?client_secret=$CLIENT
max_retries = 0

[profile wrong-pin]
dialect = dt
token = $TOKEN
pin_file = $T/wrong.pin
kid = dt-key
iss = sa@example.serviceaccount.d21s.com
token_url = $PLAIN/dt/token
max_retries = 0
CONF
(umask 077 && printf 'wrong%s\n' "$PIN" >"$T/wrong.pin")

n=0
# r [TRACE] CMD...: runs p11jwt CMD, any exit; its stdout and stderr go to
# all.out (token's stdout to tokens.out)
r() {
    local trace= out=$T/all.out
    [[ $1 == TRACE ]] && { trace=1; shift; }
    [[ $1 == token ]] && out=$T/tokens.out
    n=$((n + 1))
    if [[ -n $trace ]]; then
        P11JWT_TRACE=1 timeout 60 "$P11JWT_BIN" "$@" >>"$out" 2>>"$T/all.out" <"${STDIN:-/dev/null}" || true
    else
        timeout 60 "$P11JWT_BIN" "$@" >>"$out" 2>>"$T/all.out" <"${STDIN:-/dev/null}" || true
    fi
}

step "key commands, PIN from a file and from the environment, with and without trace"
for t in "" TRACE; do
    for pin in "--pin-file $PIN_FILE" "--pin-env NSO_PIN" "--pin-file $T/wrong.pin"; do
        # shellcheck disable=SC2086
        {
            r $t list --token "$TOKEN" $pin --json
            r $t jwks --token "$TOKEN" $pin
            r $t keygen --token "$TOKEN" $pin --alg ES256
            r $t keygen --token "$TOKEN" $pin --alg HS256
            r $t sign --token "$TOKEN" $pin --kid dt-key --iss i --aud a
            STDIN=$T/hmac2.secret r $t import-secret --token "$TOKEN" $pin --kid "imp-$n" --alg HS256
            r $t import-secret --token "$TOKEN" $pin --kid dt-key --alg HS256 --secret-file "$T/hmac.secret"
            r $t delete --token "$TOKEN" $pin --kid nope --yes
        }
    done
done
expect_exit 0 p11jwt sign "${TOK[@]}" --kid dt-key --iss i --aud a
printf '%s\n' "$OUT" >"$T/jws"
for t in "" TRACE; do
    STDIN=$T/jws r $t verify --secret-file "$T/hmac.secret" --alg HS256 --aud a
    STDIN=$T/jws r $t verify --secret-file "$T/hmac2.secret" --alg HS256 --aud a
    STDIN=$T/jws r $t verify --token "$TOKEN" --pin-file "$PIN_FILE" --kid dt-key --aud a
    STDIN=$T/jws r $t verify --token "$TOKEN" --pin-env NSO_PIN --kid dt-key --aud wrong
    STDIN=$T/hmac.secret r $t verify --secret-file "$T/hmac.secret" --alg HS256
done

step "exchanges: success, an STS that refuses, TLS with an untrusted CA, a closed port"
for t in "" TRACE; do
    for p in dt dt-env jsa cc-env jsa-tls-untrusted jsa-down wrong-pin; do
        r $t token --config "$CONF" --profile "$p"
        r $t token --config "$CONF" --profile "$p" --json
        r $t assertion --config "$CONF" --profile "$p"
        r $t call --config "$CONF" --profile "$p" "$PLAIN/${p%%-*}/resource"
    done
    sts_control '{"path": "/dt/token", "status": 400, "count": 2,
                  "body": {"error": "invalid_grant", "error_description": "Invalid signature"}}'
    r $t token --config "$CONF" --profile dt
    sts_control '{"path": "/jsa/token", "status": 401, "body": {"error": "invalid_client"}}'
    r $t token --config "$CONF" --profile jsa
    sts_control '{"clear": true}'
done

step "doctor (every profile, --exchange, --json; a token and key) and sign --audit"
for t in "" TRACE; do
    for p in dt dt-env jsa cc-env jsa-tls-untrusted jsa-down wrong-pin; do
        r $t doctor --config "$CONF" --profile "$p" --exchange
        r $t doctor --config "$CONF" --profile "$p" --json --exchange
    done
    for pin in "--pin-file $PIN_FILE" "--pin-env NSO_PIN" "--pin-file $T/wrong.pin"; do
        # shellcheck disable=SC2086
        {
            r $t doctor --token "$TOKEN" $pin --kid dt-key --json
            r $t doctor --token "$TOKEN" $pin --kid ec-key
        }
    done
    r $t sign --token "$TOKEN" --pin-file "$PIN_FILE" --kid dt-key --iss i --aud a \
        --audit "file:$T/sign-audit.log"
    echo '{"n":1}' >"$T/one.jsonl"
    STDIN=$T/one.jsonl r $t sign --token "$TOKEN" --pin-env NSO_PIN --kid ec-key --iss i \
        --aud a --batch --audit "file:$T/sign-audit.log"
done
grep -q '^ok    exchange  got a Bearer token' "$T/all.out" || fail "doctor --exchange made no exchange"
[[ $(wc -l <"$T/sign-audit.log") -eq 4 ]] || fail "sign --audit wrote $(wc -l <"$T/sign-audit.log") records, not 4"

step "a token the STS scripts: printed by token only"
sts_control '{"path": "/cc/token", "status": 200, "count": 4,
              "body": {"access_token": "'"$STS_TOKEN"'", "token_type": "Bearer", "expires_in": 600}}'
r token --config "$CONF" --profile cc-env
r TRACE call --config "$CONF" --profile cc-env "$PLAIN/cc/resource"
r call --config "$CONF" --profile cc-env -X POST -d @"$T/client.secret" "http://127.0.0.1:9/x"
sts_control '{"clear": true}'
grep -qF -- "$STS_TOKEN" "$T/tokens.out" || fail "token did not print the scripted token"

step "through the fault module: recovered faults, a device that stays gone, a refused PIN"
faulted=0
for t in "" TRACE; do
    for rule in C_Sign@1=CKR_DEVICE_REMOVED C_SignInit@1=CKR_USER_NOT_LOGGED_IN \
        C_Sign@1!=CKR_DEVICE_REMOVED C_Login@1=CKR_PIN_INCORRECT C_SignInit@1+=CKR_GENERAL_ERROR \
        C_OpenSession@1=CKR_SESSION_COUNT; do
        for cmd in "sign --token $TOKEN --pin-env NSO_PIN --kid dt-key --iss i --aud a" \
            "sign --token $TOKEN --pin-file $PIN_FILE --kid ec-key --iss i --aud a --batch --threads 2" \
            "token --config $CONF --profile dt" "token --config $CONF --profile dt-env --json"; do
            rm -f "$COUNTS"
            # shellcheck disable=SC2086
            STDIN=$T/one.jsonl P11FAULT=$rule P11JWT_MODULE=$P11FAULT_LIB \
                P11FAULT_MODULE=$SOFTHSM_MODULE P11FAULT_COUNTS=$COUNTS r $t $cmd
            [[ -r $COUNTS ]] || fail "the run did not go through the fault module: $cmd"
            faulted=$((faulted + $(awk '$1 == "faults" { n += $3 } END { print n + 0 }' "$COUNTS")))
        done
    done
done
((faulted >= 24)) || fail "the fault module injected only $faulted faults in 48 runs"
step "the fault module injected $faulted faults in 48 runs"

step "a rotation with audit = file:"
for t in "" TRACE; do
    r $t rotate status --config "$CONF" --profile dt
    r $t rotate stage --config "$CONF" --profile dt --kid "dt-next" --secret-file "$T/hmac2.secret"
    r $t rotate promote --config "$CONF" --profile dt-env
    r $t token --config "$CONF" --profile dt
    r $t rotate retire --config "$CONF" --profile dt --kid dt-key --yes
    r $t rotate auto --config "$CONF" --profile dt
    r $t jwks --config "$CONF" --profile dt
done
[[ -s $T/audit.log ]] || fail "no audit lines were written"
grep -q '"event":"promote"' "$T/audit.log" || fail "the rotation was not audited"
grep -q 'trace: C_Login' "$T/all.out" || fail "no trace output was captured"

step "$n runs: no secret in any output"
# every access token the STS issued (printed by token, by design) is a secret elsewhere
mapfile -t issued < <(grep -oE '[0-9a-f]{32}|StsTokenDistinct[0-9a-f]+' "$T/tokens.out" | sort -u)
[[ ${#issued[@]} -ge 2 ]] || fail "too few tokens were issued to check: ${#issued[@]}"
leaks=0
for s in "$PIN" "$HMAC" "$HMAC2" "$CLIENT" "$STS_TOKEN" "${issued[@]}"; do
    for f in "$T/all.out" "$T/audit.log" "$T/sign-audit.log"; do
        if grep -qF -- "$s" "$f"; then
            echo "LEAK: '$s' in ${f##*/}: $(grep -F -- "$s" "$f" | head -3)" >&2
            leaks=$((leaks + 1))
        fi
    done
done
[[ $leaks -eq 0 ]] || fail "$leaks secret(s) reached an output"
for s in "$PIN" "$HMAC" "$HMAC2" "$CLIENT"; do
    grep -qF -- "$s" "$T/tokens.out" && fail "a secret in token's output: $s"
done
echo "no secret in $(wc -l <"$T/all.out") lines of output and $(wc -l <"$T/audit.log") audit lines ($n runs)"
