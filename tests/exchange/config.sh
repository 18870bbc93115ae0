#!/usr/bin/env bash
# config.sh — the profiles file: where it is found (--config, then
# $P11JWT_CONFIG), its syntax (sections, comments, spacing, durations), and
# its errors, which must name FILE:LINE and the key, in one line, before
# anything is signed or sent. Plus the CLI's usage errors (exit 2).
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid cfg-key
URL=https://sts.example.invalid/token   # never contacted: `assertion` only

good() {   # good NAME [extra line]...: a complete rfc7523 profile
    printf '[profile %s]\ndialect = rfc7523\ntoken = %s\npin_file = %s\nkid = cfg-key\n' \
        "$1" "$TOKEN" "$PIN_FILE"
    printf 'token_url = %s\niss = cfg-backend\n' "$URL"
    shift
    (($# == 0)) || printf '%s\n' "$@"
}

# payload JWS: its claims as JSON.
payload() {
    "$PYTHON" -c '
import sys
from itlib import split_jws, compact_json
print(compact_json(split_jws(sys.argv[1])[1]))' "$1"
}

step "syntax: comments, blank lines, spacing, several profiles"
{
    echo '# a comment'
    echo '; another comment'
    echo
    echo '[profile other]'
    echo 'dialect = jsa'
    echo 'token_url = http://127.0.0.1:9/token'
    echo 'client_id = nobody'
    echo 'client_secret_env = NOPE'
    echo
    echo '  [profile spaced]  '
    echo '   dialect=rfc7523'
    echo "token   =   $TOKEN"
    echo "	pin_file	= $PIN_FILE"
    echo '# kid comes later'
    echo 'kid = cfg-key'
    echo "token_url = $URL"
    echo 'iss = cfg-backend'
    echo 'ttl = 90'
} >"$T/syntax.conf"
expect_exit 0 x assertion --config "$T/syntax.conf" --profile spaced
[[ $(payload "$OUT") == *'"iss":"cfg-backend"'* ]] || fail "claims $(payload "$OUT")"

step "durations: seconds, s, m, h, d"
for d in '45:45' '45s:45' '5m:300' '1h:3600' '1d:86400'; do
    good dur "ttl = ${d%%:*}" >"$T/dur.conf"
    expect_exit 0 x assertion --config "$T/dur.conf" --profile dur
    pycheck "$OUT" "${d##*:}" "${d%%:*}" <<'PY'
import sys
from itlib import *
h, p, _ = split_jws(sys.argv[1])
check(p["exp"] - p["iat"] == int(sys.argv[2]), f"ttl = {sys.argv[3]}: exp - iat = {p['exp'] - p['iat']}")
PY
done

step "\$P11JWT_CONFIG when --config is not given"
good envprof >"$T/env.conf"
P11JWT_CONFIG=$T/env.conf expect_exit 0 x assertion --profile envprof
step "~/.config/p11jwt/config when neither is"
mkdir -p "$HOME/.config/p11jwt"
good homeprof >"$HOME/.config/p11jwt/config"
expect_exit 0 x assertion --profile homeprof
step "--config wins over \$P11JWT_CONFIG"
P11JWT_CONFIG=$T/env.conf expect_exit 1 x assertion --config "$T/dur.conf" --profile envprof

# bad FILE LINE REGEX...: assertion fails, naming FILE:LINE, matching each
# REGEX. Mismatches are collected (BAD) so one run reports them all.
BAD=()
bad() {
    local file=$1 line=$2 re
    shift 2
    expect_exit 1 x assertion --config "$file" --profile p
    [[ -z $OUT ]] || fail "a config error still printed '$OUT'"
    [[ $ERR == *"$file:$line:"* ]] || BAD+=("does not name ${file##*/}:$line: $ERR")
    for re in "$@"; do
        grep -Eqi -- "$re" <<<"$ERR" || BAD+=("does not match /$re/: $ERR")
    done
    step "$ERR"
}

step "config errors name file:line and the key"
good p 'dialect = dt' >"$T/c1.conf"
sed -i '2s/.*/dialect = nosuchdialect/' "$T/c1.conf"
bad "$T/c1.conf" 2 'dialect' 'nosuchdialect'

good p | grep -v '^token_url' >"$T/c2.conf"
bad "$T/c2.conf" 1 'token_url'

{ good p; echo 'this line has no equals sign'; } >"$T/c3.conf"
bad "$T/c3.conf" 8

{ good p; echo 'tokn_url = https://typo.example.invalid/'; } >"$T/c4.conf"
bad "$T/c4.conf" 8 'tokn_url'

{ good p; echo 'iss = twice'; } >"$T/c5.conf"
bad "$T/c5.conf" 8 'iss'

good p 'ttl = 5x' >"$T/c6.conf"
bad "$T/c6.conf" 8 'ttl'

good p 'auth_method = telepathy' >"$T/c7.conf"
bad "$T/c7.conf" 8 'auth_method'

good p 'resource_auth = Basic' >"$T/c8.conf"
bad "$T/c8.conf" 8 'resource_auth'

{ echo '[profile p'; good q; } >"$T/c9.conf"
bad "$T/c9.conf" 1

{ echo '[section]'; good p; } >"$T/c10.conf"
bad "$T/c10.conf" 1

good p 'max_retries = many' >"$T/c11.conf"
bad "$T/c11.conf" 8 'max_retries'

good p 'timeout = 0' >"$T/c12.conf"
bad "$T/c12.conf" 8 'timeout'

good p 'client_cert = /nonexistent/cert.pem' >"$T/c13.conf"
# the message points at the client_cert line and names the missing key
bad "$T/c13.conf" 8 'client_key'

good p 'token_url = ftp://127.0.0.1/token' >"$T/c14.conf"
sed -i '/^token_url = https/d' "$T/c14.conf"
bad "$T/c14.conf" 7 'token_url' 'https'

{ good p; echo 'claim. = x'; } >"$T/c15.conf"
bad "$T/c15.conf" 8 'claim'

step "durations past 10 years (no overflow anywhere): refused"
n=16
for kv in "iat_backdate = 9223372036854775807" "default_lifetime = 9223372036854775807" \
    "iat_backdate = $(date +%s)" "ttl = 3651d" "refresh_ahead = 106751991167300d" \
    "grace = 9223372036854775807s" "rotate_after = 87600h1" "overlap = 315360001"; do
    good p "$kv" >"$T/c$n.conf"
    bad "$T/c$n.conf" 8 "${kv%% =*}" '10 years'
    n=$((n + 1))
done
good p 'iat_backdate = 3650d' >"$T/ok10y.conf"
expect_exit 0 x assertion --config "$T/ok10y.conf" --profile p

step "a missing profile, a missing file"
good p >"$T/ok.conf"
expect_exit 1 x assertion --config "$T/ok.conf" --profile nosuchprofile
expect_err_matches 'nosuchprofile'
expect_exit 1 x assertion --config "$T/does-not-exist.conf" --profile p
expect_err_matches 'does-not-exist\.conf'
rm -f "$HOME/.config/p11jwt/config"
expect_exit 1 x assertion --profile p
step "no config anywhere: $ERR"

step "help"
for cmd in token assertion call; do
    expect_exit 0 x "$cmd" --help
    [[ $OUT == *"--profile"* ]] || fail "$cmd --help does not mention --profile"
done

step "usage errors: exit 2"
expect_usage x token --config "$T/ok.conf"
expect_usage x assertion --config "$T/ok.conf"
expect_usage x call --config "$T/ok.conf" --profile p
expect_usage x call --config "$T/ok.conf" --profile p -H 'no colon here' https://x.example.invalid/
expect_usage x token --config "$T/ok.conf" --profile p extra-argument
for cmd in token assertion call; do
    (expect_usage x "$cmd" --config "$T/ok.conf" --profile p --no-such-option https://x.invalid/) ||
        BAD+=("$cmd --no-such-option: see the FAIL line above")
done

((${#BAD[@]} == 0)) || fail "config errors: $(printf '\n  %s' "${BAD[@]}")"

