#!/usr/bin/env python3
"""Generate src/invoice/rules/codelists.rs from the official EN 16931 and Peppol validation XSLTs.

The EN 16931 code lists (BR-CL-01 to BR-CL-26) are not typed by hand: this script reads the
compiled schematron of the release the project validates against (../shared/oracle/xslt, see
../shared/oracle/README.md) and writes one Rust table per syntax. With --check it regenerates in
memory and exits 1, naming the lists that differ, when the file in the repository is not exactly
what the XSLTs give; tests/codelists.rs runs that check.

Python 3 standard library only.
"""

from __future__ import annotations

import argparse
import html
import re
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_XSLT_DIR = REPO.parent / "shared" / "oracle" / "xslt"
OUTPUT = REPO / "src" / "invoice" / "rules" / "codelists.rs"
RELEASE = "validation-1.3.16"
SOURCES = (
    ("UBL", "EN16931-UBL-validation.xslt"),
    ("CII", "EN16931-CII-validation.xslt"),
)
# Peppol BIS Billing 3.0's own code lists (PEPPOL-EN16931-CL*), from its UBL artefact; the
# self-billing artefact must carry the same lists.
PEPPOL_SOURCE = "PEPPOL-EN16931-UBL.xslt"
PEPPOL_SB_SOURCE = "PEPPOL-EN16931-UBL-SB.xslt"
PEPPOL_RELEASE = "OpenPeppol 2026.5 (BIS Billing 3.0.21)"
# XRechnung's own lists for its extension and Clean Vehicles Directive rules (BR-DEX-04..08,
# BR-TMP-CVD-01): each is a variable of its artefacts, the UBL one read, the CII one held equal.
XRECHNUNG_SOURCES = ("XRechnung-UBL-validation.xslt", "XRechnung-CII-validation.xslt")
# (Rust static, the variables concatenated into it, what it is).
XRECHNUNG_LISTS = (
    ("XRECHNUNG_ICD_EXT", ("DIGA-CODES", "ISO-6523-ICD-CODES"),
     "The ISO 6523 ICD schemes XRechnung's extension accepts (`$ISO-6523-ICD-EXT-CODES`)."),
    ("XRECHNUNG_EAS_EXT", ("DIGA-CODES", "CEF-EAS-CODES"),
     "The electronic address schemes XRechnung's extension accepts (`$CEF-EAS-EXT-CODES`)."),
    ("XRECHNUNG_7143_CVD", ("CVD-CODE", "UNTDID-7143-CODES"),
     "The item classification lists XRechnung's CVD profile accepts (`$UNTDID-7143-CVD-CODES`)."),
)
XR_VARIABLE_RE = re.compile(r'<xsl:variable name="([\w-]+)" select="\'([^\']*)\'" />')
# Rust column limit the packed code lines stay under (rustfmt's default max_width).
WIDTH = 100

ID_RE = re.compile(r'<xsl:attribute name="id">(BR-CL-\d\d)</xsl:attribute>')
FLAG_RE = re.compile(r'\s*<xsl:attribute name="flag">(\w+)</xsl:attribute>')
TEST_RE = re.compile(r'<svrl:failed-assert test="([^"]*)"')
CONTEXT_RE = re.compile(r'<svrl:fired-rule context="([^"]*)"')
TEXT_RE = re.compile(r"<svrl:text>(.*?)</svrl:text>", re.S)
# `contains(' A B C ', <value>)`, also written `contains( ' A B C ',<value>)`.
CONTAINS_RE = re.compile(r"contains\(\s*'( [^']* )'\s*,")
# What the list is compared with: `concat(' ', normalize-space(X), ' ')` or a bare expression.
CONCAT_RE = re.compile(r"\s*concat\(\s*' '\s*,\s*normalize-space\((.*?)\)\s*,\s*' '\s*\)")
SELF_RE = re.compile(r"self::([\w:]+)")
MIME_RE = re.compile(r"@mimeCode\s*=\s*'([^']*)'")
PEPPOL_ID_RE = re.compile(r'<xsl:attribute name="id">(PEPPOL-EN16931-CL\d+)</xsl:attribute>')
# `some $code in $LIST satisfies <value> = $code`
SOME_RE = re.compile(r"^\s*some \$code in \$(\w+)\s+satisfies\s+(.*?)\s*=\s*\$code\s*$", re.S)
VARIABLE_RE = re.compile(
    r'<xsl:variable name="(\w+)" select="tokenize\(\'([^\']*)\', \'\\s\'\)" />'
)
WS = " \t\r\n"


