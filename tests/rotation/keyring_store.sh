#!/usr/bin/env bash
# keyring_store: runs keyring_store.c on a fresh token.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
"$KEYRING_STORE_BIN" "$TOKEN" "$PIN_FILE" || fail "keyring store checks failed"
