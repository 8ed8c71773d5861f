#!/usr/bin/env bash
# One reproducible load run on loopback: trustgate, Postfix and smtp-sink side by side.
#
#   sudo bench/run.sh        # 20 sessions x 50 KiB, 20 s per server, 3 rounds: about 4 minutes
#   SESSIONS=20 SIZE=50KiB DURATION=20s WARMUP=2s ROUNDS=1 bench/run.sh   # one round: ~1.5 min
#   SERVERS="postfix trustgate trustgate+delivery" bench/run.sh   # acceptance with delivery
#                                         # running (bench/delivery.sh does exactly this)
#
# Starts, on 127.0.0.1 only, the servers named in SERVERS (default: the first three):
#   smtp-sink  :2527  Postfix's test server: answers 250 to everything, stores nothing
#   Postfix    :2526  a throwaway instance (bench/postfix/main.cf, master.cf) in a temp dir:
#                     queues each message to disk (cleanup fsyncs it before 250), then discards it
#   trustgate  :2525  release build, bench/trustgate-bench.toml, spool in the same temp dir
#   trustgate+delivery :2528  the same binary with bench/trustgate-delivery.toml: every accepted
#                     document also goes to a webhook sink (examples/webhook_receiver on :2581,
#                     started here) and a directory sink (out/ in the temp dir) while the load
#                     runs; a fresh spool and out/ for every run, and the daemon is stopped right
#                     after its run (its backlog must not load the next server's run)
# then runs examples/smtp_load with the same sessions, size, warm-up and duration against each in
# turn (ROUNDS times; round r starts with the r-th of SERVERS; trustgate on a fresh spool and
# Postfix on a drained queue every time), prints a table (msgs/s, latency from end of data
# to the reply, ratios to Postfix and smtp-sink; with ROUNDS > 1 each server's median-throughput
# run), writes bench/results/latest.json, and stops everything it started. With
# trustgate+delivery it also prints its ratio to plain trustgate (aim: at least 0.90) and, for
# each sink, how many documents were delivered by the end of the load and how many were not
# (the lag), from the receiver's counter and the files in out/, and again from the spool's own
# delivery states (`trustgate spool list --json` once the daemon has stopped; SPOOL_STATES=0
# skips that).
#
# Needs root when SERVERS has postfix or smtp-sink (apt-get install postfix when missing; Postfix
# and smtp-sink start as root and drop to the postfix user). Other env vars: SERVERS="smtp-sink
# postfix trustgate", PIPELINING=1 (send MAIL/RCPT/DATA in one write), UNIQUE_INVOICES=1, the
# default (every message its own invoice number, for every server alike: trustgate makes a copy
# of an invoice that is being stored in another session wait for that commit, so that its answer
# is the index's, and 20 sessions sending one invoice over and over measure that queue, not
# acceptance; UNIQUE_INVOICES=0 measures it), KEEP=1 (keep the temp dir with logs and spools),
# OUT=path.json, BUILD=0 (use the release binaries already in target/ instead of
# `cargo build --release --bins --examples`).
set -euo pipefail

SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-50KiB}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-3}
SERVERS=${SERVERS:-smtp-sink postfix trustgate}
PIPELINING=${PIPELINING:-0}
UNIQUE_INVOICES=${UNIQUE_INVOICES:-1}
KEEP=${KEEP:-0}
BUILD=${BUILD:-1}
SPOOL_STATES=${SPOOL_STATES:-1}

TRUSTGATE_PORT=2525
POSTFIX_PORT=2526
SINK_PORT=2527
DELIVERY_PORT=2528   # trustgate+delivery
HOOK_PORT=2581       # its webhook sink: examples/webhook_receiver

cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${OUT:-$ROOT/bench/results/latest.json}

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench/run.sh: %s\n' "$*" >&2; exit 1; }

wants() { case " $SERVERS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
for s in $SERVERS; do
    case "$s" in
        smtp-sink | postfix | trustgate | trustgate+delivery) ;;
        *) die "unknown server $s (SERVERS: smtp-sink postfix trustgate trustgate+delivery)" ;;
    esac
