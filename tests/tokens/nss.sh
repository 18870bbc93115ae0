#!/usr/bin/env bash
# nss.sh — p11jwt on NSS's software token (softokn), a second PKCS#11
# implementation next to SoftHSM: a fresh NSS database per run
# (nss_lib.sh). NSS needs its C_Initialize arguments (--module-args,
# $P11JWT_MODULE_ARGS, profile key module_args); with them: keygen
# ES256/384/512, import-secret HS256, import-key, sign, jwks -> PyJWT verifies, sign
# --batch, and the library's recovery after C_CloseAllSessions and fork().
# RSA: keygen RS256 (2048, 3072) and PS256, import-key of an openssl PKCS#8
# key with its certificate (--cert), sign --x5t --x5t-s256 = openssl's
# fingerprints, batch; the keys pin no alg (no CKA_ALLOWED_MECHANISMS), so
# sign needs --alg, and C_SignInit gets CKM_SHA256_RSA_PKCS(_PSS) (seen
# through OpenSC's pkcs11-spy when it is installed).
# NSS's limits are asserted as what they are today: it refuses
# CKA_ALLOWED_MECHANISMS and makes every generated secret generic (keygen
# HS* is a clear error), it has no Ed25519 (EdDSA keygen and import are), and after a C_Logout from elsewhere in the process
# it answers CKR_HOST_MEMORY, which the library does not yet recover from.
set -euo pipefail
source "$(dirname "$0")/nss_lib.sh"

AUD=https://sts.example.invalid/token

step "without module arguments NSS refuses to start, and the error says why"
expect_exit 1 p11jwt list --token "$TOKEN" --pin-file "$PIN_FILE"
expect_err_matches 'CKR_ARGUMENTS_BAD'
expect_err_matches 'without module arguments'

step "with them: the database's token, empty"
expect_exit 0 p11jwt list "${TOK[@]}" --json
[[ $OUT == "[]" ]] || fail "a fresh NSS database lists keys: $OUT"

for alg in ES256 ES384 ES512; do
    step "$alg: keygen, sign, jwks, PyJWT verifies"
    expect_exit 0 p11jwt keygen "${TOK[@]}" --alg "$alg" --kid "nss-$alg"
    [[ $OUT == "nss-$alg" ]] || fail "keygen printed '$OUT'"
    expect_exit 0 p11jwt sign "${TOK[@]}" --kid "nss-$alg" --iss nss --aud "$AUD"
    jws=$OUT
    export_jwks "$T/jwks-$alg.json" "nss-$alg"
    pyverify --jwks "$T/jwks-$alg.json" --aud "$AUD" --iss nss <<<"$jws" >"$T/decoded.json" ||
        fail "PyJWT rejects the $alg JWS"
    pycheck "$T/decoded.json" "$alg" <<'PY'
import json, sys
from itlib import *
d, alg = json.load(open(sys.argv[1])), sys.argv[2]
check(d["header"] == {"alg": alg, "kid": "nss-" + alg, "typ": "JWT"}, f"header {d['header']}")
PY
done

step "ES256 without a kid: the kid is the key's RFC 7638 thumbprint"
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256
tp=$OUT
export_jwks "$T/jwks-tp.json" "$tp"
pycheck "$T/jwks-tp.json" "$tp" <<'PY'
import base64, hashlib, json, sys
from itlib import *
jwk, kid = json.load(open(sys.argv[1]))["keys"][0], sys.argv[2]
canon = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True)
want = base64.urlsafe_b64encode(hashlib.sha256(canon.encode()).digest()).rstrip(b"=").decode()
check(kid == want == jwk["kid"], f"kid {kid}, thumbprint {want}")
PY

step "import-secret HS256: sign, PyJWT verifies with the same secret"
(umask 077 && rand_hex 16 >"$T/secret")        # 32 hex characters = 32 bytes
expect_exit 0 p11jwt import-secret "${TOK[@]}" --alg HS256 --kid nss-hs256 --secret-file "$T/secret"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid nss-hs256 --iss nss --aud "$AUD"
pyverify --secret-file "$T/secret" --alg HS256 --aud "$AUD" --iss nss <<<"$OUT" >/dev/null ||
    fail "PyJWT rejects the HS256 JWS"
expect_exit 0 p11jwt verify "${TOK[@]}" --kid nss-hs256 --aud "$AUD" <<<"$OUT"

