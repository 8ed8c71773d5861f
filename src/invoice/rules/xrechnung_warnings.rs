//! XRechnung's warnings (KoSIT 3.0): the invoice type codes it expects (BR-DE-17), its own
//! specification identifiers (BR-DE-21), a preceding invoice for a corrected one (BR-DE-26), a
//! valid IBAN for SEPA credit transfers and direct debits (BR-DE-19/20), a seller contact
//! telephone with three digits and a well-formed e-mail (BR-DE-27/28), absolute URLs for
//! external documents (BR-TMP-2), a date of supply (BR-DE-TMP-32, an information), Peppol's
//! line arithmetic as a warning (PEPPOL-EN16931-R120),
//! and the extension's sub-line sums (BR-DEX-02, UBL) and parent line ids (BR-DEX-15, CII).
//!
//! The regular expressions and the IBAN check are the artefact's, evaluated as it evaluates
//! them (`XR-TELEPHONE-REGEX`, `XR-EMAIL-REGEX`, `XR-URL-REGEX`; the mod-97 over the code
//! points of the rearranged account id). Peppol's German warnings (DE-R-017, 019, 020, 026,
//! 027, 028, T02) are the UBL ones for a German seller and buyer (`peppol_national`).

use super::super::amount::Amount;
use super::super::model::{Doc, Num, PaymentMeansData, normalize_space};
use super::peppol_bis3::line_arithmetic_broken;
use super::table::{Broken, Input, Rule};

/// `$XR-CIUS-ID`, `$XR-EXTENSION-ID` and `$XR-CVD-ID` of the artefact (XRechnung 3.0, CVD 0.9).
pub(super) const XR_CIUS_ID: &str =
    "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0";
pub(super) const XR_EXTENSION_ID: &str = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0#conformant#urn:xeinkauf.de:kosit:extension:xrechnung_3.0";
pub(super) const XR_CVD_ID: &str = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0#compliant#urn:xeinkauf.de:kosit:xrechnung:cvd_0.9";

/// `$supportedInvAndCNTypeCodes`.
const TYPE_CODES: &[&str] = &["326", "380", "384", "389", "381", "875", "876", "877"];

/// `$isExtension`: the specification identifier is the extension's, exactly as written.
pub(super) fn is_extension(doc: &Doc) -> bool {
    doc.customization_id.as_deref() == Some(XR_EXTENSION_ID)
}

/// `$isCVD`: the specification identifier is the Clean Vehicles Directive profile's.
pub(super) fn is_cvd(doc: &Doc) -> bool {
    doc.customization_id.as_deref() == Some(XR_CVD_ID)
}

/// The invoice type code, normalize-spaced (`''` when absent, as XPath gives it).
fn type_code(doc: &Doc) -> String {
    doc.type_code
        .as_deref()
        .map(normalize_space)
        .unwrap_or_default()
}

