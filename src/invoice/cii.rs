//! UN/CEFACT CII D16B (EN 16931, Factur-X, ZUGFeRD 2.x, XRechnung) and ZUGFeRD 1.0 field
//! extraction, as a [`Handler`] of the streaming pass.
//!
//! ZUGFeRD 1.0 element names are mapped onto their D16B equivalents by `xml::Tag::intern`, so
//! the same paths serve both vocabularies (ZUGFeRD 1.0 writes the order reference as `ID`).
//! Pure; fills the [`Doc`] model.

use super::attachment;
use super::model::{
    AddressData, AllowanceChargeData, AttachmentData, Doc, Ident, LineData, Num, PaymentMeansData,
    PeriodData, TaxCategoryData, TaxTotalData, TotalsData, VatBreakdownData, push_tax, set_first,
};
use super::ubl::{
    AddressField, GroupValue, LineField, PendingProperty, Role, TaxField, TotalField,
    add_card_number, end_item_property, end_line_allowance_tax, open_classification,
    open_line_allowance_charge, open_line_tax, push_allowance_charge, set_address,
    set_classification, set_contact, set_gross_price, set_line_allowance_indicator,
    set_line_amount, set_line_field, set_line_group_value, set_period_date, set_price_allowance,
    set_tax, set_total,
};
use super::xml::{Attrs, Capture, Handler, Tag as T};

/// A field of a CII trade party.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PartyField {
    /// See `ubl::PartyField::Contact`.
    Contact(u8),
    Identifier,
    /// `ID` (not `GlobalID`).
    LocalIdentifier,
    Name,
    LegalId,
    Address(AddressField),
    Endpoint,
    TaxRegistration,
}

/// What an element recognised by [`Cii::start`] fills in at its end.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Field {
    /// The debited account's `IBANID` (BT-91), for XRechnung's BR-DE-20.
    PayerAccount,
    /// The payment terms' text (BT-20), for XRechnung's Skonto syntax (BR-DE-18).
    PaymentTermsText,
    CustomizationId,
    ProfileId,
    Number,
    TypeCode,
    IssueDate,
    DueDate,
    LineAmount,
    BuyerReference,
    Party(Role, PartyField),
    OrderReference,
    AttachmentId,
    AttachmentObject,
    AttachmentUri,
    Currency,
    TaxCurrency,
    PaymentMeansCode,
    PaymentAccount,
    VatBreakdownAmount,
    AllowanceChargeEnd,
    ChargeIndicator,
    AllowanceChargeAmount,
    Total(TotalField),
    TaxTotalAmount,
    Line(LineField),
    AllowanceChargeTax(TaxField),
    BreakdownTaxable,
    BreakdownTax(TaxField),
    LineAllowanceTax(TaxField),
    /// See `ubl::Field::LineAllowanceTaxEnd`.
    LineAllowanceTaxEnd(bool),
    LineAllowanceIndicator,
    /// See `ubl::Field::PeriodDate`; CII's is a `DateTimeString`, kept with format 102 only.
    PeriodDate {
        line: bool,
        end: bool,
    },
    ActualDeliveryDate,
    DeliveryAddress(AddressField),
    CardNumber,
    GrossPrice,
    BillingReferenceId,
    /// The end of an item attribute (`ApplicableProductCharacteristic`).
    PropertyEnd,
    /// A line allowance/charge's `ActualAmount`.
    LineAllowanceAmount,
    /// A document level allowance/charge's `BasisAmount` or `CalculationPercent`.
    GroupValue(GroupValue),
    /// A line allowance/charge's `BasisAmount` or `CalculationPercent`.
    LineGroupValue(GroupValue),
    /// The gross price's `AppliedTradeAllowanceCharge`: its `ActualAmount` (`true`, BT-147)
    /// or its indicator.
    PriceAllowance(bool),
    /// A price's `BasisQuantity` (BT-149): the gross price's (`true`) or the net price's.
    BasisQuantity(bool),
    /// A line document reference's `TypeCode`.
    LineReferenceType,
    /// A line's `AdditionalReferencedDocument`: its `IssuerAssignedID`, its end (BR-52).
    LineReferenceId,
    LineReferenceEnd,
    /// See `ubl::Field::PropertyPart` (CII: `Description` or `Value`).
    PropertyPart(bool),
    /// A `ClassCode`.
    Classification,
    /// `ContractReferencedDocument/IssuerAssignedID` (BT-12).
    ContractReference,
    /// A header additional document's `TypeCode`.
    AttachmentType,
}

/// The CII / ZUGFeRD 1.0 extractor.
#[derive(Debug, Default)]
pub(crate) struct Cii {
    pub(crate) doc: Doc,
    /// ZUGFeRD 1.0: the EN 16931 binding's cardinality rules (`CII-SR-*`) do not apply.
    pub(crate) zugferd1: bool,
    /// `schemeID`, `currencyID` or `format` of the leaf element being read.
    attr: Option<String>,
    mime_code: Option<String>,
    filename: Option<String>,
    indicator: Option<String>,
    amount: Option<String>,
    /// The reasons and VAT categories of the allowance/charge being read.
    allowance_charge: AllowanceChargeData,
    /// Its last `CategoryTradeTax` opened is kept (see [`push_tax`]).
    allowance_charge_tax_kept: bool,
    /// The last line `ApplicableTradeTax` opened is kept.
    line_tax_kept: bool,
    /// The line's `AdditionalReferencedDocument` being read has a non-blank `IssuerAssignedID`.
    line_reference_id: bool,
    /// A `CategoryTradeTax` of an allowance/charge below a line, being read.
    line_allowance_tax: TaxCategoryData,
    /// The item attribute being read has a description (its name), a value.
    property: PendingProperty,
}

