#!/usr/bin/env bash
# thread_exit: runs thread_exit.c (per-thread state and late thread-exit
# destructors) on a fresh token; meaningful under AddressSanitizer.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg HS256 --kid tx
printf '[profile p]\ndialect = jsa\nclient_id = c\nclient_secret_env = HOME\ntoken_url = http://127.0.0.1:9/t\nmax_retries = 0\nconnect_timeout = 2\n' \
    >"$T/p.conf"
"$THREAD_EXIT_BIN" "$TOKEN" "$PIN_FILE" tx "$T/p.conf" p || fail "thread_exit failed"
