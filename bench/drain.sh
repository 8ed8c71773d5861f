#!/usr/bin/env bash
# Drain rate: how fast trustgate empties a backlog of N documents into a webhook that comes back,
# against the ceiling of the same receiver driven by a plain HTTP load generator.
#
#   bench/drain.sh                        # N=50000 documents of a 50 KiB mail, concurrency 4
#   N=50000 SESSIONS=20 SIZE=50KiB CONCURRENCY=4 CEILING=10s BUILD=0 bench/drain.sh
#   N=500 CEILING=3s bench/drain.sh       # a smoke run (seconds)
#
# On 127.0.0.1 only:
#   1. starts trustgate :2525 (release build, bench/trustgate-drain.toml: one webhook sink to
#      127.0.0.1:2582, where nothing listens yet; concurrency and workers = CONCURRENCY; back-off
#      1s at most) on a fresh spool in a temp dir;
#   2. queues N documents with examples/smtp_load (SESSIONS sessions, --messages N --warmup 0s,
#      every message its own invoice), while every delivery attempt is refused and the sink is
#      paused (it probes once a second);
#   3. starts examples/webhook_receiver on :2582 (answers 200; dumps the first body) and times
#      the drain until it has seen every document's webhook-id, sampling trustgate's RSS every
#      200 ms (its peak, VmHWM, is reset when the drain starts) and its CPU;
#   4. stops trustgate, checks the spool's delivery states (`trustgate spool list --json`;
#      SPOOL_STATES=0 skips it), then runs wrk (apt-get install wrk when missing) against the
#      same receiver for CEILING with CONCURRENCY connections, posting the captured body with
#      its Content-Type: the ceiling of this receiver on this machine for that body.
# Prints the drain in docs/s (first to last POST, and from the receiver's start), the ceiling in
# req/s, their ratio (aim: >= 0.5), the aim of 2,000 docs/s, trustgate's CPU per document and its
# peak RSS, writes bench/results/drain.json and stops everything it started.
#
# The body of each POST is the JSON envelope with the XML and the PDF in base64: with smtp_load's
# mail (a 4.7 KB XML and a PDF that pads the mail to SIZE) it is about SIZE, i.e. about 50 KB
# at 50 KiB; SIZE=8KiB gives a few-KB webhook body instead (a mail with a small PDF).
#
# Needs free ports 127.0.0.1:2525 and :2582, and root only to install wrk when it is missing.
# Other env vars: DRAIN_TIMEOUT=900 (seconds), KEEP=1 (keep the temp dir with the spool, logs
# and samples), OUT=path.json, BUILD=0 (use the release binaries already in target/ instead
# of `cargo build --release --bins --examples`).
set -euo pipefail

N=${N:-50000}
SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-50KiB}
CONCURRENCY=${CONCURRENCY:-4}
CEILING=${CEILING:-10s}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-900}
SPOOL_STATES=${SPOOL_STATES:-1}
KEEP=${KEEP:-0}
BUILD=${BUILD:-1}
PORT=2525
HOOK_PORT=2582

cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${OUT:-$ROOT/bench/results/drain.json}

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench/drain.sh: %s\n' "$*" >&2; exit 1; }

[ "$N" -ge 1 ] && [ "$N" -lt 900000 ] || die "N must be from 1 to 899999"
for port in $PORT $HOOK_PORT; do
    if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
        die "127.0.0.1:$port is already in use; stop what listens there first"
    fi
done
if ! command -v wrk >/dev/null; then
    [ "$(id -u)" = 0 ] || die "wrk is missing: apt-get install wrk (or run as root)"
    say "installing wrk"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null \
        || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null; } \
        || die "cannot install wrk"
fi

LOAD=$ROOT/target/release/examples/smtp_load
HOOK=$ROOT/target/release/examples/webhook_receiver
TRUSTGATE=$ROOT/target/release/trustgate
if [ "$BUILD" = 1 ]; then
    say "building (cargo build --release --bins --examples)"
    cargo build --release --quiet --bins --examples
