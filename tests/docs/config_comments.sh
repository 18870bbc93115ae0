#!/usr/bin/env bash
# config_comments.sh — the config examples in README.md, docs/ and tokens/
# keep the parser's rule (issue 17.6): a comment is a whole line; a '#' or
# ';' after a value is part of the value. A line `key = value   # note`
# inside a code block would hand a reader who copies it the value
# `value   # note`. (p11jwt.conf(5)'s examples are parsed for real by
# docs.man_examples.)
set -euo pipefail
SRC=${P11JWT_SRC:?}
bad=$(cd "$SRC" && for f in README.md docs/*.md tokens/*.md; do
    [[ $f == docs/cli.md ]] && continue     # --help's text, quoted
    awk -v F="$f" '/^ *```/ { inb = !inb; next }
        inb && /^[ \t]*[a-z_][a-z_.0-9-]*[ \t]+=[ \t]+[^ \t].*[ \t][#;]/ { print F ":" NR ": " $0 }' "$f"
done)
if [[ -n $bad ]]; then
    printf 'FAIL [docs.config_comments]: a comment after a value in a config example (it would be part of the value):\n%s\n' "$bad" >&2
    exit 1
fi
echo "no config example puts a comment after a value"
