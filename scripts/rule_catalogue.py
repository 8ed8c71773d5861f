#!/usr/bin/env python3
"""Generate src/invoice/rules/catalogue.rs, the official rule catalogue, from the nine XSLTs.

Every rule trustgate reports should carry the id, flag and text the official validators give it.
This script reads every `svrl:failed-assert` and `svrl:successful-report` of the compiled
schematron the project validates against (../shared/oracle/xslt, see ../shared/oracle/README.md
and ../shared/corpus/VERDICTS.md) and writes one table of (id, flag, text, layers), sorted by id.
With --check it regenerates in memory and exits 1, naming the first differences, when the file in
the repository is not exactly what the XSLTs give; tests/rule_catalogue.rs runs that check.
With --stats it prints, per layer, how many distinct rule ids there are and how many of them are
fatal, warning or information; with --implemented FILE (one id per line, `-` for stdin, as
`cargo run -q --example implemented_rules` prints them) also how many of them trustgate checks,
and which fatal ones it does not (a line `ID KEY,KEY` counts the id only for those layers).

Python 3 standard library only.
"""

from __future__ import annotations

import argparse
import difflib
import html
import re
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_XSLT_DIR = REPO.parent / "shared" / "oracle" / "xslt"
DEFAULT_VERDICTS = REPO.parent / "shared" / "corpus" / "VERDICTS.md"
OUTPUT = REPO / "src" / "invoice" / "rules" / "catalogue.rs"
# Rust column limit the generated code stays under (rustfmt's default max_width); only string
# literals that cannot be broken go past it.
WIDTH = 100


@dataclass(frozen=True)
class Layer:
    key: str  # the layer key of VERDICTS.md
    file: str
    release: str  # as VERDICTS.md names it; checked against it when that file is there

    @property
    def const(self) -> str:
        return self.key.replace("-", "_").replace(".", "_")


# In the order of VERDICTS.md; a layer's bit is its position here.
LAYERS = (
    Layer("EN16931-UBL", "EN16931-UBL-validation.xslt", "validation-1.3.16"),
    Layer("EN16931-CII", "EN16931-CII-validation.xslt", "validation-1.3.16"),
    Layer("PEPPOL-BIS3-UBL", "PEPPOL-EN16931-UBL.xslt", "OpenPeppol 2026.5 (BIS Billing 3.0.21)"),
    Layer(
        "PEPPOL-SB-UBL", "PEPPOL-EN16931-UBL-SB.xslt", "OpenPeppol 2026.5 (BIS Self-Billing 3.0.2)"
    ),
    Layer("SI-UBL-2.0", "si-ubl-2.0.xsl", "SI-UBL 2.0.3.12"),
    Layer("SI-UBL-2.0-GACCOUNT", "si-ubl-2.0-ext-gaccount.xsl", "G-account extension 1.0.2.12"),
    Layer("NLCIUS-CII", "nlcius-cii-1.0.xsl", "NLCIUS-CII 1.0.3.12"),
    Layer("XRECHNUNG-UBL", "XRechnung-UBL-validation.xslt", "KoSIT XRechnung Schematron 2.5.0"),
    Layer("XRECHNUNG-CII", "XRechnung-CII-validation.xslt", "KoSIT XRechnung Schematron 2.5.0"),
)
FLAGS = ("fatal", "warning", "information")

BLOCK_RE = re.compile(r"<svrl:(failed-assert|successful-report)\b(.*?)</svrl:\1>", re.S)
ID_RE = re.compile(r'<xsl:attribute name="id">([^<]*)</xsl:attribute>')
FLAG_RE = re.compile(r'<xsl:attribute name="flag">([^<]*)</xsl:attribute>')
TEXT_RE = re.compile(r"<svrl:text>(.*?)</svrl:text>", re.S)
# The XSLT instructions a message may contain: `<xsl:text/>` (outputs nothing) and
# `<xsl:value-of select="..."/>` (a value of the invoice, shown as `…`).
INSTR_RE = re.compile(r'<xsl:text\s*/>|<xsl:value-of\s+select="[^"]*"\s*/>')
# The id a message starts with, for the asserts that have no id attribute (as run_oracle.py).
BRACKET_RE = re.compile(r"\[([^\]\s]+)\]")
ELLIPSIS = "…"


