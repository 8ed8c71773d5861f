//! More of Peppol BIS Billing 3.0 (UBL), as tables: the document's notes, VAT totals and
//! accounting currency (PEPPOL-EN16931-R002/R005/R053..R055), allowances and charges
//! (R040..R043), the direct debit mandate (R061), the lines' arithmetic (R120), price discount
//! (R044/R046), document references, base quantity and periods (R080, R100/R101/R121/R130,
//! R110/R111), dates (F001), exemption reasons (P0104..P0111), and the identifier check digits
//! of PEPPOL-COMMON-R040..R053 (GLN, Norwegian, Danish, Belgian and Australian numbers).
//!
//! [`RULES`] and [`SHARED_UBL`] hold for Peppol BIS Self-Billing 3.0 as well (its artefact is
//! the billing one without the national rules); [`BILLING`] and [`SELF_BILLING`] are the rules
//! each words its own way: the specification identifier (R004), the business process (R007),
//! the type codes (P0100/P0101, and P0112 for billing) and the amount currencies (R051).
//! [`SHARED_UBL`] is also what XRechnung's UBL artefact copies.
//!
//! The artefact's mode for these runs one template per node, highest priority first: R041 and
//! R042 take the allowances and charges with a multiplier and no base amount (or the other way
//! round) before R043's generic context sees them, so R043 is asked only of the others.

use super::super::amount::Amount;
use super::super::codes::{PEPPOL_AMOUNT_CURRENCY, PEPPOL_DATE};
use super::super::model::{Doc, Ident, Num, PartyData, normalize_space};
use super::en16931_parts::xs_date;
use super::peppol_national::in_country;
use super::table::{Broken, Input, Rule, each};

/// The specification identifier Peppol BIS Billing 3.0 starts with.
const BIS3: &str = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0";

/// `upper-case(normalize-space(…/PostalAddress/Country/IdentificationCode)) = 'DE'`.
fn in_germany(party: &PartyData) -> bool {
    in_country(party, "DE")
}

/// What R041..R043 see of an allowance or charge, document level or a line's own.
struct Group<'a> {
    /// The document level group `n` (`Err(line)`: a group of that line).
    at: Result<usize, usize>,
    indicator: Option<&'a str>,
    multiplier: bool,
    base: bool,
}

impl Group<'_> {
    /// Words for messages (built only for a group that breaks a rule).
    fn what(&self) -> String {
        match self.at {
            Ok(n) => format!("document level allowance or charge {}", n + 1),
            Err(line) => format!("an allowance or charge of invoice line {}", line + 1),
        }
    }
}

fn groups(doc: &Doc) -> impl Iterator<Item = Group<'_>> {
    let document = doc
        .allowance_charges
        .iter()
        .enumerate()
        .map(|(n, a)| Group {
            at: Ok(n),
            indicator: a.indicator.as_deref(),
            multiplier: a.multiplier_value.present(),
            base: a.decimals.base.is_some(),
        });
    let lines = doc.line_allowance_charges.iter().map(|a| Group {
        at: Err(a.line),
        indicator: a.indicator.as_deref(),
        multiplier: a.multiplier_value.present(),
        base: a.decimals.base.is_some(),
    });
    document.chain(lines)
}

/// An identifier of the seller, buyer, payee or tax representative (UBL `EndpointID`,
/// `PartyIdentification/ID`, `PartyLegalEntity/CompanyID`, `PartyTaxScheme/CompanyID` of a
/// scheme other than VAT) in `scheme` (the attribute as written), normalized.
fn identifiers_in<'a>(doc: &'a Doc, scheme: &'a str) -> impl Iterator<Item = String> + 'a {
    [&doc.seller, &doc.buyer, &doc.payee, &doc.tax_representative]
        .into_iter()
        .flat_map(move |p| {
            let listed = p
                .endpoint
                .iter()
                .chain(&p.identifiers)
                .chain(&p.legal_ids)
                .chain(&p.tax_registrations)
                .filter(move |id: &&Ident| id.scheme.as_deref() == Some(scheme))
                .map(|id| id.value.as_str());
            // The VAT identifiers keep their `schemeID` apart; the artefact asks every
            // `cbc:CompanyID` of the scheme.
            let vat = p
                .tax_schemes
                .iter()
                .zip(&p.tax_scheme_id_schemes)
                .filter(move |((tax, id), id_scheme)| {
                    // PEPPOL-COMMON-R056-2's template comes before 0217's, and takes a Dutch
                    // VAT number.
                    let r056_2 = tax.as_deref().is_some_and(|t| normalize_space(t) == "VAT")
                        && id
                            .as_deref()
                            .is_some_and(|v| normalize_space(v).starts_with("NL"));
                    id_scheme.as_deref() == Some(scheme)
                        && tax
                            .as_deref()
                            .is_some_and(|t| t.trim().eq_ignore_ascii_case("VAT"))
                        && !(scheme == "0217" && r056_2)
                })
                .filter_map(|((_, id), _)| id.as_deref());
            listed.chain(vat)
        })
        .map(normalize_space)
}

fn digits(s: &str) -> Option<Vec<u32>> {
    s.chars().map(|c| c.to_digit(10)).collect()
}

/// `u:gln`: the last digit is the GS1 check digit of the others (weights 3, 1 from the right).
fn gln(value: &str) -> bool {
    let Some(d) = digits(value).filter(|d| !d.is_empty()) else {
        return false;
    };
    let (body, check) = d.split_at(d.len() - 1);
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, v)| v * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    (10 - sum % 10) % 10 == check[0]
}

/// `u:mod11` (Norwegian organisation number, nine digits): weights 2..7 from the right.
pub(super) fn mod11(value: &str) -> bool {
    let Some(d) = digits(value).filter(|d| d.len() == 9) else {
        return false;
    };
    let (body, check) = d.split_at(8);
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, v)| v * ((i as u32 % 6) + 2))
        .sum();
    value.parse::<u64>().is_ok_and(|n| n > 0) && (11 - sum % 11) % 11 == check[0]
}