done
if wants postfix || wants smtp-sink; then
    [ "$(id -u)" = 0 ] || die "run as root (installs and starts Postfix and smtp-sink)"
fi

# --- Postfix and smtp-sink --------------------------------------------------------------
if { wants postfix || wants smtp-sink; } && { ! command -v postfix >/dev/null || ! command -v smtp-sink >/dev/null; }; then
    say "installing postfix (No configuration: the system instance stays unconfigured and stopped)"
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix >/dev/null \
        || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix >/dev/null; } \
        || die "cannot install postfix"
fi

for port in $TRUSTGATE_PORT $POSTFIX_PORT $SINK_PORT $DELIVERY_PORT $HOOK_PORT; do
    if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
        die "127.0.0.1:$port is already in use; stop what listens there first"
    fi
done

# --- build --------------------------------------------------------------------------------
LOAD=$ROOT/target/release/examples/smtp_load
HOOK=$ROOT/target/release/examples/webhook_receiver
TRUSTGATE=$ROOT/target/release/trustgate
if [ "$BUILD" = 1 ]; then
    say "building trustgate, the load generator and the webhook receiver (release)"
    cargo build --release --quiet --bins --examples
else
    [ -x "$LOAD" ] && [ -x "$TRUSTGATE" ] && [ -x "$HOOK" ] \
        || die "BUILD=0 but $TRUSTGATE, $LOAD or $HOOK is missing"
    say "BUILD=0: using the existing release binaries"
fi