step "import-key: a provider's P-384 key (encrypted PKCS#8), sign, PyJWT verifies with its own public key"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$T/imp.pem" 2>/dev/null
openssl pkey -in "$T/imp.pem" -pubout -out "$T/imp.pub.pem"
echo 'nss passphrase' >"$T/imp.pass"
openssl pkcs8 -topk8 -in "$T/imp.pem" -passout "file:$T/imp.pass" -out "$T/imp.enc.pem" 2>/dev/null
chmod 600 "$T/imp.enc.pem"
expect_exit 0 p11jwt import-key "${TOK[@]}" --kid nss-imp --key-file "$T/imp.enc.pem" --pass-file "$T/imp.pass"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid nss-imp --iss nss --aud "$AUD"
pyverify --pem "$T/imp.pub.pem" --alg ES384 --aud "$AUD" <<<"$OUT" >/dev/null ||
    fail "PyJWT rejects the imported key's JWS"

step "list --json: every key sensitive, not extractable, its alg pinned"
expect_exit 0 p11jwt list "${TOK[@]}" --json
pycheck "$T/out" "$tp" <<'PY'
import json, sys
from itlib import *
keys = {k["kid"]: k for k in json.load(open(sys.argv[1]))}
want = {"nss-ES256": "ES256", "nss-ES384": "ES384", "nss-ES512": "ES512", sys.argv[2]: "ES256",
        "nss-hs256": "HS256", "nss-imp": "ES384"}
check(set(keys) == set(want), f"kids {sorted(keys)}")
for kid, alg in want.items():
    k = keys[kid]
    check(k["alg"] == alg, f"{kid}: alg {k['alg']}")
    # NSS refuses CKA_ALLOWED_MECHANISMS: the key type pins every alg.
    check(k["pinned"] == "key-type", f"{kid}: pinned {k['pinned']}")
    check(k["sensitive"] is True and k["extractable"] is False, f"{kid}: {k}")
PY
n_keys=$(key_count)

step "keygen HS256: NSS cannot make an HMAC key that pins its alg; a clear error, nothing kept"
expect_exit 1 p11jwt keygen "${TOK[@]}" --alg HS256 --kid nss-gen-hs256
expect_err_matches 'cannot generate an HMAC key pinned to HS256'
step "$ERR"
[[ $(key_count) -eq $n_keys ]] || fail "a failed keygen left an object behind"

step "LIMIT: no Ed25519 (NSS 3.87 lists no CKM_EDDSA) — keygen and import-key EdDSA are clear errors"
expect_exit 1 p11jwt keygen "${TOK[@]}" --alg EdDSA --kid nss-ed
expect_err_matches "cannot generate Ed25519 keys: it has no CKM_EDDSA"
step "$ERR"
(umask 077 && openssl genpkey -algorithm ED25519 -out "$T/ed.pem" 2>/dev/null)
expect_exit 1 p11jwt import-key "${TOK[@]}" --kid nss-ed-imp --key-file "$T/ed.pem"
expect_err_matches "cannot import Ed25519 keys: it has no CKM_EDDSA"
[[ $(key_count) -eq $n_keys ]] || fail "a refused Ed25519 key left an object behind"

# RSA on NSS: softokn takes no CKA_ALLOWED_MECHANISMS, so keygen and
# import-key step down to a key that pins no alg (keygen --help says so):
# list shows pinned none, sign without --alg is a clear error naming the
# way out, and with --alg the key signs RS or PS as asked. Its JWK has no
# alg: PyJWT is given the one the caller named (with_alg).
# with_alg JWKS ALG OUT: the JWKS with its one RSA JWK's alg set, after
# checking p11jwt gave none.
with_alg() {
    pycheck "$1" "$2" "$3" <<'PY'
import json, sys
from itlib import *
jwks, alg, out = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
[jwk] = jwks["keys"]
check(jwk["kty"] == "RSA" and "alg" not in jwk, f"the JWK of a key that pins no alg: {jwk}")
json.dump({"keys": [dict(jwk, alg=alg)]}, open(out, "w"))
PY
}
# rsa_bits JWKS: the modulus length of its one key.
rsa_bits() {
    "$PYTHON" -c 'import json, sys
from itlib import *
print(len(b64d(json.load(open(sys.argv[1]))["keys"][0]["n"])) * 8)' "$1"
}

