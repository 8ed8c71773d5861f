#!/usr/bin/env bash
# Where trustgate spends its CPU under the benchmark load: perf samples of the daemon only.
#
#   bench/profile.sh                          # 20 sessions x 50 KiB, 10 s of samples
#   SESSIONS=20 SIZE=50KiB SECONDS_=10 BUILD=0 bench/profile.sh
#
# Starts trustgate (release, bench/trustgate-bench.toml, spool in a temp dir) on 127.0.0.1:2525,
# runs examples/smtp_load against it, and while the load runs records `perf record -e cpu-clock
# --call-graph dwarf` of the daemon (cpu-clock: this VM has no hardware counters). Prints the
# CPU share by thread, the hottest functions (self time), and the share of the steps of the
# message path (inclusive time), then 3 s of the spool writer thread's system calls (perf trace
# -s: where its time goes while it holds every commit), and the group-commit sizes. Needs perf (Debian: linux-perf) and root. Writes perf.data
# into the temp dir; KEEP=1 keeps it for `perf report -i`.
set -euo pipefail

SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-50KiB}
SECONDS_=${SECONDS_:-10}
BUILD=${BUILD:-1}
KEEP=${KEEP:-0}
PORT=2525

cd "$(dirname "$0")/.."
ROOT=$(pwd)
die() { printf 'bench/profile.sh: %s\n' "$*" >&2; exit 1; }
command -v perf >/dev/null || die "perf is missing (apt-get install linux-perf)"
if (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then die "127.0.0.1:$PORT is already in use"; fi

LOAD=$ROOT/target/release/examples/smtp_load
TRUSTGATE=$ROOT/target/release/trustgate
if [ "$BUILD" = 1 ]; then cargo build --release --quiet --bin trustgate --example smtp_load; fi

WORK=$(mktemp -d /tmp/trustgate-profile.XXXXXX)
TG_PID=
cleanup() {
    set +e
    [ -n "$TG_PID" ] && kill -TERM "$TG_PID" 2>/dev/null && wait "$TG_PID" 2>/dev/null
    if [ "$KEEP" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cp bench/trustgate-bench.toml "$WORK/"
# Debug for the spool writer only: one line per group commit, to count messages per fsync.
RUST_LOG=${RUST_LOG:-info,trustgate::spool::writer=debug} "$TRUSTGATE" serve --config "$WORK/trustgate-bench.toml" >"$WORK/trustgate.log" 2>&1 &
TG_PID=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done

# Load for warm-up + samples + margin; perf attaches after the warm-up.
"$LOAD" --addr 127.0.0.1:$PORT --label trustgate --sessions "$SESSIONS" --size "$SIZE" \
    --warmup 2s --duration "$((SECONDS_ + 6))s" >"$WORK/load.txt" 2>&1 &
LOAD_PID=$!
sleep 2
# Per-thread CPU (utime + stime, 1/100 s) over the sampling window, by thread name.
threads() {
    for t in /proc/"$TG_PID"/task/*; do
        awk -v tid="${t##*/}" '{ match($0, /\(.*\)/); name = substr($0, RSTART + 1, RLENGTH - 2);
            sub(/.*\) /, ""); print tid, name, $12 + $13 }' "$t/stat" 2>/dev/null
    done
}
threads >"$WORK/threads.before"
COMMITS_BEFORE=$(grep -c 'spool transaction committed' "$WORK/trustgate.log" || true)
perf record -q -e cpu-clock -F 499 --call-graph dwarf,32768 -p "$TG_PID" -o "$WORK/perf.data" \
    -- sleep "$SECONDS_" >/dev/null 2>&1
threads >"$WORK/threads.after"
# Then 3 s of the spool writer's system calls (perf trace slows it down a little).
WRITER=$(grep -l '^spool-writer$' /proc/"$TG_PID"/task/*/comm 2>/dev/null | head -1 | cut -d/ -f5)
if [ -n "$WRITER" ]; then
    timeout 20 perf trace -s -t "$WRITER" -- sleep 3 >"$WORK/writer-syscalls.txt" 2>&1 || true
fi
wait "$LOAD_PID" || true
cat "$WORK/load.txt"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "== CPU by thread over the ${SECONDS_} s window (100 = one core busy all the time; perf's own cost included)"
awk -v secs="$SECONDS_" 'NR == FNR { before[$1] = $3; next }
    { used = $3 - before[$1]; by[$2] += used; n[$2]++ }
    END { for (k in by) printf "  %-18s %3d thread(s) %6.1f%%\n", k, n[k], by[k] / secs }' \
    "$WORK/threads.before" "$WORK/threads.after" | sort -k4 -rn
grep 'spool transaction committed' "$WORK/trustgate.log" | tail -n +"$((COMMITS_BEFORE + 1))" |
    sed -n 's/.*messages[^0-9]*\([0-9][0-9]*\).*/\1/p' |
    awk '{ n++; m += $1; if ($1 > max) max = $1 } END { if (n) printf "  group commits: %d, %.1f messages each on average, largest %d\n", n, m / n, max }'

report() { perf report -i "$WORK/perf.data" --stdio "$@" 2>/dev/null | grep -E "^ +[0-9]" | sed "s/ *$//"; }

set +o pipefail  # `| head` below cuts perf's output short on purpose
echo
echo "== the spool writer's system calls over 3 s (time in ms; the writer is one thread)"
grep -E '^ +(syscall|-----|[a-z_0-9]+ +[0-9])' "$WORK/writer-syscalls.txt" | head -8
echo
echo "== CPU by thread (share of trustgate's samples)"
report --no-children --sort comm -g none | head -8
echo
echo "== hottest functions, self time"
report --no-children --sort dso,sym -g none | head -25
echo
echo "== steps of the message path, inclusive time"
STEPS='trustgate::smtp::conn::|trustgate::smtp::session::data::DataDecoder::decode|trustgate::spool::staging|trustgate::gateway::judge$|trustgate::intake::mime::parse_message$|decode_base64_mime$|trustgate::intake::pairing::pair$|trustgate::invoice::inspect|trustgate::spool::writer::prepare|trustgate::spool::writer::run$|redb::transactions::WriteTransaction::commit_with$|redb::table::Table<K,V>::insert$|sync_data|sha2::|tokio::net::tcp::stream::TcpStream::poll_write_priv$|tokio::net::tcp::stream::TcpStream::poll_read_priv$|tcp_recvmsg$|tcp_sendmsg$'
report --children --sort sym -g none | grep -v inlined | grep -E "$STEPS" | head -30
