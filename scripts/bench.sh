#!/usr/bin/env bash
# bench.sh — build in Release, make a fresh SoftHSM token, and measure:
#   - tests/bench's p11jwt-bench: the token's raw C_SignInit+C_Sign ceiling
#     against complete assertions through the library (ES256, ES384, ES512,
#     HS256; 1 and 2 threads), and the exchange's cached-token hand-out;
#   - `p11jwt sign --batch` on many lines (ES512, HS256; also --threads 2
#     when the CLI has it): realistic lines (a uuid, an integer, a short
#     array, a nested object; different on every line) as a ratio to the
#     library loop and to the raw loop signing the same claims, and lines of
#     `{}` as the reference of what the claims cost, split into the token's
#     share (the raw loop over a `{}` line's signing input) and p11jwt's;
#   - the seeds' own approaches: PyJWT with an in-memory key, PyJWT reading
#     the PEM on every call (the Noa sample), pkcs11-tool --sign per process.
#   - tests/bench's p11jwt-agent-bench against a real `p11jwt agent` and the
#     test STS: hand-outs over the socket against the agent's /v1/health (1
#     and 2 client threads), hand-out p99 with a refresh in flight against
#     quiet, p11jwt-token per process against `pkcs11-tool --help` (CPU)
#     and against `p11jwt token` (wall time).
#   - tests/bench's p11jwt-fleet-bench against a redis-server on a loopback
#     port: a hit in the fleet's Redis, the first read of a value (GET +
#     AES-GCM decryption in the token) and a later one (GET + comparison
#     with the value opened last), against a plain GET of the same size
#     (median, p99), and the memory hit path with and without Redis
#     configured (docs/fleet.md).
#   - tests/bench's p11jwt-start-bench: the CPU of one process, as a ratio
#     in one run: `p11jwt --version` against `pkcs11-tool --help`, and a
#     one-shot `p11jwt sign` (ES256) against `pkcs11-tool --sign` on the
#     same key (target <= 1.0).
# Writes the table (medians over the runs) to docs/performance.md and prints it.
#
#   scripts/bench.sh            3 s per row, 50,000 batch lines (ES512 10,000), one run
#   scripts/bench.sh --runs 3   three runs; every run's summary, then medians
#   scripts/bench.sh --quick    1 s per row, 2,000 lines: the CI smoke check
#                               (asserts nothing about speed; fails only when
#                               something fails); table to BUILD/performance-quick.md
#   --only batch                the batch rows only (while working on them);
#                               table to BUILD/performance-batch.md
#   --output PATH               write the table there instead
#
# BUILD_DIR (default build-bench). P11JWT_KEEP_TMP=1 keeps the token dir.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
PYTHON=/usr/bin/python3
MODULE=/usr/lib/softhsm/libsofthsm2.so
quick=0
runs=1
output=
only=

die() { echo "bench.sh: $*" >&2; exit 1; }
usage_die() { echo "bench.sh: $* (try --help)" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --runs)
            [ $# -ge 2 ] || usage_die "--runs needs a number"
            runs=$2; shift
            [[ $runs =~ ^[1-9][0-9]*$ ]] || usage_die "--runs wants a positive whole number"
            ;;
        --output)
            [ $# -ge 2 ] || usage_die "--output needs a path"
            output=$2; shift
            ;;
        --only)
            [ $# -ge 2 ] || usage_die "--only needs a part (batch)"
            only=$2; shift
            [ "$only" = batch ] || usage_die "--only knows 'batch', not '$only'"
            ;;
        -h|--help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) usage_die "unknown option '$1'" ;;
    esac
    shift
done

# Batch lines per alg: enough that the process start (~0.1 s: module load,
# login) weighs a few per cent at most at the alg's rate.
declare -A batch_lines
if [ "$quick" = 1 ]; then
    seconds=1 p11tool_runs=5 spawn_runs=20 fleet_gets=500 start_runs=20
    batch_lines=([ES512]=2000 [HS256]=2000)
    output=${output:-$build/performance-quick.md}
else
    seconds=3 p11tool_runs=30 spawn_runs=200 fleet_gets=500 start_runs=200
    batch_lines=([ES512]=10000 [HS256]=50000)
    if [ "$only" = batch ]; then
        output=${output:-$build/performance-batch.md}
    else
        output=${output:-$root/docs/performance.md}
    fi
fi
max_lines=50000
[ "$quick" = 1 ] && max_lines=2000

for tool in cmake softhsm2-util pkcs11-tool openssl; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (scripts/deps.sh)"
done
[ -r "$MODULE" ] || die "SoftHSM module $MODULE is missing"
"$PYTHON" -c 'import jwt, cryptography' 2>/dev/null ||
    die "$PYTHON with PyJWT and cryptography (python3-jwt) is needed"

# ---- build -------------------------------------------------------------------

echo "== build (Release): $build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cli=$build/p11jwt
bench=$build/tests/bench/p11jwt-bench
agent_bench=$build/tests/bench/p11jwt-agent-bench
fleet_bench=$build/tests/bench/p11jwt-fleet-bench
token_bin=$build/p11jwt-token
start_bench=$build/tests/bench/p11jwt-start-bench
cmake --build "$build" -j"$(nproc)" --target p11jwt_cli p11jwt_bench p11jwt_token \
    p11jwt_agent_bench p11jwt_fleet_bench p11jwt_start_bench >/dev/null
[ -x "$cli" ] || die "no CLI at $cli"
[ -x "$bench" ] || die "no benchmark program at $bench"
[ -x "$agent_bench" ] || die "no agent benchmark program at $agent_bench"

# ---- a fresh token -------------------------------------------------------------

