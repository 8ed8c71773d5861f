//! The elements NLCIUS advises against: most of its warnings BR-NL-19..35 (SI-UBL 2.0 for UBL,
//! NLCIUS-CII for CII) fire on an element's mere presence (`test="false"`, or `not(@name)`), so
//! the streaming pass notes where each stands, and `rules::nl` reports them when the supplier is
//! Dutch (`$s`, known only once the supplier's address has been read).
//!
//! The sites follow the templates of each artefact's mode (`si-ubl-2.0.xsl` M14,
//! `nlcius-cii-1.0.xsl` M10) in their priority order, and an element takes the first site that
//! matches it, as a node takes only its highest-priority template. So a UBL line's or price's
//! allowance reason code is BR-NL-32-1's (`cac:AllowanceCharge/cbc:AllowanceChargeReasonCode`
//! matches it first), and BR-NL-32-2 and 32-3 never fire, in the artefact or here. The
//! templates of higher priority in those modes (BR-NL-1..13) match none of these elements. Pure.

use super::xml::{Attrs, Family, Tag};
use Tag as T;

/// Most places noted per document: a warning names a few, and a hostile document with
/// thousands of address lines is kept to a bounded model.
pub(crate) const MAX_NOTED: usize = 64;

/// One element that a rule advises against, where it was met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Discouraged {
    /// The official rule id, e.g. `BR-NL-19`.
    pub(crate) rule: &'static str,
    /// The artefact's context, e.g. `cbc:TaxCurrencyCode`.
    pub(crate) context: &'static str,
    /// Where the element's start tag ends, in bytes.
    pub(crate) offset: usize,
}

/// One template: a path suffix, and the attribute the element must carry to break it.
struct Site {
    rule: &'static str,
    context: &'static str,
    pattern: &'static [Tag],
    attr: Option<&'static str>,
}

const fn site(rule: &'static str, context: &'static str, pattern: &'static [Tag]) -> Site {
    Site {
        rule,
        context,
        pattern,
        attr: None,
    }
}

