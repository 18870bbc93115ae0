# nss_lib.sh — sourced by tests on an NSS softokn token (bash, set -euo
# pipefail), the way tests/integration/lib.sh gives SoftHSM tests theirs:
#
#   source "$(dirname "$0")/nss_lib.sh"
#
# A FRESH NSS key database per test (certutil -N -d sql:$T/nssdb), whose
# password is the token's user PIN, random, in a 0600 file. NSS's softokn
# cannot start without its C_Initialize arguments (pReserved), which name
# that database. On top of tests/integration/lib.sh's helpers this sets:
#
#   NSS_MODULE               libsoftokn3.so
#   MODULE_ARGS              its C_Initialize arguments for this database
#   TOKEN TOKEN_LABEL        the database's token ("NSS Certificate DB") and
#                            its URI (module-path= in the query)
#   PIN_FILE                 the user PIN (the database password)
#   TOK=(--token URI --pin-file F --module-args ARGS)
#
# $P11JWT_MODULE_ARGS is NOT exported: a test passes the arguments itself
# (TOK has them), so it can also show what happens without them. A missing
# package (libnss3, libnss3-tools) is a skip (77).
TOKENS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../integration/lib.sh
source "$TOKENS_DIR/../integration/lib.sh"

NSS_MODULE=${P11JWT_NSS_MODULE:-}
if [[ -z $NSS_MODULE ]]; then
    for m in /usr/lib/*-linux-gnu/libsoftokn3.so /usr/lib64/libsoftokn3.so /usr/lib/libsoftokn3.so; do
        [[ -r $m ]] && NSS_MODULE=$m && break
    done
fi
[[ -n $NSS_MODULE && -r $NSS_MODULE ]] || skip "NSS softokn (libsoftokn3.so, package libnss3) is not installed"
command -v certutil >/dev/null 2>&1 || skip "certutil (package libnss3-tools) is not installed"

unset P11JWT_MODULE_ARGS
mkdir -m 700 "$T/nssdb"
(umask 077 && rand_hex 8 >"$T/nss-pin")
PIN_FILE=$T/nss-pin
# -f: the new database's password, from the file (its first line).
certutil -N -d "sql:$T/nssdb" -f "$PIN_FILE" >"$T/certutil.log" 2>&1 ||
    fail "certutil -N failed: $(cat "$T/certutil.log")"
[[ -s $T/nssdb/key4.db ]] || fail "certutil -N made no key4.db in $T/nssdb"

MODULE_ARGS="configdir='sql:$T/nssdb' certPrefix='' keyPrefix='' secmod='secmod.db' flags=optimizeSpace"
# softokn shows two tokens: "NSS Generic Crypto Services" (no login, no
# objects) and the database's.
TOKEN_LABEL="NSS Certificate DB"
TOKEN="pkcs11:token=NSS%20Certificate%20DB?module-path=$NSS_MODULE"
TOK=(--token "$TOKEN" --pin-file "$PIN_FILE" --module-args "$MODULE_ARGS")
export P11JWT_MODULE=$NSS_MODULE TOKEN TOKEN_LABEL PIN_FILE

# The integration helpers that name the token themselves.
export_jwks() {
    local file=$1
    shift
    local -a kids=()
    local k
    for k in "$@"; do kids+=(--kid "$k"); done
    p11jwt jwks --token "$TOKEN" --module-args "$MODULE_ARGS" "${kids[@]}" >"$file" ||
        fail "jwks ${*:-} failed"
}
# pkcs11-tool cannot pass C_Initialize arguments: no object_count here.
object_count() { fail "object_count: pkcs11-tool cannot open an NSS database"; }
p11tool() { fail "p11tool: pkcs11-tool cannot open an NSS database"; }
