# tpm_lib.sh — sourced by tests on a tpm2-pkcs11 token (bash, set -euo
# pipefail), the way tests/integration/lib.sh gives SoftHSM tests theirs:
#
#   source "$(dirname "$0")/tpm_lib.sh"
#
# Each test gets its own software TPM and everything on top of it, started
# here and stopped (by pid) on every exit path:
#   swtpm           a fresh TPM state in $T/tpm, on two loopback TCP ports
#   dbus-daemon     a PRIVATE session bus (config and socket in $T), so
#                   tpm2-abrmd never touches the host's buses
#   tpm2-abrmd      the access broker, on that bus, speaking to swtpm
#   tpm2_ptool      init + addtoken in a store of its own ($T/tpm2-store)
# On top of tests/integration/lib.sh's helpers this sets:
#
#   TPM_MODULE               libtpm2_pkcs11.so.1
#   TOKEN TOKEN_LABEL        the token's URI (module-path= in the query), label
#   PIN_FILE                 its user PIN
#   TOK=(--token URI --pin-file F)
#   and exports TPM2_PKCS11_STORE, TPM2_PKCS11_TCTI, DBUS_SESSION_BUS_ADDRESS
#
# tpm2-pkcs11 writes its own log lines ("ERROR: ...", "WARNING: ...") to
# stderr whatever TPM2_PKCS11_LOG_LEVEL says, e.g. for a key template it
# refuses before p11jwt steps down to one it takes. run_cmd sets those
# lines aside in $T/module.log so the CLI's own stderr contract is checked.
#
# $P11JWT_TPM2_PKCS11_ROOT: a folder where libtpm2-pkcs11-1,
# libtpm2-pkcs11-tools and python3-tpm2-pkcs11-tools were unpacked
# (dpkg-deb -x), used instead of the installed packages. A missing package
# is a skip (77).
TOKENS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../integration/lib.sh
source "$TOKENS_DIR/../integration/lib.sh"

