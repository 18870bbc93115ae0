#!/usr/bin/env bash
# keys_hs.sh — HMAC keys: keygen HS256/384/512 (the secret never leaves the
# token, so only p11jwt can check them: verify --token recomputes the MAC in
# the token), and provider-issued secrets imported from a file and from
# standard input, whose JWS PyJWT must accept with the very same secret.
# Also: the one-trailing-newline rule, alg pinning, tampering.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

AUD=https://sts.example.invalid/token

# Flips one claim in a JWS's payload, re-encoded properly, keeping header and
# signature: a well-formed JWS whose signature no longer matches.
tamper() {
    "$PYTHON" - "$1" <<'PY'
import json, sys
from itlib import *
h, p, s = sys.argv[1].split(".")
payload = json.loads(b64d(p))
payload["iss"] = payload["iss"] + "x"
print(f"{h}.{b64e(compact_json(payload).encode())}.{s}")
PY
}

declare -A KID=()   # alg -> kid of the generated key
for alg in HS256 HS384 HS512; do
    step "$alg: keygen (default kid: 16 random bytes, base64url)"
    expect_exit 0 p11jwt keygen "${TOK[@]}" --alg "$alg"
    kid=$OUT
    KID[$alg]=$kid
    [[ $kid =~ ^[A-Za-z0-9_-]{22}$ ]] || fail "$alg: default HMAC kid '$kid' is not 22 base64url chars"

    expect_exit 0 p11jwt sign "${TOK[@]}" --kid "$kid" --iss "iss-$alg" --aud "$AUD" --ttl 120
    jws=$OUT
    pycheck "$jws" "$alg" "$kid" <<'PY'
import sys
from itlib import *
jws, alg, kid = sys.argv[1:4]
h, p, sig = split_jws(jws)
check(list(h.items()) == [("alg", alg), ("kid", kid), ("typ", "JWT")], f"header {h}")
check(len(sig) == SIG_LEN[alg], f"{alg} MAC is {len(sig)} bytes")
check(p["exp"] - p["iat"] == 120 and p["iss"] == f"iss-{alg}", f"claims {p}")
PY
    expect_exit 0 p11jwt verify "${TOK[@]}" --kid "$kid" --aud "$AUD" --iss "iss-$alg" <<<"$jws"
    expect_exit 1 p11jwt verify "${TOK[@]}" --kid "$kid" --aud "$AUD" <<<"$(tamper "$jws")"

    step "$alg: the key is pinned to $alg"
    other=HS256
    [[ $alg == HS256 ]] && other=HS512
    expect_exit 1 p11jwt sign "${TOK[@]}" --kid "$kid" --iss i --aud "$AUD" --alg "$other"
    [[ -z $OUT ]] || fail "$alg: a refused sign still printed '$OUT'"
    expect_exit 0 p11jwt sign "${TOK[@]}" --kid "$kid" --iss i --aud "$AUD" --alg "$alg"

    step "$alg: secret keys never appear in a JWKS"
    expect_exit 1 p11jwt jwks --token "$TOKEN" --kid "$kid"
done
expect_exit 0 p11jwt jwks --token "$TOKEN"
pycheck "$OUT" <<'PY'
import json, sys
from itlib import *
check(json.loads(sys.argv[1]) == {"keys": []}, f"JWKS of a token with only secret keys: {sys.argv[1]}")
PY

