//! UBL 2.x Invoice and CreditNote field extraction, as a [`Handler`] of the streaming pass.
//!
//! Paths are matched on namespace-resolved local names (`cbc`/`cac`), so prefixes do not matter;
//! elements in other namespaces (extensions, signatures) never match. Fills the [`Doc`] model
//! with the EN 16931 business terms the rules and the public fields need. Pure.

use super::attachment;
use super::model::{
    AddressData, AllowanceChargeData, AttachmentData, ClassificationData, Doc, Ident,
    LineAllowanceChargeData, LineData, MAX_OTHER_CATEGORIES, MAX_PAID_AMOUNTS, MAX_SUB_LINES,
    MAX_TAX_SCHEMES, Num, PartyData, PaymentMeansData, PaymentTermsData, PeriodData,
    PrepaidPaymentData, ReasonTexts, SubLineData, TaxCategoryData, TaxTotalData, TotalsData,
    VatBreakdownData, parse_bool, push_tax, set_first,
};
use super::xml::{Attrs, Capture, Handler, Tag as T};

/// Which party a field belongs to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Role {
    Seller,
    Buyer,
    /// The seller's tax representative (BG-11).
    TaxRepresentative,
    /// The payee (BG-10).
    Payee,
}

/// A field of a postal address.
#[derive(Debug, Clone, Copy)]
pub(crate) enum AddressField {
    Street,
    City,
    PostalZone,
    Country,
}

/// A field of a party.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PartyField {
    Endpoint,
    Identifier,
    TradingName,
    Address(AddressField),
    TaxSchemeEnd,
    TaxSchemeCompanyId,
    TaxSchemeId,
    RegistrationName,
    LegalId,
    /// The contact's name, telephone or e-mail (0, 1, 2): whether it is not blank.
    Contact(u8),
}

/// A field of a VAT category (a line's, an allowance/charge's or a breakdown's).
#[derive(Debug, Clone, Copy)]
pub(crate) enum TaxField {
    /// UBL `TaxScheme/ID`, CII `TypeCode`.
    Scheme,
    /// UBL `ID`, CII `CategoryCode`.
    Code,
    /// UBL `Percent`, CII `RateApplicablePercent`.
    Percent,
    /// UBL `TaxExemptionReasonCode` (kept for `TaxCategory`s only).
    ExemptionCode,
}

/// Stores one field of a VAT category (the first occurrence wins).
pub(crate) fn set_tax(category: &mut TaxCategoryData, field: TaxField, text: &str) {
    match field {
        TaxField::Scheme => set_first(&mut category.scheme, text),
        TaxField::Code => set_first(&mut category.code, text),
        TaxField::ExemptionCode => set_first(&mut category.exemption_code, text),
        TaxField::Percent => {
            if !category.percent.present() {
                category.percent = Num::parse(text);
            }
        }
    }
}

/// A field of an invoice line that is read as text.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LineField {
    /// BT-126.
    Id,
    /// BT-153.
    ItemName,
    /// BT-146.
    Price,
    /// BT-151 / BT-152 of the line's last kept category.
    Tax(TaxField),
    /// BT-129 as a number (CII `BilledQuantity`; UBL reads its own by root).
    Quantity,
}

/// Stores a field of the last invoice line; `price_element` names the price element in
/// messages (UBL `PriceAmount`, CII `ChargeAmount`).
pub(crate) fn set_line_field(doc: &mut Doc, field: LineField, text: &str, price_element: &str) {
    let index = doc.lines.len();
    match field {
        LineField::Price => {
            if doc.lines.last().is_some_and(|l| !l.price.present()) {
                let n = doc.amount(text, |_| {
                    format!("the item net price (BT-146, {price_element}) of invoice line {index}")
                });
                if let Some(line) = doc.lines.last_mut() {
                    line.price = n;
                }
            }
        }
        _ => {
            let Some(line) = doc.lines.last_mut() else {
                return;
            };
            match field {
                LineField::Id => line.id |= not_blank(text),
                LineField::ItemName => line.item_name |= not_blank(text),
                LineField::Quantity => {
                    if !line.quantity_value.present() {
                        line.quantity_value = Num::parse(text);
                    }
                }
                LineField::Tax(f) => {
                    if let Some(category) = line.taxes.last_mut() {
                        set_tax(category, f, text);
                    }
                }
                LineField::Price => {}
            }
        }
    }
}

/// XPath `normalize-space(x) != ''`, without allocating.
fn not_blank(text: &str) -> bool {
    text.split([' ', '\t', '\n', '\r']).any(|w| !w.is_empty())
}

/// Opens a VAT category of the last line; returns whether its fields are kept.
pub(crate) fn open_line_tax(doc: &mut Doc) -> bool {
    match doc.lines.last_mut() {
        Some(line) => {
            line.tax_count += 1;
            push_tax(&mut line.taxes)
        }
        None => false,
    }
}

/// A document totals amount.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TotalField {
    LineExtension,
    TaxExclusive,
    TaxInclusive,
    AllowanceTotal,
    ChargeTotal,
    Prepaid,
    Rounding,
    Payable,
}

impl TotalField {
    /// The business term, for messages.
    pub(crate) fn label(self) -> &'static str {
        match self {
            TotalField::LineExtension => "the sum of invoice line net amounts (BT-106)",
            TotalField::TaxExclusive => "the invoice total amount without VAT (BT-109)",
            TotalField::TaxInclusive => "the invoice total amount with VAT (BT-112)",
            TotalField::AllowanceTotal => "the sum of allowances on document level (BT-107)",
            TotalField::ChargeTotal => "the sum of charges on document level (BT-108)",
            TotalField::Prepaid => "the paid amount (BT-113)",
            TotalField::Rounding => "the rounding amount (BT-114)",
            TotalField::Payable => "the amount due for payment (BT-115)",
        }
    }
}

/// Stores a totals amount (the first one; a second is a cardinality finding).
pub(crate) fn set_total(doc: &mut Doc, field: TotalField, text: &str) {
    let present = doc.totals.as_mut().is_some_and(|t| t.slot(field).present());
    if doc.totals.is_none() || present {
        return;
    }
    let n = doc.amount(text, |_| field.label().to_string());
    if let Some(totals) = doc.totals.as_mut() {
        *totals.slot(field) = n;
    }
}

/// Stores the net amount of the last invoice line (the first one given for it).
pub(crate) fn set_line_amount(doc: &mut Doc, text: &str) {
    if doc.lines.last().is_none_or(|l| l.net.present()) {
        return;
    }
    let n = doc.amount(text, |d| {
        format!(
            "the invoice line net amount (BT-131) of line {}",
            d.lines.len()
        )
    });
    if let Some(line) = doc.lines.last_mut() {
        line.net = n;
    }
}

