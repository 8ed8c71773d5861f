//! UN/CEFACT CII D16B (EN 16931, Factur-X, ZUGFeRD 2.x, XRechnung) and ZUGFeRD 1.0 field
//! extraction, as a [`Handler`] of the streaming pass.
//!
//! ZUGFeRD 1.0 element names are mapped onto their D16B equivalents by `xml::Tag::intern`, so
//! the same paths serve both vocabularies (ZUGFeRD 1.0 writes the order reference as `ID`).
//! Pure; fills the [`Doc`] model.

use super::attachment;
use super::model::{
    AddressData, AttachmentData, Doc, Ident, Num, PaymentMeansData, TaxTotalData, TotalsData,
    set_first, set_num,
};
use super::ubl::{AddressField, Role, TotalField, push_allowance_charge, set_address};
use super::xml::{Attrs, Capture, Handler, Tag as T};

/// A field of a CII trade party.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PartyField {
    Identifier,
    Name,
    LegalId,
    Address(AddressField),
    Endpoint,
    TaxRegistration,
}

/// What an element recognised by [`Cii::start`] fills in at its end.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Field {
    CustomizationId,
    ProfileId,
    Number,
    TypeCode,
    IssueDate,
    DueDate,
    LineAmount,
    BuyerReference,
    Party(Role, PartyField),
    TaxRepresentativeAddress(AddressField),
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
}

/// The CII / ZUGFeRD 1.0 extractor.
#[derive(Debug, Default)]
pub(crate) struct Cii {
    pub(crate) doc: Doc,
    /// `schemeID`, `currencyID` or `format` of the leaf element being read.
    attr: Option<String>,
    mime_code: Option<String>,
    filename: Option<String>,
    indicator: Option<String>,
    amount: Option<String>,
}

impl Cii {
    fn party(&mut self, role: Role, rest: &[T], attrs: &Attrs<'_, '_>) -> Option<(Field, Capture)> {
        let party = match role {
            Role::Seller => &mut self.doc.seller,
            Role::Buyer => &mut self.doc.buyer,
        };
        let field = match rest {
            [] => {
                party.present = true;
                return None;
            }
            [T::ID] => {
                self.attr = None;
                PartyField::Identifier
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
            _ => return None,
        };
        Some((Field::Party(role, field), Capture::Text))
    }

    fn end_party(&mut self, role: Role, field: PartyField, text: &str) {
        let attr = self.attr.take();
        let party = match role {
            Role::Seller => &mut self.doc.seller,
            Role::Buyer => &mut self.doc.buyer,
        };
        match field {
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
                if attr.as_deref().is_some_and(|s| s.trim() == "VA") {
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

    fn agreement(&mut self, rest: &[T], attrs: &Attrs<'_, '_>) -> Option<(Field, Capture)> {
        let field = match rest {
            [T::BuyerReference] => Field::BuyerReference,
            [T::SellerTradeParty, rest @ ..] => return self.party(Role::Seller, rest, attrs),
            [T::BuyerTradeParty, rest @ ..] => return self.party(Role::Buyer, rest, attrs),
            [T::SellerTaxRepresentativeTradeParty, T::PostalTradeAddress] => {
                self.doc
                    .tax_representative_addresses
                    .push(AddressData::default());
                return None;
            }
            [
                T::SellerTaxRepresentativeTradeParty,
                T::PostalTradeAddress,
                rest @ ..,
            ] => Field::TaxRepresentativeAddress(address_field(rest)?),
            [T::BuyerOrderReferencedDocument, T::IssuerAssignedID | T::ID] => Field::OrderReference,
            [T::AdditionalReferencedDocument] => {
                self.doc.attachments.push(AttachmentData::default());
                return None;
            }
            [T::AdditionalReferencedDocument, T::IssuerAssignedID] => Field::AttachmentId,
            [T::AdditionalReferencedDocument, T::URIID] => Field::AttachmentUri,
            [T::AdditionalReferencedDocument, T::AttachmentBinaryObject] => {
                self.mime_code = attrs.get(b"mimeCode");
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
            [T::SpecifiedTradeSettlementPaymentMeans] => {
                self.doc.payment_means.push(PaymentMeansData::default());
                return None;
            }
            [T::SpecifiedTradeSettlementPaymentMeans, T::TypeCode] => Field::PaymentMeansCode,
            [
                T::SpecifiedTradeSettlementPaymentMeans,
                T::PayeePartyCreditorFinancialAccount,
                T::IBANID | T::ProprietaryID,
            ] => Field::PaymentAccount,
            [T::ApplicableTradeTax, T::CalculatedAmount] => Field::VatBreakdownAmount,
            [T::SpecifiedTradeAllowanceCharge] => {
                self.indicator = None;
                self.amount = None;
                return Some((Field::AllowanceChargeEnd, Capture::Nothing));
            }
            [
                T::SpecifiedTradeAllowanceCharge,
                T::ChargeIndicator,
                T::Indicator,
            ] => Field::ChargeIndicator,
            [T::SpecifiedTradeAllowanceCharge, T::ActualAmount] => Field::AllowanceChargeAmount,
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
                return None;
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

impl Handler for Cii {
    type Field = Field;

    fn start(&mut self, path: &[T], attrs: &Attrs<'_, '_>) -> Option<(Field, Capture)> {
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
                self.doc.lines.push(Num::Absent);
                return None;
            }
            [
                T::SupplyChainTradeTransaction,
                T::IncludedSupplyChainTradeLineItem,
                T::SpecifiedLineTradeSettlement,
                T::SpecifiedTradeSettlementLineMonetarySummation
                | T::SpecifiedTradeSettlementHeaderMonetarySummation,
                T::LineTotalAmount,
            ] => Field::LineAmount,
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
            Field::LineAmount => {
                if let Some(line) = doc.lines.last_mut() {
                    set_num(line, text);
                }
            }
            Field::BuyerReference => set_first(&mut doc.buyer_reference, text),
            Field::Party(role, f) => self.end_party(role, f, text),
            Field::TaxRepresentativeAddress(f) => {
                if let Some(a) = doc.tax_representative_addresses.last_mut() {
                    set_address(a, f, text);
                }
            }
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
            Field::VatBreakdownAmount => doc.vat_breakdown_amounts.push(Num::parse(text)),
            Field::ChargeIndicator => set_first(&mut self.indicator, text),
            Field::AllowanceChargeAmount => set_first(&mut self.amount, text),
            Field::AllowanceChargeEnd => {
                let (indicator, amount) = (self.indicator.take(), self.amount.take());
                push_allowance_charge(doc, indicator.as_deref(), amount.as_deref());
            }
            Field::Total(f) => {
                if let Some(totals) = doc.totals.as_mut() {
                    set_num(totals.slot(f), text);
                }
            }
            Field::TaxTotalAmount => {
                let currency = self.attr.take();
                doc.tax_totals.push(TaxTotalData {
                    amount: Num::parse(text),
                    currency,
                    has_subtotals: false,
                    subtotal_amounts: Vec::new(),
                });
            }
        }
    }
}