class SourceError(Exception):
    """An XSLT or VERDICTS.md does not have the shape this script understands: fail, not guess."""


@dataclass(frozen=True)
class Assert:
    id: str
    flag: str
    text: str


@dataclass
class Notes:
    """What the header says about the sources: asserts without an id, texts with XSLT in them."""

    id_from_text: list[str]
    with_values: list[str]


def collapse(text: str) -> str:
    return " ".join(text.split())


def message(raw: str, where: str) -> tuple[str, bool]:
    """The text of an `svrl:text`, as the validator writes it, and whether it had a value in it.

    Whitespace-only text between two XSLT instructions is not output (XSLT strips it from the
    stylesheet), so it is dropped before the instructions are replaced.
    """
    parts = INSTR_RE.split(raw)
    instrs = INSTR_RE.findall(raw)
    out, values = [], False
    for n, part in enumerate(parts):
        if "<" in part:
            raise SourceError(f"{where}: unexpected markup in the text: {part.strip()[:80]!r}")
        if n == 0 or n == len(parts) - 1 or part.strip():
            out.append(part)
        if n < len(instrs) and instrs[n].startswith("<xsl:value-of"):
            out.append(ELLIPSIS)
            values = True
    return collapse(html.unescape("".join(out))), values


def strip_prefix(rid: str, text: str) -> str:
    """The text without a leading `[ID]-`, `[ID] -` or `[ID] ` that repeats the id."""
    head = f"[{rid}]"
    if not text.startswith(head):
        return text
    rest = text[len(head) :].lstrip()
    if rest.startswith("-"):
        rest = rest[1:].lstrip()
    return rest


def extract(layer: Layer, path: Path, notes: Notes) -> set[Assert]:
    """Every distinct (id, flag, text) of one XSLT."""
    src = path.read_text(encoding="utf-8")
    out: set[Assert] = set()
    for m in BLOCK_RE.finditer(src):
        line = src.count("\n", 0, m.start()) + 1
        where = f"{path.name}:{line}"
        body = m.group(2)
        ids, flags, texts = ID_RE.findall(body), FLAG_RE.findall(body), TEXT_RE.findall(body)
        if len(ids) > 1 or len(flags) != 1 or len(texts) != 1:
            raise SourceError(
                f"{where}: {len(ids)} ids, {len(flags)} flags, {len(texts)} texts in one assert"
            )
        flag = flags[0].strip()
        if flag not in FLAGS:
            raise SourceError(f"{where}: unknown flag {flag!r}")
        text, values = message(texts[0], where)
        if ids:
            rid = ids[0].strip()
        else:
            bm = BRACKET_RE.match(text)
            if not bm:
                raise SourceError(f"{where}: no id attribute and no [ID] at the start of the text")
            rid = bm.group(1)
            notes.id_from_text.append(f"{rid} ({layer.key})")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", rid):
            raise SourceError(f"{where}: odd rule id {rid!r}")
        text = strip_prefix(rid, text)
        if not text:
            raise SourceError(f"{where}: {rid} has an empty text")
        if values:
            notes.with_values.append(rid)
        out.add(Assert(rid, flag, text))
    if not out:
        raise SourceError(f"{path.name}: no asserts")
    return out


def check_verdicts(path: Path) -> None:
    """The layer keys, files and releases above are the ones VERDICTS.md names."""
    rows: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\| `([A-Z0-9.-]+)` \|(.*)$", line)
        if m:
            rows[m.group(1)] = m.group(2)
    keys = [layer.key for layer in LAYERS]
    if list(rows) != keys:
        raise SourceError(f"{path}: layer keys {list(rows)} are not {keys}")
    previous = ""
    for layer in LAYERS:
        row = rows[layer.key]
        artefact = row.split("|")[0].strip()
        if artefact.startswith("same"):
            # "same, CII": the release of the row above.
            artefact = previous
        if layer.release not in artefact:
            raise SourceError(f"{path}: {layer.key} does not name the release {layer.release!r}")
        if f"/{layer.file}`" not in row:
            raise SourceError(f"{path}: {layer.key} does not name {layer.file}")
        previous = artefact