/// What an element recognised by [`Ubl::start`] fills in at its end.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Field {
    /// The payment terms' text (BT-20), for XRechnung's Skonto syntax (BR-DE-18).
    PaymentTermsText,
    UblVersion,
    CustomizationId,
    ProfileId,
    Number,
    IssueDate,
    DueDate,
    TypeCode,
    Currency,
    TaxCurrency,
    BuyerReference,
    OrderReference,
    AttachmentId,
    AttachmentObject,
    AttachmentUri,
    Party(Role, PartyField),
    PaymentMeansCode,
    PaymentAccount,
    PaymentDueDate,
    /// `PayeeFinancialAccount/FinancialInstitutionBranch/ID`, `PaymentMandate/ID` and
    /// `PaymentMandate/PayerFinancialAccount/ID` of the payment means being read.
    PaymentBranch,
    MandateId,
    PayerAccount,
    /// An `AllowanceCharge`'s reason code (`true`) or reason, at any level.
    AllowanceReason(bool),
    /// An item attribute's `Name` (`true`) or `Value`.
    PropertyPart(bool),
    /// An item classification's code.
    Classification,
    /// BT-12 and BT-17 (`ContractDocumentReference/ID`, `OriginatorDocumentReference/ID`).
    ContractReference,
    OriginatorReference,
    /// The end of a sub-line's `cac:Item` (BR-DEX-03).
    SubLineItemEnd,
    /// A sub-line's `cbc:LineExtensionAmount`, at its nesting depth (BR-DEX-02).
    SubLineNet(usize),
    /// A third-party payment's `cbc:ID`, `cbc:InstructionID`, `cbc:PaidAmount`.
    PrepaidPaymentId,
    PrepaidPaymentInstruction,
    PrepaidPaidAmount,
    AllowanceChargeEnd,
    ChargeIndicator,
    AllowanceChargeAmount,
    TaxTotalAmount,
    TaxSubtotalAmount,
    Total(TotalField),
    LineAmount,
    Line(LineField),
    AllowanceChargeTax(TaxField),
    BreakdownTaxable,
    BreakdownTax(TaxField),
    LineAllowanceTax(TaxField),
    /// The end of a line allowance/charge `TaxCategory`; `true` when the group is the line's
    /// own (not its price's).
    LineAllowanceTaxEnd(bool),
    LineAllowanceIndicator,
    /// A date of an invoicing period: the line's (`line`) or the document's, its end (`end`)
    /// or start.
    PeriodDate {
        line: bool,
        end: bool,
    },
    ActualDeliveryDate,
    DeliveryAddress(AddressField),
    CardNumber,
    GrossPrice,
    AttachmentTypeCode,
    /// An additional document's `DocumentDescription` (Iceland's `EINDAGI` marker).
    AttachmentDescription,
    PaymentId,
    LineReferenceType,
    BaseQuantity,
    PaymentTermsMeansId,
    PaymentTermsAmount,
    PaymentMeansId,
    /// BT-129 of a line; `true` for `CreditedQuantity`.
    Quantity(bool),
    /// The price allowance's amount (`true`) or indicator.
    PriceAllowance(bool),
    /// A number of the document level allowance/charge being read.
    GroupValue(GroupValue),
    /// A number of the last line allowance/charge.
    LineGroupValue(GroupValue),
    /// The end of an item attribute (`AdditionalItemProperty`).
    PropertyEnd,
}

/// A number of an allowance or charge (UBL).
#[derive(Debug, Clone, Copy)]
pub(crate) enum GroupValue {
    Amount,
    Base,
    Multiplier,
}

/// A `PartyTaxScheme` being read: its `CompanyID` comes before `TaxScheme/ID`.
#[derive(Debug, Default)]
struct PendingTaxScheme {
    company_id: Option<String>,
    scheme: Option<String>,
    tax_scheme: Option<String>,
}

/// A document level `AllowanceCharge` being read.
#[derive(Debug, Default)]
struct PendingAllowanceCharge {
    indicator: Option<String>,
    amount: Option<String>,
    /// Reasons and VAT categories; the indicator and amount are filled in at its end.
    detail: AllowanceChargeData,
    /// The last `TaxCategory` opened is kept (see [`push_tax`]).
    tax_kept: bool,
}

/// The UBL extractor.
#[derive(Debug, Default)]
pub(crate) struct Ubl {
    pub(crate) doc: Doc,
    /// `schemeID` (or `currencyID`) of the leaf element being read.
    attr: Option<String>,
    mime_code: Option<String>,
    filename: Option<String>,
    tax_scheme: PendingTaxScheme,
    allowance_charge: PendingAllowanceCharge,
    /// The last line `ClassifiedTaxCategory` opened is kept (see [`push_tax`]).
    line_tax_kept: bool,
    /// A `TaxCategory` of an allowance/charge below a line, being read.
    line_allowance_tax: TaxCategoryData,
    /// The item attribute being read.
    property: PendingProperty,
    /// The `ClassifiedTaxCategory`s of the sub-line item being read (BR-DEX-03).
    sub_item_categories: u32,
}

impl Ubl {
    /// A fresh extractor; `credit_note` when the root is `CreditNote`.
    pub(crate) fn new(credit_note: bool) -> Ubl {
        let mut ubl = Ubl::default();
        ubl.doc.credit_note_root = credit_note;
        ubl
    }

    fn root_name(&self) -> &'static str {
        if self.doc.credit_note_root {
            "CreditNote"
        } else {
            "Invoice"
        }
    }

    fn party(&mut self, role: Role, rest: &[T], attrs: &Attrs<'_, '_>) -> Option<(Field, Capture)> {
        use PartyField as P;
        let party = self.doc.party_mut(role);
        let field = match rest {
            [] => {
                party.present = true;
                return None;
            }
            [T::EndpointID] => {
                party.endpoint_element = true;
                self.attr = attrs.get(b"schemeID");
                P::Endpoint
            }
            [T::PartyIdentification, T::ID] => {
                self.attr = attrs.get(b"schemeID");
                P::Identifier
            }
            [T::PartyName, T::Name] => {
                party.names += 1;
                P::TradingName
            }
            [T::PostalAddress] => {
                party.addresses.push(AddressData::default());
                return None;
            }
            [T::PostalAddress, rest @ ..] => P::Address(address_field(rest)?),
            [T::PartyTaxScheme] => {
                self.tax_scheme = PendingTaxScheme::default();
                return Some((Field::Party(role, P::TaxSchemeEnd), Capture::Nothing));
            }
            [T::PartyTaxScheme, T::CompanyID] => {
                self.tax_scheme.scheme = attrs.get(b"schemeID");
                P::TaxSchemeCompanyId
            }
            [T::PartyTaxScheme, T::TaxScheme, T::ID] => P::TaxSchemeId,
            [T::PartyLegalEntity] => {
                party.legal_entities += 1;
                return None;
            }
            [T::PartyLegalEntity, T::RegistrationName] => P::RegistrationName,
            [T::PartyLegalEntity, T::CompanyID] => {
                self.attr = attrs.get(b"schemeID");
                P::LegalId
            }
            [
                T::Contact,
                part @ (T::Name | T::Telephone | T::ElectronicMail),
            ] => P::Contact(match part {
                T::Name => 0,
                T::Telephone => 1,
                _ => 2,
            }),
            [T::Contact] => {
                party.contact = true;
                return None;
            }
            _ => return None,
        };
        Some((Field::Party(role, field), Capture::Text))
    }

    fn end_party(&mut self, role: Role, field: PartyField, text: &str) {
        let attr = self.attr.take();
        let party: &mut PartyData = self.doc.party_mut(role);
        match field {
            PartyField::Endpoint => {
                if party.endpoint.is_none() {
                    party.endpoint = Some(Ident {
                        value: text.to_owned(),
                        scheme: attr,
                    });
                }
            }
            PartyField::Identifier => {
                party.local_ids.push(text.to_owned());
                party.identifiers.push(Ident {
                    value: text.to_owned(),
                    scheme: attr,
                });
            }
            PartyField::TradingName => set_first(&mut party.trading_name, text),
            PartyField::Address(f) => {
                if let Some(address) = party.addresses.last_mut() {
                    set_address(address, f, text);
                }
            }
            PartyField::TaxSchemeCompanyId => set_first(&mut self.tax_scheme.company_id, text),
            PartyField::TaxSchemeId => set_first(&mut self.tax_scheme.tax_scheme, text),
            PartyField::TaxSchemeEnd => {
                let pending = std::mem::take(&mut self.tax_scheme);
                self.doc.party_tax_scheme_incomplete |=
                    pending.company_id.is_none() || pending.tax_scheme.is_none();
                let party: &mut PartyData = self.doc.party_mut(role);
                if party.tax_schemes.len() < MAX_TAX_SCHEMES {
                    party
                        .tax_schemes
                        .push((pending.tax_scheme.clone(), pending.company_id.clone()));
                    party.tax_scheme_id_schemes.push(pending.scheme.clone());
                }
                if let (Some(scheme), Some(_)) = (&pending.tax_scheme, &pending.company_id) {
                    if scheme.to_uppercase() == "VAT" {
                        party.vat_tax_ids += 1;
                    } else {
                        party.non_vat_tax_ids += 1;
                    }
                }
                if let Some(company_id) = pending.company_id {
                    let is_vat = pending
                        .tax_scheme
                        .as_deref()
                        .is_some_and(|s| s.trim().eq_ignore_ascii_case("VAT"));
                    if is_vat {
                        party.vat_ids.push(company_id);
                    } else {
                        party.tax_registrations.push(Ident {
                            value: company_id,
                            scheme: pending.scheme,
                        });
                    }
                }
            }
            PartyField::RegistrationName => set_first(&mut party.registration_name, text),
            PartyField::Contact(part) => set_contact(party, part, text),
            PartyField::LegalId => {
                party.legal_ids.push(Ident {
                    value: text.to_owned(),
                    scheme: attr,
                });
            }
        }
    }
}

