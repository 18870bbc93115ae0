/*
 * agent_exec.c — `p11jwt agent`: replaces this process with the agent
 * program, p11jwt-agent (agent_cmd.c), keeping its pid, arguments and
 * environment (systemd's LISTEN_FDS and NOTIFY_SOCKET stay valid). The
 * program is looked for next to this binary (a build tree), then where
 * `make install` puts it.
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef P11JWT_AGENT_PATH
#define P11JWT_AGENT_PATH "/usr/libexec/p11jwt/p11jwt-agent"
#endif

int cmd_agent(int argc, char *argv[])
{
    char self[PATH_MAX], path[PATH_MAX + 16];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    int e;

    (void)argc;
    if (n > 0) {
        char *slash;

        self[n] = '\0';
        slash = strrchr(self, '/');
        if (slash != NULL) {
            *slash = '\0';
            snprintf(path, sizeof path, "%s/p11jwt-agent", self);
            if (access(path, X_OK) == 0) {
                argv[0] = path;
                execv(path, argv);
            }
        }
    }
    argv[0] = (char *)P11JWT_AGENT_PATH;
    execv(P11JWT_AGENT_PATH, argv);
    e = errno;
    return cli_error("agent", "cannot run the agent program %s: %s", P11JWT_AGENT_PATH,
                     strerror(e));
}
