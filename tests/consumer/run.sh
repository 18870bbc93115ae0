#!/usr/bin/env bash
# run.sh — builds consumer.c against an INSTALLED p11jwt the ways an
# application does (docs/install.md, "Building a program against the
# library") and runs each build against a fresh SoftHSM token; PyJWT checks
# the assertions it signs. Each build must use the installed copy it was
# pointed at: pkg-config's and CMake's answers are checked against the
# prefix, the dynamic linker's choice with ldd, and a static build must
# need no libp11jwt.so but the shared libraries libp11jwt.a depends on.
#
# Modes (P11JWT_CONSUMER_MODES, default all four):
#   pkg-config-shared   cc ... $(pkg-config --cflags --libs p11jwt)
#   pkg-config-static   ... $(pkg-config --static --libs p11jwt) with -l:libp11jwt.a
#   cmake-shared        find_package(p11jwt) + p11jwt::p11jwt
#   cmake-static        find_package(p11jwt) + p11jwt::p11jwt_static
#
# Environment:
#   P11JWT_CONSUMER_PREFIX  the prefix p11jwt was installed to (cmake
#                           --install --prefix); empty: the system's, i.e.
#                           the Debian packages in /usr
#   P11JWT_CONSUMER_CFLAGS  extra compile and link flags (a sanitizer build's)
#   CC                      the compiler (default cc)
#   P11JWT_BIN              the CLI that makes the key and the JWKS (lib.sh)
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"

HERE=$P11JWT_SRC/tests/consumer
CC=${CC:-cc}
PREFIX=${P11JWT_CONSUMER_PREFIX:-}
MODES=${P11JWT_CONSUMER_MODES:-pkg-config-shared pkg-config-static cmake-shared cmake-static}
read -r -a XFLAGS <<<"${P11JWT_CONSUMER_CFLAGS:-}"
command -v "$CC" >/dev/null 2>&1 || skip "no C compiler ($CC)"
command -v pkg-config >/dev/null 2>&1 || fail "pkg-config is not installed"

# ---- where the installed copy is ------------------------------------------

