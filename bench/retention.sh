#!/usr/bin/env bash
# The spool's size under a long constant load, with delivery and retention at work, and what
# that costs in acceptance against Postfix, in one run.
#
#   sudo bench/retention.sh          # 20 sessions x 50 KiB at 200 msgs/s for 12 min, retention 2m
#   RATE=200 MINUTES=12 RETENTION=2m SESSIONS=20 SIZE=50KiB BUILD=0 bench/retention.sh
#   MINUTES=4 RETENTION=1m bench/retention.sh    # a shorter run
#
# 1. Postfix's durable acceptance at full speed: `SERVERS=postfix ROUNDS=1 bench/run.sh` (20 s,
#    the same sessions and size; a throwaway Postfix on :2526, see run.sh).
# 2. trustgate on 127.0.0.1:2529 (release build, bench/trustgate-retention.toml: one webhook sink,
#    examples/webhook_receiver on :2581, `[spool] retention = RETENTION`) on a fresh spool, under
#    a constant load of RATE msgs/s (examples/smtp_load --rate, every message its own invoice)
#    for MINUTES, in 30-second steps. After each step: the spool's bytes on disk (du -sb: redb
#    file and bodies/), the messages it still holds (accepted minus the ones the retention task
#    logged as purged), and the live data: those messages times their size. The aim: disk at
#    most 1.5x the live data once the purge runs (the steps after RETENTION + 2 minutes), and the
#    disk size flat (the last step within 1.5x of the smallest after the purge began).
# 3. Halfway through, one step at full speed instead (no --rate, 20 s): trustgate's acceptance
#    while delivery and the purge work, against Postfix's from step 1.
# Writes bench/results/retention.json; stops everything it started. Needs root for Postfix
# (run.sh installs it when missing); POSTFIX=0 skips step 1. KEEP=1 keeps the temp dir.
set -euo pipefail

RATE=${RATE:-200}
MINUTES=${MINUTES:-12}
RETENTION=${RETENTION:-2m}
SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-50KiB}
KEEP=${KEEP:-0}
BUILD=${BUILD:-1}
POSTFIX=${POSTFIX:-1}
STEP=30
PORT=2529
HOOK_PORT=2581
export RATE MINUTES RETENTION SESSIONS SIZE

cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${OUT:-$ROOT/bench/results/retention.json}

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench/retention.sh: %s\n' "$*" >&2; exit 1; }