class SourceError(Exception):
    """The XSLT does not have the shape this script understands: fail rather than guess."""


@dataclass
class CodeList:
    syntax: str
    id: str
    flag: str
    text: str
    context: str
    list: str
    value: str
    codes: list[str]
    upper_case: bool = False
    exact: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.syntax} {self.id} {self.list}".rstrip()


def collapse(text: str) -> str:
    return " ".join(text.split())


def value_after(test: str, pos: int) -> tuple[str, bool, int]:
    """The value compared with the list whose literal ends at `pos`: (xpath, upper_case, end)."""
    m = CONCAT_RE.match(test, pos)
    if m:
        value = m.group(1).strip()
        upper = False
        um = re.fullmatch(r"upper-case\((.*)\)", value)
        if um:
            value, upper = um.group(1).strip(), True
        return value, upper, m.end()
    # A bare expression up to the closing parenthesis of contains(), e.g. BR-CL-08 in UBL.
    depth, i = 0, pos
    while i < len(test):
        c = test[i]
        if c == "(":
            depth += 1
        elif c == ")":
            if depth == 0:
                return test[pos:i].strip(), False, i
            depth -= 1
        i += 1
    raise SourceError(f"unbalanced contains() in {test[:80]!r}")


def codes_of(literal: str, where: str) -> list[str]:
    if "  " in literal:
        # An empty value would then match; the Rust lookup does not model that.
        raise SourceError(f"{where}: code list literal has a double space")
    codes = sorted(set(literal.split()))
    if not codes:
        raise SourceError(f"{where}: empty code list")
    return codes


def lists_of(syntax: str, rid: str, flag: str, text: str, context: str, test: str) -> list[CodeList]:
    where = f"{syntax} {rid}"
    base = dict(syntax=syntax, id=rid, flag=flag, text=text, context=context)
    mimes = MIME_RE.findall(test)
    if mimes:
        if CONTAINS_RE.search(test):
            raise SourceError(f"{where}: both @mimeCode alternatives and contains()")
        return [
            CodeList(
                **base,
                list="",
                value="@mimeCode",
                codes=codes_of(" " + " ".join(mimes) + " ", where),
                exact=True,
                notes=["The test compares the raw @mimeCode with `=`: no normalize-space."],
            )
        ]
    found = list(CONTAINS_RE.finditer(test))
    if not found:
        raise SourceError(f"{where}: no code list in the test")
    out: list[CodeList] = []
    for n, m in enumerate(found):
        value, upper, end = value_after(test, m.end())
        prev_end = found[n - 1].end() if n else 0
        selves = SELF_RE.findall(test[prev_end : m.start()])
        entry = CodeList(
            **base, list="", value=value, codes=codes_of(m.group(1), where), upper_case=upper
        )
        if selves:
            entry.list = selves[-1]
        if not CONCAT_RE.match(test, m.end()):
            entry.exact = True
            entry.notes.append(
                f"The test looks up `{value}` as it is (no normalize-space); the whole test: "
                + collapse(test.replace(m.group(1), " ... "))
            )
        tail = test[end:]
        cm = re.match(r"\s*\)+\s*and\s*(\(.*\))\s*\)\s*$", tail, re.S)
        if n and not selves:
            # A list that only applies under a further condition (BR-CL-10 UBL: SEPA).
            if not cm:
                raise SourceError(f"{where}: second list without self:: or an `and` condition")
            entry.list = " ".join(entry.codes)
            entry.notes.append(f"Allowed only when: {collapse(cm.group(1))}")
        out.append(entry)
    if len({e.list for e in out}) != len(out):
        raise SourceError(f"{where}: two lists without a discriminator")
    if "upper-case" in test and not any(e.upper_case for e in out):
        raise SourceError(f"{where}: upper-case() outside the compared value")
    return out


