#!/usr/bin/env python3
"""Generate src/invoice/rules/binding_tables.rs from the official EN 16931 XSLTs.

The syntax binding rules of CEN/TC 434's validation artefacts (UBL-CR-*, UBL-SR-*, UBL-DT-*,
CII-SR-*, CII-DT-*) are mostly of three shapes, evaluated in a context element:
  not(PATH)               PATH (an element, or an attribute) must not be present
  count(PATH) <= N        at most N of them
  count(PATH) = N         exactly N
and a few more: `not(PATH) or self::X` / `ancestor::X` / (from the root) `../X` (absent unless the
context passes the guard), `not(A and B)` (not both), `count(//@a) - count(//X/@a) <= 0` (the
attribute nowhere but on X).
This script reads every template of the binding pattern (its `match`, mode and priority) and
every assert of those families in it, and writes the ones of these shapes as data, so
`invoice::bindings` evaluates them in the one streaming pass. Templates whose context this
script cannot turn into data are kept too, as "may match" patterns: a node takes only its
highest-priority template in a mode (XSLT), so a rule is never reported where a template we
cannot evaluate might take the node instead.

Asserts of other shapes are listed with --stats; their ids are not in the generated table and
stay for hand-written code (or unimplemented). Ids that hand-written code already reports
(found in src/invoice by their literal) are left out, so no rule is reported twice.

  python3 scripts/binding_rules.py            # rewrite the table
  python3 scripts/binding_rules.py --check    # exit 1 when the table and the XSLTs disagree
  python3 scripts/binding_rules.py --stats    # what is generated, and what is not and why
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
XSLT_DIR = REPO.parent / "shared" / "oracle" / "xslt"
OUT = REPO / "src" / "invoice" / "rules" / "binding_tables.rs"

ARTEFACTS = [
    ("UBL", "EN16931-UBL-validation.xslt", ("UBL-CR", "UBL-SR", "UBL-DT")),
    ("CII", "EN16931-CII-validation.xslt", ("CII-SR", "CII-DT")),
]

# XSLT prefix -> the Rust `Ns` variant of invoice::xml.
NAMESPACES = {
    "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2": "UblInvoice",
    "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2": "UblCreditNote",
    "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2": "UblCbc",
    "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2": "UblCac",
    "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2": "UblExt",
    "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100": "CiiRsm",
    "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100": "CiiRam",
    "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100": "CiiUdt",
    "urn:un:unece:uncefact:data:standard:QualifiedDataType:100": "CiiQdt",
}

NAME = r"[A-Za-z_][\w.-]*"
QNAME = rf"{NAME}:{NAME}"


class Unsupported(Exception):
    pass


def unescape(s: str) -> str:
    return (s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
            .replace("&apos;", "'").replace("&amp;", "&"))


def split_top(s: str, sep: str) -> list[str]:
    """Splits `s` at `sep` outside brackets, parentheses and quotes."""
    out, depth, quote, cur = [], 0, None, ""
    i = 0
    while i < len(s):
        c = s[i]
        if quote:
            cur += c
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
            cur += c
        elif c in "([":
            depth += 1
            cur += c
        elif c in ")]":
            depth -= 1
            cur += c
        elif depth == 0 and s.startswith(sep, i):
            out.append(cur)
            cur = ""
            i += len(sep)
            continue
        else:
            cur += c
        i += 1
    out.append(cur)
    return out


class Names:
    """Qualified names, numbered from 1 in order of first use (0 is any other name)."""

    def __init__(self, prefixes: dict[str, str]):
        self.prefixes = prefixes
        self.ids: dict[tuple[str, str], int] = {}

    def ns(self, prefix: str) -> str:
        uri = self.prefixes.get(prefix)
        if uri not in NAMESPACES:
            raise Unsupported(f"namespace prefix {prefix}")
        return NAMESPACES[uri]

    def id(self, qname: str) -> int:
        prefix, local = qname.split(":")
        key = (self.ns(prefix), local)
        if key not in self.ids:
            self.ids[key] = len(self.ids) + 1
        return self.ids[key]


def parse_step(step: str, names: Names, firing: bool):
    """A pattern step as Rust: `Step::Name(id)`, `Step::Suffix(ns, "X")`, `Step::AnySuffix("X")`.
    `firing`: predicates other than ends-with(name()) make the step unsupported; otherwise
    (a "may match" pattern) they are dropped, which matches more nodes, never fewer."""
    m = re.fullmatch(rf"({QNAME}|{NAME}:\*|\*)(\[(.*)\])?", step.strip())
    if not m:
        raise Unsupported(f"step {step!r}")
    name, pred = m.group(1), m.group(3)
    suffix = None
    if pred is not None:
        pm = re.fullmatch(r"\s*ends-with\(name\(\),\s*'(\w+)'\)\s*", pred)
        if pm:
            suffix = pm.group(1)
        elif firing:
            raise Unsupported(f"predicate [{pred}]")
        else:
            pm = re.match(r"\s*ends-with\(name\(\),\s*'(\w+)'\)", pred)
            suffix = pm.group(1) if pm else None
    if name == "*":
        return f'Step::AnySuffix("{suffix or ""}")'
    if name.endswith(":*"):
        return f'Step::Suffix(Ns::{names.ns(name[:-2])}, "{suffix or ""}")'
    if suffix is not None:
        raise Unsupported(f"a name and ends-with: {step}")
    return f"Step::Name({names.id(name)})"


def parse_pattern(match: str, names: Names, firing: bool) -> list[str]:
    """A template's match as Rust `Pattern`s, one per alternative."""
    out = []
    for alt in split_top(unescape(match), "|"):
        alt = alt.strip()
        if alt.startswith("//"):
            anchored, body = False, alt[2:]
        elif alt.startswith("/"):
            anchored, body = True, alt[1:]
        else:
            anchored, body = False, alt
        steps = [parse_step(s, names, firing) for s in split_top(body, "/")]
        if any("//" in s for s in steps) or "" in split_top(body, "/"):
            raise Unsupported(f"a // inside {alt}")
        out.append(f"Pattern {{ anchored: {str(anchored).lower()}, steps: &[{', '.join(steps)}] }}")
    return out


