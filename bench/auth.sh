#!/usr/bin/env bash
# What sender authentication costs acceptance: the same trustgate (bench/trustgate-bench.toml)
# with auth = "none" and with auth = "dmarc", side by side in the same run, 20 sessions x 50 KiB.
#
#   bench/auth.sh                         # 2 rounds of 20 s each: about 2 minutes
#   ROUNDS=1 DURATION=10s bench/auth.sh
#
# With "dmarc" every message is checked at end of data as in production: SPF for MAIL FROM and
# HELO, DKIM (the load's mail is unsigned: none), DMARC for the From domain (a p=reject record),
# ARC, the Authentication-Results and Received fields prepended. The resolver asks a DNS server
# on 127.0.0.1 (tests/support/dnsd.py) that serves supplier.example's SPF (127.0.0.1 allowed)
# and DMARC records, with SOA in its negative answers; answers are cached by the resolver as in
# production, so the figure is the steady state of a supplier that sends often.
# Needs python3 with dnslib (scripts/test.sh installs it). Writes bench/results/auth.json.
set -euo pipefail

SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-50KiB}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-2}
BUILD=${BUILD:-1}
PORT=2525

cd "$(dirname "$0")/.."
say() { echo "auth.sh: $*" >&2; }
[ "$BUILD" = 1 ] && cargo build --release --bins --examples >&2
TRUSTGATE=target/release/trustgate
LOAD=target/release/examples/smtp_load

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/zone.json" <<'EOF'
{"records": [
  {"name": "supplier.example", "type": "TXT", "value": "v=spf1 ip4:127.0.0.1 -all"},
  {"name": "_dmarc.supplier.example", "type": "TXT", "value": "v=DMARC1; p=reject"}
]}
EOF
# dnsd serves until its stdin closes: a fifo held open by this script.
mkfifo "$WORK/dns.in"
python3 tests/support/dnsd.py "$WORK/zone.json" <"$WORK/dns.in" >"$WORK/dns.port" &
PIDS+=($!)
exec 9>"$WORK/dns.in"
for _ in $(seq 100); do [ -s "$WORK/dns.port" ] && break; sleep 0.1; done
DNS_PORT=$(head -1 "$WORK/dns.port")
say "DNS on 127.0.0.1:$DNS_PORT"

for variant in none dmarc; do
    mkdir -p "$WORK/$variant"
    sed "s/^auth = \"none\"/auth = \"$variant\"/" bench/trustgate-bench.toml >"$WORK/$variant/trustgate.toml"
    printf '\n[dns]\nnameservers = ["127.0.0.1:%s"]\n' "$DNS_PORT" >>"$WORK/$variant/trustgate.toml"
    grep -q "^auth = \"$variant\"" "$WORK/$variant/trustgate.toml" || { say "no auth line in the bench config"; exit 1; }
done

run() {  # run VARIANT ROUND
    local dir="$WORK/$1"
    rm -rf "$dir/spool"
    (cd "$dir" && exec "$OLDPWD/$TRUSTGATE" serve --config trustgate.toml) >"$dir/log.$2" 2>&1 &
    local pid=$!
    for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
    "$LOAD" --addr 127.0.0.1:$PORT --label "$1" --sessions 1 --messages 1 --warmup 0s --size "$SIZE" >/dev/null \
        || { say "$1 refuses the invoice mail: $(tail -3 "$dir/log.$2")"; kill "$pid"; exit 1; }
    "$LOAD" --addr 127.0.0.1:$PORT --label "$1" --sessions "$SESSIONS" --size "$SIZE" \
        --duration "$DURATION" --warmup "$WARMUP" --unique-invoices --json >"$WORK/$1.$2.json"
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
}
for round in $(seq "$ROUNDS"); do
    # Alternate which goes first.
    if [ $((round % 2)) = 1 ]; then order="none dmarc"; else order="dmarc none"; fi
    for v in $order; do say "round $round: auth = $v"; run "$v" "$round"; done
done

mkdir -p bench/results
python3 - "$WORK" "$ROUNDS" <<'EOF' | tee bench/results/auth.json
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
out = {}
for v in ("none", "dmarc"):
    runs = [json.load(open(f"{work}/{v}.{r}.json")) for r in range(1, rounds + 1)]
    rates = [r["msgs_per_s"] for r in runs]
    best = sorted(runs, key=lambda r: r["msgs_per_s"])[len(runs) // 2]
    out[v] = {"msgs_per_s": rates, "median": statistics.median(rates),
              "p50_ms": best["latency_ms"]["p50"], "p99_ms": best["latency_ms"]["p99"]}
out["dmarc_over_none"] = round(out["dmarc"]["median"] / out["none"]["median"], 3)
print(json.dumps(out, indent=1))
EOF
