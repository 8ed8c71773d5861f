//! The syntax-neutral extraction model: what `ubl` and `cii` fill in during the streaming pass
//! and what the rule sets read. Internal; `fields` turns it into the public `Inspection` parts.
//!
//! Strings are kept as written (`Some("")` means "present but empty") because the official
//! rules distinguish `exists(x)` from `normalize-space(x) != ''`; amounts are [`Num`]s so that
//! absent, valid and unparsable values stay apart, as in XPath.

use super::amount::Amount;

/// An amount element: absent, a valid `xs:decimal`, or present but not a decimal.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) enum Num {
    /// The element is not there (XPath: the empty sequence).
    #[default]
    Absent,
    /// A valid decimal.
    Value(Amount),
    /// Present but not an `xs:decimal` (`n/a`, `1E5`): the schema check fails
    /// (`cvc-datatype-valid.1.2.1`), the official XSLT stops with a type error, and every rule
    /// that would compute with it fails closed.
    Invalid,
    /// A valid `xs:decimal` with more digits than [`Amount`] holds (30): it cannot be computed
    /// with, so every rule that needs it fails closed.
    TooLong,
}

impl Num {
    /// Parses element text.
    pub(crate) fn parse(text: &str) -> Num {
        match Amount::parse(text) {
            Some(a) => Num::Value(a),
            None if Amount::is_decimal_lexical(text) => Num::TooLong,
            None => Num::Invalid,
        }
    }

    /// Present, but not usable in arithmetic.
    pub(crate) fn unusable(self) -> bool {
        matches!(self, Num::Invalid | Num::TooLong)
    }

    /// `exists(x)`.
    pub(crate) fn present(self) -> bool {
        !matches!(self, Num::Absent)
    }

    /// The value, if valid.
    pub(crate) fn value(self) -> Option<Amount> {
        match self {
            Num::Value(a) => Some(a),
            _ => None,
        }
    }
}

/// A postal address (UBL `PostalAddress`, CII `PostalTradeAddress`).
#[derive(Debug, Clone, Default)]
pub(crate) struct AddressData {
    /// UBL `StreetName`, CII `LineOne`.
    pub(crate) street: Option<String>,
    /// `CityName`.
    pub(crate) city: Option<String>,
    /// UBL `PostalZone`, CII `PostcodeCode`.
    pub(crate) postal_zone: Option<String>,
    /// UBL `Country/IdentificationCode`, CII `CountryID`.
    pub(crate) country: Option<String>,
}

/// An identifier with its scheme attribute.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ident {
    pub(crate) value: String,
    pub(crate) scheme: Option<String>,
}

/// A seller or buyer party.
#[derive(Debug, Clone, Default)]
pub(crate) struct PartyData {
    /// The party element exists.
    pub(crate) present: bool,
    /// UBL `PartyName/Name` (trading name); CII `Name`.
    pub(crate) trading_name: Option<String>,
    /// UBL `PartyLegalEntity/RegistrationName` (BT-27/BT-44); CII `Name`.
    pub(crate) registration_name: Option<String>,
    /// VAT identifiers (UBL `PartyTaxScheme[TaxScheme/ID='VAT']/CompanyID`, CII schemeID `VA`).
    pub(crate) vat_ids: Vec<String>,
    /// Other tax registrations.
    pub(crate) tax_registrations: Vec<Ident>,
    /// Number of UBL `PartyLegalEntity` / CII `SpecifiedLegalOrganization` elements.
    pub(crate) legal_entities: usize,
    /// Legal registration identifiers (UBL `PartyLegalEntity/CompanyID`, CII
    /// `SpecifiedLegalOrganization/ID`).
    pub(crate) legal_ids: Vec<Ident>,
    /// Party identifiers (UBL `PartyIdentification/ID`, CII `ID`/`GlobalID`).
    pub(crate) identifiers: Vec<Ident>,
    /// Electronic address (UBL `EndpointID`, CII `URIUniversalCommunication/URIID`).
    pub(crate) endpoint: Option<Ident>,
    /// Postal addresses in document order (normally one).
    pub(crate) addresses: Vec<AddressData>,
    /// A contact group is present (UBL `Contact`, CII `DefinedTradeContact`).
    pub(crate) contact: bool,
}