@dataclass(frozen=True)
class Entry:
    id: str
    flag: str
    text: str
    layers: int


def catalogue(xslt_dir: Path) -> tuple[list[Entry], dict[str, set[Assert]], Notes]:
    notes = Notes([], [])
    per_layer: dict[str, set[Assert]] = {}
    bits: dict[Assert, int] = {}
    for n, layer in enumerate(LAYERS):
        path = xslt_dir / layer.file
        if not path.is_file():
            raise SourceError(f"{path} is missing (see ../shared/oracle/README.md)")
        found = extract(layer, path, notes)
        per_layer[layer.key] = found
        for a in found:
            bits[a] = bits.get(a, 0) | (1 << n)
    entries = [Entry(a.id, a.flag, a.text, b) for a, b in bits.items()]
    entries.sort(key=lambda e: (e.id, FLAGS.index(e.flag), e.text))
    return entries, per_layer, notes


def rust_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def wrap_comment(text: str, prefix: str) -> list[str]:
    lines, cur = [], ""
    for word in text.split():
        if cur and len(prefix) + len(cur) + 1 + len(word) > WIDTH:
            lines.append(prefix + cur)
            cur = ""
        cur = f"{cur} {word}" if cur else word
    lines.append(prefix + cur)
    return lines


def render_entry(e: Entry) -> list[str]:
    ind = " " * 8
    lines = [
        "    Official {",
        f"{ind}id: {rust_str(e.id)},",
        f"{ind}flag: Flag::{e.flag.capitalize()},",
    ]
    text = f"{ind}text: {rust_str(e.text)},"
    lines += [text] if len(text) <= WIDTH else [f"{ind}text:", f"{ind}    {rust_str(e.text)},"]
    names = [f"layer::{layer.const}" for n, layer in enumerate(LAYERS) if e.layers & (1 << n)]
    one = f"{ind}layers: {' | '.join(names)},"
    if len(one) <= WIDTH:
        lines.append(one)
    else:
        lines.append(f"{ind}layers: {names[0]}")
        lines += [f"{ind}    | {name}" for name in names[1:-1]]
        lines.append(f"{ind}    | {names[-1]},")
    lines.append("    },")
    return lines


HEADER = """\
// @generated by `python3 scripts/rule_catalogue.py` from the official compiled schematron in
// ../shared/oracle/xslt (see ../shared/oracle/README.md and ../shared/corpus/VERDICTS.md):
{files}
// Do not edit: run `python3 scripts/rule_catalogue.py` to regenerate; tests/rule_catalogue.rs
// fails when this file and the XSLTs disagree.
//
// Each text is the assert's `svrl:text`, entity-decoded, whitespace collapsed, without a leading
// `[ID]-`, `[ID] -` or `[ID] ` that repeats the id. Where a text outputs a value of the invoice
// (`<xsl:value-of select="..."/>`), the value is written `…`:
{values}
// Asserts without an `id` attribute get the id their text starts with, in brackets, as
// run_oracle.py does:
{no_id}

//! The official rule catalogue: every rule id of the nine validation artefacts, with its flag and
//! text, so that a finding names the rule as the official validators do and the documentation can
//! count the rules of each layer.
//!
//! One [`Official`] per distinct (id, flag, text); `layers` says which artefacts carry exactly
//! that. An id whose flag or text differs between artefacts has one entry per variant, and
//! [`lookup`] picks the one of the layer asked for.

/// The schematron flag of an assert (only the flags that occur in the artefacts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flag {{
{flags}
}}

/// One bit per validation artefact, named after the layer keys of VERDICTS.md.
pub(crate) mod layer {{
{layers}
}}

/// One official rule as one or more artefacts state it.
#[derive(Debug)]
pub(crate) struct Official {{
    /// The rule id, e.g. `BR-16` or `PEPPOL-EN16931-R008`.
    pub(crate) id: &'static str,
    /// The flag the artefacts give it.
    pub(crate) flag: Flag,
    /// The official message, without the `[ID]` prefix; `…` stands for a value of the invoice.
    pub(crate) text: &'static str,
    /// The [`layer`] bits of the artefacts that carry exactly this id, flag and text.
    pub(crate) layers: u16,
}}

/// The entry for `id` whose `layers` contains `layer`, else the first entry with that id.
pub(crate) fn lookup(id: &str, layer: u16) -> Option<&'static Official> {{
    let start = RULES.partition_point(|r| r.id < id);
    let same = RULES[start..].iter().take_while(|r| r.id == id);
    let mut first = None;
    for rule in same {{
        if rule.layers & layer != 0 {{
            return Some(rule);
        }}
        first = first.or(Some(rule));
    }}
    first
}}

/// Every entry of one layer (an id with variants there appears once per variant).
pub(crate) fn layer_rules(layer: u16) -> impl Iterator<Item = &'static Official> {{
    RULES.iter().filter(move |r| r.layers & layer != 0)
}}

/// Every official rule, sorted by id (plain string order), one entry per (id, flag, text).
#[rustfmt::skip]
pub(crate) static RULES: &[Official] = &["""


