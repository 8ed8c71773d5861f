//! Hand-written checks of the generated code lists: known codes are found with the official
//! test's semantics, and every BR-CL rule of the XSLTs has its table entry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;

use super::{CII, CodeList, UBL, lookup};

/// The entries of a table with this id (two for BR-CL-01 and BR-CL-10 in UBL).
fn lists<'a>(table: &'a [CodeList], id: &str) -> Vec<&'a CodeList> {
    table.iter().filter(|l| l.id == id).collect()
}

/// The one entry of a table with this id and `list`.
fn list<'a>(table: &'a [CodeList], id: &str, which: &str) -> &'a CodeList {
    let found: Vec<_> = lists(table, id)
        .into_iter()
        .filter(|l| l.list == which)
        .collect();
    assert_eq!(found.len(), 1, "{id} {which:?}: {found:?}");
    found[0]
}

#[test]
fn known_codes_are_in_their_lists() {
    for table in [UBL, CII] {
        for id in ["BR-CL-04", "BR-CL-05"] {
            assert!(lookup(list(table, id, ""), "EUR"), "{id}");
        }
        assert!(lookup(list(table, "BR-CL-14", ""), "NL"));
        assert!(lookup(list(table, "BR-CL-17", ""), "S"));
        assert!(lookup(list(table, "BR-CL-18", ""), "S"));
        assert!(lookup(list(table, "BR-CL-23", ""), "C62"));
        assert!(lookup(list(table, "BR-CL-24", ""), "application/pdf"));
    }
    assert!(lookup(list(UBL, "BR-CL-01", "cbc:InvoiceTypeCode"), "380"));
    assert!(lookup(
        list(UBL, "BR-CL-01", "cbc:CreditNoteTypeCode"),
        "381"
    ));
    assert!(!lookup(
        list(UBL, "BR-CL-01", "cbc:CreditNoteTypeCode"),
        "380"
    ));
    assert!(lookup(list(CII, "BR-CL-01", ""), "380"));
    assert!(lookup(list(UBL, "BR-CL-10", "SEPA"), "SEPA"));
    assert!(!lookup(list(UBL, "BR-CL-10", ""), "SEPA"));
}

#[test]
fn lookup_follows_the_official_test() {
    let currency = list(UBL, "BR-CL-04", "");
    // normalize-space: surrounding XML whitespace is ignored.
    assert!(lookup(currency, " EUR\n"));
    assert!(lookup(currency, "\tEUR "));
    // Case matters, a space inside never matches, unknown codes and the empty value do not.
    for bad in ["eur", "EU R", "EUR EUR", "XYZ", "", "  "] {
        assert!(!lookup(currency, bad), "{bad:?}");
    }
    // XXX is ISO 4217's "no currency", so the official currency list has it; it is no country,
    // VAT category or unit.
    assert!(lookup(currency, "XXX"));
    for id in ["BR-CL-14", "BR-CL-17", "BR-CL-23"] {
        assert!(!lookup(list(UBL, id, ""), "XXX"), "{id}");
        assert!(!lookup(list(CII, id, ""), "XXX"), "{id}");
    }
    // BR-CL-22 compares upper-case(.).
    let vatex = list(CII, "BR-CL-22", "");
    assert!(vatex.upper_case);
    assert!(lookup(vatex, "vatex-eu-ae"));
    assert!(lookup(vatex, "VATEX-EU-AE"));
    assert!(!currency.upper_case);
    // BR-CL-24 compares @mimeCode with `=`, as it is.
    let mime = list(UBL, "BR-CL-24", "");
    assert!(mime.exact);
    assert!(!lookup(mime, " application/pdf"));
    assert!(!lookup(mime, "APPLICATION/PDF"));
}

#[test]
fn lists_are_sorted_deduplicated_and_non_empty() {
    for table in [UBL, CII] {
        assert!(!table.is_empty());
        for l in table {
            assert!(!l.codes.is_empty(), "{} {}", l.id, l.list);
            assert!(
                l.codes.windows(2).all(|w| w[0] < w[1]),
                "{} {} is not strictly sorted",
                l.id,
                l.list
            );
            assert!(!l.text.is_empty() && !l.text.starts_with('['), "{}", l.id);
            assert!(!l.context.is_empty() && !l.value.is_empty(), "{}", l.id);
        }
    }
}

/// The BR-CL ids an XSLT has, read from `../shared/oracle/xslt` beside the repository.
fn xslt_ids(file: &str) -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/oracle/xslt")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the official XSLTs must be beside the repository)",
            path.display()
        )
    });
    (1..=26)
        .map(|n| format!("BR-CL-{n:02}"))
        .filter(|id| text.contains(&format!(r#"<xsl:attribute name="id">{id}</xsl:attribute>"#)))
        .collect()
}

#[test]
fn every_br_cl_rule_of_the_xslt_is_present() {
    for (table, file) in [
        (UBL, "EN16931-UBL-validation.xslt"),
        (CII, "EN16931-CII-validation.xslt"),
    ] {
        let want = xslt_ids(file);
        assert!(want.len() > 20, "{file}: only {want:?}");
        let have: BTreeSet<String> = table.iter().map(|l| l.id.to_string()).collect();
        assert_eq!(have, want, "{file}");
    }
}
