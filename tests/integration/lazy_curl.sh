#!/usr/bin/env bash
# lazy_curl: libcurl (and the ~28 libraries it pulls in) is loaded only by
# what speaks HTTP or parses a URL (src/exchange/libcurl.c): neither the
# CLI nor libp11jwt is linked to it, the offline commands never load it,
# and a profile's command loads it and works (scripts/bench.sh measures
# what that saves: p11jwt-start-bench).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# loads_curl CMD...: runs the CLI with the dynamic linker's file log; 0 when
# some process of it loaded a libcurl. The command must succeed.
loads_curl() {
    rm -rf "$T/ld"
    mkdir "$T/ld"
    LD_DEBUG=files LD_DEBUG_OUTPUT=$T/ld/log "$P11JWT_BIN" "$@" >"$T/out" 2>"$T/err" ||
        fail "p11jwt $*: exit $?: $(cat "$T/err")"
    ls "$T"/ld/log.* >/dev/null 2>&1 || skip "LD_DEBUG wrote no log (a setuid or static build?)"
    grep -q 'file=libcurl' "$T"/ld/log.*
}

step "neither the CLI nor libp11jwt is linked to libcurl"
lib=$(ldd "$P11JWT_BIN" | sed -n 's/^[[:space:]]*libp11jwt\.so\.0 => \([^ ]*\).*/\1/p')
[[ -n $lib ]] || fail "ldd does not show libp11jwt.so.0 for $P11JWT_BIN"
for f in "$P11JWT_BIN" "$lib"; do
    needed=$(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
    [[ $needed != *libcurl* ]] || fail "$f is linked to libcurl: $needed"
done

step "offline commands do not load it"
kid=$(p11jwt keygen "${TOK[@]}" --alg ES256) || fail "keygen failed"
! loads_curl --version || fail "--version loaded libcurl"
! loads_curl sign "${TOK[@]}" --kid "$kid" --iss it --aud https://sts.example/token ||
    fail "sign loaded libcurl"
jws=$(cat "$T/out")
! loads_curl jwks "${TOK[@]}" || fail "jwks loaded libcurl"
cp "$T/out" "$T/jwks.json"
pyverify --jwks "$T/jwks.json" --aud https://sts.example/token --iss it <<<"$jws" >/dev/null ||
    fail "PyJWT refuses the assertion"
! loads_curl list "${TOK[@]}" || fail "list loaded libcurl"

step "a profile's command loads it (its token_url is parsed) and works"
cat >"$T/config" <<EOF
[profile lazy]
dialect = rfc7523
token = $TOKEN
pin_file = $PIN_FILE
kid = $kid
iss = it-profile
token_url = https://sts.example/oauth2/token
EOF
loads_curl assertion --config "$T/config" --profile lazy ||
    fail "assertion --profile did not load libcurl: is the test still seeing the loader's log?"
pyverify --jwks "$T/jwks.json" --aud https://sts.example/oauth2/token --iss it-profile \
    <"$T/out" >/dev/null || fail "PyJWT refuses the profile's assertion"
echo "lazy_curl: all checks passed"