/// SI-UBL 2.0's, in the artefact's priority order.
static UBL: &[Site] = &[
    site("BR-NL-19", "cbc:TaxCurrencyCode", &[T::TaxCurrencyCode]),
    site("BR-NL-20", "cbc:TaxPointDate", &[T::TaxPointDate]),
    site(
        "BR-NL-21",
        "cac:InvoicePeriod/cbc:DescriptionCode",
        &[T::InvoicePeriod, T::DescriptionCode],
    ),
    site(
        "BR-NL-24",
        "cac:BillingReference/cac:InvoiceDocumentReference/cbc:IssueDate",
        &[
            T::BillingReference,
            T::InvoiceDocumentReference,
            T::IssueDate,
        ],
    ),
    site(
        "BR-NL-26",
        "cac:AccountingSupplierParty/cac:Party/cac:PartyLegalEntity/cbc:CompanyLegalForm",
        &[
            T::AccountingSupplierParty,
            T::Party,
            T::PartyLegalEntity,
            T::CompanyLegalForm,
        ],
    ),
    site(
        "BR-NL-27-1",
        "cac:AccountingSupplierParty/cac:Party/cac:PostalAddress/cac:AddressLine/cbc:Line",
        &[
            T::AccountingSupplierParty,
            T::Party,
            T::PostalAddress,
            T::AddressLine,
            T::Line,
        ],
    ),
    site(
        "BR-NL-27-2",
        "cac:AccountingCustomerParty/cac:Party/cac:PostalAddress/cac:AddressLine/cbc:Line",
        &[
            T::AccountingCustomerParty,
            T::Party,
            T::PostalAddress,
            T::AddressLine,
            T::Line,
        ],
    ),
    site(
        "BR-NL-27-3",
        "cac:TaxRepresentativeParty/cac:PostalAddress/cac:AddressLine/cbc:Line",
        &[
            T::TaxRepresentativeParty,
            T::PostalAddress,
            T::AddressLine,
            T::Line,
        ],
    ),
    site(
        "BR-NL-27-4",
        "cac:Delivery/cac:DeliveryLocation/cac:Address/cac:AddressLine/cbc:Line",
        &[
            T::Delivery,
            T::DeliveryLocation,
            T::Address,
            T::AddressLine,
            T::Line,
        ],
    ),
    site(
        "BR-NL-28-1",
        "cac:AccountingSupplierParty/cac:Party/cac:PostalAddress/cbc:CountrySubentity",
        &[
            T::AccountingSupplierParty,
            T::Party,
            T::PostalAddress,
            T::CountrySubentity,
        ],
    ),
    site(
        "BR-NL-28-2",
        "cac:AccountingCustomerParty/cac:Party/cac:PostalAddress/cbc:CountrySubentity",
        &[
            T::AccountingCustomerParty,
            T::Party,
            T::PostalAddress,
            T::CountrySubentity,
        ],
    ),
    site(
        "BR-NL-28-3",
        "cac:TaxRepresentativeParty/cac:PostalAddress/cbc:CountrySubentity",
        &[
            T::TaxRepresentativeParty,
            T::PostalAddress,
            T::CountrySubentity,
        ],
    ),
    site(
        "BR-NL-28-4",
        "cac:Delivery/cac:DeliveryLocation/cac:Address/cbc:CountrySubentity",
        &[
            T::Delivery,
            T::DeliveryLocation,
            T::Address,
            T::CountrySubentity,
        ],
    ),
    Site {
        attr: Some("name"),
        ..site(
            "BR-NL-29",
            "cac:PaymentMeans/cbc:PaymentMeansCode",
            &[T::PaymentMeans, T::PaymentMeansCode],
        )
    },
    site(
        "BR-NL-30",
        "cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:Name",
        &[T::PaymentMeans, T::PayeeFinancialAccount, T::Name],
    ),
    site(
        "BR-NL-32-1",
        "cac:AllowanceCharge/cbc:AllowanceChargeReasonCode",
        &[T::AllowanceCharge, T::AllowanceChargeReasonCode],
    ),
    site(
        "BR-NL-35",
        "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:TaxExemptionReasonCode",
        &[
            T::TaxTotal,
            T::TaxSubtotal,
            T::TaxCategory,
            T::TaxExemptionReasonCode,
        ],
    ),
];