def parse_rel(path: str, names: Names) -> list[tuple[list[int], str | None]]:
    """A relative path (no predicates) as (element ids, attribute) alternatives."""
    path = path.strip()
    alts: list[tuple[list[int], str | None]] = []
    m = re.fullmatch(r"\(([^()]*)\)(/.*)?", path)
    if m:
        heads = split_top(m.group(1), "|")
        rest = m.group(2) or ""
        for h in heads:
            alts.extend(parse_rel(h.strip() + rest, names))
        return alts
    if "//" in path or ".." in path or "[" in path or "(" in path or "|" in path:
        raise Unsupported(f"path {path!r}")
    steps = path.split("/")
    attr = None
    if steps[-1].startswith("@"):
        attr = steps.pop()[1:]
        if ":" in attr or not re.fullmatch(NAME, attr):
            raise Unsupported(f"attribute {attr}")
    ids = []
    for s in steps:
        if not re.fullmatch(QNAME, s):
            raise Unsupported(f"step {s!r}")
        ids.append(names.id(s))
    return [(ids, attr)]


def parse_test(test: str, names: Names, root_context: bool) -> list[str]:
    """An assert's test as Rust `Check`s (all must hold)."""
    t = unescape(test).strip()
    while t.startswith("(") and t.endswith(")") and split_top(t[1:-1], "|") and balanced(t[1:-1]):
        t = t[1:-1].strip()
    # `not(PATH) or GUARD`, a guard the context element decides: its own name (`self::x`, and
    # from the root `../x`, the root itself) or an ancestor's.
    m = re.fullmatch(r"not\(([^()]*)\)\s+or\s+\(?\s*(self::|\.\./|ancestor::)(" + QNAME + r")\s*\)?", t)
    if m:
        axis, guard = m.group(2), names.id(m.group(3))
        if axis == "../" and not root_context:
            raise Unsupported("../ outside the root context")
        unless = f"Unless::Ancestor({guard})" if axis == "ancestor::" else f"Unless::SelfIs({guard})"
        return [f"Check::AbsentUnless({rel_rust(ids, attr)}, {unless})"
                for ids, attr in parse_rel(m.group(1), names)]
    # `not(A and B)`, and its spelled-out form `(not(A) and B) or (A and not(B)) or (not(A)
    # and not(B))`: not both present.
    m = re.fullmatch(r"not\(([^()]*)\s+and\s+([^()]*)\)", t)
    spelled = re.fullmatch(
        r"\(not\s*\(([^()]*)\)\s+and\s+([^()]*)\)\s+or\s+\(([^()]*)\s+and\s+not\s*\(([^()]*)\)\)"
        r"\s+or\s+\(not\s*\(([^()]*)\)\s+and\s+not\s*\(([^()]*)\)\)", t)
    if spelled:
        a, b = spelled.group(1).strip(), spelled.group(2).strip()
        if [g.strip() for g in spelled.groups()] == [a, b, a, b, a, b]:
            m = spelled
    if m:
        pair = [parse_rel(m.group(i), names) for i in (1, 2)]
        if any(len(x) != 1 or x[0][1] is not None for x in pair):
            raise Unsupported("not both of a union or an attribute")
        a, b = (", ".join(map(str, x[0][0])) for x in pair)
        return [f"Check::NotBoth(&[{a}], &[{b}])"]
    # `count(//@a) - count(//X/@a) <= 0`: the attribute nowhere but on X.
    m = re.fullmatch(r"count\(//@(" + NAME + r")\)\s*-\s*count\(//(" + QNAME + r")/@(" + NAME + r")\)\s*<=\s*0", t)
    if m and m.group(1) == m.group(3):
        if not root_context:
            raise Unsupported("//@ outside the root context")
        return [f'Check::AttrAnywhereExcept("{m.group(1)}", {names.id(m.group(2))})']
    m = re.fullmatch(r"not\((.*)\)", t)
    if m and balanced(m.group(1)):
        inner = m.group(1).strip()
        am = re.fullmatch(r"//@(" + NAME + ")", inner)
        if am:
            if not root_context:
                raise Unsupported("//@ outside the root context")
            return [f'Check::AttrAnywhere("{am.group(1)}")']
        if inner.startswith("//") and not inner.startswith("//@"):
            if not root_context:
                raise Unsupported("// outside the root context")
            return [f"Check::AbsentAnywhere({rel_rust(ids, attr)})"
                    for ids, attr in parse_rel(inner[2:], names)]
        return [f"Check::Absent({rel_rust(ids, attr)})" for ids, attr in parse_rel(inner, names)]
    m = re.fullmatch(r"count\((.*)\)\s*(<=|=)\s*(\d+)", t)
    if m and balanced(m.group(1)):
        alts = parse_rel(m.group(1), names)
        if len(alts) != 1 or alts[0][1] is not None:
            raise Unsupported("count of a union or an attribute")
        ids = alts[0][0]
        kind = "AtMost" if m.group(2) == "<=" else "Exactly"
        return [f"Check::{kind}(&[{', '.join(map(str, ids))}], {m.group(3)})"]
    m = re.fullmatch(r"not\(([^()]*)\)\s+or\s+count\(([^()]*)\)\s*=\s*1", t)
    if m and m.group(1).strip() == m.group(2).strip():
        alts = parse_rel(m.group(1), names)
        if len(alts) != 1 or alts[0][1] is not None:
            raise Unsupported("count of a union or an attribute")
        return [f"Check::AtMost(&[{', '.join(map(str, alts[0][0]))}], 1)"]
    raise Unsupported(f"test {t!r}")


