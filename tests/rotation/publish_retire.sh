#!/usr/bin/env bash
# publish_retire: publish_command runs after every change to the set of keys
# the STS should trust — a retire too, by `rotate auto` and by `rotate
# retire` — so the STS stops trusting a destroyed key at once; and auto's
# own stage and promote publish too.
set -euo pipefail
source "$(dirname "$0")/rlib.sh"

expect_exit 0 p11jwt keygen "${TOK[@]}" --alg ES384
first=$OUT
STS_PORT=9
# grace: long enough that the auto that promotes never also retires.
write_config "$first" "grace = 6s" "overlap = 1s" \
    "publish_command = cat > $T/jwks.out"

# published_kids — the kids of the last JWKS publish_command got, sorted.
published_kids() {
    "$PYTHON" -c 'import json,sys
print(" ".join(sorted(k["kid"] for k in json.load(open(sys.argv[1]))["keys"])))' "$T/jwks.out"
}

step "auto: promote, then (grace over) retire; the JWKS is published again"
expect_exit 0 rot stage
second=$(status_kid next)
sleep 2
expect_exit 0 rot auto                  # promotes; first becomes previous
grep -q "promoted" <<<"$OUT" || fail "auto did not promote: $OUT"
[[ $(published_kids) == "$(tr ' ' '\n' <<<"$first $second" | sort | tr '\n' ' ' | sed 's/ $//')" ]] ||
    fail "after promote the JWKS should hold both keys: $(published_kids)"
rm -f "$T/jwks.out"
sleep 7
expect_exit 0 rot auto                  # retires first
grep -q "retired '$first'" <<<"$OUT" || fail "auto did not retire: $OUT"
grep -q "published the JWKS" <<<"$OUT" || fail "auto retired without publishing: $OUT"
[[ -s $T/jwks.out ]] || fail "publish_command did not run after the retire"
[[ $(published_kids) == "$second" ]] || fail "published after retire: $(published_kids)"

step "rotate retire publishes too"
expect_exit 0 rot stage
third=$(status_kid next)
expect_exit 0 rot promote
rm -f "$T/jwks.out"
expect_exit 0 rot retire --kid "$second" --yes
[[ -s $T/jwks.out ]] || fail "publish_command did not run after rotate retire"
[[ $(published_kids) == "$third" ]] || fail "published after retire: $(published_kids)"

step "nothing retired, nothing published"
rm -f "$T/jwks.out"
expect_exit 0 rot auto
[[ -e $T/jwks.out ]] && fail "auto published with nothing changed"

step "auto stages a key when due, and publishes it"
echo "rotate_after = 1s" >>"$CONFIG"
sleep 2
expect_exit 0 rot auto
grep -q "staged" <<<"$OUT" || fail "auto did not stage: $OUT"
fourth=$(status_kid next)
[[ -s $T/jwks.out ]] || fail "publish_command did not run after auto's stage"
[[ $(published_kids) == "$(tr ' ' '\n' <<<"$third $fourth" | sort | tr '\n' ' ' | sed 's/ $//')" ]] ||
    fail "after auto's stage the JWKS should hold the active and the next key: $(published_kids)"
echo "every change to the trusted keys is published"