/// UBL `LegalMonetaryTotal` / CII `SpecifiedTradeSettlementHeaderMonetarySummation`.
#[derive(Debug, Clone, Default)]
pub(crate) struct TotalsData {
    pub(crate) line_extension: Num,
    pub(crate) tax_exclusive: Num,
    pub(crate) tax_inclusive: Num,
    pub(crate) allowance_total: Num,
    pub(crate) charge_total: Num,
    pub(crate) prepaid: Num,
    pub(crate) rounding: Num,
    pub(crate) payable: Num,
}

impl TotalsData {
    /// The amount a totals element fills in (UBL and CII name them differently, the
    /// handlers map both to [`TotalField`](super::ubl::TotalField)).
    pub(crate) fn slot(&mut self, field: super::ubl::TotalField) -> &mut Num {
        use super::ubl::TotalField;
        match field {
            TotalField::LineExtension => &mut self.line_extension,
            TotalField::TaxExclusive => &mut self.tax_exclusive,
            TotalField::TaxInclusive => &mut self.tax_inclusive,
            TotalField::AllowanceTotal => &mut self.allowance_total,
            TotalField::ChargeTotal => &mut self.charge_total,
            TotalField::Prepaid => &mut self.prepaid,
            TotalField::Rounding => &mut self.rounding,
            TotalField::Payable => &mut self.payable,
        }
    }
}

/// UBL `TaxTotal` (with its subtotals) or CII `TaxTotalAmount`.
#[derive(Debug, Clone, Default)]
pub(crate) struct TaxTotalData {
    pub(crate) amount: Num,
    pub(crate) currency: Option<String>,
    /// UBL: at least one `TaxSubtotal` exists.
    pub(crate) has_subtotals: bool,
    /// UBL: each `TaxSubtotal/TaxAmount`.
    pub(crate) subtotal_amounts: Vec<Num>,
}

/// A payment instruction.
#[derive(Debug, Clone, Default)]
pub(crate) struct PaymentMeansData {
    pub(crate) code: Option<String>,
    pub(crate) accounts: Vec<String>,
}

/// An additional supporting document.
#[derive(Debug, Clone, Default)]
pub(crate) struct AttachmentData {
    pub(crate) id: Option<String>,
    pub(crate) filename: Option<String>,
    pub(crate) mime_code: Option<String>,
    /// Decoded size of the embedded object in bytes (0 when none).
    pub(crate) size: usize,
    /// The embedded object decodes to bytes starting with `%PDF`.
    pub(crate) is_pdf: bool,
    pub(crate) uri: Option<String>,
}

/// Everything the extractors found.
#[derive(Debug, Clone, Default)]
pub(crate) struct Doc {
    /// UBL root is `CreditNote`.
    pub(crate) credit_note_root: bool,
    pub(crate) ubl_version: Option<String>,
    pub(crate) customization_id: Option<String>,
    pub(crate) profile_id: Option<String>,
    pub(crate) number: Option<String>,
    /// Issue date text (CII: only a `DateTimeString` with format 102).
    pub(crate) issue_date: Option<String>,
    pub(crate) due_date: Option<String>,
    pub(crate) type_code: Option<String>,
    pub(crate) currency: Option<String>,
    pub(crate) tax_currency: Option<String>,
    pub(crate) buyer_reference: Option<String>,
    pub(crate) order_reference: Option<String>,
    /// A preceding invoice reference id element exists (UBL
    /// `BillingReference/InvoiceDocumentReference/ID`, CII
    /// `InvoiceReferencedDocument/IssuerAssignedID`).
    pub(crate) preceding_invoice: bool,
    pub(crate) seller: PartyData,
    pub(crate) buyer: PartyData,
    pub(crate) tax_representative_addresses: Vec<AddressData>,
    /// The first document totals group, if any.
    pub(crate) totals: Option<TotalsData>,
    pub(crate) tax_totals: Vec<TaxTotalData>,
    /// CII: each header `ApplicableTradeTax/CalculatedAmount`.
    pub(crate) vat_breakdown_amounts: Vec<Num>,
    /// Each invoice line's net amount (BT-131), `Absent` when the line has none.
    pub(crate) lines: Vec<Num>,
    /// Document level allowance amounts (BT-92).
    pub(crate) allowances: Vec<Num>,
    /// Document level charge amounts (BT-99).
    pub(crate) charges: Vec<Num>,
    /// A document level allowance/charge had no valid `ChargeIndicator`.
    pub(crate) bad_charge_indicator: bool,
    pub(crate) payment_means: Vec<PaymentMeansData>,
    pub(crate) attachments: Vec<AttachmentData>,
    /// The first embedded object that really is a PDF: (name, bytes).
    pub(crate) embedded_pdf: Option<(String, Vec<u8>)>,
    /// Amounts that are not usable numbers, in document order (at most [`MAX_NOTED`]).
    pub(crate) bad_amounts: Vec<BadAmount>,
    /// Elements that may occur once and occurred again (at most [`MAX_NOTED`]).
    pub(crate) repeated: Vec<Repeated>,
    /// Every distinct coded value the code list rules check, where it first occurs.
    pub(crate) codes: Vec<super::codes::CodeUse>,
    /// More distinct coded values than [`super::codes::MAX_CODES`]: the rest are unchecked.
    pub(crate) codes_truncated: bool,
}