/// Notes a contact's name (0), telephone (1) or e-mail (2) when it is not blank, and the
/// first telephone and e-mail as written.
pub(crate) fn set_contact(party: &mut PartyData, part: u8, text: &str) {
    let given = !text.trim_matches([' ', '\t', '\n', '\r']).is_empty();
    let (slot, first) = match part {
        0 => (&mut party.contact_name, None),
        1 => (
            &mut party.contact_phone,
            Some(&mut party.contact_phone_text),
        ),
        _ => (
            &mut party.contact_email,
            Some(&mut party.contact_email_text),
        ),
    };
    *slot |= given;
    if let Some(first) = first {
        set_first(first, text);
    }
}

/// `[ID]`, `[Percent]`, `[TaxScheme, ID]` below a UBL `TaxCategory`/`ClassifiedTaxCategory`.
fn tax_field(rest: &[T]) -> Option<TaxField> {
    Some(match rest {
        [T::ID] => TaxField::Code,
        [T::Percent] => TaxField::Percent,
        [T::TaxScheme, T::ID] => TaxField::Scheme,
        _ => return None,
    })
}

/// `[StreetName]`, `[CityName]`, `[PostalZone]`, `[Country, IdentificationCode]`.
fn address_field(rest: &[T]) -> Option<AddressField> {
    Some(match rest {
        [T::StreetName] => AddressField::Street,
        [T::CityName] => AddressField::City,
        [T::PostalZone] => AddressField::PostalZone,
        [T::Country, T::IdentificationCode] => AddressField::Country,
        _ => return None,
    })
}

/// Stores one address field (first occurrence wins).
pub(crate) fn set_address(address: &mut AddressData, field: AddressField, text: &str) {
    let slot = match field {
        AddressField::Street => &mut address.street,
        AddressField::City => &mut address.city,
        AddressField::PostalZone => &mut address.postal_zone,
        AddressField::Country => &mut address.country,
    };
    set_first(slot, text);
}

/// The XML Schema rule a second occurrence breaks: the content model has no place for it.
pub(crate) const XSD_ONCE: &str = "cvc-complex-type.2.4.a";

/// Singular elements of a UBL 2.1 `PartyType` that the model reads (`rest` below `Party`).
fn party_singular(rest: &[T]) -> bool {
    matches!(
        rest,
        [] | [T::EndpointID | T::PostalAddress | T::Contact]
            | [T::PartyIdentification, T::ID]
            | [T::PartyName, T::Name]
            | [
                T::PostalAddress,
                T::StreetName | T::CityName | T::PostalZone | T::Country
            ]
            | [T::PostalAddress, T::Country, T::IdentificationCode]
            | [T::PartyTaxScheme, T::CompanyID | T::TaxScheme]
            | [T::PartyTaxScheme, T::TaxScheme, T::ID]
            | [T::PartyLegalEntity, T::RegistrationName | T::CompanyID]
    )
}

impl Handler for Ubl {
    type Field = Field;

