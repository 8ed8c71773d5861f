//! The VAT category rules that ask who has a VAT identifier (BR-x-02 for the lines, -03 for the
//! document allowances, -04 for the charges, of categories S, Z, E, AE, K, G, O, L and M): a
//! line, allowance or charge in a taxed category needs the seller's tax registration or its
//! tax representative's VAT identifier; reverse charge and intra-community supply need the
//! buyer's identifier too; "not subject to VAT" forbids every VAT identifier. BR-CO-09 asks
//! each VAT identifier for its country prefix (the lists are generated, `codelists.rs`).
//!
//! Each follows its syntax's XPath, and they differ:
//! - UBL asks once per invoice (`exists(//cac:ClassifiedTaxCategory[…]) and …`); CII asks of
//!   each line tax or allowance/charge category (the rule's context), so CII reports each.
//! - For S, Z, E, AE, L and M, UBL takes any `PartyTaxScheme/CompanyID` of the seller, CII a
//!   `SpecifiedTaxRegistration/ID` with `schemeID` `VA` or `FC`; G, K and O want the VAT one.
//! - UBL's -03/-04 read every `AllowanceCharge` (so also a line's own), except BR-O-03/04, which
//!   read the document level ones only; CII's read every `SpecifiedTradeAllowanceCharge`.
//! - UBL's BR-S-02 is triggered by a line in S of any scheme, while it passes only with one in
//!   S of the VAT scheme (its `not(exists(…))` branch has no scheme test).
//!
//! Both syntaxes take the charge indicator as an `xs:boolean` here (`ChargeIndicator = false()`,
//! `udt:Indicator = false()`). Not followed: the allowance or charge of a line's price (UBL
//! `Price/AllowanceCharge/TaxCategory`), which EN 16931 does not give a VAT category.

use super::super::model::{Doc, PartyData, TaxCategoryData};
use super::table::{Broken, Input, Loc, Rule};

/// What the rule is asked of.
#[derive(Clone, Copy, PartialEq)]
enum On {
    Lines,
    /// Allowances (`false`) or charges (`true`), document level and lines' own.
    Groups(bool),
    /// Document level allowances or charges only (UBL's BR-O-03/04).
    DocumentGroups(bool),
}

/// Whose identifiers the category needs.
#[derive(Clone, Copy)]
enum Needs {
    /// The seller has a tax registration (UBL: any `PartyTaxScheme/CompanyID`; CII: `schemeID`
    /// VA or FC), or its tax representative a VAT identifier.
    SellerTaxId,
    /// That, and the buyer a VAT identifier or a legal registration identifier (AE).
    SellerTaxIdBuyerId,
    /// The seller or its tax representative has a VAT identifier (G).
    SellerVat,
    /// That, and the buyer a VAT identifier (K).
    SellerAndBuyerVat,
    /// Nobody has a VAT identifier (O).
    NoVat,
}

impl Needs {
    fn met(self, doc: &Doc, cii: bool) -> bool {
        let (seller, rep, buyer) = (&doc.seller, &doc.tax_representative, &doc.buyer);
        let seller_vat = !seller.vat_ids.is_empty();
        let rep_vat = !rep.vat_ids.is_empty();
        let buyer_vat = !buyer.vat_ids.is_empty();
        let seller_tax_id = seller_vat
            || if cii {
                seller
                    .tax_registrations
                    .iter()
                    .any(|t| t.scheme.as_deref() == Some("FC"))
            } else {
                !seller.tax_registrations.is_empty()
            };
        match self {
            Needs::SellerTaxId => seller_tax_id || rep_vat,
            Needs::SellerTaxIdBuyerId => {
                (seller_tax_id || rep_vat) && (buyer_vat || !buyer.legal_ids.is_empty())
            }
            Needs::SellerVat => seller_vat || rep_vat,
            Needs::SellerAndBuyerVat => (seller_vat || rep_vat) && buyer_vat,
            Needs::NoVat => !(seller_vat || rep_vat || buyer_vat),
        }
    }

    fn wanted(self) -> &'static str {
        match self {
            Needs::SellerTaxId => {
                "the seller's VAT identifier (BT-31) or tax registration identifier (BT-32), or the tax representative's VAT identifier (BT-63)"
            }
            Needs::SellerTaxIdBuyerId => {
                "the seller's VAT identifier (BT-31) or tax registration identifier (BT-32) (or the tax representative's VAT identifier, BT-63), and the buyer's VAT identifier (BT-48) or legal registration identifier (BT-47)"
            }
            Needs::SellerVat => {
                "the seller's VAT identifier (BT-31) or the tax representative's VAT identifier (BT-63)"
            }
            Needs::SellerAndBuyerVat => {
                "the seller's VAT identifier (BT-31) (or the tax representative's, BT-63) and the buyer's VAT identifier (BT-48)"
            }
            Needs::NoVat => {
                "no VAT identifier of the seller (BT-31), the tax representative (BT-63) or the buyer (BT-48): remove them"
            }
        }
    }
}