step "pkcs11-tool sees each generated secret as long as its hash, never extractable"
p11tool --list-objects >"$T/objects.txt" 2>/dev/null || fail "pkcs11-tool --list-objects failed"
pycheck "$T/objects.txt" "${KID[HS256]}" "${KID[HS384]}" "${KID[HS512]}" <<'PY'
import re, sys
from itlib import *
text = open(sys.argv[1]).read()
objs = re.split(r"\n(?=\S.* Object;)", text.strip())
for kid, length in zip(sys.argv[2:5], (32, 48, 64)):
    mine = [o for o in objs if re.search(rf"^\s+label:\s+{re.escape(kid)}$", o, re.M)]
    check(len(mine) == 1, f"{kid}: {len(mine)} objects labelled with it")
    o = mine[0]
    check(re.match(rf"Secret Key Object; Generic secret length {length}\b", o, re.I) is not None,
          f"{kid}: not a {length}-byte generic secret: {o.splitlines()[0]}")
    m = re.search(r"^\s+ID:\s+(\S+)$", o, re.M)
    check(m is not None and m.group(1) == kid.encode().hex(), f"{kid}: CKA_ID is not the kid's bytes")
    access = re.search(r"Access:\s+(.*)", o).group(1)
    for flag in ("sensitive", "always sensitive", "never extractable"):
        check(flag in [a.strip() for a in access.split(",")], f"{kid}: Access lacks '{flag}': {access}")
PY

step "import-secret HS256 from a file (dt-style key: a random string + newline)"
# What a provider hands out, saved by an editor: text with a final newline.
(umask 077 && head -c 33 /dev/urandom | base64 | tr -d '\n' >"$T/dt.secret" && echo >>"$T/dt.secret")
expect_exit 0 p11jwt import-secret "${TOK[@]}" --kid sa-key-1 --alg HS256 --secret-file "$T/dt.secret"
[[ $OUT == sa-key-1 ]] || fail "import-secret printed '$OUT', not the kid"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid sa-key-1 --iss svc@example.invalid --aud "$AUD" --sub svc
jws_dt=$OUT
pyverify --secret-file "$T/dt.secret" --alg HS256 --aud "$AUD" --iss svc@example.invalid \
    <<<"$jws_dt" >"$T/py.json" || fail "PyJWT rejects the JWS of the imported secret"
expect_exit 0 p11jwt verify --secret-file "$T/dt.secret" --alg HS256 --aud "$AUD" <<<"$jws_dt"
pycheck "$OUT" "$T/py.json" <<'PY'
import json, sys
from itlib import *
ours, theirs = json.loads(sys.argv[1]), load_json_lines(sys.argv[2])
check([ours] == theirs, f"p11jwt and PyJWT decode differently: {ours} vs {theirs}")
check(ours["payload"]["sub"] == "svc", f"payload {ours['payload']}")
PY
expect_exit 0 p11jwt verify "${TOK[@]}" --kid sa-key-1 --aud "$AUD" <<<"$jws_dt"

step "exactly ONE trailing newline is part of the file format, not of the secret"
# Same secret without its newline: same key. Same secret plus a second
# newline: a different key (the secret then ends in "\n"), on both sides.
head -c -1 "$T/dt.secret" >"$T/dt-bare.secret"
(cat "$T/dt.secret"; echo) >"$T/dt-2nl.secret"
pyverify --secret-file "$T/dt-bare.secret" --alg HS256 --aud "$AUD" <<<"$jws_dt" >/dev/null ||
    fail "the secret without its newline is not the same key"
expect_exit 0 p11jwt verify --secret-file "$T/dt-bare.secret" --alg HS256 --aud "$AUD" <<<"$jws_dt"
if pyverify --secret-file "$T/dt-2nl.secret" --alg HS256 --aud "$AUD" <<<"$jws_dt" >/dev/null 2>&1; then
    fail "PyJWT accepts a secret with an extra newline: the check is blind"
fi
expect_exit 1 p11jwt verify --secret-file "$T/dt-2nl.secret" --alg HS256 --aud "$AUD" <<<"$jws_dt"

step "tampered payload: rejected by p11jwt (file secret, token) and PyJWT"
bad=$(tamper "$jws_dt")
expect_exit 1 p11jwt verify --secret-file "$T/dt.secret" --alg HS256 --aud "$AUD" <<<"$bad"
expect_exit 1 p11jwt verify "${TOK[@]}" --kid sa-key-1 --aud "$AUD" <<<"$bad"
if pyverify --secret-file "$T/dt.secret" --alg HS256 --aud "$AUD" <<<"$bad" >/dev/null 2>&1; then
    fail "PyJWT accepts the tampered JWS: the tamper helper is broken"
fi

