#!/usr/bin/env bash
# bad_input.sh — every way an operator can get it wrong: the right exit code
# (2 usage, 1 operation failed), one clear "p11jwt: " line on stderr, nothing
# on stdout, and nothing half-made in the token (the key list and the raw
# PKCS#11 object count are unchanged, and existing keys still work).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

AUD=https://sts.example.invalid/token

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES512 --kid p521
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid dup
export_jwks "$T/jwks-dup.json" dup
(umask 077 && head -c 40 /dev/urandom | base64 | tr -d '\n' >"$T/first.secret")
expect_exit 0 p11jwt import-secret "${TOK[@]}" --kid sec --alg HS256 --secret-file "$T/first.secret"

KEYS0=$(key_count)
OBJS0=$(object_count)
[[ $KEYS0 -eq 3 && $OBJS0 -eq 5 ]] || fail "setup: $KEYS0 keys / $OBJS0 objects, want 3 / 5"

# The token holds exactly what it held before the failure, and its keys work.
unchanged() {
    local k o
    k=$(key_count)
    o=$(object_count)
    [[ $k -eq $KEYS0 ]] || fail "after '$1': $k keys in the token, was $KEYS0"
    [[ $o -eq $OBJS0 ]] || fail "after '$1': $o PKCS#11 objects, was $OBJS0 (something half-made)"
}
# A failed command prints nothing on stdout (no partial kid, no partial JWS).
no_stdout() {
    [[ -z $OUT ]] || fail "a failed command printed on stdout: '$OUT'"
}

step "malformed token URIs are usage errors (2)"
expect_exit 2 p11jwt list --token "token=$TOKEN_LABEL" --pin-file "$PIN_FILE"
expect_exit 2 p11jwt list --token 'pkcs11:token=%zz' --pin-file "$PIN_FILE"
expect_exit 2 p11jwt sign --token "" --pin-file "$PIN_FILE" --kid dup --iss i --aud "$AUD"
no_stdout

step "a module that does not exist (1)"
expect_exit 1 p11jwt list --token "pkcs11:token=$TOKEN_LABEL?module-path=/nonexistent/libnope.so" --pin-file "$PIN_FILE"
P11JWT_MODULE=/nonexistent/libnope.so expect_exit 1 p11jwt list --token "$TOKEN" --pin-file "$PIN_FILE"

step "a token label that is not there (1)"
expect_exit 1 p11jwt list --token "pkcs11:token=no-such-token-$RANDOM" --pin-file "$PIN_FILE"
expect_exit 1 p11jwt keygen --token "pkcs11:token=no-such-token-$RANDOM" --pin-file "$PIN_FILE" --alg ES256
no_stdout

step "a wrong PIN (1), twice; the token is not locked: the right PIN still works"
(umask 077 && printf '%s' "wrong-$(cat "$PIN_FILE")" >"$T/wrong-pin")
expect_exit 1 p11jwt list --token "$TOKEN" --pin-file "$T/wrong-pin"
expect_err_matches 'incorrect|wrong'
expect_exit 1 p11jwt sign --token "$TOKEN" --pin-file "$T/wrong-pin" --kid dup --iss i --aud "$AUD"
no_stdout
expect_exit 0 p11jwt sign "${TOK[@]}" --kid dup --iss i --aud "$AUD"
# ... and through --pin-env too.
WRONG=nope expect_exit 1 p11jwt list --token "$TOKEN" --pin-env WRONG
expect_err_matches 'incorrect|wrong'    # the PIN was read, and refused
P11JWT_TEST_PIN=$(cat "$PIN_FILE") expect_exit 0 p11jwt list --token "$TOKEN" --pin-env P11JWT_TEST_PIN
expect_exit 1 env -u P11JWT_UNSET_VAR "$P11JWT_BIN" list --token "$TOKEN" --pin-env P11JWT_UNSET_VAR
expect_exit 2 p11jwt list --token "$TOKEN" --pin-file "$PIN_FILE" --pin-env P11JWT_TEST_PIN

