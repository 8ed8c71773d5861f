#!/usr/bin/env bash
# Cost as the spool grows: one trustgate, one spool, batch after batch of distinct invoices.
#
#   bench/growth.sh                       # 20 sessions x 50 KiB, batches of 2,000 to 20,000 msgs
#   N=20000 BATCH=2000 SESSIONS=20 SIZE=50KiB BUILD=0 bench/growth.sh      # the same, spelled out
#   N=400 BATCH=200 bench/growth.sh       # a smoke run (seconds)
#
# Starts, on 127.0.0.1 only, trustgate :2525 (release build, bench/trustgate-bench.toml: no
# sinks, a fresh spool in a temp dir) and keeps it running for the whole test. Then drives it
# with examples/smtp_load in batches of BATCH messages (--messages BATCH --warmup 0s, every
# message its own invoice: --unique-invoices with an --invoice-offset per batch, so no message
# is a duplicate of an earlier batch's) until the spool holds at least N messages. After each
# batch it prints that batch's msgs/s, p50 and p99 end-of-data latency, trustgate's CPU per
# message and RSS, and the spool's size on disk (du -sb of the spool directory: spool.redb plus
# bodies/) against the bytes received so far (accepted messages x SIZE). At the end: the last
# batch's msgs/s against the first's (aim: within 10 %, i.e. >= 0.90) and the final
# disk/received ratio (aim: <= 1.5x). Writes bench/results/growth.json and stops everything it
# started.
#
# Needs nothing but a free 127.0.0.1:2525 (no root). THRESHOLD=0 sets [spool]
# large_body_threshold (0: every body in its own file beside the database). Other env vars: KEEP=1 (keep the temp dir
# with the spool and log), OUT=path.json, BUILD=0 (use the release binaries already in target/
# instead of `cargo build --release --bins --examples`).
set -euo pipefail

N=${N:-20000}
BATCH=${BATCH:-2000}
SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-50KiB}
KEEP=${KEEP:-0}
BUILD=${BUILD:-1}
PORT=2525
export N BATCH SESSIONS SIZE

cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${OUT:-$ROOT/bench/results/growth.json}

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench/growth.sh: %s\n' "$*" >&2; exit 1; }