T=$(mktemp -d "${TMPDIR:-/tmp}/p11jwt-bench.XXXXXX")
chmod 700 "$T"
daemons=()
cleanup() {
    local rc=$? pid
    for pid in "${daemons[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "${P11JWT_KEEP_TMP:-0}" = 1 ] || [ $rc -ne 0 ]; then
        echo "bench.sh: token and files kept in $T" >&2
    else
        rm -rf "$T"
    fi
    exit $rc
}
trap cleanup EXIT

unset P11JWT_TRACE P11JWT_CONFIG
export P11JWT_MODULE=$MODULE
# The loopback STS in p11jwt-bench must never be reached through a proxy.
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
mkdir -m 700 "$T/tokendir"
sed "s|@TOKENDIR@|$T/tokendir|" "$root/tokens/softhsm2.conf.in" >"$T/softhsm2.conf"
export SOFTHSM2_CONF=$T/softhsm2.conf
rand_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
(umask 077 && rand_hex 8 >"$T/pin")
label="bench-$(rand_hex 4)"
softhsm2-util --init-token --free --label "$label" --pin "$(cat "$T/pin")" \
    --so-pin "$(rand_hex 8)" >"$T/init.log" 2>&1 || die "softhsm2-util: $(cat "$T/init.log")"
TOKEN="pkcs11:token=$label"
TOK=(--token "$TOKEN" --pin-file "$T/pin")

declare -A kid
for alg in ES256 ES384 ES512 HS256; do
    kid[$alg]=$("$cli" keygen "${TOK[@]}" --alg "$alg" --label "bench-${alg,,}")
done
"$cli" keygen "${TOK[@]}" --alg A256GCM --kid bench-cache >/dev/null ||
    die "keygen --alg A256GCM failed"

# ---- the fleet's Redis (docs/fleet.md): redis-server on a loopback port ------

redis_port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$T" --logfile "$T/redis.log" &
daemons+=($!)
for ((i = 0; i < 100; i++)); do
    redis-cli -p "$redis_port" PING >/dev/null 2>&1 && break
    sleep 0.1
done
redis-cli -p "$redis_port" PING >/dev/null 2>&1 || die "redis-server did not start"

# ---- inputs for the comparisons ------------------------------------------------

ISS=bench-client
AUD=https://sts.example.com/oauth2/token
# Realistic batch lines: what users sign, different on every line (an
# organization uuid, an integer, a short array, one nested object). The
# library loop is given the same lines (p11jwt-bench --extras).
"$PYTHON" - "$max_lines" >"$T/batch-real.in" <<'PY'
import random, sys, uuid
rng = random.Random(14)
roles = ["reader", "signer", "auditor", "admin", "operator"]
for i in range(int(sys.argv[1])):
    org = uuid.UUID(int=rng.getrandbits(128), version=4)
    print('{"org":"%s","seq":%d,"roles":["%s","%s"],"ctx":{"tenant":"t-%04d","tier":%d}}'
          % (org, 1000000 + i, rng.choice(roles), rng.choice(roles), rng.randrange(10000),
             rng.randrange(4)))
PY
yes '{}' | head -n "$max_lines" >"$T/batch-empty.in" || true
head -n 1 "$T/batch-real.in" >"$T/one-real.in"
echo '{}' >"$T/one-empty.in"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 -out "$T/es512.pem" 2>/dev/null
chmod 600 "$T/es512.pem"
# pkcs11-tool signs prepared input: the SHA-512 of a signing input (SoftHSM
# has no CKM_ECDSA_SHA512) for ES512, the signing input itself for HS256.
"$cli" sign "${TOK[@]}" --kid "${kid[HS256]}" --iss "$ISS" --aud "$AUD" |
    sed 's/\.[^.]*$//' | tr -d '\n' >"$T/signing-input"
openssl dgst -sha512 -binary "$T/signing-input" >"$T/signing-input.sha512"
openssl dgst -sha256 -binary "$T/signing-input" >"$T/signing-input.sha256"
threads_opt=0
# Not `sign --help | grep -q`: grep leaving early can fail the pipe (pipefail)
# and the 2-thread rows would be skipped at random.
"$cli" sign --help >"$T/sign-help.txt" || die "p11jwt sign --help failed"
grep -q -- '--threads' "$T/sign-help.txt" && threads_opt=1

# ---- the agent: the test STS, a dt profile, `p11jwt agent` on a socket -------

if [ "$only" != batch ]; then
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/agent.secret"
"$cli" import-secret "${TOK[@]}" --kid agent-hs --alg HS256 --secret-file "$T/agent.secret" ||
    die "import-secret for the agent's profile failed"
"$PYTHON" "$root/tests/sts/sts.py" --port-file "$T/sts.port" --control-port-file "$T/sts.ctl" \
    --secret "agent-hs=$T/agent.secret" 2>"$T/sts.log" &
daemons+=($!)
for ((i = 0; i < 100; i++)); do [ -s "$T/sts.port" ] && [ -s "$T/sts.ctl" ] && break; sleep 0.1; done
[ -s "$T/sts.port" ] || die "the test STS did not start: $(tail -n 3 "$T/sts.log")"
sts_ctl=http://127.0.0.1:$(cat "$T/sts.ctl")
printf '[profile dt]\ndialect = dt\ntoken = %s\npin_file = %s\nkid = agent-hs\n' \
    "$TOKEN" "$T/pin" >"$T/agent.conf"
printf 'iss = bench@example.com\ntoken_url = http://127.0.0.1:%s/dt/token\n' \
    "$(cat "$T/sts.port")" >>"$T/agent.conf"