for spec in "RS256 2048" "RS256 3072" "PS256 3072"; do
    read -r alg bits <<<"$spec"
    kid=nss-$alg-$bits
    bits_opt=()
    [[ $bits == 3072 ]] || bits_opt=(--bits "$bits")      # 3072: the default
    step "$alg, $bits bits: keygen, pinned none, sign --alg, jwks, PyJWT verifies"
    expect_exit 0 p11jwt keygen "${TOK[@]}" --alg "$alg" "${bits_opt[@]}" --kid "$kid"
    [[ $OUT == "$kid" ]] || fail "keygen printed '$OUT'"
    expect_exit 0 p11jwt list "${TOK[@]}" --json
    pycheck "$OUT" "$kid" <<'PY'
import json, sys
from itlib import *
k = {k["kid"]: k for k in json.loads(sys.argv[1])}[sys.argv[2]]
check(k["pinned"] == "none" and k["alg"] is None, f"NSS now pins an RSA key's alg: {k}")
check(k["sensitive"] is True and k["extractable"] is False, f"{k}")
PY
    expect_exit 1 p11jwt sign "${TOK[@]}" --kid "$kid" --iss nss --aud "$AUD"
    expect_err_matches "RSA key '$kid' does not pin its alg.*name it with --alg"
    expect_exit 0 p11jwt sign "${TOK[@]}" --kid "$kid" --alg "$alg" --iss nss --aud "$AUD"
    jws=$OUT
    export_jwks "$T/jwks-$kid.json" "$kid"
    [[ $(rsa_bits "$T/jwks-$kid.json") -eq $bits ]] ||
        fail "$kid: a $(rsa_bits "$T/jwks-$kid.json")-bit modulus, not $bits"
    with_alg "$T/jwks-$kid.json" "$alg" "$T/jwks-$kid.alg.json"
    pyverify --jwks "$T/jwks-$kid.alg.json" --aud "$AUD" --iss nss <<<"$jws" >"$T/decoded.json" ||
        fail "PyJWT rejects the $alg JWS"
    pycheck "$T/decoded.json" "$alg" "$kid" <<'PY'
import json, sys
from itlib import *
d, alg, kid = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
check(d["header"] == {"alg": alg, "kid": kid, "typ": "JWT"}, f"header {d['header']}")
PY
    expect_exit 0 p11jwt verify "${TOK[@]}" --kid "$kid" --alg "$alg" --aud "$AUD" <<<"$jws"
done

step "sign --batch RS256: 20 lines, 2 threads, all verified by PyJWT in order"
"$PYTHON" -c 'import json
for i in range(20): print(json.dumps({"n": i}))' >"$T/in-rsa.jsonl"
p11jwt sign "${TOK[@]}" --kid nss-RS256-2048 --alg RS256 --iss nss --aud "$AUD" --batch \
    --threads 2 <"$T/in-rsa.jsonl" >"$T/out-rsa.jws" 2>"$T/err" ||
    fail "sign --batch failed: $(cat "$T/err")"
[[ ! -s $T/err ]] || fail "sign --batch wrote to stderr: $(cat "$T/err")"
pyverify --jwks "$T/jwks-nss-RS256-2048.alg.json" --aud "$AUD" --lines <"$T/out-rsa.jws" \
    >"$T/decoded-rsa.jsonl" || fail "PyJWT rejects a JWS of the RSA batch"
pycheck "$T/decoded-rsa.jsonl" <<'PY'
import sys
from itlib import *
d = load_json_lines(sys.argv[1])
check([x["payload"]["n"] for x in d] == list(range(20)), f"{len(d)} JWS, or out of order")
check({x["header"]["alg"] for x in d} == {"RS256"}, "not all RS256")
PY

