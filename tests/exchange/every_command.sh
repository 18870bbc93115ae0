#!/usr/bin/env bash
# every_command.sh — every command of p11jwt, against every dialect's
# minimal profile (and a client-credentials profile that names a token but
# no kid), with no arguments and with bad ones: whatever happens, the exit
# is 0, 1 or 2, a failure is one "p11jwt: ..." line, and nothing ends in a
# signal (exit >= 128) or hangs.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"

ORG=7d1a3c52-0000-4000-8000-000000000001
(umask 077 && printf 'everyCmd%s\n' "$(rand_hex 12)" >"$T/client.secret")
(umask 077 && head -c 48 /dev/urandom | base64 | tr -d '\n/+' | head -c 40 >"$T/hs.secret")
(umask 077 && head -c 48 /dev/urandom | base64 | tr -d '\n/+' | head -c 40 >"$T/hs2.secret")

expect_exit 0 p11jwt import-secret "${TOK[@]}" --kid dt-key --alg HS256 --secret-file "$T/hs.secret"
expect_exit 0 p11jwt import-secret "${TOK[@]}" --kid nw-key --alg HS256 --secret-file "$T/hs.secret"
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES384 --kid noa-key
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid rfc-key
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid pkj-key
export_jwks "$T/jwks.json"
start_sts sts --jwks "$T/jwks.json" --secret "dt-key=$T/hs.secret" \
    --secret "nw-key=$T/hs.secret" --client "app-1=$T/client.secret"

conf <<CONF
[profile dt]
dialect = dt
token = $TOKEN
pin_file = $PIN_FILE
kid = dt-key
iss = sa@example.serviceaccount.d21s.com
token_url = $STS/dt/token
max_retries = 0

[profile neowit]
dialect = neowit
token = $TOKEN
pin_file = $PIN_FILE
kid = nw-key
iss = sa-1
token_url = $STS/neowit/token
max_retries = 0

[profile noa]
dialect = noa
token = $TOKEN
pin_file = $PIN_FILE
kid = noa-key
iss = every command
claim.organization = $ORG
token_url = $STS/noa/token
max_retries = 0

[profile jsa]
dialect = jsa
client_id = app-1
client_secret_file = $T/client.secret
token_url = $STS/jsa/token
max_retries = 0

[profile jsa-token]
dialect = jsa
token = $TOKEN
pin_file = $PIN_FILE
client_id = app-1
client_secret_file = $T/client.secret
token_url = $STS/jsa/token
max_retries = 0

[profile rfc7523]
dialect = rfc7523
token = $TOKEN
pin_file = $PIN_FILE
kid = rfc-key
iss = rfc-client
token_url = $STS/rfc7523/token
max_retries = 0

[profile cc]
dialect = client-credentials
client_id = app-1
client_secret_env = EVERY_CMD_SECRET
token_url = $STS/cc/token
max_retries = 0

[profile pkj]
dialect = private-key-jwt
token = $TOKEN
pin_file = $PIN_FILE
kid = pkj-key
client_id = pkj-client
token_url = $STS/pkj/token
max_retries = 0
CONF
export EVERY_CMD_SECRET
EVERY_CMD_SECRET=$(cat "$T/client.secret")

declare -A RESOURCE=([dt]=dt [neowit]=neowit [noa]=noa [jsa]=jsa [jsa-token]=jsa
    [rfc7523]=rfc7523 [cc]=cc [pkj]=private-key-jwt)
n=0
declare -A SEEN=()

