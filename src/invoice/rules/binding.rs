//! The EN 16931 syntax binding rules: those that read the model, as a table (UBL-SR-* and
//! UBL-DT-* over amounts, lines and attachments), and the presence and count constraints
//! (UBL-CR-*, most UBL-SR-*, UBL-DT-*, CII-SR-*, CII-DT-*), which the streaming pass
//! evaluates from the generated [`binding_tables`](super::binding_tables) and [`generated`]
//! reports. The cardinalities of the elements the model reads are in `syntax`.

use super::super::model::{AttachmentData, Doc, normalize_space};
use super::catalogue::{self, Flag};
use super::table::{Broken, Input, Rule, each};
use super::{Finding, Severity};

/// Reports what the streaming pass found against the generated binding rules, with the flag
/// and text the artefact of `layer` gives each rule.
pub(super) fn generated(doc: &Doc, layer: u16, out: &mut Vec<Finding>) {
    for hit in &doc.bindings {
        let official = catalogue::lookup(hit.id, layer);
        let severity = match official.map(|o| o.flag) {
            Some(Flag::Warning | Flag::Information) => Severity::Warning,
            Some(Flag::Fatal) | None => Severity::Fatal,
        };
        let text = official.map_or("", |o| o.text);
        out.push(Finding {
            rule_id: hit.id,
            severity,
            message: format!("[{}] {} (in {})", hit.id, text, hit.location),
            location: Some(hit.location.clone()),
            official_text: official.map(|o| o.text),
            line: None,
            offset: Some(hit.offset),
        });
    }
}

/// The ids of the generated rules, for [`super::implemented`].
pub(super) fn generated_ids() -> impl Iterator<Item = &'static str> {
    [&super::binding_tables::UBL, &super::binding_tables::CII]
        .into_iter()
        .flat_map(|b| b.templates.iter())
        .flat_map(|t| t.asserts.iter().map(|a| a.id))
}

/// An additional document reference with `DocumentTypeCode = '130'` (as written).
fn object_reference(a: &AttachmentData) -> bool {
    a.type_code.as_deref() == Some("130")
}

/// Reports a count above one, on the invoice.
fn more_than_one(i: &Input<'_>, n: usize, what: &str, out: &mut Vec<Broken>) {
    if n > 1 {
        out.push(Broken::at(
            i.root().to_owned(),
            format!("the invoice has {n} {what}; give at most one"),
        ));
    }
}

/// UBL-SR-19..21 (context `PayeeParty`): at most one of what each counts, and the payee's name
/// differs from the seller's legal name; a payee without a name, or a seller without a legal
/// name, breaks all three (`(PartyName/Name) != (…/RegistrationName)` is false for an empty
/// sequence).
fn payee_syntax(i: &Input<'_>, count: usize, what: &str, out: &mut Vec<Broken>) {
    let (payee, seller) = (&i.doc.payee, &i.doc.seller);
    if !payee.present {
        return;
    }
    let differs = match (&payee.trading_name, &seller.registration_name) {
        (Some(a), Some(b)) => a != b || payee.names > 1,
        _ => false,
    };
    let detail = if count > 1 {
        format!("the payee (BG-10) has {count} {what}; give at most one")
    } else if !differs {
        "the payee (BG-10) has no name, or the seller's legal name; a payee is another party than the seller".to_owned()
    } else {
        return;
    };
    out.push(Broken::at(format!("{}/cac:PayeeParty", i.root()), detail));
}

/// UBL-SR-30/31: an allowance (`charge` false) or charge, at any level, has at most one reason.
fn too_many_reasons(i: &Input<'_>, charge: bool, out: &mut Vec<Broken>) {
    let kind = if charge { "charge" } else { "allowance" };
    for (n, a) in i.doc.allowance_charges.iter().enumerate() {
        if a.charge_as_boolean() == Some(charge) && a.reasons > 1 {
            out.push(Broken::at(
                i.allowance_charge(n),
                format!(
                    "document level {kind} {} has {} reasons; give one",
                    n + 1,
                    a.reasons
                ),
            ));
        }
    }
    for (n, a) in i.doc.line_allowance_charges.iter().enumerate() {
        if a.charge_as_boolean() == Some(charge) && a.reasons > 1 {
            out.push(Broken::at(
                i.line_allowance_charge(n),
                format!(
                    "a {kind} of invoice line {} has {} reasons; give one",
                    a.line + 1,
                    a.reasons
                ),
            ));
        }
    }
}

