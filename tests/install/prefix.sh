#!/usr/bin/env bash
# prefix.sh — `cmake --install BUILD --prefix P` into a fresh P (the fixture
# install.consumers and install.units use), and what it must give: every
# file under P and nothing outside it (install_manifest.txt), each file
# docs/install.md promises in its place, no @VAR@ left in a filled-in
# template, and a p11jwt.pc that says prefix=P (not the configure-time
# prefix) and lists what `pkg-config --static` needs (issue 17, item 10).
#
# Environment (from CMake): P11JWT_BUILD_DIR, P11JWT_INSTALL_PREFIX,
# P11JWT_CMAKE (cmake), P11JWT_MAN (ON: man pages are built).
set -euo pipefail
TEST_NAME=prefix
fail() { printf 'FAIL [install.%s]: %s\n' "$TEST_NAME" "$*" >&2; exit 1; }

B=${P11JWT_BUILD_DIR:?} P=${P11JWT_INSTALL_PREFIX:?}
rm -rf "$P"
mkdir -p "$P"
"${P11JWT_CMAKE:-cmake}" --install "$B" --prefix "$P" >"$P.log" 2>&1 ||
    fail "cmake --install failed: $(tail -n 20 "$P.log")"

# Everything under P, and P holds exactly what the manifest says.
[[ -s $B/install_manifest.txt ]] || fail "no install_manifest.txt in $B"
outside=$(grep -v "^$P/" "$B/install_manifest.txt" || true)
[[ -z $outside ]] || fail "installed outside the prefix $P: $outside"
diff <(sort "$B/install_manifest.txt") <(find "$P" ! -type d | sort) >"$P.diff" ||
    fail "the prefix does not hold exactly the manifest: $(cat "$P.diff")"

# Each file in its place: PATTERN under P (find -path, so * also matches
# a /: a build configured for /usr has lib/x86_64-linux-gnu/ and zsh's
# vendor-completions/).
in_place() { # PATTERN: the one file matching it
    local hits
    hits=$(find "$P" -path "$P/$1" ! -type d)
    [[ -n $hits && $(wc -l <<<"$hits") -eq 1 ]] || fail "not one installed file matches $1: ${hits:-none}"
    echo "$hits"
}
want=(bin/p11jwt bin/p11jwt-token libexec/p11jwt/p11jwt-agent
    'lib/*libp11jwt.so.0' 'lib/*libp11jwt.a' include/p11jwt.h 'lib/*pkgconfig/p11jwt.pc'
    'lib/*cmake/p11jwt/p11jwtConfig.cmake' 'lib/*cmake/p11jwt/p11jwtConfigVersion.cmake'
    'lib/*cmake/p11jwt/p11jwtTargets.cmake'
    share/bash-completion/completions/p11jwt 'share/zsh/*/_p11jwt'
    lib/systemd/system/p11jwt-agent.service lib/systemd/system/p11jwt-agent.socket
    lib/systemd/system/p11jwt-rotate@.service lib/systemd/system/p11jwt-rotate@.timer
    lib/sysusers.d/p11jwt.conf share/doc/p11jwt/install.md)
if [[ ${P11JWT_MAN:-ON} == ON ]]; then
    want+=(share/man/man1/p11jwt.1 share/man/man5/p11jwt.conf.5 share/man/man3/libp11jwt.3)
fi
for f in "${want[@]}"; do
    in_place "$f" >/dev/null
done
for f in bin/p11jwt bin/p11jwt-token libexec/p11jwt/p11jwt-agent; do
    [[ -x $P/$f ]] || fail "$f is not executable"
done
# The programs run where they were installed, without ldconfig or
# LD_LIBRARY_PATH: they find the library installed with them.
for f in bin/p11jwt libexec/p11jwt/p11jwt-agent; do
    out=$(env -u LD_LIBRARY_PATH "$P/$f" --help 2>&1) ||
        fail "the installed $f does not run: $(head -n 3 <<<"$out")"
    so=$(env -u LD_LIBRARY_PATH ldd "$P/$f" | sed -n 's/^[[:space:]]*libp11jwt\.so\.0 => \([^ ]*\).*/\1/p')
    [[ $(readlink -f "$so") == $(readlink -f "$(find "$P" -name libp11jwt.so.0 | head -n1)") ]] ||
        fail "the installed $f uses ${so:-no} libp11jwt.so.0, not the one installed with it"
done
pc=$(in_place 'lib/*pkgconfig/p11jwt.pc')
so=$(in_place 'lib/*libp11jwt.so.0')
libdir=${so%/*}

# Templates filled in, for P.
left=$(grep -l '@[A-Za-z_]*@' "$pc" "$P"/lib/systemd/system/* || true)
[[ -z $left ]] || fail "a @VAR@ is left in: $left"
export PKG_CONFIG_PATH=${pc%/*}
got=$(pkg-config --variable=prefix p11jwt)
[[ $got == "$P" ]] || fail "p11jwt.pc says prefix=$got, not $P"
[[ $(pkg-config --variable=libdir p11jwt) == "$libdir" ]] || fail "p11jwt.pc's libdir is not $libdir"
libs=$(pkg-config --static --libs p11jwt)
for l in -lp11jwt -lp11-kit -ljansson -lcrypto -pthread -ldl; do
    [[ " $libs " == *" $l "* ]] || fail "pkg-config --static --libs p11jwt lacks $l: $libs"
done
grep -qx "ExecStart=$P/bin/p11jwt agent --config /etc/p11jwt/config" \
    "$P/lib/systemd/system/p11jwt-agent.service" || fail "the agent unit does not run $P/bin/p11jwt"
echo "installed to $P: $(wc -l <"$B/install_manifest.txt") files, all under the prefix"