    /// The elements the model reads that UBL 2.1 Invoice/CreditNote (maindoc and common
    /// aggregate schemas) allow at most once in their parent.
    fn singular(&self, path: &[T]) -> Option<&'static str> {
        let once = match path {
            [
                T::UBLVersionID
                | T::CustomizationID
                | T::ProfileID
                | T::ID
                | T::IssueDate
                | T::DueDate
                | T::InvoiceTypeCode
                | T::CreditNoteTypeCode
                | T::DocumentCurrencyCode
                | T::TaxCurrencyCode
                | T::BuyerReference
                | T::OrderReference
                | T::AccountingSupplierParty
                | T::AccountingCustomerParty
                | T::TaxRepresentativeParty
                | T::LegalMonetaryTotal,
            ] => true,
            [T::OrderReference, T::ID] => true,
            [T::BillingReference, T::InvoiceDocumentReference]
            | [T::BillingReference, T::InvoiceDocumentReference, T::ID] => true,
            [T::AdditionalDocumentReference, T::ID | T::Attachment] => true,
            [
                T::AdditionalDocumentReference,
                T::Attachment,
                T::EmbeddedDocumentBinaryObject | T::ExternalReference,
            ] => true,
            [
                T::AdditionalDocumentReference,
                T::Attachment,
                T::ExternalReference,
                T::URI,
            ] => true,
            [
                T::AccountingSupplierParty | T::AccountingCustomerParty,
                T::Party,
                rest @ ..,
            ] => party_singular(rest),
            [T::TaxRepresentativeParty, rest @ ..] => party_singular(rest),
            [
                T::PaymentMeans,
                T::PaymentMeansCode | T::PaymentDueDate | T::PayeeFinancialAccount,
            ] => true,
            [T::PaymentMeans, T::PayeeFinancialAccount, T::ID] => true,
            [T::AllowanceCharge, T::ChargeIndicator | T::Amount] => true,
            [T::TaxTotal, T::TaxAmount] | [T::TaxTotal, T::TaxSubtotal, T::TaxAmount] => true,
            [
                T::LegalMonetaryTotal,
                T::LineExtensionAmount
                | T::TaxExclusiveAmount
                | T::TaxInclusiveAmount
                | T::AllowanceTotalAmount
                | T::ChargeTotalAmount
                | T::PrepaidAmount
                | T::PayableRoundingAmount
                | T::PayableAmount,
            ] => true,
            [T::InvoiceLine | T::CreditNoteLine, T::LineExtensionAmount] => true,
            _ => false,
        };
        once.then_some(XSD_ONCE)
    }

    fn empty_element(&mut self, path: &[T], qname: &[u8]) {
        let root = self.root_name();
        self.doc
            .empty_elements
            .note(|| super::xml::location(root, path, qname));
        let invoice = !self.doc.credit_note_root;
        note_nlcius_empty(
            &mut self.doc,
            super::discouraged::taken_when_empty(super::xml::Family::Ubl, invoice, path),
            || super::xml::location(root, path, qname),
        );
        self.doc.empty_elements_but_delivery += 1;
    }

    /// UBL-DT-01: an amount has at most two decimals as written
    /// (`string-length(substring-after(., '.')) <= 2`), except prices and the amounts of a
    /// price's allowance or charge.
    fn amount_text(&mut self, path: &[T], text: &str) {
        let digits = super::decimals::fraction_digits(text);
        // BR-DEC-01/02/05/06 and 24/25/27/28: decided with the group's indicator, later.
        match path {
            [T::AllowanceCharge, t @ (T::Amount | T::BaseAmount)] => {
                let base = *t == T::BaseAmount;
                self.allowance_charge.detail.decimals.note(base, digits);
            }
            [
                T::InvoiceLine | T::CreditNoteLine,
                T::AllowanceCharge,
                t @ (T::Amount | T::BaseAmount),
            ] => {
                if let Some(a) = self.doc.line_allowance_charges.last_mut() {
                    a.decimals.note(*t == T::BaseAmount, digits);
                }
            }
            _ => {}
        }
        if digits <= 2 {
            return;
        }
        if let Some(rule) = super::decimals::rule(path, false) {
            let root = self.root_name();
            self.doc
                .note_long_decimals(rule, || super::xml::path_name(root, path));
        }
        let price = path.last() == Some(&T::PriceAmount)
            || path.windows(2).any(|w| w == [T::Price, T::AllowanceCharge]);
        if !price {
            let root = self.root_name();
            self.doc
                .long_amounts
                .note(|| super::xml::path_name(root, path));
        }
    }

    fn malformed_amount(&mut self, element: &str, text: &str) {
        let what = format!("the amount {element}");
        // An amount the model also reads is noted there already, under its business term.
        let trimmed: String = text.trim().chars().take(40).collect();
        if !self.doc.bad_amounts.iter().any(|b| b.text == trimmed) {
            self.doc.amount(text, |_| what);
        }
    }

    fn repeated(&mut self, path: &[T], rule: &'static str) {
        let root = self.root_name();
        self.doc
            .note_repeated(super::xml::path_name(root, path), rule);
    }

    fn start(&mut self, path: &[T], attrs: &Attrs<'_, '_>) -> Option<(Field, Capture)> {
        if let Some(d) = super::discouraged::check(super::xml::Family::Ubl, path, attrs)
            && self.doc.discouraged.len() < super::discouraged::MAX_NOTED
        {
            self.doc.discouraged.push(d);
        }
        let field = match path {
            // XRechnung's extension: sub-lines nest, and their items are told apart from the
            // line's own by the path.
            [T::InvoiceLine, .., T::SubInvoiceLine] => {
                if self.doc.sub_lines.len() < MAX_SUB_LINES {
                    let depth = path.iter().filter(|t| **t == T::SubInvoiceLine).count();
                    let line = self.doc.lines.len().saturating_sub(1);
                    self.doc.sub_lines.push(SubLineData {
                        line,
                        depth,
                        net: Num::Absent,
                    });
                }
                return None;
            }
            [
                T::InvoiceLine,
                ..,
                T::SubInvoiceLine,
                T::LineExtensionAmount,
            ] => {
                let depth = path.iter().filter(|t| **t == T::SubInvoiceLine).count();
                return Some((Field::SubLineNet(depth), Capture::Text));
            }
            [T::InvoiceLine, .., T::SubInvoiceLine, T::Item] => {
                self.sub_item_categories = 0;
                return Some((Field::SubLineItemEnd, Capture::Nothing));
            }
            [
                T::InvoiceLine,
                ..,
                T::SubInvoiceLine,
                T::Item,
                T::ClassifiedTaxCategory,
            ] => {
                self.sub_item_categories = self.sub_item_categories.saturating_add(1);
                return None;
            }
            [T::PrepaidPayment] => {
                self.doc
                    .prepaid_payments
                    .push(PrepaidPaymentData::default());
                return None;
            }
            [T::PrepaidPayment, T::ID] => Field::PrepaidPaymentId,
            [T::PrepaidPayment, T::InstructionID] => Field::PrepaidPaymentInstruction,
            [T::PrepaidPayment, T::PaidAmount] => {
                self.attr = attrs.get(b"currencyID");
                Field::PrepaidPaidAmount
            }
            [T::UBLVersionID] => Field::UblVersion,
            [T::CustomizationID] => Field::CustomizationId,
            [T::ProfileID] => Field::ProfileId,
            [T::ID] => Field::Number,
            [T::IssueDate] => Field::IssueDate,
            [T::DueDate] => Field::DueDate,
            [T::InvoiceTypeCode | T::CreditNoteTypeCode] => Field::TypeCode,
            [T::DocumentCurrencyCode] => Field::Currency,
            [T::TaxCurrencyCode] => Field::TaxCurrency,
            [T::BuyerReference] => Field::BuyerReference,
            [T::OrderReference, T::ID] => Field::OrderReference,
            [T::BillingReference, T::InvoiceDocumentReference, T::ID] => {
                self.doc.preceding_invoice = true;
                if let Some(has_id) = self.doc.billing_references.last_mut() {
                    *has_id = true;
                }
                return None;
            }
            [T::AdditionalDocumentReference] => {
                self.doc.attachments.push(AttachmentData::default());
                return None;
            }
            [T::AdditionalDocumentReference, T::ID] => {
                let scheme = attrs.has(b"schemeID");
                if let Some(a) = self.doc.attachments.last_mut() {
                    a.id_scheme |= scheme;
                }
                Field::AttachmentId
            }
            [T::AdditionalDocumentReference, T::DocumentTypeCode] => Field::AttachmentTypeCode,
            [
                T::AdditionalDocumentReference,
                flag @ (T::Attachment | T::DocumentDescription),
            ] => {
                let description = *flag == T::DocumentDescription;
                if let Some(a) = self.doc.attachments.last_mut() {
                    if description {
                        a.description = true;
                    } else {
                        a.attachment_element = true;
                    }
                }
                if !description {
                    return None;
                }
                Field::AttachmentDescription
            }
            [
                T::AdditionalDocumentReference,
                T::Attachment,
                T::EmbeddedDocumentBinaryObject,
            ] => {
                self.mime_code = attrs.get(b"mimeCode");
                self.doc.binary_without_mime |= self.mime_code.is_none();
                self.filename = attrs.get(b"filename");
                self.doc.binary_without_filename |= self.filename.is_none();
                return Some((Field::AttachmentObject, Capture::Binary));
            }
            [
                T::AdditionalDocumentReference,
                T::Attachment,
                T::ExternalReference,
                T::URI,
            ] => Field::AttachmentUri,
            [
                T::AdditionalDocumentReference,
                T::Attachment,
                T::ExternalReference,
            ] => {
                if let Some(a) = self.doc.attachments.last_mut() {
                    a.external_reference = true;
                }
                return None;
            }
            [T::TaxPointDate] => {
                self.doc.tax_point_date = true;
                return None;
            }
            [T::InvoicePeriod] => {
                self.doc.periods.push(PeriodData {
                    offset: attrs.offset(),
                    ..PeriodData::default()
                });
                return None;
            }
            [T::InvoicePeriod, child] => return period_child(&mut self.doc, false, *child),
            [T::BillingReference] => {
                self.doc.billing_references.push(false);
                return None;
            }
            [T::BillingReference, T::InvoiceDocumentReference] => {
                self.doc.invoice_reference_element = true;
                return None;
            }
            [T::Delivery, T::ActualDeliveryDate] => Field::ActualDeliveryDate,
            [T::Delivery, T::DeliveryLocation, T::Address] => {
                self.doc.delivery_addresses.push(AddressData::default());
                return None;
            }
            [T::Delivery, T::DeliveryLocation, T::Address, rest @ ..] => {
                Field::DeliveryAddress(address_field(rest)?)
            }
            [T::PayeeParty, rest @ ..] => return self.party(Role::Payee, rest, attrs),
            [T::PaymentMeans, T::PayeeFinancialAccount] => {
                if let Some(p) = self.doc.payment_means.last_mut() {
                    p.account_element = true;
                }
                return None;
            }
            [T::PaymentMeans, T::CardAccount, T::PrimaryAccountNumberID] => Field::CardNumber,
            [T::PaymentMeans, T::CardAccount] => {
                if let Some(p) = self.doc.payment_means.last_mut() {
                    p.card_element = true;
                }
                return None;
            }
            [T::InvoiceLine | T::CreditNoteLine, T::InvoicePeriod] => {
                let line = self.doc.lines.len().saturating_sub(1);
                self.doc.line_periods.push(PeriodData {
                    line,
                    offset: attrs.offset(),
                    ..PeriodData::default()
                });
                return None;
            }
            [T::InvoiceLine | T::CreditNoteLine, T::InvoicePeriod, child] => {
                return period_child(&mut self.doc, true, *child);
            }
            [
                T::InvoiceLine | T::CreditNoteLine,
                T::Item,
                T::StandardItemIdentification,
                T::ID,
            ] => {
                let unschemed = !attrs.has(b"schemeID");
                if let Some(line) = self.doc.lines.last_mut() {
                    line.standard_id_without_scheme |= unschemed;
                }
                return None;
            }
            [
                T::InvoiceLine | T::CreditNoteLine,
                T::Item,
                T::CommodityClassification,
                T::ItemClassificationCode,
            ] => {
                let unlisted = !attrs.has(b"listID");
                if let Some(line) = self.doc.lines.last_mut() {
                    line.classification_without_list |= unlisted;
                    open_classification(line, attrs.get(b"listID"), attrs.get(b"listVersionID"));
                }
                Field::Classification
            }
            [
                T::InvoiceLine | T::CreditNoteLine,
                T::Item,
                T::AdditionalItemProperty,
            ] => {
                self.property = PendingProperty::default();
                return Some((Field::PropertyEnd, Capture::Nothing));
            }
            [
                T::InvoiceLine | T::CreditNoteLine,
                T::Item,
                T::AdditionalItemProperty,
                part @ (T::Name | T::Value),
            ] => Field::PropertyPart(*part == T::Name),
            [
                T::InvoiceLine | T::CreditNoteLine,
                T::Price,
                T::AllowanceCharge,
                T::BaseAmount,
            ] => Field::GrossPrice,
            [T::AccountingSupplierParty, T::Party, rest @ ..] => {
                return self.party(Role::Seller, rest, attrs);
            }
            [T::AccountingCustomerParty, T::Party, rest @ ..] => {
                return self.party(Role::Buyer, rest, attrs);
            }
            [T::TaxRepresentativeParty, rest @ ..] => {
                return self.party(Role::TaxRepresentative, rest, attrs);
            }
            [T::PaymentMeans] => {
                self.doc.payment_means.push(PaymentMeansData {
                    offset: attrs.offset(),
                    ..PaymentMeansData::default()
                });
                return None;
            }
            [T::PaymentMeans, T::PaymentMeansCode] => {
                let named = attrs.has(b"name");
                if let Some(p) = self.doc.payment_means.last_mut() {
                    p.code_named |= named;
                }
                Field::PaymentMeansCode
            }
            [T::PaymentMeans, T::PaymentID] => Field::PaymentId,
            [T::ContractDocumentReference, T::ID] => Field::ContractReference,
            [T::OriginatorDocumentReference, T::ID] => Field::OriginatorReference,
            [T::Note] => {
                self.doc.notes += 1;
                return None;
            }
            [T::PaymentMeans, T::PaymentMandate] => {
                if let Some(p) = self.doc.payment_means.last_mut() {
                    p.mandate_element = true;
                }
                return None;
            }
            [
                T::PaymentMeans,
                T::PaymentMandate,
                T::PayerFinancialAccount,
                T::ID,
            ] => {
                if let Some(p) = self.doc.payment_means.last_mut() {
                    p.payer_account = true;
                }
                Field::PayerAccount
            }
            [T::PaymentMeans, T::PaymentMandate, T::ID] => {
                if let Some(p) = self.doc.payment_means.last_mut() {
                    p.mandate = true;
                }
                Field::MandateId
            }
            [
                T::PaymentMeans,
                T::PayeeFinancialAccount,
                T::FinancialInstitutionBranch,
                T::ID,
            ] => Field::PaymentBranch,
            [T::AllowanceCharge, T::MultiplierFactorNumeric] => {
                Field::GroupValue(GroupValue::Multiplier)
            }
            [T::AllowanceCharge, T::BaseAmount] => Field::GroupValue(GroupValue::Base),
            [
                T::InvoiceLine | T::CreditNoteLine,
                T::AllowanceCharge,
                T::MultiplierFactorNumeric,
            ] => Field::LineGroupValue(GroupValue::Multiplier),
            [T::InvoiceLine | T::CreditNoteLine, T::DocumentReference] => {
                if let Some(line) = self.doc.lines.last_mut() {
                    line.document_references += 1;
                }
                return None;
            }
            [
                T::InvoiceLine | T::CreditNoteLine,
                T::DocumentReference,
                T::DocumentTypeCode,
            ] => Field::LineReferenceType,
            [
                T::InvoiceLine | T::CreditNoteLine,
                T::Price,
                T::BaseQuantity,
            ] => {
                if let Some(line) = self.doc.lines.last_mut()
                    && line.base_quantity_unit.is_none()
                {
                    line.base_quantity_unit = attrs.get(b"unitCode");
                }
                Field::BaseQuantity
            }
            [T::PaymentTerms] => {
                self.doc.payment_terms.push(PaymentTermsData::default());
                return None;
            }
            [T::PaymentTerms, T::PaymentMeansID] => Field::PaymentTermsMeansId,
            [T::PaymentTerms, T::Amount] => Field::PaymentTermsAmount,
            [T::PaymentMeans, T::ID] => Field::PaymentMeansId,
            [T::PaymentTerms, T::Note] => {
                self.doc.payment_terms_note = true;
                Field::PaymentTermsText
            }
            [
                T::InvoiceLine | T::CreditNoteLine,
                T::OrderLineReference,
                T::LineID,
            ] => {
                self.doc.order_line_reference = true;
                return None;
            }
            [T::PaymentMeans, T::PayeeFinancialAccount, T::ID] => Field::PaymentAccount,
            [T::PaymentMeans, T::PaymentDueDate] => Field::PaymentDueDate,
            [T::AllowanceCharge] => {
                self.doc.allowance_reasons.push(ReasonTexts::default());
                self.allowance_charge = PendingAllowanceCharge::default();
                self.allowance_charge.detail.offset = attrs.offset();
                return Some((Field::AllowanceChargeEnd, Capture::Nothing));
            }
            [T::AllowanceCharge, T::ChargeIndicator] => Field::ChargeIndicator,
            [T::AllowanceCharge, T::Amount] => Field::AllowanceChargeAmount,
            [T::AllowanceCharge, T::AllowanceChargeReason] => {
                self.allowance_charge.detail.reason = true;
                self.allowance_charge.detail.reasons += 1;
                Field::AllowanceReason(false)
            }
            [T::AllowanceCharge, T::AllowanceChargeReasonCode] => {
                self.allowance_charge.detail.reason_code = true;
                Field::AllowanceReason(true)
            }
            [T::AllowanceCharge, T::TaxCategory] => {
                self.allowance_charge.tax_kept = push_tax(&mut self.allowance_charge.detail.taxes);
                return None;
            }
            [
                T::AllowanceCharge,
                T::TaxCategory,
                T::TaxExemptionReasonCode,
            ] if self.allowance_charge.tax_kept => {
                Field::AllowanceChargeTax(TaxField::ExemptionCode)
            }
            [T::AllowanceCharge, T::TaxCategory, rest @ ..] if self.allowance_charge.tax_kept => {
                Field::AllowanceChargeTax(tax_field(rest)?)
            }
            [T::TaxTotal] => {
                self.doc.tax_totals.push(TaxTotalData::default());
                return None;
            }
            [T::TaxTotal, T::TaxAmount] => {
                self.attr = attrs.get(b"currencyID");
                Field::TaxTotalAmount
            }
            [_, .., T::TaxTotal, T::TaxAmount] => {
                if let Some(currency) = attrs.get(b"currencyID")
                    && !self.doc.nested_tax_currencies.contains(&currency)
                    && self.doc.nested_tax_currencies.len() < MAX_OTHER_CATEGORIES
                {
                    self.doc.nested_tax_currencies.push(currency);
                }
                return None;
            }
            [T::TaxTotal, T::TaxSubtotal] => {
                if let Some(t) = self.doc.tax_totals.last_mut() {
                    t.has_subtotals = true;
                }
                self.doc.vat_breakdown.push(VatBreakdownData {
                    offset: attrs.offset(),
                    ..VatBreakdownData::default()
                });
                return None;
            }
            [T::TaxTotal, T::TaxSubtotal, T::TaxableAmount] => Field::BreakdownTaxable,
            [
                T::TaxTotal,
                T::TaxSubtotal,
                T::TaxCategory,
                T::TaxExemptionReason,
            ] => {
                if let Some(b) = self.doc.vat_breakdown.last_mut() {
                    b.exemption_reason = true;
                }
                return None;
            }
            [
                T::TaxTotal,
                T::TaxSubtotal,
                T::TaxCategory,
                T::TaxExemptionReasonCode,
            ] => {
                if let Some(b) = self.doc.vat_breakdown.last_mut() {
                    b.exemption_code = true;
                }
                Field::BreakdownTax(TaxField::ExemptionCode)
            }
            [T::TaxTotal, T::TaxSubtotal, T::TaxCategory, rest @ ..] => {
                Field::BreakdownTax(tax_field(rest)?)
            }
            [T::TaxTotal, T::TaxSubtotal, T::TaxAmount] => Field::TaxSubtotalAmount,
            [T::LegalMonetaryTotal] => {
                self.doc.totals.get_or_insert_with(TotalsData::default);
                return None;
            }
            [T::LegalMonetaryTotal, t] => Field::Total(match t {
                T::LineExtensionAmount => TotalField::LineExtension,
                T::TaxExclusiveAmount => TotalField::TaxExclusive,
                T::TaxInclusiveAmount => TotalField::TaxInclusive,
                T::AllowanceTotalAmount => TotalField::AllowanceTotal,
                T::ChargeTotalAmount => TotalField::ChargeTotal,
                T::PrepaidAmount => TotalField::Prepaid,
                T::PayableRoundingAmount => TotalField::Rounding,
                T::PayableAmount => TotalField::Payable,
                _ => return None,
            }),
            [T::InvoiceLine | T::CreditNoteLine] => {
                self.doc.lines.push(LineData {
                    offset: attrs.offset(),
                    ..LineData::default()
                });
                return None;
            }
            [T::InvoiceLine | T::CreditNoteLine, T::LineExtensionAmount] => Field::LineAmount,
            [T::InvoiceLine | T::CreditNoteLine, T::ID] => Field::Line(LineField::Id),
            [
                T::InvoiceLine | T::CreditNoteLine,
                T::InvoicedQuantity | T::CreditedQuantity,
            ] => {
                let unit_code = attrs.get(b"unitCode");
                let credited = path.get(1) == Some(&T::CreditedQuantity);
                let own = credited == self.doc.credit_note_root;
                if let Some(line) = self.doc.lines.last_mut() {
                    line.quantity = true;
                    line.unit_code |= unit_code.is_some();
                    if own && line.quantity_unit.is_none() {
                        line.quantity_unit = unit_code;
                    }
                }
                Field::Quantity(credited)
            }
            [
                T::InvoiceLine | T::CreditNoteLine,
                T::Price,
                T::AllowanceCharge,
            ] => {
                self.doc.allowance_reasons.push(ReasonTexts::default());
                if let Some(line) = self.doc.lines.last_mut() {
                    line.price_allowance = true;
                }
                return None;
            }
            [
                T::InvoiceLine | T::CreditNoteLine,
                T::Price,
                T::AllowanceCharge,
                flag @ (T::AllowanceChargeReason | T::AllowanceChargeReasonCode),
            ] => Field::AllowanceReason(*flag == T::AllowanceChargeReasonCode),
            [
                T::InvoiceLine | T::CreditNoteLine,
                T::Price,
                T::AllowanceCharge,
                part @ (T::ChargeIndicator | T::Amount),
            ] => Field::PriceAllowance(*part == T::Amount),
            [T::InvoiceLine | T::CreditNoteLine, T::Item, T::Name] => {
                Field::Line(LineField::ItemName)
            }
            [T::InvoiceLine | T::CreditNoteLine, T::Price, T::PriceAmount] => {
                Field::Line(LineField::Price)
            }
            [
                T::InvoiceLine | T::CreditNoteLine,
                T::Item,
                T::ClassifiedTaxCategory,
            ] => {
                self.line_tax_kept = open_line_tax(&mut self.doc);
                return None;
            }
            [
                T::InvoiceLine | T::CreditNoteLine,
                T::Item,
                T::ClassifiedTaxCategory,
                rest @ ..,
            ] if self.line_tax_kept => Field::Line(LineField::Tax(tax_field(rest)?)),
            [T::InvoiceLine | T::CreditNoteLine, T::AllowanceCharge] => {
                self.doc.allowance_reasons.push(ReasonTexts::default());
                open_line_allowance_charge(&mut self.doc, attrs.offset());
                return None;
            }
            [
                T::InvoiceLine | T::CreditNoteLine,
                T::AllowanceCharge,
                T::ChargeIndicator,
            ] => Field::LineAllowanceIndicator,
            [
                T::InvoiceLine | T::CreditNoteLine,
                T::AllowanceCharge,
                flag @ (T::Amount | T::AllowanceChargeReason | T::AllowanceChargeReasonCode),
            ] => {
                if *flag == T::Amount {
                    Field::LineGroupValue(GroupValue::Amount)
                } else {
                    let code = *flag == T::AllowanceChargeReasonCode;
                    if let Some(a) = self.doc.line_allowance_charges.last_mut() {
                        if code {
                            a.reason_code = true;
                        } else {
                            a.reason = true;
                            a.reasons += 1;
                        }
                    }
                    Field::AllowanceReason(code)
                }
            }
            [
                T::InvoiceLine | T::CreditNoteLine,
                T::AllowanceCharge,
                T::BaseAmount,
            ] => Field::LineGroupValue(GroupValue::Base),
            [
                T::InvoiceLine | T::CreditNoteLine,
                ..,
                T::AllowanceCharge,
                T::TaxCategory,
            ] => {
                self.line_allowance_tax = TaxCategoryData::default();
                // A line's own allowance or charge, not its price's (`Price/AllowanceCharge`).
                let own = path.len() == 3;
                return Some((Field::LineAllowanceTaxEnd(own), Capture::Nothing));
            }
            [
                T::InvoiceLine | T::CreditNoteLine,
                ..,
                T::AllowanceCharge,
                T::TaxCategory,
                T::ID,
            ] => Field::LineAllowanceTax(TaxField::Code),
            [
                T::InvoiceLine | T::CreditNoteLine,
                ..,
                T::AllowanceCharge,
                T::TaxCategory,
                T::Percent,
            ] => Field::LineAllowanceTax(TaxField::Percent),
            [
                T::InvoiceLine | T::CreditNoteLine,
                ..,
                T::AllowanceCharge,
                T::TaxCategory,
                T::TaxExemptionReasonCode,
            ] => Field::LineAllowanceTax(TaxField::ExemptionCode),
            [
                T::InvoiceLine | T::CreditNoteLine,
                ..,
                T::AllowanceCharge,
                T::TaxCategory,
                T::TaxScheme,
                T::ID,
            ] => Field::LineAllowanceTax(TaxField::Scheme),
            _ => return None,
        };
        Some((field, Capture::Text))
    }

    fn end(&mut self, field: Field, text: &str) {
        let doc = &mut self.doc;
        match field {
            Field::UblVersion => set_first(&mut doc.ubl_version, text),
            Field::CustomizationId => set_first(&mut doc.customization_id, text),
            Field::ProfileId => set_first(&mut doc.profile_id, text),
            Field::Number => set_first(&mut doc.number, text),
            Field::IssueDate => set_first(&mut doc.issue_date, text),
            Field::DueDate => set_first(&mut doc.due_date, text),
            Field::TypeCode => set_first(&mut doc.type_code, text),
            Field::Currency => set_first(&mut doc.currency, text),
            Field::TaxCurrency => set_first(&mut doc.tax_currency, text),
            Field::BuyerReference => set_first(&mut doc.buyer_reference, text),
            Field::OrderReference => set_first(&mut doc.order_reference, text),
            Field::PaymentTermsText => set_first(&mut doc.payment_terms_text, text),
            Field::AttachmentId => {
                if let Some(a) = doc.attachments.last_mut() {
                    set_first(&mut a.id, text);
                }
            }
            Field::AttachmentDescription => {
                if let Some(a) = doc.attachments.last_mut() {
                    set_first(&mut a.description_text, text);
                }
            }
            Field::AttachmentObject => {
                let (mime, name) = (self.mime_code.take(), self.filename.take());
                attachment::embedded_object(doc, mime, name, text);
            }
            Field::AttachmentUri => {
                if let Some(a) = doc.attachments.last_mut() {
                    set_first(&mut a.uri, text);
                }
            }
            Field::Party(role, f) => self.end_party(role, f, text),
            Field::PaymentMeansCode => {
                if let Some(p) = doc.payment_means.last_mut() {
                    set_first(&mut p.code, text);
                }
            }
            Field::ContractReference => doc.contract_reference |= not_blank(text),
            Field::OriginatorReference => doc.originator_reference |= not_blank(text),
            Field::PaymentBranch | Field::MandateId | Field::PayerAccount => {
                if let Some(p) = doc.payment_means.last_mut() {
                    let slot = match field {
                        Field::PaymentBranch => &mut p.branch,
                        Field::MandateId => &mut p.mandate_id,
                        _ => &mut p.payer_account_id,
                    };
                    set_first(slot, text);
                }
            }
            Field::AllowanceReason(code) => {
                if let Some(r) = doc.allowance_reasons.last_mut() {
                    set_first(if code { &mut r.code } else { &mut r.text }, text);
                }
            }
            Field::PaymentAccount => {
                if let Some(p) = doc.payment_means.last_mut() {
                    p.accounts.push(text.to_owned());
                }
            }
            // BT-9 of a CreditNote lives in PaymentMeans.
            Field::PaymentDueDate => {
                if doc.credit_note_root {
                    set_first(&mut doc.due_date, text);
                }
            }
            Field::ChargeIndicator => set_first(&mut self.allowance_charge.indicator, text),
            Field::AllowanceChargeAmount => set_first(&mut self.allowance_charge.amount, text),
            Field::AllowanceChargeEnd => {
                let pending = std::mem::take(&mut self.allowance_charge);
                push_allowance_charge(
                    doc,
                    pending.indicator.as_deref(),
                    pending.amount.as_deref(),
                    pending.detail,
                );
            }
            Field::AllowanceChargeTax(f) => {
                if let Some(category) = self.allowance_charge.detail.taxes.last_mut() {
                    set_tax(category, f, text);
                }
            }
            Field::Line(f) => set_line_field(doc, f, text, "PriceAmount"),
            Field::LineAllowanceTax(f) => set_tax(&mut self.line_allowance_tax, f, text),
            Field::LineAllowanceTaxEnd(own) => {
                let category = std::mem::take(&mut self.line_allowance_tax);
                end_line_allowance_tax(doc, category, own);
            }
            Field::LineAllowanceIndicator => set_line_allowance_indicator(doc, text),
            Field::PeriodDate { line, end } => set_period_date(doc, line, end, text),
            Field::ActualDeliveryDate => set_first(&mut doc.actual_delivery_date, text),
            Field::DeliveryAddress(f) => {
                if let Some(a) = doc.delivery_addresses.last_mut() {
                    set_address(a, f, text);
                }
            }
            Field::CardNumber => add_card_number(doc, text),
            Field::GrossPrice => set_gross_price(doc, text),
            Field::AttachmentTypeCode => {
                if let Some(a) = doc.attachments.last_mut() {
                    set_first(&mut a.type_code, text);
                }
            }
            Field::PaymentTermsMeansId => {
                if let Some(t) = doc.payment_terms.last_mut() {
                    t.means_ids.push(text.to_owned());
                }
            }
            Field::PaymentTermsAmount => {
                if let Some(t) = doc.payment_terms.last_mut()
                    && !t.amount.present()
                {
                    t.amount = Num::parse(text);
                }
            }
            Field::PaymentMeansId => {
                if let Some(p) = doc.payment_means.last_mut() {
                    p.ids.push(text.to_owned());
                }
            }
            Field::Quantity(credited) => {
                if let Some(line) = doc.lines.last_mut()
                    && credited == doc.credit_note_root
                    && !line.quantity_value.present()
                {
                    line.quantity_value = Num::parse(text);
                }
            }
            Field::PriceAllowance(amount) => set_price_allowance(doc, amount, text),
            Field::GroupValue(v) => {
                let detail = &mut self.allowance_charge.detail;
                // (The document level amount is read as `AllowanceChargeAmount`.)
                let slot = match v {
                    GroupValue::Base => &mut detail.base_value,
                    GroupValue::Multiplier => &mut detail.multiplier_value,
                    GroupValue::Amount => return,
                };
                if !slot.present() {
                    *slot = Num::parse(text);
                }
            }
            Field::LineGroupValue(v) => set_line_group_value(doc, v, text),
            Field::LineReferenceType => {
                if let Some(line) = doc.lines.last_mut() {
                    line.object_reference |= text == "130";
                }
            }
            Field::BaseQuantity => {
                if let Some(line) = doc.lines.last_mut()
                    && !line.base_quantity.present()
                {
                    line.base_quantity = Num::parse(text);
                }
            }
            Field::PaymentId => {
                if let Some(p) = doc.payment_means.last_mut() {
                    set_first(&mut p.payment_id, text);
                }
                if !doc.payment_ids.iter().any(|p| p == text)
                    && doc.payment_ids.len() < MAX_OTHER_CATEGORIES
                {
                    doc.payment_ids.push(text.to_owned());
                }
            }
            Field::PropertyEnd => end_item_property(doc, std::mem::take(&mut self.property)),
            Field::SubLineNet(depth) => {
                // The open sub-line at this depth is the last one started at it.
                if let Some(s) = doc.sub_lines.iter_mut().rev().find(|s| s.depth == depth)
                    && matches!(s.net, Num::Absent)
                {
                    s.net = Num::parse(text);
                }
            }
            Field::SubLineItemEnd => {
                if self.sub_item_categories != 1 {
                    doc.sub_line_items_without_one_category =
                        doc.sub_line_items_without_one_category.saturating_add(1);
                }
            }
            Field::PrepaidPaymentId => {
                if let Some(p) = doc.prepaid_payments.last_mut() {
                    p.id |= !text.trim().is_empty();
                }
            }
            Field::PrepaidPaymentInstruction => {
                if let Some(p) = doc.prepaid_payments.last_mut() {
                    p.instruction_id |= !text.trim().is_empty();
                }
            }
            Field::PrepaidPaidAmount => {
                let currency = self.attr.take();
                if let Some(p) = doc.prepaid_payments.last_mut()
                    && p.paid_amounts.len() < MAX_PAID_AMOUNTS
                {
                    p.paid_amounts.push((text.to_owned(), currency));
                }
            }
            Field::PropertyPart(name) => self.property.note(name, text),
            Field::Classification => set_classification(doc, text),
            Field::BreakdownTaxable => {
                if doc
                    .vat_breakdown
                    .last()
                    .is_some_and(|b| !b.taxable.present())
                {
                    let n = doc.amount(text, |_| {
                        "a VAT category taxable amount (BT-116, TaxableAmount)".into()
                    });
                    if let Some(b) = doc.vat_breakdown.last_mut() {
                        b.taxable = n;
                    }
                }
            }
            Field::BreakdownTax(f) => {
                if let Some(b) = doc.vat_breakdown.last_mut() {
                    set_tax(&mut b.category, f, text);
                }
            }
            Field::TaxTotalAmount => {
                let currency = self.attr.take();
                if doc.tax_totals.last().is_some_and(|t| !t.amount.present()) {
                    let n = doc.amount(text, |_| "the invoice total VAT amount (BT-110)".into());
                    if let Some(t) = doc.tax_totals.last_mut() {
                        t.currency = currency;
                        t.amount = n;
                    }
                }
            }
            Field::TaxSubtotalAmount => {
                if !doc.tax_totals.is_empty() {
                    let n = doc.amount(text, |_| "a VAT category tax amount (BT-117)".into());
                    if let Some(t) = doc.tax_totals.last_mut() {
                        t.subtotal_amounts.push(n);
                    }
                    if let Some(b) = doc.vat_breakdown.last_mut()
                        && !b.tax.present()
                    {
                        b.tax = n;
                    }
                }
            }
            Field::Total(f) => set_total(doc, f, text),
            Field::LineAmount => set_line_amount(doc, text),
        }
    }
}

