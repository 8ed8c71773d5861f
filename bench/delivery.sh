#!/usr/bin/env bash
# Acceptance with delivery running: bench/run.sh with trustgate (no sinks) and trustgate+delivery
# (every accepted document also goes to a webhook sink and a directory sink while the load runs)
# side by side with Postfix, in the same run.
#
#   sudo bench/delivery.sh         # 20 sessions x 50 KiB, 20 s per server, 3 rounds: ~4 minutes
#   SESSIONS=20 SIZE=50KiB DURATION=20s WARMUP=2s ROUNDS=1 BUILD=0 bench/delivery.sh
#
# Measures msgs/s and end-of-data latency (p50..max) of each server as run.sh does; prints
# trustgate+delivery's ratio to trustgate (aim: within 10 %, i.e. >= 0.90) and to Postfix (aim:
# 3x), and for each sink how many documents it had received by the end of the load and how many
# it had not (the lag: documents accepted, warm-up included, minus documents delivered),
# counted by examples/webhook_receiver (on 127.0.0.1:2581) and by the .json files in the
# directory sink's folder, then checked against the spool's own delivery states once the
# daemon has stopped. Writes bench/results/delivery.json. Every env var of run.sh applies
# (SERVERS may add smtp-sink; SPOOL_STATES=0 skips the spool listing, which takes a few
# seconds after each trustgate+delivery run), except that UNIQUE_INVOICES defaults to 1 here. See bench/run.sh for what runs where.
set -euo pipefail
cd "$(dirname "$0")/.."
export SERVERS=${SERVERS:-postfix trustgate trustgate+delivery}
# Every message its own invoice (for every server): trustgate accepts a duplicate but does not
# deliver it again, so with run.sh's default (one invoice for all) nothing would be delivered.
export UNIQUE_INVOICES=${UNIQUE_INVOICES:-1}
export OUT=${OUT:-$(pwd)/bench/results/delivery.json}
exec bench/run.sh "$@"