/// `[TypeCode]`, `[CategoryCode]`, `[RateApplicablePercent]` below a CII trade tax.
fn tax_field(rest: &[T]) -> Option<TaxField> {
    Some(match rest {
        [T::TypeCode] => TaxField::Scheme,
        [T::CategoryCode] => TaxField::Code,
        [T::RateApplicablePercent] => TaxField::Percent,
        _ => return None,
    })
}

impl Cii {
    fn party(&mut self, role: Role, rest: &[T], attrs: &Attrs<'_, '_>) -> Option<(Field, Capture)> {
        let party = self.doc.party_mut(role);
        let field = match rest {
            [] => {
                party.present = true;
                return None;
            }
            [T::ID] => {
                self.attr = None;
                PartyField::LocalIdentifier
            }
            [T::GlobalID] => {
                self.attr = attrs.get(b"schemeID");
                PartyField::Identifier
            }
            [T::Name] => PartyField::Name,
            [T::SpecifiedLegalOrganization] => {
                party.legal_entities += 1;
                return None;
            }
            [T::SpecifiedLegalOrganization, T::ID] => {
                self.attr = attrs.get(b"schemeID");
                PartyField::LegalId
            }
            [T::PostalTradeAddress] => {
                party.addresses.push(AddressData::default());
                return None;
            }
            [T::PostalTradeAddress, rest @ ..] => PartyField::Address(address_field(rest)?),
            [T::URIUniversalCommunication] => {
                party.endpoint_element = true;
                return None;
            }
            [T::URIUniversalCommunication, T::URIID] => {
                self.attr = attrs.get(b"schemeID");
                PartyField::Endpoint
            }
            [T::SpecifiedTaxRegistration, T::ID] => {
                self.attr = attrs.get(b"schemeID");
                PartyField::TaxRegistration
            }
            [T::DefinedTradeContact] => {
                party.contact = true;
                return None;
            }
            [T::DefinedTradeContact, T::PersonName | T::DepartmentName] => PartyField::Contact(0),
            [
                T::DefinedTradeContact,
                T::TelephoneUniversalCommunication,
                T::CompleteNumber,
            ] => PartyField::Contact(1),
            [
                T::DefinedTradeContact,
                T::EmailURIUniversalCommunication,
                T::URIID,
            ] => PartyField::Contact(2),
            _ => return None,
        };
        Some((Field::Party(role, field), Capture::Text))
    }

    fn end_party(&mut self, role: Role, field: PartyField, text: &str) {
        let attr = self.attr.take();
        let party = self.doc.party_mut(role);
        match field {
            PartyField::Contact(part) => set_contact(party, part, text),
            PartyField::LocalIdentifier => {
                party.local_ids.push(text.to_owned());
                party.identifiers.push(Ident {
                    value: text.to_owned(),
                    scheme: attr,
                });
            }
            PartyField::Identifier => {
                party.identifiers.push(Ident {
                    value: text.to_owned(),
                    scheme: attr,
                });
            }
            PartyField::Name => {
                set_first(&mut party.registration_name, text);
                set_first(&mut party.trading_name, text);
            }
            PartyField::LegalId => {
                party.legal_ids.push(Ident {
                    value: text.to_owned(),
                    scheme: attr,
                });
            }
            PartyField::Address(f) => {
                if let Some(a) = party.addresses.last_mut() {
                    set_address(a, f, text);
                }
            }
            PartyField::Endpoint => {
                if party.endpoint.is_none() {
                    party.endpoint = Some(Ident {
                        value: text.to_owned(),
                        scheme: attr,
                    });
                }
            }
            PartyField::TaxRegistration => {
                // `ram:ID[@schemeID = 'VA']`: the attribute as written.
                if attr.as_deref() == Some("VA") {
                    party.vat_ids.push(text.to_owned());
                } else {
                    party.tax_registrations.push(Ident {
                        value: text.to_owned(),
                        scheme: attr,
                    });
                }
            }
        }
    }