def extract(syntax: str, path: Path) -> list[CodeList]:
    """Every BR-CL assert of one XSLT, in the order of the file."""
    src = path.read_text(encoding="utf-8")
    out: list[CodeList] = []
    for m in ID_RE.finditer(src):
        rid = m.group(1)
        before = src[: m.start()]
        test_at = before.rfind("<svrl:failed-assert test=")
        ctx_at = before.rfind("<svrl:fired-rule context=")
        tm = TEST_RE.match(src, test_at) if test_at >= 0 else None
        cm = CONTEXT_RE.match(src, ctx_at) if ctx_at >= 0 else None
        fm = FLAG_RE.match(src, m.end())
        xm = TEXT_RE.search(src, m.end())
        if not (tm and cm and fm and xm):
            raise SourceError(f"{path.name} {rid}: test, context, flag or text not found")
        if fm.group(1) not in ("fatal", "warning"):
            raise SourceError(f"{path.name} {rid}: unknown flag {fm.group(1)!r}")
        text = collapse(html.unescape(xm.group(1)))
        prefix = f"[{rid}]-"
        if text.startswith(prefix):
            text = text[len(prefix) :].strip()
        out += lists_of(
            syntax,
            rid,
            fm.group(1),
            text,
            collapse(html.unescape(cm.group(1))),
            html.unescape(tm.group(1)),
        )
    if not out:
        raise SourceError(f"{path.name}: no BR-CL asserts")
    return sorted(out, key=lambda e: e.id)


def extract_peppol(path: Path) -> list[CodeList]:
    """Every PEPPOL-EN16931-CL assert of the Peppol artefact: each looks its value up in a
    `tokenize(...)` variable of the file."""
    src = path.read_text(encoding="utf-8")
    variables = {m.group(1): m.group(2) for m in VARIABLE_RE.finditer(src)}
    out: list[CodeList] = []
    for m in PEPPOL_ID_RE.finditer(src):
        rid = m.group(1)
        before = src[: m.start()]
        tm = TEST_RE.match(src, before.rfind("<svrl:failed-assert test="))
        cm = CONTEXT_RE.match(src, before.rfind("<svrl:fired-rule context="))
        fm = FLAG_RE.match(src, m.end())
        xm = TEXT_RE.search(src, m.end())
        if not (tm and cm and fm and xm):
            raise SourceError(f"{path.name} {rid}: test, context, flag or text not found")
        test = html.unescape(tm.group(1))
        sm = SOME_RE.match(test)
        if not sm or sm.group(1) not in variables:
            raise SourceError(f"{path.name} {rid}: not `some $code in $LIST satisfies X = $code`")
        value = sm.group(2).strip()
        if value == "normalize-space(text())":
            value, exact = ".", False
        elif re.fullmatch(r"@\w+", value):
            exact = True
        else:
            raise SourceError(f"{path.name} {rid}: compared value {value!r} not understood")
        text = collapse(html.unescape(xm.group(1)))
        prefix = f"[{rid}]-"
        if text.startswith(prefix):
            text = text[len(prefix) :].strip()
        entry = CodeList(
            syntax="PEPPOL",
            id=rid,
            flag=fm.group(1),
            text=text,
            context=collapse(html.unescape(cm.group(1))),
            list="",
            value=value,
            codes=codes_of(" " + variables[sm.group(1)] + " ", f"{path.name} {rid}"),
            exact=exact,
        )
        entry.notes.append(f"${sm.group(1)}" + (" (compared as written)" if exact else ""))
        out.append(entry)
    if not out:
        raise SourceError(f"{path.name}: no PEPPOL-EN16931-CL asserts")
    return sorted(out, key=lambda e: e.id)


def rust_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def field_line(indent: str, name: str, value: str) -> list[str]:
    """`name: value,`, wrapped as rustfmt would when it does not fit."""
    line = f"{indent}{name}: {value},"
    if len(line) <= WIDTH:
        return [line]
    return [f"{indent}{name}:", f"{indent}    {value},"]


