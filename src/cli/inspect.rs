//! `trustgate inspect FILE...`: what the gateway would make of an XML, a PDF or a whole e-mail.
//!
//! This is what an admin runs when a supplier asks "why was my invoice refused?": it prints the
//! detected syntax, specification, fields, pairing and every rule check with its id, as text or
//! `--json`. Exit 1 when any fatal rule fails (or a file is refused or unreadable), else 0.
//! Reads only the files named; never writes.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use serde_json::json;

use crate::intake::{self, HeaderFrom, IntakeLimits, Paired};
use crate::invoice::{self, Detection, Inspection, Party, PdfLimits, Severity};

/// What kind of file it is, judged by its first bytes (the extension only breaks ties).
enum Kind {
    Xml,
    Pdf,
    Mail,
}

fn kind(path: &Path, bytes: &[u8]) -> Kind {
    let start = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = start.trim_ascii_start();
    if start.starts_with(b"%PDF") {
        Kind::Pdf
    } else if start.starts_with(b"<")
        || path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("xml"))
    {
        Kind::Xml
    } else {
        Kind::Mail
    }
}

/// The outcome for one file: its report and whether it has a fatal problem.
struct Report {
    json: serde_json::Value,
    text: String,
    fatal: bool,
}

/// Inspects each file and prints the reports; returns the exit code.
///
/// # Errors
/// Only a failure to write the output.
pub fn run(
    files: &[std::path::PathBuf],
    as_json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let mut any_fatal = false;
    let mut all = Vec::new();
    for path in files {
        let report = match std::fs::read(path) {
            Ok(bytes) => inspect_file(path, &bytes),
            Err(err) => Report {
                json: json!({ "file": path.display().to_string(), "error": err.to_string() }),
                text: format!("{}: cannot read: {err}\n", path.display()),
                fatal: true,
            },
        };
        any_fatal |= report.fatal;
        if as_json {
            all.push(report.json);
        } else {
            out.write_all(report.text.as_bytes())?;
        }
    }
    if as_json {
        serde_json::to_writer_pretty(&mut *out, &all)?;
        writeln!(out)?;
    }
    Ok(i32::from(any_fatal))
}

fn inspect_file(path: &Path, bytes: &[u8]) -> Report {
    let name = path.display().to_string();
    match kind(path, bytes) {
        Kind::Xml => {
            let mut text = format!("{name}: XML\n");
            let (json, fatal) = xml_report(bytes, &mut text, "  ");
            Report {
                json: json!({ "file": name, "kind": "xml", "result": json }),
                text,
                fatal,
            }
        }
        Kind::Pdf => {
            let mut text = format!("{name}: PDF\n");
            match invoice::invoice_xmls_in_pdf(bytes, &PdfLimits::default()) {
                Ok(xmls) if xmls.is_empty() => {
                    text.push_str(
                        "  no embedded invoice XML (not a Factur-X/ZUGFeRD/XRechnung PDF)\n",
                    );
                    Report {
                        json: json!({ "file": name, "kind": "pdf", "embedded": [] }),
                        text,
                        fatal: true,
                    }
                }
                Ok(xmls) => {
                    let mut fatal = false;
                    let mut embedded = Vec::new();
                    for xml in xmls {
                        let _ = writeln!(
                            text,
                            "  embedded {} ({} bytes)",
                            printable(&xml.name),
                            xml.bytes.len()
                        );
                        let (j, f) = xml_report(&xml.bytes, &mut text, "    ");
                        fatal |= f;
                        embedded.push(json!({ "name": xml.name, "result": j }));
                    }
                    Report {
                        json: json!({ "file": name, "kind": "pdf", "embedded": embedded }),
                        text,
                        fatal,
                    }
                }
                Err(err) => {
                    let _ = writeln!(text, "  refused: {err}");
                    Report {
                        json: json!({ "file": name, "kind": "pdf", "error": err.to_string() }),
                        text,
                        fatal: true,
                    }
                }
            }
        }
        Kind::Mail => mail_report(&name, bytes),
    }
}