"$cli" agent --config "$T/agent.conf" --socket "$T/agent.sock" 2>"$T/agent.log" &
daemons+=($!)
for ((i = 0; i < 100; i++)); do
    curl -s -o /dev/null --unix-socket "$T/agent.sock" http://agent/v1/health 2>/dev/null && break
    sleep 0.1
done
curl -sf -o /dev/null --unix-socket "$T/agent.sock" http://agent/v1/token/dt ||
    die "the agent does not hand out tokens: $(tail -n 3 "$T/agent.log")"
fi
sts_control() {
    curl -sf -o /dev/null -H 'Content-Type: application/json' -d "$1" "$sts_ctl/_control" ||
        die "STS control '$1' failed"
}

now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.1f", n / (b - a) }'; }

# batch_rate ALG THREADS KIND -> "lines/s startup_ms steady_lines/s": the
# whole process on the KIND (real, empty) lines, the time of a 1-line batch
# (startup), and the rate with that startup taken off.
batch_rate() {
    local alg=$1 threads=$2 kind=$3 t0 t1 t2 n lines=${batch_lines[$1]}
    local -a extra=()
    [ "$threads" -gt 1 ] && extra=(--threads "$threads")
    local -a cmd=("$cli" sign "${TOK[@]}" --kid "${kid[$alg]}" --iss "$ISS" --aud "$AUD"
                  --ttl 300 --batch "${extra[@]}")
    head -n "$lines" "$T/batch-$kind.in" >"$T/batch.in"
    t0=$(now)
    "${cmd[@]}" <"$T/one-$kind.in" >"$T/one.out" || die "sign --batch $alg failed (1 line)"
    t1=$(now)
    "${cmd[@]}" <"$T/batch.in" >"$T/batch.out" || die "sign --batch $alg failed"
    t2=$(now)
    n=$(wc -l <"$T/batch.out")
    [ "$n" -eq "$lines" ] || die "sign --batch $alg wrote $n lines, not $lines"
    awk -v n="$lines" -v a="$t0" -v b="$t1" -v c="$t2" \
        'BEGIN { s = (c - b) - (b - a); printf "%.1f %.1f %.1f\n", n / (c - b), (b - a) * 1000, (s > 0 ? n / s : 0) }'
}

# lib_rate ALG THREADS -> "raw_ops/s lib_ops/s raw{}_ops/s": p11jwt-bench's raw
# and p11jwt rows with the realistic lines as extra claims, and its raw loop
# over the signing input of a `{}` line, measured now: the batch is
# compared with them measured just before and after, not with the rows of
# minutes ago, so that load from elsewhere on a shared machine does not land
# on one side of the ratio only.
lib_rate() {
    local alg=$1 threads=$2 v
    v=$("$bench" --module "$MODULE" --token-label "$label" --pin-file "$T/pin" \
        --seconds "$seconds" --kid "${alg,,}=${kid[$alg]}" --only "${alg,,}" \
        --extras "$T/batch-real.in" --threads "$threads" | awk -v a="$alg" -v t="$threads" \
        '$1 == a && $3 == t && $2 == "raw" { r = $4 } $1 == a && $3 == t && $2 == "p11jwt" { l = $4 }
         $1 == a && $3 == t && $2 == "raw{}" { e = $4 }
         END { if (r != "" && l != "" && e != "") print r, l, e }') || die "p11jwt-bench failed"
    [ -n "$v" ] || die "p11jwt-bench printed no $alg $threads-thread rows"
    echo "$v"
}

# p11tool_rate ALG -> signatures/s, one pkcs11-tool process per signature
p11tool_rate() {
    local alg=$1 mech input t0 t1 id
    case $alg in
        ES512) mech=ECDSA input=$T/signing-input.sha512 ;;
        HS256) mech=SHA256-HMAC input=$T/signing-input ;;
    esac
    id=$(printf '%s' "${kid[$alg]}" | od -An -tx1 | tr -d ' \n')
    t0=$(now)
    for ((i = 0; i < p11tool_runs; i++)); do
        pkcs11-tool --module "$MODULE" --token-label "$label" --login --pin "$(cat "$T/pin")" \
            --sign -m "$mech" --id "$id" -i "$input" -o "$T/p11tool.sig" >/dev/null 2>&1 ||
            die "pkcs11-tool --sign $alg failed"
    done
    t1=$(now)
    rate "$p11tool_runs" "$t0" "$t1"
}

# others_busy -> how many CPUs other work kept busy over the last second,
# measured while we do nothing (/proc/stat: busy = total - idle - iowait).
others_busy() {
    local a b
    a=$(head -1 /proc/stat)
    sleep 1
    b=$(head -1 /proc/stat)
    awk -v a="$a" -v b="$b" -v n="$(nproc)" 'BEGIN {
        na = split(a, x); split(b, y); t = 0
        for (i = 2; i <= na; i++) t += y[i] - x[i]
        idle = (y[5] - x[5]) + (y[6] - x[6])
        printf "%.2f", (t > 0 ? (t - idle) / t * n : 0) }'
}

# ---- the runs -------------------------------------------------------------------

results=$T/results.tsv     # run \t row-key \t value
: >"$results"
put() { printf '%s\t%s\t%s\n' "$run" "$1" "$2" >>"$results"; }