/// NLCIUS-CII's, in the artefact's priority order.
static CII: &[Site] = &[
    site("BR-NL-19", "ram:TaxCurrencyCode", &[T::TaxCurrencyCode]),
    site(
        "BR-NL-20",
        "ram:TaxPointDate/udt:DateString",
        &[T::TaxPointDate, T::DateString],
    ),
    site("BR-NL-21", "ram:DueDateTypeCode", &[T::DueDateTypeCode]),
    site("BR-NL-22", "ram:SubjectCode", &[T::SubjectCode]),
    site(
        "BR-NL-23",
        "ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID",
        &[T::BusinessProcessSpecifiedDocumentContextParameter, T::ID],
    ),
    site(
        "BR-NL-24",
        "ram:InvoiceReferencedDocument/ram:FormattedIssueDateTime/qdt:DateTimeString",
        &[
            T::InvoiceReferencedDocument,
            T::FormattedIssueDateTime,
            T::DateTimeString,
        ],
    ),
    site(
        "BR-NL-26",
        "ram:SellerTradeParty/ram:Description",
        &[T::SellerTradeParty, T::Description],
    ),
    site(
        "BR-NL-27-1",
        "ram:SellerTradeParty/ram:PostalTradeAddress/ram:LineThree",
        &[T::SellerTradeParty, T::PostalTradeAddress, T::LineThree],
    ),
    site(
        "BR-NL-27-2",
        "ram:BuyerTradeParty/ram:PostalTradeAddress/ram:LineThree",
        &[T::BuyerTradeParty, T::PostalTradeAddress, T::LineThree],
    ),
    site(
        "BR-NL-27-3",
        "ram:SellerTaxRepresentativeTradeParty/ram:PostalTradeAddress/ram:LineThree",
        &[
            T::SellerTaxRepresentativeTradeParty,
            T::PostalTradeAddress,
            T::LineThree,
        ],
    ),
    site(
        "BR-NL-27-4",
        "ram:ShipToTradeParty/ram:PostalTradeAddress/ram:LineThree",
        &[T::ShipToTradeParty, T::PostalTradeAddress, T::LineThree],
    ),
    site(
        "BR-NL-28-1",
        "ram:SellerTradeParty/ram:PostalTradeAddress/ram:CountrySubDivisionName",
        &[
            T::SellerTradeParty,
            T::PostalTradeAddress,
            T::CountrySubDivisionName,
        ],
    ),
    site(
        "BR-NL-28-2",
        "ram:BuyerTradeParty/ram:PostalTradeAddress/ram:CountrySubDivisionName",
        &[
            T::BuyerTradeParty,
            T::PostalTradeAddress,
            T::CountrySubDivisionName,
        ],
    ),
    site(
        "BR-NL-28-3",
        "ram:SellerTaxRepresentativeTradeParty/ram:PostalTradeAddress/ram:CountrySubDivisionName",
        &[
            T::SellerTaxRepresentativeTradeParty,
            T::PostalTradeAddress,
            T::CountrySubDivisionName,
        ],
    ),
    site(
        "BR-NL-28-4",
        "ram:ShipToTradeParty/ram:PostalTradeAddress/ram:CountrySubDivisionName",
        &[
            T::ShipToTradeParty,
            T::PostalTradeAddress,
            T::CountrySubDivisionName,
        ],
    ),
    site(
        "BR-NL-29",
        "ram:SpecifiedTradeSettlementPaymentMeans/ram:Information",
        &[T::SpecifiedTradeSettlementPaymentMeans, T::Information],
    ),
    site(
        "BR-NL-30",
        "ram:PayeePartyCreditorFinancialAccount/ram:AccountName",
        &[T::PayeePartyCreditorFinancialAccount, T::AccountName],
    ),
    site(
        "BR-NL-32-and-34",
        "ram:SpecifiedTradeAllowanceCharge/ram:ReasonCode",
        &[T::SpecifiedTradeAllowanceCharge, T::ReasonCode],
    ),
    site(
        "BR-NL-35",
        "ram:ApplicableTradeTax/ram:ExemptionReasonCode",
        &[T::ApplicableTradeTax, T::ExemptionReasonCode],
    ),
];

/// Whether `tag` may end a site: most elements do not, and are dismissed with one match.
fn may_end_a_site(tag: Tag) -> bool {
    matches!(
        tag,
        T::TaxCurrencyCode
            | T::TaxPointDate
            | T::DescriptionCode
            | T::IssueDate
            | T::CompanyLegalForm
            | T::Line
            | T::CountrySubentity
            | T::PaymentMeansCode
            | T::Name
            | T::AllowanceChargeReasonCode
            | T::TaxExemptionReasonCode
            | T::DateString
            | T::DueDateTypeCode
            | T::SubjectCode
            | T::ID
            | T::DateTimeString
            | T::Description
            | T::LineThree
            | T::CountrySubDivisionName
            | T::Information
            | T::AccountName
            | T::ReasonCode
            | T::ExemptionReasonCode
    )
}

/// The element at `path` (below the root, ending with it) of a `family` document starts: what
/// it breaks, if anything.
pub(crate) fn check(family: Family, path: &[Tag], attrs: &Attrs<'_, '_>) -> Option<Discouraged> {
    let &tag = path.last()?;
    if !may_end_a_site(tag) {
        return None;
    }
    let sites = match family {
        Family::Ubl => UBL,
        Family::Cii => CII,
        Family::Zugferd1 => return None,
    };
    // The first site whose pattern matches takes the element, whether or not it then breaks
    // its rule (BR-NL-29 holds for a code without `@name`).
    let site = sites.iter().find(|s| path.ends_with(s.pattern))?;
    if site.attr.is_some_and(|a| !attrs.has(a.as_bytes())) {
        return None;
    }
    Some(Discouraged {
        rule: site.rule,
        context: site.context,
        offset: attrs.offset(),
    })
}

