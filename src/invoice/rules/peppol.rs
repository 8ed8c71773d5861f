//! The Peppol layer's first slice: the business process's presence, the buyer reference, the
//! electronic addresses and no empty elements (PEPPOL-EN16931-R001/R003/R008/R010/R020,
//! PEPPOL-COMMON-R049), for Peppol BIS Billing 3.0 and Self-Billing 3.0 alike, and the Peppol
//! rules the XRechnung artefacts copy; each follows its XPath in the artefact that carries it.
//! The rest of Peppol is in `peppol_bis3`, `peppol_national` (which uses the Swedish
//! organisation number check here, SE-R-013), `peppol_danish`, `peppol_greek`, and
//! `peppol_cii` (the rules XRechnung's CII artefact copies).

use super::super::model::{Doc, Ident, PartyData, normalize_space};
use super::table::{Broken, Input, Rule};

/// OpenPeppol BIS Billing 3.0 and Self-Billing 3.0, UBL.
pub(super) const BIS3_UBL: &[Rule] = &[
    Rule {
        id: "PEPPOL-EN16931-R001",
        terms: &["BT-23"],
        check: business_process,
    },
    Rule {
        id: "PEPPOL-EN16931-R003",
        terms: &["BT-10", "BT-13"],
        check: |i, out| {
            let d = i.doc;
            if d.buyer_reference.is_none() && d.order_reference.is_none() {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "the invoice has neither a buyer reference (BT-10) nor an order reference (BT-13); Peppol needs one of them",
                ));
            }
        },
    },
    Rule {
        id: "PEPPOL-EN16931-R008",
        terms: &["BT-1"],
        check: |i, out| empty_elements(i, false, out),
    },
    Rule {
        id: "PEPPOL-EN16931-R010",
        terms: &["BT-49"],
        check: |i, out| endpoint(i, &i.doc.buyer, "buyer", "BT-49", out),
    },
    Rule {
        id: "PEPPOL-EN16931-R020",
        terms: &["BT-34"],
        check: |i, out| endpoint(i, &i.doc.seller, "seller", "BT-34", out),
    },
    Rule {
        id: "PEPPOL-COMMON-R049",
        terms: &["BT-29", "BT-30", "BT-34", "BT-46", "BT-47", "BT-49"],
        check: swedish_organisation_numbers,
    },
];

/// The Peppol rules XRechnung's UBL artefact carries.
pub(super) const XRECHNUNG_UBL: &[Rule] = &[
    Rule {
        id: "PEPPOL-EN16931-R001",
        terms: &["BT-23"],
        check: business_process,
    },
    Rule {
        id: "PEPPOL-EN16931-R008",
        terms: &["BT-1"],
        check: |i, out| empty_elements(i, false, out),
    },
    Rule {
        id: "PEPPOL-EN16931-R010",
        terms: &["BT-49"],
        check: |i, out| endpoint(i, &i.doc.buyer, "buyer", "BT-49", out),
    },
    Rule {
        id: "PEPPOL-EN16931-R020",
        terms: &["BT-34"],
        check: |i, out| endpoint(i, &i.doc.seller, "seller", "BT-34", out),
    },
];

/// R001: the business process (BT-23: UBL `cbc:ProfileID`, CII
/// `BusinessProcessSpecifiedDocumentContextParameter/ID`) is given. CII asks it of
/// `ExchangedDocumentContext`, which is there when the specification identifier is.
pub(super) fn business_process(i: &Input<'_>, out: &mut Vec<Broken>) {
    let d = i.doc;
    let context = !i.cii || d.customization_id.is_some();
    if context && d.profile_id.is_none() {
        out.push(Broken::at(
            i.root().to_owned(),
            "the invoice has no business process (BT-23, ProfileID); Peppol invoices give urn:fdc:peppol.eu:2017:poacc:billing:01:1.0",
        ));
    }
}