step "an unreadable PIN file (1): missing, or a directory"
expect_exit 1 p11jwt list --token "$TOKEN" --pin-file "$T/no-such-pin-file"
expect_exit 1 p11jwt list --token "$TOKEN" --pin-file "$T"
if [[ $(id -u) -ne 0 ]]; then     # root reads a mode-000 file anyway
    (umask 077 && cp "$PIN_FILE" "$T/locked-pin" && chmod 000 "$T/locked-pin")
    expect_exit 1 p11jwt list --token "$TOKEN" --pin-file "$T/locked-pin"
fi

step "no PIN source and no terminal to prompt on (1, not a hang)"
# setsid: no controlling terminal, so the prompt fallback cannot block.
expect_exit 1 timeout 20 setsid -w "$P11JWT_BIN" list --token "$TOKEN" </dev/null
# Every source named, the URI's too (issue 17.14).
expect_err_matches "no PIN for token '$TOKEN_LABEL': give --pin-file or --pin-env \(in a profile: pin_file or pin_env\), or pin-source=FILE in the token URI"

step "a PIN on the command line is refused (2), whatever the command"
for cmd in list keygen sign jwks import-secret delete verify; do
    expect_exit 2 p11jwt "$cmd" --token "$TOKEN" --pin "$(cat "$PIN_FILE")" </dev/null
    expect_err_matches 'pin'
done
unchanged "--pin"

step "a PIN in the URI (pin-value=) is refused (2), never used, never echoed"
PIN=$(cat "$PIN_FILE")
for uri in "$TOKEN?pin-value=$PIN" "$TOKEN;object=dup?pin-value=$PIN" "$TOKEN?PIN-VALUE=$PIN"; do
    expect_exit 2 p11jwt list --token "$uri" </dev/null
    expect_err_matches 'pin-source='
    expect_err_matches '--pin-file'
    expect_err_matches '--pin-env'
    grep -qF -- "$PIN" <<<"$ERR" && fail "the PIN is echoed: $ERR"
done
expect_exit 2 p11jwt sign --token "$TOKEN?pin-value=$PIN" --kid dup --iss i --aud "$AUD" </dev/null
no_stdout
printf '[profile p]\ndialect = rfc7523\ntoken = %s?pin-value=%s\nkid = dup\niss = i\ntoken_url = http://127.0.0.1:9/t\n' \
    "$TOKEN" "$PIN" >"$T/pin-value.conf"
expect_exit 1 p11jwt assertion --config "$T/pin-value.conf" --profile p
expect_err_matches 'pin-value.conf:3: token: .*pin-source='
grep -qF -- "$PIN" <<<"$ERR" && fail "the PIN is echoed: $ERR"

step "a kid that does not exist (1)"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid nope --iss i --aud "$AUD"
no_stdout
expect_exit 1 p11jwt verify "${TOK[@]}" --kid nope --aud "$AUD" <<<"a.b.c"
expect_exit 1 p11jwt jwks --token "$TOKEN" --kid nope
no_stdout
expect_exit 1 p11jwt delete "${TOK[@]}" --kid nope --yes
unchanged "kid not found"

step "a duplicate kid on keygen and import-secret (1); the first key survives"
for alg in ES256 ES384 HS256; do
    expect_exit 1 p11jwt keygen "${TOK[@]}" --alg "$alg" --kid dup
    no_stdout
done
expect_exit 1 p11jwt keygen "${TOK[@]}" --alg HS256 --kid sec
(umask 077 && head -c 40 /dev/urandom | base64 | tr -d '\n' >"$T/second.secret")
expect_exit 1 p11jwt import-secret "${TOK[@]}" --kid dup --alg HS256 --secret-file "$T/second.secret"
expect_exit 1 p11jwt import-secret "${TOK[@]}" --kid sec --alg HS256 --secret-file "$T/second.secret"
no_stdout
unchanged "duplicate kid"
# dup is still the ES256 key it was: same alg, same public key.
expect_exit 0 p11jwt sign "${TOK[@]}" --kid dup --iss i --aud "$AUD"
pyverify --jwks "$T/jwks-dup.json" --aud "$AUD" <<<"$OUT" >/dev/null ||
    fail "after the duplicate attempts, dup no longer signs with its original key"