/// The artefact's IBAN test on an account id: without its white space it `matches
/// '^[A-Z]{2}[0-9]{2}[a-zA-Z0-9]{0,30}$'`, and the digits of the code points of the id moved
/// four characters round (`cp - 55` above 64, else `cp - 48`; lower-case letters are not
/// upper-cased after the fourth character) are 1 modulo 97.
pub(super) fn iban_ok(id: &str) -> bool {
    let s: Vec<u8> = id
        .bytes()
        .filter(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .collect();
    let shape = (4..=34).contains(&s.len())
        && s[..2].iter().all(u8::is_ascii_uppercase)
        && s[2..4].iter().all(u8::is_ascii_digit)
        && s[4..].iter().all(u8::is_ascii_alphanumeric);
    if !shape {
        return false;
    }
    let rearranged = s[4..].iter().chain(&s[..4]);
    let rest = rearranged.fold(0u32, |r, &c| {
        let v = if c > 64 {
            u32::from(c) - 55
        } else {
            u32::from(c) - 48
        };
        let scale = if v >= 10 { 100 } else { 10 };
        (r * scale + v) % 97
    });
    rest == 1
}

/// `matches(normalize-space(tel), '.*([0-9].*){3,}.*')`: three digits at least.
fn telephone_ok(tel: &str) -> bool {
    tel.bytes().filter(u8::is_ascii_digit).count() >= 3
}

/// `matches(normalize-space(mail), '^[^@\s]+@([^@.\s]+\.)+[^@.\s]+$')`.
fn email_ok(mail: &str) -> bool {
    let mail = normalize_space(mail);
    let Some((local, domain)) = mail.split_once('@') else {
        return false;
    };
    let plain = |s: &str| !s.is_empty() && !s.contains(['@', ' ']);
    let labels: Vec<&str> = domain.split('.').collect();
    plain(local) && labels.len() >= 2 && labels.iter().all(|l| plain(l))
}

/// `matches(uri, '^([a-zA-Z])([a-zA-Z0-9+.-])+:.*')`, on the URI as written.
fn url_ok(uri: &str) -> bool {
    let b = uri.as_bytes();
    if !b.first().is_some_and(u8::is_ascii_alphabetic) {
        return false;
    }
    let scheme = b[1..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'.' | b'-'))
        .count();
    scheme >= 1 && b.get(1 + scheme) == Some(&b':')
}

/// The payment instructions whose type code, normalize-spaced, is `code`.
fn means_of<'a>(
    doc: &'a Doc,
    code: &'a str,
) -> impl Iterator<Item = (usize, &'a PaymentMeansData)> {
    doc.payment_means
        .iter()
        .enumerate()
        .filter(move |(_, p)| p.code.as_deref().map(normalize_space).as_deref() == Some(code))
}

/// BR-DE-19/20: each instruction of type `code` whose account `account` gives (`Err` when
/// the artefact cannot read it: more than one) is no valid IBAN.
fn ibans(
    i: &Input<'_>,
    code: &str,
    account: fn(&PaymentMeansData, bool) -> Result<Option<&str>, ()>,
    what: &str,
    out: &mut Vec<Broken>,
) {
    for (n, p) in means_of(i.doc, code) {
        let Ok(id) = account(p, i.cii) else {
            continue;
        };
        if !iban_ok(id.unwrap_or("")) {
            out.push(Broken::at(
                i.root().to_owned(),
                format!(
                    "payment instruction {} (type {code}) has {what} {:?}, which is no valid IBAN",
                    n + 1,
                    id.unwrap_or("").chars().take(40).collect::<String>()
                ),
            ));
        }
    }
}

/// The seller contact's telephone (`phone`) or e-mail, as BR-DE-27/28 read it.
fn contact(i: &Input<'_>, phone: bool, out: &mut Vec<Broken>) {
    let s = &i.doc.seller;
    if !s.contact {
        return;
    }
    let (text, ok, what) = if phone {
        (
            &s.contact_phone_text,
            telephone_ok as fn(&str) -> bool,
            "telephone number (BT-42) has fewer than three digits",
        )
    } else {
        (
            &s.contact_email_text,
            email_ok as fn(&str) -> bool,
            "e-mail address (BT-43) is not of the form name@domain.tld",
        )
    };
    if !ok(text.as_deref().unwrap_or("")) {
        out.push(Broken::at(
            i.root().to_owned(),
            format!("the seller contact's {what}"),
        ));
    }
}