def comment_list(items: list[str], empty: str) -> str:
    if not items:
        return f"// {empty}"
    return "\n".join(wrap_comment(", ".join(items) + ".", "//   "))


def generate(xslt_dir: Path) -> tuple[str, list[Entry], dict[str, set[Assert]]]:
    entries, per_layer, notes = catalogue(xslt_dir)
    used = {e.flag for e in entries}
    doc = {
        "fatal": "The invoice is invalid.",
        "warning": "The invoice is valid but questionable.",
        "information": "A note; the invoice is valid.",
    }
    flags = "\n".join(
        f"    /// `flag=\"{f}\"`: {doc[f]}\n    {f.capitalize()}," for f in FLAGS if f in used
    )
    layers = "\n".join(
        f"    /// `{layer.key}`: {layer.file}.\n    pub(crate) const {layer.const}: u16 = 1 << {n};"
        for n, layer in enumerate(LAYERS)
    )
    files = "\n".join(f"//   {layer.file} ({layer.key}, {layer.release})" for layer in LAYERS)
    head = HEADER.format(
        files=files,
        values=comment_list(sorted(set(notes.with_values)), "  (none)"),
        no_id=comment_list(sorted(set(notes.id_from_text)), "  (none)"),
        flags=flags,
        layers=layers,
    )
    lines = head.splitlines()
    for e in entries:
        lines += render_entry(e)
    lines.append("];")
    return "\n".join(lines) + "\n", entries, per_layer


def ids_by_line(lines: list[str]) -> list[str]:
    """For each line, the id of the table entry it belongs to, or "(header)" above the table."""
    out, cur = [], "(header)"
    for n, line in enumerate(lines):
        m = re.match(r'        id: "(.*)",$', line)
        if m:
            cur = m.group(1)
        elif line == "    Official {" and n + 1 < len(lines):
            m = re.match(r'        id: "(.*)",$', lines[n + 1])
            cur = m.group(1) if m else cur
        out.append(cur)
    return out


def differing_ids(actual: list[str], expected: list[str]) -> list[str]:
    """The ids of the entries that changed, in file order, or "(header)" for the rest."""
    have, want = ids_by_line(actual), ids_by_line(expected)
    names: list[str] = []
    matcher = difflib.SequenceMatcher(None, actual, expected, autojunk=False)
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal":
            continue
        for rid in have[a0:a1] + want[b0:b1]:
            if rid not in names:
                names.append(rid)
    return names


