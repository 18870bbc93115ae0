/*
 * cross_libp11.c — a second, independent PKCS#11 client for the cross test:
 * libp11 (OpenSC's wrapper that hands token keys to OpenSSL as EVP_PKEYs),
 * no p11jwt code at all.
 *
 *   cross_libp11 sign   --module M --token LABEL --pin-file F --kid KID
 *                       --alg ES256|ES384|ES512 --iss ISS --aud AUD [--ttl N]
 *       finds the private key whose CKA_ID (else CKA_LABEL) is KID, signs
 *       through OpenSSL (EVP_DigestSign with SHA-256/384/512 on libp11's
 *       EVP_PKEY, so the token does the ECDSA), turns the DER signature into
 *       the JWS form r||s and prints a compact JWS, header {alg, kid, typ}.
 *
 *   cross_libp11 pubkey --module M --token LABEL --kid KID
 *       prints, as PEM, the public key libp11 returns for KID (public
 *       objects: no login), so a JWS p11jwt made can be checked with it.
 *
 * Exit 0 on success, 1 with a message on stderr otherwise, 2 usage.
 * The strings put into the JWS (kid, iss, aud) must be plain printable
 * ASCII without '"' or '\': this is a test tool, not a JSON encoder.
 */
#include <getopt.h>
#include <libp11.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;

    fputs("cross_libp11: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    ERR_print_errors_fp(stderr);
    exit(1);
}

/* ---- base64url (RFC 4648 §5, no padding) ------------------------------- */

