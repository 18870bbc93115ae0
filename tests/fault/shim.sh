#!/usr/bin/env bash
# shim.sh — the fault module itself, driven through p11jwt on a fresh token:
# a bad rule makes it refuse C_Initialize (CKR_ARGUMENTS_BAD, the reason on
# stderr); @N hits the Nth call only, @N+ every call from the Nth; the
# control file is re-read while a process runs; a delay delays; the counts
# file is there and whole even when the process is killed mid-call.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/lib.sh"

AUD=https://sts.example.invalid/token
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid shim-es
export_jwks "$T/jwks.json" shim-es
SIGN=(sign "${TOK[@]}" --kid shim-es --iss shim --aud "$AUD")

step "no rules: everything is forwarded, every call counted"
expect_exit 0 fx "" "${SIGN[@]}"
pyverify --jwks "$T/jwks.json" --aud "$AUD" <<<"$OUT" >/dev/null || fail "PyJWT rejects the JWS"
expect_count calls C_Initialize -eq 1
expect_count calls C_Login -eq 1
expect_count calls C_SignInit -eq 1
expect_count calls C_Sign -eq 1
expect_count calls C_Finalize -eq 1
grep -q '^faults ' "$COUNTS" && fail "faults counted without a rule: $(cat "$COUNTS")"
grep -qx "pid [0-9]*" "$COUNTS" || fail "no pid line in the counts: $(cat "$COUNTS")"

step "a bad rule: C_Initialize refused with CKR_ARGUMENTS_BAD and the reason"
for rule in 'C_Sgn@1=CKR_DEVICE_REMOVED' 'C_Sign@0=CKR_DEVICE_REMOVED' 'C_Sign@1=CKR_NOPE' \
    'C_Sign@1' 'C_Sign@=CKR_GENERAL_ERROR' 'C_Sign@1~20' 'C_Sign@1~20s' 'C_Sign@1=CKR_OK' \
    'C_Sign@1!~5ms' 'C_Sign@1=0x' 'C_Sign@1=0xZZ' 'C_Sign@1 =CKR_GENERAL_ERROR' \
    'C_Sign@1=CKR_GENERAL_ERROR;C_Sign@x=CKR_GENERAL_ERROR' 'C_Finalize@1!=CKR_DEVICE_REMOVED' \
    'C_GetFunctionList@1=CKR_GENERAL_ERROR' 'C_Sign@1?=CKR_GENERAL_ERROR'; do
    run_cmd fx "$rule" "${SIGN[@]}"
    [[ $RC -eq 1 ]] || fail "rule '$rule': exit $RC, expected 1 (refused)"
    grep -q "^p11fault: P11FAULT: rule [0-9] '" "$T/err" ||
        fail "rule '$rule': the module did not say why: $ERR"
    grep -q "^p11jwt: .*CKR_ARGUMENTS_BAD" "$T/err" ||
        fail "rule '$rule': p11jwt does not report CKR_ARGUMENTS_BAD: $ERR"
    [[ $(count calls C_Login) -eq 0 ]] || fail "rule '$rule': the module went on after a bad rule"
done
step "bad rules refused, e.g.: $(head -n 1 "$T/err")"

step "well-formed rules that never fire change nothing"
expect_exit 0 fx ' C_Sign@9=0x80000001 ; C_Digest@1+=CKR_DEVICE_ERROR;C_Verify@2!=CKR_TOKEN_NOT_PRESENT;;' \
    "${SIGN[@]}"
grep -q '^faults ' "$COUNTS" && fail "a rule fired that should not have: $(cat "$COUNTS")"

step "@N hits the Nth call only; @N+ every call from the Nth on"
printf '{"n":1}\n{"n":2}\n{"n":3}\n{"n":4}\n' >"$T/four.jsonl"
expect_exit 1 fx 'C_Sign@3=CKR_FUNCTION_FAILED' "${SIGN[@]}" --batch <"$T/four.jsonl"
expect_err_matches '^p11jwt: sign: line 3: .*CKR_FUNCTION_FAILED'
expect_count faults C_Sign -eq 1
expect_count calls C_Sign -eq 4
[[ $(wc -l <"$T/out") -eq 2 ]] || fail "@3: expected the first 2 lines out, got $(wc -l <"$T/out")"
expect_exit 1 fx 'C_Sign@3+=CKR_FUNCTION_FAILED' "${SIGN[@]}" --batch <"$T/four.jsonl"
expect_err_matches 'line 3: .*CKR_FUNCTION_FAILED'
expect_count faults C_Sign -eq 2
expect_exit 1 fx 'C_Sign@1=0x80000123' "${SIGN[@]}"
expect_err_matches 'CKR_0x80000123'