    /// Elements below `IncludedSupplyChainTradeLineItem`.
    fn line(&mut self, rest: &[T], attrs: &Attrs<'_, '_>) -> Option<(Field, Capture)> {
        let field = match rest {
            [
                T::SpecifiedLineTradeSettlement,
                T::SpecifiedTradeSettlementLineMonetarySummation
                | T::SpecifiedTradeSettlementHeaderMonetarySummation,
                T::LineTotalAmount,
            ] => Field::LineAmount,
            [T::AssociatedDocumentLineDocument, T::LineID] => Field::Line(LineField::Id),
            [T::SpecifiedLineTradeDelivery, T::BilledQuantity] => {
                let unit_code = attrs.get(b"unitCode");
                if let Some(line) = self.doc.lines.last_mut() {
                    line.quantity = true;
                    line.unit_code |= unit_code.is_some();
                    if line.quantity_unit.is_none() {
                        line.quantity_unit = unit_code;
                    }
                }
                Field::Line(LineField::Quantity)
            }
            [
                T::SpecifiedLineTradeAgreement,
                price @ (T::GrossPriceProductTradePrice | T::NetPriceProductTradePrice),
                T::BasisQuantity,
            ] => {
                let gross = *price == T::GrossPriceProductTradePrice;
                let unit = attrs.get(b"unitCode");
                if let Some(line) = self.doc.lines.last_mut() {
                    let slot = if gross {
                        &mut line.gross_base_quantity_unit
                    } else {
                        &mut line.base_quantity_unit
                    };
                    if slot.is_none() {
                        *slot = unit;
                    }
                }
                Field::BasisQuantity(gross)
            }
            [
                T::SpecifiedLineTradeAgreement,
                T::GrossPriceProductTradePrice,
                T::AppliedTradeAllowanceCharge,
            ] => {
                if let Some(line) = self.doc.lines.last_mut() {
                    line.price_allowance = true;
                }
                return None;
            }
            [
                T::SpecifiedLineTradeAgreement,
                T::GrossPriceProductTradePrice,
                T::AppliedTradeAllowanceCharge,
                T::ActualAmount,
            ] => Field::PriceAllowance(true),
            [
                T::SpecifiedLineTradeAgreement,
                T::GrossPriceProductTradePrice,
                T::AppliedTradeAllowanceCharge,
                T::ChargeIndicator,
                T::Indicator,
            ] => Field::PriceAllowance(false),
            [
                T::SpecifiedLineTradeSettlement,
                T::AdditionalReferencedDocument,
            ] => {
                if let Some(line) = self.doc.lines.last_mut() {
                    line.document_references += 1;
                }
                self.line_reference_id = false;
                return Some((Field::LineReferenceEnd, Capture::Nothing));
            }
            [
                T::SpecifiedLineTradeSettlement,
                T::AdditionalReferencedDocument,
                T::IssuerAssignedID,
            ] => Field::LineReferenceId,
            [
                T::SpecifiedLineTradeSettlement,
                T::AdditionalReferencedDocument,
                T::TypeCode,
            ] => Field::LineReferenceType,
            [
                T::SpecifiedLineTradeSettlement,
                T::SpecifiedTradeAllowanceCharge,
                part @ (T::CalculationPercent | T::BasisAmount),
            ] => Field::LineGroupValue(if *part == T::BasisAmount {
                GroupValue::Base
            } else {
                GroupValue::Multiplier
            }),
            [T::SpecifiedTradeProduct, T::Name] => Field::Line(LineField::ItemName),
            [
                T::SpecifiedLineTradeAgreement,
                T::BuyerOrderReferencedDocument,
                T::LineID,
            ] => {
                self.doc.order_line_reference = true;
                return None;
            }
            [T::SpecifiedTradeProduct, T::GlobalID] => {
                let scheme = attrs.get(b"schemeID");
                let unschemed = scheme.as_deref().is_none_or(|s| s.trim().is_empty());
                if let Some(line) = self.doc.lines.last_mut() {
                    line.standard_id_without_scheme |= unschemed;
                    line.global_id_without_scheme_attribute |= scheme.is_none();
                }
                return None;
            }
            [
                T::SpecifiedTradeProduct,
                T::DesignatedProductClassification,
                T::ClassCode,
            ] => {
                let list = attrs.get(b"listID");
                let unlisted = list.as_deref().is_none_or(|s| s.trim().is_empty());
                if let Some(line) = self.doc.lines.last_mut() {
                    line.classification_without_list |= unlisted;
                    open_classification(line, list, attrs.get(b"listVersionID"));
                }
                Field::Classification
            }
            [T::SpecifiedTradeProduct, T::ApplicableProductCharacteristic] => {
                self.property = PendingProperty::default();
                return Some((Field::PropertyEnd, Capture::Nothing));
            }
            [
                T::SpecifiedTradeProduct,
                T::ApplicableProductCharacteristic,
                part @ (T::Description | T::Value),
            ] => Field::PropertyPart(*part == T::Description),
            [
                T::SpecifiedLineTradeAgreement,
                T::GrossPriceProductTradePrice,
                T::ChargeAmount,
            ] => Field::GrossPrice,
            [T::SpecifiedLineTradeSettlement, T::BillingSpecifiedPeriod] => {
                let line = self.doc.lines.len().saturating_sub(1);
                self.doc.line_periods.push(PeriodData {
                    line,
                    offset: attrs.offset(),
                    ..PeriodData::default()
                });
                return None;
            }
            [
                T::SpecifiedLineTradeSettlement,
                T::BillingSpecifiedPeriod,
                rest @ ..,
            ] => return self.period(true, rest, attrs),
            [
                T::SpecifiedLineTradeAgreement,
                T::NetPriceProductTradePrice,
                T::ChargeAmount,
            ] => Field::Line(LineField::Price),
            [T::SpecifiedLineTradeSettlement, T::ApplicableTradeTax] => {
                self.line_tax_kept = open_line_tax(&mut self.doc);
                return None;
            }
            [
                T::SpecifiedLineTradeSettlement,
                T::ApplicableTradeTax,
                rest @ ..,
            ] if self.line_tax_kept => Field::Line(LineField::Tax(tax_field(rest)?)),
            [
                T::SpecifiedLineTradeSettlement,
                T::SpecifiedTradeAllowanceCharge,
            ] => {
                open_line_allowance_charge(&mut self.doc, attrs.offset());
                return None;
            }
            [
                T::SpecifiedLineTradeSettlement,
                T::SpecifiedTradeAllowanceCharge,
                T::ChargeIndicator,
                T::Indicator,
            ] => Field::LineAllowanceIndicator,
            [
                T::SpecifiedLineTradeSettlement,
                T::SpecifiedTradeAllowanceCharge,
                T::ChargeIndicator,
            ] => {
                if let Some(a) = self.doc.line_allowance_charges.last_mut() {
                    a.indicator_element = true;
                }
                return None;
            }
            [
                T::SpecifiedLineTradeSettlement,
                T::SpecifiedTradeAllowanceCharge,
                T::ActualAmount,
            ] => Field::LineAllowanceAmount,
            [
                T::SpecifiedLineTradeSettlement,
                T::SpecifiedTradeAllowanceCharge,
                flag @ (T::Reason | T::ReasonCode),
            ] => {
                if let Some(a) = self.doc.line_allowance_charges.last_mut() {
                    if *flag == T::Reason {
                        a.reason = true;
                    } else {
                        a.reason_code = true;
                    }
                }
                return None;
            }
            [.., T::SpecifiedTradeAllowanceCharge, T::CategoryTradeTax] => {
                self.line_allowance_tax = TaxCategoryData::default();
                let own = matches!(rest, [T::SpecifiedLineTradeSettlement, _, _]);
                return Some((Field::LineAllowanceTaxEnd(own), Capture::Nothing));
            }
            [
                ..,
                T::SpecifiedTradeAllowanceCharge,
                T::CategoryTradeTax,
                last,
            ] => Field::LineAllowanceTax(tax_field(&[*last])?),
            _ => return None,
        };
        Some((field, Capture::Text))
    }

