# rlib.sh — what the rotation tests share, on top of the integration
# library (a fresh SoftHSM token per test): a noa-style profile whose keys
# are ES384, and the project's test STS, restartable on the same port with
# a different set of trusted keys (the JWKS the operator registered).
# shellcheck source=../integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

STS_PY=$P11JWT_SRC/tests/sts/sts.py
CONFIG=$T/config
STS_PID=
STS_PORT=0

stop_sts() {
    if [[ -n $STS_PID ]]; then
        kill "$STS_PID" 2>/dev/null || true
        wait "$STS_PID" 2>/dev/null || true
        STS_PID=
    fi
}
trap 'rc=$?; stop_sts; (exit $rc); cleanup' EXIT

# start_sts JWKS_FILE — (re)starts the STS trusting exactly those EC keys,
# on the port it had before (so the profile's token_url stays valid).
start_sts() {
    stop_sts
    rm -f "$T/sts.port"
    "$PYTHON" "$STS_PY" --port "$STS_PORT" --port-file "$T/sts.port" --jwks "$1" \
        2>>"$T/sts.log" &
    STS_PID=$!
    for _ in $(seq 100); do
        [[ -s $T/sts.port ]] && break
        sleep 0.05
    done
    [[ -s $T/sts.port ]] || fail "the test STS did not start: $(tail -5 "$T/sts.log")"
    STS_PORT=$(cat "$T/sts.port")
}

# write_config KID [EXTRA LINES] — the profile "rot", signing with KID until
# a keyring state exists in the token.
write_config() {
    local kid=$1
    shift
    cat >"$CONFIG" <<CONF
[profile rot]
dialect = noa
token = $TOKEN
pin_file = $PIN_FILE
kid = $kid
iss = rotation test
claim.organization = 7d1a3c52-0000-4000-8000-000000000001
token_url = http://127.0.0.1:$STS_PORT/noa/token
audit = file:$T/audit.log
CONF
    local line
    for line in "$@"; do
        echo "$line" >>"$CONFIG"
    done
}

rot() { p11jwt rotate "$1" --profile rot --config "$CONFIG" "${@:2}"; }

# status_field EXPR — a field of `rotate status --json`, e.g. .active.kid
status_json() { rot status --json; }
status_kid() { # active|next
    status_json | "$PYTHON" -c 'import json, sys
s = json.load(sys.stdin); e = s[sys.argv[1]]
print(e["kid"] if e else "")' "$1"
}

# jwks_of KID... — a JWKS file holding exactly these keys.
jwks_of() {
    local out=$T/trust-$RANDOM.json args=()
    local k
    for k in "$@"; do args+=(--kid "$k"); done
    p11jwt jwks --token "$TOKEN" "${args[@]}" >"$out" || fail "jwks export failed"
    echo "$out"
}

# exchange_ok — a token exchange succeeds after dropping any cache (every
# CLI run is a new process: a cold cache).
exchange_ok() {
    expect_exit 0 p11jwt token --profile rot --config "$CONFIG" || true
    [[ -n $OUT ]] || fail "no token printed"
}