for p in $PORT $HOOK_PORT; do
    if (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
        die "127.0.0.1:$p is already in use; stop what listens there first"
    fi
done

LOAD=$ROOT/target/release/examples/smtp_load
HOOK=$ROOT/target/release/examples/webhook_receiver
TRUSTGATE=$ROOT/target/release/trustgate
if [ "$BUILD" = 1 ]; then
    say "building (cargo build --release --bins --examples)"
    cargo build --release --quiet --bins --examples
else
    [ -x "$LOAD" ] && [ -x "$TRUSTGATE" ] && [ -x "$HOOK" ] || die "BUILD=0 but a release binary is missing"
fi

WORK=$(mktemp -d /tmp/trustgate-retention.XXXXXX)
mkdir -p "$WORK/results"
TG_PID=
HOOK_PID=
cleanup() {
    set +e
    [ -n "$TG_PID" ] && kill -TERM "$TG_PID" 2>/dev/null && wait "$TG_PID" 2>/dev/null
    [ -n "$HOOK_PID" ] && kill "$HOOK_PID" 2>/dev/null && wait "$HOOK_PID" 2>/dev/null
    if [ "$KEEP" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

compilers() { ps -eo comm= | grep -cE '^(rustc|cargo|cc1|cc1plus|clippy-driver|ld|rust-lld)$' || true; }
[ "$(compilers)" = 0 ] || say "WARNING: compiler processes are running: these figures are not from a quiet machine"

if [ "$POSTFIX" = 1 ]; then
    say "step 1: Postfix at full speed (bench/run.sh, 20 s)"
    SERVERS=postfix ROUNDS=1 DURATION=20s BUILD=0 OUT="$WORK/postfix.json" bench/run.sh >"$WORK/postfix.out" 2>&1 \
        || die "the Postfix run failed: $(tail -5 "$WORK/postfix.out")"
fi

say "step 2: trustgate on 127.0.0.1:$PORT, retention $RETENTION, $RATE msgs/s for $MINUTES min"
"$HOOK" --listen 127.0.0.1:$HOOK_PORT >"$WORK/hook.log" 2>&1 &
HOOK_PID=$!
sed "s/^retention = .*/retention = \"$RETENTION\"/" bench/trustgate-retention.toml >"$WORK/trustgate.toml"
RUST_LOG=${RUST_LOG:-info} "$TRUSTGATE" serve --config "$WORK/trustgate.toml" >"$WORK/trustgate.log" 2>&1 &
TG_PID=$!
for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break
    kill -0 "$TG_PID" 2>/dev/null || die "trustgate exited: $(tail -3 "$WORK/trustgate.log")"
    sleep 0.1
done

STEPS=$((MINUTES * 60 / STEP))
BURST=$((STEPS / 2 + 1))
offset=0
START=$(date +%s)
printf '%5s %6s %5s %8s %8s %9s %9s %9s %7s %8s\n' step 'min' kind 'msgs/s' 'p99 ms' accepted purged 'disk MB' 'live MB' disk/live
for s in $(seq "$STEPS"); do
    if [ "$s" = "$BURST" ]; then
        kind=full
        args=(--duration 20s)
    else
        kind=rate
        args=(--duration ${STEP}s --rate "$RATE")
    fi
    "$LOAD" --addr 127.0.0.1:$PORT --label "step$s" --sessions "$SESSIONS" --size "$SIZE" \
        --warmup 0s --unique-invoices --invoice-offset "$offset" "${args[@]}" \
        --json >"$WORK/results/step.$s.json" 2>"$WORK/results/step.$s.err" \
        || die "step $s failed: $(tail -3 "$WORK/results/step.$s.err")"
    kill -0 "$TG_PID" 2>/dev/null || die "trustgate exited: $(tail -3 "$WORK/trustgate.log")"
    accepted=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["accepted_total"])' "$WORK/results/step.$s.json")
    offset=$((offset + accepted + 1000))
    # The purge removes body files while du walks the folder: what vanished is not counted.
    disk=$({ du -sb "$WORK/spool" 2>/dev/null || true; } | tail -1 | cut -f1)
    # The retention task logs each round: "retention: purged messages ... messages=N".
    purged=$({ grep -o 'purged messages past their retention messages=[0-9]*' "$WORK/trustgate.log" || true; } \
        | awk -F= '{ s += $2 } END { print s + 0 }')
    delivered=$(curl -s "http://127.0.0.1:$HOOK_PORT/stats" || echo '{}')
    printf '{"step": %s, "kind": "%s", "t_s": %s, "accepted": %s, "purged": %s, "disk_bytes": %s, "hook": %s}\n' \
        "$s" "$kind" "$(( $(date +%s) - START ))" "$accepted" "$purged" "$disk" "$delivered" >"$WORK/results/step.$s.disk"
    python3 - "$WORK/results" "$s" <<'PY'
import json, os, sys
d, s = sys.argv[1], int(sys.argv[2])
total = sum(json.load(open(os.path.join(d, f"step.{i}.disk")))["accepted"] for i in range(1, s + 1))
r = json.load(open(os.path.join(d, f"step.{s}.json")))
k = json.load(open(os.path.join(d, f"step.{s}.disk")))
live = (total - k["purged"]) * r["size_bytes"]
print(f"{s:>5} {k['t_s'] / 60:>6.1f} {k['kind']:>5} {r['msgs_per_s']:>8.0f} {r['latency_ms']['p99']:>8.2f} "
      f"{total:>9} {k['purged']:>9} {k['disk_bytes'] / 1e6:>9.1f} {live / 1e6:>9.1f} "
      f"{(k['disk_bytes'] / live if live else 0):>7.2f}")
PY
done

mkdir -p "$(dirname "$OUT")"
python3 - "$WORK" "$OUT" "$STEPS" <<'PY'
import datetime, json, os, re, sys
work, out, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
AIM = 1.5
size_s = os.environ["RETENTION"]
m = re.fullmatch(r"(\d+)([smh])", size_s)
retention_s = int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)] if m else 120
rows, total = [], 0
for s in range(1, steps + 1):
    r = json.load(open(f"{work}/results/step.{s}.json"))
    k = json.load(open(f"{work}/results/step.{s}.disk"))
    total += k["accepted"]
    live = (total - k["purged"]) * r["size_bytes"]
    rows.append({"step": s, "kind": k["kind"], "t_s": k["t_s"], "msgs_per_s": r["msgs_per_s"],
                 "latency_ms": r["latency_ms"], "errors_total": r["errors_total"],
                 "accepted_total": total, "purged_total": k["purged"], "disk_bytes": k["disk_bytes"],
                 "live_bytes": live, "disk_over_live": round(k["disk_bytes"] / live, 3) if live else None,
                 "webhook": k["hook"]})
# Once the purge runs: steps that end after the retention plus two of the task's minutes.
steady = [r for r in rows if r["t_s"] >= retention_s + 120 and r["kind"] == "rate"]
worst = max((r["disk_over_live"] for r in steady), default=None)
smallest = min((r["disk_bytes"] for r in steady), default=None)
last = rows[-1]
flat = round(last["disk_bytes"] / smallest, 3) if smallest else None
burst = next((r for r in rows if r["kind"] == "full"), None)
postfix = None
if os.path.exists(f"{work}/postfix.json"):
    p = json.load(open(f"{work}/postfix.json"))
    postfix = p["summary"]["postfix"]["msgs_per_s"]
ratio = round(burst["msgs_per_s"] / postfix, 3) if burst and postfix else None
print()
print(f"retention {size_s}, {os.environ['SESSIONS']} sessions x {os.environ['SIZE']} at "
      f"{os.environ['RATE']} msgs/s for {os.environ['MINUTES']} min: {total} messages, "
      f"{last['purged_total']} purged")
if worst is not None:
    print(f"disk/live once the purge runs: at most {worst:.2f}x (aim <= {AIM}x: "
          f"{'MET' if worst <= AIM else 'MISSED'}); last step's disk {last['disk_bytes'] / 1e6:.0f} MB, "
          f"{flat:.2f}x the smallest since the purge began")
if burst:
    print(f"full speed with delivery and retention at work: {burst['msgs_per_s']:.0f} msgs/s "
          f"(p99 {burst['latency_ms']['p99']:.2f} ms)" +
          (f"; Postfix {postfix:.0f} msgs/s in the same run: {ratio:.2f}x" if postfix else ""))
doc = {
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "machine": {"cores": os.cpu_count(), "kernel": os.uname().release},
    "params": {k: os.environ.get(k) for k in ("RATE", "MINUTES", "RETENTION", "SESSIONS", "SIZE")},
    "aim_disk_over_live": AIM,
    "summary": {"worst_disk_over_live_after_purge": worst, "last_over_smallest_disk": flat,
                "full_speed_msgs_per_s": burst["msgs_per_s"] if burst else None,
                "postfix_msgs_per_s": postfix, "ratio_to_postfix": ratio},
    "steps": rows,
}
json.dump(doc, open(out, "w"), indent=1)
print(f"wrote {out}")
PY