/// A child of an invoicing period (the last line's, or the document's): UBL `StartDate`,
/// `EndDate`, `DescriptionCode`.
fn period_child(doc: &mut Doc, line: bool, child: T) -> Option<(Field, Capture)> {
    let period = if line {
        doc.line_periods.last_mut()
    } else {
        doc.periods.last_mut()
    }?;
    period.any_child = true;
    let end = match child {
        T::StartDate => false,
        T::EndDate => true,
        T::DescriptionCode => {
            period.description_code = true;
            return None;
        }
        _ => return None,
    };
    if end {
        period.has_end = true;
    } else {
        period.has_start = true;
    }
    Some((Field::PeriodDate { line, end }, Capture::Text))
}

/// Stores a date of the last period (the line's or the document's), the first one given.
pub(crate) fn set_period_date(doc: &mut Doc, line: bool, end: bool, text: &str) {
    let period = if line {
        doc.line_periods.last_mut()
    } else {
        doc.periods.last_mut()
    };
    if let Some(p) = period {
        set_first(if end { &mut p.end } else { &mut p.start }, text);
    }
}

/// Notes a payment card number of the last payment instruction.
pub(crate) fn add_card_number(doc: &mut Doc, text: &str) {
    if let Some(p) = doc.payment_means.last_mut() {
        p.card_numbers.push(text.to_owned());
    }
}