/// `u:mod97-0208` (Belgian enterprise number, ten digits): 97 - (first eight mod 97).
fn mod97_0208(value: &str) -> bool {
    let parse = |s: Option<&str>| s.and_then(|s| s.parse::<u64>().ok());
    let (Some(body), Some(check)) = (parse(value.get(..8)), parse(value.get(8..))) else {
        return false;
    };
    97 - body % 97 == check
}

/// `u:abn` (Australian Business Number, eleven digits): weighted sum mod 89, the first digit
/// less one.
fn abn(value: &str) -> bool {
    let Some(d) = digits(value).filter(|d| d.len() == 11) else {
        return false;
    };
    let weights = [10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19];
    let first = i64::from(d[0]) - 1;
    let sum: i64 = std::iter::once(first * 10)
        .chain(
            d.iter()
                .zip(weights)
                .skip(1)
                .map(|(v, w)| i64::from(*v) * w),
        )
        .sum();
    sum.rem_euclid(89) == 0
}

/// Ten characters, `DK` and eight digits (Danish SE number, R042's first form and R053).
fn dk_prefixed(value: &str) -> bool {
    value.len() == 10
        && value
            .strip_prefix("DK")
            .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_digit()))
}

/// `^NL[0-9]{9}B[0-9]{2}$`: a Dutch VAT number.
fn dutch_vat(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() == 14
        && b.starts_with(b"NL")
        && b[2..11].iter().all(u8::is_ascii_digit)
        && b[11] == b'B'
        && b[12..].iter().all(u8::is_ascii_digit)
}

/// The `schemeID`s whose `CompanyID` template comes before PEPPOL-COMMON-R056-2's in its mode.
const SCHEMES_BEFORE_R056_2: &[&str] = &[
    "0088", "0192", "0184", "0096", "0198", "0208", "0201", "0210", "0211", "0007", "0151", "0106",
    "0190", "9944",
];

