# lib.sh — sourced by every fault test (bash, set -euo pipefail), right after
# tests/integration/lib.sh (and tests/exchange/lib.sh when the test needs
# the STS):
#
#   source "$(dirname "$0")/../integration/lib.sh"
#   source "$(dirname "$0")/lib.sh"
#
# The test's token is made on SoftHSM as usual; the runs under test reach it
# through the fault module (tests/p11fault, README.md there), which forwards
# to SoftHSM and injects the faults a rule names:
#
#   fx RULES ARGS...      p11jwt ARGS through the fault module with RULES
#                         ("" for none), bounded by `timeout 30`; the call
#                         counts land in $COUNTS (emptied first)
#   via_fault CMD...      CMD with the environment fx uses (for programs
#                         other than the CLI; the rules come from $P11FAULT)
#   count calls|faults FUNCTION    from $COUNTS (0 when absent)
#   expect_count calls|faults FUNCTION OP N   e.g. expect_count calls C_Login -eq 1
#   set_rules RULES       writes the control file $P11FAULT_FILE (temp +
#                         rename, so a running process sees it whole)
#   timed CODE MAX_MS CMD...   expect_exit CODE CMD, and it took < MAX_MS
#   expect_one_line_naming RV  the last run's stderr is one line naming RV
FAULT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
declare -F expect_exit >/dev/null || {
    echo "fault/lib.sh: source tests/integration/lib.sh first" >&2
    exit 1
}

P11FAULT_LIB=${P11FAULT_LIB:-$(dirname "$P11JWT_BIN")/tests/p11fault/libp11fault.so}
[[ -r $P11FAULT_LIB ]] || fail "fault module not found at $P11FAULT_LIB (set P11FAULT_LIB)"
command -v timeout >/dev/null 2>&1 || skip "timeout (coreutils) is not installed"

COUNTS=$T/p11fault.counts
export P11FAULT_FILE=$T/p11fault.rules
rm -f "$P11FAULT_FILE"
unset P11FAULT P11FAULT_COUNTS P11FAULT_MODULE

declare -F now_ms >/dev/null || now_ms() {
    local t=${EPOCHREALTIME/[.,]/}
    echo $((t / 1000))
}

via_fault() {
    P11JWT_MODULE=$P11FAULT_LIB P11FAULT_MODULE=$SOFTHSM_MODULE P11FAULT_COUNTS=$COUNTS \
        timeout 30 "$@"
}

fx() {
    local rules=$1
    shift
    rm -f "$COUNTS"
    P11FAULT=$rules via_fault "$P11JWT_BIN" "$@"
}

count() {
    [[ -r $COUNTS ]] || fail "no counts file $COUNTS: did the run go through the fault module?"
    awk -v k="$1" -v f="$2" '$1 == k && $2 == f { n = $3 } END { print n + 0 }' "$COUNTS"
}

# expect_count calls|faults FUNCTION OP N
expect_count() {
    local n
    n=$(count "$1" "$2")
    # shellcheck disable=SC2086
    [ "$n" "$3" "$4" ] || fail "$1 of $2: $n, expected $3 $4 (after: $RAN)"
}

set_rules() {
    printf '%s\n' "$1" >"$P11FAULT_FILE.tmp"
    mv -f "$P11FAULT_FILE.tmp" "$P11FAULT_FILE"
}

# timed CODE MAX_MS CMD...
timed() {
    local code=$1 max=$2 t0 el
    shift 2
    t0=$(now_ms)
    expect_exit "$code" "$@"
    el=$(($(now_ms) - t0))
    ((el < max)) || fail "took $el ms, expected under $max ms: $RAN"
    ELAPSED=$el
}

expect_one_line_naming() {
    check_stderr 1
    grep -q -- "$1" <<<"$ERR" || fail "stderr does not name $1: $ERR"
}
