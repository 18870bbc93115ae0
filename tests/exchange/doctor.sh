#!/usr/bin/env bash
# doctor.sh — `p11jwt doctor`: the checks in order, each line's result and
# fix, the JSON form and the exit status, against real parts: this test's
# SoftHSM token, the project's STS (plain, and over TLS with certificates
# made here by openssl: one valid 90 days, one expiring in 2 days, one
# expired, one from an unrelated CA), a config that does not parse, a wrong
# PIN, a PIN file others may read, an STS that is down, an STS whose clock
# is 2 minutes ahead, a keyring whose next key was deleted, a key made by
# pkcs11-tool (not sign-only), a client-secret profile, a module that does
# not exist; and the usage errors.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null 2>&1 || skip "openssl is not installed"

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid doc-es
export_jwks "$T/jwks.json"
make_secret "$T/client.secret"
start_sts sts --jwks "$T/jwks.json" --client "app=$T/client.secret"
PLAIN=$STS
PLAIN_CTL=$STS_CTL
start_sts skewed --jwks "$T/jwks.json" --clock-skew 120
SKEWED=$STS

# A port nothing listens on: bound, then closed.
DOWN_PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# open.pin holds a wrong PIN too: had the doctor tried it, the token would
# flag CKF_USER_PIN_COUNT_LOW and the later checks would show pin=warn.
(umask 077 && echo 0000wrong >"$T/wrong.pin" && cp "$T/wrong.pin" "$T/open.pin")
chmod 644 "$T/open.pin"

profile() { # profile NAME TOKEN_URL [EXTRA LINES...]
    local name=$1 url=$2
    shift 2
    printf '[profile %s]\ndialect = rfc7523\ntoken = %s\npin_file = %s\nkid = doc-es\n' \
        "$name" "$TOKEN" "$PIN_FILE" >>"$CONF"
    printf 'token_url = %s\niss = doctor-test\nmax_retries = 0\n' "$url" >>"$CONF"
    printf '%s\n' "$@" >>"$CONF"
    echo >>"$CONF"
}
profile good "$PLAIN/rfc7523/token"
profile down "http://127.0.0.1:$DOWN_PORT/rfc7523/token"
profile skewed "$SKEWED/rfc7523/token"
cat >>"$CONF" <<EOF
[profile wrong-pin]
dialect = rfc7523
token = $TOKEN
pin_file = $T/wrong.pin
kid = doc-es
token_url = $PLAIN/rfc7523/token
iss = doctor-test

[profile open-pin]
dialect = rfc7523
token = $TOKEN
pin_file = $T/open.pin
kid = doc-es
token_url = $PLAIN/rfc7523/token
iss = doctor-test

[profile no-key]
dialect = rfc7523
token = $TOKEN
pin_file = $PIN_FILE
kid = not-there
token_url = $PLAIN/rfc7523/token
iss = doctor-test

[profile jsa]
dialect = jsa
client_id = app
client_secret_file = $T/client.secret
token_url = $PLAIN/jsa/token
max_retries = 0

EOF

# doctor_lines ARGS...: runs doctor; $RES is "check=result ..." in order.
doctor_lines() {
    run_cmd x doctor "$@"
    RES=$(awk '{ printf "%s=%s ", $2, $1 }' "$T/out")
    RES=${RES% }
}
want() { # want EXIT "check=result ..."
    [[ $RC -eq $1 ]] || fail "doctor $RAN: exit $RC, expected $1: $ERR / $OUT"
    check_stderr "$1"
    [[ $RES == "$2" ]] || fail "doctor $RAN: got [$RES], expected [$2]; output: $OUT"
}
line_of() { grep -E "^[a-zA-Z]+ +$1 " "$T/out" || fail "no $1 line in: $OUT"; }

step "a healthy profile: every check ok, the exchange too; exit 0"
doctor_lines --config "$CONF" --profile good --exchange
want 0 "config=ok module=ok token=ok pin=ok key=ok keyring=ok sts=ok clock=ok exchange=ok"
line_of module | grep -q 'libsofthsm2.so (.*SoftHSM.*), C_Initialize arguments: none' ||
    fail "module line: $(line_of module)"
