#!/usr/bin/env bash
# man_coverage.sh — the man pages document every command, option, profile
# key, dialect, environment variable and API function the program has.
# The checks and their rules are in man_coverage.py (and man/README.md).
set -euo pipefail
exec /usr/bin/python3 "$(dirname "$0")/man_coverage.py"
