#!/usr/bin/env bash
# examples.sh — the client examples of docs/agent.md (Python with the
# standard library, Go, Java, shell), taken from the page itself and run
# against a real agent: each must print the Authorization value the agent
# hands out. A language whose toolchain is missing is skipped (said, not
# failed); Python and the shell are always there.
set -euo pipefail
source "$(dirname "$0")/../integration/lib.sh"
source "$(dirname "$0")/../exchange/lib.sh"
source "$(dirname "$0")/lib.sh"

DOC=$P11JWT_SRC/docs/agent.md
dt_setup
dt_profile dt
start_agent a
want=$("$P11JWT_TOKEN_BIN" --socket "$SOCK" dt --header)
want=${want#Authorization: }
[[ $want == "Bearer "* ]] || fail "p11jwt-token --header: $want"

# example LANG FILE: the fenced block after '<!-- example: LANG -->'
example() {
    awk -v tag="<!-- example: $1 -->" '
        $0 == tag { found = 1; next }
        found && /^```/ && !inside { inside = 1; next }
        inside && /^```/ { exit }
        inside { print }' "$DOC" >"$2"
    [[ -s $2 ]] || fail "docs/agent.md has no '$1' example"
}

check() { # check LANG OUTPUT
    [[ $2 == "$want" ]] || fail "the $1 example printed '$2', expected the agent's Authorization"
    step "$1 example: ok"
}

example python "$T/agent_example.py"
check python "$("$PYTHON" "$T/agent_example.py" "$SOCK" dt)"

example shell "$T/agent_example.sh"
check shell "$(PATH=$(dirname "$P11JWT_TOKEN_BIN"):$PATH bash "$T/agent_example.sh" "$SOCK" dt)"

mkdir -p "$T/java"
example java "$T/java/AgentToken.java"
if command -v java >/dev/null 2>&1 && java -version 2>&1 | grep -Eq 'version "(1[7-9]|[2-9][0-9])'; then
    check java "$(cd "$T/java" && timeout 120 java AgentToken.java "$SOCK" dt)"
else
    step "java example: skipped (no Java 17 or later)"
fi

mkdir -p "$T/go"
example go "$T/go/main.go"
if command -v go >/dev/null 2>&1; then
    check go "$(cd "$T/go" && HOME=$T GOCACHE=$T/gocache GOFLAGS=-mod=mod timeout 300 go run main.go "$SOCK" dt)"
else
    step "go example: skipped (no Go toolchain on this machine)"
fi
stop_agent