    /// Below a `BillingSpecifiedPeriod` (the last line's, or the document's).
    fn period(
        &mut self,
        line: bool,
        rest: &[T],
        attrs: &Attrs<'_, '_>,
    ) -> Option<(Field, Capture)> {
        let doc = &mut self.doc;
        let period = if line {
            doc.line_periods.last_mut()
        } else {
            doc.periods.last_mut()
        }?;
        period.any_child = true;
        match rest {
            [T::StartDateTime] => period.has_start = true,
            [T::EndDateTime] => period.has_end = true,
            // `DateTimeString[@format = '102']`: the attribute as written.
            [
                edge @ (T::StartDateTime | T::EndDateTime),
                T::DateTimeString,
            ] if attrs.get(b"format").as_deref() == Some("102") => {
                let end = *edge == T::EndDateTime;
                return Some((Field::PeriodDate { line, end }, Capture::Text));
            }
            _ => {}
        }
        None
    }

    fn agreement(&mut self, rest: &[T], attrs: &Attrs<'_, '_>) -> Option<(Field, Capture)> {
        let field = match rest {
            [T::BuyerReference] => Field::BuyerReference,
            [T::SellerTradeParty, rest @ ..] => return self.party(Role::Seller, rest, attrs),
            [T::BuyerTradeParty, rest @ ..] => return self.party(Role::Buyer, rest, attrs),
            [T::SellerTaxRepresentativeTradeParty, rest @ ..] => {
                return self.party(Role::TaxRepresentative, rest, attrs);
            }
            [T::BuyerOrderReferencedDocument, T::IssuerAssignedID | T::ID] => Field::OrderReference,
            [T::AdditionalReferencedDocument] => {
                self.doc.attachments.push(AttachmentData::default());
                return None;
            }
            [T::AdditionalReferencedDocument, T::IssuerAssignedID] => Field::AttachmentId,
            [T::AdditionalReferencedDocument, T::URIID] => Field::AttachmentUri,
            [T::AdditionalReferencedDocument, T::TypeCode] => Field::AttachmentType,
            [T::ContractReferencedDocument, T::IssuerAssignedID] => Field::ContractReference,
            [T::AdditionalReferencedDocument, T::AttachmentBinaryObject] => {
                self.mime_code = attrs.get(b"mimeCode");
                self.doc.binary_without_mime |= self.mime_code.is_none();
                self.filename = attrs.get(b"filename");
                return Some((Field::AttachmentObject, Capture::Binary));
            }
            _ => return None,
        };
        Some((field, Capture::Text))
    }

