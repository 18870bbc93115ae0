#!/usr/bin/env bash
# batch.sh — `p11jwt sign --batch`: 1000 lines of extra claims in, 1000 JWS
# out, one per line, in order, each valid, each with its own jti. All 1000
# are verified by PyJWT in ONE python process. Then the failure modes: a bad
# line stops the batch at that line with what came before it intact.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

AUD=https://sts.example.invalid/token
N=1000

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256
kid=$OUT
export_jwks "$T/jwks.json" "$kid"

# Line i carries {"n": i}; every 7th line one claim more, every 100th a
# claim that overrides the --claim given on the command line.
"$PYTHON" - "$N" >"$T/in.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    line = {"n": i}
    if i % 7 == 0:
        line["seventh"] = True
    if i % 100 == 0:
        line["fixed"] = "overridden"
    print(json.dumps(line))
PY

step "ES256: $N lines"
start=$(date +%s)
p11jwt sign "${TOK[@]}" --kid "$kid" --iss batch --aud "$AUD" --ttl 900 --claim fixed=cli \
    --batch <"$T/in.jsonl" >"$T/out.jws" 2>"$T/err" || fail "sign --batch failed: $(cat "$T/err")"
end=$(date +%s)
[[ ! -s $T/err ]] || fail "sign --batch wrote to stderr: $(cat "$T/err")"
[[ $(wc -l <"$T/out.jws") -eq $N ]] || fail "sign --batch: $(wc -l <"$T/out.jws") lines out for $N in"

pyverify --jwks "$T/jwks.json" --aud "$AUD" --iss batch --lines <"$T/out.jws" >"$T/decoded.jsonl" ||
    fail "PyJWT rejects a JWS of the batch"
pycheck "$T/decoded.jsonl" "$T/out.jws" "$N" "$kid" "$start" "$end" <<'PY'
import sys
from itlib import *
decoded_path, jws_path, n, kid, start, end = sys.argv[1:7]
n, start, end = int(n), int(start), int(end)
decoded = load_json_lines(decoded_path)
check(len(decoded) == n, f"PyJWT decoded {len(decoded)} of {n}")
jtis = set()
for i, d in enumerate(decoded):
    h, p = d["header"], d["payload"]
    check(h == {"alg": "ES256", "kid": kid, "typ": "JWT"}, f"line {i + 1}: header {h}")
    check(p.get("n") == i, f"line {i + 1} carries n={p.get('n')}: output out of order")
    check(p["exp"] - p["iat"] == 900 and start - 1 <= p["iat"] <= end + 1, f"line {i + 1}: iat/exp {p}")
    check(p.get("seventh") is (True if i % 7 == 0 else None), f"line {i + 1}: seventh {p.get('seventh')}")
    check(p["fixed"] == ("overridden" if i % 100 == 0 else "cli"), f"line {i + 1}: fixed {p['fixed']}")
    check("jti" in p, f"line {i + 1}: no jti")
    jtis.add(p["jti"])
check(len(jtis) == n, f"only {len(jtis)} distinct jti in {n} JWS")
PY

step "p11jwt verifies the first and the last of them too"
expect_exit 0 p11jwt verify --jwks "$T/jwks.json" --aud "$AUD" <<<"$(head -n 1 "$T/out.jws")"
expect_exit 0 p11jwt verify "${TOK[@]}" --kid "$kid" --aud "$AUD" <<<"$(tail -n 1 "$T/out.jws")"

step "HS256 batch of 200, checked with the token's own MAC and in order"
(umask 077 && head -c 32 /dev/urandom | base64 | tr -d '\n' >"$T/hs.secret")
expect_exit 0 p11jwt import-secret "${TOK[@]}" --kid hs-batch --alg HS256 --secret-file "$T/hs.secret"
head -n 200 "$T/in.jsonl" |
    p11jwt sign "${TOK[@]}" --kid hs-batch --iss batch --aud "$AUD" --no-jti --batch >"$T/hs.jws" ||
    fail "HS256 sign --batch failed"
pyverify --secret-file "$T/hs.secret" --alg HS256 --aud "$AUD" --lines <"$T/hs.jws" >"$T/hs.jsonl" ||
    fail "PyJWT rejects a JWS of the HS256 batch"
pycheck "$T/hs.jsonl" <<'PY'
import sys
from itlib import *
decoded = load_json_lines(sys.argv[1])
check([d["payload"]["n"] for d in decoded] == list(range(200)), "HS256 batch out of order or short")
check(all("jti" not in d["payload"] for d in decoded), "--no-jti ignored in --batch")
PY