/// `castable as xs:integer`: an optional sign and digits (the value is normalized already).
fn xs_integer(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `u:checkCodiceIPA`: six characters, each an ASCII letter or digit.
fn codice_ipa(value: &str) -> bool {
    value.chars().count() == 6 && value.chars().all(|c| c.is_ascii_alphanumeric())
}

/// `u:checkCF`: 16 characters in the pattern of a person's tax code (`u:checkCF16`), or 11
/// castable as an integer.
fn codice_fiscale(value: &str) -> bool {
    let c: Vec<char> = value.chars().collect();
    let text = |from: usize, to: usize| c[from..to].iter().collect::<String>();
    let letters = |from: usize, to: usize| c[from..to].iter().all(char::is_ascii_alphabetic);
    match c.len() {
        16 => {
            letters(0, 6)
                && xs_integer(&text(6, 8))
                && letters(8, 9)
                && xs_integer(&text(9, 11))
                && xs_integer(&text(14, 15))
                && letters(15, 16)
        }
        11 => xs_integer(value),
        _ => false,
    }
}

/// `u:checkPIVAseIT`: a value starting `IT` (or `it`) is followed by eleven digits whose Luhn
/// style sum (`u:addPIVA`: every second digit doubled as `0246813579` maps it) ends in 0; any
/// other value passes.
fn partita_iva(value: &str) -> bool {
    let Some(code) = value
        .strip_prefix("IT")
        .or_else(|| value.strip_prefix("it"))
    else {
        return true;
    };
    if code.chars().count() != 11 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = code
        .bytes()
        .map(|b| u32::from(b - b'0'))
        .enumerate()
        .map(|(n, d)| {
            if n % 2 == 1 {
                [0, 2, 4, 6, 8, 1, 3, 5, 7, 9][d as usize]
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn all_digits(value: &str, n: usize) -> bool {
    value.len() == n && value.bytes().all(|b| b.is_ascii_digit())
}

/// PEPPOL-COMMON-R040..R057 (R054..R057, the Dutch formats, are warnings): each identifier in `scheme` passes `valid` (on the identifier
/// normalized; R042, R052 and R053 read it as written, which the model keeps normalized, so a
/// value with spaces around it passes here where the artefact would refuse it).
fn check_digits(
    i: &Input<'_>,
    scheme: &'static str,
    name: &str,
    valid: fn(&str) -> bool,
    out: &mut Vec<Broken>,
) {
    for value in identifiers_in(i.doc, scheme).filter(|v| !valid(v)) {
        out.push(Broken::at(
            i.root().to_owned(),
            format!(
                "the identifier {:?} with scheme {scheme} is not a valid {name}",
                value.chars().take(40).collect::<String>()
            ),
        ));
    }
}

pub(super) const RULES: &[Rule] = &[
    Rule {
        id: "PEPPOL-EN16931-R002",
        terms: &["BT-22"],
        check: |i, out| {
            let d = i.doc;
            if d.notes > 1 && !(in_germany(&d.seller) && in_germany(&d.buyer)) {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!(
                        "the invoice has {} notes (BT-22); Peppol allows one",
                        d.notes
                    ),
                ));
            }
        },
    },
    Rule {
        id: "PEPPOL-EN16931-R100",
        terms: &["BG-25", "BT-128"],
        check: |i, out| {
            for n in each(&i.doc.lines, |l| l.document_references > 1) {
                out.push(Broken::at(
                    i.line(n),
                    format!(
                        "invoice line {} has more than one document reference; Peppol allows one",
                        n + 1
                    ),
                ));
            }
        },
    },
    Rule {
        id: "PEPPOL-EN16931-R120",
        terms: &[
            "BG-25", "BT-131", "BT-129", "BT-146", "BT-149", "BT-136", "BT-141",
        ],
        check: |i, out| line_arithmetic_broken(i, true, out),
    },
    Rule {
        id: "PEPPOL-EN16931-R040",
        terms: &["BT-92", "BT-93", "BT-94", "BT-99", "BT-100", "BT-101"],
        check: |i, out| percentages(i, CENTS, out),
    },
    Rule {
        id: "PEPPOL-COMMON-R040",
        terms: &["BT-29", "BT-30", "BT-34", "BT-46", "BT-47", "BT-49"],
        check: |i, out| {
            check_digits(
                i,
                "0088",
                "GLN (digits with a GS1 check digit)",
                |v| v.bytes().all(|b| b.is_ascii_digit()) && gln(v),
                out,
            );
        },
    },
    Rule {
        id: "PEPPOL-COMMON-R041",
        terms: &["BT-29", "BT-30", "BT-34", "BT-46", "BT-47", "BT-49"],
        check: |i, out| {
            check_digits(
                i,
                "0192",
                "Norwegian organisation number (nine digits, mod 11)",
                |v| all_digits(v, 9) && mod11(v),
                out,
            );
        },
    },
    Rule {
        id: "PEPPOL-COMMON-R042",
        terms: &["BT-29", "BT-30", "BT-34", "BT-46", "BT-47", "BT-49"],
        check: |i, out| {
            check_digits(
                i,
                "0184",
                "Danish CVR number (DK and eight digits, or eight digits)",
                |v| dk_prefixed(v) || all_digits(v, 8),
                out,
            );
        },
    },
    Rule {
        id: "PEPPOL-COMMON-R043",
        terms: &["BT-29", "BT-30", "BT-34", "BT-46", "BT-47", "BT-49"],
        check: |i, out| {
            check_digits(
                i,
                "0208",
                "Belgian enterprise number (ten digits, mod 97)",
                |v| all_digits(v, 10) && mod97_0208(v),
                out,
            );
        },
    },
    Rule {
        id: "PEPPOL-COMMON-R050",
        terms: &["BT-29", "BT-30", "BT-34", "BT-46", "BT-47", "BT-49"],
        check: |i, out| {
            check_digits(
                i,
                "0151",
                "Australian Business Number (eleven digits)",
                |v| all_digits(v, 11) && abn(v),
                out,
            );
        },
    },
    Rule {
        id: "PEPPOL-COMMON-R052",
        terms: &["BT-29", "BT-30", "BT-34", "BT-46", "BT-47", "BT-49"],
        check: |i, out| {
            check_digits(
                i,
                "0096",
                "Danish P number (ten digits)",
                |v| all_digits(v, 10),
                out,
            );
        },
    },
    Rule {
        id: "PEPPOL-COMMON-R053",
        terms: &["BT-29", "BT-30", "BT-34", "BT-46", "BT-47", "BT-49"],
        check: |i, out| {
            check_digits(
                i,
                "0198",
                "Danish SE number (DK and eight digits)",
                dk_prefixed,
                out,
            );
        },
    },
    Rule {
        id: "PEPPOL-COMMON-R054",
        terms: &["BT-29", "BT-30", "BT-34", "BT-46", "BT-47", "BT-49"],
        check: |i, out| {
            check_digits(
                i,
                "0106",
                "Dutch Chamber of Commerce (KvK) number (eight digits)",
                |v| all_digits(v, 8),
                out,
            );
        },
    },
    Rule {
        id: "PEPPOL-COMMON-R055",
        terms: &["BT-29", "BT-30", "BT-34", "BT-46", "BT-47", "BT-49"],
        check: |i, out| {
            check_digits(
                i,
                "0190",
                "Dutch organisation identification number (OIN, twenty digits)",
                |v| all_digits(v, 20),
                out,
            );
        },
    },
    Rule {
        id: "PEPPOL-COMMON-R056-1",
        terms: &["BT-29", "BT-30", "BT-34", "BT-46", "BT-47", "BT-49"],
        check: |i, out| {
            check_digits(
                i,
                "9944",
                "Dutch VAT number (NL, nine digits, B, two digits)",
                dutch_vat,
                out,
            );
        },
    },
    Rule {
        id: "PEPPOL-COMMON-R057",
        terms: &["BT-29", "BT-30", "BT-34", "BT-46", "BT-47", "BT-49"],
        check: |i, out| {
            check_digits(
                i,
                "0217",
                "Dutch Chamber of Commerce establishment number (twelve digits)",
                |v| all_digits(v, 12),
                out,
            );
        },
    },
    Rule {
        id: "PEPPOL-COMMON-R044",
        terms: &["BT-29", "BT-30", "BT-34", "BT-46", "BT-47", "BT-49"],
        check: |i, out| {
            check_digits(
                i,
                "0201",
                "Italian IPA code (Codice Univoco Unità Organizzativa: six letters or digits)",
                codice_ipa,
                out,
            );
        },
    },
    Rule {
        id: "PEPPOL-COMMON-R045",
        terms: &["BT-29", "BT-30", "BT-34", "BT-46", "BT-47", "BT-49"],
        check: |i, out| {
            check_digits(
                i,
                "0210",
                "Italian tax code (Codice Fiscale: 16 characters, or 11 digits)",
                codice_fiscale,
                out,
            );
        },
    },
    Rule {
        id: "PEPPOL-COMMON-R046",
        terms: &["BT-34", "BT-49"],
        // The artefact asks it of electronic addresses only.
        check: |i, out| {
            let d = i.doc;
            let endpoints = [&d.seller, &d.buyer, &d.payee, &d.tax_representative]
                .into_iter()
                .flat_map(|p| p.endpoint.iter())
                .filter(|id| id.scheme.as_deref() == Some("9907"))
                .map(|id| normalize_space(&id.value));
            for value in endpoints.filter(|v| !codice_fiscale(v)) {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!(
                        "the electronic address {:?} with scheme 9907 is not a valid Italian tax code (Codice Fiscale)",
                        value.chars().take(40).collect::<String>()
                    ),
                ));
            }
        },
    },
    Rule {
        id: "PEPPOL-COMMON-R047",
        terms: &["BT-29", "BT-30", "BT-34", "BT-46", "BT-47", "BT-49"],
        check: |i, out| {
            check_digits(
                i,
                "0211",
                "Italian VAT number (Partita IVA: IT and eleven digits with their check digit)",
                partita_iva,
                out,
            );
        },
    },
    Rule {
        id: "PEPPOL-COMMON-R056-2",
        terms: &["BT-31", "BT-48", "BT-63"],
        // Each VAT `PartyTaxScheme/CompanyID` starting `NL` (normalized), but one whose own
        // `schemeID` a higher-priority template of the mode takes.
        check: |i, out| {
            let d = i.doc;
            for p in [&d.seller, &d.buyer, &d.payee, &d.tax_representative] {
                for (n, (scheme, id)) in p.tax_schemes.iter().enumerate() {
                    let vat = scheme
                        .as_deref()
                        .is_some_and(|s| normalize_space(s) == "VAT");
                    let taken = p
                        .tax_scheme_id_schemes
                        .get(n)
                        .and_then(Option::as_deref)
                        .is_some_and(|s| SCHEMES_BEFORE_R056_2.contains(&s));
                    let Some(value) = id.as_deref().map(normalize_space) else {
                        continue;
                    };
                    if vat && !taken && value.starts_with("NL") && !dutch_vat(&value) {
                        out.push(Broken::at(
                            i.root().to_owned(),
                            format!(
                                "the Dutch VAT number {:?} is not NL, nine digits, B and two digits",
                                value.chars().take(40).collect::<String>()
                            ),
                        ));
                    }
                }
            }
        },
    },
    Rule {
        id: "PEPPOL-EN16931-R080",
        terms: &["BT-11"],
        // (The artefact asks it of credit notes only.)
        check: |i, out| {
            let d = i.doc;
            let projects = d
                .attachments
                .iter()
                .filter(|a| a.type_code.as_deref() == Some("50"))
                .count();
            if d.credit_note_root && projects > 1 {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!("the credit note has {projects} project references (AdditionalDocumentReference with DocumentTypeCode 50); Peppol allows one"),
                ));
            }
        },
    },
    Rule {
        id: "PEPPOL-EN16931-F001",
        terms: &["BT-2", "BT-9", "BT-7", "BT-73", "BT-74", "BT-72"],
        check: |i, out| {
            for code in i.doc.codes.iter().filter(|c| c.rule == PEPPOL_DATE) {
                if !is_peppol_date(&code.value) {
                    out.push(Broken::at(
                        code.location.clone(),
                        format!(
                            "the date {:?} at {} is not written YYYY-MM-DD",
                            code.value.chars().take(40).collect::<String>(),
                            code.location
                        ),
                    ));
                }
            }
        },
    },
    Rule {
        id: "PEPPOL-EN16931-P0104",
        terms: &["BT-121", "BT-118"],
        check: |i, out| exemption_category(i, "VATEX-EU-G", "G", out),
    },
    Rule {
        id: "PEPPOL-EN16931-P0105",
        terms: &["BT-121", "BT-118"],
        check: |i, out| exemption_category(i, "VATEX-EU-O", "O", out),
    },
    Rule {
        id: "PEPPOL-EN16931-P0106",
        terms: &["BT-121", "BT-118"],
        check: |i, out| exemption_category(i, "VATEX-EU-IC", "K", out),
    },
    Rule {
        id: "PEPPOL-EN16931-P0107",
        terms: &["BT-121", "BT-118"],
        check: |i, out| exemption_category(i, "VATEX-EU-AE", "AE", out),
    },
    Rule {
        id: "PEPPOL-EN16931-P0108",
        terms: &["BT-121", "BT-118"],
        check: |i, out| exemption_category(i, "VATEX-EU-D", "E", out),
    },
    Rule {
        id: "PEPPOL-EN16931-P0109",
        terms: &["BT-121", "BT-118"],
        check: |i, out| exemption_category(i, "VATEX-EU-F", "E", out),
    },
    Rule {
        id: "PEPPOL-EN16931-P0110",
        terms: &["BT-121", "BT-118"],
        check: |i, out| exemption_category(i, "VATEX-EU-I", "E", out),
    },
    Rule {
        id: "PEPPOL-EN16931-P0111",
        terms: &["BT-121", "BT-118"],
        check: |i, out| exemption_category(i, "VATEX-EU-J", "E", out),
    },
];