def render_entry(e: CodeList) -> list[str]:
    ind = "        "
    lines = [f"    // {e.key}"]
    for note in e.notes:
        lines += textwrap.wrap(
            note, WIDTH, initial_indent="    // ", subsequent_indent="    //   ",
            break_long_words=False, break_on_hyphens=False,
        )
    lines.append("    CodeList {")
    lines += field_line(ind, "id", rust_str(e.id))
    lines += field_line(ind, "flag", "Severity::" + e.flag.capitalize())
    lines += field_line(ind, "text", rust_str(e.text))
    lines += field_line(ind, "context", rust_str(e.context))
    lines += field_line(ind, "list", rust_str(e.list))
    lines += field_line(ind, "value", rust_str(e.value))
    lines += field_line(ind, "upper_case", "true" if e.upper_case else "false")
    lines += field_line(ind, "exact", "true" if e.exact else "false")
    lines.append(f"{ind}codes: &[")
    cur = ind + "   "
    for code in e.codes:
        item = " " + rust_str(code) + ","
        if len(cur) + len(item) > WIDTH and cur.strip():
            lines.append(cur)
            cur = ind + "   "
        cur += item
    if cur.strip():
        lines.append(cur)
    lines.append(f"{ind}],")
    lines.append("    },")
    return lines


HEADER = """\
// @generated by scripts/codelists.py from
// {files}
// (ConnectingEurope/eInvoicing-EN16931 release {release}) and {peppol}
// ({peppol_release}), see ../shared/oracle/README.md.
// Do not edit: run `python3 scripts/codelists.py` to regenerate; tests/codelists.rs fails when
// this file and the XSLTs disagree.

//! The EN 16931 code lists (BR-CL-01 to BR-CL-26) as the official schematron tests them, one
//! [`CodeList`] per rule and list, for UBL and for CII, so that the rules check codes against the
//! published artefact rather than a hand-typed copy.
//!
//! A rule with two lists has two entries with the same `id`, told apart by `list`: BR-CL-01 in
//! UBL (`cbc:InvoiceTypeCode`, `cbc:CreditNoteTypeCode`, by the `self::` test) and BR-CL-10 in
//! UBL (the ICD list, and `SEPA`, allowed only under the condition in the comment above it).
//! `list` is empty for a rule with one list.
//!
//! [`PEPPOL`] holds Peppol BIS Billing 3.0's own lists (PEPPOL-EN16931-CL001..CL008), which
//! its artefact applies on top of the EN 16931 ones.

use super::Severity;

/// One code list of one BR-CL assert.
#[derive(Debug)]
pub(crate) struct CodeList {{
    /// The official rule id, e.g. `BR-CL-04`.
    pub id: &'static str,
    /// The schematron flag of the assert.
    pub flag: Severity,
    /// The official message, without the `[BR-CL-NN]-` prefix.
    pub text: &'static str,
    /// The XPath context of the rule the assert belongs to.
    pub context: &'static str,
    /// Which list of the rule this is when it has more than one (see the module docs), else "".
    pub list: &'static str,
    /// The XPath the test compares with the list, relative to `context` (`.` or an attribute).
    pub value: &'static str,
    /// The test upper-cases the value before the lookup (BR-CL-22).
    pub upper_case: bool,
    /// The test compares the value as it is, without normalize-space (BR-CL-24 `@mimeCode = ...`).
    pub exact: bool,
    /// The codes, sorted and deduplicated, for `binary_search`.
    pub codes: &'static [&'static str],
}}

/// Whether `value` is in `list` as the official test decides: the value is normalize-spaced
/// (unless `exact`), a value with a space inside never matches, and it is upper-cased first
/// when `upper_case`.
pub(crate) fn lookup(list: &CodeList, value: &str) -> bool {{
    let is_ws = |c: char| matches!(c, ' ' | '\\t' | '\\r' | '\\n');
    let value = if list.exact {{
        value
    }} else {{
        value.trim_matches(is_ws)
    }};
    if !list.exact && value.contains(is_ws) {{
        return false;
    }}
    if list.upper_case {{
        let upper = value.to_uppercase();
        list.codes.binary_search(&upper.as_str()).is_ok()
    }} else {{
        list.codes.binary_search(&value).is_ok()
    }}
}}

#[cfg(test)]
#[path = "codelists_tests.rs"]
mod tests;
"""


