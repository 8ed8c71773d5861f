#!/usr/bin/env python3
"""Score the invoice mutations with the official validators and keep their verdicts.

tests/fixtures/invoices/mutations.json lists edits of valid corpus invoices, each made to break
(or on purpose not to break) a rule: a mandatory term removed, a wrong code, an amount changed
by a cent, a second occurrence; generated_mutations.json (tests/support/mutation_generator.py)
adds the same operators applied to every leaf element of the source invoices. This script applies each edit, runs the official compiled
schematron on the results (../shared/oracle/run_oracle.py, SaxonC-HE from PyPI), and writes what
fired (fatal and warning rules) to tests/fixtures/invoices/mutation_verdicts.json, with the
oracle's version. The Rust
test (tests/invoice_corpus.rs) compares trustgate with that file without needing Python.

  python3 scripts/mutation_oracle.py            # rewrite mutation_verdicts.json
  python3 scripts/mutation_oracle.py --check    # exit 1 when the file and the oracle disagree

Needs: python3 -m pip install saxonche (the oracle also imports pypdf only for PDFs).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "invoices"
MUTATIONS = FIXTURES / "mutations.json"
# Made by tests/support/mutation_generator.py: every leaf of the source invoices dropped,
# doubled, an amount a cent or half a cent off, a code no list has.
GENERATED = FIXTURES / "generated_mutations.json"
VERDICTS = FIXTURES / "mutation_verdicts.json"
ORACLE = REPO.parent / "shared" / "oracle"


def mutate(m: dict) -> str:
    # Bytes as the Rust test reads them: no newline translation (some fixtures end lines
    # with CRLF).
    with open(FIXTURES / m["fixture"], encoding="utf-8", newline="") as f:
        text = f.read()
    for old, new in m["edits"]:
        count = text.count(old)
        if count != 1:
            sys.exit(f"{m['name']}: an edit matches {count} times (must be once): {old[:60]!r}")
        text = text.replace(old, new)
    return text


def score(mutations: list[dict], xslt_dir: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "invoices").mkdir()
        for m in mutations:
            with open(root / "invoices" / f"{m['name']}.xml", "w", encoding="utf-8", newline="") as f:
                f.write(mutate(m))
        out = root / "verdicts.json"
        subprocess.run(
            [sys.executable, str(ORACLE / "run_oracle.py"), "--xslt-dir", str(xslt_dir),
             "--out", str(out), str(root)],
            check=True, capture_output=True,
        )
        raw = json.loads(out.read_text(encoding="utf-8"))
    verdicts = {}
    warnings = {}
    unanswered = {}
    for m in mutations:
        entry = raw.get(f"invoices/{m['name']}.xml")
        if entry is None:
            sys.exit(f"{m['name']}: the oracle gave no verdict")
        verdicts[m["name"]] = {
            layer: sorted(result.get("fatal", []))
            for layer, result in sorted(entry.get("layers", {}).items())
            if "fatal" in result
        }
        # An `information` (XRechnung's BR-DE-TMP-32) never refuses either: trustgate reports
        # it as a warning, and it is scored with them.
        # A layer whose XSLT stopped (an XPath error on a doubled element, say) has no verdict.
        stopped = sorted(layer for layer, result in entry.get("layers", {}).items()
                         if "fatal" not in result)
        if stopped:
            unanswered[m["name"]] = stopped
        warnings[m["name"]] = {
            layer: sorted(result.get("warning", []) + result.get("information", []))
            for layer, result in sorted(entry.get("layers", {}).items())
            if "fatal" in result
        }
    return {
        "oracle": {
            "script": "../shared/oracle/run_oracle.py",
            "saxonche": metadata.version("saxonche"),
            "artefacts": "the nine XSLTs of ../shared/corpus/VERDICTS.md (EN 16931 1.3.16, "
                         "OpenPeppol 2026.5, SI-UBL 2.0.3.12, NLCIUS-CII 1.0.3.12, "
                         "XRechnung 3.0.2)",
        },
        "fatal": verdicts,
        "warning": warnings,
        "unanswered": unanswered,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--xslt-dir", type=Path, default=ORACLE / "xslt")
    args = parser.parse_args()
    mutations = json.loads(MUTATIONS.read_text(encoding="utf-8"))
    if GENERATED.exists():
        mutations += json.loads(GENERATED.read_text(encoding="utf-8"))
    names = [m["name"] for m in mutations]
    if len(set(names)) != len(names):
        sys.exit("mutations.json: names must be unique")
    result = score(mutations, args.xslt_dir)
    text = json.dumps(result, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    if args.check:
        kept = json.loads(VERDICTS.read_text(encoding="utf-8")) if VERDICTS.exists() else {}
        keys = ("fatal", "warning", "unanswered")
        if any(kept.get(key) != result[key] for key in keys):
            differ = sorted(
                n for key in keys
                for n in set(kept.get(key, {})) | set(result[key])
                if kept.get(key, {}).get(n) != result[key].get(n)
            )
            print(f"{VERDICTS.name} differs from the oracle for: {', '.join(differ)}; "
                  f"regenerate with `python3 scripts/mutation_oracle.py`")
            return 1
        print(f"{len(mutations)} mutations: the kept verdicts are the oracle's")
        return 0
    VERDICTS.write_text(text, encoding="utf-8")
    print(f"wrote {VERDICTS.relative_to(REPO)} ({len(mutations)} mutations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