/// A category's code and name, for messages.
fn name(code: &str) -> &'static str {
    match code {
        "S" => "standard rated",
        "Z" => "zero rated",
        "E" => "exempt from VAT",
        "AE" => "reverse charge",
        "K" => "intra-community supply",
        "G" => "export outside the EU",
        "O" => "not subject to VAT",
        "L" => "IGIC, Canary Islands",
        "M" => "IPSI, Ceuta and Melilla",
        _ => "",
    }
}

/// The places asked about, with words for each: the lines, allowances or charges with a
/// category for which `category` holds.
fn places(
    i: &Input<'_>,
    on: On,
    category: impl Fn(&TaxCategoryData) -> bool,
) -> Vec<(Loc, String)> {
    let doc = i.doc;
    let mut out = Vec::new();
    match on {
        On::Lines => {
            for (n, line) in doc.lines.iter().enumerate() {
                if line.taxes.iter().any(&category) {
                    out.push((i.line(n), format!("invoice line {}", n + 1)));
                }
            }
        }
        On::Groups(charge) | On::DocumentGroups(charge) => {
            let kind = if charge { "charge" } else { "allowance" };
            for (n, a) in doc.allowance_charges.iter().enumerate() {
                if a.charge_as_boolean() == Some(charge) && a.taxes.iter().any(&category) {
                    out.push((
                        i.allowance_charge(n),
                        format!("document level {kind} {}", n + 1),
                    ));
                }
            }
            if matches!(on, On::Groups(_)) {
                for (n, a) in doc.line_allowance_charges.iter().enumerate() {
                    if a.charge_as_boolean() == Some(charge) && a.taxes.iter().any(&category) {
                        out.push((
                            i.line_allowance_charge(n),
                            format!("a {kind} of invoice line {}", a.line + 1),
                        ));
                    }
                }
            }
        }
    }
    out
}

fn check(i: &Input<'_>, code: &'static str, on: On, needs: Needs, out: &mut Vec<Broken>) {
    let cii = i.cii;
    // UBL's BR-S-02 asks for a standard rated category in the VAT scheme *and* the ids, or no
    // standard rated category at all: one outside the VAT scheme alone breaks it.
    let s_outside_vat = || !cii && code == "S" && on == On::Lines && !in_vat_anywhere(i, on, code);
    if needs.met(i.doc, cii) && !s_outside_vat() {
        return;
    }
    let in_vat = |t: &TaxCategoryData| t.code_is(code, cii) && t.is_vat(cii);
    let detail = |what: &str| {
        format!(
            "{what} is in VAT category {code} ({}), which needs {}",
            name(code),
            needs.wanted()
        )
    };
    if cii {
        for (loc, what) in places(i, on, in_vat) {
            out.push(Broken::at(loc, detail(&what)));
        }
        return;
    }
    // UBL: one assert on the invoice. BR-S-02 is triggered by a line in S of any scheme.
    let trigger = if code == "S" && on == On::Lines {
        places(i, on, |t| t.code_is(code, false))
    } else {
        places(i, on, in_vat)
    };
    if let Some((_, what)) = trigger.first() {
        let what = if in_vat_anywhere(i, on, code) {
            detail(what)
        } else {
            format!(
                "{what} is in VAT category S outside the VAT scheme (its TaxScheme/ID is not VAT); give the VAT scheme and {}",
                needs.wanted()
            )
        };
        out.push(Broken::at(i.root().to_owned(), what));
    }
}

/// Some place `on` names has `code` in the VAT scheme (UBL).
fn in_vat_anywhere(i: &Input<'_>, on: On, code: &str) -> bool {
    let in_vat = |t: &TaxCategoryData| t.code_is(code, false) && t.is_vat(false);
    let doc = i.doc;
    match on {
        On::Lines => doc.lines.iter().any(|l| l.taxes.iter().any(in_vat)),
        On::Groups(charge) | On::DocumentGroups(charge) => {
            let document = doc
                .allowance_charges
                .iter()
                .any(|a| a.charge_as_boolean() == Some(charge) && a.taxes.iter().any(in_vat));
            let lines = matches!(on, On::Groups(_))
                && doc
                    .line_allowance_charges
                    .iter()
                    .any(|a| a.charge_as_boolean() == Some(charge) && a.taxes.iter().any(in_vat));
            document || lines
        }
    }
}

macro_rules! rule {
    ($id:literal, $code:literal, $on:expr, $needs:expr, [$($term:literal),*]) => {
        Rule {
            id: $id,
            terms: &[$($term),*],
            check: |i, out| check(i, $code, $on, $needs, out),
        }
    };
}