[ "$BATCH" -ge 1 ] && [ "$N" -ge "$BATCH" ] || die "need N >= BATCH >= 1"
# Invoice numbers are session * 1,000,000 + offset + sequence: the offsets must stay below that.
[ "$N" -lt 900000 ] || die "N must stay below 900000 (invoice numbers per session)"
if (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then
    die "127.0.0.1:$PORT is already in use; stop what listens there first"
fi

LOAD=$ROOT/target/release/examples/smtp_load
TRUSTGATE=$ROOT/target/release/trustgate
if [ "$BUILD" = 1 ]; then
    say "building (cargo build --release --bins --examples)"
    cargo build --release --quiet --bins --examples
else
    [ -x "$LOAD" ] && [ -x "$TRUSTGATE" ] || die "BUILD=0 but $TRUSTGATE or $LOAD is missing"
    say "BUILD=0: using the existing release binaries"
fi

WORK=$(mktemp -d /tmp/trustgate-growth.XXXXXX)
TG_PID=
cleanup() {
    set +e
    [ -n "$TG_PID" ] && kill -TERM "$TG_PID" 2>/dev/null && wait "$TG_PID" 2>/dev/null
    if [ "$KEEP" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cp bench/trustgate-bench.toml "$WORK/"
if [ -n "${THRESHOLD:-}" ]; then
    # Bodies above THRESHOLD go to their own file under bodies/ (0: every body, as Postfix
    # keeps one queue file per message); the database keeps records, indexes and the queue.
    sed -i "s/^\[spool\]\$/[spool]\nlarge_body_threshold = \"$THRESHOLD\"/" "$WORK/trustgate-bench.toml"
    grep -q "large_body_threshold = \"$THRESHOLD\"" "$WORK/trustgate-bench.toml" || die "cannot set THRESHOLD"
fi
say "starting trustgate on 127.0.0.1:$PORT (spool in $WORK/spool)"
RUST_LOG=${RUST_LOG:-info} "$TRUSTGATE" serve --config "$WORK/trustgate-bench.toml" \
    >"$WORK/trustgate.log" 2>&1 &
TG_PID=$!
for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break
    kill -0 "$TG_PID" 2>/dev/null || die "trustgate exited: $(tail -3 "$WORK/trustgate.log")"
    sleep 0.1
done
(exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null || die "trustgate did not listen within 10 s"

proc_cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
compilers() { ps -eo comm= | grep -cE '^(rustc|cargo|cc1|cc1plus|clippy-driver|ld|rust-lld)$' || true; }

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
OTHERS=$(compilers)
say "load average before: $LOAD_BEFORE"
[ "$OTHERS" = 0 ] || say "WARNING: $OTHERS compiler process(es) running: these figures are not from a quiet machine"
mkdir -p "$WORK/results"
printf '%5s %8s %8s %7s %7s %8s %6s %10s %10s %10s %7s %7s\n' batch msgs msgs/s 'p50 ms' 'p99 ms' \
    'CPU ms' 'RSS' 'disk MB' 'alloc MB' 'recv MB' disk/rx errors
b=0
total=0
MAX_COMPILERS=$OTHERS
while [ "$total" -lt "$N" ]; do
    b=$((b + 1))
    CPU_BEFORE=$(proc_cpu_ticks "$TG_PID")
    "$LOAD" --addr 127.0.0.1:$PORT --label "batch$b" --sessions "$SESSIONS" --size "$SIZE" \
        --messages "$BATCH" --warmup 0s --unique-invoices --invoice-offset $(( (b - 1) * BATCH )) \
        --json >"$WORK/results/batch.$b.json" 2>"$WORK/results/batch.$b.err" \
        || die "batch $b failed: $(tail -3 "$WORK/results/batch.$b.err")"
    CPU_TICKS=$(( $(proc_cpu_ticks "$TG_PID") - CPU_BEFORE ))
    kill -0 "$TG_PID" 2>/dev/null || die "trustgate exited: $(tail -3 "$WORK/trustgate.log")"
    SPOOL_BYTES=$(du -sb "$WORK/spool" | cut -f1)
    SPOOL_ALLOC=$(du -s --block-size=1 "$WORK/spool" | cut -f1)   # redb's file may be sparse
    REDB_BYTES=$(stat -c %s "$WORK/spool/spool.redb" 2>/dev/null || echo 0)
    BODIES_BYTES=$(du -sb "$WORK/spool/bodies" 2>/dev/null | cut -f1)
    RSS_KB=$(status_kb "$TG_PID" VmRSS)
    HWM_KB=$(status_kb "$TG_PID" VmHWM)
    C=$(compilers)
    [ "$C" -gt "$MAX_COMPILERS" ] && MAX_COMPILERS=$C
    # One line per batch, for the reporter and for the eye.
    { read -r accepted; IFS= read -r line; } < <(python3 - "$WORK/results/batch.$b.json" "$total" "$SPOOL_BYTES" \
        "$CPU_TICKS" "$RSS_KB" "$b" "$SPOOL_ALLOC" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
total = int(sys.argv[2]) + r["accepted_total"]
spool, ticks, rss, b = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
alloc = int(sys.argv[7])
rx = total * r["size_bytes"]
cpu = ticks * 10.0 / r["accepted_total"] if r["accepted_total"] else 0
print(r["accepted_total"])
print(f"{b:>5} {total:>8} {r['msgs_per_s']:>8.0f} {r['latency_ms']['p50']:>7.2f} "
      f"{r['latency_ms']['p99']:>7.2f} {cpu:>8.3f} {rss // 1024:>5}M {spool / 1e6:>10.1f} "
      f"{alloc / 1e6:>10.1f} {rx / 1e6:>10.1f} {spool / rx:>7.2f} {r['errors_total']:>7}")
PY
)
    printf '%s\n' "$line"
    total=$((total + accepted))
    printf '{"batch": %s, "spool_messages": %s, "trustgate_cpu_ticks": %s, "spool_bytes": %s, "spool_allocated_bytes": %s, "redb_bytes": %s, "bodies_bytes": %s, "rss_kb": %s, "hwm_kb": %s, "compilers": %s}\n' \
        "$b" "$total" "$CPU_TICKS" "$SPOOL_BYTES" "$SPOOL_ALLOC" "$REDB_BYTES" "${BODIES_BYTES:-0}" "$RSS_KB" "$HWM_KB" "$C" \
        >"$WORK/results/batch.$b.disk"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
[ "$MAX_COMPILERS" = 0 ] || say "WARNING: up to $MAX_COMPILERS compiler process(es) ran during the test"

mkdir -p "$(dirname "$OUT")"
export LOAD_BEFORE LOAD_AFTER OTHERS MAX_COMPILERS
python3 - "$WORK/results" "$OUT" "$b" <<'PY'
import datetime, json, os, sys
results, out, batches = sys.argv[1], sys.argv[2], int(sys.argv[3])
AIM_LAST_OVER_FIRST = 0.90   # the last batch's msgs/s within 10 % of the first's
AIM_DISK_OVER_RECEIVED = 1.5  # spool bytes on disk at most 1.5x the bytes received
rows = []
for b in range(1, batches + 1):
    r = json.load(open(os.path.join(results, f"batch.{b}.json")))
    d = json.load(open(os.path.join(results, f"batch.{b}.disk")))
    received = d["spool_messages"] * r["size_bytes"]
    rows.append({
        "batch": b,
        "accepted": r["accepted_total"],
        "spool_messages": d["spool_messages"],
        "msgs_per_s": r["msgs_per_s"],
        "latency_ms": r["latency_ms"],
        "errors_total": r["errors_total"],
        "errors": r["errors"],
        "trustgate_cpu_ms_per_msg": round(d["trustgate_cpu_ticks"] * 10.0 / r["accepted_total"], 3)
            if r["accepted_total"] else None,
        "spool_bytes": d["spool_bytes"],
        "spool_allocated_bytes": d["spool_allocated_bytes"],
        "redb_bytes": d["redb_bytes"],
        "bodies_bytes": d["bodies_bytes"],
        "received_bytes": received,
        "disk_over_received": round(d["spool_bytes"] / received, 3) if received else None,
        "allocated_over_received": round(d["spool_allocated_bytes"] / received, 3) if received else None,
        "rss_kb": d["rss_kb"],
        "hwm_kb": d["hwm_kb"],
        "compilers_after": d["compilers"],
    })
first, last = rows[0], rows[-1]
ratio = round(last["msgs_per_s"] / first["msgs_per_s"], 3) if first["msgs_per_s"] else None
disk = last["disk_over_received"]
print()
print(f"growth: {last['spool_messages']} messages of {os.environ.get('SIZE', '50KiB')} in {batches} "
      f"batches of {os.environ.get('BATCH')}, {os.environ.get('SESSIONS')} sessions, load average "
      f"before {os.environ['LOAD_BEFORE']}, after {os.environ['LOAD_AFTER']}")
print(f"first batch {first['msgs_per_s']:.0f} msgs/s (p99 {first['latency_ms']['p99']:.2f} ms), "
      f"last batch {last['msgs_per_s']:.0f} msgs/s (p99 {last['latency_ms']['p99']:.2f} ms): "
      f"last/first {ratio:.2f}")
print(f"spool on disk {last['spool_bytes'] / 1e6:.1f} MB (spool.redb {last['redb_bytes'] / 1e6:.1f} MB, "
      f"bodies/ {last['bodies_bytes'] / 1e6:.1f} MB; {last['spool_allocated_bytes'] / 1e6:.1f} MB "
      f"allocated) for {last['received_bytes'] / 1e6:.1f} MB received: {disk:.2f}x "
      f"({last['allocated_over_received']:.2f}x allocated); trustgate peak RSS "
      f"{last['hwm_kb'] // 1024} MiB")
met_speed = ratio is not None and ratio >= AIM_LAST_OVER_FIRST
met_disk = disk is not None and disk <= AIM_DISK_OVER_RECEIVED
print(f"aim (last batch within 10 % of the first): {'MET' if met_speed else 'MISSED'} ({ratio:.2f})")
print(f"aim (disk <= {AIM_DISK_OVER_RECEIVED}x received): {'MET' if met_disk else 'MISSED'} ({disk:.2f}x)")
print()
doc = {
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "machine": {"cores": os.cpu_count(), "kernel": os.uname().release},
    "params": {k: os.environ.get(k) for k in ("N", "BATCH", "SESSIONS", "SIZE")},
    "info": {
        "load_before": os.environ["LOAD_BEFORE"], "load_after": os.environ["LOAD_AFTER"],
        "compilers_running_at_start": int(os.environ["OTHERS"]),
        "compilers_seen_during": int(os.environ["MAX_COMPILERS"]),
        "commit": os.popen("git rev-parse --short HEAD 2>/dev/null").read().strip()
            + ("" if os.system("git diff --quiet -- src 2>/dev/null") == 0 else "+dirty-src"),
    },
    "batches": rows,
    "last_over_first": ratio,
    "disk_over_received": disk,
    "allocated_over_received": last["allocated_over_received"],
    "aim": {
        "want_last_over_first": AIM_LAST_OVER_FIRST, "met_last_over_first": met_speed,
        "want_disk_over_received_at_most": AIM_DISK_OVER_RECEIVED, "met_disk": met_disk,
    },
}
with open(out, "w") as f:
    json.dump(doc, f, indent=2, sort_keys=True)
    f.write("\n")
PY
say "results in ${OUT#"$ROOT"/}"