/// The rules of Peppol BIS Billing 3.0 that its self-billing twin words differently (and
/// P0112, which it lacks).
pub(super) const BILLING: &[Rule] = &[
    Rule {
        id: "PEPPOL-EN16931-R007",
        terms: &["BT-23"],
        check: |i, out| known_profile(i, BILLING_PROFILES, out),
    },
    Rule {
        id: "PEPPOL-EN16931-R004",
        terms: &["BT-24"],
        check: |i, out| specification(i, BIS3, "Peppol BIS Billing 3.0", out),
    },
    Rule {
        id: "PEPPOL-EN16931-R051",
        terms: &["BT-5"],
        check: |i, out| amount_currencies(i, true, out),
    },
    Rule {
        id: "PEPPOL-EN16931-P0100",
        terms: &["BT-3"],
        check: |i, out| type_code_in(i, false, INVOICE_TYPES, BILLING_PROFILES, out),
    },
    Rule {
        id: "PEPPOL-EN16931-P0101",
        terms: &["BT-3"],
        check: |i, out| type_code_in(i, true, CREDIT_NOTE_TYPES, BILLING_PROFILES, out),
    },
    Rule {
        id: "PEPPOL-EN16931-P0112",
        terms: &["BT-3"],
        check: |i, out| {
            let d = i.doc;
            let code = d.type_code.as_deref().map(normalize_space);
            if !d.credit_note_root
                && matches!(code.as_deref(), Some("326" | "384"))
                && !(in_germany(&d.seller) && in_germany(&d.buyer))
            {
                out.push(Broken::at(
                    i.below("cbc:InvoiceTypeCode", ""),
                    "invoice type code 326 (partial invoice) or 384 (corrected invoice) is only allowed between a German seller and buyer".to_owned(),
                ));
            }
        },
    },
];

/// Peppol BIS Self-Billing 3.0's own wording of those rules: its specification identifier,
/// its type codes (389 self-billed invoice, 527 self-billed debit note, 261 self-billed credit
/// note) and R051 without the VAT breakdown's amounts.
pub(super) const SELF_BILLING: &[Rule] = &[
    Rule {
        id: "PEPPOL-EN16931-R007",
        terms: &["BT-23"],
        check: |i, out| {
            let with_response = i.doc.profile_id.as_deref().map(normalize_space);
            if with_response.as_deref() != Some(WITH_RESPONSE) {
                known_profile(i, SELF_BILLING_PROFILES, out)
            }
        },
    },
    Rule {
        id: "PEPPOL-EN16931-R004",
        terms: &["BT-24"],
        check: |i, out| specification(i, SELF_BILLING_ID, "Peppol BIS Self-Billing 3.0", out),
    },
    Rule {
        id: "PEPPOL-EN16931-R051",
        terms: &["BT-5"],
        check: |i, out| amount_currencies(i, false, out),
    },
    Rule {
        id: "PEPPOL-EN16931-P0100",
        terms: &["BT-3"],
        check: |i, out| type_code_in(i, false, &["389", "527"], SELF_BILLING_PROFILES, out),
    },
    Rule {
        id: "PEPPOL-EN16931-P0101",
        terms: &["BT-3"],
        check: |i, out| type_code_in(i, true, &["261"], SELF_BILLING_PROFILES, out),
    },
];