summaries=()
agent_summaries=()
fleet_summaries=()
for ((run = 1; run <= runs; run++)); do
    load=$(others_busy)
    put "load" "$load"
    awk -v l="$load" 'BEGIN { exit !(l > 0.3) }' &&
        echo "bench.sh: other work keeps $load CPUs busy at the start of run $run: it disturbs the rows (2-thread ones most)" >&2
    if [ "$only" != batch ]; then
    echo "== run $run/$runs: p11jwt-bench (${seconds} s per row; other work: $load CPUs busy)"
    "$bench" --module "$MODULE" --token-label "$label" --pin-file "$T/pin" \
        --seconds "$seconds" --kid es256="${kid[ES256]}" --kid es384="${kid[ES384]}" \
        --kid es512="${kid[ES512]}" --kid hs256="${kid[HS256]}" | tee "$T/bench.$run.out" ||
        die "p11jwt-bench failed (run $run)"
    summary=$(grep '^summary: ' "$T/bench.$run.out") || die "p11jwt-bench printed no summary"
    summaries+=("$summary")
    while read -r what path threads ops ratio; do
        case $what in '#'*|summary:) continue ;; esac
        put "bench $what $path $threads" "$ops"
        [ "$path" = p11jwt ] && [ "$ratio" != - ] && put "ratio $what $threads" "$ratio"
    done <"$T/bench.$run.out"
    fi

    echo "== run $run/$runs: p11jwt sign --batch (ES512 ${batch_lines[ES512]} lines, HS256 ${batch_lines[HS256]})"
    for alg in ES512 HS256; do
        for threads in 1 2; do
            if [ "$threads" -gt 1 ] && [ "$threads_opt" = 0 ]; then
                continue
            fi
            # raw and library loops (realistic claims), the batch on realistic
            # lines, on lines of {}, then the loops again.
            read -r raw_a lib_a raw0_a <<<"$(lib_rate "$alg" "$threads")" || exit 1
            out=$(batch_rate "$alg" "$threads" real) || die "sign --batch $alg (threads $threads) failed"
            read -r lps startup steady <<<"$out"
            out=$(batch_rate "$alg" "$threads" empty) || die "sign --batch $alg (threads $threads) failed"
            read -r lps_e startup_e steady_e <<<"$out"
            read -r raw_b lib_b raw0_b <<<"$(lib_rate "$alg" "$threads")" || exit 1
            [ -n "${steady:-}" ] && [ -n "${steady_e:-}" ] || die "sign --batch $alg: no rate measured"
            ref=$(awk -v a="$lib_a" -v b="$lib_b" 'BEGIN { printf "%.1f", (a + b) / 2 }')
            raw=$(awk -v a="$raw_a" -v b="$raw_b" 'BEGIN { printf "%.1f", (a + b) / 2 }')
            r=$(awk -v a="$lps" -v b="$ref" 'BEGIN { printf "%.3f", a / b }')
            r2=$(awk -v a="$steady" -v b="$ref" 'BEGIN { printf "%.3f", a / b }')
            rr=$(awk -v a="$lps" -v b="$raw" 'BEGIN { printf "%.3f", a / b }')
            rr2=$(awk -v a="$steady" -v b="$raw" 'BEGIN { printf "%.3f", a / b }')
            raw0=$(awk -v a="$raw0_a" -v b="$raw0_b" 'BEGIN { printf "%.1f", (a + b) / 2 }')
            cost=$(awk -v a="$steady" -v b="$steady_e" 'BEGIN { printf "%.3f", (a > 0 ? b / a - 1 : 0) }')
            # The extra cost split in time per line, in units of a {} line's:
            # the token's (raw loop over the longer input against the {}
            # input's) and the rest, p11jwt's own.
            tcost=$(awk -v r="$raw" -v e="$raw0" 'BEGIN { printf "%.3f", (r > 0 ? e / r - 1 : 0) }')
            ocost=$(awk -v c="$cost" -v se="$steady_e" -v r="$raw" -v e="$raw0" \
                'BEGIN { printf "%.3f", (r > 0 && e > 0 ? c - se * (1 / r - 1 / e) : 0) }')
            printf '%-6s  batch    %7d  %14s  %10s  (library loop around it %s/s, raw %s/s: %s; startup %s ms; without it %s lines/s, %s, raw %s; {} lines %s/s, without startup %s/s: realistic lines cost %s more; raw loop over a {} line %s/s: the token %s, p11jwt %s)\n' \
                "$alg" "$threads" "$lps" "$r" "$ref" "$raw" "$rr" "$startup" "$steady" "$r2" "$rr2" \
                "$lps_e" "$steady_e" "$cost" "$raw0" "$tcost" "$ocost"
            put "batchref $alg $threads" "$ref"
            put "batchraw $alg $threads" "$raw"
            put "batch $alg $threads" "$lps"
            put "steady $alg $threads" "$steady"
            put "batchempty $alg $threads" "$lps_e"
            put "batchratio $alg $threads" "$r"
            put "batchrawratio $alg $threads" "$rr"
            put "startup $alg $threads" "$startup"
            put "steadyratio $alg $threads" "$r2"
            put "steadyrawratio $alg $threads" "$rr2"
            put "batchcost $alg $threads" "$cost"
            put "steadyempty $alg $threads" "$steady_e"
            put "batchraw0 $alg $threads" "$raw0"
            put "tokencost $alg $threads" "$tcost"
            put "owncost $alg $threads" "$ocost"
        done
    done
    [ "$threads_opt" = 1 ] || echo "   (p11jwt sign has no --threads yet: 2-thread batch rows skipped)"
    [ "$only" = batch ] && continue

    echo "== run $run/$runs: PyJWT (${seconds} s each) and pkcs11-tool ($p11tool_runs processes each)"
    for mode in es512-mem es512-pem hs256-mem; do
        out=$("$PYTHON" "$root/tests/bench/pyjwt_bench.py" "$mode" "$seconds" \
            "$T/es512.pem") || die "pyjwt_bench.py $mode failed"
        read -r _ ops <<<"$out"
        printf '%-10s  %14s\n' "pyjwt-$mode" "$ops"
        put "pyjwt $mode" "$ops"
    done
    for alg in ES512 HS256; do
        ops=$(p11tool_rate "$alg") || die "pkcs11-tool --sign $alg failed"
        printf '%-10s  %14s\n' "pkcs11-tool-$alg" "$ops"
        put "p11tool $alg" "$ops"
    done

    echo "== run $run/$runs: start-up CPU per process (p11jwt-start-bench, $start_runs runs each)"
    es256_id=$(printf '%s' "${kid[ES256]}" | od -An -tx1 | tr -d ' \n')
    # OpenSC 0.23's pkcs11-tool has no --version; --help is the same bare
    # start (libraries loaded, usage printed) and exits 2.
    "$start_bench" --name version --runs "$start_runs" --want-b 2 -- "$cli" --version \
        --vs "$(command -v pkcs11-tool)" --help >"$T/start.$run.out" ||
        die "p11jwt-start-bench version failed"
    "$start_bench" --name sign --runs "$start_runs" -- \
        "$cli" sign "${TOK[@]}" --kid "${kid[ES256]}" --iss "$ISS" --aud "$AUD" \
        --vs "$(command -v pkcs11-tool)" --module "$MODULE" --token-label "$label" --login \
        --pin "$(cat "$T/pin")" --sign -m ECDSA --id "$es256_id" -i "$T/signing-input.sha256" \
        -o /dev/null >>"$T/start.$run.out" || die "p11jwt-start-bench sign failed"
    while read -r _ what acpu bcpu ratio awall bwall; do
        printf '%-8s p11jwt %8.3f ms CPU  pkcs11-tool %8.3f ms CPU  ratio %s  (wall %s / %s ms)\n' \
            "$what" "$acpu" "$bcpu" "$ratio" "$awall" "$bwall"
        put "start $what p11jwt" "$acpu"
        put "start $what p11tool" "$bcpu"
        put "start $what ratio" "$ratio"
    done <"$T/start.$run.out"

    echo "== run $run/$runs: the agent (p11jwt-agent-bench, ${seconds} s per part)"
    ab=("$agent_bench" --socket "$T/agent.sock" --profile dt --seconds "$seconds")
    "${ab[@]}" --only handout >"$T/agent.$run.out" || die "p11jwt-agent-bench handout failed"
    # Every token request held 200 ms: a refresh is in flight all through the
    # refresh slices (the bench forces one with min_valid).
    sts_control '{"path": "/dt/token", "mode": "delay", "seconds": 0.2, "count": 100000}'
    "${ab[@]}" --only latency >>"$T/agent.$run.out" || die "p11jwt-agent-bench latency failed"
    sts_control '{"clear": true}'
    "${ab[@]}" --only spawn --runs "$spawn_runs" --token-bin "$token_bin" --cli-bin "$cli" \
        --cli-config "$T/agent.conf" >>"$T/agent.$run.out" || die "p11jwt-agent-bench spawn failed"
    grep -Ev '^(summary:|#)' "$T/agent.$run.out"
    declare -A ag=()
    while read -r what path a b c d e f g h i j; do
        case "$what $path" in
            "handout health") put "agent health $a" "$b" ;;
            "handout token") put "agent token $a" "$b"; put "agent handout $a" "$c"; ag[h$a]=$c ;;
            "latency quiet") put "agent p50 quiet" "$d"; put "agent p99 quiet" "$g" ;;
            "latency refresh") put "agent p50 refresh" "$d"; put "agent p99 refresh" "$g"
                               put "agent p99 ratio" "$i"; ag[p99]=$i ;;
            "spawn p11jwt-token") put "agent spawn token cpu" "$b"; put "agent spawn token wall" "$e" ;;
            "spawn pkcs11-tool-help") put "agent spawn p11tool cpu" "$b"
                                      put "agent spawn p11tool wall" "$e"
                                      put "agent cpu ratio" "$i"; ag[cpu]=$i ;;
            "spawn true-floor") put "agent spawn true cpu" "$b"; put "agent spawn true wall" "$e" ;;
            "spawn p11jwt-token-cli") put "agent spawn cli cpu" "$b"; put "agent spawn cli wall" "$e"
                                      put "agent speedup" "${i%x}"; ag[sp]=${i%x} ;;
        esac
    done <"$T/agent.$run.out"
    agent_summaries+=("agent: handout_t1=${ag[h1]:-na} handout_t2=${ag[h2]:-na} refresh_p99=${ag[p99]:-na} token_cpu_vs_p11tool=${ag[cpu]:-na} token_speedup_vs_cli=${ag[sp]:-na}")

    echo "== run $run/$runs: the fleet's Redis (p11jwt-fleet-bench)"
    "$fleet_bench" "$TOKEN" "$T/pin" bench-cache "redis://127.0.0.1:$redis_port" \
        "$fleet_gets" "$seconds" >"$T/fleet.$run.out" || die "p11jwt-fleet-bench failed"
    grep -v '^summary:' "$T/fleet.$run.out"
    fleet_summaries+=("fleet: $(sed -n 's/^summary: //p' "$T/fleet.$run.out")")
