//! Table-driven tests of `trustgate::invoice` over every invoice fixture in
//! `tests/fixtures/invoices/` (third-party corpus copies, licences in `LICENSES.md`):
//!
//! - golden expectations (`expected.json`): syntax, specification, invoice number, seller and
//!   buyer ids, payable amount, verdict and rule ids, for each XML and for the XML inside each
//!   PDF. On a mismatch the test writes `<fixture>.actual` and fails; `TRUSTGATE_BLESS=1`
//!   rewrites `expected.json`.
//! - agreement with the official verdicts (`VERDICTS.json`): never a fatal rule the official
//!   schematron did not fire, every rule we implement caught where it fired, every file in
//!   `invalid/` caught with the rule in its name.
//! - property tests: arbitrary bytes and mutated fixtures never panic `inspect` or
//!   `extract_from_pdf`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use serde_json::{Value, json};
use trustgate::invoice::{
    Detection, Party, PdfLimits, Severity, extract_from_pdf, inspect, invoice_xmls_in_pdf,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invoices")
}

/// Every XML and PDF fixture, as a path relative to the fixture folder with `/` separators.
fn files() -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, base, out);
                continue;
            }
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            if ext == "xml" || ext == "pdf" {
                let rel = path.strip_prefix(base).unwrap();
                let rel: Vec<_> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(rel.join("/"));
            }
        }
    }
    let mut out = Vec::new();
    let base = fixtures();
    walk(&base, &base, &mut out);
    out.sort();
    out
}

fn is_pdf(rel: &str) -> bool {
    rel.to_ascii_lowercase().ends_with(".pdf")
}

fn ident(i: &Option<trustgate::invoice::Identifier>) -> Value {
    match i {
        Some(i) => json!(format!(
            "{}:{}",
            i.scheme.as_deref().unwrap_or("-"),
            i.value
        )),
        None => Value::Null,
    }
}

fn party(p: &Party) -> Value {
    json!({
        "name": p.name,
        "vat_id": p.vat_id,
        "legal_id": ident(&p.legal_id),
        "endpoint_id": ident(&p.endpoint_id),
        "country": p.country,
    })
}

fn ids(i: &trustgate::invoice::Inspection, severity: Severity) -> Vec<&'static str> {
    i.findings
        .iter()
        .filter(|f| f.severity == severity)
        .map(|f| f.rule_id)
        .collect()
}

/// The golden summary of one XML.
fn summarize_xml(bytes: &[u8]) -> Value {
    match inspect(bytes) {
        Detection::Invoice(i) => json!({
            "kind": "invoice",
            "syntax": i.syntax.name(),
            "specification": i.specification.id(),
            "type_code": i.document_type_code,
            "invoice_number": i.invoice_number,
            "issue_date": i.issue_date,
            "currency": i.currency,
            "seller": party(&i.seller),
            "buyer": party(&i.buyer),
            "payable": i.totals.payable.map(|a| a.to_string()),
            "verdict": if i.is_valid() { "valid" } else { "invalid" },
            "fatal": ids(&i, Severity::Fatal),
            "warnings": ids(&i, Severity::Warning),
            "embedded_pdf": i.embedded_pdf.as_ref().map(|p| json!({"name": p.name, "size": p.bytes.len()})),
        }),
        Detection::NotInvoice => json!({"kind": "not-invoice"}),
        Detection::Refused(reason) => json!({"kind": "refused", "reason": reason}),
    }
}

/// The golden summary of one fixture (for a PDF: its embedded invoice XMLs).
fn summarize(rel: &str, bytes: &[u8]) -> Value {
    if !is_pdf(rel) {
        return summarize_xml(bytes);
    }
    match invoice_xmls_in_pdf(bytes, &PdfLimits::default()) {
        Ok(xmls) => json!({
            "kind": "pdf",
            "embedded": xmls.iter().map(|x| json!({"name": x.name, "xml": summarize_xml(&x.bytes)})).collect::<Vec<_>>(),
        }),
        Err(err) => json!({"kind": "pdf", "error": err.to_string()}),
    }
}

