#!/usr/bin/env python3
"""Table and JSON of one bench/run.sh run, from the smtp_load --json files it collected.

Called by bench/run.sh only. Reads RESULTS/<server>.<round>.json, picks each server's
median-throughput run (the only run when ROUNDS=1), prints the table with the ratios to
Postfix and smtp-sink and the aim check, and writes --out (bench/results/latest.json).
For trustgate+delivery it also reads RESULTS/trustgate+delivery.<round>.dlv (what its sinks
had received by the end of the load) and prints its ratio to plain trustgate and the lag.
"""

import argparse
import datetime
import json
import os
import platform
import sys

AIM_RATIO = 3.0  # trustgate msgs/s at least 3x Postfix's in the same run
AIM_P99_MS = 20.0  # trustgate p99 end-of-data latency below 20 ms
AIM_DELIVERY_RATIO = 0.90  # trustgate+delivery msgs/s within 10 % of trustgate's (no sinks)
DELIVERY = "trustgate+delivery"


def kv(pairs):
    out = {}
    for p in pairs or []:
        k, _, v = p.partition("=")
        out[k] = v
    return out


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_mib": mem,
        "kernel": platform.release(),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--param", nargs="*")
    ap.add_argument("--info", nargs="*")
    args = ap.parse_args()

    runs = {}
    for name in sorted(os.listdir(args.results)):
        if not name.endswith(".json"):
            continue
        server, rnd, _ = name.rsplit(".", 2)
        with open(os.path.join(args.results, name)) as f:
            r = json.load(f)
        r["round"] = int(rnd)
        # trustgate's own process CPU over its run (warm-up included), per accepted message:
        # unlike the machine-wide figure, others' processes do not count here.
        tgcpu = os.path.join(args.results, f"{server}.{rnd}.tgcpu")
        if server.startswith("trustgate") and os.path.exists(tgcpu) and r.get("accepted_total"):
            with open(tgcpu) as f:
                ticks = int(f.read().strip() or 0)
            r["trustgate_process_cpu_ms_per_msg"] = round(ticks * 10.0 / r["accepted_total"], 3)
        dlv = os.path.join(args.results, f"{server}.{rnd}.dlv")
        if os.path.exists(dlv):
            with open(dlv) as f:
                d = json.load(f)
            # Every document accepted by the end of the load (warm-up included; one document
            # per message here) against what each sink had by then.
            accepted = r.get("accepted_total") or 0
            d["accepted"] = accepted
            d["webhook_lag"] = accepted - d.get("webhook_posts", 0)
            d["directory_lag"] = accepted - d.get("directory_documents", 0)
            run_s = (r.get("warmup_s") or 0) + (r.get("elapsed_s") or 0)
            d["webhook_docs_per_s"] = round(d.get("webhook_posts", 0) / run_s, 1) if run_s else None
            d["directory_docs_per_s"] = (
                round(d.get("directory_documents", 0) / run_s, 1) if run_s else None
            )
            r["delivery"] = d
        runs.setdefault(server, []).append(r)

    summary = {}
    for server, rs in runs.items():
        rs.sort(key=lambda r: r["msgs_per_s"])
        med = rs[(len(rs) - 1) // 2]
        summary[server] = {
            "msgs_per_s": med["msgs_per_s"],
            "mb_per_s": med["mb_per_s"],
            "latency_ms": med["latency_ms"],
            "errors_total": med["errors_total"],
            "errors": med["errors"],
            "cpu": med.get("cpu"),
            "process_cpu_ms_per_msg": med.get("trustgate_process_cpu_ms_per_msg"),
            "round": med["round"],
            "all_msgs_per_s": [r["msgs_per_s"] for r in sorted(rs, key=lambda r: r["round"])],
            "delivery": med.get("delivery"),
        }
    for peer in ("postfix", "smtp-sink"):
        base = summary.get(peer, {}).get("msgs_per_s")
        for s in summary.values():
            s["ratio_to_" + peer.replace("-", "_")] = (
                round(s["msgs_per_s"] / base, 3) if base else None
            )

    known = ("smtp-sink", "postfix", "trustgate", DELIVERY)
    order = [s for s in known if s in summary] + [s for s in summary if s not in known]
    w = max([10] + [len(s) for s in order])
    params = kv(args.param)
    info = kv(args.info)
    head = (
        f"{'server':<{w}} {'msgs/s':>8} {'MB/s':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} "
        f"{'max ms':>7} {'errors':>6} {'/postfix':>8} {'/sink':>6} {'busy %':>6} {'CPU ms/msg':>10}"
    )
    print()
    print(
        f"{params.get('sessions')} sessions x {params.get('size')}, {params.get('duration')} "
        f"after {params.get('warmup')} warm-up, rounds {params.get('rounds')}, "
        f"load average before {info.get('load_before')}, after {info.get('load_after')}"
    )
    print(head)
    print("-" * len(head))

    def busy(c):
        if not c:
            return "-"
        return f"{100 * c['machine_busy_s'] / c['wall_s'] / c['cores']:.0f}"

    def cpu_ms(c):
        if not c or c.get("rest_ms_per_msg") is None:
            return "-"
        return f"{c['rest_ms_per_msg']:.3f}"

    def ratio(x):
        return f"{x:.2f}x" if x is not None else "-"

    for name in order:
        s = summary[name]
        lat = s["latency_ms"]
        print(
            f"{name:<{w}} {s['msgs_per_s']:>8.0f} {s['mb_per_s']:>7.1f} {lat['p50']:>7.2f} "
            f"{lat['p90']:>7.2f} {lat['p99']:>7.2f} {lat['max']:>7.2f} {s['errors_total']:>6} "
            f"{ratio(s['ratio_to_postfix']):>8} {ratio(s['ratio_to_smtp_sink']):>6} "
            f"{busy(s.get('cpu')):>6} {cpu_ms(s.get('cpu')):>10}"
        )
        if s["errors"]:
            print(f"{'':<{w}} errors: {s['errors']}")
        if s.get("process_cpu_ms_per_msg") is not None:
            print(f"{'':<{w}} trustgate process alone: {s['process_cpu_ms_per_msg']:.3f} ms CPU/msg")
    print(
        "busy %: whole machine (2 cores = 100); CPU ms/msg: machine CPU minus the load generator's,"
        " per accepted message (server + kernel work for it; meaningful only on a quiet machine)"
    )
    if int(params.get("rounds", "1")) > 1:
        for name in order:
            print(f"{name}: msgs/s per round {summary[name]['all_msgs_per_s']}")

    aim = None
    tg = summary.get("trustgate")
    if tg and tg.get("ratio_to_postfix") is not None:
        met = tg["ratio_to_postfix"] >= AIM_RATIO and tg["latency_ms"]["p99"] < AIM_P99_MS
        aim = {
            "ratio_to_postfix": tg["ratio_to_postfix"],
            "p99_ms": tg["latency_ms"]["p99"],
            "want_ratio_to_postfix": AIM_RATIO,
            "want_p99_ms_below": AIM_P99_MS,
            "met": met,
        }
        print(
            f"aim (trustgate >= {AIM_RATIO:.0f}x Postfix, p99 < {AIM_P99_MS:.0f} ms): "
            f"{'MET' if met else 'MISSED'} ({tg['ratio_to_postfix']:.2f}x, "
            f"p99 {tg['latency_ms']['p99']:.2f} ms)"
        )

    aim_delivery = None
    tgd = summary.get(DELIVERY)
    if tgd:
        ratio_tg = round(tgd["msgs_per_s"] / tg["msgs_per_s"], 3) if tg and tg["msgs_per_s"] else None
        tgd["ratio_to_trustgate"] = ratio_tg
        rp = tgd.get("ratio_to_postfix")
        aim_delivery = {
            "ratio_to_trustgate": ratio_tg,
            "want_ratio_to_trustgate": AIM_DELIVERY_RATIO,
            "ratio_to_postfix": rp,
            "want_ratio_to_postfix": AIM_RATIO,
            "p99_ms": tgd["latency_ms"]["p99"],
            "p99_ms_trustgate": tg["latency_ms"]["p99"] if tg else None,
            "met_within_10_percent": ratio_tg is not None and ratio_tg >= AIM_DELIVERY_RATIO,
            "met_3x_postfix": rp is not None and rp >= AIM_RATIO,
        }
        if ratio_tg is not None:
            print(
                f"aim ({DELIVERY} within 10 % of trustgate): "
                f"{'MET' if ratio_tg >= AIM_DELIVERY_RATIO else 'MISSED'} ({ratio_tg:.2f}x; p99 "
                f"{tgd['latency_ms']['p99']:.2f} ms vs {tg['latency_ms']['p99']:.2f} ms)"
            )
        if rp is not None:
            print(
                f"aim ({DELIVERY} >= {AIM_RATIO:.0f}x Postfix): "
                f"{'MET' if rp >= AIM_RATIO else 'MISSED'} ({rp:.2f}x)"
            )
        d = tgd.get("delivery")
        if d:
            print(
                f"{DELIVERY} sinks by the end of the load ({d['accepted']} documents accepted, "
                f"warm-up included): webhook {d['webhook_posts']} delivered "
                f"({d['webhook_docs_per_s']}/s), lag {d['webhook_lag']}; directory "
                f"{d['directory_documents']} delivered ({d['directory_docs_per_s']}/s), "
                f"lag {d['directory_lag']}; peak RSS {d.get('peak_rss_kb', 0) / 1024:.0f} MiB"
            )
            st = d.get("spool_after_stop")
            if st:
                parts = []
                for sink, states in sorted(st.get("deliveries", {}).items()):
                    txt = ", ".join(f"{k} {v}" for k, v in sorted(states.items()))
                    parts.append(f"{sink}: {txt}")
                print(
                    f"{'':<{w}} spool after the daemon stopped ({st.get('documents')} documents): "
                    + "; ".join(parts)
                )
    print()

    doc = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "params": params,
        "info": info,
        "summary": summary,
        "aim": aim,
        "aim_delivery": aim_delivery,
        "runs": runs,
    }
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
