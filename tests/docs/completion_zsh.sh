#!/usr/bin/env bash
# completion_zsh.sh — the zsh completion (dist/completion/_p11jwt) parses:
# `zsh -n`. Skipped where zsh is not installed (CI's Debian image has none;
# the bash completion test drives the same logic case by case).
set -euo pipefail
P11JWT_SRC=${P11JWT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v zsh >/dev/null 2>&1 || {
    echo "SKIP [completion_zsh]: zsh is not installed" >&2
    exit 77
}
f=$P11JWT_SRC/dist/completion/_p11jwt
zsh -n "$f" || { echo "FAIL [completion_zsh]: zsh -n $f" >&2; exit 1; }
head -n1 "$f" | grep -qx '#compdef p11jwt' ||
    { echo "FAIL [completion_zsh]: $f must start with '#compdef p11jwt'" >&2; exit 1; }
echo "zsh completion parses"
