#!/usr/bin/env bash
# man_lint.sh — every man page the build made is clean roff: no message
# from `mandoc -T lint -W style` but the two that scdoc's output always
# causes, nothing from groff (`man --warnings`), and a title line that
# matches the file's name and section.
#
# The two mandoc messages filtered out, and why they are noise:
#   WARNING: skipping paragraph macro: PP empty|after SH|after SS
#       scdoc writes a .P before and after every block, including right
#       after a heading; mandoc and groff drop these, the page looks the
#       same.
#   STYLE: input text line longer than 80 bytes
#       a limit for hand-written roff; scdoc adds \fB, \fR and \& escapes
#       to our (<= 80 column) source lines, and the rendered text is
#       filled anyway.
# Anything else — an unknown macro, a bad escape, a broken table, a
# section out of order — fails the test with mandoc's own message.
#
# Environment: P11JWT_MAN_DIR (the built pages), P11JWT_MAN_PAGES (their
# names, e.g. "p11jwt.1 p11jwt.conf.5").
set -euo pipefail

fail() { printf 'FAIL [man_lint]: %s\n' "$*" >&2; exit 1; }
command -v mandoc >/dev/null 2>&1 || {
    echo 'SKIP [man_lint]: mandoc is not installed (scripts/deps.sh installs it)' >&2
    exit 77
}
[[ -n ${P11JWT_MAN_DIR:-} && -n ${P11JWT_MAN_PAGES:-} ]] ||
    fail "P11JWT_MAN_DIR and P11JWT_MAN_PAGES must be set (ctest sets them)"

NOISE='^mandoc: [^ ]+: (WARNING: skipping paragraph macro: PP (empty|after SH|after SS)|STYLE: input text line longer than 80 bytes)'

bad=0
for page in $P11JWT_MAN_PAGES; do
    f=$P11JWT_MAN_DIR/$page
    [[ -s $f ]] || fail "$f was not built (cmake --build the 'man' target)"

    rc=0
    out=$(mandoc -T lint -W style "$f" 2>&1) || rc=$?
    # mandoc exits 0 (clean), 1 (style), 2 (warnings); 3 and up are
    # errors, unsupported input, or mandoc itself failing.
    msgs=$(grep -Ev "$NOISE" <<<"$out" || true)
    if [[ -n $msgs || $rc -gt 2 ]]; then
        printf '%s: mandoc -T lint (exit %d):\n%s\n' "$page" "$rc" "${msgs:-$out}" >&2
        bad=1
    fi

    if command -v man >/dev/null 2>&1; then
        gw=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null || true)
        if [[ -n $gw ]]; then
            printf '%s: man --warnings (groff):\n%s\n' "$page" "$gw" >&2
            bad=1
        fi
    fi

    # .TH "TITLE" "SECTION": the page's name upper-cased, and the section
    # its file name ends in (the source's first line, e.g. P11JWT.CONF(5)).
    name=${page%.*}
    section=${page##*.}
    want=".TH \"${name^^}\" \"$section\""
    th=$(grep -m1 '^\.TH ' "$f" || true)
    if [[ $th != "$want"* ]]; then
        printf '%s: title line is %s; want %s ... (first line of man/%s.scd: %s(%s))\n' \
            "$page" "${th:-none}" "$want" "$page" "${name^^}" "$section" >&2
        bad=1
    fi
    # NAME: "name - what it is", the name being the page's.
    first=$(awk '/^\.SH NAME/ { on = 1; next }
                 on && /^[^.]/ { gsub(/\\&/, ""); print; exit }' "$f")
    if [[ $first != "$name - "* ]]; then
        printf '%s: NAME line is "%s"; want "%s - ..."\n' "$page" "$first" "$name" >&2
        bad=1
    fi
done
[[ $bad -eq 0 ]] || fail "man pages are not clean (messages above)"
echo "man pages lint clean: $P11JWT_MAN_PAGES"
