#!/usr/bin/env bash
# list.sh — `p11jwt list`: one entry per key (an EC pair is one entry, class
# private), exactly the documented fields, and every key the tool made
# sensitive and not extractable. Also a public-only key (its private half
# removed with pkcs11-tool), the text form, and delete.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

step "an empty token lists as []"
expect_exit 0 p11jwt list "${TOK[@]}" --json
pycheck "$OUT" <<'PY'
import json, sys
from itlib import *
check(json.loads(sys.argv[1]) == [], f"empty token: {sys.argv[1]}")
PY

step "make one key of every kind"
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256
es256=$OUT
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES384 --kid es384-key
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES512 --kid es512-key --label "P-521 signing key"
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg HS256 --kid hs256-gen
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg HS512
hs512=$OUT
head -c 48 /dev/urandom >"$T/s384"
printf 'x' >>"$T/s384"      # never ends in a newline
expect_exit 0 p11jwt import-secret "${TOK[@]}" --kid hs384-imp --alg HS384 --secret-file "$T/s384"

step "list --json: exact fields, classes, algs, labels, flags"
expect_exit 0 p11jwt list "${TOK[@]}" --json
printf '%s\n' "$OUT" >"$T/list.json"
pycheck "$T/list.json" "$es256" "$hs512" <<'PY'
import json, sys
from itlib import *
path, es256, hs512 = sys.argv[1:4]
keys = json.load(open(path))
check(isinstance(keys, list), "list --json is not an array")
# kid -> (alg, class, label, pinned)
want = {
    es256: ("ES256", "private", es256, "key-type"),
    "es384-key": ("ES384", "private", "es384-key", "key-type"),
    "es512-key": ("ES512", "private", "P-521 signing key", "key-type"),
    "hs256-gen": ("HS256", "secret", "hs256-gen", "mechanisms"),
    hs512: ("HS512", "secret", hs512, "mechanisms"),
    "hs384-imp": ("HS384", "secret", "hs384-imp", "key-type"),
}
check(len(keys) == len(want), f"{len(keys)} entries for {len(want)} keys (an EC pair is ONE entry): {keys}")
seen = set()
for k in keys:
    check(set(k) == {"kid", "alg", "pinned", "label", "class", "sensitive", "extractable"},
          f"fields {sorted(k)} in {k}")
    check(k["kid"] in want and k["kid"] not in seen, f"unexpected or repeated kid {k['kid']}")
    seen.add(k["kid"])
    got = (k["alg"], k["class"], k["label"], k["pinned"])
    check(got == want[k["kid"]], f"{k['kid']}: got {got}, want {want[k['kid']]}")
    # Booleans, not 0/1: `is` is deliberate.
    check(k["sensitive"] is True, f"{k['kid']} is not sensitive: {k}")
    check(k["extractable"] is False, f"{k['kid']} is extractable: {k}")
PY

step "the text form names every key"
expect_exit 0 p11jwt list "${TOK[@]}"
for kid in "$es256" es384-key es512-key hs256-gen "$hs512" hs384-imp; do
    grep -q -- "^$kid " <<<"$OUT" || fail "text list has no line for $kid: $OUT"
done
[[ $(wc -l <<<"$OUT") -eq 7 ]] || fail "text list: expected a header and 6 lines: $OUT"

step "a public key whose private half is gone lists as class public"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid es384-key --iss i --aud a
es384_jws=$OUT
id_hex=$(printf '%s' es384-key | od -An -tx1 | tr -d ' \n')
p11tool --delete-object --type privkey --id "$id_hex" >"$T/del.log" 2>&1 ||
    fail "pkcs11-tool could not delete the private half: $(cat "$T/del.log")"
expect_exit 0 p11jwt list "${TOK[@]}" --json
pycheck "$OUT" <<'PY'
import json, sys
from itlib import *
keys = {k["kid"]: k for k in json.loads(sys.argv[1])}
check(len(keys) == 6, f"{len(keys)} keys after removing one private half")
k = keys["es384-key"]
check(k["class"] == "public" and k["alg"] == "ES384", f"public-only key: {k}")
PY
# It cannot sign, but it can still verify and appear in a JWKS.
expect_exit 1 p11jwt sign "${TOK[@]}" --kid es384-key --iss i --aud a
expect_exit 0 p11jwt verify "${TOK[@]}" --kid es384-key --aud a <<<"$es384_jws"
expect_exit 0 p11jwt jwks --token "$TOKEN" --kid es384-key
printf '%s\n' "$OUT" >"$T/jwks-384.json"
expect_exit 0 p11jwt verify --jwks "$T/jwks-384.json" --aud a <<<"$es384_jws"

step "delete --yes removes every object of a key, and only those"
before_objects=$(object_count)
expect_exit 0 p11jwt delete "${TOK[@]}" --kid es512-key --yes
[[ $(key_count) -eq 5 ]] || fail "after delete: $(key_count) keys, want 5"
[[ $(object_count) -eq $((before_objects - 2)) ]] ||
    fail "delete of an EC pair removed $((before_objects - $(object_count))) objects, want 2"