/// XRechnung's warnings, UBL and CII alike.
pub(super) const RULES: &[Rule] = &[
    Rule {
        id: "BR-DE-17",
        terms: &["BT-3"],
        check: |i, out| {
            let code = type_code(i.doc);
            if !TYPE_CODES.contains(&code.as_str()) {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!("the invoice type code (BT-3) is {code:?}; XRechnung expects 326, 380, 384, 389, 381, 875, 876 or 877"),
                ));
            }
        },
    },
    Rule {
        id: "BR-DE-21",
        terms: &["BT-24"],
        check: |i, out| {
            let id = i.doc.customization_id.as_deref().unwrap_or("");
            if ![XR_CIUS_ID, XR_EXTENSION_ID, XR_CVD_ID].contains(&id) {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!(
                        "the specification identifier (BT-24) {:?} is not XRechnung 3.0's",
                        id.chars().take(120).collect::<String>()
                    ),
                ));
            }
        },
    },
    Rule {
        id: "BR-DE-26",
        terms: &["BT-3", "BG-3"],
        check: |i, out| {
            if type_code(i.doc) == "384" && !i.doc.invoice_reference_element {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "a corrected invoice (type 384) should name the invoice it corrects (BG-3)",
                ));
            }
        },
    },
    Rule {
        id: "BR-DE-19",
        terms: &["BT-81", "BT-84"],
        check: |i, out| {
            ibans(
                i,
                "58",
                |p, cii| {
                    // CII reads the `IBANID` alone; a `ProprietaryID` beside it is not told apart
                    // in the model, so such an account is left unread.
                    if cii && p.proprietary {
                        return if p.iban { Err(()) } else { Ok(None) };
                    }
                    match p.accounts.as_slice() {
                        [] => Ok(None),
                        [one] => Ok(Some(one.as_str())),
                        _ => Err(()),
                    }
                },
                "the account (BT-84)",
                out,
            )
        },
    },
    Rule {
        id: "BR-DE-20",
        terms: &["BT-81", "BT-91"],
        check: |i, out| {
            ibans(
                i,
                "59",
                |p, _| Ok(p.payer_account_id.as_deref()),
                "the debited account (BT-91)",
                out,
            )
        },
    },
    Rule {
        id: "BR-DE-27",
        terms: &["BG-6", "BT-42"],
        check: |i, out| contact(i, true, out),
    },
    Rule {
        id: "BR-DE-28",
        terms: &["BG-6", "BT-43"],
        check: |i, out| contact(i, false, out),
    },
    Rule {
        id: "BR-TMP-2",
        terms: &["BT-124"],
        // UBL: each `Attachment/ExternalReference` has an absolute URL; CII: each attached
        // document (type code 916 as written) with a `URIID`.
        check: |i, out| {
            for (n, a) in i.doc.attachments.iter().enumerate() {
                let asked = if i.cii {
                    a.type_code.as_deref() == Some("916") && a.uri.is_some()
                } else {
                    a.external_reference
                };
                if asked && !url_ok(a.uri.as_deref().unwrap_or("")) {
                    out.push(Broken::at(
                        i.root().to_owned(),
                        format!("the external document location (BT-124) of additional document {} is not an absolute URL with a scheme", n + 1),
                    ));
                }
            }
        },
    },
    Rule {
        id: "BR-DE-TMP-32",
        terms: &["BT-72", "BG-14", "BG-26"],
        // An information in the artefact: reported as a warning, it never refuses.
        check: |i, out| {
            let d = i.doc;
            let every_line = (0..d.lines.len()).all(|n| d.line_periods.iter().any(|p| p.line == n));
            if d.actual_delivery_date.is_none() && d.periods.is_empty() && !every_line {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "the invoice gives no delivery date (BT-72), no invoicing period (BG-14) and not every line a period (BG-26); give one of them for the date of supply",
                ));
            }
        },
    },
    Rule {
        id: "PEPPOL-EN16931-R120",
        terms: &[
            "BG-25", "BT-131", "BT-129", "BT-146", "BT-149", "BT-136", "BT-141",
        ],
        // A warning in XRechnung; a line whose terms are no numbers stops the artefact, and
        // is not reported here.
        check: |i, out| line_arithmetic_broken(i, false, out),
    },
];

