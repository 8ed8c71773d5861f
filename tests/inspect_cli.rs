//! `trustgate inspect` as an admin runs it: the built binary on corpus files.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::fixture;

fn inspect(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_trustgate"))
        .arg("inspect")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn invalid_si_ubl_names_its_rule_and_exits_1() {
    let f = fixture("invoices/invalid/SI-UBL-2.0_BR-NL-1_error_wrong_scheme.xml");
    let (code, out) = inspect(&[f.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("SI-UBL 2.0") && out.contains("BR-NL-1") && out.contains("INVALID"),
        "{out}"
    );
}

#[test]
fn valid_files_exit_0_and_json_carries_the_fields() {
    let xml = fixture("invoices/si-ubl/SI-UBL-2.0_ok_minimal.xml");
    let pdf = fixture("invoices/facturx/invoice_EN16931.pdf");
    let (code, out) = inspect(&["--json", xml.to_str().unwrap(), pdf.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["result"]["valid"], true);
    assert_eq!(v[0]["result"]["invoice"]["specification"], "si-ubl-2.0");
    assert_eq!(v[0]["result"]["invoice"]["syntax"], "ubl-invoice");
    assert!(
        v[0]["result"]["invoice"]["invoice_number"].is_string(),
        "{out}"
    );
    assert_eq!(v[1]["kind"], "pdf");
    assert_eq!(v[1]["embedded"][0]["name"], "factur-x.xml");
    assert_eq!(
        v[1]["embedded"][0]["result"]["invoice"]["invoice_number"],
        "F20260023"
    );
}

#[test]
fn an_email_shows_its_pairing() {
    let mail = common::invoice_mail(common::SUPPLIER);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("message.eml");
    std::fs::write(&path, mail).unwrap();
    let (code, out) = inspect(&[path.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "invoice INV-1.xml, with the PDF inv-1.PDF (origin attachments, paired by same-name)"
        ),
        "{out}"
    );
    // Addresses in plain words, never Rust's debug output.
    assert!(
        out.contains(&format!("  from:           {}\n", common::SUPPLIER)),
        "{out}"
    );
    assert!(!out.contains("One(") && !out.contains("Some("), "{out}");
    // The one vocabulary: the config's value, the display name beside it.
    assert!(
        out.contains("specification:  si-ubl-2.0 (SI-UBL 2.0 (NLCIUS))"),
        "{out}"
    );
    let (code, out) = inspect(&[fixture("mime/mikel-attachment_pdf.eml").to_str().unwrap()]);
    assert_eq!(code, 1, "a PDF alone is no invoice: {out}");
    assert!(out.contains("no invoice found"), "{out}");
}