pub(super) const RULES: &[Rule] = &[
    rule!(
        "BR-S-02",
        "S",
        On::Lines,
        Needs::SellerTaxId,
        ["BG-25", "BT-151", "BT-31", "BT-32", "BT-63"]
    ),
    rule!(
        "BR-S-03",
        "S",
        On::Groups(false),
        Needs::SellerTaxId,
        ["BG-20", "BT-95", "BT-31", "BT-32", "BT-63"]
    ),
    rule!(
        "BR-S-04",
        "S",
        On::Groups(true),
        Needs::SellerTaxId,
        ["BG-21", "BT-102", "BT-31", "BT-32", "BT-63"]
    ),
    rule!(
        "BR-Z-02",
        "Z",
        On::Lines,
        Needs::SellerTaxId,
        ["BG-25", "BT-151", "BT-31", "BT-32", "BT-63"]
    ),
    rule!(
        "BR-Z-03",
        "Z",
        On::Groups(false),
        Needs::SellerTaxId,
        ["BG-20", "BT-95", "BT-31", "BT-32", "BT-63"]
    ),
    rule!(
        "BR-Z-04",
        "Z",
        On::Groups(true),
        Needs::SellerTaxId,
        ["BG-21", "BT-102", "BT-31", "BT-32", "BT-63"]
    ),
    rule!(
        "BR-E-02",
        "E",
        On::Lines,
        Needs::SellerTaxId,
        ["BG-25", "BT-151", "BT-31", "BT-32", "BT-63"]
    ),
    rule!(
        "BR-E-03",
        "E",
        On::Groups(false),
        Needs::SellerTaxId,
        ["BG-20", "BT-95", "BT-31", "BT-32", "BT-63"]
    ),
    rule!(
        "BR-E-04",
        "E",
        On::Groups(true),
        Needs::SellerTaxId,
        ["BG-21", "BT-102", "BT-31", "BT-32", "BT-63"]
    ),
    rule!(
        "BR-AE-02",
        "AE",
        On::Lines,
        Needs::SellerTaxIdBuyerId,
        [
            "BG-25", "BT-151", "BT-31", "BT-32", "BT-63", "BT-47", "BT-48"
        ]
    ),
    rule!(
        "BR-AE-03",
        "AE",
        On::Groups(false),
        Needs::SellerTaxIdBuyerId,
        [
            "BG-20", "BT-95", "BT-31", "BT-32", "BT-63", "BT-47", "BT-48"
        ]
    ),
    rule!(
        "BR-AE-04",
        "AE",
        On::Groups(true),
        Needs::SellerTaxIdBuyerId,
        [
            "BG-21", "BT-102", "BT-31", "BT-32", "BT-63", "BT-47", "BT-48"
        ]
    ),
    rule!(
        "BR-IC-02",
        "K",
        On::Lines,
        Needs::SellerAndBuyerVat,
        ["BG-25", "BT-151", "BT-31", "BT-63", "BT-48"]
    ),
    rule!(
        "BR-IC-03",
        "K",
        On::Groups(false),
        Needs::SellerAndBuyerVat,
        ["BG-20", "BT-95", "BT-31", "BT-63", "BT-48"]
    ),
    rule!(
        "BR-IC-04",
        "K",
        On::Groups(true),
        Needs::SellerAndBuyerVat,
        ["BG-21", "BT-102", "BT-31", "BT-63", "BT-48"]
    ),
    rule!(
        "BR-G-02",
        "G",
        On::Lines,
        Needs::SellerVat,
        ["BG-25", "BT-151", "BT-31", "BT-63"]
    ),
    rule!(
        "BR-G-03",
        "G",
        On::Groups(false),
        Needs::SellerVat,
        ["BG-20", "BT-95", "BT-31", "BT-63"]
    ),
    rule!(
        "BR-G-04",
        "G",
        On::Groups(true),
        Needs::SellerVat,
        ["BG-21", "BT-102", "BT-31", "BT-63"]
    ),
    rule!(
        "BR-O-02",
        "O",
        On::Lines,
        Needs::NoVat,
        ["BG-25", "BT-151", "BT-31", "BT-63", "BT-48"]
    ),
    Rule {
        id: "BR-O-03",
        terms: &["BG-20", "BT-95", "BT-31", "BT-63", "BT-48"],
        check: |i, out| {
            let on = if i.cii {
                On::Groups(false)
            } else {
                On::DocumentGroups(false)
            };
            check(i, "O", on, Needs::NoVat, out);
        },
    },
    Rule {
        id: "BR-O-04",
        terms: &["BG-21", "BT-102", "BT-31", "BT-63", "BT-48"],
        check: |i, out| {
            let on = if i.cii {
                On::Groups(true)
            } else {
                On::DocumentGroups(true)
            };
            check(i, "O", on, Needs::NoVat, out);
        },
    },
    rule!(
        "BR-AF-02",
        "L",
        On::Lines,
        Needs::SellerTaxId,
        ["BG-25", "BT-151", "BT-31", "BT-32", "BT-63"]
    ),
    rule!(
        "BR-AF-03",
        "L",
        On::Groups(false),
        Needs::SellerTaxId,
        ["BG-20", "BT-95", "BT-31", "BT-32", "BT-63"]
    ),
    rule!(
        "BR-AF-04",
        "L",
        On::Groups(true),
        Needs::SellerTaxId,
        ["BG-21", "BT-102", "BT-31", "BT-32", "BT-63"]
    ),
    rule!(
        "BR-AG-02",
        "M",
        On::Lines,
        Needs::SellerTaxId,
        ["BG-25", "BT-151", "BT-31", "BT-32", "BT-63"]
    ),
    rule!(
        "BR-AG-03",
        "M",
        On::Groups(false),
        Needs::SellerTaxId,
        ["BG-20", "BT-95", "BT-31", "BT-32", "BT-63"]
    ),
    rule!(
        "BR-AG-04",
        "M",
        On::Groups(true),
        Needs::SellerTaxId,
        ["BG-21", "BT-102", "BT-31", "BT-32", "BT-63"]
    ),
    Rule {
        id: "BR-CO-09",
        terms: &["BT-31", "BT-48", "BT-63"],
        check: |i, out| {
            for (party, what, path) in vat_id_holders(i) {
                for id in party.vat_ids.iter().filter(|v| !prefix_known(v, i.cii)) {
                    let shown: String = id.chars().take(40).collect();
                    out.push(Broken::at(
                        path.clone(),
                        format!(
                            "{what} {shown:?} does not start with a country code (ISO 3166-1 alpha-2; EL for Greece)"
                        ),
                    ));
                }
            }
        },
    },
];