else
    [ -x "$LOAD" ] && [ -x "$TRUSTGATE" ] && [ -x "$HOOK" ] \
        || die "BUILD=0 but $TRUSTGATE, $LOAD or $HOOK is missing"
    say "BUILD=0: using the existing release binaries"
fi

WORK=$(mktemp -d /tmp/trustgate-drain.XXXXXX)
TG_PID=
HOOK_PID=
SAMPLER_PID=
cleanup() {
    set +e
    [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null && wait "$SAMPLER_PID" 2>/dev/null
    [ -n "$TG_PID" ] && kill -TERM "$TG_PID" 2>/dev/null && wait "$TG_PID" 2>/dev/null
    [ -n "$HOOK_PID" ] && kill -TERM "$HOOK_PID" 2>/dev/null && wait "$HOOK_PID" 2>/dev/null
    if [ "$KEEP" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() {  # wait_port PORT NAME PID: up to 10 s
    for _ in $(seq 100); do
        (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || die "$2 exited (logs in $WORK; KEEP=1 keeps them)"
        sleep 0.1
    done
    die "$2 did not listen on 127.0.0.1:$1 within 10 s (logs in $WORK; KEEP=1 keeps them)"
}
now() { date +%s.%N; }
proc_cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
thread_ticks() {  # thread_ticks PID: "NAME TICKS" per thread name (tokio workers summed)
    for t in /proc/"$1"/task/*; do
        printf '%s %s\n' "$(tr ' ' _ <"$t/comm")" "$(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "$t/stat")"
    done 2>/dev/null | awk '{ s[$1] += $2 } END { for (k in s) print k, s[k] }'
}
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
hook_stat() {  # hook_stat FIELD
    curl -s --max-time 5 "http://127.0.0.1:$HOOK_PORT/stats" \
        | python3 -c "import json,sys; print(json.load(sys.stdin).get('$1') or 0)"
}
compilers() { ps -eo comm= | grep -cE '^(rustc|cargo|cc1|cc1plus|clippy-driver|ld|rust-lld)$' || true; }

# --- 1. trustgate with a sink that is down ----------------------------------------------------
CONF=$WORK/trustgate-drain.toml
sed -e "s/^concurrency = .*/concurrency = $CONCURRENCY/" -e "s/^workers = .*/workers = $CONCURRENCY/" \
    bench/trustgate-drain.toml >"$CONF"
say "starting trustgate on 127.0.0.1:$PORT (webhook sink to 127.0.0.1:$HOOK_PORT, down; concurrency $CONCURRENCY)"
RUST_LOG=${RUST_LOG:-info} "$TRUSTGATE" serve --config "$CONF" >"$WORK/trustgate.log" 2>&1 &
TG_PID=$!
wait_port $PORT trustgate "$TG_PID"

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
OTHERS=$(compilers)
say "load average before: $LOAD_BEFORE"
[ "$OTHERS" = 0 ] || say "WARNING: $OTHERS compiler process(es) running: these figures are not from a quiet machine"

# --- 2. queue N documents ---------------------------------------------------------------------
say "queueing $N documents ($SESSIONS sessions x $SIZE, distinct invoices)"
"$LOAD" --addr 127.0.0.1:$PORT --label queue --sessions "$SESSIONS" --size "$SIZE" \
    --messages "$N" --warmup 0s --unique-invoices --json >"$WORK/queue.json" 2>"$WORK/queue.err" \
    || die "queueing failed: $(tail -3 "$WORK/queue.err")"
cat "$WORK/queue.err" >&2
QUEUED=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['accepted_total'])" "$WORK/queue.json")
[ "$QUEUED" -ge 1 ] || die "no document was queued"
(exec 3<>/dev/tcp/127.0.0.1/$HOOK_PORT) 2>/dev/null && die "something listens on :$HOOK_PORT during the queueing"
FAILED_ATTEMPTS=$(grep -c 'will retry' "$WORK/trustgate.log" || true)
say "$QUEUED documents queued; $FAILED_ATTEMPTS refused attempts while the sink was down"

# --- 3. the drain -------------------------------------------------------------------------------
# Peak RSS from here on: writing 5 to clear_refs resets VmHWM (Linux >= 4.0).
HWM_RESET=0
echo 5 >"/proc/$TG_PID/clear_refs" 2>/dev/null && HWM_RESET=1
RSS_START_KB=$(status_kb "$TG_PID" VmRSS)
HWM_BEFORE_KB=$(status_kb "$TG_PID" VmHWM)
CPU_BEFORE=$(proc_cpu_ticks "$TG_PID")
thread_ticks "$TG_PID" >"$WORK/threads.before"
IO_BEFORE=$(awk '$1 == "write_bytes:" { print $2 }' "/proc/$TG_PID/io" 2>/dev/null || echo 0)
( while kill -0 "$TG_PID" 2>/dev/null; do
      printf '%s %s\n' "$(now)" "$(status_kb "$TG_PID" VmRSS)"
      sleep 0.2
  done >"$WORK/rss.samples" ) &
SAMPLER_PID=$!
T0=$(now)
"$HOOK" --listen 127.0.0.1:$HOOK_PORT --dump-first "$WORK/body" \
    >"$WORK/webhook_receiver.out" 2>"$WORK/webhook_receiver.log" &
HOOK_PID=$!
wait_port $HOOK_PORT webhook_receiver "$HOOK_PID"
say "receiver up; draining $QUEUED documents (timeout ${DRAIN_TIMEOUT}s)"
DEADLINE=$(( $(date +%s) + DRAIN_TIMEOUT ))
NEXT_SAY=$(( $(date +%s) + 5 ))
SEEN=0
while :; do
    SEEN=$(hook_stat distinct_webhook_ids)
    printf '%s %s\n' "$(now)" "$SEEN" >>"$WORK/progress.samples"
    [ "$SEEN" -ge "$QUEUED" ] && break
    kill -0 "$TG_PID" 2>/dev/null || die "trustgate exited during the drain: $(tail -3 "$WORK/trustgate.log")"
    if [ "$(date +%s)" -ge "$DEADLINE" ]; then
        say "WARNING: drain timeout: $SEEN of $QUEUED delivered after ${DRAIN_TIMEOUT}s"
        break
    fi
    if [ "$(date +%s)" -ge "$NEXT_SAY" ]; then
        say "  $SEEN of $QUEUED delivered"
        NEXT_SAY=$(( $(date +%s) + 5 ))
    fi
    sleep 0.2
done
T_DONE=$(now)
CPU_TICKS=$(( $(proc_cpu_ticks "$TG_PID") - CPU_BEFORE ))
thread_ticks "$TG_PID" >"$WORK/threads.after"
IO_WRITTEN=$(( $(awk '$1 == "write_bytes:" { print $2 }' "/proc/$TG_PID/io" 2>/dev/null || echo 0) - IO_BEFORE ))
HWM_KB=$(status_kb "$TG_PID" VmHWM)
RSS_END_KB=$(status_kb "$TG_PID" VmRSS)
COMPILERS_DURING=$(compilers)
kill "$SAMPLER_PID" 2>/dev/null; wait "$SAMPLER_PID" 2>/dev/null || true; SAMPLER_PID=
curl -s --max-time 5 "http://127.0.0.1:$HOOK_PORT/stats" >"$WORK/drain.stats.json"
kill -TERM "$TG_PID" 2>/dev/null && wait "$TG_PID" 2>/dev/null || true
TG_PID=
say "trustgate stopped"

STATES=null
if [ "$SPOOL_STATES" = 1 ]; then
    STATES=$("$TRUSTGATE" spool list --json --config "$CONF" 2>"$WORK/spool-list.err" \
        | python3 bench/spool_states.py) \
        || { say "WARNING: spool list failed: $(tail -2 "$WORK/spool-list.err")"; STATES=null; }
fi
printf '%s\n' "$STATES" >"$WORK/spool_states.json"

# --- 4. the ceiling: the same receiver, the same body, the same concurrency ------------------
[ -s "$WORK/body" ] || die "the receiver captured no body"
CONTENT_TYPE=$(cat "$WORK/body.content-type")
cat >"$WORK/post.lua" <<EOF
local f = assert(io.open("$WORK/body", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "$CONTENT_TYPE"
EOF
POSTS_BEFORE=$(hook_stat posts)
BYTES_BEFORE=$(hook_stat body_bytes)
say "ceiling: wrk -t1 -c$CONCURRENCY -d$CEILING, $(stat -c %s "$WORK/body")-byte $CONTENT_TYPE body"
wrk -t1 -c"$CONCURRENCY" -d"$CEILING" --latency -s "$WORK/post.lua" \
    "http://127.0.0.1:$HOOK_PORT/hooks/invoices" >"$WORK/wrk.txt" 2>&1 || die "wrk failed: $(cat "$WORK/wrk.txt")"
POSTS_CEILING=$(( $(hook_stat posts) - POSTS_BEFORE ))
BYTES_CEILING=$(( $(hook_stat body_bytes) - BYTES_BEFORE ))
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
kill -TERM "$HOOK_PID" 2>/dev/null && wait "$HOOK_PID" 2>/dev/null || true
HOOK_PID=

# --- report -------------------------------------------------------------------------------------
mkdir -p "$(dirname "$OUT")"
export N SESSIONS SIZE CONCURRENCY CEILING QUEUED FAILED_ATTEMPTS T0 T_DONE CPU_TICKS HWM_KB \
    HWM_RESET HWM_BEFORE_KB RSS_START_KB RSS_END_KB IO_WRITTEN POSTS_CEILING BYTES_CEILING LOAD_BEFORE LOAD_AFTER OTHERS \
    COMPILERS_DURING WORK
python3 - "$OUT" <<'PY'
import datetime, json, os, re, sys

AIM_RATIO = 0.5       # drain docs/s at least half the receiver's ceiling
AIM_DOCS_PER_S = 2000  # the drain rate aimed at
e = os.environ
w = e["WORK"]
out = sys.argv[1]
queue = json.load(open(f"{w}/queue.json"))
stats = json.load(open(f"{w}/drain.stats.json"))
states = json.load(open(f"{w}/spool_states.json"))
queued = int(e["QUEUED"])
t0, t_done = float(e["T0"]), float(e["T_DONE"])
first = (stats.get("first_post_unix_ms") or 0) / 1000
last = (stats.get("last_post_unix_ms") or 0) / 1000
delivered = stats["distinct_webhook_ids"]
span = last - first if last > first else None
rate_first_last = (delivered - 1) / span if span else None
rate_from_start = delivered / (last - t0) if last > t0 else None

rss = []
for line in open(f"{w}/rss.samples"):
    parts = line.split()
    if len(parts) == 2 and parts[1].isdigit():
        rss.append((float(parts[0]), int(parts[1])))
in_drain = [kb for t, kb in rss if t0 <= t <= t_done] or [kb for _, kb in rss]
progress = []
for line in open(f"{w}/progress.samples"):
    t, n = line.split()
    progress.append([round(float(t) - t0, 2), int(n)])

wrk_txt = open(f"{w}/wrk.txt").read()
def grab(pattern, text=wrk_txt, conv=float):
    m = re.search(pattern, text)
    return conv(m.group(1)) if m else None
def ms(v, unit):
    return v * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
wrk_lat = {}
for pct in ("50", "75", "90", "99"):
    m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", wrk_txt, re.M)
    if m:
        wrk_lat["p" + pct] = round(ms(float(m.group(1)), m.group(2)), 3)
ceiling = grab(r"Requests/sec:\s+([\d.]+)")
non2xx = grab(r"Non-2xx or 3xx responses:\s+(\d+)", conv=int) or 0
ratio = rate_first_last / ceiling if rate_first_last and ceiling else None
cpu_ms = int(e["CPU_TICKS"]) * 10.0 / delivered if delivered else None
def ticks(path):
    d = {}
    for line in open(path):
        k, v = line.split()
        d[k] = int(v)
    return d
tb, ta = ticks(f"{w}/threads.before"), ticks(f"{w}/threads.after")
drain_s = max(t_done - t0, 1e-9)
threads = {k: round((ta[k] - tb.get(k, 0)) * 10.0 / 1000 / drain_s * 100, 1) for k in ta
           if ta[k] - tb.get(k, 0) > 0}
io_per_doc = int(e["IO_WRITTEN"]) / delivered if delivered else None
# The steady rate: between 10 % and 90 % of the documents delivered (interpolated from the
# 200 ms progress samples), free of the wait for the paused sink's next probe at the start.
def when(n):
    prev = None
    for t, k in progress:
        if k >= n:
            if prev is None or k == prev[1]:
                return t
            return prev[0] + (t - prev[0]) * (n - prev[1]) / (k - prev[1])
        prev = (t, k)
    return None
t10, t90 = when(0.1 * queued), when(0.9 * queued)
rate_steady = 0.8 * queued / (t90 - t10) if t10 is not None and t90 is not None and t90 > t10 else None
body_bytes = os.path.getsize(f"{w}/body")

def f0(x):
    return f"{x:,.0f}" if x is not None else "-"
print()
print(f"drain: {queued} documents ({e['SIZE']} mails, {body_bytes:,}-byte webhook bodies), sink "
      f"concurrency {e['CONCURRENCY']}, load average before {e['LOAD_BEFORE']}, after {e['LOAD_AFTER']}")
print(f"queueing with the sink down: {queue['msgs_per_s']:,.0f} msgs/s, p99 "
      f"{queue['latency_ms']['p99']:.2f} ms, errors {queue['errors_total']}; "
      f"{e['FAILED_ATTEMPTS']} refused attempts meanwhile")
head = f"{'':<34} {'docs/s':>9} {'p50 ms':>7} {'p99 ms':>7}"
print(head)
print("-" * len(head))
print(f"{'trustgate drain (first-last POST)':<34} {f0(rate_first_last):>9} {'-':>7} {'-':>7}")
print(f"{'trustgate drain (10 %-90 %)':<34} {f0(rate_steady):>9} {'-':>7} {'-':>7}")
print(f"{'trustgate drain (from receiver up)':<34} {f0(rate_from_start):>9} {'-':>7} {'-':>7}")
print(f"{'ceiling: wrk, same receiver+body':<34} {f0(ceiling):>9} "
      f"{wrk_lat.get('p50', 0):>7.2f} {wrk_lat.get('p99', 0):>7.2f}")
print(f"delivered {delivered} of {queued} (distinct webhook-ids; {stats['posts']} POSTs, "
      f"{stats['duplicate_webhook_ids']} repeats) in {last - t0:.1f} s from the receiver's start"
      f" (first POST after {first - t0:.2f} s)")
if states:
    print(f"spool after the daemon stopped: {states.get('deliveries')}")
print(f"trustgate during the drain: {(cpu_ms or 0):.3f} ms CPU/doc; RSS {int(e['RSS_START_KB']) // 1024} MiB"
      f" at the start, {min(in_drain) // 1024}-{max(in_drain) // 1024} MiB sampled every 200 ms, "
      f"{int(e['RSS_END_KB']) // 1024} MiB at the end; peak (VmHWM"
      f"{' since the drain began' if e['HWM_RESET'] == '1' else ', whole life'}) "
      f"{int(e['HWM_KB']) // 1024} MiB")
print(f"trustgate threads during the drain (% of one core): "
      + ", ".join(f"{k} {v}" for k, v in sorted(threads.items(), key=lambda kv: -kv[1]))
      + f"; written to disk {io_per_doc / 1024:.1f} KiB/doc" if io_per_doc is not None else "")
if non2xx:
    print(f"WARNING: wrk got {non2xx} non-2xx answers")
met_ratio = ratio is not None and ratio >= AIM_RATIO
met_rate = rate_first_last is not None and rate_first_last >= AIM_DOCS_PER_S
print(f"aim (drain >= {AIM_RATIO} x ceiling): {'MET' if met_ratio else 'MISSED'} "
      f"({ratio:.3f})" if ratio is not None else "aim (drain >= 0.5 x ceiling): no figure")
print(f"aim ({AIM_DOCS_PER_S:,} docs/s): {'MET' if met_rate else 'MISSED'} ({f0(rate_first_last)})")
print()
doc = {
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "machine": {"cores": os.cpu_count(), "kernel": os.uname().release},
    "params": {k: e[k] for k in ("N", "SESSIONS", "SIZE", "CONCURRENCY", "CEILING")},
    "info": {
        "load_before": e["LOAD_BEFORE"], "load_after": e["LOAD_AFTER"],
        "compilers_running_at_start": int(e["OTHERS"]),
        "compilers_running_at_drain_end": int(e["COMPILERS_DURING"]),
        "commit": os.popen("git rev-parse --short HEAD 2>/dev/null").read().strip()
            + ("" if os.system("git diff --quiet -- src 2>/dev/null") == 0 else "+dirty-src"),
    },
    "queue": queue,
    "queued": queued,
    "refused_attempts_while_down": int(e["FAILED_ATTEMPTS"]),
    "webhook_body_bytes": body_bytes,
    "drain": {
        "delivered": delivered,
        "docs_per_s_first_to_last_post": round(rate_first_last, 1) if rate_first_last else None,
        "docs_per_s_from_receiver_start": round(rate_from_start, 1) if rate_from_start else None,
        "docs_per_s_10_to_90_percent": round(rate_steady, 1) if rate_steady else None,
        "trustgate_threads_percent_of_a_core": threads,
        "trustgate_disk_write_bytes_per_doc": round(io_per_doc) if io_per_doc is not None else None,
        "first_post_after_s": round(first - t0, 3) if first else None,
        "last_post_after_s": round(last - t0, 3) if last else None,
        "receiver": stats,
        "trustgate_cpu_ms_per_doc": round(cpu_ms, 3) if cpu_ms is not None else None,
        "rss_kb": {"start": int(e["RSS_START_KB"]), "end": int(e["RSS_END_KB"]),
                   "sampled_min": min(in_drain), "sampled_max": max(in_drain),
                   "peak_hwm": int(e["HWM_KB"]), "hwm_reset_at_drain_start": e["HWM_RESET"] == "1",
                   "hwm_before_drain": int(e["HWM_BEFORE_KB"])},
        "progress": progress,
        "spool_after_stop": states,
    },
    "ceiling": {"tool": "wrk -t1", "connections": int(e["CONCURRENCY"]), "duration": e["CEILING"],
                "requests_per_s": ceiling, "latency_ms": wrk_lat, "non_2xx": non2xx,
                "receiver_posts": int(e["POSTS_CEILING"]),
                "receiver_body_bytes_per_post": round(int(e["BYTES_CEILING"]) / int(e["POSTS_CEILING"]))
                    if int(e["POSTS_CEILING"]) else None, "wrk_output": wrk_txt},
    "ratio_drain_to_ceiling": round(ratio, 3) if ratio is not None else None,
    "aim": {"want_ratio_at_least": AIM_RATIO, "met_ratio": met_ratio,
            "want_docs_per_s": AIM_DOCS_PER_S, "met_docs_per_s": met_rate},
}
with open(out, "w") as f:
    json.dump(doc, f, indent=2, sort_keys=True)
    f.write("\n")
PY
say "results in ${OUT#"$ROOT"/}"