# run CMD...: any outcome but a signal, a hang or a broken error line.
run() {
    local rc=0 first
    local -a lines
    n=$((n + 1))
    timeout 60 "$P11JWT_BIN" "$@" </dev/null >"$T/out" 2>"$T/err" || rc=$?
    (( rc != 124 )) || fail "hung (timeout): p11jwt $*"
    (( rc < 128 )) || fail "killed by signal $((rc - 128)): p11jwt $*: $(head -c 500 "$T/err")"
    (( rc <= 2 )) || fail "exit $rc: p11jwt $*: $(head -c 500 "$T/err")"
    SEEN[$rc]=$(( ${SEEN[$rc]:-0} + 1 ))
    if (( rc != 0 )); then
        mapfile -t lines <"$T/err"
        # a library notice (a kid fallback, a keyring warning) may come first
        first=${lines[${#lines[@]}-1]:-}
        [[ ${#lines[@]} -ge 1 && $first == "p11jwt: "?* ]] ||
            fail "exit $rc without a 'p11jwt: ' line: p11jwt $*: $(head -c 500 "$T/err")"
        for l in "${lines[@]}"; do
            [[ $l == "p11jwt: "* ]] || fail "a stderr line without 'p11jwt: ': p11jwt $*: $l"
        done
    fi
}

step "every command with no arguments, --help, and a bad option"
for cmd in keygen import-secret list jwks sign verify delete token assertion call rotate \
    "rotate status" "rotate stage" "rotate promote" "rotate retire" "rotate auto" \
    "rotate bogus" bogus; do
    # shellcheck disable=SC2086
    run $cmd
    # shellcheck disable=SC2086
    run $cmd --help
    # shellcheck disable=SC2086
    run $cmd --no-such-option
    # shellcheck disable=SC2086
    run $cmd --profile
    # shellcheck disable=SC2086
    run $cmd --token
done
run
run --help
run --version

step "the token commands, right and wrong"
for args in "list" "list --json" "jwks" "jwks --kid rfc-key" "jwks --kid dt-key" \
    "jwks --kid nope" "keygen --alg ES256" "keygen --alg HS384 --kid extra" "keygen --alg RS256" \
    "keygen --alg ES256 --kid rfc-key" "delete --kid nope --yes" "delete --kid extra" \
    "delete --kid extra --yes" "sign --kid rfc-key --iss i --aud a" "sign --kid dt-key" \
    "sign --kid rfc-key --iss i --aud a --ttl 0" "sign --kid rfc-key --iss i --aud a --ttl 99999999999" \
    "verify --kid rfc-key" "verify" "import-secret --kid x --alg ES256" \
    "import-secret --kid x --alg HS256 --secret-file /nonexistent"; do
    # shellcheck disable=SC2086
    run $args --token "$TOKEN" --pin-file "$PIN_FILE"
    # shellcheck disable=SC2086
    run $args --token "pkcs11:token=no-such-token" --pin-file "$PIN_FILE"
    # shellcheck disable=SC2086
    run $args --token "not a uri" --pin-file "$PIN_FILE"
    # shellcheck disable=SC2086
    run $args --token "$TOKEN" --pin-file /nonexistent
done

step "every profile command against every dialect's minimal profile"
for p in dt neowit noa jsa jsa-token rfc7523 cc pkj; do
    for args in "token" "token --json" "assertion" "jwks" "rotate status" "rotate status --json" \
        "rotate stage" "rotate stage --kid staged-$p" "rotate promote" "rotate retire --yes" \
        "rotate retire --kid nope --yes" "rotate auto" "token" \
        "rotate stage --kid hs-$p --secret-file $T/hs2.secret"; do
        cmd=${args%% *}
        rest=${args#"$cmd"}
        if [[ $cmd == jwks ]]; then
            # shellcheck disable=SC2086
            run jwks $rest --profile "$p" --config "$CONF"
        else
            # shellcheck disable=SC2086
            run $cmd $rest --profile "$p" --config "$CONF"
        fi
    done
    run call --profile "$p" --config "$CONF" "$STS/${RESOURCE[$p]}/resource"
    run call --profile "$p" --config "$CONF" -X POST -d '{}' "$STS/${RESOURCE[$p]}/resource"
    run call --profile "$p" --config "$CONF"
    run call --profile "$p" --config "$CONF" "ftp://127.0.0.1/"
    run token --profile "$p" --config /nonexistent
    run token --profile "$p-missing" --config "$CONF"
    run rotate status --profile "$p-missing" --config "$CONF"
done

# The crash of issue 9 defect 5: rotate on a client-credentials profile
# that names a token but no kid.
step "rotate on a client-credentials profile with a token but no kid: a clear error"
expect_exit 1 x rotate status --profile jsa-token --config "$CONF"
expect_err_matches 'no key to rotate'

[[ ${SEEN[0]:-0} -gt 0 && ${SEEN[1]:-0} -gt 0 && ${SEEN[2]:-0} -gt 0 ]] ||
    fail "the table should reach every exit code: 0=${SEEN[0]:-0} 1=${SEEN[1]:-0} 2=${SEEN[2]:-0}"
echo "every command: $n runs (exit 0: ${SEEN[0]}, 1: ${SEEN[1]}, 2: ${SEEN[2]}), no signal"
