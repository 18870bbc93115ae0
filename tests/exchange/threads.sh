#!/usr/bin/env bash
# threads.sh — one p11jwt_client shared by many threads (threads.c, public
# API only), checked against the STS's own request count:
#   - 32 threads on a cold cache: ONE token request, one value for all;
#   - tokens living 6 s, refresh_ahead 3 s, asked for over ~8 s: never an
#     expired token, the value changes before expiry, a handful of requests;
#   - 16 threads seeing the same 401 (invalidate): ONE re-exchange.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"

THREADS_BIN=${P11JWT_THREADS_BIN:-$(dirname "$P11JWT_BIN")/tests/exchange/exchange_threads}
[[ -x $THREADS_BIN ]] || fail "threads test program not found at $THREADS_BIN (set P11JWT_THREADS_BIN)"

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid th-key
export_jwks "$T/jwks.json"
start_sts sts --jwks "$T/jwks.json" --iss-allowed th-backend
URL=$STS/rfc7523/token

prof() {   # prof NAME [extra line]...
    printf '\n[profile %s]\ndialect = rfc7523\ntoken = %s\npin_file = %s\nkid = th-key\n' \
        "$1" "$TOKEN" "$PIN_FILE" >>"$CONF"
    printf 'token_url = %s\niss = th-backend\nmax_retries = 1\n' "$URL" >>"$CONF"
    shift
    (($# == 0)) || printf '%s\n' "$@" >>"$CONF"
}
prof burst
prof refresh 'refresh_ahead = 3s'
prof inval

# field NAME: a key=value line of the last run's output.
field() { sed -n "s/^$1=//p" "$T/out"; }

# valid TOKEN: the resource accepts it.
valid() {
    [[ $(curl -sS --noproxy '*' -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" \
        "$STS/rfc7523/resource") == 200 ]]
}

step "32 threads, cold cache: one exchange"
c0=$(calls /rfc7523/token)
expect_exit 0 timeout 60 "$THREADS_BIN" "$CONF" burst burst 32
n=$(($(calls /rfc7523/token) - c0))
[[ $n == 1 ]] || fail "32 threads on a cold cache: the STS saw $n token requests, expected 1"
[[ $(field exchanges) == 1 ]] || fail "client stats: $(field exchanges) exchanges"
valid "$(field token)" || fail "the burst's token is not accepted by the resource"
step "burst: 1 token request, 32 identical tokens"

step "short-lived tokens (6 s), refresh_ahead 3 s, ~8 s of requests from 4 threads"
sts_control '{"expires_in": 6}'
c0=$(calls /rfc7523/token)
t0=$(now_ms)
expect_exit 0 timeout 60 "$THREADS_BIN" "$CONF" refresh refresh 8 4
assert_elapsed "$t0" 7500 20000 "refresh run"
n=$(($(calls /rfc7523/token) - c0))
step "refresh: $n token requests, $(field values) distinct tokens, $(field handed_out) handed out"
((n >= 2)) || fail "no refresh reached the STS ($n token requests in 8 s of 6-s tokens)"
((n <= 6)) || fail "$n token requests in 8 s of 6-s tokens refreshed 3 s ahead: expected at most 6"
(($(field values) >= 2)) || fail "the token never changed"
valid "$(field token)" || fail "the last token handed out is not accepted by the resource"
sts_stats >"$T/stats.json"
pycheck "$T/stats.json" "$n" <<'PY'
import json, sys
from itlib import *
n = int(sys.argv[2])
rs = [q for q in json.load(open(sys.argv[1]))["requests"] if q["path"] == "/rfc7523/token"][-n:]
check(all(q["status"] == 200 for q in rs), f"{rs}")
ts = [q["t"] for q in rs]
gaps = [round(b - a, 2) for a, b in zip(ts, ts[1:])]
# refreshed ahead of expiry: no two exchanges 6 s (a full lifetime) apart
check(all(g < 5.9 for g in gaps), f"exchanges spaced {gaps} s: a token ran out before its refresh")
check(all(g > 1.0 for g in gaps), f"exchanges spaced {gaps} s: refreshing far too often")
PY
sts_control '{"expires_in": 3600}'

step "16 threads invalidate the same token: one re-exchange"
c0=$(calls /rfc7523/token)
expect_exit 0 timeout 60 "$THREADS_BIN" "$CONF" inval invalidate 16
n=$(($(calls /rfc7523/token) - c0))
[[ $n == 2 ]] || fail "first token + one shared invalidation: the STS saw $n token requests, expected 2"
valid "$(field token)" || fail "the token after invalidation is not accepted by the resource"
