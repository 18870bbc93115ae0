#!/usr/bin/env bash
# completion_bash.sh — drives the bash completion (dist/completion/
# p11jwt.bash) the way bash does: COMP_WORDS, COMP_CWORD, COMP_LINE and
# COMP_POINT for a command line with the cursor at "^", then the
# completion function, and asserts the exact set of candidates.
#
# Expected sets come from elsewhere than the completion's own parsing: the
# commands as scripts/gen-cli-doc.sh reads them, options with grep on each
# --help, algs from the library's table (src/base/alg.c), dialects from the
# dialect table (src/exchange/dialect.c), profiles from files written here. So a
# new command, option, alg or dialect needs no change here, and a
# completion that lost one fails.
#
# The binary is reached through a wrapper on PATH that counts its runs: the
# completion must ask each --help once per shell, not once per Tab.
set -euo pipefail

BC=/usr/share/bash-completion/bash_completion
P11JWT_SRC=${P11JWT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
P11JWT_BIN=${P11JWT_BIN:-$P11JWT_SRC/build/p11jwt}
# The completion under test: the source's, or an installed one
# (scripts/package-test.sh: the package's, with the package's p11jwt).
P11JWT_COMPLETION=${P11JWT_COMPLETION:-$P11JWT_SRC/dist/completion/p11jwt.bash}
[[ -r $BC ]] || { echo "SKIP [completion_bash]: bash-completion is not installed" >&2; exit 77; }
[[ -x $P11JWT_BIN ]] || { echo "FAIL [completion_bash]: no p11jwt at $P11JWT_BIN" >&2; exit 1; }
[[ -r $P11JWT_COMPLETION ]] || { echo "FAIL [completion_bash]: no completion at $P11JWT_COMPLETION" >&2; exit 1; }

mkdir -p "${P11JWT_TEST_TMP:-/tmp}"
T=$(mktemp -d "${P11JWT_TEST_TMP:-/tmp}/p11jwt-completion_bash.XXXXXX")
trap 'rc=$?; [[ $rc -eq 0 ]] && rm -rf "$T" || echo "files kept in $T" >&2; exit $rc' EXIT

failures=0
fail() { printf 'FAIL [completion_bash]: %s\n' "$*" >&2; failures=$((failures + 1)); }

# ---- the world the completion sees --------------------------------------

mkdir -p "$T/bin" "$T/work/sub" "$T/home/.config/p11jwt" "$T/other"
cat >"$T/bin/p11jwt" <<EOF
#!/bin/sh
echo "\$*" >>"$T/runs"
exec "$P11JWT_BIN" "\$@"
EOF
chmod +x "$T/bin/p11jwt"
: >"$T/runs"
export PATH=$T/bin:$PATH
export HOME=$T/home
unset P11JWT_CONFIG
cd "$T/work"
touch a.pin b.pin claims.json
export P11JWT_TEST_PIN_A=x P11JWT_TEST_PIN_B=y

# Two profiles in the env's file, and what the parser does and does not
# take as a header (comments, values, other spacing).
cat >"$T/env.conf" <<'EOF'
# [profile commented]
[profile alpha]
dialect = dt
iss = [profile not-a-header]
  [ profile   beta ]  
; [profile also-commented]
EOF
printf '[profile gamma]\n[profile ops team]\n' >"$T/other/p.conf"
printf '[profile home-one]\n' >"$HOME/.config/p11jwt/config"

# ---- bash's view of a command line ----------------------------------------

# shellcheck disable=SC1090
source "$BC"
# shellcheck disable=SC1091
source "$P11JWT_COMPLETION"

# split_line "LINE with ^ at the cursor": sets COMP_LINE, COMP_POINT,
# COMP_WORDS and COMP_CWORD as bash 5.2 does with the default
# COMP_WORDBREAKS (checked against an interactive bash): words split at
# blanks (a backslash-escaped blank stays in its word), each run of "=" or
# ":" a word of its own; the cursor in or at the end of a word makes it the
# current word; in the blanks before a word, that word (bash adds no empty
# one there); after the last word and a blank, a new empty word.
split_line() {
    local head=${1%%^*}
    local line=$head${1#*^}
    local point=${#head}
    COMP_LINE=$line
    COMP_POINT=$point
    COMP_WORDS=()
    COMP_CWORD=-1
    local i=0 c word="" start=-1 kind=""
    flush() {
        if [[ -n $word ]]; then
            COMP_WORDS+=("$word")
            if ((COMP_CWORD < 0 && point <= i)); then
                COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
            fi
        fi
        word="" start=-1 kind=""
    }
    while ((i < ${#line})); do
        c=${line:i:1}
        if [[ $c == '\' ]]; then
            [[ $kind == brk ]] && flush
            ((start < 0)) && start=$i
            word+=${line:i:2} kind=w
            i=$((i + 2))
            continue
        fi
        if [[ $c == ' ' ]]; then
            flush
        elif [[ $c == = || $c == : ]]; then
            [[ $kind == w ]] && flush
            ((start < 0)) && start=$i
            word+=$c kind=brk
        else
            [[ $kind == brk ]] && flush
            ((start < 0)) && start=$i
            word+=$c kind=w
        fi
        i=$((i + 1))
    done
    flush
    if ((COMP_CWORD < 0)); then
        COMP_WORDS+=("")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    fi
}

# expect "LINE^" CANDIDATE...: the completion offers exactly these.
expect() {
    local line=$1
    shift
    split_line "$line"
    COMPREPLY=()
    set +eu # bash-completion's helpers are not written for errexit or nounset
    _p11jwt p11jwt "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]-}"
    set -eu
    local got want
    got=$(printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | LC_ALL=C sort -u)
    want=$(printf '%s\n' "$@" | sed '/^$/d' | LC_ALL=C sort -u)
    if [[ $got != "$want" ]]; then
        fail "'$line': got [$(echo $got)], want [$(echo $want)]" \
            "(words: $(printf '<%s>' "${COMP_WORDS[@]}") cword $COMP_CWORD)"
    else
        printf 'ok   %-48s %s\n' "'$line'" "$(echo $got)"
    fi
}

# ---- what the answers must be, read independently -------------------------

mapfile -t commands < <("$P11JWT_BIN" --help |
    sed -n '/^Commands:/,/^$/s/^  \([a-z-]*\) .*/\1/p')
((${#commands[@]} >= 11)) || fail "only ${#commands[@]} commands in p11jwt --help"
long_opts() { "$P11JWT_BIN" "$1" --help | grep -oE '^  (-[A-Za-z], )?--[a-z0-9-]+' |
    grep -oE -- '--[a-z0-9-]+' | sort -u; }
all_opts() { "$P11JWT_BIN" "$1" --help | grep -oE '^  (-[A-Za-z], )?--[a-z0-9-]+' |
    grep -oE -- '-{1,2}[A-Za-z][a-z0-9-]*' | sort -u; }
# alg.c holds two entries per line: take every name.
mapfile -t algs < <(grep -oE '\{ P11JWT_[A-Z0-9]+, "[A-Za-z0-9]+"' "$P11JWT_SRC/src/base/alg.c" |
    grep -oE '"[A-Za-z0-9]+"' | tr -d '"')
((${#algs[@]} >= 6)) || fail "read only ${#algs[@]} algs from src/base/alg.c"
mapfile -t hs_algs < <(printf '%s\n' "${algs[@]}" | grep '^HS')
mapfile -t dialects < <(grep -oE '\{ EXCH_[A-Z0-9_]+, "[a-z0-9-]+",' \
    "$P11JWT_SRC/src/exchange/dialect.c" | grep -oE '"[a-z0-9-]+"' | tr -d '"')
((${#dialects[@]} >= 7)) || fail "read only ${#dialects[@]} dialects from dialect.c"

# ---- the cases -------------------------------------------------------------

echo "-- commands"
expect 'p11jwt ^' "${commands[@]}"
expect 'p11jwt s^' sign
expect 'p11jwt ro^' rotate
expect 'p11jwt --^' --help --version
expect 'p11jwt frob --^'

echo "-- options"
mapfile -t sign_long < <(long_opts sign)
for o in --kid --iss --aud --alg --batch --threads --no-progress --claims-file --token --pin-file; do
    [[ " ${sign_long[*]} " == *" $o "* ]] || fail "sign --help has no $o (parse broken?)"
done
expect 'p11jwt sign --^' "${sign_long[@]}"
expect 'p11jwt sign ^' $(all_opts sign)
expect 'p11jwt sign --c^' --cert --claim --claims-file
expect 'p11jwt sign --iss me --ba^' --batch
expect 'p11jwt call -^' $(all_opts call)
expect 'p11jwt rotate ^' status stage promote retire auto forget
expect 'p11jwt rotate st^' status stage
expect 'p11jwt rotate stage --^' $(long_opts rotate)
for c in "${commands[@]}"; do
    expect "p11jwt $c --^" $(long_opts "$c")
done

echo "-- values"
# keygen makes an AES key too (a fleet's cache_key), which nothing signs with.
expect 'p11jwt keygen --alg ^' "${algs[@]}" A256GCM
expect 'p11jwt keygen --alg A2^' A256GCM
expect 'p11jwt sign --alg E^' $(printf '%s\n' "${algs[@]}" | grep '^E')
expect 'p11jwt sign --alg=^' "${algs[@]}"
expect 'p11jwt verify --alg=H^' "${hs_algs[@]}"
expect 'p11jwt import-secret --alg ^' "${hs_algs[@]}"
expect 'p11jwt sign --kid ^'
expect 'p11jwt sign --iss ^'
expect 'p11jwt call -X P^' POST PUT PATCH
expect 'p11jwt sign --pin-env P11JWT_TEST_PIN^' P11JWT_TEST_PIN_A P11JWT_TEST_PIN_B
got=$(_p11jwt_dialects "$(type -P p11jwt)" | sort | tr '\n' ' ')
want=$(printf '%s\n' "${dialects[@]}" | sort | tr '\n' ' ')
[[ $got == "$want" ]] || fail "dialects: got [$got], want [$want]"

echo "-- profiles"
export P11JWT_CONFIG=$T/env.conf
expect 'p11jwt token --profile ^' alpha beta
expect 'p11jwt token --profile a^' alpha
expect 'p11jwt rotate status --profile ^' alpha beta
expect 'p11jwt token --config ../other/p.conf --profile ^' gamma 'ops\ team'
expect 'p11jwt token --profile ^ --config ../other/p.conf' gamma 'ops\ team'
expect 'p11jwt token --config=../other/p.conf --profile ^' gamma 'ops\ team'
expect 'p11jwt token --config ../nothing-here --profile ^'
unset P11JWT_CONFIG
expect 'p11jwt assertion --profile ^' home-one

echo "-- files"
expect 'p11jwt sign --pin-file ^' a.pin b.pin claims.json sub
expect 'p11jwt sign --pin-file a^' a.pin
expect 'p11jwt sign --pin-file=b^' b.pin
expect 'p11jwt sign --claims-file c^' claims.json
expect 'p11jwt token --config ^' a.pin b.pin claims.json sub
expect 'p11jwt verify --jwks s^' sub
expect 'p11jwt call -d @c^' @claims.json
expect 'p11jwt call -d x^'
expect 'p11jwt sign --audit ^' file: syslog
expect 'p11jwt sign --audit s^' syslog
expect 'p11jwt sign --audit file:c^' file:claims.json

echo "-- the binary by its path"
COMPREPLY=()
split_line "$P11JWT_BIN sig^"
set +eu
_p11jwt "$P11JWT_BIN" sig "$P11JWT_BIN"
set -eu
[[ ${COMPREPLY[*]} == sign ]] || fail "'$P11JWT_BIN sig': got [${COMPREPLY[*]}], want [sign]"

echo "-- each --help read once per shell"
mapfile -t runs <"$T/runs"
dups=$(printf '%s\n' "${runs[@]}" | sort | uniq -d)
[[ -z $dups ]] || fail "the binary ran more than once for: $dups"
echo "${#runs[@]} runs of p11jwt for all the cases above"

# Speed: a Tab on a warm cache must not cost a run of the binary.
start=$EPOCHREALTIME
set +eu
for _ in 1 2 3 4 5 6 7 8 9 10; do
    split_line 'p11jwt sign --c^'
    _p11jwt p11jwt --c sign
done
set -eu
ms=$(((${EPOCHREALTIME/[.,]/} - ${start/[.,]/}) / 10000))
echo "cached completion: ${ms} ms per Tab"

if ((failures > 0)); then
    echo "FAIL [completion_bash]: $failures case(s) failed (above)" >&2
    exit 1
fi
echo "bash completion: all cases pass"
