/*
 * ptc.h — the agent's client side in plain C and libc only: the socket the
 * agent listens on, a bounded HTTP/1.1 exchange over it, and a JSON reader
 * that finds one member of an object without building a tree.
 *
 * p11jwt-token is built from these alone (no OpenSSL, libcurl, p11-kit or
 * jansson); the p11jwt CLI and the agent reuse them. The parsers are pure
 * functions of (const char *, size_t): no allocation, no global state, a
 * bounded amount of work per byte, so they can be fuzzed directly
 * (tests/unit/fuzz_ptc.c).
 */
#ifndef P11JWT_PTC_H
#define P11JWT_PTC_H

#include <stddef.h>
#include <stdint.h>

/* ---- the agent's socket ------------------------------------------------ */

/* Where the agent listens: $P11JWT_AGENT_SOCKET, else
 * $XDG_RUNTIME_DIR/p11jwt/agent.sock, else /run/p11jwt/agent.sock. A
 * client (for_server 0) takes the $XDG_RUNTIME_DIR one only when that
 * socket exists, so a user's tools find a system-wide agent too. Returns
 * 0, or -1 when the path does not fit in cap (or in a sockaddr_un). */
int ptc_socket_path(int for_server, char *out, size_t cap);

/* ---- JSON -------------------------------------------------------------- */

typedef enum ptc_json_type {
    PTC_JSON_STRING = 1,
    PTC_JSON_NUMBER,
    PTC_JSON_OBJECT,
    PTC_JSON_ARRAY,
    PTC_JSON_TRUE,
    PTC_JSON_FALSE,
    PTC_JSON_NULL,
} ptc_json_type;

#define PTC_JSON_MAX_DEPTH 32

/* Finds member `key` of the JSON object that is the whole of json[0..len)
 * (whitespace around it allowed). The whole text is checked against the
 * JSON grammar (strings: valid escapes, no raw control characters; at most
 * PTC_JSON_MAX_DEPTH levels of nesting).
 * Returns 1 when found: *type, and the value's bytes in *val and *vlen (for a
 * string, what lies between its quotes, still escaped); 0 when the object
 * has no such member; -1 when the text is not a JSON object or names the
 * key twice. Member names are compared after unescaping. */
int ptc_json_find(const char *json, size_t len, const char *key, ptc_json_type *type,
                  const char **val, size_t *vlen);

/* Unescapes the body of a JSON string (between its quotes) into out, which
 * holds cap bytes including the terminating NUL; \u escapes become UTF-8
 * (surrogate pairs joined; a lone surrogate or "\u0000" is refused).
 * Returns the length written, or -1 when malformed or out of room. */
long ptc_json_unescape(const char *s, size_t n, char *out, size_t cap);

/* ---- HTTP/1.1 ---------------------------------------------------------- */

#define PTC_MAX_HEAD 8192              /* status line and headers */
#define PTC_MAX_BODY (1024 * 1024)

typedef struct ptc_head {
    int status;                 /* 100..599 */
    size_t head_len;            /* bytes up to and including the blank line */
    long long content_length;   /* -1 when absent */
    int close;                  /* "Connection: close" */
} ptc_head;

/* Parses a response's status line and headers from buf[0..len). Returns 1
 * when the head is complete (*out filled), 0 when more bytes are needed, -1
 * when malformed, chunked (the agent never sends it), or longer than
 * PTC_MAX_HEAD. */
int ptc_http_parse_head(const char *buf, size_t len, ptc_head *out);

/* Percent-encodes a path segment (all but unreserved characters). Returns
 * the length, or -1 when it does not fit in cap (NUL included). */
long ptc_url_escape(const char *s, char *out, size_t cap);

/* A connection to the agent, kept open across requests (keep-alive). */
typedef struct ptc_conn {
    int fd;
    char *path;                 /* for messages; owned */
} ptc_conn;

typedef struct ptc_reply {
    int status;
    char *body;                 /* NUL-terminated; owned; wiped by ptc_reply_clear */
    size_t body_len;
    int close;                  /* the agent will close the connection */
} ptc_reply;

/* Connects to the Unix socket at path. Returns 0, or -1 with a message in
 * err. */
int ptc_connect(ptc_conn *c, const char *path, char *err, size_t errcap);
void ptc_close(ptc_conn *c);

/* Sends one request (method, target already escaped, optional JSON body)
 * and reads the whole answer, within timeout_ms in all. keep_alive 0 asks
 * the agent to close afterwards. Returns 0, or -1 with a message in err
 * (the connection is then unusable). */
int ptc_request(ptc_conn *c, const char *method, const char *target, const char *body,
                size_t body_len, int keep_alive, int timeout_ms, ptc_reply *r, char *err,
                size_t errcap);
void ptc_reply_clear(ptc_reply *r);

/* The agent's error answer {"error","message"} as one printable line in
 * out (control characters replaced); "HTTP <status>" when it has none. */
void ptc_reply_message(const ptc_reply *r, char *out, size_t cap);

/* Wipes n bytes so the compiler cannot drop the store. */
void ptc_wipe(void *p, size_t n);

#endif
