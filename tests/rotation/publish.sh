#!/usr/bin/env bash
# publish: publish_command gets the JWKS on its standard input, in an
# environment without the PIN variable (pin_env), the client secret
# variable or P11JWT_*PIN*-style secrets; a command that fails is an error
# saying how (exit status), after the change is stored, and never echoes
# the command (it may carry credentials of its own).
set -euo pipefail
source "$(dirname "$0")/rlib.sh"

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES384
export ROT_PIN_VAR ROT_SECRET_VAR P11JWT_EXTRA_PIN KEEP_ME=kept
ROT_PIN_VAR=$(cat "$PIN_FILE")
ROT_SECRET_VAR=client-secret-$(rand_hex 6)
P11JWT_EXTRA_PIN=extra-$(rand_hex 6)
write_config "$OUT" "publish_command = env > $T/env.out; cat > $T/jwks.out"
sed -i "s|^pin_file = .*|pin_env = ROT_PIN_VAR\\nclient_secret_env = ROT_SECRET_VAR|" "$CONFIG"

step "the JWKS on stdin, no secret in the environment"
expect_exit 0 rot stage
"$PYTHON" -c 'import json,sys; assert len(json.load(open(sys.argv[1]))["keys"]) == 2' \
    "$T/jwks.out" || fail "publish_command did not get the JWKS: $(cat "$T/jwks.out")"
grep -q "KEEP_ME=kept" "$T/env.out" || fail "the environment was not passed on"
for v in "$ROT_PIN_VAR" "$ROT_SECRET_VAR" "$P11JWT_EXTRA_PIN"; do
    grep -qF -- "$v" "$T/env.out" && fail "a secret reached publish_command's environment: $v"
done

step "a command that fails: its exit status, the change kept, the command not echoed"
sed -i "s|^publish_command = .*|publish_command = cat >/dev/null; exit 7 # CmdMarker|" "$CONFIG"
expect_exit 1 rot promote
expect_err_matches 'stored in the token, but publish_command of profile .rot. failed: it exited with status 7'
grep -q CmdMarker <<<"$ERR" && fail "the command is echoed: $ERR"
[[ -z $(status_kid next) ]] || fail "the promote was not stored"
echo "publish ok"