/// The specification identifier Peppol BIS Self-Billing 3.0 starts with.
const SELF_BILLING_ID: &str =
    "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:selfbilling:3.0";

/// R007: `$profile != 'Unknown'`: the business process, normalized, is one of `known`.
fn known_profile(i: &Input<'_>, known: &[&str], out: &mut Vec<Broken>) {
    let profile = i.doc.profile_id.as_deref().map(normalize_space);
    if !profile.is_some_and(|p| known.contains(&p.as_str())) {
        out.push(Broken::at(
            i.root().to_owned(),
            format!(
                "the business process (BT-23, ProfileID) is not one this Peppol specification knows; give {}",
                known[0]
            ),
        ));
    }
}

/// R004: the specification identifier starts with `prefix` and has no `::`.
fn specification(i: &Input<'_>, prefix: &str, name: &str, out: &mut Vec<Broken>) {
    let id = i
        .doc
        .customization_id
        .as_deref()
        .map(normalize_space)
        .unwrap_or_default();
    if !id.starts_with(prefix) || id.contains("::") {
        out.push(Broken::at(
            i.root().to_owned(),
            format!("the specification identifier (BT-24) {id:?} is not {name}'s; write {prefix}"),
        ));
    }
}

/// R051: `@currencyID = $documentCurrencyCode`, as written, for every amount but a VAT total
/// without breakdown (and, unless `subtotals`, the breakdown's VAT amounts).
fn amount_currencies(i: &Input<'_>, subtotals: bool, out: &mut Vec<Broken>) {
    let d = i.doc;
    let currency = d.currency.as_deref();
    let other = |c: Option<&str>| c.is_none() || c != currency;
    let uses = d
        .codes
        .iter()
        .filter(|c| c.rule == PEPPOL_AMOUNT_CURRENCY && (subtotals || c.list.is_empty()));
    for code in uses {
        let written = Some(code.value.as_str()).filter(|v| !v.is_empty());
        if other(written) {
            out.push(Broken::at(
                code.location.clone(),
                format!(
                    "the amount at {} is in {:?}, not in the invoice currency (BT-5)",
                    code.location,
                    code.value.chars().take(10).collect::<String>()
                ),
            ));
        }
    }
    // The context is the total's `cbc:TaxAmount`: a total without one is not asked.
    for n in each(&d.tax_totals, |t| {
        t.has_subtotals && !matches!(t.amount, Num::Absent) && other(t.currency.as_deref())
    }) {
        out.push(Broken::at(
            i.root().to_owned(),
            format!(
                "the VAT total {} (with a VAT breakdown) is not in the invoice currency (BT-5)",
                n + 1
            ),
        ));
    }
}

