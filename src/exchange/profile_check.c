/*
 * profile_check.c — what a profile must hold once its section is read:
 * the rules that span keys (a dialect's needs and presets, a cache and its
 * key, a certificate and its thumbprints, a PIN credential), each message
 * at the line of the key it is about. profile.c reads one key at a time
 * against the key table; this file sees the whole profile.
 */
#include "exchange/exchange_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define cfg_err(ps, key, ...) exch_ini_error(&(ps)->ini, (key), __VA_ARGS__)

/* pin_credential = NAME: the PIN is the systemd credential NAME, i.e. the
 * file $CREDENTIALS_DIRECTORY/NAME (LoadCredential= in the unit). */
static p11jwt_rc finish_pin_credential(exch_profile_parser *ps)
{
    p11jwt_profile *p = ps->p;
    const char *dir = getenv("CREDENTIALS_DIRECTORY"), *name = p->pin_credential;
    size_t n;

    if (name == NULL)
        return P11JWT_OK;
    exch_profile_at_key(ps, "pin_credential");
    if (p->pin_file != NULL || p->pin_env != NULL)
        return cfg_err(ps, "pin_credential", "give one of pin_credential, pin_file, pin_env");
    if (strchr(name, '/') != NULL || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return cfg_err(ps, "pin_credential", "'%s' is a path; give the credential's name", name);
    if (dir == NULL || dir[0] != '/')
        return cfg_err(ps, "pin_credential",
                       "'%s' needs $CREDENTIALS_DIRECTORY, which systemd sets for a unit with "
                       "LoadCredential=%s:/PATH/TO/PIN",
                       name, name);
    n = strlen(dir) + 1 + strlen(name) + 1;
    if ((p->pin_file = malloc(n)) == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    snprintf(p->pin_file, n, "%s/%s", dir, name);
    return P11JWT_OK;
}

/* The fleet's cache (docs/fleet.md): a Redis URL, and a token sealed in
 * the HSM unless the profile says plainly that it need not be. */
static p11jwt_rc finish_cache(exch_profile_parser *ps)
{
    p11jwt_profile *p = ps->p;
    int redis = p->cache != NULL && strcmp(p->cache, "memory") != 0;
    p11jwt_rc rc;

    exch_profile_at_key(ps, "cache");
    if (redis && (rc = exch_redis_url_check(p->cache)) != P11JWT_OK)
        return err_wrap(rc, "%s:%d", ESC(ps->ini.path), ps->ini.line);
    /* Redis refuses SET ... PX 0: a lock of no time is a config error. */
    if (redis && (rc = exch_profile_check_min(ps, "cache_lock")) != P11JWT_OK)
        return rc;
    if (!redis) {
        static const char *const fleet_only[] = { "cache_key", "cache_password_file",
                                                  "cache_prefix", "cache_plaintext" };

        for (size_t i = 0; i < sizeof fleet_only / sizeof fleet_only[0]; i++) {
            if (exch_profile_key_seen(ps, fleet_only[i]) != 0) {
                exch_profile_at_key(ps, fleet_only[i]);
                return cfg_err(ps, fleet_only[i], "needs cache = redis://... or "
                               "redis+unix:///...");
            }
        }
        return P11JWT_OK;
    }
    exch_profile_at_key(ps, "cache_key");
    if (p->cache_key != NULL && p->token == NULL)
        return cfg_err(ps, "cache_key", "needs key 'token': the key is in the profile's token");
    if (p->cache_key != NULL && p->cache_plaintext)
        return cfg_err(ps, "cache_plaintext", "give cache_key or cache_plaintext = yes, not "
                       "both");
    if (p->cache_key == NULL && !p->cache_plaintext)
        return cfg_err(ps, NULL,
                       "profile '%s': a Redis cache needs cache_key (an A256GCM key in the "
                       "token: p11jwt keygen --alg A256GCM --kid KID), or cache_plaintext = "
                       "yes to store readable tokens in Redis",
                       ESC(p->name));
    return P11JWT_OK;
}

/* The certificate thumbprints of the assertion's header: only where an
 * assertion is signed, and a cert only with a thumbprint to put it in. */
static p11jwt_rc finish_x5t(exch_profile_parser *ps, const struct exch_dialect *d)
{
    p11jwt_profile *p = ps->p;
    const char *key = p->x5t ? "x5t" : p->x5t_s256 ? "x5t_s256" : "cert";

    if (p->cert == NULL && !p->x5t && !p->x5t_s256)
        return P11JWT_OK;
    exch_profile_at_key(ps, key);
    if (!d->signs)
        return cfg_err(ps, key, "dialect %s signs no assertion: there is no header to put a "
                       "certificate's thumbprint in", d->name);
    exch_profile_at_key(ps, "cert");
    if (p->cert != NULL && !p->x5t && !p->x5t_s256)
        return cfg_err(ps, "cert", "needs x5t = yes or x5t_s256 = yes (the header names the "
                       "certificate by its thumbprints)");
    if (p->cert != NULL && strncmp(p->cert, "pkcs11:", 7) == 0 &&
        (p11_uri_refuse_pin_value(p->cert, P11JWT_ERR_CONFIG, "the certificate URI") !=
             P11JWT_OK ||
         p11_uri_check(p->cert, P11JWT_ERR_CONFIG, "the certificate URI") != P11JWT_OK))
        return err_wrap(P11JWT_ERR_CONFIG, "%s:%d: cert", ESC(ps->ini.path), ps->ini.line);
    return P11JWT_OK;
}

/* What the dialect needs of the profile: the keys it cannot do without. */
static p11jwt_rc finish_needs(exch_profile_parser *ps, const struct exch_dialect *d)
{
    p11jwt_profile *p = ps->p;
    struct {
        const char *value, *key;
    } need[3] = { { NULL, NULL } };
    size_t n = 0;

    if (d->signs) {
        need[n].value = p->token, need[n++].key = "token";
        need[n].value = p->kid, need[n++].key = "kid";
        if (d->iss_is_client_id)
            need[n].value = p->client_id, need[n++].key = "client_id";
        else
            need[n].value = p->iss, need[n++].key = "iss";
    } else {
        need[n].value = p->client_id, need[n++].key = "client_id";
    }
    for (size_t i = 0; i < n; i++)
        if (need[i].value == NULL)
            return cfg_err(ps, NULL, "profile '%s' (dialect %s) needs key '%s'", ESC(p->name),
                           d->name, need[i].key);
    if (d->needs_claim != NULL) {
        int has = 0;

        for (size_t i = 0; i < p->nclaims; i++)
            has |= strcmp(p->claims[i].name, d->needs_claim) == 0;
        if (!has)
            return cfg_err(ps, NULL, "profile '%s' (dialect %s) needs key 'claim.%s'",
                           ESC(p->name), d->name, d->needs_claim);
    }
    if (!d->signs && p->client_secret_file == NULL && p->client_secret_env == NULL)
        return cfg_err(ps, NULL,
                       "profile '%s' (dialect %s) needs client_secret_file or "
                       "client_secret_env",
                       ESC(p->name), d->name);
    return P11JWT_OK;
}

/* The dialect's presets; anything the file sets wins. */
static p11jwt_rc finish_presets(exch_profile_parser *ps, const struct exch_dialect *d)
{
    p11jwt_profile *p = ps->p;
    p11jwt_rc rc;

    if (p->aud == NULL && d->aud_is_token_url && (p->aud = strdup(p->token_url)) == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    if (p->resource_auth == NULL && (p->resource_auth = strdup(d->resource_auth)) == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    if (d->resource_accept != NULL) {
        int has_accept = 0;

        for (size_t i = 0; i < p->nheaders; i++)
            has_accept |= strcasecmp(p->headers[i].name, "Accept") == 0;
        if (!has_accept && (rc = exch_profile_add_kv(ps, "header.Accept", &p->headers, &p->nheaders,
                                        "Accept", d->resource_accept)) != P11JWT_OK)
            return rc;
    }
    if (p->auth_method == EXCH_AUTH_DEFAULT)
        p->auth_method = d->auth_method;
    return P11JWT_OK;
}

p11jwt_rc exch_profile_finish(exch_profile_parser *ps)
{
    p11jwt_profile *p = ps->p;
    const struct exch_dialect *d = exch_dialect_get(p->dialect);
    p11jwt_rc rc;

    ps->ini.line = p->line;
    if (exch_profile_key_seen(ps, "dialect") == 0)
        return cfg_err(ps, NULL, "profile '%s' needs key 'dialect'", ESC(p->name));
    if (p->token_url == NULL)
        return cfg_err(ps, NULL, "profile '%s' (dialect %s) needs key '%s'", ESC(p->name),
                       d->name, "token_url");
    rc = exch_url_check(p->token_url, "token_url", P11JWT_ERR_CONFIG);
    if (rc != P11JWT_OK) {
        exch_profile_at_key(ps, "token_url");
        return err_wrap(rc, "%s:%d: profile '%s'", ESC(ps->ini.path), ps->ini.line,
                        ESC(p->name));
    }
    if (p->revocation_url != NULL &&
        (rc = exch_url_check(p->revocation_url, "revocation_url", P11JWT_ERR_CONFIG)) !=
            P11JWT_OK) {
        exch_profile_at_key(ps, "revocation_url");
        return err_wrap(rc, "%s:%d: profile '%s'", ESC(ps->ini.path), ps->ini.line,
                        ESC(p->name));
    }
    rc = finish_needs(ps, d);
    if (rc != P11JWT_OK)
        return rc;
    exch_profile_at_key(ps, "token");
    if (p11_uri_refuse_pin_value(p->token, P11JWT_ERR_CONFIG, "the token URI") != P11JWT_OK ||
        p11_uri_check(p->token, P11JWT_ERR_CONFIG, "the token URI") != P11JWT_OK)
        return err_wrap(P11JWT_ERR_CONFIG, "%s:%d: token", ESC(ps->ini.path), ps->ini.line);
    exch_profile_at_key(ps, "client_key");
    if (p11_uri_refuse_pin_value(p->client_key, P11JWT_ERR_CONFIG, "the URI") != P11JWT_OK ||
        p11_uri_check(p->client_key, P11JWT_ERR_CONFIG, "the URI") != P11JWT_OK)
        return err_wrap(P11JWT_ERR_CONFIG, "%s:%d: client_key", ESC(ps->ini.path),
                        ps->ini.line);
    exch_profile_at_key(ps, p->client_cert != NULL ? "client_cert" : "client_key");
    if (p->client_cert != NULL && p->client_key == NULL)
        return cfg_err(ps, NULL, "profile '%s': client_cert needs client_key", ESC(p->name));
    if (p->client_key != NULL && p->client_cert == NULL)
        return cfg_err(ps, NULL, "profile '%s': client_key needs client_cert", ESC(p->name));
    rc = finish_presets(ps, d);
    if (rc == P11JWT_OK)
        rc = exch_profile_check_min(ps, "ttl");
    if (rc != P11JWT_OK)
        return rc;
    if (d->max_ttl != 0 && p->ttl > d->max_ttl)
        return cfg_err(ps, "ttl", "%s refuses assertions with exp - iat over %lld s", d->name,
                       (long long)d->max_ttl);
    exch_profile_at_key(ps, "scope");
    if (p->scope != NULL && exch_scope_check(p->scope) != P11JWT_OK)
        return err_wrap(P11JWT_ERR_CONFIG, "%s:%d: scope", ESC(ps->ini.path), ps->ini.line);
    if (p->keyring == NULL && (p->keyring = strdup(p->name)) == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    exch_profile_at_key(ps, "audit");
    if (p->audit != NULL && strcmp(p->audit, "off") != 0 && strcmp(p->audit, "syslog") != 0 &&
        (strncmp(p->audit, "file:", 5) != 0 || p->audit[5] != '/'))
        return cfg_err(ps, "audit", "'%s' is not off, syslog or file:/ABSOLUTE/PATH",
                       ESC(p->audit));
    /* As the CLI refuses --pin-file with --pin-env: one PIN source. */
    if (p->pin_file != NULL && p->pin_env != NULL && p->pin_credential == NULL) {
        exch_profile_at_key(ps, "pin_env");
        return cfg_err(ps, "pin_env", "give pin_file or pin_env, not both");
    }
    rc = finish_x5t(ps, d);
    if (rc == P11JWT_OK)
        rc = exch_profile_check_min(ps, "timeout");
    if (rc == P11JWT_OK)
        rc = exch_profile_check_min(ps, "connect_timeout");
    if (rc == P11JWT_OK)
        rc = finish_pin_credential(ps);
    if (rc == P11JWT_OK)
        rc = finish_cache(ps);
    return rc;
}