step "which mechanism: OpenSC's pkcs11-spy between p11jwt and softokn shows C_SignInit's"
step "  (the module has CKM_SHA256_RSA_PKCS(_PSS): the raw-mechanism fallback is not needed here)"
SPY=
for m in /usr/lib/*-linux-gnu/pkcs11-spy.so /usr/lib/*-linux-gnu/pkcs11/pkcs11-spy.so; do
    [[ -r $m ]] && SPY=$m && break
done
if [[ -n $SPY ]]; then
    for alg in RS256 PS256; do
        PKCS11SPY=$NSS_MODULE PKCS11SPY_OUTPUT=$T/spy-$alg.log expect_exit 0 p11jwt sign \
            --token "pkcs11:token=NSS%20Certificate%20DB?module-path=$SPY" --pin-file "$PIN_FILE" \
            --module-args "$MODULE_ARGS" --kid nss-RS256-2048 --alg "$alg" --iss nss --aud "$AUD"
        want=CKM_SHA256_RSA_PKCS
        [[ $alg == PS256 ]] && want=CKM_SHA256_RSA_PKCS_PSS
        got=$(grep -A4 'C_SignInit' "$T/spy-$alg.log" | sed -n 's/.*pMechanism->type = \([A-Z0-9_]*\).*/\1/p' | sort -u)
        [[ $got == "$want" ]] || fail "$alg: C_SignInit got '$got', not $want"
    done
else
    step "  (skipped: OpenSC's pkcs11-spy.so is not installed)"
fi

