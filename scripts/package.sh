#!/usr/bin/env bash
# package.sh — builds the Debian packages (p11jwt, libp11jwt0,
# libp11jwt-dev and their -dbgsym) with `dpkg-buildpackage -b -us -uc`,
# puts them in a folder, and runs lintian on them: any error or warning
# fails.
#
#   scripts/package.sh [--out DIR] [--check]
#
#   --out DIR   where the packages go (default build-deb/ in the tree); the
#               p11jwt packages already there are removed first
#   --check     run the test suite inside the package build (default:
#               nocheck — CI runs the suite itself, scripts/test.sh)
#
# The build runs in a copy of the tree in a temp folder (what git tracks,
# plus files not yet added that .gitignore does not exclude): the tree's
# own build folders stay out of it, and dpkg-buildpackage's results, which
# it writes next to the source, do not land in the tree's parent folder.
# The build log is DIR/build.log, lintian's output DIR/lintian.log.
#
# lintian's one info tag, and why it stays (no override hides it; it is
# printed): see debian/README.source, "lintian".
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/build-deb
check=0
while [[ $# -gt 0 ]]; do
    case $1 in
        --out) [[ $# -ge 2 ]] || { echo "package.sh: --out needs a folder" >&2; exit 2; }
               out=$2; shift 2 ;;
        --check) check=1; shift ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "package.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
done
for tool in dpkg-buildpackage dpkg-parsechangelog dh lintian; do
    command -v "$tool" >/dev/null 2>&1 ||
        { echo "package.sh: $tool is missing (scripts/deps.sh installs it)" >&2; exit 1; }
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
jobs=$(nproc)

# Every path of the tree that goes into the package's source.
version=$(dpkg-parsechangelog -l "$root/debian/changelog" -S Version)
# Short (the suite's sockets live under the build folder, and a socket path
# has at most 107 bytes) and 0755 (tests run programs as nobody).
work=$(mktemp -d /tmp/p11jwt-deb.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
src=$work/p11jwt-$version
mkdir "$src"
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$root" && git ls-files -z --cached --others --exclude-standard |
        tar --null --ignore-failed-read -T - -cf -) | tar -xf - -C "$src"
else
    tar -C "$root" --exclude='./build*' --exclude=./tokens/dev -cf - . | tar -xf - -C "$src"
fi

if [[ $check = 1 ]]; then
    opts="parallel=$jobs"
    profiles=()
else
    opts="nocheck parallel=$jobs"
    profiles=(-Pnocheck)
fi
echo "== dpkg-buildpackage -b -us -uc ${profiles[*]} (DEB_BUILD_OPTIONS='$opts'), log: $out/build.log"
start=$(date +%s)
if ! (cd "$src" && DEB_BUILD_OPTIONS=$opts dpkg-buildpackage -b -us -uc "${profiles[@]}") \
        >"$out/build.log" 2>&1; then
    tail -n 40 "$out/build.log" >&2
    echo "package.sh: dpkg-buildpackage failed (the whole log: $out/build.log)" >&2
    exit 1
fi
build_s=$(($(date +%s) - start))
# dpkg-gensymbols reports a public function the symbols file lacks.
if grep -q 'dpkg-gensymbols: warning: some new symbols' "$out/build.log"; then
    echo "note: libp11jwt0 has symbols debian/libp11jwt0.symbols lacks (see $out/build.log):" >&2
    sed -n '/^+ /p' "$out/build.log" >&2
fi

rm -f "$out"/*p11jwt*_*.deb "$out"/p11jwt_*.changes "$out"/p11jwt_*.buildinfo
cp "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo "$out/"

echo "== packages ($build_s s to build), in $out"
for deb in "$out"/*.deb; do
    printf '  %-48s %7s KiB file, %7s KiB installed\n' "${deb##*/}" \
        "$(( ($(stat -c %s "$deb") + 1023) / 1024 ))" \
        "$(dpkg-deb -f "$deb" Installed-Size)"
done

# lintian on the packages (the .changes would add "UNRELEASED": a
# distribution no archive takes, which is the point of an unreleased build).
echo "== lintian"
start=$(date +%s)
rc=0
lintian --fail-on error,warning --display-info --tag-display-limit 0 "$out"/*.deb \
    >"$out/lintian.log" 2>&1 || rc=$?
cat "$out/lintian.log"
lint_s=$(($(date +%s) - start))
summary=$(sed -n 's/^\([EWIPX]\): .*/\1/p' "$out/lintian.log" | sort | uniq -c |
    awk '{ printf "%s%s %s", sep, $1, $2; sep = ", " }')
echo "lintian ($lint_s s): ${summary:-no tags}"
if [[ $rc -ne 0 ]]; then
    echo "package.sh: lintian reports errors or warnings (above)" >&2
    exit 1
fi
