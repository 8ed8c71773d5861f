//! Golden test: every MIME edge case of the corpus goes through intake without a panic, within
//! limits, and yields the attachment names recorded in `tests/fixtures/mime/expected.json`.
//! On a mismatch the actual result is written to `expected.json.actual`; run with
//! `TRUSTGATE_BLESS=1` to accept it.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

use trustgate::intake::{self, HeaderFrom, IntakeLimits};

fn describe(raw: &[u8]) -> serde_json::Value {
    match intake::parse_message(raw, &IntakeLimits::default()) {
        Ok(m) => {
            let from = match m.header_from {
                HeaderFrom::One(a) => a,
                other => format!("{other:?}"),
            };
            let attachments: Vec<_> = m
                .attachments
                .iter()
                .map(|a| format!("{} ({}, {} bytes)", a.name, a.content_type, a.bytes.len()))
                .collect();
            serde_json::json!({ "from": from, "attachments": attachments })
        }
        Err(e) => serde_json::json!({ "error": e.to_string() }),
    }
}

#[test]
fn mime_corpus_matches_golden_expectations() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mime");
    let mut actual = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "eml") {
            let raw = std::fs::read(&path).unwrap();
            actual.insert(
                path.file_name().unwrap().to_string_lossy().into_owned(),
                describe(&raw),
            );
        }
    }
    assert!(
        actual.len() >= 30,
        "the MIME corpus went missing: {} files",
        actual.len()
    );
    let actual = serde_json::to_string_pretty(&actual).unwrap() + "\n";
    let expected_path = dir.join("expected.json");
    if std::env::var_os("TRUSTGATE_BLESS").is_some() {
        std::fs::write(&expected_path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
    if expected != actual {
        std::fs::write(dir.join("expected.json.actual"), &actual).unwrap();
        panic!(
            "intake results differ from {}; see expected.json.actual",
            expected_path.display()
        );
    }
}

#[test]
fn pairing_matches_names_case_insensitively_and_lists_the_rest() {
    let xml = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/mime/../invoices/si-ubl/SI-UBL-2.0_ok_minimal.xml"),
    );
    let Ok(xml) = xml else {
        panic!("fixture tests/fixtures/invoices/si-ubl/SI-UBL-2.0_ok_minimal.xml missing");
    };
    let att = |name: &str, ct: &str, bytes: &[u8]| intake::Attachment {
        name: name.into(),
        content_type: ct.into(),
        bytes: bytes.to_vec(),
        location: None,
        archive: None,
    };
    let paired = intake::pair(vec![
        att("INV-1.xml", "application/xml", &xml),
        att("inv-1.PDF", "application/pdf", b"%PDF-1.4"),
        att("terms.pdf", "application/pdf", b"%PDF-1.4"),
        att("logo.png", "image/png", b"png"),
        att("order.xml", "text/xml", b"<Order xmlns=\"urn:x\"/>"),
    ]);
    assert_eq!(paired.documents.len(), 1);
    assert_eq!(paired.documents[0].pdf_name.as_deref(), Some("inv-1.PDF"));
    let ignored: Vec<_> = paired.ignored.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(ignored, ["logo.png", "order.xml", "terms.pdf"]);
    assert!(paired.refused.is_empty());
}

#[test]
fn hybrid_pdf_alone_is_a_document_and_fake_pdfs_are_not() {
    let att = |name: &str, ct: &str, bytes: Vec<u8>| intake::Attachment {
        name: name.into(),
        content_type: ct.into(),
        bytes,
        location: None,
        archive: None,
    };
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invoices");
    let facturx = std::fs::read(fixtures.join("facturx/invoice_EN16931.pdf")).unwrap();
    let corrupt = std::fs::read(fixtures.join("invalid/corrupt-factur-x-waytoosmall.pdf")).unwrap();
    let paired = intake::pair(vec![
        att("Rechnung 42.pdf", "application/pdf", facturx.clone()),
        att("broken.pdf", "application/pdf", corrupt),
    ]);
    assert_eq!(paired.documents.len(), 1, "{:?}", paired.ignored);
    let doc = &paired.documents[0];
    assert_eq!(doc.origin, intake::Origin::HybridPdf);
    assert_eq!(doc.xml_name, "factur-x.xml");
    assert_eq!(doc.pdf_name.as_deref(), Some("Rechnung 42.pdf"));
    assert_eq!(doc.pdf.as_deref(), Some(&facturx[..]));
    assert!(doc.inspection.invoice_number.is_some());
    assert_eq!(paired.ignored.len(), 1);
    assert_eq!(paired.ignored[0].name, "broken.pdf");

    // A UBL with a real embedded PDF and no separate PDF: the embedded one is its visual.
    let xrechnung = std::fs::read(fixtures.join("xrechnung/01.15a-INVOICE_ubl.xml")).unwrap();
    let paired = intake::pair(vec![att("01.15a.xml", "application/xml", xrechnung)]);
    assert_eq!(paired.documents[0].origin, intake::Origin::PdfEmbeddedInXml);
    assert!(
        paired.documents[0]
            .pdf
            .as_ref()
            .unwrap()
            .starts_with(b"%PDF")
    );
    // Its fake "PDF" (text) is not taken as a visual.
    let fake = std::fs::read(fixtures.join("ubl/ubl-tc434-example2.xml")).unwrap();
    let paired = intake::pair(vec![att("tc434-2.xml", "application/xml", fake)]);
    assert_eq!(paired.documents[0].origin, intake::Origin::Attachments);
    assert!(paired.documents[0].pdf.is_none());
}

