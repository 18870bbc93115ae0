/*
 * socket_path.c — where the agent's socket is, the same answer for the
 * agent, the p11jwt CLI and p11jwt-token. A client prefers the user's own
 * runtime directory only when an agent listens there, so that a system-wide
 * agent (/run/p11jwt) is found without configuration.
 */
#include "token-client/ptc.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/un.h>
#include <unistd.h>

#define SYSTEM_SOCKET "/run/p11jwt/agent.sock"

int ptc_socket_path(int for_server, char *out, size_t cap)
{
    const char *env = getenv("P11JWT_AGENT_SOCKET"), *xdg = getenv("XDG_RUNTIME_DIR");
    size_t max = sizeof(((struct sockaddr_un *)0)->sun_path);
    int n;

    if (env != NULL && env[0] != '\0')
        n = snprintf(out, cap, "%s", env);
    else if (xdg != NULL && xdg[0] == '/' &&
             (n = snprintf(out, cap, "%s/p11jwt/agent.sock", xdg)) >= 0 && (size_t)n < cap &&
             (for_server || access(out, F_OK) == 0))
        ;
    else
        n = snprintf(out, cap, "%s", SYSTEM_SOCKET);
    return n < 0 || (size_t)n >= cap || (size_t)n >= max ? -1 : 0;
}
