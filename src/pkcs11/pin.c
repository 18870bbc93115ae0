/*
 * pin.c — where a PIN comes from: a file, a variable, or a prompt.
 *
 * A PIN is never taken from argv. It is read from its source at the moment a
 * login needs it and wiped right after C_Login, so a re-login (after a
 * C_Logout by someone else, or a fork) reads the source again. Only a PIN
 * typed at a prompt cannot be read again; it is kept in locked memory and
 * wiped when the token handle is freed.
 */
#include "pkcs11/pkcs11_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <termios.h>
#include <unistd.h>

#define PIN_MAX 256

static p11jwt_rc dup_pin(const unsigned char *src, size_t len, unsigned char **out,
                         size_t *out_len)
{
    *out = malloc(len + 1);
    if (*out == NULL)
        return err_set(P11JWT_ERR_NOMEM, "out of memory");
    memcpy(*out, src, len);
    (*out)[len] = '\0';
    *out_len = len;
    return P11JWT_OK;
}

/* ---- the prompt -----------------------------------------------------------
 *
 * Echo is off while the PIN is typed. A signal that ends or stops the
 * process then (Ctrl-C, Ctrl-\\, Ctrl-Z, a kill, a hang-up) must not leave
 * the terminal without echo: while the prompt runs, a handler restores the
 * terminal, puts back the signal's previous action and raises the signal
 * again, so it does what it would have done; if the process goes on (a
 * stop, then SIGCONT; or an application handler that returns), echo goes
 * off again and the prompt either continues (a stop) or ends ("interrupted").
 * tcsetattr, sigaction and raise are async-signal-safe. One prompt at a
 * time per process: the handler's state is global.
 */
static const int prompt_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT,
                                      SIGTSTP, SIGTTIN, SIGTTOU };
#define N_PROMPT_SIGNALS (sizeof prompt_signals / sizeof prompt_signals[0])
static pthread_mutex_t prompt_mu = PTHREAD_MUTEX_INITIALIZER;
static int prompt_fd = -1;
static struct termios prompt_old, prompt_quiet;
static struct sigaction prompt_saved[N_PROMPT_SIGNALS];
static volatile sig_atomic_t prompt_interrupted;

static void on_prompt_signal(int sig)
{
    int saved_errno = errno;
    struct sigaction ours;
    size_t i;

    for (i = 0; i < N_PROMPT_SIGNALS && prompt_signals[i] != sig; i++)
        ;
    tcsetattr(prompt_fd, TCSANOW, &prompt_old);
    sigaction(sig, &prompt_saved[i], &ours);
    raise(sig); /* delivered when this handler returns: unblock it now */
    {
        sigset_t one;

        sigemptyset(&one);
        sigaddset(&one, sig);
        sigprocmask(SIG_UNBLOCK, &one, NULL);
    }
    /* Still here: stopped and continued, or someone's handler returned. */
    sigaction(sig, &ours, NULL);
    tcsetattr(prompt_fd, TCSANOW, &prompt_quiet);
    if (sig != SIGTSTP && sig != SIGTTIN && sig != SIGTTOU)
        prompt_interrupted = 1;
    errno = saved_errno;
}

static void prompt_handlers(int install)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_prompt_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: read() returns EINTR */
    for (size_t i = 0; i < N_PROMPT_SIGNALS; i++) {
        if (install)
            sigaction(prompt_signals[i], &sa, &prompt_saved[i]);
        else
            sigaction(prompt_signals[i], &prompt_saved[i], NULL);
    }
}

/* Reads one line from fd into buf (at most cap bytes, no newline): its
 * length, -1 at end of input or on an interruption, -2 when the line is
 * longer than cap (the rest of it is read and dropped, so that it does not
 * end up as input to the shell). */
static ssize_t read_line(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    int too_long = 0;

    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);

        if (r < 0 && errno == EINTR && !prompt_interrupted)
            continue;
        if (r <= 0)
            return -1;
        if (c == '\n' || c == '\r')
            return too_long ? -2 : (ssize_t)n;
        if (n < cap)
            buf[n++] = c;
        else
            too_long = 1;
    }
}

/* Every PIN source, as the CLI and a profile name them. */
#define NO_PIN                                                                              \
    "no PIN for token '%s': give --pin-file or --pin-env (in a profile: pin_file or "       \
    "pin_env), or pin-source=FILE in the token URI"

