#!/usr/bin/env bash
# mkcerts.sh — certificates for the exchange tests, made fresh per run with
# the openssl CLI. Nothing here is ever committed.
#
#   mkcerts.sh OUTDIR
#       OUTDIR/ca.pem, ca.key           a test CA
#       OUTDIR/server.pem, server.key   a server certificate for 127.0.0.1 and
#                                       localhost (SAN IP and DNS), by the CA
#       OUTDIR/other-ca.pem, other-ca.key   an unrelated CA (wrong-CA tests)
#
#   mkcerts.sh --client OUTDIR KEY_URI PIN_FILE OUT_CERT [CN]
#       a CLIENT certificate, signed by OUTDIR's CA, for a private key that
#       lives in a PKCS#11 token (KEY_URI, e.g.
#       'pkcs11:token=LABEL;object=KID;type=private'). The CSR is made by
#       libp11's engine (libengine-pkcs11-openssl), which finds SoftHSM
#       through p11-kit's proxy and SOFTHSM2_CONF; the PIN is read from
#       PIN_FILE (openssl -passin file:, which the engine takes as the PIN).
set -euo pipefail

die() { printf 'mkcerts: %s\n' "$*" >&2; exit 1; }
command -v openssl >/dev/null || die "openssl is not installed"

ossl() {
    local log
    log=$(mktemp)
    if ! openssl "$@" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        die "openssl $1 failed"
    fi
    rm -f "$log"
}

make_ca() {    # make_ca DIR NAME CN
    local d=$1 n=$2 cn=$3
    ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/$n.key"
    chmod 600 "$d/$n.key"
    ossl req -x509 -new -key "$d/$n.key" -sha256 -days 2 -subj "/CN=$cn" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" \
        -out "$d/$n.pem"
}

sign_csr() {   # sign_csr DIR CSR OUT EXTFILE
    local d=$1
    ossl x509 -req -in "$2" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -CAserial "$d/ca.srl" -days 2 -sha256 -extfile "$4" -out "$3"
}

if [[ ${1:-} == --client ]]; then
    [[ $# -ge 5 ]] || die "usage: mkcerts.sh --client OUTDIR KEY_URI PIN_FILE OUT_CERT [CN]"
    d=$2 uri=$3 pinfile=$4 out=$5 cn=${6:-p11jwt-test}
    [[ -r $d/ca.pem && -r $d/ca.key ]] || die "no CA in $d (run mkcerts.sh $d first)"
    [[ -r $pinfile ]] || die "PIN file $pinfile is unreadable"
    csr=$out.csr
    ossl req -new -engine pkcs11 -keyform engine -key "$uri" \
        -passin "file:$pinfile" -subj "/CN=$cn" -sha256 -out "$csr"
    cat >"$out.ext" <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
EOF
    sign_csr "$d" "$csr" "$out" "$out.ext"
    rm -f "$csr" "$out.ext"
    exit 0
fi

[[ $# -eq 1 ]] || die "usage: mkcerts.sh OUTDIR | mkcerts.sh --client OUTDIR KEY_URI PIN_FILE OUT_CERT [CN]"
d=$1
mkdir -p "$d"
make_ca "$d" ca "p11jwt test CA $$"
make_ca "$d" other-ca "p11jwt unrelated CA $$"

ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/server.key"
chmod 600 "$d/server.key"
ossl req -new -key "$d/server.key" -subj "/CN=127.0.0.1" -out "$d/server.csr"
cat >"$d/server.ext" <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
EOF
sign_csr "$d" "$d/server.csr" "$d/server.pem" "$d/server.ext"
rm -f "$d/server.csr" "$d/server.ext"
