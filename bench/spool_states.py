#!/usr/bin/env python3
"""Counts of a spool's deliveries by sink and state, from `trustgate spool list --json`.

Used by bench/run.sh (trustgate+delivery) and bench/drain.sh after the daemon has stopped:

    trustgate spool list --json --config CONF | python3 bench/spool_states.py

prints one JSON object: {"messages": M, "documents": D, "deliveries": {SINK: {STATE: N}},
"not_delivered": {SINK: N}} (STATE: pending, in_flight, delivered, failed).
"""

import json
import sys


def main():
    records = json.load(sys.stdin)
    by_sink = {}
    documents = 0
    for rec in records:
        documents += len(rec.get("documents") or [])
        for d in rec.get("deliveries") or []:
            states = by_sink.setdefault(d.get("sink", "?"), {})
            state = d.get("state", "?")
            states[state] = states.get(state, 0) + 1
    out = {
        "messages": len(records),
        "documents": documents,
        "deliveries": by_sink,
        "not_delivered": {
            s: sum(n for st, n in states.items() if st != "delivered")
            for s, states in by_sink.items()
        },
    }
    json.dump(out, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