/// Notes an empty element for NLCIUS's empty-element warning, for the suppliers it is not
/// taken from by a template of higher priority ([`super::discouraged::Taken`]).
pub(crate) fn note_nlcius_empty(
    doc: &mut Doc,
    taken: super::discouraged::Taken,
    location: impl Fn() -> String,
) {
    use super::discouraged::Taken;
    if taken != Taken::Always {
        doc.nlcius_empty[0].note(&location);
    }
    if taken == Taken::Never {
        doc.nlcius_empty[1].note(&location);
    }
}

/// Stores the item gross price (BT-148) of the last line, the first one given.
pub(crate) fn set_gross_price(doc: &mut Doc, text: &str) {
    if doc.lines.last().is_none_or(|l| l.gross_price.present()) {
        return;
    }
    let n = doc.amount(text, |d| {
        format!(
            "the item gross price (BT-148) of invoice line {}",
            d.lines.len()
        )
    });
    if let Some(line) = doc.lines.last_mut() {
        line.gross_price = n;
    }
}

/// Stores a number of the last line allowance/charge (the first one given).
pub(crate) fn set_line_group_value(doc: &mut Doc, value: GroupValue, text: &str) {
    if let Some(a) = doc.line_allowance_charges.last_mut() {
        let slot = match value {
            GroupValue::Amount => &mut a.amount_value,
            GroupValue::Base => &mut a.base_value,
            GroupValue::Multiplier => &mut a.multiplier_value,
        };
        if !slot.present() {
            *slot = Num::parse(text);
        }
    }
}