line_of pin | grep -q "PIN file $PIN_FILE: logged in" || fail "pin line: $(line_of pin)"
line_of key | grep -q "kid 'doc-es': EC private key, ES256, sensitive, never extractable, sign-only; signs" ||
    fail "key line: $(line_of key)"
line_of sts | grep -q "http://127.0.0.1:[0-9]*/rfc7523/token answered HTTP [0-9]* to a GET; plain http" ||
    fail "sts line: $(line_of sts)"
line_of exchange | grep -q 'got a Bearer token valid for' || fail "exchange line: $(line_of exchange)"
grep -q 'fix:' "$T/out" && fail "an ok run shows a fix: $OUT"
grep -q '"GET /rfc7523/token" 405' "$T/sts.log" || fail "the STS saw no probe: $(cat "$T/sts.log")"
n=$(STS_CTL=$PLAIN_CTL calls /rfc7523/token)
[[ $n -eq 2 ]] || fail "the STS saw $n requests, not the probe and one exchange"

step "--json: the same checks as one document"
expect_exit 0 x doctor --config "$CONF" --profile good --json
pycheck "$OUT" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
assert d["profile"] == "good" and d["ok"] is True, d
assert [c["check"] for c in d["checks"]] == \
    ["config", "module", "token", "pin", "key", "keyring", "sts", "clock"], d
for c in d["checks"]:
    assert set(c) == {"check", "result", "detail", "fix"}, c
    assert c["result"] == "ok" and c["fix"] == "" and c["detail"], c
PY

step "a config that does not parse: config FAIL, the rest skipped; exit 1"
cp "$CONF" "$T/broken.conf"
printf '[profile broken]\ndialect = rfc7523\ntokn = %s\n' "$TOKEN" >>"$T/broken.conf"
doctor_lines --config "$T/broken.conf" --profile broken
want 1 "config=FAIL module=skip token=skip pin=skip key=skip keyring=skip sts=skip clock=skip"
line_of config | grep -q "broken.conf:[0-9]*: .*tokn.*; fix: correct the line the message names" ||
    fail "config line: $(line_of config)"
expect_err_matches 'doctor: 1 check failed \(the first: config\)'
doctor_lines --config "$CONF" --profile nosuch
want 1 "config=FAIL module=skip token=skip pin=skip key=skip keyring=skip sts=skip clock=skip"

step "a PIN file others may read: pin FAIL with chmod, and no login tried"
doctor_lines --config "$CONF" --profile open-pin
want 1 "config=ok module=ok token=ok pin=FAIL key=skip keyring=skip sts=ok clock=ok"
line_of pin | grep -q "may be read by every user (mode 0644); fix: chmod 600 $T/open.pin" ||
    fail "pin line: $(line_of pin)"

step "an STS that is down: sts FAIL, clock skipped"
doctor_lines --config "$CONF" --profile down
want 1 "config=ok module=ok token=ok pin=ok key=ok keyring=ok sts=FAIL clock=skip"
line_of sts | grep -Eq 'onnect.*; fix: check token_url, that the STS is up' || fail "sts line: $(line_of sts)"

step "an STS whose clock is 2 minutes ahead: clock warn, exit 0"
doctor_lines --config "$CONF" --profile skewed
want 0 "config=ok module=ok token=ok pin=ok key=ok keyring=ok sts=ok clock=warn"
line_of clock | grep -Eq "this host's clock is 1[12][0-9] s behind the STS's .*; fix: synchronise.*'timing'" ||
    fail "clock line: $(line_of clock)"

step "a key that is not there: key FAIL"
doctor_lines --config "$CONF" --profile no-key
want 1 "config=ok module=ok token=ok pin=ok key=FAIL keyring=ok sts=ok clock=ok"
line_of key | grep -q "no private or secret key with kid 'not-there'.*; fix: generate it" ||
    fail "key line: $(line_of key)"

step "a client-secret profile: secret instead of the token checks"
doctor_lines --config "$CONF" --profile jsa --exchange
want 0 "config=ok secret=ok sts=ok clock=ok exchange=ok"
chmod 640 "$T/client.secret"
doctor_lines --config "$CONF" --profile jsa
want 1 "config=ok secret=FAIL sts=ok clock=ok"
line_of secret | grep -q "may be read by its group (mode 0640); fix: chmod 600" ||
    fail "secret line: $(line_of secret)"