step "one object, two spellings: the one-pass path and jansson's sign the same claims"
# Line 2k is taken by the one-pass check (jose/claims_extra.c), line 2k+1
# spells the same object with an escaped name, which only jansson reads:
# with --no-jti the payloads must be the same bytes (iat/exp aside, a second
# may pass), and PyJWT must accept all of them. The last pair: {} bare and
# with spaces around it.
cat >"$T/pairs.jsonl" <<'EOF'
{"org":"6f1c2d3e-4b5a-4c6d-8e7f-8091a2b3c4d5","seq":1000000,"roles":["reader","admin"],"ctx":{"tenant":"t-0042","tier":2}}
{"\u006frg":"6f1c2d3e-4b5a-4c6d-8e7f-8091a2b3c4d5","seq":1000000,"roles":["reader","admin"],"ctx":{"tenant":"t-0042","tier":2}}
{ "s" : "caf\u00e9 \ud83d\udd11 \/ \n \u0001 \"q\" \\" , "a" : [ true , false , null , -7 , [ ] , { } ] }
{"\u0073":"café 🔑 / \u000A \u0001 \u0022q\u0022 \u005c","a":[true,false,null,-7,[],{}]}
{"deep":{"a":{"b":{"c":[1,[2,[3]]]}}},"":"","€":"\u20AC"}
{"\u0064eep":{"a":{"b":{"c":[1,[2,[3]]]}}},"":"","€":"€"}
{}
  { }  
EOF
p11jwt sign "${TOK[@]}" --kid hs-batch --iss batch --aud "$AUD" --no-jti --batch \
    <"$T/pairs.jsonl" >"$T/pairs.jws" 2>"$T/err" || fail "sign --batch of the pairs failed: $(cat "$T/err")"
pyverify --secret-file "$T/hs.secret" --alg HS256 --aud "$AUD" --lines <"$T/pairs.jws" >"$T/pairs.dec" ||
    fail "PyJWT rejects a JWS of the pairs"
pycheck "$T/pairs.jws" "$T/pairs.jsonl" <<'PY'
import base64, json, re, sys
from itlib import *
jws = open(sys.argv[1]).read().split()
lines = open(sys.argv[2]).read().splitlines()
check(len(jws) == len(lines), f"{len(jws)} JWS for {len(lines)} lines")
def payload(t):
    p = t.split(".")[1]
    return base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)).decode()
def no_time(raw):
    return re.sub(r'"iat":\d+,"exp":\d+', '"iat":T,"exp":T', raw)
for k in range(0, len(jws), 2):
    a, b = no_time(payload(jws[k])), no_time(payload(jws[k + 1]))
    check(a == b, f"lines {k + 1} and {k + 2} (one object): payloads differ:\n{a}\n{b}")
    want = json.loads(lines[k])
    got = json.loads(payload(jws[k]))
    check(all(got[n] == v for n, v in want.items()), f"line {k + 1}: claims {got} lack {want}")
PY

step "claims given once, merged into each line: as one sign with the same claims"
# The command line's claims (a file and --claim, one with an escaped name and
# a real, which only jansson reads) are merged once; a line's claim of the
# same name takes its place. Each line is held against a one-shot sign whose
# --claims-file is the command line's claims and whose --claim NAME:=JSON are
# the line's members: the same payload (iat/exp aside), byte for byte.
printf '{"org":"o-1","q\\"x":1.5,"tier":1}' >"$T/shared.json"
cat >"$T/merge.jsonl" <<'EOF'
{"n":1}
{"tier":2,"n":2}
{"org":{"id":"o-2"},"\u0074ier":3,"roles":["a"]}
{ "zz" : 1.25 , "fixed" : "line" }
{}
EOF
p11jwt sign "${TOK[@]}" --kid hs-batch --iss batch --aud "$AUD" --no-jti --claims-file "$T/shared.json" \
    --claim fixed=cli --batch <"$T/merge.jsonl" >"$T/merge.jws" 2>"$T/err" ||
    fail "sign --batch with shared claims failed: $(cat "$T/err")"
"$PYTHON" - "$T/merge.jsonl" >"$T/merge.args" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    obj = json.loads(line)
    print("\t".join("--claim\t%s:=%s" % (k, json.dumps(v, separators=(",", ":")))
                    for k, v in obj.items()))
