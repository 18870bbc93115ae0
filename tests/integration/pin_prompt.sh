#!/usr/bin/env bash
# pin_prompt: the terminal PIN prompt, on a pty (pin_prompt.py).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES256 --kid prompt-key
"$PYTHON" "$IT_DIR/pin_prompt.py" "$P11JWT_BIN" "$TOKEN" "$(cat "$PIN_FILE")" ||
    fail "the PIN prompt misbehaved"
