#!/usr/bin/env bash
# sealed.sh — the fleet's sealed entry against a real SoftHSM token
# (tests/fleet/sealed.c): one host opens what another sealed; the value a
# host sealed or opened last opens again without a C_Decrypt, and only
# when it is that value byte for byte; anything altered, cut, grown or
# sealed for another key is refused by the token.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"

[[ -x ${FLEET_SEALED_BIN:-} ]] || fail "it-fleet-sealed not found (set FLEET_SEALED_BIN)"
expect_exit 0 p11jwt keygen "${TOK[@]}" --alg A256GCM --kid cachekey

step "seal, open, remember, refuse"
P11JWT_TRACE=1 "$FLEET_SEALED_BIN" "$TOKEN" "$PIN_FILE" cachekey >"$T/out" 2>"$T/err" ||
    fail "it-fleet-sealed: $(cat "$T/err")"
grep -q '^sealed: all checks passed$' "$T/out" || fail "it-fleet-sealed did not finish: $(tail -n 3 "$T/out")"
grep -c '^ok: ' "$T/out" | { read -r n; ((n >= 20)) || fail "only $n checks ran"; }