    fn settlement(&mut self, rest: &[T], attrs: &Attrs<'_, '_>) -> Option<(Field, Capture)> {
        let field = match rest {
            [T::InvoiceCurrencyCode] => Field::Currency,
            [T::TaxCurrencyCode] => Field::TaxCurrency,
            [T::SpecifiedTradePaymentTerms, T::DirectDebitMandateID] => {
                self.doc.direct_debit.mandate = true;
                return None;
            }
            [T::CreditorReferenceID] => {
                self.doc.direct_debit.creditor = true;
                return None;
            }
            [
                T::SpecifiedTradeSettlementPaymentMeans,
                T::PayerPartyDebtorFinancialAccount,
                T::IBANID,
            ] => {
                if let Some(p) = self.doc.payment_means.last_mut() {
                    p.payer_account = true;
                }
                Field::PayerAccount
            }
            [
                T::SpecifiedTradeSettlementPaymentMeans,
                T::PayeeSpecifiedCreditorFinancialInstitution
                | T::PayerSpecifiedDebtorFinancialInstitution,
            ] => {
                if let Some(p) = self.doc.payment_means.last_mut() {
                    p.institution = true;
                }
                return None;
            }
            [T::SpecifiedTradeSettlementPaymentMeans] => {
                self.doc.payment_means.push(PaymentMeansData {
                    offset: attrs.offset(),
                    ..PaymentMeansData::default()
                });
                return None;
            }
            [
                T::SpecifiedTradeSettlementPaymentMeans,
                T::PayeePartyCreditorFinancialAccount,
            ] => {
                if let Some(p) = self.doc.payment_means.last_mut() {
                    p.account_element = true;
                }
                return None;
            }
            [
                T::SpecifiedTradeSettlementPaymentMeans,
                T::ApplicableTradeSettlementFinancialCard,
                T::ID,
            ] => Field::CardNumber,
            [
                T::SpecifiedTradeSettlementPaymentMeans,
                T::ApplicableTradeSettlementFinancialCard,
            ] => {
                if let Some(p) = self.doc.payment_means.last_mut() {
                    p.card_element = true;
                }
                return None;
            }
            [T::PayeeTradeParty, rest @ ..] => return self.party(Role::Payee, rest, attrs),
            [T::BillingSpecifiedPeriod] => {
                self.doc.periods.push(PeriodData {
                    offset: attrs.offset(),
                    ..PeriodData::default()
                });
                return None;
            }
            [T::BillingSpecifiedPeriod, rest @ ..] => return self.period(false, rest, attrs),
            [T::InvoiceReferencedDocument] => {
                self.doc.billing_references.push(false);
                self.doc.invoice_reference_element = true;
                return None;
            }
            [T::SpecifiedTradeSettlementPaymentMeans, T::TypeCode] => Field::PaymentMeansCode,
            [
                T::SpecifiedTradeSettlementPaymentMeans,
                T::PayeePartyCreditorFinancialAccount,
                id @ (T::IBANID | T::ProprietaryID),
            ] => {
                if let Some(p) = self.doc.payment_means.last_mut() {
                    if *id == T::IBANID {
                        p.iban = true;
                    } else {
                        p.proprietary = true;
                    }
                }
                Field::PaymentAccount
            }
            [T::SpecifiedTradePaymentTerms, T::Description] => {
                self.doc.payment_terms_note = true;
                Field::PaymentTermsText
            }
            [T::SpecifiedTradePaymentTerms, T::DueDateDateTime] => {
                self.doc.due_date_element = true;
                return None;
            }
            [T::ApplicableTradeTax] => {
                self.doc.vat_breakdown.push(VatBreakdownData {
                    offset: attrs.offset(),
                    ..VatBreakdownData::default()
                });
                return None;
            }
            [T::ApplicableTradeTax, T::CalculatedAmount] => Field::VatBreakdownAmount,
            [T::ApplicableTradeTax, T::BasisAmount] => Field::BreakdownTaxable,
            [T::ApplicableTradeTax, T::ExemptionReason] => {
                if let Some(b) = self.doc.vat_breakdown.last_mut() {
                    b.exemption_reason = true;
                }
                return None;
            }
            [T::ApplicableTradeTax, T::ExemptionReasonCode] => {
                if let Some(b) = self.doc.vat_breakdown.last_mut() {
                    b.exemption_code = true;
                }
                return None;
            }
            [T::ApplicableTradeTax, rest @ ..] => Field::BreakdownTax(tax_field(rest)?),
            [T::SpecifiedTradeAllowanceCharge] => {
                self.indicator = None;
                self.amount = None;
                self.allowance_charge = AllowanceChargeData {
                    offset: attrs.offset(),
                    ..AllowanceChargeData::default()
                };
                return Some((Field::AllowanceChargeEnd, Capture::Nothing));
            }
            [T::SpecifiedTradeAllowanceCharge, T::Reason] => {
                self.allowance_charge.reason = true;
                self.allowance_charge.reasons += 1;
                return None;
            }
            [T::SpecifiedTradeAllowanceCharge, T::ChargeIndicator] => {
                self.allowance_charge.indicator_element = true;
                return None;
            }
            [T::SpecifiedTradeAllowanceCharge, T::ReasonCode] => {
                self.allowance_charge.reason_code = true;
                return None;
            }
            [T::SpecifiedTradeAllowanceCharge, T::CategoryTradeTax] => {
                self.allowance_charge_tax_kept = push_tax(&mut self.allowance_charge.taxes);
                return None;
            }
            [
                T::SpecifiedTradeAllowanceCharge,
                T::CategoryTradeTax,
                rest @ ..,
            ] if self.allowance_charge_tax_kept => Field::AllowanceChargeTax(tax_field(rest)?),
            [
                T::SpecifiedTradeAllowanceCharge,
                T::ChargeIndicator,
                T::Indicator,
            ] => Field::ChargeIndicator,
            [T::SpecifiedTradeAllowanceCharge, T::ActualAmount] => Field::AllowanceChargeAmount,
            [
                T::SpecifiedTradeAllowanceCharge,
                part @ (T::CalculationPercent | T::BasisAmount),
            ] => Field::GroupValue(if *part == T::BasisAmount {
                GroupValue::Base
            } else {
                GroupValue::Multiplier
            }),
            [
                T::SpecifiedTradePaymentTerms,
                T::DueDateDateTime,
                T::DateTimeString,
            ] => Field::DueDate,
            [T::SpecifiedTradeSettlementHeaderMonetarySummation] => {
                self.doc.totals.get_or_insert_with(TotalsData::default);
                return None;
            }
            [
                T::SpecifiedTradeSettlementHeaderMonetarySummation,
                T::TaxTotalAmount,
            ] => {
                self.attr = attrs.get(b"currencyID");
                Field::TaxTotalAmount
            }
            [T::SpecifiedTradeSettlementHeaderMonetarySummation, t] => Field::Total(match t {
                T::LineTotalAmount => TotalField::LineExtension,
                T::TaxBasisTotalAmount => TotalField::TaxExclusive,
                T::GrandTotalAmount => TotalField::TaxInclusive,
                T::AllowanceTotalAmount => TotalField::AllowanceTotal,
                T::ChargeTotalAmount => TotalField::ChargeTotal,
                T::TotalPrepaidAmount => TotalField::Prepaid,
                T::RoundingAmount => TotalField::Rounding,
                T::DuePayableAmount => TotalField::Payable,
                _ => return None,
            }),
            [T::InvoiceReferencedDocument, T::IssuerAssignedID] => {
                self.doc.preceding_invoice = true;
                Field::BillingReferenceId
            }
            _ => return None,
        };
        Some((field, Capture::Text))
    }
}

/// `[LineOne]`, `[CityName]`, `[PostcodeCode]`, `[CountryID]`.
fn address_field(rest: &[T]) -> Option<AddressField> {
    Some(match rest {
        [T::LineOne] => AddressField::Street,
        [T::CityName] => AddressField::City,
        [T::PostcodeCode] => AddressField::PostalZone,
        [T::CountryID] => AddressField::Country,
        _ => return None,
    })
}

use super::ubl::XSD_ONCE;

