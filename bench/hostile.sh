#!/usr/bin/env bash
# Peak memory per hostile message (issue 9, section 1): the worst case of each kind, each sent
# once to a fresh trustgate, its peak RSS growth against the message's size.
#
#   bench/hostile.sh                      # build, then every case (under a minute after the build)
#   BUILD=0 bench/hostile.sh              # use the release binaries already in target/
#   ONLY=bomb,parts bench/hostile.sh      # some cases (ids: bomb files needed needed200 tiny paired
#                                         #   parts fields recipients inspect)
#
# examples/hostile_rss does the work: for each case it starts, on 127.0.0.1 with port 0, the
# release `trustgate serve` on a config of its own (fresh spool in a temp dir, max_message_size
# "40MiB"), sends one ordinary invoice as a warm-up, reads VmHWM from /proc/<pid>/status, sends
# the hostile message over a raw SMTP socket, reads VmHWM and the spool's size on disk again,
# and stops the daemon with SIGTERM. The object-stream bomb also goes through `trustgate
# inspect` (peak RSS as the children's ru_maxrss, through python3). Writes
# bench/results/hostile.json (OUT=path.json) and prints a Markdown table.
#
# Needs no root and no fixed port; nothing listens beyond loopback. Memory: the largest case
# holds a few copies of a 34 MiB message in this program.
set -euo pipefail

BUILD=${BUILD:-1}
ONLY=${ONLY:-}

cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${OUT:-$ROOT/bench/results/hostile.json}

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench/hostile.sh: %s\n' "$*" >&2; exit 1; }

TRUSTGATE=$ROOT/target/release/trustgate
HOSTILE=$ROOT/target/release/examples/hostile_rss
if [ "$BUILD" = 1 ]; then
    say "building (cargo build --release --bins --examples)"
    cargo build --release --quiet --bins --examples
else
    [ -x "$HOSTILE" ] && [ -x "$TRUSTGATE" ] || die "BUILD=0 but $TRUSTGATE or $HOSTILE is missing"
    say "BUILD=0: using the existing release binaries"
fi
command -v python3 >/dev/null || die "python3 is needed (it measures trustgate inspect)"

compilers() { ps -eo comm= | grep -cE '^(rustc|cargo|cc1|cc1plus|clippy-driver|ld|rust-lld)$' || true; }
OTHERS=$(compilers)
say "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$OTHERS" = 0 ] || say "WARNING: $OTHERS compiler process(es) running: elapsed times are not from a quiet machine"

mkdir -p "$(dirname "$OUT")"
"$HOSTILE" --trustgate "$TRUSTGATE" --out "$OUT" ${ONLY:+--only "$ONLY"}
say "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
say "results in ${OUT#"$ROOT"/}"
