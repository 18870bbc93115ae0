#!/bin/sh
# deps.sh — install every Debian package the build, the tests and the
# quickstart need, tests/tokens' NSS softokn and tpm2-pkcs11-on-swtpm
# included (the agent's tests use systemd-socket-activate and
# systemd-analyze from systemd, setpriv and flock from util-linux; clang
# and its runtime libraries for libFuzzer run scripts/fuzz.sh), and what
# builds and checks the Debian packages (debhelper, devscripts, lintian;
# man-db for `man -w` on the installed pages).
# Idempotent: when everything is present it only asks dpkg and returns
# (well under a second); otherwise it runs apt-get once.
set -eu

PACKAGES="
    build-essential cmake pkg-config
    libssl-dev libp11-kit-dev p11-kit libp11-dev libengine-pkcs11-openssl
    libcurl4-openssl-dev libjansson-dev libcmocka-dev
    libmicrohttpd-dev libsystemd-dev
    libhiredis-dev redis-server redis-tools
    softhsm2 opensc openssl curl
    python3 python3-jwt python3-cryptography
    scdoc mandoc bash-completion
    libnss3 libnss3-tools
    libtpm2-pkcs11-1 libtpm2-pkcs11-tools swtpm swtpm-tools
    tpm2-abrmd libtss2-tcti-tabrmd0 tpm2-tools dbus-daemon
    systemd util-linux
    clang libclang-rt-14-dev
    debhelper devscripts lintian man-db
"

missing=""
for p in $PACKAGES; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = "installed" ] || missing="$missing $p"
done

[ -z "$missing" ] && exit 0

echo "deps: installing:$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: need root to install packages (try: sudo $0)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086  # word splitting of the list is intended
apt-get install -y -qq --no-install-recommends $missing >/dev/null
