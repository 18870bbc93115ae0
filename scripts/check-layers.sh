#!/usr/bin/env bash
# check-layers.sh — every #include "..." under src/ points down.
#
#   scripts/check-layers.sh [ROOT]     (ROOT: the source tree, default: this one)
#
# The floor table is read from ROOT/docs/architecture.md, between the lines
# "<!-- layers:begin -->" and "<!-- layers:end -->": the document is the
# source, so the check and the drawing cannot disagree. Each row names a
# folder of src/, its floor, its interface header (the one header other
# folders may include; "-" when it has none) and the folders it may
# include ("p11jwt" is the public header include/p11jwt.h).
#
# A file may include: its own folder's headers (an include without a
# folder is its own folder's; one that starts with ../ is judged by the
# folder it reaches), and the interface header of a folder its row lists.
# Anything else fails with file:line, the include and why: a folder of a
# higher or the same floor, or another folder's private header.
# The check also fails when two files under src/ share a name.
#
# Exit 0 clean, 1 a violation, 2 the table cannot be read.
set -euo pipefail

root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
doc=$root/docs/architecture.md
src=$root/src

[[ -r $doc ]] || { echo "check-layers: cannot read $doc" >&2; exit 2; }
[[ -d $src ]] || { echo "check-layers: no $src" >&2; exit 2; }

# "folder|floor|interface|may include" per row, from the markdown table.
table=$(awk '
    /<!-- layers:begin -->/ { on = 1; next }
    /<!-- layers:end -->/ { on = 0 }
    on && /^\|/ {
        n = split($0, f, "|")
        for (i = 2; i < n; i++) { gsub(/^[ \t`]+|[ \t`]+$/, "", f[i]); gsub(/`/, "", f[i]) }
        if (f[2] ~ /^[0-9]+$/) {
            gsub(/src\//, "", f[3]); gsub(/\/$/, "", f[3])
            gsub(/[ \t]/, "", f[5])
            print f[3] "|" f[2] "|" f[4] "|" f[5]
        }
    }' "$doc")
if [[ -z $table ]]; then
    echo "check-layers: no floor table between '<!-- layers:begin -->' and '<!-- layers:end -->' in $doc" >&2
    exit 2
fi

declare -A floor iface may
while IFS='|' read -r folder fl ifc allowed; do
    floor[$folder]=$fl
    iface[$folder]=$ifc
    may[$folder]=",${allowed//—/},"
done <<<"$table"

fail=0
violation() { # file line include why
    printf '%s:%s: #include "%s": %s\n' "$1" "$2" "$3" "$4"
    fail=1
}

mapfile -d '' files < <(find "$src" -type f \( -name '*.c' -o -name '*.h' \) -print0 | sort -z)

for file in "${files[@]}"; do
    rel=${file#"$src"/}
    own=${rel%%/*}
    if [[ -z ${floor[$own]+x} ]]; then
        printf 'src/%s: folder src/%s/ is not in the floor table of docs/architecture.md\n' \
            "$rel" "$own"
        fail=1
    fi
done

include_re='^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]*)"'
while IFS=: read -r file line text; do
    [[ $text =~ $include_re ]] || continue
    shown=${BASH_REMATCH[1]}
    rel=${file#"$src"/}
    own=${rel%%/*}
    [[ -n ${floor[$own]+x} ]] || continue
    # A path from the file's own folder (src/FOLDER/): "./x.h" is its
    # folder's, "../exchange/exchange.h" is exchange's, judged as such.
    inc=$shown
    while [[ $inc == ./* ]]; do inc=${inc#./}; done
    [[ $inc == ../* ]] && inc=${inc#../}
    if [[ $inc != */* ]]; then
        [[ $inc == p11jwt.h ]] && target=p11jwt || target=$own
    else
        target=${inc%%/*}
    fi
    [[ $target == "$own" ]] && continue
    if [[ $target == p11jwt ]]; then
        [[ ${may[$own]} == *,p11jwt,* ]] ||
            violation "src/$rel" "$line" "$shown" "$own may not include the public header (its table row does not list p11jwt)"
        continue
    fi
    if [[ -z ${floor[$target]+x} ]]; then
        violation "src/$rel" "$line" "$shown" "$target/ is not a folder of the floor table"
        continue
    fi
    if [[ ${may[$own]} != *,$target,* ]]; then
        if ((floor[$target] > floor[$own])); then
            why="a higher floor: $target is floor ${floor[$target]}, $own is floor ${floor[$own]}"
        elif ((floor[$target] == floor[$own])); then
            why="a sibling on the same floor (${floor[$own]}): $own may not include $target"
        else
            why="$own (floor ${floor[$own]}) may not include $target (floor ${floor[$target]}): not listed in its row"
        fi
        violation "src/$rel" "$line" "$shown" "$why"
    elif [[ $inc != "${iface[$target]}" ]]; then
        violation "src/$rel" "$line" "$shown" "a private header of $target: only ${iface[$target]} may be included from outside $target/"
    fi
done < <(grep -nH -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "${files[@]}")

# One name, one file: a reader finds a thing by its name.
while read -r count name; do
    printf 'src/: %d files are named %s:' "$count" "$name"
    find "$src" -type f -name "$name" -printf ' src/%P'
    printf '\n'
    fail=1
done < <(find "$src" -type f \( -name '*.c' -o -name '*.h' \) -printf '%f\n' | sort | uniq -c |
         awk '$1 > 1')

if ((fail)); then
    echo "check-layers: FAILED (the floors are drawn in docs/architecture.md)" >&2
    exit 1
fi
echo "check-layers: every include under src/ points down ($(wc -l <<<"$table") folders)"