TPM_ROOT=${P11JWT_TPM2_PKCS11_ROOT:-}
TPM_MODULE=
for m in "$TPM_ROOT"/usr/lib/*-linux-gnu/libtpm2_pkcs11.so.1 "$TPM_ROOT"/usr/lib64/libtpm2_pkcs11.so.1; do
    [[ -r $m ]] && TPM_MODULE=$m && break
done
[[ -n $TPM_MODULE ]] || skip "tpm2-pkcs11 (package libtpm2-pkcs11-1) is not installed"
if [[ -n $TPM_ROOT ]]; then
    ptool() { PYTHONPATH=$TPM_ROOT/usr/lib/python3/dist-packages "$PYTHON" "$TPM_ROOT/usr/bin/tpm2_ptool" "$@"; }
    [[ -r $TPM_ROOT/usr/bin/tpm2_ptool ]] || skip "tpm2_ptool is not in $TPM_ROOT"
else
    command -v tpm2_ptool >/dev/null 2>&1 || skip "tpm2_ptool (package libtpm2-pkcs11-tools) is not installed"
    ptool() { tpm2_ptool "$@"; }
fi
for tool in swtpm tpm2-abrmd dbus-daemon tpm2_getcap; do
    command -v "$tool" >/dev/null 2>&1 ||
        skip "$tool is not installed (swtpm, tpm2-abrmd, dbus-daemon, tpm2-tools)"
done
"$PYTHON" -c 'import tpm2_pytss, yaml, pyasn1_modules, bcrypt' 2>/dev/null ||
    skip "tpm2_ptool's python modules are missing (python3-tpm2-pytss, -yaml, -pyasn1-modules, -bcrypt)"

# Under LeakSanitizer, a leak inside the module (libcrypto called from
# libtpm2_pkcs11.so) shows its module frame, which tests/lsan.supp names,
# only with the slow unwinder.
[[ -z ${ASAN_OPTIONS:-} ]] || export ASAN_OPTIONS=$ASAN_OPTIONS:fast_unwind_on_malloc=0

# ---- the daemons, stopped on every exit path ------------------------------------

TPM_PIDS=()
tpm_cleanup() {
    local rc=$? i
    # Newest first: abrmd, then the bus, then the TPM.
    for ((i = ${#TPM_PIDS[@]} - 1; i >= 0; i--)); do
        kill "${TPM_PIDS[i]}" 2>/dev/null || true
        wait "${TPM_PIDS[i]}" 2>/dev/null || true
    done
    if [[ $rc -ne 0 && $rc -ne 77 ]]; then
        for log in "$T"/swtpm.log "$T"/dbus.log "$T"/abrmd.log "$T"/module.log; do
            [[ -s $log ]] && { printf -- '--- last lines of %s:\n' "$log" >&2; tail -n 15 "$log" >&2; }
        done
    fi
    (exit "$rc")
    cleanup    # integration/lib.sh's: keeps $T on failure, exits with rc
}
trap tpm_cleanup EXIT

# wait_for SECONDS CMD...: polls CMD every 0.1 s until it succeeds.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

alive() { kill -0 "$1" 2>/dev/null; }

# swtpm on two free loopback ports (server, ctrl = server + 1); a port
# taken by someone else makes it exit at once: try others.
mkdir -m 700 "$T/tpm"
for attempt in 1 2 3 4 5 6 7 8; do
    TPM_PORT=$((20000 + RANDOM % 20000))
    swtpm socket --tpm2 --tpmstate "dir=$T/tpm" --flags not-need-init,startup-clear \
        --server "type=tcp,port=$TPM_PORT,bindaddr=127.0.0.1" \
        --ctrl "type=tcp,port=$((TPM_PORT + 1)),bindaddr=127.0.0.1" >>"$T/swtpm.log" 2>&1 &
    TPM_PIDS+=($!)
    if wait_for 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$((TPM_PORT + 1))" && alive "${TPM_PIDS[-1]}"; then
        break
    fi
    kill "${TPM_PIDS[-1]}" 2>/dev/null || true
    wait "${TPM_PIDS[-1]}" 2>/dev/null || true
    unset 'TPM_PIDS[-1]'
    [[ $attempt -lt 8 ]] || fail "swtpm did not start: $(tail -n 5 "$T/swtpm.log")"
done

# A private session bus: its own config, socket and policy, in $T.
cat >"$T/dbus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$T/dbus.sock</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
CONF
dbus-daemon --config-file="$T/dbus.conf" --nofork --nopidfile --print-address=1 \
    >"$T/dbus.addr" 2>"$T/dbus.log" &
TPM_PIDS+=($!)
wait_for 10 test -s "$T/dbus.addr" || fail "dbus-daemon did not start: $(cat "$T/dbus.log")"
DBUS_SESSION_BUS_ADDRESS=$(head -n 1 "$T/dbus.addr")
export DBUS_SESSION_BUS_ADDRESS

# tpm2-abrmd refuses to run as root unless told it may (CI runs as root).
abrmd_args=(--session "--tcti=swtpm:host=127.0.0.1,port=$TPM_PORT")
[[ $(id -u) -ne 0 ]] || abrmd_args+=(--allow-root)
tpm2-abrmd "${abrmd_args[@]}" >"$T/abrmd.log" 2>&1 &
TPM_PIDS+=($!)
export TPM2TOOLS_TCTI=tabrmd:bus_type=session
wait_for 15 tpm2_getcap properties-fixed ||
    fail "tpm2-abrmd does not answer on the private bus: $(tail -n 5 "$T/abrmd.log")"
alive "${TPM_PIDS[-1]}" || fail "tpm2-abrmd exited: $(tail -n 5 "$T/abrmd.log")"

# ---- the token ------------------------------------------------------------------

export TPM2_PKCS11_TCTI=tabrmd:bus_type=session
export TPM2_PKCS11_STORE=$T/tpm2-store
export TPM2_PKCS11_LOG_LEVEL=0
mkdir -m 700 "$TPM2_PKCS11_STORE"
(umask 077 && rand_hex 8 >"$T/tpm-pin" && rand_hex 8 >"$T/tpm-so-pin")
PIN_FILE=$T/tpm-pin
TOKEN_LABEL="tpm-${TEST_NAME:0:16}-$(rand_hex 4)"
ptool init --path="$TPM2_PKCS11_STORE" >"$T/ptool.log" 2>&1 ||
    fail "tpm2_ptool init failed: $(tail -n 5 "$T/ptool.log")"
# The PINs go on tpm2_ptool's command line once, at set-up; p11jwt never
# takes one there.
ptool addtoken --pid=1 --label="$TOKEN_LABEL" --path="$TPM2_PKCS11_STORE" \
    --sopin="$(cat "$T/tpm-so-pin")" --userpin="$(cat "$PIN_FILE")" >>"$T/ptool.log" 2>&1 ||
    fail "tpm2_ptool addtoken failed: $(tail -n 5 "$T/ptool.log")"

TOKEN="pkcs11:token=$TOKEN_LABEL?module-path=$TPM_MODULE"
TOK=(--token "$TOKEN" --pin-file "$PIN_FILE")
export P11JWT_MODULE=$TPM_MODULE TOKEN TOKEN_LABEL PIN_FILE

# The module's own stderr lines are set aside; what remains is the CLI's.
run_cmd() {
    RC=0
    "$@" >"$T/out" 2>"$T/err.all" || RC=$?
    grep -E '^(ERROR|WARNING|INFO): ' "$T/err.all" >>"$T/module.log" || true
    grep -vE '^(ERROR|WARNING|INFO): ' "$T/err.all" >"$T/err" || true
    OUT=$(cat "$T/out")
    ERR=$(cat "$T/err")
    RAN=$(printf '%q ' "$@")
}

p11tool() {
    pkcs11-tool --module "$TPM_MODULE" --token-label "$TOKEN_LABEL" \
        --login --pin "$(cat "$PIN_FILE")" "$@"
}