def render_table(name: str, syntax: str, entries: list[CodeList]) -> list[str]:
    doc = (
        f"/// The PEPPOL-EN16931-CL code lists of {PEPPOL_SOURCE}, by rule id."
        if syntax == "PEPPOL"
        else f"/// The BR-CL code lists of EN16931-{syntax}-validation.xslt, by rule id."
    )
    lines = [
        "",
        doc,
        "#[rustfmt::skip]",
        f"pub(crate) static {name}: &[CodeList] = &[",
    ]
    for e in entries:
        lines += render_entry(e)
    lines.append("];")
    return lines


VAT_PREFIX_ID = "BR-CO-09"


def vat_prefixes(path: Path) -> list[str]:
    """The country prefixes BR-CO-09 accepts at the start of a VAT identifier, from its
    `contains(' 1A AD … ', …)` test."""
    text = path.read_text(encoding="utf-8")
    at = text.find(f'<xsl:attribute name="id">{VAT_PREFIX_ID}</xsl:attribute>')
    tests = list(TEST_RE.finditer(text, 0, at)) if at >= 0 else []
    if not tests:
        raise SourceError(f"{path.name}: no {VAT_PREFIX_ID} assert")
    found = CONTAINS_RE.search(html.unescape(tests[-1].group(1)))
    if not found:
        raise SourceError(f"{path.name}: {VAT_PREFIX_ID} is not a contains() list")
    return codes_of(found.group(1), f"{path.name} {VAT_PREFIX_ID}")


def render_prefixes(syntax: str, codes: list[str]) -> list[str]:
    lines = [
        "",
        f"/// The country prefixes {VAT_PREFIX_ID} of EN16931-{syntax}-validation.xslt accepts at the",
        "/// start of a VAT identifier.",
        "#[rustfmt::skip]",
        f"pub(crate) static VAT_PREFIXES_{syntax}: &[&str] = &[",
    ]
    return lines + packed(codes) + ["];"]


def packed(codes: list[str]) -> list[str]:
    """The codes as Rust string literals, as many per line as fit in WIDTH."""
    lines, cur = [], "   "
    for code in codes:
        item = " " + rust_str(code) + ","
        if len(cur) + len(item) > WIDTH and cur.strip():
            lines.append(cur)
            cur = "   "
        cur += item
    if cur.strip():
        lines.append(cur)
    return lines


def xrechnung_variables(path: Path) -> dict[str, str]:
    """The string variables (`select="' A B '"`) of an XRechnung artefact."""
    text = path.read_text(encoding="utf-8")
    return {m.group(1): m.group(2) for m in XR_VARIABLE_RE.finditer(text)}


def xrechnung_lists(xslt_dir: Path) -> list[tuple[str, str, list[str]]]:
    ubl, cii = (xrechnung_variables(xslt_dir / name) for name in XRECHNUNG_SOURCES)
    out = []
    for static, names, doc in XRECHNUNG_LISTS:
        for name in names:
            if name not in ubl:
                raise SourceError(f"{XRECHNUNG_SOURCES[0]}: no variable {name}")
            if cii.get(name) != ubl[name]:
                raise SourceError(f"{XRECHNUNG_SOURCES[1]} and {XRECHNUNG_SOURCES[0]} differ on ${name}")
        joined = "".join(ubl[n] for n in names)
        # Where two lists meet the artefact's concatenation has a double space, so an empty
        # value is found too: the table then holds "".
        codes = sorted(set(joined.split()) | ({""} if "  " in joined else set()))
        out.append((static, doc, codes))
    return out


def render_xrechnung(static: str, doc: str, codes: list[str]) -> list[str]:
    lines = ["", f"/// {doc}", "#[rustfmt::skip]", f"pub(crate) static {static}: &[&str] = &[",
             f"    // XRECHNUNG {static}"]
    return lines + packed(codes) + ["];"]