static char *b64url(const unsigned char *in, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = malloc(n / 3 * 4 + 5), *o = out;
    size_t i;

    if (out == NULL)
        die("out of memory");
    for (i = 0; i + 2 < n; i += 3) {
        unsigned long v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8 | in[i + 2];
        *o++ = abc[v >> 18 & 63];
        *o++ = abc[v >> 12 & 63];
        *o++ = abc[v >> 6 & 63];
        *o++ = abc[v & 63];
    }
    if (n - i == 1) {
        unsigned long v = (unsigned long)in[i] << 16;
        *o++ = abc[v >> 18 & 63];
        *o++ = abc[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned long v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8;
        *o++ = abc[v >> 18 & 63];
        *o++ = abc[v >> 12 & 63];
        *o++ = abc[v >> 6 & 63];
    }
    *o = '\0';
    return out;
}

static char *b64url_str(const char *s)
{
    return b64url((const unsigned char *)s, strlen(s));
}

/* ---- token access through libp11 ------------------------------------- */

struct session {
    PKCS11_CTX *ctx;
    PKCS11_SLOT *slots;
    unsigned int nslots;
    PKCS11_SLOT *slot;
};

static void open_token(struct session *s, const char *module, const char *label)
{
    memset(s, 0, sizeof *s);
    s->ctx = PKCS11_CTX_new();
    if (s->ctx == NULL)
        die("PKCS11_CTX_new failed");
    if (PKCS11_CTX_load(s->ctx, module) != 0)
        die("PKCS11_CTX_load(%s) failed", module);
    if (PKCS11_enumerate_slots(s->ctx, &s->slots, &s->nslots) != 0)
        die("PKCS11_enumerate_slots failed");
    for (unsigned int i = 0; i < s->nslots; i++) {
        PKCS11_TOKEN *t = s->slots[i].token;

        if (t != NULL && t->initialized && t->label != NULL && strcmp(t->label, label) == 0) {
            if (s->slot != NULL)
                die("more than one token is labelled '%s'", label);
            s->slot = &s->slots[i];
        }
    }
    if (s->slot == NULL)
        die("no token labelled '%s' in %s", label, module);
}

static void close_token(struct session *s)
{
    PKCS11_release_all_slots(s->ctx, s->slots, s->nslots);
    PKCS11_CTX_unload(s->ctx);
    PKCS11_CTX_free(s->ctx);
}

static void login(struct session *s, const char *pin_file)
{
    char pin[256];
    size_t n;
    FILE *f = fopen(pin_file, "r");

    if (f == NULL)
        die("cannot open PIN file %s", pin_file);
    n = fread(pin, 1, sizeof pin - 1, f);
    fclose(f);
    if (n > 0 && pin[n - 1] == '\n')
        n--;
    pin[n] = '\0';
    if (PKCS11_open_session(s->slot, 0) != 0)
        die("PKCS11_open_session failed");
    if (PKCS11_login(s->slot, 0, pin) != 0)
        die("PKCS11_login failed");
    OPENSSL_cleanse(pin, sizeof pin);
}

/* The key among keys whose CKA_ID is kid's bytes, else whose label is kid. */
static PKCS11_KEY *find_key(PKCS11_KEY *keys, unsigned int n, const char *kid, const char *what)
{
    size_t len = strlen(kid);
    PKCS11_KEY *by_label = NULL;

    for (unsigned int i = 0; i < n; i++) {
        if (keys[i].id_len == len && memcmp(keys[i].id, kid, len) == 0)
            return &keys[i];
        if (by_label == NULL && keys[i].label != NULL && strcmp(keys[i].label, kid) == 0)
            by_label = &keys[i];
    }
    if (by_label == NULL)
        die("no %s key with kid '%s' (%u %s keys seen)", what, kid, n, what);
    return by_label;
}

/* ---- the two commands ------------------------------------------------ */

struct alg_info {
    const char *name;
    int bits;             /* the curve's size, as EVP_PKEY_get_bits says */
    size_t coord;         /* r and s length in the JWS form */
    const char *md;
};

static const struct alg_info algs[] = {
    { "ES256", 256, 32, "SHA256" },
    { "ES384", 384, 48, "SHA384" },
    { "ES512", 521, 66, "SHA512" },
};

static int safe_for_json(const char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\')
            return 0;
    return 1;
}

static int cmd_sign(const char *module, const char *label, const char *pin_file,
                    const char *kid, const char *alg_name, const char *iss, const char *aud,
                    long ttl)
{
    const struct alg_info *alg = NULL;
    struct session s;
    PKCS11_KEY *keys, *key;
    unsigned int nkeys;
    EVP_PKEY *pkey;
    EVP_MD *md;
    EVP_MD_CTX *mctx;
    unsigned char *der, raw[2 * 66];
    const unsigned char *p;
    size_t der_len;
    ECDSA_SIG *sig;
    const BIGNUM *r, *sv;
    char header[512], payload[1024], *h64, *p64, *s64, *input;
    long now = (long)time(NULL);

    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if (strcmp(algs[i].name, alg_name) == 0)
            alg = &algs[i];
    if (alg == NULL)
        die("--alg must be ES256, ES384 or ES512");
    if (!safe_for_json(kid) || !safe_for_json(iss) || !safe_for_json(aud))
        die("kid, iss and aud must be printable ASCII without quotes or backslashes");

    open_token(&s, module, label);
    login(&s, pin_file);
    if (PKCS11_enumerate_keys(s.slot->token, &keys, &nkeys) != 0)
        die("PKCS11_enumerate_keys failed");
    key = find_key(keys, nkeys, kid, "private");
    if (PKCS11_get_key_type(key) != EVP_PKEY_EC)
        die("key '%s' is not an EC key", kid);
    pkey = PKCS11_get_private_key(key);
    if (pkey == NULL)
        die("PKCS11_get_private_key failed for '%s'", kid);
    if (EVP_PKEY_get_bits(pkey) != alg->bits)
        die("key '%s' is a %d-bit curve, %s needs %d", kid, EVP_PKEY_get_bits(pkey), alg->name,
            alg->bits);

    snprintf(header, sizeof header, "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}",
             alg->name, kid);
    snprintf(payload, sizeof payload,
             "{\"iss\":\"%s\",\"aud\":\"%s\",\"iat\":%ld,\"exp\":%ld,\"jti\":\"libp11-%ld-%d\"}",
             iss, aud, now, now + ttl, now, rand());
    h64 = b64url_str(header);
    p64 = b64url_str(payload);
    input = malloc(strlen(h64) + strlen(p64) + 2);
    if (input == NULL)
        die("out of memory");
    sprintf(input, "%s.%s", h64, p64);

    /* OpenSSL hashes; libp11's EC method hands the digest to the token
     * (CKM_ECDSA) and returns the signature DER-encoded, as OpenSSL wants. */
    md = EVP_MD_fetch(NULL, alg->md, NULL);
    mctx = EVP_MD_CTX_new();
    if (md == NULL || mctx == NULL || EVP_DigestSignInit(mctx, NULL, md, NULL, pkey) != 1)
        die("EVP_DigestSignInit failed");
    if (EVP_DigestSign(mctx, NULL, &der_len, (const unsigned char *)input, strlen(input)) != 1)
        die("EVP_DigestSign (size) failed");
    der = malloc(der_len);
    if (der == NULL)
        die("out of memory");
    if (EVP_DigestSign(mctx, der, &der_len, (const unsigned char *)input, strlen(input)) != 1)
        die("EVP_DigestSign failed");

    /* DER ECDSA-Sig-Value -> r||s, each left-padded to the curve's length
     * (RFC 7518 §3.4). */
    p = der;
    sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    if (sig == NULL || p != der + der_len)
        die("the signature is not a DER ECDSA-Sig-Value");
    ECDSA_SIG_get0(sig, &r, &sv);
    if (BN_bn2binpad(r, raw, (int)alg->coord) < 0 ||
        BN_bn2binpad(sv, raw + alg->coord, (int)alg->coord) < 0)
        die("r or s is longer than %zu bytes", alg->coord);
    s64 = b64url(raw, 2 * alg->coord);
    printf("%s.%s\n", input, s64);

    ECDSA_SIG_free(sig);
    free(der);
    EVP_MD_CTX_free(mctx);
    EVP_MD_free(md);
    EVP_PKEY_free(pkey);
    free(h64);
    free(p64);
    free(s64);
    free(input);
    close_token(&s);
    return fflush(stdout) == 0 ? 0 : 1;
}

static int cmd_pubkey(const char *module, const char *label, const char *kid)
{
    struct session s;
    PKCS11_KEY *keys, *key;
    unsigned int nkeys;
    EVP_PKEY *pkey;

    open_token(&s, module, label);
    if (PKCS11_enumerate_public_keys(s.slot->token, &keys, &nkeys) != 0)
        die("PKCS11_enumerate_public_keys failed");
    key = find_key(keys, nkeys, kid, "public");
    pkey = PKCS11_get_public_key(key);
    if (pkey == NULL)
        die("PKCS11_get_public_key failed for '%s'", kid);
    if (PEM_write_PUBKEY(stdout, pkey) != 1)
        die("PEM_write_PUBKEY failed");
    EVP_PKEY_free(pkey);
    close_token(&s);
    return fflush(stdout) == 0 ? 0 : 1;
}

static int usage(void)
{
    fputs("usage: cross_libp11 sign --module M --token LABEL --pin-file F --kid KID\n"
          "                         --alg ES256|ES384|ES512 --iss ISS --aud AUD [--ttl N]\n"
          "       cross_libp11 pubkey --module M --token LABEL --kid KID\n",
          stderr);
    return 2;
}

int main(int argc, char *argv[])
{
    static const struct option opts[] = {
        { "module", required_argument, NULL, 'm' }, { "token", required_argument, NULL, 't' },
        { "pin-file", required_argument, NULL, 'p' }, { "kid", required_argument, NULL, 'k' },
        { "alg", required_argument, NULL, 'a' },    { "iss", required_argument, NULL, 'i' },
        { "aud", required_argument, NULL, 'u' },    { "ttl", required_argument, NULL, 'l' },
        { NULL, 0, NULL, 0 },
    };
    const char *module = NULL, *label = NULL, *pin_file = NULL, *kid = NULL;
    const char *alg = NULL, *iss = NULL, *aud = NULL, *cmd;
    long ttl = 300;
    int c;

    if (argc < 2)
        return usage();
    cmd = argv[1];
    optind = 2;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': module = optarg; break;
        case 't': label = optarg; break;
        case 'p': pin_file = optarg; break;
        case 'k': kid = optarg; break;
        case 'a': alg = optarg; break;
        case 'i': iss = optarg; break;
        case 'u': aud = optarg; break;
        case 'l': ttl = strtol(optarg, NULL, 10); break;
        default: return usage();
        }
    }
    if (optind != argc || module == NULL || label == NULL || kid == NULL)
        return usage();
    srand((unsigned)time(NULL) ^ (unsigned)clock());
    if (strcmp(cmd, "sign") == 0) {
        if (pin_file == NULL || alg == NULL || iss == NULL || aud == NULL || ttl <= 0)
            return usage();
        return cmd_sign(module, label, pin_file, kid, alg, iss, aud, ttl);
    }
    if (strcmp(cmd, "pubkey") == 0)
        return cmd_pubkey(module, label, kid);
    return usage();
}