impl Doc {
    /// Takes the coded values the streaming pass collected.
    pub(crate) fn set_codes(&mut self, collector: super::codes::Collector) {
        let (codes, truncated) = collector.finish();
        self.codes = codes;
        self.codes_truncated = truncated;
    }
}

/// Most bad amounts and repeated elements noted per document: one is enough to refuse, a few
/// help the supplier, and a hostile document with a million of them must not cost a million
/// records.
pub(crate) const MAX_NOTED: usize = 16;

/// An amount element whose text is not a usable number.
#[derive(Debug, Clone)]
pub(crate) struct BadAmount {
    /// Which business term, e.g. "the invoice line net amount (BT-131) of line 2".
    pub(crate) what: String,
    /// The text as written, shortened for the message.
    pub(crate) text: String,
    /// [`Num::Invalid`] or [`Num::TooLong`].
    pub(crate) kind: Num,
}

/// An element that the schema (or the EN 16931 syntax binding) allows once per parent, seen a
/// second time.
#[derive(Debug, Clone)]
pub(crate) struct Repeated {
    /// Local names from the root's child down, e.g. `AccountingCustomerParty`.
    pub(crate) path: String,
    /// The official id of the constraint it breaks (`cvc-complex-type.2.4.a` for the XSD, or
    /// a `CII-SR-*` rule of the EN 16931 CII binding).
    pub(crate) rule: &'static str,
}

impl Doc {
    /// Notes a repeated singular element (each path once, at most [`MAX_NOTED`]).
    pub(crate) fn note_repeated(&mut self, path: String, rule: &'static str) {
        if self.repeated.len() < MAX_NOTED && !self.repeated.iter().any(|r| r.path == path) {
            self.repeated.push(Repeated { path, rule });
        }
    }

    /// Parses an amount, noting it when it is not a usable number. `what` is only called then.
    pub(crate) fn amount(&mut self, text: &str, what: impl FnOnce(&Doc) -> String) -> Num {
        let n = Num::parse(text);
        if n.unusable() && self.bad_amounts.len() < MAX_NOTED {
            let what = what(self);
            self.bad_amounts.push(BadAmount {
                what,
                text: text.trim().chars().take(40).collect(),
                kind: n,
            });
        }
        n
    }
}

/// Keeps the first occurrence of a single-valued field.
pub(crate) fn set_first(slot: &mut Option<String>, text: &str) {
    if slot.is_none() {
        *slot = Some(text.to_owned());
    }
}

/// XPath `normalize-space(x) != ''` for an optional element.
pub(crate) fn nonblank(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|s| !s.trim().is_empty())
}

/// Trimmed, non-empty copy.
pub(crate) fn clean(s: &Option<String>) -> Option<String> {
    s.as_deref().map(normalize_space).filter(|s| !s.is_empty())
}

/// XPath `normalize-space`: trims and collapses XML whitespace runs to one space.
pub(crate) fn normalize_space(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split([' ', '\t', '\n', '\r']).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// `xs:boolean` from text (`true`/`1`, `false`/`0`, surrounding whitespace allowed).
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text.trim_matches([' ', '\t', '\n', '\r']) {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}