# sec still holds the FIRST secret, not the second.
expect_exit 0 p11jwt sign "${TOK[@]}" --kid sec --iss i --aud "$AUD"
sec_jws=$OUT
pyverify --secret-file "$T/first.secret" --alg HS256 --aud "$AUD" <<<"$sec_jws" >/dev/null ||
    fail "after the duplicate import, sec no longer holds the first secret"
expect_exit 1 p11jwt verify --secret-file "$T/second.secret" --alg HS256 --aud "$AUD" <<<"$sec_jws"

step "an alg the key cannot sign with (1): ES384 on a P-521 key"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid p521 --iss i --aud "$AUD" --alg ES384
no_stdout
expect_err_matches 'ES384'
expect_exit 1 p11jwt sign "${TOK[@]}" --kid p521 --iss i --aud "$AUD" --alg HS512
expect_exit 1 p11jwt sign "${TOK[@]}" --kid sec --iss i --aud "$AUD" --alg ES256
expect_exit 0 p11jwt sign "${TOK[@]}" --kid p521 --iss i --aud "$AUD" --alg ES512
expect_exit 2 p11jwt sign "${TOK[@]}" --kid p521 --iss i --aud "$AUD" --alg none
expect_exit 2 p11jwt sign "${TOK[@]}" --kid p521 --iss i --aud "$AUD" --alg es512

step "claims that are not a JSON object, or not JSON (1); malformed --claim (2)"
printf '[1,2]\n' >"$T/array.json"
printf '{"a": 1,\n' >"$T/broken.json"
printf '"just a string"\n' >"$T/string.json"
for f in array broken string; do
    expect_exit 1 p11jwt sign "${TOK[@]}" --kid dup --iss i --aud "$AUD" --claims-file "$T/$f.json"
    no_stdout
done
expect_exit 1 p11jwt sign "${TOK[@]}" --kid dup --iss i --aud "$AUD" --claims-file "$T/missing.json"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid dup --iss i --aud "$AUD" --claims-file - <"$T/array.json"
expect_exit 2 p11jwt sign "${TOK[@]}" --kid dup --iss i --aud "$AUD" --claim novalue
expect_exit 2 p11jwt sign "${TOK[@]}" --kid dup --iss i --aud "$AUD" --claim 'n:={bad'
expect_exit 2 p11jwt sign "${TOK[@]}" --kid dup --iss i --aud "$AUD" --claim '=x'
# Extras may not redefine a standard claim: an assertion's iss is --iss.
expect_exit 1 p11jwt sign "${TOK[@]}" --kid dup --iss i --aud "$AUD" --claim iss=evil
no_stdout
printf '{"exp": 99999999999}\n' >"$T/exp.json"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid dup --iss i --aud "$AUD" --claims-file "$T/exp.json"

step "secrets that are empty or too short (1)"
: >"$T/empty.secret"
printf '\n' >"$T/newline.secret"
head -c 31 /dev/zero | tr '\0' 'a' >"$T/31.secret"
head -c 47 /dev/zero | tr '\0' 'a' >"$T/47.secret"
head -c 63 /dev/zero | tr '\0' 'a' >"$T/63.secret"
(head -c 31 /dev/zero | tr '\0' 'a'; echo) >"$T/31nl.secret"    # 32 bytes with its newline
expect_exit 1 p11jwt import-secret "${TOK[@]}" --kid e1 --alg HS256 --secret-file "$T/empty.secret"
expect_exit 1 p11jwt import-secret "${TOK[@]}" --kid e2 --alg HS256 </dev/null
expect_exit 1 p11jwt import-secret "${TOK[@]}" --kid e3 --alg HS256 --secret-file "$T/newline.secret"
expect_exit 1 p11jwt import-secret "${TOK[@]}" --kid e4 --alg HS256 --secret-file "$T/31.secret"
expect_exit 1 p11jwt import-secret "${TOK[@]}" --kid e5 --alg HS256 --secret-file "$T/31nl.secret"
expect_exit 1 p11jwt import-secret "${TOK[@]}" --kid e6 --alg HS384 --secret-file "$T/47.secret"
expect_exit 1 p11jwt import-secret "${TOK[@]}" --kid e7 --alg HS512 --secret-file "$T/63.secret"
expect_exit 1 p11jwt import-secret "${TOK[@]}" --kid e8 --alg HS256 --secret-file "$T/missing.secret"
no_stdout
expect_exit 1 p11jwt verify --secret-file "$T/empty.secret" --alg HS256 --aud "$AUD" <<<"$sec_jws"
unchanged "empty or short secrets"