objects=$(p11tool --list-objects 2>/dev/null)
grep -q 'P-521 signing key' <<<"$objects" && fail "an object of es512-key survived delete"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid es512-key --iss i --aud a
expect_exit 1 p11jwt delete "${TOK[@]}" --kid es512-key --yes
expect_exit 0 p11jwt delete "${TOK[@]}" --kid hs384-imp --yes
expect_exit 0 p11jwt delete "${TOK[@]}" --kid es384-key --yes     # the public-only one
[[ $(key_count) -eq 3 ]] || fail "after three deletes: $(key_count) keys, want 3"
# The survivors still work.
expect_exit 0 p11jwt sign "${TOK[@]}" --kid "$es256" --iss i --aud a
expect_exit 0 p11jwt sign "${TOK[@]}" --kid hs256-gen --iss i --aud a

step "a kid with a space or non-ASCII, and a label of its own: refused, or shown as itself"
# Either answer is fair; publishing the key under another kid is not: the
# JWKS would not match the JWS the same key signs.
for odd in 'my key' 'clé-1'; do
    keys_before=$(key_count)
    run_cmd p11jwt keygen "${TOK[@]}" --alg ES256 --kid "$odd" --label "Label of $odd"
    if [[ $RC -ne 0 ]]; then
        [[ $RC -eq 1 || $RC -eq 2 ]] || fail "keygen --kid '$odd' exited $RC"
        check_stderr "$RC"
        [[ $(key_count) -eq $keys_before ]] || fail "a refused keygen --kid '$odd' left a key behind"
        continue
    fi
    [[ $OUT == "$odd" ]] || fail "keygen --kid '$odd' printed '$OUT'"
    expect_exit 0 p11jwt list "${TOK[@]}" --json
    pycheck "$OUT" "$odd" <<'PY'
import json, sys
from itlib import *
odd = sys.argv[2]
keys = json.loads(sys.argv[1])
mine = [k for k in keys if k["label"] == f"Label of {odd}"]
check(len(mine) == 1, f"no single entry labelled 'Label of {odd}': {keys}")
check(mine[0]["kid"] == odd, f"key made with kid {odd!r} is listed as kid {mine[0]['kid']!r}")
PY
    expect_exit 0 p11jwt jwks --token "$TOKEN"
    printf '%s\n' "$OUT" >"$T/jwks-odd.json"
    expect_exit 0 p11jwt sign "${TOK[@]}" --kid "$odd" --iss i --aud a
    odd_jws=$OUT
    expect_exit 0 p11jwt verify --jwks "$T/jwks-odd.json" --aud a <<<"$odd_jws"
    pyverify --jwks "$T/jwks-odd.json" --aud a <<<"$odd_jws" >/dev/null ||
        fail "PyJWT cannot verify kid '$odd' with the token's full JWKS"
done

step "labels that are not UTF-8: listed escaped, never used as a kid"
if command -v pkcs11-tool >/dev/null 2>&1; then
    # text ID, bad label; binary ID, bad label; no ID (pkcs11-tool sets
    # none for a pair without --id), bad label
    p11tool --keygen --key-type GENERIC:32 --id 74657874 --label $'bad\xff\x1b[31mA' >/dev/null 2>&1 ||
        fail "pkcs11-tool could not make a key"
    p11tool --keygen --key-type GENERIC:32 --id 01fe --label $'bad\xfeB' >/dev/null 2>&1 ||
        fail "pkcs11-tool could not make a key"
    p11tool --keypairgen --key-type EC:prime256v1 --label $'bad\xc0C' >/dev/null 2>&1 ||
        fail "pkcs11-tool could not make a key pair"
    expect_exit 0 p11jwt list "${TOK[@]}" --json
    pycheck "$OUT" <<'PY'
import json, sys
from itlib import *
keys = json.loads(sys.argv[1])
by_label = {k["label"]: k for k in keys}
a = by_label.get("bad\\xff\\x1b[31mA")
b = by_label.get("bad\\xfeB")
c = by_label.get("bad\\xc0C")
check(a is not None and b is not None and c is not None, f"labels not shown escaped: {keys}")
check(a["kid"] == "text", f"a text CKA_ID is the kid: {a}")
check(b["kid"] == "01fe", f"a binary CKA_ID is shown in hex, not the label: {b}")
# no CKA_ID and a label that is not text: no kid at all
check(c["kid"] == "", f"a bad label became the kid: {c}")
PY
    expect_exit 0 p11jwt list "${TOK[@]}"
    LC_ALL=C grep -q $'[\x1b\xff\xfe\xc0]' "$T/out" && fail "raw bytes in the table: $OUT"
    grep -qF 'bad\xff\x1b[31mA' <<<"$OUT" || fail "the table does not show the label escaped: $OUT"
    expect_exit 0 p11jwt jwks --token "$TOKEN"
else
    step "(skipped: no pkcs11-tool)"
fi

echo "list: all checks passed"
