#!/usr/bin/env bash
# quickstart.sh — the whole offline job on the embedded default (SoftHSM):
# install what is missing, build, make a development token under tokens/dev/
# (ignored by git, remade on every run), generate an ES512 key, import an
# HS256 secret, sign one assertion with each, print them decoded, print the
# JWKS, and verify both with p11jwt and with PyJWT. Then exchange: start the
# project's test STS on loopback, get access tokens and call a protected
# resource with a noa-style (ES512) and a dt-style (HS256) profile.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
dev=$root/tokens/dev

step() { printf '\n== %s\n' "$*"; }

step "dependencies"
"$root/scripts/deps.sh"

step "build ($build)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target p11jwt_cli >/dev/null
p11jwt() { "$build/p11jwt" "$@"; }
p11jwt --version

step "development token in tokens/dev/"
rm -rf "$dev"
mkdir -p "$dev/tokendir"
chmod 700 "$dev"
sed "s|@TOKENDIR@|$dev/tokendir|" "$root/tokens/softhsm2.conf.in" > "$dev/softhsm2.conf"
export SOFTHSM2_CONF=$dev/softhsm2.conf
# A random PIN in a file only this user can read: never on a command line
# of ours (softhsm2-util itself takes it on argv, once, at init).
umask 077
head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dev/pin"
head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dev/so-pin"
softhsm2-util --init-token --free --label p11jwt-dev \
    --pin "$(cat "$dev/pin")" --so-pin "$(cat "$dev/so-pin")" >/dev/null
token="pkcs11:token=p11jwt-dev"
tok=(--token "$token" --pin-file "$dev/pin")
echo "token: $token  (SOFTHSM2_CONF=$SOFTHSM2_CONF, PIN in $dev/pin)"

step "generate an ES512 key (kid = its RFC 7638 thumbprint)"
es_kid=$(p11jwt keygen "${tok[@]}" --alg ES512)
echo "kid: $es_kid"

step "import a provider-issued HS256 secret (dt-style service account key)"
# What a provider hands out: a random string. It goes into the token once;
# the copy here is kept only so PyJWT can check our signature below.
head -c 33 /dev/urandom | base64 | tr -d '\n' > "$dev/hs256.secret"
hs_kid=sa-key-quickstart
p11jwt import-secret "${tok[@]}" --kid "$hs_kid" --alg HS256 --secret-file "$dev/hs256.secret"

step "keys in the token"
p11jwt list "${tok[@]}"

step "sign one assertion with each key, offline"
token_url=https://sts.example.invalid/oauth2/token
es_jws=$(p11jwt sign "${tok[@]}" --kid "$es_kid" --iss my-client --aud "$token_url" \
    --claim organization=0b7c1f0e-5f2a-4d3c-9a58-2f9c1b6d7e41 --ttl 600)
hs_jws=$(p11jwt sign "${tok[@]}" --kid "$hs_kid" --iss svc@example.invalid --aud "$token_url" \
    --ttl 3600)
printf 'ES512: %s\n\nHS256: %s\n' "$es_jws" "$hs_jws"

step "decoded"
decode() {
    /usr/bin/python3 - "$1" <<'PY'
import base64, json, sys
parts = sys.argv[1].split(".")
for name, part in zip(("header", "payload"), parts[:2]):
    data = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    print(f"{name}: {json.dumps(json.loads(data))}")
print(f"signature: {len(base64.urlsafe_b64decode(parts[2] + '=' * (-len(parts[2]) % 4)))} bytes")
PY
}
echo "ES512:"; decode "$es_jws"
echo "HS256:"; decode "$hs_jws"

step "JWKS (what the STS registers; secret keys never appear)"
p11jwt jwks --token "$token" | tee "$dev/jwks.json"

step "verify with p11jwt"
printf '%s' "$es_jws" | p11jwt verify --jwks "$dev/jwks.json" --aud "$token_url" >/dev/null
echo "ES512: valid (p11jwt verify --jwks)"
printf '%s' "$hs_jws" | p11jwt verify "${tok[@]}" --kid "$hs_kid" --aud "$token_url" >/dev/null
echo "HS256: valid (p11jwt verify --token, MAC recomputed in the token)"

step "verify with PyJWT (an implementation we did not write)"
/usr/bin/python3 "$root/tests/integration/pyjwt_verify.py" --jwks "$dev/jwks.json" \
    --aud "$token_url" <<<"$es_jws" >/dev/null
echo "ES512: valid (PyJWT, JWKS)"
/usr/bin/python3 "$root/tests/integration/pyjwt_verify.py" --secret-file "$dev/hs256.secret" \
    --alg HS256 --aud "$token_url" <<<"$hs_jws" >/dev/null
echo "HS256: valid (PyJWT, the provider's secret)"

step "exchange: the project's test STS on 127.0.0.1 (tests/sts/sts.py)"
rm -f "$dev/sts.port"
/usr/bin/python3 "$root/tests/sts/sts.py" --port-file "$dev/sts.port" \
    --jwks "$dev/jwks.json" --secret "$hs_kid=$dev/hs256.secret" 2>"$dev/sts.log" &
sts_pid=$!
trap 'kill $sts_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$dev/sts.port" ] && break; sleep 0.1; done
[ -s "$dev/sts.port" ] || { echo "the test STS did not start; see $dev/sts.log" >&2; exit 1; }
sts=http://127.0.0.1:$(cat "$dev/sts.port")
echo "STS: $sts"
cat > "$dev/config" <<CONF
# Profiles for the quickstart's test STS (see docs/exchange.md).
[profile noa]
dialect = noa
token = $token
pin_file = $dev/pin
kid = $es_kid
iss = my shiny backend
claim.organization = 0b7c1f0e-5f2a-4d3c-9a58-2f9c1b6d7e41
token_url = $sts/noa/token
ttl = 10m

[profile dt]
dialect = dt
token = $token
pin_file = $dev/pin
kid = $hs_kid
iss = svc@example.invalid
token_url = $sts/dt/token
ttl = 3600
CONF
for profile in noa dt; do
    echo "-- profile $profile ($dev/config)"
    # The token is a credential: show its start and length only.
    p11jwt token --config "$dev/config" --profile "$profile" --json |
        /usr/bin/python3 -c 'import json, sys; t = json.load(sys.stdin)
t["access_token"] = "%s... (%d chars)" % (t["access_token"][:8], len(t["access_token"]))
print("token:", json.dumps(t))'
    printf 'call %s/%s/resource: ' "$sts" "$profile"
    p11jwt call --config "$dev/config" --profile "$profile" "$sts/$profile/resource" |
        /usr/bin/python3 -c 'import json, sys; r = json.load(sys.stdin)
print("HTTP 2xx", {k: r[k] for k in ("ok", "dialect", "method")})'
done

step "done"
echo "Try: SOFTHSM2_CONF=$SOFTHSM2_CONF $build/p11jwt sign --token '$token' --pin-file $dev/pin --kid $es_kid --iss me --aud you"
echo "     SOFTHSM2_CONF=$SOFTHSM2_CONF $build/p11jwt assertion --config $dev/config --profile noa"