step "usage errors (2)"
# No command at all: a usage error like any other, one line, exit 2.
expect_exit 2 p11jwt
expect_exit 2 p11jwt frobnicate
expect_exit 2 p11jwt keygen "${TOK[@]}"                                  # no --alg
expect_exit 2 p11jwt keygen "${TOK[@]}" --alg RS1
expect_exit 2 p11jwt keygen "${TOK[@]}" --alg RS256 --bits 1024
expect_exit 2 p11jwt keygen "${TOK[@]}" --alg ES256 --kid ''
expect_exit 2 p11jwt keygen --alg ES256                                  # no --token
expect_exit 2 p11jwt import-secret "${TOK[@]}" --kid x --alg ES256 </dev/null
expect_exit 2 p11jwt import-secret "${TOK[@]}" --alg HS256 </dev/null    # no --kid
expect_exit 2 p11jwt import-secret "${TOK[@]}" --kid x --alg HS256 s3cr3t-on-argv </dev/null
expect_exit 2 p11jwt sign "${TOK[@]}" --kid dup --aud "$AUD"             # no --iss
expect_exit 2 p11jwt sign "${TOK[@]}" --kid dup --iss i                  # no --aud
expect_exit 2 p11jwt sign "${TOK[@]}" --iss i --aud "$AUD"               # no --kid
expect_exit 2 p11jwt sign "${TOK[@]}" --kid dup --iss i --aud "$AUD" --ttl 0
expect_exit 2 p11jwt sign "${TOK[@]}" --kid dup --iss i --aud "$AUD" --ttl 10x
expect_exit 2 p11jwt sign "${TOK[@]}" --kid dup --iss i --aud "$AUD" --ttl 367d
expect_exit 2 p11jwt sign "${TOK[@]}" --kid dup --iss i --aud "$AUD" --ttl 0m
# Durations mean what they mean in a config file: --ttl 10m is ttl = 10m.
expect_exit 0 p11jwt sign "${TOK[@]}" --kid dup --iss i --aud "$AUD" --ttl 10m
pycheck "$OUT" <<'PY'
import base64, json, sys
p = sys.argv[1].split(".")[1]
p = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
assert p["exp"] - p["iat"] == 600, p
PY
expect_exit 2 p11jwt sign "${TOK[@]}" --kid dup --iss i --aud "$AUD" --bogus
expect_exit 2 p11jwt sign "${TOK[@]}" --kid dup --iss i --aud "$AUD" --ttl
expect_exit 2 p11jwt verify --aud "$AUD" </dev/null                      # no key source
expect_exit 2 p11jwt verify --jwks "$T/jwks-dup.json" "${TOK[@]}" --kid dup </dev/null
expect_exit 2 p11jwt verify --secret-file "$T/first.secret" </dev/null   # no --alg
expect_exit 2 p11jwt verify --secret-file "$T/first.secret" --alg ES256 </dev/null
expect_exit 2 p11jwt verify "${TOK[@]}" </dev/null                       # --token without --kid
expect_exit 2 p11jwt verify --jwks "$T/jwks-dup.json" --leeway -5 </dev/null
expect_exit 2 p11jwt list "${TOK[@]}" extra-arg
no_stdout
unchanged "usage errors"

step "delete without --yes is a usage error (2) and deletes nothing"
expect_exit 2 p11jwt delete "${TOK[@]}" --kid dup
expect_err_matches 'yes'
expect_exit 2 p11jwt delete "${TOK[@]}" --yes                           # no --kid
unchanged "delete without --yes"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid dup --iss i --aud "$AUD"

echo "bad_input: all checks passed"