# --- start everything, stop it on exit -----------------------------------------------------
WORK=$(mktemp -d /tmp/trustgate-bench.XXXXXX)
chmod 755 "$WORK"   # the postfix user must reach its queue below
SINK_PID=
TG_PID=
TGD_PID=
HOOK_PID=
WATCH_PID=
POSTFIX_STARTED=0
cleanup() {
    set +e
    [ -n "$WATCH_PID" ] && kill "$WATCH_PID" 2>/dev/null
    [ -n "$TG_PID" ] && kill -TERM "$TG_PID" 2>/dev/null && wait "$TG_PID" 2>/dev/null
    [ -n "$TGD_PID" ] && kill -TERM "$TGD_PID" 2>/dev/null && wait "$TGD_PID" 2>/dev/null
    [ -n "$HOOK_PID" ] && kill -TERM "$HOOK_PID" 2>/dev/null && wait "$HOOK_PID" 2>/dev/null
    [ -n "$SINK_PID" ] && kill -TERM "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null
    [ "$POSTFIX_STARTED" = 1 ] && postfix -c "$WORK/postfix/etc" stop >/dev/null 2>&1
    if [ "$KEEP" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() {  # wait_port PORT NAME: up to 10 s
    for _ in $(seq 100); do
        (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
        sleep 0.1
    done
    die "$2 did not listen on 127.0.0.1:$1 within 10 s (logs in $WORK; KEEP=1 keeps them)"
}

if wants smtp-sink; then
    say "starting smtp-sink on 127.0.0.1:$SINK_PORT"
    smtp-sink -u postfix -m 1024 127.0.0.1:$SINK_PORT 1000 >"$WORK/smtp-sink.log" 2>&1 &
    SINK_PID=$!
    wait_port $SINK_PORT smtp-sink
fi

mkdir -p "$WORK/postfix/queue"   # postfix_backlog looks here, Postfix or not
if wants postfix; then
    say "starting Postfix on 127.0.0.1:$POSTFIX_PORT (queue in $WORK/postfix/queue)"
    mkdir -p "$WORK/postfix/etc" "$WORK/postfix/data"
    chown postfix "$WORK/postfix/data"
    for f in main.cf master.cf; do
        sed "s|@DIR@|$WORK/postfix|g" "bench/postfix/$f" >"$WORK/postfix/etc/$f"
    done
    # Enough smtpd processes for every session (Postfix's default limit is 100).
    postconf -c "$WORK/postfix/etc" "default_process_limit = $((SESSIONS + 20 > 100 ? SESSIONS + 20 : 100))"
    postfix -c "$WORK/postfix/etc" check || die "postfix check failed"
    postfix -c "$WORK/postfix/etc" start >/dev/null 2>&1 || die "postfix did not start: $(tail -3 "$WORK/postfix/maillog")"
    POSTFIX_STARTED=1
    wait_port $POSTFIX_PORT Postfix
fi

# trustgate keeps every message (no delivery yet), so its spool only grows, and it gets slower
# as spool.redb grows (see BENCHMARKS.md). Each trustgate run starts on a fresh spool, as each
# Postfix run starts on a drained queue: restart_trustgate stops the daemon, removes the spool
# of the run before and starts a new one.
mkdir -p "$WORK/trustgate"
cp bench/trustgate-bench.toml "$WORK/trustgate/"
TG_RUNS=0
restart_trustgate() {
    if [ -n "$TG_PID" ]; then
        kill -TERM "$TG_PID" 2>/dev/null && wait "$TG_PID" 2>/dev/null
        TG_PID=
        for _ in $(seq 100); do
            (exec 3<>/dev/tcp/127.0.0.1/$TRUSTGATE_PORT) 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -rf "$WORK/trustgate/spool"
    TG_RUNS=$((TG_RUNS + 1))
    RUST_LOG=${RUST_LOG:-info} "$TRUSTGATE" serve --config "$WORK/trustgate/trustgate-bench.toml" \
        >"$WORK/trustgate/trustgate.$TG_RUNS.log" 2>&1 &
    TG_PID=$!
    wait_port $TRUSTGATE_PORT trustgate
}
if wants trustgate; then
    say "starting trustgate on 127.0.0.1:$TRUSTGATE_PORT (spool in $WORK/trustgate/spool)"
    restart_trustgate
fi

# trustgate+delivery: its own daemon, spool and out/ folder, and the webhook receiver. It is
# started (fresh spool, empty out/) right before each of its runs and stopped right after, once
# the lag has been read: a daemon still delivering its backlog would load the next server's run.
hook_stats() {  # hook_stats FILE: the webhook receiver's counters (JSON) into FILE
    curl -s --max-time 5 "http://127.0.0.1:$HOOK_PORT/stats" >"$1" || die "the webhook receiver does not answer"
}
json_field() {  # json_field FILE FIELD
    python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]) or 0)" "$1" "$2"
}
stop_tgd() {
    if [ -n "$TGD_PID" ]; then
        kill -TERM "$TGD_PID" 2>/dev/null && wait "$TGD_PID" 2>/dev/null
        TGD_PID=
        for _ in $(seq 100); do
            (exec 3<>/dev/tcp/127.0.0.1/$DELIVERY_PORT) 2>/dev/null || break
            sleep 0.1
        done
    fi
}
TGD_RUNS=0
restart_tgd() {
    stop_tgd
    rm -rf "$WORK/trustgate-delivery/spool" "$WORK/trustgate-delivery/out"
    TGD_RUNS=$((TGD_RUNS + 1))
    RUST_LOG=${RUST_LOG:-info} "$TRUSTGATE" serve --config "$WORK/trustgate-delivery/trustgate-delivery.toml" \
        >"$WORK/trustgate-delivery/trustgate.$TGD_RUNS.log" 2>&1 &
    TGD_PID=$!
    wait_port $DELIVERY_PORT trustgate+delivery
}
if wants trustgate+delivery; then
    say "starting the webhook receiver on 127.0.0.1:$HOOK_PORT"
    "$HOOK" --listen 127.0.0.1:$HOOK_PORT >"$WORK/webhook_receiver.out" 2>"$WORK/webhook_receiver.log" &
    HOOK_PID=$!
    wait_port $HOOK_PORT webhook_receiver
    mkdir -p "$WORK/trustgate-delivery"
    cp bench/trustgate-delivery.toml "$WORK/trustgate-delivery/"
    say "starting trustgate+delivery on 127.0.0.1:$DELIVERY_PORT (webhook :$HOOK_PORT, directory $WORK/trustgate-delivery/out)"
    restart_tgd