/// Singular elements of a D16B `TradePartyType` the model reads (`rest` below the party), and
/// the EN 16931 binding's rules for the ones D16B lets repeat (`seller_rules`/`buyer_rules`:
/// `DefinedTradeContact`, `URIUniversalCommunication`).
fn party_singular(
    rest: &[T],
    binding: Option<(&'static str, &'static str)>,
) -> Option<&'static str> {
    match rest {
        []
        | [T::Name | T::SpecifiedLegalOrganization | T::PostalTradeAddress]
        | [T::SpecifiedLegalOrganization, T::ID]
        | [
            T::PostalTradeAddress,
            T::LineOne | T::CityName | T::PostcodeCode | T::CountryID,
        ]
        | [T::URIUniversalCommunication, T::URIID]
        | [T::SpecifiedTaxRegistration, T::ID] => Some(XSD_ONCE),
        [T::DefinedTradeContact] => binding.map(|(contact, _)| contact),
        [T::URIUniversalCommunication] => binding.map(|(_, uri)| uri),
        _ => None,
    }
}

impl Cii {
    /// Singular elements below `ApplicableHeaderTradeAgreement`.
    fn agreement_singular(&self, rest: &[T]) -> Option<&'static str> {
        let binding = |seller: bool| {
            // CII-SR-455/456: DefinedTradeContact, CII-SR-459/460: URIUniversalCommunication.
            (!self.zugferd1).then_some(if seller {
                ("CII-SR-455", "CII-SR-459")
            } else {
                ("CII-SR-456", "CII-SR-460")
            })
        };
        match rest {
            [
                T::BuyerReference
                | T::SellerTradeParty
                | T::BuyerTradeParty
                | T::SellerTaxRepresentativeTradeParty
                | T::BuyerOrderReferencedDocument,
            ] => Some(XSD_ONCE),
            [T::BuyerOrderReferencedDocument, T::IssuerAssignedID]
            | [
                T::AdditionalReferencedDocument,
                T::IssuerAssignedID | T::URIID,
            ] => Some(XSD_ONCE),
            [T::SellerTradeParty, rest @ ..] => party_singular(rest, binding(true)),
            [T::BuyerTradeParty, rest @ ..] => party_singular(rest, binding(false)),
            [T::SellerTaxRepresentativeTradeParty, rest @ ..] => party_singular(rest, None),
            _ => None,
        }
    }

    /// Singular elements below `ApplicableHeaderTradeSettlement`.
    fn settlement_singular(&self, rest: &[T]) -> Option<&'static str> {
        let en16931 = |rule: &'static str| (!self.zugferd1).then_some(rule);
        match rest {
            [
                T::InvoiceCurrencyCode
                | T::TaxCurrencyCode
                | T::SpecifiedTradeSettlementHeaderMonetarySummation,
            ] => Some(XSD_ONCE),
            // D16B lets it repeat; the EN 16931 binding does not.
            [T::PaymentReference] => en16931("CII-SR-469"),
            [
                T::SpecifiedTradeSettlementPaymentMeans,
                T::TypeCode | T::PayeePartyCreditorFinancialAccount,
            ]
            | [
                T::SpecifiedTradeSettlementPaymentMeans,
                T::PayeePartyCreditorFinancialAccount,
                T::IBANID | T::ProprietaryID,
            ]
            | [T::SpecifiedTradeAllowanceCharge, T::ChargeIndicator]
            | [
                T::SpecifiedTradeAllowanceCharge,
                T::ChargeIndicator,
                T::Indicator,
            ]
            | [T::SpecifiedTradePaymentTerms, T::DueDateDateTime]
            | [
                T::SpecifiedTradePaymentTerms,
                T::DueDateDateTime,
                T::DateTimeString,
            ] => Some(XSD_ONCE),
            // D16B lets these repeat (one per currency); the EN 16931 binding does not.
            [T::SpecifiedTradeAllowanceCharge, T::ActualAmount] => en16931("CII-SR-473"),
            [T::SpecifiedTradeSettlementHeaderMonetarySummation, t] => en16931(match t {
                T::LineTotalAmount => "CII-SR-477",
                T::ChargeTotalAmount => "CII-SR-478",
                T::AllowanceTotalAmount => "CII-SR-479",
                T::TaxBasisTotalAmount => "CII-SR-480",
                T::RoundingAmount => "CII-SR-481",
                T::GrandTotalAmount => "CII-SR-482",
                T::TotalPrepaidAmount => "CII-SR-484",
                T::DuePayableAmount => "CII-SR-487",
                _ => return None,
            }),
            _ => None,
        }
    }
}

impl Handler for Cii {
    type Field = Field;