/* Reads a PIN typed on the controlling terminal, echo off. */
static p11jwt_rc prompt_pin(p11_pin *p, const char *label)
{
    char buf[PIN_MAX];
    char prompt[ESC_CAP + 32];
    ssize_t len = -1;
    p11jwt_rc rc = P11JWT_OK;
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

    if (fd < 0)
        return err_set(P11JWT_ERR_PIN, NO_PIN " (no terminal to prompt on)", label);
    pthread_mutex_lock(&prompt_mu);
    if (tcgetattr(fd, &prompt_old) != 0) {
        rc = err_set(P11JWT_ERR_PIN, NO_PIN, label);
        goto out_unlock;
    }
    prompt_quiet = prompt_old;
    prompt_quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    prompt_quiet.c_lflag |= ICANON;
    prompt_fd = fd;
    prompt_interrupted = 0;
    prompt_handlers(1);
    /* Echo off (and what was typed before dropped) first, then the prompt:
     * what is typed once it shows is never flushed, never echoed. */
    tcsetattr(fd, TCSAFLUSH, &prompt_quiet);
    snprintf(prompt, sizeof prompt, "PIN for token '%s': ", label);
    if (write(fd, prompt, strlen(prompt)) < 0) {
        /* nothing to do: the read below fails too if the terminal is gone */
    }
    len = read_line(fd, buf, sizeof buf);
    tcsetattr(fd, TCSAFLUSH, &prompt_old);
    prompt_handlers(0);
    if (write(fd, "\n", 1) < 0) {
        /* the line was read; a lost newline on the terminal changes nothing */
    }
    if (len == -2) {
        rc = err_set(P11JWT_ERR_PIN,
                     "the PIN typed for token '%s' is longer than %d bytes: refused, not "
                     "cut short", label, PIN_MAX);
        goto out;
    }
    if (len < 0) {
        rc = err_set(P11JWT_ERR_PIN, "no PIN was entered for token '%s'%s", label,
                     prompt_interrupted ? " (interrupted)" : "");
        goto out;
    }
    p->prompted = mmap(NULL, PIN_MAX, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p->prompted == MAP_FAILED) {
        p->prompted = NULL;
        rc = err_set(P11JWT_ERR_NOMEM, "cannot allocate memory for the PIN");
        goto out;
    }
    mlock(p->prompted, PIN_MAX);         /* best effort: keep it out of swap */
    madvise(p->prompted, PIN_MAX, MADV_DONTDUMP);
    memcpy(p->prompted, buf, (size_t)len);
    p->prompted_len = (size_t)len;
out:
    base_wipe(buf, sizeof buf);
    prompt_fd = -1;
out_unlock:
    pthread_mutex_unlock(&prompt_mu);
    close(fd);
    return rc;
}

p11jwt_rc p11_pin_read(p11_pin *p, const char *label, unsigned char **out,
                       size_t *out_len, const char **where)
{
    p11jwt_rc rc;

    *out = NULL;
    *out_len = 0;
    if (p->file != NULL) {
        *where = "the PIN file";
        rc = base_secret_read_file(p->file, PIN_MAX, out, out_len);
        if (rc != P11JWT_OK)
            return err_wrap(P11JWT_ERR_PIN, "PIN file");
        return P11JWT_OK;
    }
    if (p->env != NULL) {
        const char *v = getenv(p->env);

        *where = "the PIN environment variable";
        if (v == NULL)
            return err_set(P11JWT_ERR_PIN, "PIN environment variable %s is not set",
                           ESC(p->env));
        return dup_pin((const unsigned char *)v, strlen(v), out, out_len);
    }
    if (p->prompted == NULL) {
        if (!p->prompt_allowed)
            return err_set(P11JWT_ERR_PIN, NO_PIN, label);
        rc = prompt_pin(p, label);
        if (rc != P11JWT_OK)
            return rc;
    }
    *where = "the PIN typed at the prompt";
    return dup_pin(p->prompted, p->prompted_len, out, out_len);
}

void p11_pin_clear(p11_pin *p)
{
    free(p->file);
    free(p->env);
    if (p->prompted != NULL) {
        base_wipe(p->prompted, PIN_MAX);
        munmap(p->prompted, PIN_MAX);
    }
    memset(p, 0, sizeof *p);
}