/// Which templates of NLCIUS's mode may take an empty element before its empty-element warning
/// (SI-UBL-2, NLCIUS-CII's empty-element-check, the lowest priority of the mode) can.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Taken {
    /// None: the warning takes it.
    Never,
    /// One of the `[$s]` templates: taken when the supplier is Dutch.
    IfDutch,
    /// One of the `[$si]` templates (the type code, an order line reference), always taken.
    Always,
}

/// The contexts of BR-NL-1..13, 25, 31 and 33 (`[$s]`) that can be an element without
/// children: the sites above are the others.
const UBL_DUTCH: &[&[Tag]] = &[
    &[T::AccountingSupplierParty, T::Party],
    &[T::AccountingSupplierParty, T::Party, T::PostalAddress],
    &[T::AccountingCustomerParty, T::Party, T::PostalAddress],
    &[T::TaxRepresentativeParty, T::PostalAddress],
    &[T::InvoiceTypeCode],
    &[T::CreditNoteTypeCode],
    &[T::AccountingCustomerParty, T::Party, T::PartyLegalEntity],
    &[T::PaymentMeans],
    &[T::AccountingSupplierParty, T::Party, T::PartyTaxScheme],
    &[T::TaxTotal, T::TaxAmount],
];

const CII_DUTCH: &[&[Tag]] = &[
    &[T::SellerTradeParty, T::SpecifiedLegalOrganization],
    &[T::ApplicableHeaderTradeAgreement],
    &[T::SellerTradeParty, T::PostalTradeAddress],
    &[T::BuyerTradeParty, T::PostalTradeAddress],
    &[T::SellerTaxRepresentativeTradeParty, T::PostalTradeAddress],
    &[T::BuyerTradeParty],
    &[T::SpecifiedTradeSettlementHeaderMonetarySummation],
    &[T::SpecifiedTradeSettlementPaymentMeans],
    &[T::SellerTradeParty, T::SpecifiedTaxRegistration],
    &[
        T::SpecifiedTradeSettlementHeaderMonetarySummation,
        T::TaxTotalAmount,
    ],
];

/// Which NLCIUS templates may take the empty element at `path` (below the root) of a `family`
/// document whose root is `Invoice` (UBL) or not.
pub(crate) fn taken_when_empty(family: Family, invoice_root: bool, path: &[Tag]) -> Taken {
    let (sites, dutch) = match family {
        Family::Ubl => {
            if path.ends_with(&[T::OrderLineReference, T::LineID]) {
                return Taken::Always;
            }
            // `/ubl:Invoice/cac:LegalMonetaryTotal[$s]` (BR-NL-11) is anchored.
            if invoice_root && path == [T::LegalMonetaryTotal] {
                return Taken::IfDutch;
            }
            (UBL, UBL_DUTCH)
        }
        Family::Cii => {
            if path == [T::ExchangedDocument, T::TypeCode]
                || path.ends_with(&[T::BuyerOrderReferencedDocument, T::LineID])
            {
                return Taken::Always;
            }
            (CII, CII_DUTCH)
        }
        Family::Zugferd1 => return Taken::Never,
    };
    // A site's template matches whatever its test then says (BR-NL-29's `@name`).
    if sites.iter().any(|s| path.ends_with(s.pattern)) || dutch.iter().any(|p| path.ends_with(p)) {
        Taken::IfDutch
    } else {
        Taken::Never
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_site_ends_with_a_tag_the_quick_test_admits() {
        for site in super::UBL.iter().chain(super::CII) {
            let last = site.pattern.last().copied().unwrap_or(super::Tag::Other);
            assert!(super::may_end_a_site(last), "{}", site.rule);
        }
    }
}
