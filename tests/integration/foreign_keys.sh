#!/usr/bin/env bash
# foreign_keys.sh — keys made by another tool (pkcs11-tool), as a bank's
# HSM holds them: a generic secret without CKA_ALLOWED_MECHANISMS pins no
# alg, so it signs only when the caller names one (--alg, a profile's alg),
# and the error without it says so and how; one that allows one HMAC is
# pinned by it, one that allows two takes either; an EC pair is pinned by
# its curve. `list` shows which (pinned: none, mechanisms, key-type).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
command -v pkcs11-tool >/dev/null 2>&1 || skip "no pkcs11-tool"

AUD=https://sts.example.invalid/token

hexid() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }

# secret KID BYTES [pkcs11-tool options]: a generic secret pkcs11-tool
# generates, extractable so that its value can be read for PyJWT (a
# provider's secret is known to both sides too), into $T/KID.bin.
secret() {
    local kid=$1 len=$2
    shift 2
    p11tool --keygen --key-type "GENERIC:$len" --id "$(hexid "$kid")" --label "$kid" \
        --extractable "$@" >"$T/$kid.log" 2>&1 || fail "pkcs11-tool --keygen: $(cat "$T/$kid.log")"
    p11tool --read-object --type secrkey --id "$(hexid "$kid")" -o "$T/$kid.bin" >>"$T/$kid.log" 2>&1 ||
        fail "pkcs11-tool --read-object: $(cat "$T/$kid.log")"
    [[ $(stat -c %s "$T/$kid.bin") -eq $len ]] || fail "$kid: read $(stat -c %s "$T/$kid.bin") bytes"
    # A secret file loses one trailing newline (the CLI's rule, and pyverify's).
    [[ $(tail -c 1 "$T/$kid.bin" | od -An -tx1 | tr -d ' ') == 0a ]] && printf '\n' >>"$T/$kid.bin"
    return 0
}

step "pkcs11-tool makes generic secrets and an EC pair"
secret gen 64
secret short 32
secret two 64 --allowed-mechanisms SHA384-HMAC,SHA512-HMAC
secret one 32 --allowed-mechanisms SHA256-HMAC
p11tool --keypairgen --key-type EC:secp384r1 --id "$(hexid ec)" --label ec >"$T/k.log" 2>&1 ||
    fail "pkcs11-tool --keypairgen: $(cat "$T/k.log")"
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg HS256 --kid ours

step "list --json: pinned none / mechanisms / key-type, alg null when none"
expect_exit 0 p11jwt list "${TOK[@]}" --json
pycheck "$OUT" <<'PY'
import json, sys
from itlib import *
keys = {k["kid"]: k for k in json.loads(sys.argv[1])}
want = {"gen": (None, "none"), "short": (None, "none"), "two": (None, "none"), "one": ("HS256", "mechanisms"),
        "ec": ("ES384", "key-type"), "ours": ("HS256", "mechanisms")}
check(set(keys) == set(want), f"kids {sorted(keys)}")
for kid, (alg, pinned) in want.items():
    k = keys[kid]
    check((k["alg"], k["pinned"]) == (alg, pinned), f"{kid}: {k}, want alg {alg} pinned {pinned}")
    check(set(k) == {"kid", "alg", "pinned", "label", "class", "sensitive", "extractable"},
          f"fields {sorted(k)}")
PY
step "the text form has a PINNED column"
expect_exit 0 p11jwt list "${TOK[@]}"
grep -Eq '^KID +ALG +PINNED +CLASS' <<<"$OUT" || fail "no PINNED column: $OUT"
grep -Eq '^gen +- +none +secret ' <<<"$OUT" || fail "gen not shown as pinned none: $OUT"
grep -Eq '^ec +ES384 +key-type +private ' <<<"$OUT" || fail "ec not shown as key-type: $OUT"

step "a generic secret that pins no alg: refused without --alg, and the error says how"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid gen --iss i --aud "$AUD"
expect_err_matches "does not pin its alg.*--alg"
[[ -z $OUT ]] || fail "a refused sign printed '$OUT'"