    /// The elements the model reads that CII D16B allows at most once in their parent, and
    /// those the EN 16931 CII binding limits to one (`CII-SR-*`).
    fn singular(&self, path: &[T]) -> Option<&'static str> {
        match path {
            [
                T::ExchangedDocumentContext | T::ExchangedDocument | T::SupplyChainTradeTransaction,
            ]
            | [T::ExchangedDocument, T::ID | T::TypeCode | T::IssueDateTime]
            | [T::ExchangedDocument, T::IssueDateTime, T::DateTimeString]
            | [
                T::ExchangedDocumentContext,
                T::GuidelineSpecifiedDocumentContextParameter
                | T::BusinessProcessSpecifiedDocumentContextParameter,
                T::ID,
            ]
            | [
                T::SupplyChainTradeTransaction,
                T::ApplicableHeaderTradeAgreement | T::ApplicableHeaderTradeSettlement,
            ]
            | [
                T::SupplyChainTradeTransaction,
                T::IncludedSupplyChainTradeLineItem,
                T::SpecifiedLineTradeSettlement,
            ] => Some(XSD_ONCE),
            [
                T::SupplyChainTradeTransaction,
                T::ApplicableHeaderTradeAgreement,
                rest @ ..,
            ] => self.agreement_singular(rest),
            [
                T::SupplyChainTradeTransaction,
                T::ApplicableHeaderTradeSettlement,
                rest @ ..,
            ] => self.settlement_singular(rest),
            // CII-SR-473's context is every `SpecifiedTradeAllowanceCharge`, a line's too.
            [
                T::SupplyChainTradeTransaction,
                T::IncludedSupplyChainTradeLineItem,
                T::SpecifiedLineTradeSettlement,
                T::SpecifiedTradeAllowanceCharge,
                T::ActualAmount,
            ] => (!self.zugferd1).then_some("CII-SR-473"),
            _ => None,
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

    /// The decimals rules (BR-DEC-*), as `invoice::decimals` places them.
    fn amount_text(&mut self, path: &[T], text: &str) {
        let digits = super::decimals::fraction_digits(text);
        // BR-DEC-01/02/05/06 and 24/25/27/28: decided with the group's indicator, later.
        match path {
            [
                T::SupplyChainTradeTransaction,
                T::ApplicableHeaderTradeSettlement,
                T::SpecifiedTradeAllowanceCharge,
                t @ (T::ActualAmount | T::BasisAmount),
            ] => {
                let base = *t == T::BasisAmount;
                self.allowance_charge.decimals.note(base, digits);
            }
            [
                T::SupplyChainTradeTransaction,
                T::IncludedSupplyChainTradeLineItem,
                T::SpecifiedLineTradeSettlement,
                T::SpecifiedTradeAllowanceCharge,
                t @ (T::ActualAmount | T::BasisAmount),
            ] => {
                if let Some(a) = self.doc.line_allowance_charges.last_mut() {
                    a.decimals.note(*t == T::BasisAmount, digits);
                }
            }
            _ => {}
        }
        if digits <= 2 {
            return;
        }
        if let Some(rule) = super::decimals::rule(path, true) {
            self.doc
                .note_long_decimals(rule, || super::xml::path_name("CrossIndustryInvoice", path));
        }
    }

    fn empty_element(&mut self, path: &[T], qname: &[u8]) {
        let root = if self.zugferd1 {
            "CrossIndustryDocument"
        } else {
            "CrossIndustryInvoice"
        };
        self.doc
            .empty_elements
            .note(|| super::xml::location(root, path, qname));
        super::ubl::note_nlcius_empty(
            &mut self.doc,
            super::discouraged::taken_when_empty(super::xml::Family::Cii, false, path),
            || super::xml::location(root, path, qname),
        );
        if qname != b"ram:ApplicableHeaderTradeDelivery" {
            self.doc.empty_elements_but_delivery += 1;
        }
    }

    fn repeated(&mut self, path: &[T], rule: &'static str) {
        let root = if self.zugferd1 {
            "CrossIndustryDocument"
        } else {
            "CrossIndustryInvoice"
        };
        self.doc
            .note_repeated(super::xml::path_name(root, path), rule);
    }

    fn start(&mut self, path: &[T], attrs: &Attrs<'_, '_>) -> Option<(Field, Capture)> {
        if let Some(d) = super::discouraged::check(super::xml::Family::Cii, path, attrs)
            && self.doc.discouraged.len() < super::discouraged::MAX_NOTED
        {
            self.doc.discouraged.push(d);
        }
        // BR-CO-03 asks `//ram:TaxPointDate` and `//ram:DueDateTypeCode`: at any depth.
        match path.last() {
            Some(T::TaxPointDate) => self.doc.tax_point_date = true,
            Some(T::DueDateTypeCode) => self.doc.due_date_type_code = true,
            // BR-DEX-15 asks `//ram:ParentLineID`.
            Some(T::ParentLineID) => self.doc.parent_line_id = true,
            _ => {}
        }
        let field = match path {
            [
                T::ExchangedDocumentContext,
                T::GuidelineSpecifiedDocumentContextParameter,
                T::ID,
            ] => Field::CustomizationId,
            [
                T::ExchangedDocumentContext,
                T::BusinessProcessSpecifiedDocumentContextParameter,
                T::ID,
            ] => Field::ProfileId,
            [T::ExchangedDocument, T::ID] => Field::Number,
            [T::ExchangedDocument, T::TypeCode] => Field::TypeCode,
            [T::ExchangedDocument, T::IssueDateTime, T::DateTimeString] => {
                self.attr = attrs.get(b"format");
                Field::IssueDate
            }
            [
                T::SupplyChainTradeTransaction,
                T::IncludedSupplyChainTradeLineItem,
            ] => {
                self.doc.lines.push(LineData {
                    offset: attrs.offset(),
                    ..LineData::default()
                });
                return None;
            }
            [
                T::SupplyChainTradeTransaction,
                T::IncludedSupplyChainTradeLineItem,
                rest @ ..,
            ] => return self.line(rest, attrs),
            [
                T::SupplyChainTradeTransaction,
                T::ApplicableHeaderTradeAgreement,
                rest @ ..,
            ] => {
                return self.agreement(rest, attrs);
            }
            [
                T::SupplyChainTradeTransaction,
                T::ApplicableHeaderTradeSettlement,
                rest @ ..,
            ] => {
                return self.settlement(rest, attrs);
            }
            [
                T::SupplyChainTradeTransaction,
                T::ApplicableHeaderTradeDelivery,
                T::ShipToTradeParty,
                T::PostalTradeAddress,
            ] => {
                self.doc.delivery_addresses.push(AddressData::default());
                return None;
            }
            [
                T::SupplyChainTradeTransaction,
                T::ApplicableHeaderTradeDelivery,
                T::ShipToTradeParty,
                T::PostalTradeAddress,
                rest @ ..,
            ] => Field::DeliveryAddress(address_field(rest)?),
            [
                T::SupplyChainTradeTransaction,
                T::ApplicableHeaderTradeDelivery,
                T::ActualDeliverySupplyChainEvent,
                T::OccurrenceDateTime,
                T::DateTimeString,
            ] => Field::ActualDeliveryDate,
            _ => return None,
        };
        Some((field, Capture::Text))
    }

    fn end(&mut self, field: Field, text: &str) {
        let doc = &mut self.doc;
        match field {
            Field::CustomizationId => set_first(&mut doc.customization_id, text),
            Field::ProfileId => set_first(&mut doc.profile_id, text),
            Field::Number => set_first(&mut doc.number, text),
            Field::TypeCode => set_first(&mut doc.type_code, text),
            // BR-03 asks for a DateTimeString with format 102 (CCYYMMDD).
            Field::IssueDate => {
                if self.attr.take().as_deref().map(str::trim) == Some("102") {
                    set_first(&mut doc.issue_date, text);
                }
            }
            Field::DueDate => set_first(&mut doc.due_date, text),
            Field::LineAmount => set_line_amount(doc, text),
            Field::BuyerReference => set_first(&mut doc.buyer_reference, text),
            Field::Party(role, f) => self.end_party(role, f, text),
            Field::OrderReference => set_first(&mut doc.order_reference, text),
            Field::AttachmentId => {
                if let Some(a) = doc.attachments.last_mut() {
                    set_first(&mut a.id, text);
                }
            }
            Field::AttachmentUri => {
                if let Some(a) = doc.attachments.last_mut() {
                    set_first(&mut a.uri, text);
                }
            }
            Field::AttachmentObject => {
                let (mime, name) = (self.mime_code.take(), self.filename.take());
                attachment::embedded_object(doc, mime, name, text);
            }
            Field::Currency => set_first(&mut doc.currency, text),
            Field::TaxCurrency => set_first(&mut doc.tax_currency, text),
            Field::PaymentMeansCode => {
                if let Some(p) = doc.payment_means.last_mut() {
                    set_first(&mut p.code, text);
                }
            }
            Field::PaymentAccount => {
                if let Some(p) = doc.payment_means.last_mut() {
                    p.accounts.push(text.to_owned());
                }
            }
            Field::PayerAccount => {
                if let Some(p) = doc.payment_means.last_mut() {
                    set_first(&mut p.payer_account_id, text);
                }
            }
            Field::VatBreakdownAmount => {
                let n = doc.amount(text, |_| "a VAT category tax amount (BT-117)".into());
                doc.vat_breakdown_amounts.push(n);
                if let Some(b) = doc.vat_breakdown.last_mut()
                    && !b.tax.present()
                {
                    b.tax = n;
                }
            }
            Field::Line(f) => set_line_field(doc, f, text, "ChargeAmount"),
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
            Field::BillingReferenceId => {
                if let Some(has_id) = doc.billing_references.last_mut() {
                    *has_id |= !text.trim().is_empty();
                }
            }
            Field::PropertyEnd => end_item_property(doc, std::mem::take(&mut self.property)),
            Field::PropertyPart(name) => self.property.note(name, text),
            Field::Classification => set_classification(doc, text),
            Field::ContractReference => doc.contract_reference |= !text.trim().is_empty(),
            Field::AttachmentType => {
                if let Some(a) = doc.attachments.last_mut() {
                    set_first(&mut a.type_code, text);
                }
            }
            Field::LineAllowanceAmount => set_line_group_value(doc, GroupValue::Amount, text),
            Field::LineGroupValue(v) => set_line_group_value(doc, v, text),
            Field::GroupValue(v) => {
                let slot = match v {
                    GroupValue::Base => &mut self.allowance_charge.base_value,
                    GroupValue::Multiplier => &mut self.allowance_charge.multiplier_value,
                    // (The amount is read as `AllowanceChargeAmount`.)
                    GroupValue::Amount => return,
                };
                if !slot.present() {
                    *slot = Num::parse(text);
                }
            }
            Field::PriceAllowance(amount) => set_price_allowance(doc, amount, text),
            Field::LineReferenceType => {
                if let Some(line) = doc.lines.last_mut() {
                    line.object_reference |= text == "130";
                }
            }
            Field::LineReferenceId => {
                self.line_reference_id |= !text.trim_matches([' ', '\t', '\n', '\r']).is_empty();
            }
            Field::LineReferenceEnd => {
                if !self.line_reference_id
                    && let Some(line) = doc.lines.last_mut()
                {
                    line.reference_without_id = true;
                }
            }
            Field::BasisQuantity(gross) => {
                if let Some(line) = doc.lines.last_mut() {
                    set_first(&mut line.base_quantity_texts[usize::from(gross)], text);
                    let slot = if gross {
                        &mut line.gross_base_quantity
                    } else {
                        &mut line.base_quantity
                    };
                    if !slot.present() {
                        *slot = Num::parse(text);
                    }
                }
            }
            Field::AllowanceChargeTax(f) => {
                if let Some(category) = self.allowance_charge.taxes.last_mut() {
                    set_tax(category, f, text);
                }
            }
            Field::BreakdownTaxable => {
                if doc
                    .vat_breakdown
                    .last()
                    .is_some_and(|b| !b.taxable.present())
                {
                    let n = doc.amount(text, |_| {
                        "a VAT category taxable amount (BT-116, BasisAmount)".into()
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
            Field::ChargeIndicator => set_first(&mut self.indicator, text),
            Field::AllowanceChargeAmount => set_first(&mut self.amount, text),
            Field::AllowanceChargeEnd => {
                let (indicator, amount) = (self.indicator.take(), self.amount.take());
                let detail = std::mem::take(&mut self.allowance_charge);
                push_allowance_charge(doc, indicator.as_deref(), amount.as_deref(), detail);
            }
            Field::Total(f) => set_total(doc, f, text),
            Field::PaymentTermsText => set_first(&mut doc.payment_terms_text, text),
            Field::TaxTotalAmount => {
                let currency = self.attr.take();
                let amount = doc.amount(text, |_| "the invoice total VAT amount (BT-110)".into());
                doc.tax_totals.push(TaxTotalData {
                    amount,
                    currency,
                    has_subtotals: false,
                    subtotal_amounts: Vec::new(),
                });
            }
        }
    }
}