#[test]
fn corpus_matches_golden_expectations() {
    let expected_path = fixtures().join("expected.json");
    let bless = std::env::var("TRUSTGATE_BLESS").is_ok_and(|v| v == "1");
    let expected: BTreeMap<String, Value> = match std::fs::read(&expected_path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap(),
        Err(_) => BTreeMap::new(),
    };
    let mut actual = BTreeMap::new();
    let mut mismatches = Vec::new();
    for rel in files() {
        let path = fixtures().join(&rel);
        let value = summarize(&rel, &std::fs::read(&path).unwrap());
        let actual_path = PathBuf::from(format!("{}.actual", path.display()));
        if expected.get(&rel) == Some(&value) {
            let _ = std::fs::remove_file(&actual_path);
        } else if !bless {
            std::fs::write(&actual_path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
            mismatches.push(rel.clone());
        }
        actual.insert(rel, value);
    }
    assert!(
        actual.len() >= 60,
        "only {} invoice fixtures found",
        actual.len()
    );
    if bless {
        let text = serde_json::to_string_pretty(&actual).unwrap() + "\n";
        std::fs::write(&expected_path, text).unwrap();
        return;
    }
    let stale: Vec<_> = expected
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .collect();
    assert!(
        stale.is_empty(),
        "expected.json lists missing fixtures: {stale:?}"
    );
    assert!(
        mismatches.is_empty(),
        "golden mismatch (see <fixture>.actual; TRUSTGATE_BLESS=1 rewrites expected.json): {mismatches:#?}"
    );
}

/// Whether trustgate checks `rule` for the documents of artefact `layer` (`EN16931-UBL`,
/// `XRECHNUNG-CII`, …): the official verdicts for other rules, or for a rule checked for
/// another syntax only, are not ours to reproduce.
fn implemented(rule: &str, layer: &str) -> bool {
    static BY_RULE: std::sync::OnceLock<BTreeMap<&'static str, Vec<&'static str>>> =
        std::sync::OnceLock::new();
    BY_RULE
        .get_or_init(|| trustgate::invoice::implemented_in().into_iter().collect())
        .get(rule)
        .is_some_and(|layers| layers.contains(&layer))
}

/// The rule id a file in `invalid/` is named after, e.g. `BR-NL-10`, `UBL-SR-11`.
fn named_rule(file: &str) -> Option<String> {
    let parts: Vec<&str> = file.trim_end_matches(".xml").split(['_', '.']).collect();
    parts
        .iter()
        .find(|p| p.starts_with("BR-") || p.starts_with("UBL-SR-"))
        .map(|p| (*p).to_owned())
}

/// The fatal rule ids the official artefacts fire on a corpus file, with the artefact.
fn key_fatal(entry: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    if let Some(layers) = entry["layers"].as_object() {
        for (key, layer) in layers {
            for id in layer["fatal"].as_array().into_iter().flatten() {
                out.insert((key.clone(), id.as_str().unwrap().to_owned()));
            }
        }
    }
    out
}

#[test]
fn fatal_rules_agree_with_the_official_verdicts() {
    let key: BTreeMap<String, Value> =
        serde_json::from_slice(&std::fs::read(fixtures().join("VERDICTS.json")).unwrap()).unwrap();
    let mut problems = Vec::new();
    let mut checked = 0;
    let mut caught = 0;
    for (name, entry) in key.iter().filter(|(k, _)| k.starts_with("invoices/")) {
        let rel = name.trim_start_matches("invoices/");
        let (file, attachment) = match rel.split_once('#') {
            Some((f, a)) => (f, Some(a)),
            None => (rel, None),
        };
        let bytes = std::fs::read(fixtures().join(file)).unwrap();
        if entry["syntax"] == "pdf" {
            let ours = invoice_xmls_in_pdf(&bytes, &PdfLimits::default());
            match (entry.get("error"), &ours) {
                (Some(_), Ok(_)) => {
                    problems.push(format!("{name}: official reader failed, ours did not"))
                }
                (None, Err(e)) => problems.push(format!("{name}: {e}")),
                (None, Ok(xmls)) => {
                    let theirs: BTreeSet<&str> = entry["attachments"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(Value::as_str)
                        .collect();
                    let invoice_like: BTreeSet<&str> = theirs
                        .iter()
                        .copied()
                        .filter(|n| n.to_ascii_lowercase().ends_with(".xml"))
                        .collect();
                    let ours: BTreeSet<&str> = xmls.iter().map(|x| x.name.as_str()).collect();
                    if ours != invoice_like {
                        problems.push(format!("{name}: embedded {ours:?}, official {theirs:?}"));
                    }
                }
                (Some(_), Err(_)) => {}
            }
            continue;
        }
        if entry["syntax"] == "not-xml" {
            continue;
        }
        let xml = match attachment {
            None => bytes,
            Some(a) => {
                let xmls = invoice_xmls_in_pdf(&bytes, &PdfLimits::default()).unwrap();
                xmls.into_iter()
                    .find(|x| x.name == a)
                    .expect("embedded XML")
                    .bytes
            }
        };
        let inspection = match inspect(&xml) {
            Detection::Invoice(i) => i,
            other => {
                problems.push(format!("{name}: not inspected: {other:?}"));
                continue;
            }
        };
        checked += 1;
        let ours: BTreeSet<String> = ids(&inspection, Severity::Fatal)
            .into_iter()
            .map(String::from)
            .collect();
        let warnings: BTreeSet<String> = ids(&inspection, Severity::Warning)
            .into_iter()
            .map(String::from)
            .collect();
        let fired = key_fatal(entry);
        let theirs: BTreeSet<String> = fired.iter().map(|(_, id)| id.clone()).collect();
        for extra in ours.difference(&theirs) {
            problems.push(format!("{name}: false fatal {extra}"));
        }
        let wanted: BTreeSet<&String> = fired
            .iter()
            .filter(|(layer, id)| implemented(id, layer))
            .map(|(_, id)| id)
            .collect();
        for missed in wanted {
            if ours.contains(missed) || warnings.contains(missed) {
                caught += 1;
            } else {
                problems.push(format!("{name}: missed {missed}"));
            }
        }
        if file.starts_with("invalid/") {
            if ours.is_empty() {
                problems.push(format!("{name}: invalid file passed"));
            }
            if let Some(rule) = named_rule(file)
                && !ours.contains(&rule)
            {
                problems.push(format!("{name}: named rule {rule} not caught"));
            }
        }
    }
    assert!(checked >= 60, "only {checked} XML verdicts checked");
    assert!(caught > 0);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn every_invalid_fixture_is_caught() {
    let invalid: Vec<String> = files()
        .into_iter()
        .filter(|f| f.starts_with("invalid/"))
        .collect();
    assert!(invalid.len() >= 8);
    for rel in invalid {
        let bytes = std::fs::read(fixtures().join(&rel)).unwrap();
        if is_pdf(&rel) {
            match extract_from_pdf(&bytes) {
                Err(_) => continue,
                Ok(None) => panic!("{rel}: no invoice XML found"),
                Ok(Some(x)) => match inspect(&x.bytes) {
                    Detection::Invoice(i) => assert!(!i.is_valid(), "{rel}: passed"),
                    other => panic!("{rel}: {other:?}"),
                },
            }
        } else {
            match inspect(&bytes) {
                Detection::Invoice(i) => {
                    assert!(!i.is_valid(), "{rel}: passed");
                    if let Some(rule) = named_rule(&rel) {
                        assert!(
                            i.fatal_rule_ids().contains(&rule.as_str()),
                            "{rel}: {:?}",
                            i.fatal_rule_ids()
                        );
                    }
                }
                other => panic!("{rel}: {other:?}"),
            }
        }
    }
}

#[test]
fn embedded_pdfs_are_real_pdfs_only() {
    // Only 01.15a embeds a real PDF; the others declare application/pdf over text, CSV or GIF.
    for rel in files().into_iter().filter(|f| !is_pdf(f)) {
        let bytes = std::fs::read(fixtures().join(&rel)).unwrap();
        if let Detection::Invoice(i) = inspect(&bytes) {
            let real = rel == "xrechnung/01.15a-INVOICE_ubl.xml";
            assert_eq!(i.embedded_pdf.is_some(), real, "{rel}");
            if let Some(pdf) = &i.embedded_pdf {
                assert!(pdf.bytes.starts_with(b"%PDF"));
            }
        }
    }
}

/// The mutations (`mutations.json`: edits of valid fixtures, each breaking or on purpose not
/// breaking a rule) against the official verdicts on them (`mutation_verdicts.json`, written by
/// `scripts/mutation_oracle.py` with the official XSLTs): trustgate raises no fatal rule the
/// oracle did not fire, and names every rule it implements wherever the oracle fired it.
#[test]
fn mutations_get_the_official_verdicts() {
    let read = |name: &str| -> Vec<Value> {
        let v: Value =
            serde_json::from_slice(&std::fs::read(fixtures().join(name)).unwrap()).unwrap();
        v.as_array().unwrap().clone()
    };
    // The hand-made mutations, then those `tests/support/mutation_generator.py` makes from
    // every leaf element of the source invoices.
    let mut all = read("mutations.json");
    all.extend(read("generated_mutations.json"));
    let mutations = Value::Array(all);
    let verdicts: Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("mutation_verdicts.json")).unwrap())
            .unwrap();
    let mutations = mutations.as_array().unwrap();
    assert!(mutations.len() >= 3000, "the mutation set shrank");
    let mut problems = Vec::new();
    let mut named = 0;
    for m in mutations {
        let name = m["name"].as_str().unwrap();
        let fixture = m["fixture"].as_str().unwrap();
        let mut text = String::from_utf8(std::fs::read(fixtures().join(fixture)).unwrap()).unwrap();
        for edit in m["edits"].as_array().unwrap() {
            let (from, to) = (edit[0].as_str().unwrap(), edit[1].as_str().unwrap());
            assert_eq!(
                text.matches(from).count(),
                1,
                "{name}: {from:?} must match once in {fixture}"
            );
            text = text.replacen(from, to, 1);
        }
        let Some(layers) = verdicts["fatal"][name].as_object() else {
            problems.push(format!(
                "{name}: no official verdict; run `python3 scripts/mutation_oracle.py`"
            ));
            continue;
        };
        let fired: Vec<(&str, &str)> = layers
            .iter()
            .flat_map(|(layer, ids)| {
                ids.as_array()
                    .unwrap()
                    .iter()
                    .map(move |i| (layer.as_str(), i.as_str().unwrap()))
            })
            .collect();
        let theirs: BTreeSet<&str> = fired.iter().map(|(_, id)| *id).collect();
        let wanted: BTreeSet<&str> = fired
            .iter()
            .filter(|(layer, id)| implemented(id, layer))
            .map(|(_, id)| *id)
            .collect();
        let Detection::Invoice(i) = inspect(text.as_bytes()) else {
            panic!("{name}: not inspected");
        };
        // A layer whose XSLT stopped on the document (an XPath error: a doubled element where
        // the artefact reads one) gives no verdict; its rules are not held against trustgate.
        let unanswered: Vec<&str> = verdicts["unanswered"][name]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let answered = |id: &&&str| !unanswered.iter().any(|layer| implemented(id, layer));
        let ours: BTreeSet<&str> = ids(&i, Severity::Fatal).into_iter().collect();
        let warned: BTreeSet<&str> = ids(&i, Severity::Warning).into_iter().collect();
        // The oracle runs the schematron only; trustgate's XML Schema findings (`cvc-*`, a
        // missing ChargeIndicator for one) are the official pipelines' step before it.
        for extra in ours
            .difference(&theirs)
            .filter(|id| !id.starts_with("cvc-"))
            .filter(answered)
        {
            problems.push(format!("{name}: false fatal {extra}: {:#?}", i.findings));
        }
        for missed in wanted {
            if ours.contains(missed) || warned.contains(missed) {
                named += 1;
            } else {
                problems.push(format!("{name}: missed {missed}"));
            }
        }
        // Warnings: every implemented one the oracle raised is named, and none it did not.
        let their_warnings: BTreeSet<(&str, &str)> = verdicts["warning"][name]
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(layer, ids)| {
                ids.as_array()
                    .into_iter()
                    .flatten()
                    .map(move |i| (layer.as_str(), i.as_str().unwrap_or("")))
            })
            .collect();
        let their_warning_ids: BTreeSet<&str> = their_warnings.iter().map(|(_, i)| *i).collect();
        for (layer, id) in &their_warnings {
            if implemented(id, layer) && !warned.contains(id) && !ours.contains(id) {
                problems.push(format!("{name}: missed warning {id} ({layer})"));
            }
        }
        for extra in warned.difference(&their_warning_ids).filter(answered) {
            if !theirs.contains(extra) {
                problems.push(format!("{name}: false warning {extra}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        named >= 60,
        "only {named} official fatals named over the mutations"
    );
}

fn fixture_bytes() -> Vec<Vec<u8>> {
    files()
        .iter()
        .map(|rel| std::fs::read(fixtures().join(rel)).unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = inspect(&bytes);
        let _ = extract_from_pdf(&bytes);
        let mut pdf = b"%PDF-1.7\n".to_vec();
        pdf.extend_from_slice(&bytes);
        let _ = extract_from_pdf(&pdf);
    }

    #[test]
    fn mutated_fixtures_never_panic(
        index in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
    ) {
        let all = fixture_bytes();
        let mut bytes = index.get(&all).clone();
        for (at, value) in flips {
            if !bytes.is_empty() {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
        }
        let keep = cut.index(bytes.len() + 1);
        let whole = bytes.clone();
        bytes.truncate(keep);
        for candidate in [&whole, &bytes] {
            let _ = inspect(candidate);
            let _ = extract_from_pdf(candidate);
        }
    }
}