chmod 600 "$T/client.secret"

step "TLS: valid 90 days, expiring in 2 days, expired, from another CA"
bash "$MKCERTS" "$T/pki" >/dev/null 2>&1 || fail "mkcerts.sh failed"
mk_server_cert() { # mk_server_cert NAME STARTDATE ENDDATE (openssl ca form, UTC)
    local d=$T/pki n=$1
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/$n.key" \
        -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
        -out "$d/$n.csr" 2>/dev/null || fail "openssl req $n"
    mkdir -p "$d/ca-$n" && : >"$d/ca-$n/index.txt" && echo 1000 >"$d/ca-$n/serial"
    cat >"$d/ca-$n/ca.cnf" <<CNF
[ca]
default_ca = tca
[tca]
dir = $d/ca-$n
database = \$dir/index.txt
new_certs_dir = \$dir
serial = \$dir/serial
default_md = sha256
policy = anything
copy_extensions = copy
unique_subject = no
[anything]
commonName = supplied
CNF
    openssl ca -batch -config "$d/ca-$n/ca.cnf" -cert "$d/ca.pem" -keyfile "$d/ca.key" \
        -in "$d/$n.csr" -out "$d/$n.pem" -notext -startdate "$2" -enddate "$3" \
        >"$d/ca-$n/log" 2>&1 || fail "openssl ca $n: $(cat "$d/ca-$n/log")"
}
mk_server_cert long "$(date -u -d '-1 day' +%Y%m%d%H%M%SZ)" "$(date -u -d '+90 days' +%Y%m%d%H%M%SZ)"
mk_server_cert expired "$(date -u -d '-30 days' +%Y%m%d%H%M%SZ)" "$(date -u -d '-1 day' +%Y%m%d%H%M%SZ)"
start_sts tls-long --tls-cert "$T/pki/long.pem" --tls-key "$T/pki/long.key" --jwks "$T/jwks.json"
TLS_LONG=$STS
start_sts tls-soon --tls-cert "$T/pki/server.pem" --tls-key "$T/pki/server.key" --jwks "$T/jwks.json"
TLS_SOON=$STS
start_sts tls-expired --tls-cert "$T/pki/expired.pem" --tls-key "$T/pki/expired.key"
TLS_EXPIRED=$STS
profile tls-long "$TLS_LONG/rfc7523/token" "ca_file = $T/pki/ca.pem"
profile tls-soon "$TLS_SOON/rfc7523/token" "ca_file = $T/pki/ca.pem"
profile tls-expired "$TLS_EXPIRED/rfc7523/token" "ca_file = $T/pki/ca.pem"
profile tls-other-ca "$TLS_LONG/rfc7523/token" "ca_file = $T/pki/other-ca.pem"

doctor_lines --config "$CONF" --profile tls-long --exchange
want 0 "config=ok module=ok token=ok pin=ok key=ok keyring=ok sts=ok clock=ok exchange=ok"
until=$(date -u -d '+90 days' +%Y-%m-%d)
line_of sts | grep -q "TLS verified against ca_file $T/pki/ca.pem; certificate valid until $until" ||
    fail "sts line (90 days): $(line_of sts)"
doctor_lines --config "$CONF" --profile tls-soon
want 0 "config=ok module=ok token=ok pin=ok key=ok keyring=ok sts=warn clock=ok"
line_of sts | grep -Eq "\(soon\): [12] day\(s\) left; fix: .*renew" || fail "sts line (2 days): $(line_of sts)"
doctor_lines --config "$CONF" --profile tls-expired
want 1 "config=ok module=ok token=ok pin=ok key=ok keyring=ok sts=FAIL clock=skip"
line_of sts | grep -q "expired.*; fix: the STS's TLS certificate has expired" ||
    fail "sts line (expired): $(line_of sts)"
