#!/usr/bin/env bash
# bad_input: promote without next, retire the active (or next) key, stage
# when a next key exists, durations that do not parse, an HS stage without
# its secret — each a clear error, and the keyring unchanged.
set -euo pipefail
source "$(dirname "$0")/rlib.sh"

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256
kid=$OUT
STS_PORT=9
write_config "$kid"

snapshot() { rot status --json; p11jwt list "${TOK[@]}" --json; }

step "promote with no next key"
before=$(snapshot)
expect_exit 1 rot promote
grep -q "no next key" <<<"$ERR" || fail "$ERR"
[[ $(snapshot) == "$before" ]] || fail "promote changed the keyring"

step "retire the active key"
expect_exit 1 rot retire --kid "$kid" --yes
grep -q "active key" <<<"$ERR" || fail "$ERR"
[[ $(snapshot) == "$before" ]] || fail "retire changed the keyring"

step "retire without --yes"
expect_exit 2 rot retire

step "stage twice"
expect_exit 0 rot stage
next=$(status_kid next)
before=$(snapshot)
expect_exit 1 rot stage
grep -q "already has a next key" <<<"$ERR" || fail "$ERR"
[[ $(snapshot) == "$before" ]] || fail "the second stage changed the keyring"

step "retire the next key"
expect_exit 1 rot retire --kid "$next" --yes
grep -q "next key" <<<"$ERR" || fail "$ERR"
[[ $(snapshot) == "$before" ]] || fail "retire changed the keyring"

step "an EC stage given a secret; an unknown subcommand"
expect_exit 2 rot frobnicate

step "durations that do not parse"
for bad in "rotate_after = soon" "overlap = 5x" "grace = -1d" "rotate_after = 12 h"; do
    write_config "$kid" "$bad"
    expect_exit 1 rot auto
    grep -q "config:[0-9]*: ${bad%% *}" <<<"$ERR" || fail "no file:line: key in: $ERR"
done
write_config "$kid"
[[ $(snapshot) == "$before" ]] || fail "a bad config changed the keyring"

step "HS256 keyring: stage needs the provider's secret and kid"
head -c 40 /dev/urandom >"$T/s1"
expect_exit 0 p11jwt import-secret "${TOK[@]}" --kid hs-old --alg HS256 --secret-file "$T/s1"
cat >>"$CONFIG" <<CONF

[profile hs]
dialect = dt
token = $TOKEN
pin_file = $PIN_FILE
kid = hs-old
iss = svc@example.invalid
token_url = http://127.0.0.1:9/dt/token
CONF
# A usage error (exit 2) that gives the whole command.
expect_exit 2 p11jwt rotate stage --profile hs --config "$CONFIG"
grep -qF "p11jwt rotate stage --profile hs --config $CONFIG --kid NEW_KEY_ID --secret-file PATH" <<<"$ERR" ||
    fail "the usage error does not give the whole command: $ERR"
head -c 40 /dev/urandom >"$T/s2"
expect_exit 2 p11jwt rotate stage --profile hs --config "$CONFIG" --secret-file "$T/s2"
expect_exit 2 p11jwt rotate stage --profile hs --config "$CONFIG" --kid hs-new
step "HS256 stage says what was staged, not an empty JWKS"
expect_exit 0 p11jwt rotate stage --profile hs --config "$CONFIG" --kid hs-new --secret-file "$T/s2"
grep -q "staged HS256 key 'hs-new' as next in keyring 'hs' (version 1)" <<<"$OUT" ||
    fail "stage printed: $OUT"
grep -qF "Next, once the provider accepts it: p11jwt rotate promote --profile hs --config $CONFIG" <<<"$OUT" ||
    fail "stage does not give the next command: $OUT"
grep -q "no public key to register" <<<"$OUT" || fail "stage printed: $OUT"
grep -q '"keys"' <<<"$OUT" && fail "stage printed a JWKS: $OUT"
expect_exit 0 p11jwt rotate status --profile hs --config "$CONFIG" --json
pycheck "$OUT" <<'PY'
import json, sys
from itlib import check
s = json.loads(sys.argv[1])
check(s["active"]["kid"] == "hs-old" and s["next"]["kid"] == "hs-new", s)
check(s["next"]["alg"] == "HS256", s)
PY
step "auto's reminder for a due HS256 key gives the whole command"
sed -i '/^\[profile hs\]/a rotate_after = 0' "$CONFIG"
expect_exit 0 p11jwt rotate promote --profile hs --config "$CONFIG"
expect_exit 0 p11jwt rotate auto --profile hs --config "$CONFIG"
grep -qF "p11jwt rotate stage --profile hs --config $CONFIG --kid NEW_KEY_ID --secret-file PATH" <<<"$OUT" ||
    fail "auto's reminder: $OUT"
echo "bad input refused, keyring unchanged"
