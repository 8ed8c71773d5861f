#!/usr/bin/env python3
"""The official validator's speed on the files `cargo bench --bench inspect` measures.

For each file, the official compiled schematron that applies to it (EN 16931 UBL or CII, and
SI-UBL/NLCIUS, Peppol or XRechnung where its specification identifier selects one, as
../shared/oracle/run_oracle.py chooses) is compiled once with SaxonC-HE and then applied
repeatedly; the time per file is the median of the runs, the XSLT compilation excluded (a
long-running validator service pays it once). Prints a Markdown table with MiB/s per layer
and in total, to be set beside trustgate's criterion numbers in BENCHMARKS.md.

    python3 -m pip install saxonche
    python3 bench/oracle_speed.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from saxonche import PySaxonProcessor

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "invoices"
XSLT = REPO.parent / "shared" / "oracle" / "xslt"

# (file, the artefacts that apply to it), the same files as benches/inspect.rs.
FILES = [
    ("si-ubl/SI-UBL-2.0_ok_minimal.xml", ["si-ubl-2.0.xsl"]),
    ("si-ubl/SI-UBL-2.0_ok_full.xml", ["si-ubl-2.0.xsl"]),
    ("peppol-bis3/Invoice-Max_content.xml",
     ["EN16931-UBL-validation.xslt", "PEPPOL-EN16931-UBL.xslt"]),
    ("cii/CII_example1.xml", ["EN16931-CII-validation.xslt"]),
    ("si-ubl/NLCIUS-CII_ok_example.xml", ["nlcius-cii-1.0.xsl"]),
    ("xrechnung/01.15a-INVOICE_ubl.xml",
     ["EN16931-UBL-validation.xslt", "XRechnung-UBL-validation.xslt"]),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with PySaxonProcessor(license=False) as proc:
        xslt = proc.new_xslt30_processor()
        compiled = {}
        print("| input | size | official artefacts | per file | throughput |")
        print("|---|---:|---|---:|---:|")
        for rel, layers in FILES:
            path = FIXTURES / rel
            size = path.stat().st_size
            total = 0.0
            for layer in layers:
                if layer not in compiled:
                    compiled[layer] = xslt.compile_stylesheet(stylesheet_file=str(XSLT / layer))
                exe = compiled[layer]
                exe.transform_to_string(source_file=str(path))  # warm-up
                times = []
                for _ in range(args.runs):
                    start = time.perf_counter()
                    exe.transform_to_string(source_file=str(path))
                    times.append(time.perf_counter() - start)
                total += statistics.median(times)
            mib_s = size / total / (1 << 20)
            print(f"| {rel} | {size / 1024:.1f} KiB | {' + '.join(layers)} | "
                  f"{total * 1000:.1f} ms | {mib_s:.2f} MiB/s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