/// The Peppol rules XRechnung's UBL artefact carries too, with the same context and test (its
/// R040 differs: [`XRECHNUNG_UBL`]).
pub(super) const SHARED_UBL: &[Rule] = &[
    Rule {
        id: "PEPPOL-EN16931-R005",
        terms: &["BT-5", "BT-6"],
        check: tax_currency_not_invoice_currency,
    },
    Rule {
        id: "PEPPOL-EN16931-R053",
        terms: &["BT-110"],
        check: |i, out| {
            let n = i.doc.tax_totals.iter().filter(|t| t.has_subtotals).count();
            if n != 1 {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!("the invoice has {n} VAT totals with a VAT breakdown (TaxTotal with TaxSubtotal); Peppol wants exactly one"),
                ));
            }
        },
    },
    Rule {
        id: "PEPPOL-EN16931-R054",
        terms: &["BT-6", "BT-111"],
        check: |i, out| {
            let d = i.doc;
            let n = d.tax_totals.iter().filter(|t| !t.has_subtotals).count();
            let wanted = usize::from(d.tax_currency.is_some());
            if n != wanted {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!("the invoice has {n} VAT totals without a breakdown; Peppol wants one when a VAT accounting currency (BT-6) is given, else none"),
                ));
            }
        },
    },
    Rule {
        id: "PEPPOL-EN16931-R041",
        terms: &["BT-93", "BT-94", "BT-100", "BT-101"],
        check: percent_without_base,
    },
    Rule {
        id: "PEPPOL-EN16931-R042",
        terms: &["BT-93", "BT-94", "BT-100", "BT-101"],
        check: base_without_percent,
    },
    Rule {
        id: "PEPPOL-EN16931-R043",
        terms: &["BG-20", "BG-21", "BG-27", "BG-28"],
        check: indicator_not_boolean,
    },
    Rule {
        id: "PEPPOL-EN16931-R061",
        terms: &["BG-19", "BT-89"],
        check: |i, out| {
            for n in each(&i.doc.payment_means, |p| {
                let code = p.code.as_deref().map(normalize_space);
                matches!(code.as_deref(), Some("49" | "59")) && !p.mandate
            }) {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!("payment instruction {} is a direct debit without the mandate reference (BT-89, PaymentMandate/ID)", n + 1),
                ));
            }
        },
    },
    Rule {
        id: "PEPPOL-EN16931-R101",
        terms: &["BG-25", "BT-128"],
        check: line_reference_not_object,
    },
    Rule {
        id: "PEPPOL-EN16931-R110",
        terms: &["BG-14", "BG-26", "BT-73", "BT-134"],
        check: |i, out| line_period_within(i, false, out),
    },
    Rule {
        id: "PEPPOL-EN16931-R111",
        terms: &["BG-14", "BG-26", "BT-74", "BT-135"],
        check: |i, out| line_period_within(i, true, out),
    },
    Rule {
        id: "PEPPOL-EN16931-R044",
        terms: &["BG-29", "BT-147"],
        check: |i, out| {
            for n in each(&i.doc.lines, |l| {
                l.price_allowance
                    && l.price_allowance_indicator
                        .as_deref()
                        .map(normalize_space)
                        .as_deref()
                        != Some("false")
            }) {
                out.push(Broken::at(
                    i.line(n),
                    format!("the price allowance of invoice line {} has a ChargeIndicator other than false; a price can only have a discount", n + 1),
                ));
            }
        },
    },
    Rule {
        id: "PEPPOL-EN16931-R046",
        terms: &["BT-146", "BT-147", "BT-148"],
        // Net price = gross price − price discount, exactly, where the gross price is given.
        check: |i, out| {
            for n in each(&i.doc.lines, |l| {
                if !l.price_allowance || !l.gross_price.present() {
                    return false;
                }
                let net = l
                    .gross_price
                    .value()
                    .zip(l.price_discount.value())
                    .and_then(|(g, d)| g.checked_sub(d));
                !matches!((net, l.price), (Some(net), Num::Value(p)) if net == p)
            }) {
                out.push(Broken::at(
                    i.line(n),
                    format!("the net price (BT-146) of invoice line {} is not its gross price (BT-148) minus its price discount (BT-147)", n + 1),
                ));
            }
        },
    },
    Rule {
        id: "PEPPOL-EN16931-R121",
        terms: &["BG-25", "BT-149"],
        check: |i, out| {
            use super::super::model::Num;
            for n in each(&i.doc.lines, |l| match l.base_quantity {
                Num::Absent => false,
                Num::Value(q) => q <= super::super::amount::Amount::ZERO,
                Num::Invalid | Num::TooLong => true,
            }) {
                out.push(Broken::at(
                    i.line(n),
                    format!(
                        "the price base quantity (BT-149) of invoice line {} is not above zero",
                        n + 1
                    ),
                ));
            }
        },
    },
    Rule {
        id: "PEPPOL-EN16931-R055",
        terms: &["BT-110", "BT-111"],
        // With a VAT accounting currency, the VAT total in it and the one in the document
        // currency have the same sign (XPath's general comparisons: some total of each currency
        // is <= 0, or some of each is >= 0).
        check: |i, out| {
            let d = i.doc;
            let Some(tax_currency) = d.tax_currency.as_deref() else {
                return;
            };
            let tax_currency = normalize_space(tax_currency);
            let currency = d.currency.as_deref().map(normalize_space);
            let some = |code: Option<&str>, below: bool| {
                d.tax_totals.iter().any(|t| {
                    t.currency.as_deref() == code
                        && code.is_some()
                        && t.amount.value().is_some_and(|a| {
                            if below {
                                a <= Amount::ZERO
                            } else {
                                a >= Amount::ZERO
                            }
                        })
                })
            };
            let (tc, dc) = (Some(tax_currency.as_str()), currency.as_deref());
            let same_sign = some(tc, true) && some(dc, true) || some(tc, false) && some(dc, false);
            if !same_sign {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "the VAT total in the VAT accounting currency (BT-111) and the one in the invoice currency (BT-110) do not have the same sign".to_owned(),
                ));
            }
        },
    },
    Rule {
        id: "PEPPOL-EN16931-R130",
        terms: &["BT-130", "BT-150"],
        check: |i, out| {
            for n in each(&i.doc.lines, |l| {
                l.quantity
                    && l.base_quantity_unit.is_some()
                    && l.quantity_unit != l.base_quantity_unit
            }) {
                out.push(Broken::at(
                    i.line(n),
                    format!("the unit of the price base quantity (BT-150) of invoice line {} is not the unit of its quantity (BT-130)", n + 1),
                ));
            }
        },
    },
];

/// R101: a line's document reference is an invoiced object identifier (type code 130: UBL
/// `DocumentTypeCode`, CII `TypeCode`).
pub(super) fn line_reference_not_object(i: &Input<'_>, out: &mut Vec<Broken>) {
    let element = if i.cii {
        "TypeCode"
    } else {
        "DocumentTypeCode"
    };
    for n in each(&i.doc.lines, |l| {
        l.document_references > 0 && !l.object_reference
    }) {
        out.push(Broken::at(
            i.line(n),
            format!("the document reference of invoice line {} has no {element} 130 (an invoiced object identifier)", n + 1),
        ));
    }
}

/// R041: an allowance or charge (the document's or a line's) with a percentage (UBL
/// `MultiplierFactorNumeric`, CII `CalculationPercent`) has a base amount.
pub(super) fn percent_without_base(i: &Input<'_>, out: &mut Vec<Broken>) {
    for g in groups(i.doc).filter(|g| g.multiplier && !g.base) {
        out.push(Broken::at(
            i.root().to_owned(),
            format!(
                "{} has a percentage but no base amount; give both or neither",
                g.what()
            ),
        ));
    }
}

/// R042: one with a base amount has a percentage.
pub(super) fn base_without_percent(i: &Input<'_>, out: &mut Vec<Broken>) {
    for g in groups(i.doc).filter(|g| !g.multiplier && g.base) {
        out.push(Broken::at(
            i.root().to_owned(),
            format!(
                "{} has a base amount but no percentage; give both or neither",
                g.what()
            ),
        ));
    }
}

/// R043 (CII: R043-1): the charge indicator, normalized, is `true` or `false`; asked only of
/// the groups R041 and R042 do not take (see the module doc).
pub(super) fn indicator_not_boolean(i: &Input<'_>, out: &mut Vec<Broken>) {
    for g in groups(i.doc).filter(|g| g.multiplier == g.base) {
        let text = g.indicator.map(normalize_space).unwrap_or_default();
        if text != "true" && text != "false" {
            out.push(Broken::at(
                i.root().to_owned(),
                format!(
                    "{} has the ChargeIndicator {text:?}; Peppol wants true or false",
                    g.what()
                ),
            ));
        }
    }
}