/// An item attribute being read: its name (UBL `Name`, CII `Description`) and value, as
/// written, with whether each element was there.
#[derive(Debug, Default)]
pub(crate) struct PendingProperty {
    name: Option<String>,
    value: Option<String>,
}

impl PendingProperty {
    /// Keeps the first name (`name`) or value.
    pub(crate) fn note(&mut self, name: bool, text: &str) {
        set_first(
            if name {
                &mut self.name
            } else {
                &mut self.value
            },
            text,
        );
    }
}

/// Files an item attribute on the last line.
pub(crate) fn end_item_property(doc: &mut Doc, property: PendingProperty) {
    if let Some(line) = doc.lines.last_mut() {
        line.property_incomplete |= !(property.name.is_some() && property.value.is_some());
        if line.properties.len() < MAX_OTHER_CATEGORIES {
            line.properties.push((property.name, property.value));
        }
    }
}

/// Opens an item classification of `line` (its code follows as text).
pub(crate) fn open_classification(
    line: &mut LineData,
    list: Option<String>,
    version: Option<String>,
) {
    if line.classifications.len() < MAX_OTHER_CATEGORIES {
        line.classifications.push(ClassificationData {
            code: String::new(),
            list,
            version,
        });
    }
}

/// The code of the last line's classification being read (the first text wins: past
/// [`MAX_OTHER_CATEGORIES`] classifications none is kept).
pub(crate) fn set_classification(doc: &mut Doc, text: &str) {
    if let Some(line) = doc.lines.last_mut()
        && let Some(c) = line.classifications.last_mut()
        && c.code.is_empty()
    {
        c.code = text.to_owned();
    }
}