fn mail_report(name: &str, bytes: &[u8]) -> Report {
    let mut text = format!("{name}: e-mail\n");
    let parsed = match intake::parse_message(bytes, &IntakeLimits::default()) {
        Ok(p) => p,
        Err(err) => {
            let _ = writeln!(text, "  refused: {err}");
            return Report {
                json: json!({ "file": name, "kind": "mail", "error": err.to_string() }),
                text,
                fatal: true,
            };
        }
    };
    let (from, from_problem) = match &parsed.header_from {
        HeaderFrom::One(address) => (Some(address.clone()), None),
        HeaderFrom::Missing => (None, Some("the message has no From header".to_string())),
        HeaderFrom::Multiple => (
            None,
            Some("the message has more than one From header".to_string()),
        ),
        HeaderFrom::Refused { field, defect } => (
            None,
            Some(format!("the From header \"{}\" {defect}", printable(field))),
        ),
    };
    match (&from, &from_problem) {
        (Some(address), _) => {
            let _ = writeln!(text, "  from:           {}", printable(address));
        }
        (None, problem) => {
            let _ = writeln!(
                text,
                "  from:           none usable: {} (the gateway answers 550 5.7.1)",
                problem.as_deref().unwrap_or_default()
            );
        }
    }
    let _ = writeln!(
        text,
        "  subject:        {}",
        parsed
            .subject
            .as_deref()
            .map_or_else(|| "-".to_string(), printable)
    );
    let _ = writeln!(
        text,
        "  message-id:     {}",
        parsed
            .message_id
            .as_deref()
            .map_or_else(|| "-".to_string(), printable)
    );
    let Paired {
        documents,
        ignored,
        refused,
    } = intake::pair_parsed(
        parsed.attachments,
        &parsed.archives,
        &IntakeLimits::default(),
    );
    let mut fatal = documents.is_empty() || !refused.is_empty();
    let mut docs = Vec::new();
    for doc in &documents {
        let _ = writeln!(
            text,
            "  invoice {}, {} (origin {}{})",
            printable(&doc.xml_name),
            doc.pdf_name.as_deref().map_or_else(
                || "without a PDF".to_string(),
                |pdf| format!("with the PDF {}", printable(pdf))
            ),
            doc.origin.as_str(),
            doc.paired_by
                .map(|p| format!(", paired by {}", p.as_str()))
                .unwrap_or_default()
        );
        fatal |= !doc.inspection.is_valid();
        inspection_text(&doc.inspection, &mut text, "    ");
        docs.push(json!({
            "xml": doc.xml_name, "pdf": doc.pdf_name, "origin": doc.origin.as_str(),
            "paired_by": doc.paired_by.map(|p| p.as_str()),
            "inspection": &*doc.inspection,
        }));
    }
    if documents.is_empty() {
        text.push_str("  no invoice found: the gateway answers 550 5.6.0\n");
    }
    for r in &refused {
        let _ = writeln!(text, "  refused {}: {}", printable(&r.name), r.reason);
    }
    for i in &ignored {
        let _ = writeln!(text, "  ignored {}: {}", printable(&i.name), i.reason);
    }
    let json = json!({
        "file": name, "kind": "mail",
        "from": from, "from_problem": from_problem,
        "subject": parsed.subject, "message_id": parsed.message_id,
        "documents": docs,
        "refused": refused.iter().map(|r| json!({"name": r.name, "reason": r.reason})).collect::<Vec<_>>(),
        "ignored": ignored.iter().map(|r| json!({"name": r.name, "reason": r.reason})).collect::<Vec<_>>(),
    });
    Report { json, text, fatal }
}

/// Inspects XML bytes; appends the text report and returns the JSON and whether it is fatal.
fn xml_report(bytes: &[u8], text: &mut String, indent: &str) -> (serde_json::Value, bool) {
    match invoice::inspect(bytes) {
        Detection::Invoice(inspection) => {
            inspection_text(&inspection, text, indent);
            let fatal = !inspection.is_valid();
            (json!({ "invoice": &*inspection, "valid": !fatal }), fatal)
        }
        Detection::NotInvoice => {
            let root = invoice::root_element(bytes);
            let _ = writeln!(
                text,
                "{indent}not an invoice: {}, not a UBL Invoice or CreditNote or a CII CrossIndustryInvoice",
                root.as_deref().map_or_else(
                    || "not XML".to_string(),
                    |r| format!("its root element is {}", printable(r))
                )
            );
            (json!({ "not_invoice": true, "root_element": root }), true)
        }
        Detection::Refused(reason) => {
            let _ = writeln!(text, "{indent}refused: {reason}");
            (json!({ "refused": reason }), true)
        }
    }
}