/// The UBL warnings of the extension.
pub(super) const EXTENSION_UBL: &[Rule] = &[Rule {
    id: "BR-DEX-02",
    terms: &["BG-25", "BG-DEX-01", "BT-131"],
    check: |i, out| {
        if i.doc.credit_note_root {
            return;
        }
        if let Some(n) = sub_line_sums_differ(i.doc) {
            out.push(Broken::at(
                i.line(n),
                format!("the net amount (BT-131) of invoice line {} or one of its sub-lines is not the sum of the net amounts of the sub-lines directly below it", n + 1),
            ));
        }
    },
}];

/// The CII warnings of the extension.
pub(super) const EXTENSION_CII: &[Rule] = &[Rule {
    id: "BR-DEX-15",
    terms: &["BT-126"],
    check: |i, out| {
        if i.doc.parent_line_id {
            for n in 0..i.doc.lines.len() {
                out.push(Broken::at(
                    i.line(n),
                    "the invoice has a ParentLineID; sub-lines are not supported in CII",
                ));
            }
        }
    },
}];

/// BR-DEX-02: the first invoice line whose net amount, or one of whose sub-lines' net amount,
/// is not the sum of its direct sub-lines' (compared as `xs:decimal`s, exactly; an absent
/// amount compares false). `None` when all agree, or a value is no number (the artefact stops).
fn sub_line_sums_differ(doc: &Doc) -> Option<usize> {
    let subs = &doc.sub_lines;
    let value = |n: Num| match n {
        Num::Value(v) => Ok(Some(v)),
        Num::Absent => Ok(None),
        Num::Invalid | Num::TooLong => Err(()),
    };
    // The direct children of the node at `at` (a line: `at` None, its depth 0) sum to `own`.
    let agrees = |line: usize, at: Option<usize>, depth: usize, own: Num| -> Result<bool, ()> {
        let start = at.map_or(0, |a| a + 1);
        let mut sum = Amount::ZERO;
        let mut any = false;
        for s in subs[start..].iter().filter(|s| s.line == line) {
            if s.depth <= depth {
                break;
            }
            if s.depth == depth + 1 {
                any = true;
                if let Some(v) = value(s.net)? {
                    sum = sum.checked_add(v).ok_or(())?;
                }
            }
        }
        Ok(!any || value(own)? == Some(sum))
    };
    let mut broken = None;
    for (n, line) in doc.lines.iter().enumerate() {
        let mut ok = agrees(n, None, 0, line.net);
        for (k, s) in subs.iter().enumerate().filter(|(_, s)| s.line == n) {
            ok = match (ok, agrees(n, Some(k), s.depth, s.net)) {
                (Err(()), _) | (_, Err(())) => Err(()),
                (Ok(a), Ok(b)) => Ok(a && b),
            };
        }
        match ok {
            Err(()) => return None,
            Ok(false) if broken.is_none() => broken = Some(n),
            Ok(_) => {}
        }
    }
    broken
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ibans_are_checked_as_the_artefact_does() {
        assert!(iban_ok("DE75512108001245126199"));
        assert!(iban_ok("DE75 5121 0800 1245 1261 99"));
        assert!(!iban_ok("DE75512108001245126198"));
        assert!(!iban_ok("de75512108001245126199"));
        assert!(!iban_ok("DE7"));
        assert!(!iban_ok(""));
    }

    #[test]
    fn contacts_and_urls_follow_the_artefact_patterns() {
        assert!(telephone_ok("+49 (0) 12"));
        assert!(!telephone_ok("12"));
        assert!(email_ok(" a.b@example.de "));
        assert!(!email_ok("a@b"));
        assert!(!email_ok("a@@b.de"));
        assert!(!email_ok("a b@c.de"));
        assert!(!email_ok("a@.b.de"));
        assert!(url_ok("https://example.org/x"));
        assert!(url_ok("urn:isbn:1"));
        assert!(!url_ok("h:x"));
        assert!(!url_ok("www.example.org"));
        assert!(!url_ok(" https://x"));
    }
}