PY
: >"$T/merge.one"
while IFS= read -r args; do
    claim_args=()
    [[ -z $args ]] || IFS=$'\t' read -r -a claim_args <<<"$args"
    p11jwt sign "${TOK[@]}" --kid hs-batch --iss batch --aud "$AUD" --no-jti \
        --claims-file "$T/shared.json" --claim fixed=cli ${claim_args[@]+"${claim_args[@]}"} \
        >>"$T/merge.one" || fail "one-shot sign failed for '$args'"
done <"$T/merge.args"
pycheck "$T/merge.jws" "$T/merge.one" <<'PY'
import base64, re, sys
from itlib import *
batch, one = (open(p).read().split() for p in sys.argv[1:3])
check(len(batch) == len(one) == 5, f"{len(batch)} batch JWS, {len(one)} one-shot")
def payload(t):
    p = t.split(".")[1]
    raw = base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)).decode()
    return re.sub(r'"iat":\d+,"exp":\d+', '"iat":T,"exp":T', raw)
for i, (a, b) in enumerate(zip(batch, one)):
    check(payload(a) == payload(b), f"line {i + 1}: batch {payload(a)}\n  one-shot {payload(b)}")
check('"org":"o-1","q\\"x":1.5,"tier":2,"fixed":"cli","n":2}' in payload(batch[1]),
      f"line 2: the line's tier is not in the shared place: {payload(batch[1])}")
PY

step "claims given once are checked once, before any line"
printf '{"n":1}\n' >"$T/one.jsonl"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid hs-batch --iss batch --aud "$AUD" --claim iss=evil \
    --batch <"$T/one.jsonl"
expect_err_matches "extra claim 'iss' would redefine"
[[ ! -s $T/out ]] || fail "a batch with --claim iss= signed something"

step "the one-pass path keeps every refusal: the line, and jansson's reason"
for bad in '{"iat":1}|redefine a claim' '{"a":1,"a":2}|duplicate' $'{"a":"\xc3"}|unable to decode' \
           '{"a":"\u0000"}|\\u0000' '{"a":1}x|end of file expected' '{"a":[1,]}|unexpected token'; do
    printf '{"n":0}\n{"n":1}\n%s\n{"n":3}\n' "${bad%%|*}" >"$T/bad.jsonl"
    expect_exit 1 p11jwt sign "${TOK[@]}" --kid hs-batch --iss batch --aud "$AUD" --batch <"$T/bad.jsonl"
    expect_err_matches 'line 3'
    expect_err_matches "${bad#*|}"
    # One line number: the batch's (issue 17.14), not the JSON parser's too.
    [[ $(grep -o 'line [0-9]*' <<<"$ERR" | wc -l) -eq 1 ]] || fail "more than one line number: $ERR"
    [[ $(wc -l <"$T/out") -eq 2 ]] || fail "after bad line 3 (${bad%%|*}): $(wc -l <"$T/out") JWS out, want 2"
done

step "a bad line stops the batch there; the lines before it are out and valid"
printf '{"n":0}\n{"n":1}\n{"n":2}\n{"n":3}\n{"n": oops}\n{"n":5}\n' >"$T/bad.jsonl"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid "$kid" --iss batch --aud "$AUD" --batch <"$T/bad.jsonl"
expect_err_matches 'line 5: extra claims are not valid JSON: .* \(column [0-9]+\)'
[[ $(grep -o 'line [0-9]*' <<<"$ERR" | wc -l) -eq 1 ]] || fail "more than one line number: $ERR"
[[ $(wc -l <"$T/out") -eq 4 ]] || fail "after a bad line 5: $(wc -l <"$T/out") JWS out, want 4"
pyverify --jwks "$T/jwks.json" --aud "$AUD" --lines <"$T/out" >/dev/null ||
    fail "the JWS before the bad line are not valid"

printf '{"n":0}\n[1,2]\n{"n":2}\n' >"$T/array.jsonl"
expect_exit 1 p11jwt sign "${TOK[@]}" --kid "$kid" --iss batch --aud "$AUD" --batch <"$T/array.jsonl"
expect_err_matches 'line 2'
[[ $(wc -l <"$T/out") -eq 1 ]] || fail "after an array on line 2: $(wc -l <"$T/out") JWS out, want 1"

step "--batch reads standard input, so --claims-file - is a usage error"
expect_exit 2 p11jwt sign "${TOK[@]}" --kid "$kid" --iss batch --aud "$AUD" --batch --claims-file - </dev/null

step "an empty batch signs nothing and succeeds"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid "$kid" --iss batch --aud "$AUD" --batch </dev/null
[[ ! -s $T/out ]] || fail "an empty batch printed '$OUT'"

echo "batch: all checks passed (ES256 x$N in $((end - start))s)"