# Nothing from the caller may point the tools elsewhere.
unset PKG_CONFIG_PATH PKG_CONFIG_LIBDIR CMAKE_PREFIX_PATH LD_LIBRARY_PATH
if [[ -n $PREFIX ]]; then
    pc=$(find "$PREFIX" -name p11jwt.pc -path '*/pkgconfig/*' | head -n1)
    [[ -n $pc ]] || fail "no p11jwt.pc under $PREFIX"
    export PKG_CONFIG_PATH=${pc%/*}
    want_prefix=$PREFIX
else
    want_prefix=/usr
fi
step "pkg-config p11jwt: $(pkg-config --variable=pcfiledir p11jwt 2>&1)"
got=$(pkg-config --variable=prefix p11jwt) || fail "pkg-config does not find p11jwt"
[[ $got == "$want_prefix" ]] ||
    fail "p11jwt.pc says prefix=$got, but it was installed to $want_prefix"
LIBDIR=$(pkg-config --variable=libdir p11jwt)
[[ -e $LIBDIR/libp11jwt.so.0 && -e $LIBDIR/libp11jwt.a ]] ||
    fail "p11jwt.pc's libdir $LIBDIR lacks libp11jwt.so.0 or libp11jwt.a"
static_libs=$(pkg-config --static --libs p11jwt)
for l in -lp11jwt -lp11-kit -ljansson -lcrypto -pthread -ldl; do
    [[ " $static_libs " == *" $l "* ]] ||
        fail "pkg-config --static --libs p11jwt lacks $l: $static_libs"
done

# ---- the key, the profile, the verifier's JWKS -----------------------------

kid=$(p11jwt keygen "${TOK[@]}" --alg ES256) || fail "keygen failed"
export_jwks "$T/jwks.json" "$kid"
TOKEN_URL=https://sts.example/oauth2/token
cat >"$T/config" <<EOF
[profile consumer]
dialect = rfc7523
token = $TOKEN
pin_file = $PIN_FILE
kid = $kid
iss = consumer-profile
token_url = $TOKEN_URL
EOF

# ---- build, look, run -------------------------------------------------------

build_pkg_config() { # mode dir
    local -a libs
    if [[ $1 == pkg-config-shared ]]; then
        read -r -a libs <<<"$(pkg-config --libs p11jwt)"
    else
        # docs/install.md's line: the archive, the rest shared.
        read -r -a libs <<<"$(pkg-config --static --libs p11jwt | sed 's/-lp11jwt /-l:libp11jwt.a /')"
    fi
    # shellcheck disable=SC2046  # pkg-config's flags are words
    "$CC" -std=c11 -Wall -Wextra -Werror "${XFLAGS[@]}" $(pkg-config --cflags p11jwt) \
        -o "$2/consumer" "$HERE/consumer.c" "${libs[@]}" \
        ${PREFIX:+-Wl,-rpath,"$LIBDIR"} >"$2/build.log" 2>&1
}

build_cmake() { # mode dir
    local static=OFF want
    [[ $1 == cmake-static ]] && static=ON
    cmake -S "$HERE" -B "$2" -DCONSUMER_STATIC=$static \
        -DCMAKE_C_COMPILER="$CC" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        "-DCMAKE_C_FLAGS=-Wall -Wextra -Werror ${XFLAGS[*]}" \
        "-DCMAKE_EXE_LINKER_FLAGS=${XFLAGS[*]}" \
        -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
        ${PREFIX:+-DCMAKE_PREFIX_PATH="$PREFIX"} >"$2/build.log" 2>&1 || return 1
    want=$(readlink -f "$LIBDIR/cmake/p11jwt")
    got=$(sed -n 's/^-- p11jwt_DIR=//p' "$2/build.log")
    [[ $(readlink -f "$got") == "$want" ]] ||
        fail "$1: find_package(p11jwt) found $got, not the installed $want"
    cmake --build "$2" >>"$2/build.log" 2>&1
}

for mode in $MODES; do
    step "$mode: build"
    dir=$T/$mode
    mkdir -p "$dir"
    case $mode in
        pkg-config-*) build_pkg_config "$mode" "$dir" ;;
        cmake-*) build_cmake "$mode" "$dir" ;;
        *) fail "unknown mode '$mode'" ;;
    esac || fail "$mode: the consumer does not build: $(tail -n 30 "$dir/build.log")"

    step "$mode: linked to"
    needed=$(readelf -d "$dir/consumer" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
    echo "   NEEDED: $needed"
    if [[ $mode == *-shared ]]; then
        [[ " $needed " == *" libp11jwt.so.0 "* ]] || fail "$mode: does not need libp11jwt.so.0"
        so=$(ldd "$dir/consumer" | sed -n 's/^[[:space:]]*libp11jwt\.so\.0 => \([^ ]*\).*/\1/p')
        [[ -n $so && $(readlink -f "$so") == $(readlink -f "$LIBDIR/libp11jwt.so.0") ]] ||
            fail "$mode: the dynamic linker picks '${so:-nothing}', not $LIBDIR/libp11jwt.so.0"
    else
        [[ " $needed " != *" libp11jwt.so"* ]] || fail "$mode: linked to the shared libp11jwt"
        for l in libp11-kit.so.0 libjansson.so.4 libcrypto.so.3; do
            [[ " $needed " == *" $l "* ]] || fail "$mode: does not need $l (libp11jwt.a does)"
        done
    fi
    # libcurl is loaded when HTTP is first needed, never linked: a program
    # that only signs does not pay for it (the client below loads it).
    [[ " $needed " != *" libcurl"* ]] || fail "$mode: linked to libcurl: $needed"

    step "$mode: sign and verify"
    run_cmd "$dir/consumer" "$TOKEN" "$PIN_FILE" "$kid" "$T/config" consumer
    [[ $RC -eq 0 && -z $ERR ]] || fail "$mode: consumer exited $RC: $ERR"
    mapfile -t jws <<<"$OUT"
    [[ ${#jws[@]} -eq 2 ]] || fail "$mode: expected 2 JWS lines, got: $OUT"
    pyverify --jwks "$T/jwks.json" --aud "$TOKEN_URL" --iss consumer <<<"${jws[0]}" >/dev/null ||
        fail "$mode: PyJWT refuses the token API's assertion"
    pyverify --jwks "$T/jwks.json" --aud "$TOKEN_URL" --iss consumer-profile <<<"${jws[1]}" >/dev/null ||
        fail "$mode: PyJWT refuses the client's assertion"
done
echo "consumers built and verified: $MODES"