def balanced(s: str) -> bool:
    depth = 0
    for c in s:
        depth += c == "("
        depth -= c == ")"
        if depth < 0:
            return False
    return depth == 0


def rel_rust(ids: list[int], attr: str | None) -> str:
    a = f'Some("{attr}")' if attr else "None"
    return f"Rel {{ path: &[{', '.join(map(str, ids))}], attr: {a} }}"


def hand_coded_ids() -> set[str]:
    """Binding rule ids that hand-written code reports (their literal in src/invoice)."""
    ids = set()
    for f in (REPO / "src" / "invoice").rglob("*.rs"):
        if f.name in ("catalogue.rs", "bindings.rs", OUT.name):
            continue
        # Tests name rules without reporting them.
        code = f.read_text(encoding="utf-8").split("#[cfg(test)]")[0]
        ids |= set(re.findall(r'"((?:UBL|CII)-(?:SR|CR|DT)-\d+)"', code))
    return ids


TEMPLATE = re.compile(
    r'<xsl:template match="([^"]*)" mode="(M\d+)" priority="(\d+)">(.*?)</xsl:template>', re.S)
ASSERT = re.compile(
    r'<svrl:failed-assert test="([^"]*)">\s*<xsl:attribute name="id">([^<]*)</xsl:attribute>'
    r'\s*<xsl:attribute name="flag">(\w+)</xsl:attribute>')