done

# ---- the table (medians over the runs) ------------------------------------------

cpu=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') || cpu=unknown
ncpu=$(nproc)
softhsm_v=$(softhsm2-util --version 2>/dev/null || echo '?')
openssl_v=$(openssl version | awk '{print $2}')
pyjwt_v=$("$PYTHON" -c 'import jwt; print(jwt.__version__)')
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')
[ -n "$(git -C "$root" status --porcelain -- src include 2>/dev/null)" ] && commit="$commit (+ local changes)"

mkdir -p "$(dirname "$output")"
lines_desc="ES512 ${batch_lines[ES512]}, HS256 ${batch_lines[HS256]}"
"$PYTHON" - "$results" "$runs" "$seconds" "$lines_desc" "$p11tool_runs" "$threads_opt" \
    "$cpu" "$ncpu" "$(date -u '+%Y-%m-%d %H:%M UTC')" "$softhsm_v" "$openssl_v" "$pyjwt_v" \
    "$commit" "$quick" "$only" >"$output" <<'PY'
import statistics, sys
(path, runs, seconds, lines, p11runs, threads_opt, cpu, ncpu, date, softhsm, openssl,
 pyjwt, commit, quick, only) = sys.argv[1:]
vals = {}
for line in open(path):
    _, key, v = line.rstrip("\n").split("\t")
    vals.setdefault(key, []).append(float(v))