pub(super) const UBL_RULES: &[Rule] = &[
    Rule {
        id: "UBL-SR-11",
        terms: &["BT-30"],
        check: |i, out| {
            let n = i.doc.seller.legal_ids.len();
            if n > 1 {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!("the seller has {n} legal registration identifiers (PartyLegalEntity/CompanyID); give exactly one"),
                ));
            }
        },
    },
    Rule {
        id: "UBL-SR-13",
        terms: &["BT-32"],
        check: |i, out| {
            let n = i.doc.seller.non_vat_tax_ids;
            if n > 1 {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!("the seller has {n} tax registration identifiers (BT-32) other than its VAT identifier; give at most one"),
                ));
            }
        },
    },
    Rule {
        id: "UBL-DT-06",
        terms: &["BT-125"],
        check: |i, out| {
            if i.doc.binary_without_mime {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "an attached document (EmbeddedDocumentBinaryObject) has no mimeCode",
                ));
            }
        },
    },
    Rule {
        id: "UBL-SR-48",
        terms: &["BG-25", "BT-151"],
        check: |i, out| {
            for n in each(&i.doc.lines, |l| l.tax_count != 1) {
                let count = i.doc.lines.get(n).map_or(0, |l| l.tax_count);
                out.push(Broken::at(
                    i.line(n),
                    format!(
                        "invoice line {} has {count} classified tax categories (Item/ClassifiedTaxCategory); give exactly one",
                        n + 1
                    ),
                ));
            }
        },
    },
    Rule {
        id: "UBL-DT-01",
        terms: &[
            "BT-92", "BT-99", "BT-106", "BT-107", "BT-108", "BT-109", "BT-110", "BT-112", "BT-113",
            "BT-114", "BT-115", "BT-116", "BT-117", "BT-131",
        ],
        // Every `…Amount` but prices and a price's allowance, as written: `12.000` has three.
        check: |i, out| {
            for location in &i.doc.long_amounts.first {
                out.push(Broken::at(
                    location.clone(),
                    format!(
                        "the amount {location} has more than two decimals; round amounts to cents"
                    ),
                ));
            }
        },
    },
    Rule {
        id: "UBL-SR-04",
        terms: &["BT-18"],
        check: |i, out| {
            let n = i
                .doc
                .attachments
                .iter()
                .filter(|a| object_reference(a) && a.id.is_some())
                .count();
            if n > 1 {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!("the invoice has {n} invoiced object identifiers (BT-18, AdditionalDocumentReference with DocumentTypeCode 130); give at most one"),
                ));
            }
        },
    },
    Rule {
        id: "UBL-SR-07",
        terms: &["BG-3", "BT-25"],
        check: |i, out| {
            for n in each(&i.doc.billing_references, |has_id| !has_id) {
                out.push(Broken::at(
                    format!("{}/cac:BillingReference[{}]", i.root(), n + 1),
                    format!(
                        "preceding invoice reference {} has no InvoiceDocumentReference/ID",
                        n + 1
                    ),
                ));
            }
        },
    },
    Rule {
        id: "UBL-SR-12",
        // `upper-case(cbc:ID) = 'VAT'`, as written: ` VAT` is not counted here.
        terms: &["BT-31"],
        check: |i, out| {
            more_than_one(
                i,
                i.doc.seller.vat_tax_ids,
                "seller VAT identifiers (BT-31)",
                out,
            )
        },
    },
    Rule {
        id: "UBL-SR-18",
        terms: &["BT-48"],
        check: |i, out| {
            more_than_one(
                i,
                i.doc.buyer.vat_ids.len(),
                "buyer VAT identifiers (BT-48)",
                out,
            )
        },
    },
    Rule {
        id: "UBL-SR-19",
        terms: &["BG-10", "BT-59"],
        check: |i, out| payee_syntax(i, i.doc.payee.names, "names (BT-59)", out),
    },
    Rule {
        id: "UBL-SR-20",
        terms: &["BG-10", "BT-60"],
        check: |i, out| {
            let ids = i
                .doc
                .payee
                .identifiers
                .iter()
                .filter(|id| {
                    id.scheme
                        .as_deref()
                        .is_some_and(|s| !s.eq_ignore_ascii_case("SEPA"))
                })
                .count();
            payee_syntax(i, ids, "identifiers (BT-60) other than SEPA", out);
        },
    },
    Rule {
        id: "UBL-SR-21",
        terms: &["BG-10", "BT-61"],
        check: |i, out| {
            payee_syntax(
                i,
                i.doc.payee.legal_ids.len(),
                "legal registration identifiers (BT-61)",
                out,
            );
        },
    },
    Rule {
        id: "UBL-SR-29",
        terms: &["BT-90"],
        // Counted over the parties the model reads (seller, buyer, payee, tax representative).
        check: |i, out| {
            let d = i.doc;
            let n = [&d.seller, &d.buyer, &d.payee, &d.tax_representative]
                .iter()
                .flat_map(|p| p.identifiers.iter())
                .filter(|id| {
                    id.scheme
                        .as_deref()
                        .is_some_and(|s| s.eq_ignore_ascii_case("SEPA"))
                })
                .count();
            more_than_one(
                i,
                n,
                "bank assigned creditor identifiers (BT-90, schemeID SEPA)",
                out,
            );
        },
    },
    Rule {
        id: "UBL-SR-30",
        terms: &["BG-20", "BG-27", "BT-97", "BT-139"],
        check: |i, out| too_many_reasons(i, false, out),
    },
    Rule {
        id: "UBL-SR-31",
        terms: &["BG-21", "BG-28", "BT-104", "BT-144"],
        check: |i, out| too_many_reasons(i, true, out),
    },
    Rule {
        id: "UBL-SR-43",
        // An additional document reference is an invoiced object (130), a credit note's
        // tender or lot reference (50), or, without a type code and id scheme, a supporting
        // document.
        terms: &["BG-24", "BT-18"],
        check: |i, out| {
            let credit_note = i.doc.credit_note_root;
            for n in each(&i.doc.attachments, |a| {
                let code = a.type_code.as_deref();
                !(code == Some("130")
                    || (credit_note && code == Some("50"))
                    || (!a.id_scheme && code.is_none()))
            }) {
                out.push(Broken::at(
                    format!("{}/cac:AdditionalDocumentReference[{}]", i.root(), n + 1),
                    format!("additional document reference {} has a DocumentTypeCode other than 130 or an ID with a schemeID; only an invoiced object identifier (130) has either", n + 1),
                ));
            }
        },
    },
    Rule {
        id: "UBL-SR-44",
        terms: &["BT-83"],
        check: |i, out| {
            more_than_one(
                i,
                i.doc.payment_ids.len(),
                "different remittance informations (BT-83, PaymentID)",
                out,
            )
        },
    },
    Rule {
        id: "UBL-SR-46",
        terms: &["BT-82"],
        check: |i, out| {
            let n = i.doc.payment_means.iter().filter(|p| p.code_named).count();
            more_than_one(
                i,
                n,
                "payment means texts (BT-82, PaymentMeansCode/@name)",
                out,
            );
        },
    },
    Rule {
        id: "UBL-SR-47",
        terms: &["BT-81"],
        check: |i, out| {
            let mut codes: Vec<&str> = i
                .doc
                .payment_means
                .iter()
                .filter_map(|p| p.code.as_deref())
                .collect();
            codes.sort_unstable();
            codes.dedup();
            more_than_one(
                i,
                codes.len(),
                "different payment means type codes (BT-81)",
                out,
            );
        },
    },
    Rule {
        id: "UBL-SR-53",
        terms: &["BT-31", "BT-32", "BT-48", "BT-63"],
        check: |i, out| {
            if i.doc.party_tax_scheme_incomplete {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "a PartyTaxScheme lacks its CompanyID or its TaxScheme/ID; give both",
                ));
            }
        },
    },
    Rule {
        id: "UBL-CR-666",
        terms: &["BT-18"],
        check: |i, out| {
            if i.doc
                .attachments
                .iter()
                .any(|a| object_reference(a) && a.attachment_element)
            {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "an invoiced object identifier (DocumentTypeCode 130) has an Attachment; send documents as separate references",
                ));
            }
        },
    },
    Rule {
        id: "UBL-CR-673",
        terms: &["BT-18"],
        check: |i, out| {
            if i.doc
                .attachments
                .iter()
                .any(|a| object_reference(a) && a.description)
            {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "an invoiced object identifier (DocumentTypeCode 130) has a DocumentDescription",
                ));
            }
        },
    },
    Rule {
        id: "UBL-CR-002",
        // `cbc:UBLVersionID = '2.1'`, as written.
        terms: &[],
        check: |i, out| {
            if let Some(v) = i.doc.ubl_version.as_deref().filter(|v| *v != "2.1") {
                out.push(Broken::at(
                    format!("{}/cbc:UBLVersionID", i.root()),
                    format!("the UBL version is '{v}'; leave UBLVersionID out, or give 2.1"),
                ));
            }
        },
    },
    Rule {
        id: "UBL-CR-665",
        terms: &["BT-18", "BT-122"],
        check: |i, out| {
            for n in each(&i.doc.attachments, |a| a.id_scheme && !object_reference(a)) {
                out.push(Broken::at(
                    format!("{}/cac:AdditionalDocumentReference[{}]", i.root(), n + 1),
                    format!("additional document reference {} has an ID with a schemeID but is not an invoiced object identifier (DocumentTypeCode 130); leave the schemeID out", n + 1),
                ));
            }
        },
    },
    Rule {
        id: "UBL-DT-07",
        terms: &["BT-125"],
        check: |i: &Input<'_>, out| {
            if i.doc.binary_without_filename {
                out.push(Broken::at(
                    format!("{}/cac:AdditionalDocumentReference/cac:Attachment/cbc:EmbeddedDocumentBinaryObject", i.root()),
                    "an attached document (EmbeddedDocumentBinaryObject) has no filename attribute; give its file name",
                ));
            }
        },
    },
];