step "import-secret HS384 from standard input (the default) and with --secret-file -"
(umask 077 && head -c 36 /dev/urandom | base64 | tr -d '\n' >"$T/n384.secret")   # 48 chars, no newline
expect_exit 0 p11jwt import-secret "${TOK[@]}" --kid neo-384 --alg HS384 <"$T/n384.secret"
expect_exit 0 p11jwt import-secret "${TOK[@]}" --kid neo-384-b --alg HS384 --secret-file - <"$T/n384.secret"
for kid in neo-384 neo-384-b; do
    expect_exit 0 p11jwt sign "${TOK[@]}" --kid "$kid" --iss neo --aud "$AUD"
    jws=$OUT
    pyverify --secret-file "$T/n384.secret" --alg HS384 --aud "$AUD" <<<"$jws" >/dev/null ||
        fail "PyJWT rejects the JWS of $kid (secret imported from stdin)"
    expect_exit 0 p11jwt verify --secret-file "$T/n384.secret" --alg HS384 --aud "$AUD" <<<"$jws"
    # --alg must match what the JWS is.
    expect_exit 1 p11jwt verify --secret-file "$T/n384.secret" --alg HS256 --aud "$AUD" <<<"$jws"
done

step "import-secret HS512 of 64 arbitrary bytes: the key is the bytes as given"
"$PYTHON" -c '
import os, sys
s = os.urandom(64)
while s.endswith(b"\n"):          # a final newline would be stripped: not this test
    s = os.urandom(64)
sys.stdout.buffer.write(s)' >"$T/bin.secret"
expect_exit 0 p11jwt import-secret "${TOK[@]}" --kid bin-512 --alg HS512 --secret-file "$T/bin.secret"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid bin-512 --iss b --aud "$AUD"
jws=$OUT
pyverify --secret-file "$T/bin.secret" --alg HS512 --aud "$AUD" <<<"$jws" >/dev/null ||
    fail "PyJWT rejects the JWS of a binary HS512 secret"
expect_exit 0 p11jwt verify "${TOK[@]}" --kid bin-512 --aud "$AUD" <<<"$jws"
# An imported key is pinned by its type too.
expect_exit 1 p11jwt sign "${TOK[@]}" --kid bin-512 --iss b --aud "$AUD" --alg HS256

step "the imported secrets are sensitive, not extractable"
expect_exit 0 p11jwt list "${TOK[@]}" --json
pycheck "$OUT" <<'PY'
import json, sys
from itlib import *
keys = {k["kid"]: k for k in json.loads(sys.argv[1])}
for kid, alg in (("sa-key-1", "HS256"), ("neo-384", "HS384"), ("neo-384-b", "HS384"), ("bin-512", "HS512")):
    k = keys.get(kid)
    check(k is not None, f"{kid} missing from list")
    check(k["class"] == "secret" and k["alg"] == alg, f"{kid}: {k}")
    check(k["sensitive"] is True and k["extractable"] is False, f"{kid} flags: {k}")
PY

step "delete destroys every object of a kid, however many (more than one search batch)"
if command -v pkcs11-tool >/dev/null 2>&1; then
    before=$(object_count)
    for i in $(seq 20); do
        p11tool --keygen --key-type GENERIC:32 --id 6d616e79 --label many >/dev/null 2>&1 ||
            fail "pkcs11-tool could not make secret key $i"
    done
    # a label-only namesake of another kid is not touched
    p11tool --keygen --key-type GENERIC:32 --id 6f74686572 --label many-not >/dev/null 2>&1 ||
        fail "pkcs11-tool could not make the namesake"
    [[ $(object_count) -eq $((before + 21)) ]] || fail "setup: $(object_count) objects"
    expect_exit 0 p11jwt delete "${TOK[@]}" --kid many --yes
    [[ $(object_count) -eq $((before + 1)) ]] ||
        fail "delete left $(( $(object_count) - before - 1 )) of 20 objects of kid 'many'"
    expect_exit 1 p11jwt delete "${TOK[@]}" --kid many --yes
else
    step "(skipped: no pkcs11-tool)"
fi

echo "keys_hs: all checks passed"