step "import-key: an openssl RSA key (PKCS#8 PEM) with its certificate (--cert); sign --x5t --x5t-s256"
step "  = openssl's fingerprints, PyJWT verifies with the original public key"
# fp ALG FILE: openssl's fingerprint of a PEM certificate, as base64url.
fp() {
    openssl x509 -in "$2" -noout -fingerprint "-$1" | sed 's/^.*=//; s/://g' | xxd -r -p |
        base64 -w0 | tr '+/' '-_' | tr -d '='
}
(umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/rsa.pem" 2>/dev/null)
openssl pkey -in "$T/rsa.pem" -pubout -out "$T/rsa.pub.pem"
grep -q 'BEGIN PRIVATE KEY' "$T/rsa.pem" || fail "openssl did not write PKCS#8"
openssl req -x509 -key "$T/rsa.pem" -subj /CN=nss-rsa-imp -days 30 -out "$T/rsa.crt" 2>/dev/null ||
    fail "openssl req -x509 failed"
n_before=$(key_count)
expect_exit 0 p11jwt import-key "${TOK[@]}" --kid nss-rsa-imp --key-file "$T/rsa.pem" --cert "$T/rsa.crt"
[[ $OUT == nss-rsa-imp ]] || fail "import-key printed '$OUT'"
[[ $(key_count) -eq $((n_before + 1)) ]] || fail "import-key did not add one key"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid nss-rsa-imp --alg PS256 --iss nss --aud "$AUD" --x5t --x5t-s256
jws=$OUT
pyverify --pem "$T/rsa.pub.pem" --alg PS256 --aud "$AUD" --iss nss <<<"$jws" >"$T/decoded.json" ||
    fail "PyJWT rejects the imported key's JWS"
pycheck "$T/decoded.json" "$(fp sha1 "$T/rsa.crt")" "$(fp sha256 "$T/rsa.crt")" <<'PY'
import json, sys
from itlib import *
h = json.load(open(sys.argv[1]))["header"]
check(h.get("x5t") == sys.argv[2], f"x5t {h.get('x5t')!r} is not openssl's {sys.argv[2]!r}")
check(h.get("x5t#S256") == sys.argv[3], f"x5t#S256 {h.get('x5t#S256')!r} is not openssl's {sys.argv[3]!r}")
PY
expect_exit 0 p11jwt sign "${TOK[@]}" --kid nss-rsa-imp --alg RS256 --iss nss --aud "$AUD" --x5t
pyverify --pem "$T/rsa.pub.pem" --alg RS256 --aud "$AUD" <<<"$OUT" >/dev/null ||
    fail "PyJWT rejects the imported key's RS256 JWS"

step "import-cert of another key's certificate: refused, nothing stored"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/other.key" -subj /CN=other -days 3 \
    -out "$T/other.crt" 2>/dev/null || fail "openssl req -x509 -newkey failed"
expect_exit 1 p11jwt import-cert "${TOK[@]}" --kid nss-RS256-2048 --cert "$T/other.crt"
expect_err_matches "does not match key 'nss-RS256-2048'"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid nss-RS256-2048 --alg RS256 --iss nss --aud "$AUD" --x5t
expect_err_matches "no certificate for key 'nss-RS256-2048'"

step "\$P11JWT_MODULE_ARGS instead of --module-args"
P11JWT_MODULE_ARGS=$MODULE_ARGS expect_exit 0 p11jwt sign --token "$TOKEN" --pin-file "$PIN_FILE" \
    --kid nss-ES384 --iss nss --aud "$AUD"
pyverify --jwks "$T/jwks-ES384.json" --aud "$AUD" <<<"$OUT" >/dev/null || fail "PyJWT rejects it"

step "profile key module_args"
cat >"$T/p11jwt.conf" <<CONF
[profile nss]
dialect = rfc7523
token_url = $AUD
token = $TOKEN
pin_file = $PIN_FILE
module_args = "$MODULE_ARGS"
kid = nss-ES256
iss = nss-profile
CONF
expect_exit 0 p11jwt assertion --config "$T/p11jwt.conf" --profile nss
pyverify --jwks "$T/jwks-ES256.json" --aud "$AUD" --iss nss-profile <<<"$OUT" >/dev/null ||
    fail "PyJWT rejects the profile's assertion"

step "one module, one set of arguments per process: other arguments are refused"
[[ -n ${MODULE_ARGS_BIN:-} && -x $MODULE_ARGS_BIN ]] || fail "MODULE_ARGS_BIN is not set to the built module_args program"
"$MODULE_ARGS_BIN" "$TOKEN" "$PIN_FILE" "$MODULE_ARGS" \
    "configdir='sql:$T/no-such-db' certPrefix='' keyPrefix='' secmod='secmod.db' flags=optimizeSpace" \
    >"$T/module_args.out" 2>"$T/module_args.err" ||
    fail "module_args: $(cat "$T/module_args.err")"$'\n'"$(cat "$T/module_args.out")"
cat "$T/module_args.out"
grep -q '^ok - other arguments refused: PKCS#11 module .* is already initialised in this process with other module arguments' \
    "$T/module_args.out" || fail "the refusal does not say why"
grep -qF -- "$T/no-such-db" "$T/module_args.out" "$T/module_args.err" &&
    fail "the module arguments were echoed"
grep -q '^ok - after every handle was freed, other arguments reach C_Initialize: .*with the module arguments given' \
    "$T/module_args.out" || fail "after the last handle, the module was not initialised anew"

step "module-name=: the module's p11-kit x-init-reserved is its arguments"
# p11-kit reads a user's own module configs (~/.config/pkcs11/modules) but
# not root's: as root (CI), this step runs p11jwt as nobody, with a HOME and
# an NSS database of its own; as anyone else, as that user.
xdir=$T/x-init
mkdir -p "$xdir/home/.config/pkcs11/modules" "$xdir/nssdb"
cp "$PIN_FILE" "$xdir/pin"
certutil -N -d "sql:$xdir/nssdb" -f "$xdir/pin" >/dev/null 2>&1 || fail "certutil -N $xdir/nssdb failed"
printf '%s\n' "module: $NSS_MODULE" "critical: no" \
    "x-init-reserved: configdir='sql:$xdir/nssdb' certPrefix='' keyPrefix='' secmod='secmod.db' flags=optimizeSpace" \
    >"$xdir/home/.config/pkcs11/modules/p11jwt-test-nss.module"
as_user=()
if [[ $(id -u) -eq 0 ]]; then
    command -v setpriv >/dev/null 2>&1 || skip "setpriv (util-linux) is needed to run as nobody"
    chmod 711 "$T"
    chown -R 65534:65534 "$xdir"
    as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
fi
XTOKEN="pkcs11:token=NSS%20Certificate%20DB?module-name=p11jwt-test-nss"
expect_exit 0 "${as_user[@]}" env HOME="$xdir/home" "$P11JWT_BIN" keygen --token "$XTOKEN" \
    --pin-file "$xdir/pin" --alg ES384 --kid x-init
expect_exit 0 "${as_user[@]}" env HOME="$xdir/home" "$P11JWT_BIN" sign --token "$XTOKEN" \
    --pin-file "$xdir/pin" --kid x-init --iss x --aud "$AUD"
jws=$OUT
expect_exit 0 "${as_user[@]}" env HOME="$xdir/home" "$P11JWT_BIN" jwks --token "$XTOKEN" --kid x-init
printf '%s\n' "$OUT" >"$T/jwks-x.json"
pyverify --jwks "$T/jwks-x.json" --aud "$AUD" <<<"$jws" >/dev/null || fail "PyJWT rejects it"
step "given arguments win over x-init-reserved (here: a database that does not exist)"
expect_exit 1 "${as_user[@]}" env HOME="$xdir/home" "$P11JWT_BIN" list --token "$XTOKEN" \
    --pin-file "$xdir/pin" --module-args "configdir='sql:$xdir/none' certPrefix='' keyPrefix='' secmod='secmod.db' flags=optimizeSpace"
expect_err_matches 'with the module arguments given'
[[ $(id -u) -ne 0 ]] || chmod 700 "$T"

step "sign --batch: 300 lines, 4 threads, all verified by PyJWT in order"
"$PYTHON" -c 'import json
for i in range(300): print(json.dumps({"n": i}))' >"$T/in.jsonl"
p11jwt sign "${TOK[@]}" --kid nss-ES256 --iss nss --aud "$AUD" --batch --threads 4 \
    <"$T/in.jsonl" >"$T/out.jws" 2>"$T/err" || fail "sign --batch failed: $(cat "$T/err")"
[[ ! -s $T/err ]] || fail "sign --batch wrote to stderr: $(cat "$T/err")"
pyverify --jwks "$T/jwks-ES256.json" --aud "$AUD" --lines <"$T/out.jws" >"$T/decoded.jsonl" ||
    fail "PyJWT rejects a JWS of the batch"
pycheck "$T/decoded.jsonl" <<'PY'
import sys
from itlib import *
d = load_json_lines(sys.argv[1])
check(len(d) == 300, f"{len(d)} JWS")
check([x["payload"]["n"] for x in d] == list(range(300)), "out of order")
check(len({x["payload"]["jti"] for x in d}) == 300, "jti repeated")
PY

step "recovery: C_CloseAllSessions and fork() under the library"
RECOVERY=${RECOVERY_BIN:-}
[[ -n $RECOVERY && -x $RECOVERY ]] || fail "RECOVERY_BIN is not set to the built recovery program"
(umask 077 && rand_hex 16 >"$T/recovery-secret")
# recovery DB-DIR [ENV...]: the recovery program on a fresh NSS database.
recovery() {
    local db=$1
    shift
    mkdir -m 700 "$db"
    certutil -N -d "sql:$db" -f "$PIN_FILE" >/dev/null 2>&1 || fail "certutil -N $db failed"
    RC=0
    env "$@" P11JWT_MODULE_ARGS="configdir='sql:$db' certPrefix='' keyPrefix='' secmod='secmod.db' flags=optimizeSpace" \
        RECOVERY_HS_SECRET_FILE="$T/recovery-secret" \
        "$RECOVERY" "$NSS_MODULE" "$TOKEN" "$PIN_FILE" "$TOKEN_LABEL" >"$T/recovery.out" 2>"$T/recovery.err" ||
        RC=$?
}
recovery "$T/nssdb-recovery" RECOVERY_SKIP_LOGOUT=1
[[ $RC -eq 0 ]] || fail "recovery failed: $(cat "$T/recovery.err")"$'\n'"$(cat "$T/recovery.out")"
for phase in "initial" "after C_CloseAllSessions" "in a forked child" \
    "in the parent after the child exited"; do
    for alg in ES256 HS256; do
        grep -qxF "ok - $phase: $alg signed and verified" "$T/recovery.out" ||
            fail "recovery did not report '$phase' for $alg"
    done
done
grep -qxF 'ok - in a forked child: the module was re-initialised' "$T/recovery.out" ||
    fail "recovery did not check the child's re-initialisation"
grep -qx 'recovery: all phases passed' "$T/recovery.out" || fail "recovery did not finish"

step "KNOWN LIMIT: after a C_Logout from elsewhere in the process, NSS answers C_SignInit"
step "  with CKR_HOST_MEMORY (not CKR_USER_NOT_LOGGED_IN), which the library does not retry"
# When the library learns to log in again after it, this fails: then make
# the phase above a plain assertion (drop RECOVERY_SKIP_LOGOUT).
recovery "$T/nssdb-logout"
if [[ $RC -eq 0 ]]; then
    fail "recovery after C_Logout now works on NSS: assert it above and drop this known limit"
fi
grep -q 'after C_Logout: ES256 sign: .*CKR_HOST_MEMORY' "$T/recovery.err" ||
    fail "recovery after C_Logout failed otherwise than known: $(cat "$T/recovery.err")"

echo "nss: all checks passed"