fi

port_of() {
    case "$1" in
        trustgate) echo $TRUSTGATE_PORT ;;
        trustgate+delivery) echo $DELIVERY_PORT ;;
        postfix) echo $POSTFIX_PORT ;;
        smtp-sink) echo $SINK_PORT ;;
        *) die "unknown server $1 (SERVERS: smtp-sink postfix trustgate trustgate+delivery)" ;;
    esac
}
pid_of() {
    case "$1" in
        trustgate) echo "$TG_PID" ;;
        trustgate+delivery) echo "$TGD_PID" ;;
        *) echo "" ;;
    esac
}

# Every server must accept the invoice mail before it is measured.
for s in $SERVERS; do
    "$LOAD" --addr 127.0.0.1:"$(port_of "$s")" --label "$s" --sessions 1 --messages 1 --warmup 0s \
        --size "$SIZE" >"$WORK/check-$s.txt" 2>&1 \
        || die "$s does not accept the invoice mail: $(cat "$WORK/check-$s.txt")"
done

# --- measure --------------------------------------------------------------------------------
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
say "load average before: $LOAD_BEFORE (others compiling or running skews every figure)"
compilers() { ps -eo comm= | grep -cE '^(rustc|cargo|cc1|cc1plus|clippy-driver|ld|rust-lld)$' || true; }
OTHERS=$(compilers)
[ "$OTHERS" = 0 ] || say "WARNING: $OTHERS compiler process(es) running: these figures are not from a quiet machine"
# Look every 2 s during the runs too: a build started by someone else halfway spoils a run.
( while sleep 2; do compilers; done >"$WORK/compilers.log" ) &
WATCH_PID=$!
PIPE_FLAG=()
[ "$PIPELINING" = 1 ] && PIPE_FLAG=(--pipelining)
[ "$UNIQUE_INVOICES" = 1 ] && PIPE_FLAG+=(--unique-invoices)
mkdir -p "$WORK/results"
proc_cpu_ticks() {  # user + system ticks of PID, 0 without one
    if [ -n "$1" ]; then awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; else echo 0; fi
}
postfix_backlog() { find "$WORK/postfix/queue"/{maildrop,incoming,active} -type f 2>/dev/null | wc -l; }
read -r -a ORDER <<<"$SERVERS"
for round in $(seq "$ROUNDS"); do
    # Each round starts with the next server, so with ROUNDS = number of servers each one runs
    # once first, once second, ...: whatever a run leaves behind (page cache, a peer's backlog)
    # does not always fall on the same server.
    shift_by=$(( (round - 1) % ${#ORDER[@]} ))
    this_round=("${ORDER[@]:shift_by}" "${ORDER[@]:0:shift_by}")
    for s in "${this_round[@]}"; do
        # Postfix still delivering (discarding) the last run's queue would load the next run.
        for _ in $(seq 300); do [ "$(postfix_backlog)" = 0 ] && break; sleep 0.1; done
        [ "$s" = trustgate ] && [ "$round" -gt 1 ] && restart_trustgate
        if [ "$s" = trustgate+delivery ]; then
            restart_tgd
            hook_stats "$WORK/results/hook-before"
        fi
        sync
        say "round $round/$ROUNDS: $s, $SESSIONS sessions x $SIZE, warm-up $WARMUP, $DURATION"
        TG_BEFORE=$(proc_cpu_ticks "$(pid_of "$s")")
        "$LOAD" --addr 127.0.0.1:"$(port_of "$s")" --label "$s" --sessions "$SESSIONS" --size "$SIZE" \
            --duration "$DURATION" --warmup "$WARMUP" "${PIPE_FLAG[@]}" --json \
            >"$WORK/results/$s.$round.json" || die "load run against $s failed"
        # trustgate's own CPU (user + system, in 1/100 s) over its whole run, warm-up included.
        [ -n "$(pid_of "$s")" ] \
            && echo "$(( $(proc_cpu_ticks "$(pid_of "$s")") - TG_BEFORE ))" >"$WORK/results/$s.$round.tgcpu"
        if [ "$s" = trustgate+delivery ]; then
            # What the sinks had by the end of the load (the load generator has just exited):
            # the webhook receiver's POSTs and the directory sink's .json files (written last
            # of each document's set).
            hook_stats "$WORK/results/hook-after"
            DIR_DOCS=$(find "$WORK/trustgate-delivery/out" -maxdepth 2 -name '*.json' ! -name '.*' 2>/dev/null | wc -l)
            HOOK_POSTS=$(( $(json_field "$WORK/results/hook-after" posts) - $(json_field "$WORK/results/hook-before" posts) ))
            HOOK_IDS=$(( $(json_field "$WORK/results/hook-after" distinct_webhook_ids) - $(json_field "$WORK/results/hook-before" distinct_webhook_ids) ))
            TGD_RSS_KB=$(awk '/^VmHWM/ { print $2 }' "/proc/$TGD_PID/status" 2>/dev/null || echo 0)
            stop_tgd
            STATES=null
            if [ "$SPOOL_STATES" = 1 ]; then
                STATES=$("$TRUSTGATE" spool list --json --config "$WORK/trustgate-delivery/trustgate-delivery.toml" \
                    2>"$WORK/trustgate-delivery/spool-list.$round.err" | python3 bench/spool_states.py) \
                    || { say "WARNING: spool list failed: $(tail -2 "$WORK/trustgate-delivery/spool-list.$round.err")"; STATES=null; }
            fi
            printf '{"webhook_posts": %s, "webhook_distinct_ids": %s, "directory_documents": %s, "peak_rss_kb": %s, "spool_after_stop": %s}\n' \
                "$HOOK_POSTS" "$HOOK_IDS" "$DIR_DOCS" "${TGD_RSS_KB:-0}" "$STATES" >"$WORK/results/$s.$round.dlv"
        fi
        sleep 1
    done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
kill "$WATCH_PID" 2>/dev/null; wait "$WATCH_PID" 2>/dev/null || true; WATCH_PID=
COMPILERS_SEEN=$(sort -n "$WORK/compilers.log" | tail -1)
[ "${COMPILERS_SEEN:-0}" = 0 ] || say "WARNING: up to $COMPILERS_SEEN compiler process(es) ran during the measurement"

# What the servers did with the messages (for the notes): Postfix's queue should be drained.
sleep 1
POSTFIX_QUEUED=$(find "$WORK/postfix/queue"/{maildrop,incoming,active,deferred} -type f 2>/dev/null | wc -l || true)
POSTFIX_DISCARDED=$(grep -c 'status=sent (bench)' "$WORK/postfix/maillog" || true)
SPOOL_BYTES=$(du -sb "$WORK/trustgate/spool" 2>/dev/null | cut -f1 || true)

mkdir -p "$(dirname "$OUT")"
python3 bench/report.py \
    --results "$WORK/results" --out "$OUT" \
    --param sessions="$SESSIONS" size="$SIZE" duration="$DURATION" warmup="$WARMUP" \
        rounds="$ROUNDS" pipelining="$PIPELINING" unique_invoices="$UNIQUE_INVOICES" \
    --info load_before="$LOAD_BEFORE" load_after="$LOAD_AFTER" compilers_running_at_start="$OTHERS" \
        compilers_seen_during="${COMPILERS_SEEN:-0}" \
        postfix_queue_files_after="$POSTFIX_QUEUED" postfix_discarded="$POSTFIX_DISCARDED" \
        trustgate_spool_bytes_after="${SPOOL_BYTES:-0}" \
        commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet -- src 2>/dev/null || echo '+dirty-src')"
say "load average after: $LOAD_AFTER; results in ${OUT#"$ROOT"/}"