med = lambda k: statistics.median(vals[k]) if k in vals else None
def ops(k):
    v = med(k)
    return "n/a" if v is None else f"{v:,.0f}"
def ratio(k):
    v = med(k)
    return "n/a" if v is None else f"{v:.2f}"

out = []
p = out.append
p("# Performance")
p("")
p("Generated by `scripts/bench.sh%s%s` — do not edit by hand." % (" --quick" if quick == "1" else
  (f" --runs {runs}" if runs != "1" else ""), " --only batch" if only == "batch" else ""))
p("")
p(f"- Date: {date}; commit {commit}")
p(f"- CPU: {cpu} ({ncpu} CPUs online)")
p(f"- SoftHSM {softhsm}, OpenSSL {openssl}, PyJWT {pyjwt}; Release build")
p(f"- {seconds} s per measurement after a short warm-up; medians of {runs} run(s)")
p("- CPUs kept busy by other work in the second before each run: "
  + ", ".join(f"{v:.2f}" for v in vals.get("load", []))
  + f" of {ncpu} (such work lowers the 2-thread rows most)")
p("")
p("## Library against the token's ceiling")
p("")
p("raw: C_SignInit + C_Sign in a loop on one logged-in session per thread with a")
p("found key handle (ES: SHA-2 on the host, then CKM_ECDSA; HS256: CKM_SHA256_HMAC")
p("in the token), over the signing input of one of our assertions. p11jwt: complete")
p("assertions through `p11jwt_assertion_sign` (iss, aud, ttl; iat, exp, jti; JSON,")
p("base64url, hash, sign, compact form), one `p11jwt_key` shared by the threads.")
p("The two alternate in 10 slices per row (raw, p11jwt, p11jwt, raw, ...), so load")
p("from elsewhere on the machine weighs on both sides of the ratio alike.")
p("")
p("| alg | threads | raw ops/s | p11jwt ops/s | p11jwt/raw |")
p("| --- | ---: | ---: | ---: | ---: |")
for alg in ("ES256", "ES384", "ES512", "HS256"):
    for t in (1, 2):
        p(f"| {alg} | {t} | {ops(f'bench {alg} raw {t}')} | {ops(f'bench {alg} p11jwt {t}')} "
          f"| {ratio(f'ratio {alg} {t}')} |")
p("")
p("## Cached access token (exchange, warm cache)")
p("")
p("`p11jwt_client_token` + `p11jwt_access_token_clear` in a loop; the cache was")
p("filled by one exchange with a loopback STS and no STS call happens while measuring.")
p("")
p("| threads | hand-outs/s |")
p("| ---: | ---: |")
for t in (1, 2):
    p(f"| {t} | {ops(f'bench cache p11jwt {t}')} |")
c1, c2 = med("bench cache p11jwt 1"), med("bench cache p11jwt 2")
if c1 and c2:
    p("")
    p(f"2 threads / 1 thread: {c2 / c1:.2f}×")
p("")
p("## CLI batch against the library loop")
p("")
p(f"`p11jwt sign --batch` on {lines} realistic lines: a handful of extra claims,")
p("different on every line, e.g.")
p("`{\"org\":\"<uuid>\",\"seq\":1000000,\"roles\":[\"reader\",\"admin\"],\"ctx\":{\"tenant\":\"t-0042\",\"tier\":2}}`;")
p("wall clock of the whole process, against p11jwt-bench's library loop and raw")
p("`C_SignInit`+`C_Sign` loop on the same alg and thread count, signing the same")
p("lines (`--extras`), measured just before and just after it. Startup: the time of")
p("a 1-line batch (process start, module load, login, key lookup); \"w/o startup\"")
p("is the rate with that time taken off. SoftHSM serialises ES256 and HS256")
p("signatures (its raw rows above gain little or nothing from a second thread), so")
p("the 2-thread HS256 rows cannot scale; ES512's do.")
p("")
p("| alg | threads | lines/s | w/o startup | library loop ops/s | raw ops/s | batch/library | batch/raw | w/o startup: /library, /raw | startup ms |")
p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
def f1(k):
    v = med(k)
    return "n/a" if v is None else f"{v:.1f}"
def pct(k):
    v = med(k)
    return "n/a" if v is None else f"{v * 100:+.1f} %"
for alg in ("ES512", "HS256"):
    for t in (1, 2):
        if t == 2 and threads_opt != "1":
            p(f"| {alg} | 2 | n/a (no `--threads` yet) | | | | | | | |")
            continue
        p(f"| {alg} | {t} | {ops(f'batch {alg} {t}')} | "
          f"{ops(f'steady {alg} {t}')} | {ops(f'batchref {alg} {t}')} "
          f"| {ops(f'batchraw {alg} {t}')} | {ratio(f'batchratio {alg} {t}')} "
          f"| {ratio(f'batchrawratio {alg} {t}')} "
          f"| {ratio(f'steadyratio {alg} {t}')}, {ratio(f'steadyrawratio {alg} {t}')} "
          f"| {f1(f'startup {alg} {t}')} |")