/// BR-CO-09: a VAT identifier starts with a country prefix. UBL tests
/// `contains(' 1A AD … ', substring(CompanyID, 1, 2))` without padding, so an empty or
/// one-character identifier passes, and so do two characters that span a code and a space;
/// CII pads the prefix (`concat(' ', substring(., 1, 2), ' ')`), so it must be a code.
pub(super) fn prefix_known(id: &str, cii: bool) -> bool {
    let prefix: String = id.chars().take(2).collect();
    if cii {
        return super::codelists::VAT_PREFIXES_CII.contains(&prefix.as_str());
    }
    let codes = super::codelists::VAT_PREFIXES_UBL;
    let mut chars = prefix.chars();
    match (chars.next(), chars.next()) {
        (None, _) => true,
        (Some(c), None) => c == ' ' || codes.iter().any(|code| code.contains(c)),
        (Some(a), Some(b)) => {
            codes.contains(&prefix.as_str())
                || (a == ' ' && codes.iter().any(|code| code.starts_with(b)))
                || (b == ' ' && codes.iter().any(|code| code.ends_with(a)))
        }
    }
}

/// The parties whose VAT identifiers BR-CO-09 reads, with words and a location for each.
fn vat_id_holders<'a>(i: &'a Input<'_>) -> [(&'a PartyData, &'static str, String); 4] {
    let d = i.doc;
    let at = |ubl: &str, cii: &str| i.below(ubl, cii);
    [
        (
            &d.seller,
            "the seller's VAT identifier (BT-31)",
            at(
                "cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme",
                "ram:ApplicableHeaderTradeAgreement/ram:SellerTradeParty/ram:SpecifiedTaxRegistration",
            ),
        ),
        (
            &d.buyer,
            "the buyer's VAT identifier (BT-48)",
            at(
                "cac:AccountingCustomerParty/cac:Party/cac:PartyTaxScheme",
                "ram:ApplicableHeaderTradeAgreement/ram:BuyerTradeParty/ram:SpecifiedTaxRegistration",
            ),
        ),
        (
            &d.tax_representative,
            "the tax representative's VAT identifier (BT-63)",
            at(
                "cac:TaxRepresentativeParty/cac:PartyTaxScheme",
                "ram:ApplicableHeaderTradeAgreement/ram:SellerTaxRepresentativeTradeParty/ram:SpecifiedTaxRegistration",
            ),
        ),
        (
            &d.payee,
            "the payee's VAT identifier",
            at(
                "cac:PayeeParty/cac:PartyTaxScheme",
                "ram:ApplicableHeaderTradeSettlement/ram:PayeeTradeParty/ram:SpecifiedTaxRegistration",
            ),
        ),
    ]
}
