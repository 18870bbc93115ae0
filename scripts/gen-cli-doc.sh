#!/bin/sh
# gen-cli-doc.sh — write the CLI reference (docs/cli.md) from the binary's
# own --help, so the two cannot drift apart. ctest's docs.cli runs this and
# fails when docs/cli.md differs from what the built binary prints.
#
#   scripts/gen-cli-doc.sh [P11JWT_BINARY] > docs/cli.md
set -eu
bin=${1:-build/p11jwt}

cat <<'HEAD'
# p11jwt command reference

Generated from `p11jwt --help` and `p11jwt COMMAND --help` by
`scripts/gen-cli-doc.sh`; a test fails when this page and the binary differ.
Exit status everywhere: 0 success, 1 the operation failed (including an
invalid signature), 2 usage error. Errors are one line on stderr, starting
with `p11jwt: COMMAND:`. The man pages p11jwt(1) and p11jwt.conf(5)
(`man/`) say the same at more length.
HEAD

section() {
    printf '\n## %s\n\n```\n' "$1"
    shift
    "$bin" "$@" --help
    printf '```\n'
}
section "p11jwt"
# The command list comes from the binary itself, so a new command cannot be
# left out of the reference.
for cmd in $("$bin" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z-]*\) .*/\1/p'); do
    section "p11jwt $cmd" "$cmd"
done