#[test]
fn a_paired_pdf_over_a_bound_cannot_escape_the_comparison() {
    // A Factur-X PDF paired by name with an XML: read within the limits it is compared; over
    // a bound it cannot be compared, and that refuses instead of passing it as a visual.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invoices");
    let xml = std::fs::read(root.join("si-ubl/SI-UBL-2.0_ok_minimal.xml")).unwrap();
    let pdf = std::fs::read(root.join("facturx/invoice_EN16931.pdf")).unwrap();
    let att = |name: &str, ct: &str, bytes: &[u8]| intake::Attachment {
        name: name.into(),
        content_type: ct.into(),
        bytes: bytes.to_vec(),
        location: None,
        archive: None,
    };
    let tight = IntakeLimits {
        pdf: trustgate::invoice::PdfLimits {
            max_objects: 3,
            ..trustgate::invoice::PdfLimits::default()
        },
        ..IntakeLimits::default()
    };
    let paired = intake::pair_with(
        vec![
            att("INV-1.xml", "application/xml", &xml),
            att("INV-1.pdf", "application/pdf", &pdf),
        ],
        &tight,
    );
    let findings = &paired.documents[0].inspection.findings;
    assert!(
        findings
            .iter()
            .any(|f| f.rule_id == "TG-PDF-XML" && f.message.contains("cannot be checked")),
        "{findings:?}"
    );
}

#[test]
fn an_invoice_xml_over_the_configured_xml_bounds_is_refused() {
    // [limits] max_xml_* reach the inspector: the same invoice passes within the defaults and
    // is refused, naming the bound, within a smaller element count.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invoices");
    let xml = std::fs::read(root.join("si-ubl/SI-UBL-2.0_ok_minimal.xml")).unwrap();
    let att = || intake::Attachment {
        name: "INV-1.xml".into(),
        content_type: "application/xml".into(),
        bytes: xml.clone(),
        location: None,
        archive: None,
    };
    let paired = intake::pair_with(vec![att()], &IntakeLimits::default());
    assert_eq!(paired.documents.len(), 1);
    let tight = IntakeLimits {
        xml: trustgate::invoice::Limits {
            max_elements: 5,
            ..trustgate::invoice::Limits::default()
        },
        ..IntakeLimits::default()
    };
    let paired = intake::pair_with(vec![att()], &tight);
    assert!(paired.documents.is_empty(), "{:?}", paired.documents.len());
    assert_eq!(paired.refused.len(), 1, "{paired:?}");
    assert!(paired.refused[0].reason.contains("elements"), "{paired:?}");
}

/// The sample invoice XML renumbered `number`.
fn invoice_numbered(number: &str) -> Vec<u8> {
    let xml = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/invoices/si-ubl/SI-UBL-2.0_ok_minimal.xml"),
    )
    .unwrap();
    String::from_utf8(xml)
        .unwrap()
        .replacen(
            "<cbc:ID>12115118</cbc:ID>",
            &format!("<cbc:ID>{number}</cbc:ID>"),
            1,
        )
        .into_bytes()
}

fn attachment(name: &str, ct: &str, bytes: &[u8]) -> intake::Attachment {
    intake::Attachment {
        name: name.into(),
        content_type: ct.into(),
        bytes: bytes.to_vec(),
        location: None,
        archive: None,
    }
}

