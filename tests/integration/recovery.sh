#!/usr/bin/env bash
# recovery.sh — drives recovery.c (the library in one process surviving
# C_CloseAllSessions, C_Logout from elsewhere in the process, and fork()) on
# a fresh token, then checks with the CLI that the token came out intact.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

RECOVERY=${RECOVERY_BIN:-}
[[ -n $RECOVERY && -x $RECOVERY ]] || fail "RECOVERY_BIN is not set to the built recovery program"

step "recovery program"
"$RECOVERY" "$SOFTHSM_MODULE" "$TOKEN" "$PIN_FILE" "$TOKEN_LABEL" >"$T/recovery.out" 2>"$T/recovery.err" ||
    fail "recovery failed: $(cat "$T/recovery.err")"$'\n'"$(cat "$T/recovery.out")"
cat "$T/recovery.out"
# Every phase reported both keys: a phase silently skipped is a failure too.
for phase in "initial" "after C_CloseAllSessions" "after C_Logout" "in a forked child" \
    "in the parent after the child exited"; do
    for alg in ES256 HS256; do
        grep -qxF "ok - $phase: $alg signed and verified" "$T/recovery.out" ||
            fail "recovery did not report '$phase' for $alg"
    done
done
grep -qxF 'ok - in a forked child: the module was re-initialised' "$T/recovery.out" ||
    fail "recovery did not check the child's re-initialisation"
grep -qx 'recovery: all phases passed' "$T/recovery.out" || fail "recovery did not finish"

step "the token is intact: the CLI sees both keys and signs with them"
[[ $(key_count) -eq 2 ]] || fail "after recovery: $(key_count) keys, want 2"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid recovery-es256 --iss i --aud a
export_jwks "$T/jwks.json" recovery-es256
pyverify --jwks "$T/jwks.json" --aud a <<<"$OUT" >/dev/null || fail "PyJWT rejects recovery-es256's JWS"
expect_exit 0 p11jwt sign "${TOK[@]}" --kid recovery-hs256 --iss i --aud a
expect_exit 0 p11jwt verify "${TOK[@]}" --kid recovery-hs256 --aud a <<<"$OUT"

echo "recovery: all checks passed"