def check(expected: str, count: int) -> int:
    try:
        actual = OUTPUT.read_text(encoding="utf-8")
    except OSError as err:
        print(f"{OUTPUT}: {err}", file=sys.stderr)
        return 1
    rel = OUTPUT.relative_to(REPO)
    if actual == expected:
        print(f"{rel} matches the XSLTs ({count} entries)")
        return 0
    diff = list(
        difflib.unified_diff(
            actual.splitlines(), expected.splitlines(), f"{rel} (in the repository)",
            f"{rel} (from the XSLTs)", n=1, lineterm="",
        )
    )
    names = differing_ids(actual.splitlines(), expected.splitlines())
    if names:
        more = f" and {len(names) - 10} more" if len(names) > 10 else ""
        print(f"rules that differ: {', '.join(names[:10])}{more}", file=sys.stderr)
    for line in diff[:40]:
        print(line, file=sys.stderr)
    if len(diff) > 40:
        print(f"... and {len(diff) - 40} more diff lines", file=sys.stderr)
    print(
        f"{rel} is not what the XSLTs give; regenerate with `python3 scripts/rule_catalogue.py`",
        file=sys.stderr,
    )
    return 1


def stats(per_layer: dict[str, set[Assert]], implemented: dict[str, set[str] | None] | None) -> None:
    head = f"{'layer':<22}{'ids':>6}{'fatal':>7}{'warning':>9}{'information':>13}"
    if implemented is not None:
        head += f"{'checked':>9}{'checked fatal':>15}"
    print(head)
    missing: dict[str, list[str]] = {}
    missing_warnings: dict[str, list[str]] = {}
    for layer in LAYERS:
        found = per_layer[layer.key]
        ids = {a.id for a in found}
        by = [len({a.id for a in found if a.flag == f}) for f in FLAGS]
        row = f"{layer.key:<22}{len(ids):>6}{by[0]:>7}{by[1]:>9}{by[2]:>13}"
        if implemented is not None:
            here = {i for i, keys in implemented.items() if keys is None or layer.key in keys}
            fatal = {a.id for a in found if a.flag == FLAGS[0]}
            row += f"{len(ids & here):>9}{len(fatal & here):>15}"
            missing[layer.key] = sorted(fatal - here)
            warning = {a.id for a in found if a.flag == FLAGS[1]}
            missing_warnings[layer.key] = sorted(warning - here - fatal)
        print(row)
        both = sorted(i for i in ids if len({a.flag for a in found if a.id == i}) > 1)
        if both:
            print(f"  ids with more than one flag in {layer.key}: {', '.join(both)}")
    for key, ids in missing.items():
        print(f"fatal ids of {key} not checked ({len(ids)}): {' '.join(ids)}")
    for key, ids in missing_warnings.items():
        print(f"warning ids of {key} not checked ({len(ids)}): {' '.join(ids)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--xslt-dir", type=Path, default=DEFAULT_XSLT_DIR)
    ap.add_argument(
        "--verdicts", type=Path, default=DEFAULT_VERDICTS,
        help="VERDICTS.md whose layer keys and releases are checked (skipped when absent)",
    )
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="compare, do not write; exit 1 on drift")
    mode.add_argument("--stats", action="store_true", help="print the rules per layer and flag")
    ap.add_argument(
        "--implemented", type=Path,
        help="with --stats: a file of the ids trustgate checks (- for stdin)",
    )
    args = ap.parse_args()
    try:
        if args.verdicts.is_file():
            check_verdicts(args.verdicts)
        else:
            print(
                f"rule_catalogue.py: {args.verdicts} not found, layer keys unchecked",
                file=sys.stderr,
            )
        expected, entries, per_layer = generate(args.xslt_dir)
    except (SourceError, OSError) as err:
        print(f"rule_catalogue.py: {err}", file=sys.stderr)
        return 2
    if args.stats:
        implemented = None
        if args.implemented is not None:
            text = sys.stdin.read() if str(args.implemented) == "-" else args.implemented.read_text()
            # `ID` (checked for every artefact) or `ID KEY,KEY` (for those artefacts' documents).
            implemented = {}
            for line in text.splitlines():
                parts = line.split()
                if parts:
                    implemented[parts[0]] = set(parts[1].split(",")) if len(parts) > 1 else None
        stats(per_layer, implemented)
        return 0
    if args.check:
        return check(expected, len(entries))
    OUTPUT.write_text(expected, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(REPO)} ({len(entries)} entries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