/// R040: amount = base amount × percentage ÷ 100, within `slack`, where both are given.
fn percentages(i: &Input<'_>, slack: &str, out: &mut Vec<Broken>) {
    let doc = i.doc;
    let document = doc.allowance_charges.iter().enumerate().map(|(n, a)| {
        (
            Ok(n),
            a.multiplier_value.present() && a.decimals.base.is_some(),
            a.amount,
            a.base_value,
            a.multiplier_value,
        )
    });
    let lines = doc.line_allowance_charges.iter().map(|a| {
        (
            Err(a.line),
            a.multiplier_value.present() && a.decimals.base.is_some(),
            a.amount_value,
            a.base_value,
            a.multiplier_value,
        )
    });
    for (at, both, amount, base, percent) in document.chain(lines) {
        if !both {
            continue;
        }
        let ok = (|| {
            let amount = decimal_or(amount, Amount::ZERO)?;
            let product = base.value()?.checked_mul(percent.value()?)?;
            within(amount, product, Amount::parse("100")?, slack)
        })();
        if ok != Some(true) {
            let group = Group {
                at,
                indicator: None,
                multiplier: true,
                base: true,
            };
            out.push(Broken::at(
                        i.root().to_owned(),
                        format!("the amount of {} is not its base amount times its percentage (to within {slack})", group.what()),
                    ));
        }
    }
}

/// XRechnung's copy of PEPPOL-EN16931-R040: its margin is 0.5 for an invoice in forints
/// (`$slackValue`).
pub(super) const XRECHNUNG_UBL: &[Rule] = &[Rule {
    id: "PEPPOL-EN16931-R040",
    terms: &["BT-92", "BT-93", "BT-94", "BT-99", "BT-100", "BT-101"],
    check: xrechnung_percentages,
}];

/// R040 with XRechnung's `$slackValue`: 0.5 for an invoice in forints, else a cent.
pub(super) fn xrechnung_percentages(i: &Input<'_>, out: &mut Vec<Broken>) {
    let slack = if i.doc.currency.as_deref() == Some("HUF") {
        "0.5"
    } else {
        CENTS
    };
    percentages(i, slack, out)
}

/// The invoice type codes Peppol's billing profiles allow (P0100), as the artefact lists them.
const INVOICE_TYPES: &[&str] = &[
    "71", "80", "82", "84", "102", "218", "219", "326", "331", "380", "382", "383", "384", "386",
    "388", "393", "395", "553", "575", "623", "780", "817", "870", "875", "876", "877",
];
/// The credit note type codes they allow (P0101).
const CREDIT_NOTE_TYPES: &[&str] = &["381", "396", "81", "83", "532"];

/// The business processes whose type codes P0100/P0101 restrict: `$profile = ('01','02')` of
/// Peppol BIS Billing 3.0 (billing, and billing with response).
const BILLING_PROFILES: &[&str] = &[
    "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0",
    "urn:peppol:france:billing:regulated",
    "urn:peppol:france:billing:non-regulated",
    WITH_RESPONSE,
];
/// Billing with response, `$profile = '02'` of both artefacts.
const WITH_RESPONSE: &str = "urn:peppol:bis:billing_with_response";
/// Self-billing's `$profile = '01'`.
const SELF_BILLING_PROFILES: &[&str] = &[
    "urn:fdc:peppol.eu:2017:poacc:selfbilling:01:1.0",
    "urn:peppol:france:billing:regulated",
    "urn:peppol:france:billing:non-regulated",
];

/// P0100/P0101: in a billing profile, the type code (of the root's kind) is one of `allowed`.
fn type_code_in(
    i: &Input<'_>,
    credit_note: bool,
    allowed: &[&str],
    profiles: &[&str],
    out: &mut Vec<Broken>,
) {
    let d = i.doc;
    let profile = d.profile_id.as_deref().map(normalize_space);
    let restricted = profile.is_some_and(|p| profiles.contains(&p.as_str()));
    if d.credit_note_root != credit_note || !restricted {
        return;
    }
    let Some(code) = d.type_code.as_deref() else {
        return;
    };
    let code = normalize_space(code);
    if !allowed.contains(&code.as_str()) {
        let element = if credit_note {
            "cbc:CreditNoteTypeCode"
        } else {
            "cbc:InvoiceTypeCode"
        };
        out.push(Broken::at(
            i.below(element, ""),
            format!(
                "type code {:?} is not one this Peppol business process allows",
                code.chars().take(10).collect::<String>()
            ),
        ));
    }
}

/// P0104..P0111: a `TaxCategory` (of the VAT breakdown or of an allowance or charge) with
/// exemption reason code `vatex` (upper-cased) has category code `category`.
fn exemption_category(i: &Input<'_>, vatex: &str, category: &str, out: &mut Vec<Broken>) {
    let d = i.doc;
    let breakdown = d.vat_breakdown.iter().map(|b| &b.category);
    let groups = d.allowance_charges.iter().flat_map(|a| &a.taxes);
    let line_groups = d.line_allowance_charges.iter().flat_map(|a| &a.taxes);
    for tax in breakdown.chain(groups).chain(line_groups) {
        let Some(code) = tax.exemption_code.as_deref() else {
            continue;
        };
        if code.to_uppercase() == vatex && !tax.code_is(category, false) {
            out.push(Broken::at(
                i.root().to_owned(),
                format!(
                    "a VAT category with exemption reason code {vatex} has category code {:?}, not {category}",
                    tax.code.as_deref().unwrap_or("").chars().take(10).collect::<String>()
                ),
            ));
        }
    }
}

/// F001: `string-length(text()) = 10 and (string(.) castable as xs:date)`.
fn is_peppol_date(value: &str) -> bool {
    value.chars().count() == 10 && xs_date(value).is_some()
}

/// R005 (UBL, and XRechnung's CII copy): a VAT accounting currency is not the invoice
/// currency, both normalized.
pub(super) fn tax_currency_not_invoice_currency(i: &Input<'_>, out: &mut Vec<Broken>) {
    let d = i.doc;
    if let Some(tax) = d.tax_currency.as_deref()
        && normalize_space(tax)
            == d.currency
                .as_deref()
                .map(normalize_space)
                .unwrap_or_default()
    {
        out.push(Broken::at(
            i.root().to_owned(),
            "the VAT accounting currency (BT-6) is the invoice currency (BT-5); leave it out",
        ));
    }
}

/// Peppol's `u:slack` margin.
const CENTS: &str = "0.02";

