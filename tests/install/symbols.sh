#!/usr/bin/env bash
# symbols.sh — debian/libp11jwt0.symbols lists exactly what libp11jwt.so
# exports: a public function missing there is one dpkg-gensymbols only
# warns about, and a package that depends on it would get too old a
# version of libp11jwt0.
set -euo pipefail
lib=${P11JWT_BUILD_DIR:?}/libp11jwt.so
file=$(cd "$(dirname "$0")/../.." && pwd)/debian/libp11jwt0.symbols
command -v nm >/dev/null 2>&1 || { echo "nm (binutils) is not installed"; exit 77; }
[[ -r $lib ]] || { echo "FAIL: no $lib"; exit 1; }
exported=$(nm -D --defined-only "$lib" | awk '$2 == "T" { print $3 }' | sort -u)
listed=$(grep -oE '^ [A-Za-z0-9_]+@Base' "$file" | sed 's/^ //; s/@Base$//' | sort -u)
missing=$(comm -23 <(echo "$exported") <(echo "$listed"))
stale=$(comm -13 <(echo "$exported") <(echo "$listed"))
[[ -z $missing ]] || echo "FAIL: exported but not in debian/libp11jwt0.symbols:" $missing
[[ -z $stale ]] || echo "FAIL: in debian/libp11jwt0.symbols but not exported:" $stale
[[ -z $missing && -z $stale ]] || exit 1
echo "symbols: $(echo "$exported" | wc -l) exported functions, all listed"