p("")
p("What the realistic lines cost more than lines of `{}` (the same batch on")
p("lines of `{}`; both rates without startup): extra cost = `{}` rate /")
p("realistic rate - 1. Part of it is the signature's own: the signing input is")
p("longer (SoftHSM's HMAC hashes more blocks; for ES512 the host's SHA-512). The")
p("raw loop over the signing input of a `{}` line (p11jwt-bench's raw{} row,")
p("measured in the same alternating slices as the raw loop over a realistic")
p("line's) gives it: the token's extra cost = raw `{}` rate / raw rate - 1.")
p("p11jwt's share is the rest, in the same units (time per line, over a `{}`")
p("line's): extra cost - `{}` rate × (1 / raw rate - 1 / raw `{}` rate).")
p("")
p("| alg | threads | `{}` lines/s | realistic lines/s | extra cost | raw ops/s | raw `{}` ops/s | token's extra cost | p11jwt's share |")
p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for alg in ("ES512", "HS256"):
    for t in (1, 2):
        if t == 2 and threads_opt != "1":
            continue
        p(f"| {alg} | {t} | {ops(f'steadyempty {alg} {t}')} | {ops(f'steady {alg} {t}')} "
          f"| {pct(f'batchcost {alg} {t}')} | {ops(f'batchraw {alg} {t}')} "
          f"| {ops(f'batchraw0 {alg} {t}')} | {pct(f'tokencost {alg} {t}')} "
          f"| {pct(f'owncost {alg} {t}')} |")
p("")
p("## The seeds' approaches, for comparison")
p("")
p("Same claims, one thread. PyJWT via /usr/bin/python3 with the key in process memory")
p("(not in a token); the Noa sample reads the PEM on every call. pkcs11-tool signs a")
p(f"prepared input (no JSON, no base64url; ES512 pre-hashed), one process per signature,")
p(f"{p11runs} processes.")
p("")
p("| approach | ops/s | p11jwt 1-thread / it |")
p("| --- | ---: | ---: |")
def vs(k, alg):
    a, b = med(f"bench {alg} p11jwt 1"), med(k)
    return "n/a" if not a or not b else f"{a / b:.1f}×"
rows = [("PyJWT ES512, key object in memory", "pyjwt es512-mem", "ES512"),
        ("PyJWT ES512, PEM read per call (Noa sample)", "pyjwt es512-pem", "ES512"),
        ("PyJWT HS256, secret in memory", "pyjwt hs256-mem", "HS256"),
        ("pkcs11-tool --sign ES512, per process", "p11tool ES512", "ES512"),
        ("pkcs11-tool --sign HS256, per process", "p11tool HS256", "HS256")]
for name, k, alg in rows:
    p(f"| {name} | {ops(k)} | {vs(k, alg)} |")
p("")
p("## Start-up")
p("")
p("CPU (user + system, from rusage) of one process, by tests/bench's")
p("p11jwt-start-bench: each command run the same number of times")
p("in alternating slices, so the ratio is of one run. `--version`: the process")
p("start with the libraries linked in (OpenSC 0.23's pkcs11-tool has no")
p("`--version`; `--help` is the same bare start). One-shot sign: module load,")
p("login, key lookup and one ES256 signature; `p11jwt sign` also builds and")
p("encodes the JWT, pkcs11-tool signs a prepared SHA-256 digest (CKM_ECDSA) on")
p("the same key. libp11jwt loads libcurl only when it first needs HTTP. Target:")
p("sign ratio <= 1.0.")
p("")
def cpu_ms(k):
    v = med(k)
    return "n/a" if v is None else f"{v:.2f}"
p("| command | p11jwt CPU ms | pkcs11-tool CPU ms | p11jwt / pkcs11-tool |")
p("| --- | ---: | ---: | ---: |")
p(f"| `--version` (pkcs11-tool: `--help`) | {cpu_ms('start version p11jwt')} "
  f"| {cpu_ms('start version p11tool')} | {ratio('start version ratio')} |")
p(f"| one-shot `sign` ES256 (pkcs11-tool: `--sign -m ECDSA`) | {cpu_ms('start sign p11jwt')} "
  f"| {cpu_ms('start sign p11tool')} | {ratio('start sign ratio')} |")
p("")
p("## The host agent")
p("")
p("`p11jwt agent` with a dt (HS256) profile and the test STS on loopback, measured")
p("by tests/bench's p11jwt-agent-bench over the agent's Unix socket. Hand-outs: each")
p("client thread on its own kept-alive connection, `GET /v1/token/dt` against the")
p("agent's cheapest answer, `GET /v1/health` (the round trip's ceiling), in")
p("alternating slices. Target: token/health >= 0.9.")
p("")
p("| client threads | health req/s | token req/s | token/health |")
p("| ---: | ---: | ---: | ---: |")
for t in (1, 2):
    p(f"| {t} | {ops(f'agent health {t}')} | {ops(f'agent token {t}')} | {ratio(f'agent handout {t}')} |")
p("")
p("Latency of hand-outs on one kept-alive connection, quiet against while another")
p("connection keeps a refresh in flight (`?min_valid=` a year forces an exchange; the")
p("STS holds each for 200 ms), in alternating slices. Target: p99 ratio <= 2.")
p("")
p("| | p50 ms | p99 ms |")
p("| --- | ---: | ---: |")
def ms(k):
    v = med(k)
    return "n/a" if v is None else f"{v:.3f}"