def generate(xslt_dir: Path) -> tuple[str, dict[str, str]]:
    """The Rust file, and each entry's text by key (to say which list differs)."""
    files = " and ".join(f for _, f in SOURCES)
    lines = HEADER.format(
        files=files, release=RELEASE, peppol=PEPPOL_SOURCE, peppol_release=PEPPOL_RELEASE
    ).splitlines()
    blocks: dict[str, str] = {}
    for syntax, name in SOURCES:
        path = xslt_dir / name
        if not path.is_file():
            raise SourceError(f"{path} is missing (see ../shared/oracle/README.md)")
        entries = extract(syntax, path)
        for e in entries:
            blocks[e.key] = "\n".join(render_entry(e))
        lines += render_table(syntax, syntax, entries)
    peppol = extract_peppol(xslt_dir / PEPPOL_SOURCE)
    sb = extract_peppol(xslt_dir / PEPPOL_SB_SOURCE)
    if [(e.id, e.value, e.exact, e.codes) for e in sb] != [
        (e.id, e.value, e.exact, e.codes) for e in peppol
    ]:
        raise SourceError(f"{PEPPOL_SB_SOURCE} and {PEPPOL_SOURCE} carry different code lists")
    for e in peppol:
        blocks[e.key] = "\n".join(render_entry(e))
    lines += render_table("PEPPOL", "PEPPOL", peppol)
    for syntax, name in SOURCES:
        codes = vat_prefixes(xslt_dir / name)
        lines += render_prefixes(syntax, codes)
        blocks[f"{syntax} {VAT_PREFIX_ID}"] = " ".join(codes)
    for static, doc, codes in xrechnung_lists(xslt_dir):
        rendered = render_xrechnung(static, doc, codes)
        lines += rendered
        blocks[f"XRECHNUNG {static}"] = "\n".join(rendered[5:-1])
    return "\n".join(lines) + "\n", blocks


def blocks_of(text: str) -> dict[str, str]:
    """Split an existing file into its entries, by the `// SYNTAX BR-CL-NN list` line."""
    out: dict[str, str] = {}
    key, cur = None, []
    for line in text.splitlines():
        m = re.match(
            r"    // ((?:UBL|CII) BR-CL-\d\d.*|PEPPOL PEPPOL-EN16931-CL\d+.*|XRECHNUNG \w+)$", line
        )
        if m:
            if key:
                out[key] = "\n".join(cur)
            key, cur = m.group(1), []
        elif key and line == "];":
            out[key] = "\n".join(cur)
            key, cur = None, []
            continue
        if key:
            cur.append(line)
    return out


def check(expected: str, blocks: dict[str, str]) -> int:
    try:
        actual = OUTPUT.read_text(encoding="utf-8")
    except OSError as err:
        print(f"{OUTPUT}: {err}", file=sys.stderr)
        return 1
    if actual == expected:
        print(f"{OUTPUT.relative_to(REPO)} matches the XSLTs ({len(blocks)} lists)")
        return 0
    have = blocks_of(actual)
    for key in blocks:
        if key not in have:
            print(f"missing from the file: {key}", file=sys.stderr)
        elif have[key] != blocks[key]:
            print(f"differs from the XSLT: {key}", file=sys.stderr)
    for key in have:
        if key not in blocks:
            print(f"not in the XSLT: {key}", file=sys.stderr)
    print(
        f"{OUTPUT.relative_to(REPO)} is not what the XSLTs give; "
        "regenerate with `python3 scripts/codelists.py`",
        file=sys.stderr,
    )
    return 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--xslt-dir", type=Path, default=DEFAULT_XSLT_DIR)
    ap.add_argument("--check", action="store_true", help="compare, do not write; exit 1 on drift")
    args = ap.parse_args()
    try:
        expected, blocks = generate(args.xslt_dir)
    except (SourceError, OSError) as err:
        print(f"codelists.py: {err}", file=sys.stderr)
        return 2
    if args.check:
        return check(expected, blocks)
    OUTPUT.write_text(expected, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(REPO)} ({len(blocks)} lists)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