/// The CII syntax binding rules that read the model (the cardinalities of the elements it reads
/// are in `syntax`, from `cii::Cii::singular`).
pub(super) const CII_RULES: &[Rule] = &[
    Rule {
        id: "CII-SR-046",
        terms: &["BT-157"],
        check: |i, out| {
            for n in each(&i.doc.lines, |l| l.global_id_without_scheme_attribute) {
                out.push(Broken::at(
                    i.line(n),
                    format!("the item standard identifier (GlobalID) of invoice line {} has no schemeID", n + 1),
                ));
            }
        },
    },
    Rule {
        id: "CII-SR-463",
        terms: &["BG-20", "BG-21", "BG-27", "BG-28"],
        check: |i, out| {
            for n in each(&i.doc.allowance_charges, |a| !a.indicator_element) {
                out.push(Broken::at(
                    i.allowance_charge(n),
                    format!(
                        "document level allowance or charge {} has no ChargeIndicator",
                        n + 1
                    ),
                ));
            }
            for (n, a) in i.doc.line_allowance_charges.iter().enumerate() {
                if !a.indicator_element {
                    out.push(Broken::at(
                        i.line_allowance_charge(n),
                        format!(
                            "an allowance or charge of invoice line {} has no ChargeIndicator",
                            a.line + 1
                        ),
                    ));
                }
            }
        },
    },
    Rule {
        id: "CII-SR-467",
        // Every payment means type code is the first one (normalize-space compared).
        terms: &["BT-81"],
        check: |i, out| {
            let codes: Vec<String> = i
                .doc
                .payment_means
                .iter()
                .filter_map(|p| p.code.as_deref().map(normalize_space))
                .collect();
            if codes.iter().any(|c| Some(c) != codes.first()) {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!("the payment instructions have different type codes ({}); give one payment means type code (BT-81)", codes.join(", ")),
                ));
            }
        },
    },
    Rule {
        id: "CII-SR-470",
        terms: &["BG-16", "BT-81", "BT-84"],
        check: |i, out| {
            let n = i
                .doc
                .payment_means
                .iter()
                .filter(|p| {
                    let code = p.code.as_deref().map(normalize_space);
                    matches!(code.as_deref(), Some("30" | "58")) && p.accounts.is_empty()
                })
                .count();
            if n > 0 {
                out.push(Broken::at(
                    format!("{}/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement", i.root()),
                    format!("{n} credit transfer payment instruction(s) (code 30 or 58) have no IBANID or ProprietaryID"),
                ));
            }
        },
    },
];