fn inspection_text(i: &Inspection, text: &mut String, indent: &str) {
    let opt = |v: &Option<String>| v.as_deref().map_or_else(|| "-".to_string(), printable);
    let _ = writeln!(
        text,
        "{indent}syntax:         {} ({})",
        i.syntax.id(),
        i.syntax.name()
    );
    let _ = writeln!(
        text,
        "{indent}specification:  {} ({}) [{}]",
        i.specification.id(),
        i.specification.name(),
        opt(&i.customization_id)
    );
    let _ = writeln!(
        text,
        "{indent}invoice:        {} (type {}), issued {}, due {}, currency {}",
        opt(&i.invoice_number),
        opt(&i.document_type_code),
        opt(&i.issue_date),
        opt(&i.due_date),
        opt(&i.currency)
    );
    party_text("seller", &i.seller, text, indent);
    party_text("buyer", &i.buyer, text, indent);
    let amount = |a: &Option<invoice::Amount>| a.map_or_else(|| "-".to_string(), |a| a.to_string());
    let t = &i.totals;
    let _ = writeln!(
        text,
        "{indent}totals:         lines {}, without tax {}, tax {}, with tax {}, payable {}",
        amount(&t.line_extension),
        amount(&t.tax_exclusive),
        amount(&t.tax),
        amount(&t.tax_inclusive),
        amount(&t.payable)
    );
    if !i.payment_accounts.is_empty() {
        let _ = writeln!(
            text,
            "{indent}payment account: {}",
            printable(&i.payment_accounts.join(", "))
        );
    }
    let _ = writeln!(
        text,
        "{indent}references:     buyer {}, order {}",
        opt(&i.buyer_reference),
        opt(&i.order_reference)
    );
    for a in &i.attachments {
        let _ = writeln!(
            text,
            "{indent}attachment:     {} {} {} bytes{}",
            opt(&a.filename.clone().or_else(|| a.id.clone())),
            opt(&a.mime_code),
            a.size,
            if a.size > 0 && !a.is_pdf && a.mime_code.as_deref() == Some("application/pdf") {
                " (declared PDF, but it is not one)"
            } else {
                ""
            }
        );
    }
    if i.findings.is_empty() {
        let _ = writeln!(text, "{indent}checks:         all passed");
    } else {
        let _ = writeln!(text, "{indent}checks:");
        for f in &i.findings {
            let level = match f.severity {
                Severity::Fatal => "FATAL  ",
                Severity::Warning => "warning",
            };
            let _ = writeln!(text, "{indent}  {level} {}", printable(&f.message));
            // Where it failed, and the rule as the official artefact words it.
            if let Some(location) = f.location.as_deref().filter(|l| !f.message.contains(l)) {
                let line = f.line.map(|l| format!(" (line {l})")).unwrap_or_default();
                let _ = writeln!(text, "{indent}            at {}{line}", printable(location));
            }
            if let Some(official) = f.official_text.filter(|t| !f.message.contains(t)) {
                let _ = writeln!(text, "{indent}            rule: {}", printable(official));
            }
        }
    }
    let verdict = if i.is_valid() {
        "valid".to_string()
    } else {
        format!("INVALID ({})", i.fatal_rule_ids().join(", "))
    };
    let _ = writeln!(text, "{indent}verdict:        {verdict}");
}

fn party_text(role: &str, p: &Party, text: &mut String, indent: &str) {
    let id = |i: &Option<invoice::Identifier>| {
        i.as_ref().map_or_else(
            || "-".to_string(),
            |i| match &i.scheme {
                Some(s) => format!("{}:{}", printable(s), printable(&i.value)),
                None => printable(&i.value),
            },
        )
    };
    let _ = writeln!(
        text,
        "{indent}{role:<15} {} (VAT {}, legal id {}, endpoint {})",
        p.name.as_deref().map_or_else(|| "-".to_string(), printable),
        p.vat_id
            .as_deref()
            .map_or_else(|| "-".to_string(), printable),
        id(&p.legal_id),
        id(&p.endpoint_id)
    );
}

/// Text from a file, safe for a terminal: control characters shown escaped.
fn printable(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}
