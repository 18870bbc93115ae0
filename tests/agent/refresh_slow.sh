#!/usr/bin/env bash
# refresh_slow.sh — refresh.sh with an STS that holds every refresh for
# 1 s: no caller may wait for it while the token is still valid. Passes
# once the library client refreshes in the background (issue 15).
REFRESH_STS_DELAY=1 exec bash "$(dirname "$0")/refresh.sh" "$@"