doctor_lines --config "$CONF" --profile tls-other-ca
want 1 "config=ok module=ok token=ok pin=ok key=ok keyring=ok sts=FAIL clock=skip"
line_of sts | grep -q "not trusted.*; fix: ca_file does not hold the CA" ||
    fail "sts line (other CA): $(line_of sts)"

step "a keyring whose next key was deleted (by another tool): keyring FAIL"
expect_exit 0 x rotate stage --config "$CONF" --profile good
expect_exit 0 x rotate status --config "$CONF" --profile good --json
next=$("$PYTHON" -c 'import json, sys; print(json.loads(sys.argv[1])["next"]["kid"])' "$OUT")
doctor_lines --config "$CONF" --profile good
want 0 "config=ok module=ok token=ok pin=ok key=ok keyring=ok sts=ok clock=ok"
line_of keyring | grep -q "keyring 'good' version 1: active 'doc-es', next '$next', 0 previous; all in the token" ||
    fail "keyring line: $(line_of keyring)"
# p11jwt delete refuses a key a keyring names; another tool does not ask.
expect_exit 1 p11jwt delete "${TOK[@]}" --kid "$next" --yes
for type in privkey pubkey; do
    pkcs11-tool --module "$SOFTHSM_MODULE" --token-label "$TOKEN_LABEL" --login \
        --pin "$(cat "$PIN_FILE")" --delete-object --type "$type" --label "$next" \
        >/dev/null 2>&1 || fail "pkcs11-tool could not delete the $type '$next'"
done
doctor_lines --config "$CONF" --profile good
want 1 "config=ok module=ok token=ok pin=ok key=ok keyring=FAIL sts=ok clock=ok"
line_of keyring | grep -q "its next key '$next' is not in the token; fix: restore the key" ||
    fail "keyring line: $(line_of keyring)"

step "token mode: a key from another tool (not sign-only) is a warning"
if command -v pkcs11-tool >/dev/null 2>&1; then
    p11tool --keypairgen --key-type EC:prime256v1 --id "$(printf other | od -An -tx1 | tr -d ' \n')" \
        --label other >/dev/null 2>&1 || fail "pkcs11-tool --keypairgen failed"
    doctor_lines --token "$TOKEN" --pin-file "$PIN_FILE" --kid other
    want 0 "module=ok token=ok pin=ok key=warn"
    line_of key | grep -q "kid 'other' signs, but it is not sign-only: it may also .*derive.*; fix: make a new key" ||
        fail "key line: $(line_of key)"
else
    step "pkcs11-tool is not installed: skipped"
fi
doctor_lines --token "$TOKEN;object=doc-es" --pin-file "$PIN_FILE"
want 0 "module=ok token=ok pin=ok key=ok"
doctor_lines --token "pkcs11:token=$TOKEN_LABEL?module-path=$T/no-such-module.so" --kid doc-es \
    --pin-file "$PIN_FILE"
want 1 "module=FAIL token=skip pin=skip key=skip"
line_of module | grep -q "no-such-module.so.*; fix: install the module" || fail "module line: $(line_of module)"
doctor_lines --token "pkcs11:token=no-such-token" --kid doc-es --pin-file "$PIN_FILE"
want 1 "module=ok token=FAIL pin=skip key=skip"
line_of token | grep -q "tokens present: .*$TOKEN_LABEL" || fail "token line: $(line_of token)"

step "a wrong PIN: pin FAIL, key and keyring skipped, the STS still checked"
doctor_lines --config "$CONF" --profile wrong-pin
want 1 "config=ok module=ok token=ok pin=FAIL key=skip keyring=skip sts=ok clock=ok"
line_of pin | grep -q 'CKR_PIN_INCORRECT.*; fix: put the token.s user PIN in the PIN source' ||
    fail "pin line: $(line_of pin)"

doctor_lines --config "$CONF" --profile good
want 1 "config=ok module=ok token=ok pin=warn key=ok keyring=FAIL sts=ok clock=ok"
step "usage errors"
expect_usage x doctor
expect_usage x doctor --profile good --token "$TOKEN"
expect_usage x doctor --config "$CONF" --profile good --kid doc-es
expect_usage x doctor --token "$TOKEN" --exchange
expect_usage x doctor --profile good extra
step "ok"