/// Stores the price discount (`amount`, BT-147) or the indicator of the last line's price
/// allowance (the first of each).
pub(crate) fn set_price_allowance(doc: &mut Doc, amount: bool, text: &str) {
    if let Some(line) = doc.lines.last_mut() {
        if amount {
            if !line.price_discount.present() {
                line.price_discount = Num::parse(text);
            }
        } else {
            set_first(&mut line.price_allowance_indicator, text);
        }
    }
}

/// Opens an allowance or charge of the last invoice line.
pub(crate) fn open_line_allowance_charge(doc: &mut Doc, offset: usize) {
    let line = doc.lines.len().saturating_sub(1);
    doc.line_allowance_charges.push(LineAllowanceChargeData {
        line,
        offset,
        ..LineAllowanceChargeData::default()
    });
}

/// Stores the charge indicator of the line allowance/charge being read (the first one).
pub(crate) fn set_line_allowance_indicator(doc: &mut Doc, text: &str) {
    if let Some(a) = doc.line_allowance_charges.last_mut() {
        set_first(&mut a.indicator, text);
    }
}

/// Files the VAT category of an allowance/charge below a line: among the distinct ones the
/// VAT category rules count, and, for the line's own group (`own`), with that group.
pub(crate) fn end_line_allowance_tax(doc: &mut Doc, category: TaxCategoryData, own: bool) {
    if own
        && let Some(a) = doc.line_allowance_charges.last_mut()
        && push_tax(&mut a.taxes)
        && let Some(slot) = a.taxes.last_mut()
    {
        *slot = category.clone();
    }
    doc.note_line_allowance_category(category);
}

/// Files a document level allowance (indicator false) or charge (true); an element without a
/// valid indicator is remembered so the allowance/charge sums are not checked.
pub(crate) fn push_allowance_charge(
    doc: &mut Doc,
    indicator: Option<&str>,
    amount: Option<&str>,
    mut detail: AllowanceChargeData,
) {
    detail.indicator = indicator.map(str::to_owned);
    let indicator = indicator.and_then(parse_bool);
    let amount = match amount {
        None => Num::Absent,
        Some(text) => doc.amount(text, |_| match indicator {
            Some(true) => "a document level charge amount (BT-99)".into(),
            Some(false) => "a document level allowance amount (BT-92)".into(),
            None => "a document level allowance or charge amount".into(),
        }),
    };
    detail.amount = amount;
    doc.allowance_charges.push(detail);
    match indicator {
        Some(true) => doc.charges.push(amount),
        Some(false) => doc.allowances.push(amount),
        // In neither sum, as in the official contexts; `rules::syntax` refuses it.
        None => {}
    }
}