p(f"| quiet | {ms('agent p50 quiet')} | {ms('agent p99 quiet')} |")
p(f"| refresh in flight | {ms('agent p50 refresh')} | {ms('agent p99 refresh')} |")
p(f"| p99 refresh / quiet | | {ratio('agent p99 ratio')} |")
p("")
p("One process per call (fork, exec, wait4; CPU = user + system from rusage), the")
p("four in rounds that take each in turn (`p11jwt token` in a tenth of them).")
p("Targets: p11jwt-token <= 0.5 of a bare `pkcs11-tool` start's CPU, and >= 20x")
p("faster (wall) than `p11jwt token --no-agent` (module load, login, signature,")
p("exchange per process). OpenSC 0.23's pkcs11-tool has no `--version`; `--help`")
p("is the same bare start (its libraries loaded, usage printed, exit 2).")
p("p11jwt-token is linked static-pie (CMakeLists.txt): no dynamic loader maps and")
p("relocates libc.so at its start, which /bin/true and the others pay.")
p("")
p("| per call | CPU ms | wall ms |")
p("| --- | ---: | ---: |")
p(f"| `p11jwt-token dt` | {ms('agent spawn token cpu')} | {ms('agent spawn token wall')} |")
p(f"| `pkcs11-tool --help` | {ms('agent spawn p11tool cpu')} | {ms('agent spawn p11tool wall')} |")
p(f"| `p11jwt token --profile dt` | {ms('agent spawn cli cpu')} | {ms('agent spawn cli wall')} |")
p(f"| `/bin/true` (any process start here) | {ms('agent spawn true cpu')} | {ms('agent spawn true wall')} |")
p("")
sp = med("agent speedup")
p(f"p11jwt-token CPU / pkcs11-tool's: {ratio('agent cpu ratio')}; "
  f"`p11jwt token` wall / p11jwt-token's: {'n/a' if sp is None else f'{sp:.1f}'}×")
tw, fw, cw = med("agent spawn token wall"), med("agent spawn true wall"), med("agent spawn cli wall")
if tw is not None and fw is not None:
    p("")
    p(f"p11jwt-token against the cost of starting any process (/bin/true): {tw - fw:+.3f} ms "
      "wall: its own start, and the agent's answer on a new connection (a thread per "
      "connection in the agent). A caller that asks often keeps a connection open: the "
      "hand-out latency above.")
    if sp is not None and sp < 20 and cw is not None:
        p("")
        p(f"A process start costs {fw:.3f} ms wall on this machine, so a per-process "
          f"client is bound by it: 20× a process that does one exchange would leave it "
          f"{cw / 20 - fw:+.3f} ms against a bare start"
          + (", less than nothing." if cw / 20 < fw else "."))
p("")
def r2(k):
    v = med(k)
    return "na" if v is None else f"{v:.2f}"
p("## Summary lines")
p("")
p("The medians over the runs, then each run's own line from p11jwt-bench")
p("(R = p11jwt/raw; cache_mops = million hand-outs/s at 1 thread; scaling = 2/1 threads).")
p("")
p("```")
p(f"median of {runs}: es256={r2('ratio ES256 1')} es384={r2('ratio ES384 1')} "
  f"es512={r2('ratio ES512 1')} hs256={r2('ratio HS256 1')} es512_t2={r2('ratio ES512 2')} "
  f"hs256_t2={r2('ratio HS256 2')} "
  f"cache_mops={(c1 / 1e6 if c1 else 0):.2f} cache_t2_scaling={(c2 / c1 if c1 and c2 else 0):.2f} "
  f"batch_es512={r2('batchratio ES512 1')} batch_hs256={r2('batchratio HS256 1')} "
  f"batch_es512_t2={r2('batchratio ES512 2')} batch_hs256_t2={r2('batchratio HS256 2')} "
  f"batch_raw_es512={r2('batchrawratio ES512 1')} batch_raw_hs256={r2('batchrawratio HS256 1')} "
  f"batch_raw_es512_t2={r2('batchrawratio ES512 2')} batch_raw_hs256_t2={r2('batchrawratio HS256 2')} "
  f"batch_cost_es512={r2('batchcost ES512 1')} batch_cost_hs256={r2('batchcost HS256 1')} "
  f"batch_cost_token_es512={r2('tokencost ES512 1')} batch_cost_token_hs256={r2('tokencost HS256 1')} "
  f"batch_cost_own_es512={r2('owncost ES512 1')} batch_cost_own_hs256={r2('owncost HS256 1')} "
  f"agent_handout_t1={r2('agent handout 1')} agent_handout_t2={r2('agent handout 2')} "
  f"agent_refresh_p99={r2('agent p99 ratio')} token_cpu_vs_p11tool={r2('agent cpu ratio')} "
  f"token_speedup_vs_cli={r2('agent speedup')} "
  f"start_version_vs_p11tool={r2('start version ratio')} start_sign_vs_p11tool={r2('start sign ratio')}")
if only == "batch":
    # The header, the batch section and the summary lines only.
    keep, kept = True, []
    for line in out:
        if line.startswith("## "):
            keep = line.startswith(("## CLI batch", "## Summary"))
        if keep:
            kept.append(line)
    out = kept
print("\n".join(out))
PY
# The summary lines close the document's code block.
{
    for s in "${summaries[@]}"; do echo "$s"; done
    for s in "${agent_summaries[@]}"; do echo "$s"; done
    for s in "${fleet_summaries[@]}"; do echo "$s"; done
    echo '```'
} >>"$output"

echo
echo "== summary of each run"
for s in "${summaries[@]}"; do echo "$s"; done
for s in "${agent_summaries[@]}"; do echo "$s"; done
for s in "${fleet_summaries[@]}"; do echo "$s"; done
echo
echo "== $output"
cat "$output"