/// (XML name, PDF name, rule) of every document.
fn pairs(paired: &intake::Paired) -> Vec<(String, Option<String>, Option<&'static str>)> {
    paired
        .documents
        .iter()
        .map(|d| {
            (
                d.xml_name.clone(),
                d.pdf_name.clone(),
                d.paired_by.map(intake::PairedBy::as_str),
            )
        })
        .collect()
}

const PDF: &[u8] = b"%PDF-1.4\n%visual\n";

#[test]
fn pairing_by_invoice_number_in_the_pdf_name() {
    // The ERP names the XML after its export and the PDF after the invoice.
    let paired = intake::pair(vec![
        attachment("ubl_PZ-1.xml", "application/xml", &invoice_numbered("PZ-1")),
        attachment("ubl_PZ-2.xml", "application/xml", &invoice_numbered("PZ-2")),
        attachment("Factuur PZ-2.pdf", "application/pdf", PDF),
        attachment("Factuur pz-1.pdf", "application/pdf", PDF),
        attachment("Algemene voorwaarden.pdf", "application/pdf", PDF),
    ]);
    assert_eq!(
        pairs(&paired),
        [
            (
                "ubl_PZ-1.xml".to_string(),
                Some("Factuur pz-1.pdf".to_string()),
                Some("invoice-number")
            ),
            (
                "ubl_PZ-2.xml".to_string(),
                Some("Factuur PZ-2.pdf".to_string()),
                Some("invoice-number")
            ),
        ]
    );
    let ignored: Vec<_> = paired.ignored.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(ignored, ["Algemene voorwaarden.pdf"]);

    // The number must be a word of its own: invoice 1 is not in "Factuur 12.pdf", and with
    // two XMLs left rule 4 does not apply either.
    let paired = intake::pair(vec![
        attachment("a.xml", "application/xml", &invoice_numbered("1")),
        attachment("b.xml", "application/xml", &invoice_numbered("7")),
        attachment("Factuur 12.pdf", "application/pdf", PDF),
    ]);
    assert!(
        paired.documents.iter().all(|d| d.pdf.is_none()),
        "{:?}",
        pairs(&paired)
    );

    // Two PDFs naming the same number: which is the visual cannot be told.
    let paired = intake::pair(vec![
        attachment("x.xml", "application/xml", &invoice_numbered("PZ-9")),
        attachment("PZ-9.scan.pdf", "application/pdf", PDF),
        attachment("copy of PZ-9.pdf", "application/pdf", PDF),
    ]);
    assert_eq!(pairs(&paired), [("x.xml".to_string(), None, None)]);
}

#[test]
fn the_only_xml_and_the_only_pdf_are_paired_and_two_xmls_are_not() {
    let paired = intake::pair(vec![
        attachment(
            "export_20261204.xml",
            "application/xml",
            &invoice_numbered("A-1"),
        ),
        attachment("scan0001.pdf", "application/pdf", PDF),
        attachment("logo.png", "image/png", b"png"),
    ]);
    assert_eq!(
        pairs(&paired),
        [(
            "export_20261204.xml".to_string(),
            Some("scan0001.pdf".to_string()),
            Some("only-pair")
        )]
    );
    // The same name still wins, and says so.
    let paired = intake::pair(vec![
        attachment("INV-1.xml", "application/xml", &invoice_numbered("A-1")),
        attachment("inv-1.pdf", "application/pdf", PDF),
    ]);
    assert_eq!(
        paired.documents[0].paired_by,
        Some(intake::PairedBy::SameName)
    );

    // Two XMLs and one PDF with unrelated names: not paired.
    let paired = intake::pair(vec![
        attachment("one.xml", "application/xml", &invoice_numbered("A-1")),
        attachment("two.xml", "application/xml", &invoice_numbered("A-2")),
        attachment("document.pdf", "application/pdf", PDF),
    ]);
    assert!(paired.documents.iter().all(|d| d.pdf.is_none()));
    assert_eq!(paired.ignored.len(), 1);
    assert_eq!(paired.ignored[0].name, "document.pdf");

    // The only PDF is a Factur-X of another invoice: it is a document of its own, not the
    // XML's visual.
    let facturx = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/invoices/facturx/invoice_EN16931.pdf"),
    )
    .unwrap();
    let paired = intake::pair(vec![
        attachment("ubl.xml", "application/xml", &invoice_numbered("A-1")),
        attachment("factuur.pdf", "application/pdf", &facturx),
    ]);
    let got = pairs(&paired);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0], ("ubl.xml".to_string(), None, None));
    assert_eq!(got[1].2, Some("hybrid-pdf"));
}
