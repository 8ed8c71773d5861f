#!/usr/bin/env python3
"""Generate invoice mutations systematically, beside the hand-made ones.

For each valid invoice of the test fixtures (the corpus files every hand-made mutation starts
from), and for each of its leaf elements (an element with text and no child element), it makes
the variants a careless ERP or a hostile sender produces:

  drop   the element removed (a mandatory term missing; an optional one gone, which must pass)
  twice  the element written a second time (a second occurrence)
  cent   an amount one cent higher (`…Amount`, `…Quantity` and `Percent` elements)
  half   an amount half a cent higher (a rounding shifted)
  code   a code replaced by one no list has (`…Code`, `…ID` with a list or scheme, `…Identifier`)

Each variant is an edit in the format of mutations.json (a text that occurs once in the fixture,
and its replacement), named `gen-<fixture>-<element number>-<operator>`. The output is stable:
the same fixtures give the same file. scripts/mutation_oracle.py scores these with the official
artefacts exactly as it scores the hand-made ones, and tests/invoice_corpus.rs holds trustgate to
both sets.

  python3 tests/support/mutation_generator.py           # rewrite generated_mutations.json
  python3 tests/support/mutation_generator.py --check   # exit 1 when the file is stale
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "invoices"
OUT = FIXTURES / "generated_mutations.json"

# The valid invoices the hand-made mutations start from, one per specification and syntax.
SOURCES = [
    "peppol-bis3/base-example.xml",
    "peppol-bis3/CreditNote-Min_content_with_VAT.xml",
    "peppol-bis3/SB-base-example.xml",
    "si-ubl/SI-UBL-2.0_ok_base.xml",
    "si-ubl/NLCIUS-CII_ok_example.xml",
    "cii/CII_example5.xml",
    "xrechnung/01.01a-INVOICE_ubl.xml",
    "xrechnung/01.01a-INVOICE_uncefact.xml",
]

# A leaf element: `<p:Name attrs>text</p:Name>` with no child element.
LEAF = re.compile(r"<((\w+):(\w+))(\s[^<>]*)?>([^<>]*)</\1>")
WRONG_CODE = "XX9"


def unique_context(text: str, start: int, end: int) -> int:
    """The smallest start <= `start` (in steps of 16 characters) for which text[start:end]
    occurs once in the text."""
    while text.count(text[start:end]) != 1 and start > 0:
        start = max(0, start - 16)
    return start


def shifted(value: str, by: Decimal) -> str | None:
    """`value` plus `by`, written with at least as many decimals as either has."""
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    places = max(-number.as_tuple().exponent, -by.as_tuple().exponent, 0)
    return f"{number + by:.{places}f}"


def variants(local: str, attrs: str, value: str) -> list[tuple[str, str | None]]:
    """(operator, new element text or None to drop/duplicate) for one leaf."""
    out: list[tuple[str, str | None]] = [("drop", None), ("twice", None)]
    numeric = local.endswith(("Amount", "Quantity")) or local == "Percent"
    if numeric:
        for op, by in (("cent", Decimal("0.01")), ("half", Decimal("0.005"))):
            new = shifted(value, by)
            if new is not None:
                out.append((op, new))
    coded = (
        local.endswith(("Code", "Identifier"))
        or (local.endswith("ID") and re.search(r"\b(listID|schemeID)=", attrs or ""))
    )
    if coded and value.strip():
        out.append(("code", WRONG_CODE))
    return out


def generate() -> list[dict]:
    mutations = []
    for fixture in SOURCES:
        with open(FIXTURES / fixture, encoding="utf-8", newline="") as f:
            text = f.read()
        stem = Path(fixture).stem.lower().replace(" ", "-").replace("_", "-")
        for n, m in enumerate(LEAF.finditer(text)):
            qname, local, attrs, value = m.group(1), m.group(3), m.group(4) or "", m.group(5)
            start = unique_context(text, m.start(), m.end())
            before = text[start:m.start()]
            element = m.group(0)
            for op, new in variants(local, attrs, value):
                if op == "drop":
                    replacement = ""
                elif op == "twice":
                    replacement = element + element
                else:
                    replacement = f"<{qname}{attrs}>{new}</{qname}>"
                mutations.append({
                    "name": f"gen-{stem}-{n}-{op}",
                    "fixture": fixture,
                    "edits": [[before + element, before + replacement]],
                })
    return mutations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    mutations = generate()
    text = json.dumps(mutations, indent=1, ensure_ascii=False) + "\n"
    if args.check:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT.name} is stale; run python3 tests/support/mutation_generator.py")
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(REPO)} ({len(mutations)} mutations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