step "... signs with each HS alg it is given, and PyJWT verifies with the secret"
for alg in HS256 HS384 HS512; do
    expect_exit 0 p11jwt sign "${TOK[@]}" --kid gen --iss i --aud "$AUD" --alg "$alg"
    jws=$OUT
    pyverify --secret-file "$T/gen.bin" --alg "$alg" --aud "$AUD" <<<"$jws" >/dev/null ||
        fail "PyJWT rejects the $alg JWS of the generic secret"
    expect_exit 0 p11jwt verify "${TOK[@]}" --kid gen --alg "$alg" --aud "$AUD" <<<"$jws"
done
expect_exit 1 p11jwt verify "${TOK[@]}" --kid gen --aud "$AUD" <<<"$jws"
expect_err_matches "does not pin its alg"

step "... but not as an alg of another family, nor one longer than the key"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid short --iss i --aud "$AUD" --alg HS256
expect_exit 1 p11jwt sign "${TOK[@]}" --kid short --iss i --aud "$AUD" --alg HS384
expect_err_matches "'short' is 32 bytes long: HS384 needs at least 48"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid gen --iss i --aud "$AUD" --alg ES256
expect_err_matches "ES256 cannot be used with secret key 'gen'"

step "allowed mechanisms SHA384-HMAC,SHA512-HMAC: either alg, not HS256"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid two --iss i --aud "$AUD"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid two --iss i --aud "$AUD" --alg HS256
expect_err_matches "CKA_ALLOWED_MECHANISMS does not allow"
for alg in HS384 HS512; do
    expect_exit 0 p11jwt sign "${TOK[@]}" --kid two --iss i --aud "$AUD" --alg "$alg"
    pyverify --secret-file "$T/two.bin" --alg "$alg" --aud "$AUD" <<<"$OUT" >/dev/null ||
        fail "PyJWT rejects the $alg JWS of 'two'"
done

step "one allowed mechanism pins the alg; the EC curve pins it"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid one --iss i --aud "$AUD"
pyverify --secret-file "$T/one.bin" --alg HS256 --aud "$AUD" <<<"$OUT" >/dev/null ||
    fail "PyJWT rejects the JWS of 'one'"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid one --iss i --aud "$AUD" --alg HS512
expect_err_matches "pinned to HS256"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid ec --iss i --aud "$AUD"
ec_jws=$OUT
expect_exit 0 p11jwt sign "${TOK[@]}" --kid ec --iss i --aud "$AUD" --alg ES384
expect_exit 1 p11jwt sign "${TOK[@]}" --kid ec --iss i --aud "$AUD" --alg ES256
export_jwks "$T/jwks.json" ec
pyverify --jwks "$T/jwks.json" --aud "$AUD" <<<"$ec_jws" >/dev/null || fail "PyJWT rejects the pkcs11-tool EC key's JWS"

step "a profile's alg does what --alg does (p11jwt assertion, offline)"
unset P11JWT_CONFIG
for name in named:"alg = HS512" bare: wrong:"alg = ES256"; do
    printf '[profile %s]\ndialect = rfc7523\ntoken = %s\npin_file = %s\ntoken_url = %s\nkid = gen\niss = i\n%s\n' \
        "${name%%:*}" "$TOKEN" "$PIN_FILE" "$AUD" "${name#*:}" >>"$T/p11jwt.conf"
done
expect_exit 0 p11jwt assertion --config "$T/p11jwt.conf" --profile named
pyverify --secret-file "$T/gen.bin" --alg HS512 --aud "$AUD" <<<"$OUT" >/dev/null ||
    fail "PyJWT rejects the profile's HS512 assertion"
expect_exit 1 p11jwt assertion --config "$T/p11jwt.conf" --profile bare
expect_err_matches "does not pin its alg.*profile's alg"
expect_exit 1 p11jwt assertion --config "$T/p11jwt.conf" --profile wrong
expect_err_matches "ES256 cannot be used with secret key 'gen'"

echo "foreign_keys: all checks passed"