step "@N! : the device is gone from the Nth call on, for every function"
expect_exit 1 fx 'C_SignInit@1!=CKR_DEVICE_REMOVED' "${SIGN[@]}"
expect_err_matches 'CKR_DEVICE_REMOVED'
expect_count faults C_SignInit -eq 1
# the recovery's own calls hit the missing device too
(($(count faults C_OpenSession) + $(count faults C_CloseSession) >= 1)) ||
    fail "after '!' fired, the recovery's calls still reached the token: $(cat "$COUNTS")"
expect_count faults C_Sign -eq 0

step "a delay delays, and the call is then forwarded"
t0=$(now_ms)
expect_exit 0 fx 'C_Sign@1~1500ms' "${SIGN[@]}"
el=$(($(now_ms) - t0))
((el >= 1500)) || fail "C_Sign@1~1500ms: sign took only $el ms"
pyverify --jwks "$T/jwks.json" --aud "$AUD" <<<"$OUT" >/dev/null || fail "PyJWT rejects the delayed JWS"
step "delayed sign: $el ms"

step "the control file is re-read while the process runs"
# Line 1's C_Sign sleeps 1.5 s (a rule from the environment); meanwhile the
# file gets a rule, which counts from when it was read: its @1 is line 2's.
rm -f "$P11FAULT_FILE"
printf '{"n":1}\n{"n":2}\n' >"$T/two.jsonl"
fx 'C_Sign@1~1500ms' "${SIGN[@]}" --batch <"$T/two.jsonl" >"$T/out" 2>"$T/err" &
pid=$!
# Wait until line 1 is inside its C_Sign (the module writes the counts on
# entry, before the delay): a fixed sleep lost that race under load.
for _ in $(seq 400); do
    [[ -r $COUNTS ]] && awk '$1 == "calls" && $2 == "C_Sign" && $3 >= 1 { ok = 1 } END { exit !ok }' "$COUNTS" && break
    sleep 0.05
done
set_rules 'C_Sign@1=CKR_DEVICE_ERROR  # the second signature fails'
rc=0
wait "$pid" || rc=$?
[[ $rc -eq 1 ]] || fail "expected the second line to fail (exit 1), got $rc: $(cat "$T/err")"
grep -q 'line 2: .*CKR_DEVICE_ERROR' "$T/err" || fail "line 2 did not fail as the file said: $(cat "$T/err")"
[[ $(wc -l <"$T/out") -eq 1 ]] || fail "line 1 should have been signed"
RAN="control file"
expect_count faults C_Sign -eq 1
rm -f "$P11FAULT_FILE"

step "a bad control file: refused at C_Initialize"
set_rules 'C_Sign@1=CKR_DEVICE_GONE'
run_cmd fx "" "${SIGN[@]}"
[[ $RC -eq 1 ]] || fail "a bad control file: exit $RC"
grep -q "^p11fault: P11FAULT_FILE .*CKR_DEVICE_GONE" "$T/err" || fail "no reason given: $ERR"
rm -f "$P11FAULT_FILE"

step "the counts survive a killed process, whole"
fx 'C_Sign@1~20000ms' "${SIGN[@]}" >/dev/null 2>&1 &
pid=$!
for ((i = 0; i < 100; i++)); do
    [[ -r $COUNTS ]] && grep -q '^calls C_Sign 1$' "$COUNTS" && break
    sleep 0.1
done
kill -KILL "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
RAN="killed sign"
expect_count calls C_Sign -eq 1
expect_count calls C_SignInit -eq 1
ls "$T"/p11fault.counts.tmp.* >/dev/null 2>&1 && fail "a temp counts file was left behind"

step "%p in P11FAULT_COUNTS: one file per process"
rm -f "$T"/counts.*
P11JWT_MODULE=$P11FAULT_LIB P11FAULT_MODULE=$SOFTHSM_MODULE P11FAULT_COUNTS="$T/counts.%p" \
    timeout 30 "$P11JWT_BIN" "${SIGN[@]}" >/dev/null || fail "sign with %p counts failed"
files=("$T"/counts.*)
[[ ${#files[@]} -eq 1 && ${files[0]} =~ /counts\.[0-9]+$ ]] ||
    fail "expected one counts.PID file, got: ${files[*]}"
pid=${files[0]##*.}
grep -qx "pid $pid" "${files[0]}" || fail "counts.$pid names another pid"

echo "shim: all checks passed"