def generate(stats: bool) -> str:
    skip = hand_coded_ids()
    parts = []
    report = []
    for family, file, prefixes in ARTEFACTS:
        text = (XSLT_DIR / file).read_text(encoding="utf-8")
        head = text[: text.index(">", text.index("<xsl:stylesheet")) + 1]
        names = Names(dict(re.findall(r'xmlns:(\w+)="([^"]*)"', head)))
        # The mode of the binding pattern: the one whose asserts have these ids.
        mode = None
        for match, m, prio, body in TEMPLATE.findall(text):
            if any(i.startswith(prefixes) for _, i, _ in ASSERT.findall(body)):
                mode = m
                break
        templates = []
        generated, left = [], []
        for match, m, prio, body in TEMPLATE.findall(text):
            if m != mode or match in ("text()", "@*|node()", "/"):
                continue
            root_context = match.strip() in ("/ubl:Invoice | /cn:CreditNote", "/rsm:CrossIndustryInvoice")
            checks = []
            try:
                patterns = parse_pattern(match, names, firing=True)
                fires = True
            except Unsupported as why:
                patterns = parse_pattern(match, names, firing=False)
                fires = False
                context_why = str(why)
            for test, rid, flag in ASSERT.findall(body):
                if not rid.startswith(prefixes):
                    continue
                if rid in skip:
                    left.append((rid, "hand-coded"))
                    continue
                if not fires:
                    left.append((rid, f"context: {context_why}"))
                    continue
                try:
                    for c in parse_test(test, names, root_context):
                        checks.append(f'Assert {{ id: "{rid}", check: {c} }}')
                    generated.append(rid)
                except Unsupported as why:
                    left.append((rid, str(why)))
            templates.append(
                f"    Template {{\n        priority: {prio},\n        fires: {str(fires).lower()},\n"
                f"        patterns: &[{', '.join(patterns)}],\n"
                f"        asserts: &[\n" + "".join(f"            {c},\n" for c in checks) + "        ],\n    },\n")
        name_rows = sorted(names.ids.items(), key=lambda kv: kv[1])
        parts.append(
            f"/// The {family} binding rules ({', '.join(prefixes)}-*), mode {mode} of `{file}`.\n"
            f"pub(crate) static {family}: Binding = Binding {{\n"
            f"    names: &[\n"
            + "".join(f'        (Ns::{ns}, "{local}"),\n' for (ns, local), _ in name_rows)
            + "    ],\n    templates: &[\n" + "".join(templates) + "    ],\n};\n")
        report.append((family, sorted(set(generated)), left))
    if stats:
        for family, gen, left in report:
            print(f"{family}: {len(gen)} rule ids generated, {len(set(i for i, _ in left))} left")
            for rid, why in left:
                print(f"  {rid}: {why}")
    return (
        "// @generated by scripts/binding_rules.py from the official EN 16931 XSLTs\n"
        "// (../shared/oracle/xslt, validation 1.3.16); do not edit by hand.\n"
        "//! The EN 16931 syntax binding rules that are presence and count constraints, as data\n"
        "//! for `invoice::bindings` (see `scripts/binding_rules.py`).\n\n"
        "use super::super::bindings::{Assert, Binding, Check, Pattern, Rel, Step, Template, Unless};\n"
        "use super::super::xml::Ns;\n\n" + "\n".join(parts)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--stats", action="store_true")
    args = parser.parse_args()
    if not XSLT_DIR.is_dir():
        sys.exit(f"{XSLT_DIR}: not found (the official XSLTs live in ../shared/oracle/xslt)")
    text = generate(args.stats)
    if args.check:
        if OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT.relative_to(REPO)} differs from the XSLTs; run scripts/binding_rules.py")
            return 1
        print(f"{OUT.relative_to(REPO)} is what the XSLTs give")
        return 0
    if not args.stats:
        OUT.write_text(text, encoding="utf-8")
        print(f"wrote {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