/// `u:slack(expected, value, 0.02)`: the two differ by at most 0.02 (`expected` and `value` as
/// `numerator / divisor`, compared multiplied out so no division rounds).
fn within_cents(expected: Amount, numerator: Amount, divisor: Amount) -> Option<bool> {
    within(expected, numerator, divisor, CENTS)
}

/// `u:slack(expected, value, slack)`, as [`within_cents`] with another margin.
fn within(expected: Amount, numerator: Amount, divisor: Amount, slack: &str) -> Option<bool> {
    let slack = Amount::parse(slack)?;
    let scaled = expected.checked_mul(divisor)?;
    let diff = scaled.checked_sub(numerator)?.abs()?;
    Some(diff <= slack.checked_mul(divisor.abs()?)?)
}

/// A value the artefact casts with `xs:decimal`: absent gives `default`, a non-number `None`
/// (the XSLT stops there; the rule fails closed).
fn decimal_or(n: Num, default: Amount) -> Option<Amount> {
    match n {
        Num::Absent => Some(default),
        Num::Value(a) => Some(a),
        Num::Invalid | Num::TooLong => None,
    }
}

/// PEPPOL-EN16931-R120: line net amount = quantity × (price ÷ base quantity) + charges −
/// allowances, within 0.02; the sums of the line's charges and allowances (indicator written
/// `true` / `false`) rounded to cents. `None` when a term is not a number.
/// PEPPOL-EN16931-R120 over every line (`i.cii`: XRechnung CII's base quantity). A line whose
/// terms are no numbers is reported when `fail_closed` (Peppol's fatal); XRechnung's warning
/// leaves it, as the artefact stops there.
pub(super) fn line_arithmetic_broken(i: &Input<'_>, fail_closed: bool, out: &mut Vec<Broken>) {
    for n in 0..i.doc.lines.len() {
        let detail = match line_arithmetic(i.doc, n, i.cii) {
            Some(true) => continue,
            Some(false) => format!(
                "the net amount (BT-131) of invoice line {} is not its quantity times its net price (divided by the base quantity), plus its charges, minus its allowances (to within 0.02)",
                n + 1
            ),
            None if fail_closed => format!(
                "the net amount of invoice line {} could not be checked: its quantity, price, base quantity or an allowance amount is not a number",
                n + 1
            ),
            None => continue,
        };
        out.push(Broken::at(i.line(n), detail));
    }
}

/// XRechnung's CII artefact (`cii`) falls back on the gross price's base quantity when the net
/// price has none (or zero).
fn line_arithmetic(doc: &Doc, n: usize, cii: bool) -> Option<bool> {
    let line = doc.lines.get(n)?;
    let one = Amount::parse("1")?;
    let net = decimal_or(line.net, Amount::ZERO)?;
    let quantity = decimal_or(line.quantity_value, one)?;
    let price = decimal_or(line.price, Amount::ZERO)?;
    let nonzero = |q: Num| match q {
        Num::Value(b) if b != Amount::ZERO => Some(Some(b)),
        Num::Invalid | Num::TooLong => None,
        _ => Some(None),
    };
    let mut base = nonzero(line.base_quantity)?;
    if cii && base.is_none() {
        base = nonzero(line.gross_base_quantity)?;
    }
    let base = base.unwrap_or(one);
    let mut sums = [Amount::ZERO, Amount::ZERO];
    for a in doc.line_allowance_charges.iter().filter(|a| a.line == n) {
        let slot = match a.indicator.as_deref().map(normalize_space).as_deref() {
            Some("true") => 0,
            Some("false") => 1,
            _ => continue,
        };
        if let Some(v) = decimal_or(a.amount_value, Amount::ZERO) {
            sums[slot] = sums[slot].checked_add(v)?;
        } else {
            return None;
        }
    }
    let adjust = sums[0].round2()?.checked_sub(sums[1].round2()?)?;
    let numerator = quantity
        .checked_mul(price)?
        .checked_add(adjust.checked_mul(base)?)?;
    within_cents(net, numerator, base)
}

/// R110/R111: with an invoicing period start (end) date, each line period's start (end) date is
/// on or after (before) it, compared as `xs:date`s.
fn line_period_within(i: &Input<'_>, end: bool, out: &mut Vec<Broken>) {
    let doc = i.doc;
    let bound = doc.periods.first().and_then(|p| {
        if end {
            p.end.as_deref()
        } else {
            p.start.as_deref()
        }
    });
    let Some(bound) = bound else {
        return;
    };
    for p in &doc.line_periods {
        let Some(date) = (if end {
            p.end.as_deref()
        } else {
            p.start.as_deref()
        }) else {
            continue;
        };
        let ok = match (xs_date(date), xs_date(bound)) {
            (Some(d), Some(b)) => {
                if end {
                    d <= b
                } else {
                    d >= b
                }
            }
            _ => false,
        };
        if !ok {
            let (edge, side) = if end {
                ("ends", "after the invoicing period ends")
            } else {
                ("starts", "before the invoicing period starts")
            };
            out.push(Broken::at(
                i.line(p.line),
                format!(
                    "the period of invoice line {} {edge} on {}, {side} ({})",
                    p.line + 1,
                    date.trim(),
                    bound.trim()
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digits_follow_the_artefact() {
        assert!(gln("5790000436101"));
        assert!(!gln("5790000436102"));
        assert!(mod11("910667831"));
        assert!(!mod11("910667832"));
        assert!(mod97_0208("0203430576"));
        assert!(!mod97_0208("0203430577"));
        assert!(abn("51824753556"));
        assert!(!abn("51824753557"));
        assert!(dk_prefixed("DK12345678") && !dk_prefixed("DK1234567X"));
        assert!(codice_ipa("UF5K2Q") && !codice_ipa("UF5K2") && !codice_ipa("UF5K2-"));
        assert!(codice_fiscale("RSSMRA85T10A562S") && codice_fiscale("12345678901"));
        assert!(!codice_fiscale("RSSMRA8XT10A562S") && !codice_fiscale("1234567890A"));
        assert!(partita_iva("IT07643520567") && partita_iva("DE123") && partita_iva("07643520567"));
        assert!(!partita_iva("IT07643520568") && !partita_iva("IT0764352056"));
    }
}