/// R008: no element without child elements and text (XRechnung's CII copy allows
/// `ram:ApplicableHeaderTradeDelivery`).
pub(super) fn empty_elements(i: &Input<'_>, but_delivery: bool, out: &mut Vec<Broken>) {
    let d = i.doc;
    let count = if but_delivery {
        d.empty_elements_but_delivery
    } else {
        d.empty_elements.count
    };
    if count == 0 {
        return;
    }
    let shown = d
        .empty_elements
        .first
        .iter()
        .find(|l| !(but_delivery && l.ends_with("/ram:ApplicableHeaderTradeDelivery")));
    let location = shown.cloned().unwrap_or_else(|| i.root().to_owned());
    out.push(Broken::at(
        location.clone(),
        format!(
            "the invoice has {count} empty element{} (no value and no child), the first at {location}; leave out elements that have no value",
            if count == 1 { "" } else { "s" }
        ),
    ));
}

/// R010/R020: the party has an electronic address (UBL `cbc:EndpointID`, CII
/// `URIUniversalCommunication/URIID`).
pub(super) fn endpoint(
    i: &Input<'_>,
    party: &PartyData,
    who: &str,
    term: &str,
    out: &mut Vec<Broken>,
) {
    if party.present && party.endpoint.is_none() {
        out.push(Broken::at(
            i.root().to_owned(),
            format!(
                "the {who} has no electronic address ({term}, EndpointID); Peppol routes on it"
            ),
        ));
    }
}

/// PEPPOL-COMMON-R049: every identifier with scheme 0007 (UBL `EndpointID`,
/// `PartyIdentification/ID` and `CompanyID`) is a Swedish organisation number: ten digits
/// with a valid check digit.
fn swedish_organisation_numbers(i: &Input<'_>, out: &mut Vec<Broken>) {
    let d: &Doc = i.doc;
    for (who, party) in [("seller", &d.seller), ("buyer", &d.buyer)] {
        let ids = party
            .endpoint
            .iter()
            .chain(&party.identifiers)
            .chain(&party.legal_ids)
            .chain(&party.tax_registrations);
        for id in ids.filter(|id: &&Ident| id.scheme.as_deref() == Some("0007")) {
            let value = normalize_space(&id.value);
            let ok =
                value.len() == 10 && value.bytes().all(|b| b.is_ascii_digit()) && se_orgnr(&value);
            if !ok {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!(
                        "the {who}'s Swedish organisation number (scheme 0007) {:?} is not ten digits with a valid check digit",
                        value.chars().take(40).collect::<String>()
                    ),
                ));
            }
        }
    }
}

/// SE-R-013: a seller in Sweden (any of its addresses with country `SE`) with a legal
/// registration identifier gives a valid Swedish organisation number there.
pub(super) fn swedish_seller_legal_id(i: &Input<'_>, out: &mut Vec<Broken>) {
    let seller = &i.doc.seller;
    let in_sweden = seller
        .addresses
        .iter()
        .any(|a| a.country.as_deref() == Some("SE"));
    let Some(id) = seller.legal_ids.first() else {
        return;
    };
    if in_sweden && seller.legal_entities > 0 && !se_orgnr(&normalize_space(&id.value)) {
        out.push(Broken::at(
            i.root().to_owned(),
            format!(
                "the seller's legal registration identifier {:?} is not a Swedish organisation number: its last digit is not the Luhn check digit of the first nine",
                id.value.chars().take(40).collect::<String>()
            ),
        ));
    }
}

/// The artefact's `u:checkSEOrgnr`: only digits, and the tenth digit is the Luhn check digit
/// of the first nine (the doubled digits counted from the right of the nine).
fn se_orgnr(number: &str) -> bool {
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let digits: Vec<u32> = number.bytes().map(|b| u32::from(b - b'0')).collect();
    let (main, check) = (&digits[..digits.len().min(9)], digits.get(9));
    let sum: u32 = main
        .iter()
        .rev()
        .enumerate()
        .map(|(pos, &d)| {
            if pos % 2 == 0 {
                (d * 2) % 10 + (d * 2) / 10
            } else {
                d
            }
        })
        .sum();
    let calculated = (10 - sum % 10) % 10;
    check == Some(&calculated)
}

#[cfg(test)]
mod tests {
    #[test]
    fn swedish_organisation_numbers_by_luhn() {
        // Valid numbers from the Peppol examples and the Swedish tax agency.
        assert!(super::se_orgnr("5560360793"));
        assert!(super::se_orgnr("2021005489"));
        assert!(!super::se_orgnr("5560360794"));
        assert!(!super::se_orgnr("556036079"));
        assert!(!super::se_orgnr("55603607a3"));
        assert!(!super::se_orgnr(""));
    }
}
