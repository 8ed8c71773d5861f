//! The public field types of an [`Inspection`](super::Inspection) and their construction from
//! the extraction model: trimmed strings, ISO dates, exact amounts.

use serde::Serialize;

use super::Syntax;
use super::amount::Amount;
use super::model::{Doc, Ident, Num, PartyData, clean, normalize_space};

/// An identifier with its scheme, e.g. KvK `12345678` with scheme `0106`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Identifier {
    /// The identifier, whitespace-normalised.
    pub value: String,
    /// The `schemeID` (ISO 6523 ICD such as `0106` KvK, `0190` OIN, `0088` GLN), if given.
    pub scheme: Option<String>,
}

/// A seller or buyer, as needed to route and deduplicate invoices.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Party {
    /// Legal name (BT-27/BT-44), else the trading name.
    pub name: Option<String>,
    /// Trading name (UBL `PartyName`), when given.
    pub trading_name: Option<String>,
    /// VAT identifier (BT-31/BT-48), the first one.
    pub vat_id: Option<String>,
    /// Legal registration identifier (BT-30/BT-47), the first one, e.g. KvK or OIN.
    pub legal_id: Option<Identifier>,
    /// Electronic address (BT-34/BT-49), e.g. a Peppol participant id.
    pub endpoint_id: Option<Identifier>,
    /// Other party identifiers (BT-29/BT-46, GLNs and the like).
    pub identifiers: Vec<Identifier>,
    /// Country code of the postal address.
    pub country: Option<String>,
}

/// Document totals (BG-22), exact decimals as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    /// Sum of invoice line net amounts (BT-106).
    pub line_extension: Option<Amount>,
    /// Sum of allowances on document level (BT-107).
    pub allowance_total: Option<Amount>,
    /// Sum of charges on document level (BT-108).
    pub charge_total: Option<Amount>,
    /// Invoice total amount without VAT (BT-109).
    pub tax_exclusive: Option<Amount>,
    /// Invoice total VAT amount in the invoice currency (BT-110).
    pub tax: Option<Amount>,
    /// Invoice total amount with VAT (BT-112).
    pub tax_inclusive: Option<Amount>,
    /// Paid amount (BT-113).
    pub prepaid: Option<Amount>,
    /// Rounding amount (BT-114).
    pub rounding: Option<Amount>,
    /// Amount due for payment (BT-115); for ZUGFeRD 1.0 without `DuePayableAmount`, the grand
    /// total.
    pub payable: Option<Amount>,
}

/// An additional supporting document (BG-24).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Attachment {
    /// Supporting document reference (BT-122).
    pub id: Option<String>,
    /// File name of an embedded object.
    pub filename: Option<String>,
    /// Declared MIME code of an embedded object.
    pub mime_code: Option<String>,
    /// Decoded size of the embedded object in bytes (0 when nothing is embedded).
    pub size: usize,
    /// The embedded object really is a PDF (decodes to bytes starting with `%PDF`), whatever
    /// its declared MIME code.
    pub is_pdf: bool,
    /// External document location (BT-124), when given instead of an embedded object.
    pub uri: Option<String>,
}

/// A PDF carried inside the invoice XML, usable as the document's visual.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmbeddedPdf {
    /// Its file name (or supporting document id), for display only; never a path.
    pub name: String,
    /// The decoded PDF bytes (start with `%PDF`).
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

pub(crate) fn party(p: &PartyData) -> Party {
    let ident = |i: &Ident| Identifier {
        value: normalize_space(&i.value),
        scheme: clean(&i.scheme),
    };
    Party {
        name: clean(&p.registration_name).or_else(|| clean(&p.trading_name)),
        trading_name: clean(&p.trading_name),
        vat_id: p
            .vat_ids
            .iter()
            .map(|v| normalize_space(v))
            .find(|v| !v.is_empty()),
        legal_id: p.legal_ids.iter().map(ident).find(|i| !i.value.is_empty()),
        endpoint_id: p
            .endpoint
            .as_ref()
            .map(ident)
            .filter(|i| !i.value.is_empty()),
        identifiers: p
            .identifiers
            .iter()
            .map(ident)
            .filter(|i| !i.value.is_empty())
            .collect(),
        country: p.addresses.first().and_then(|a| clean(&a.country)),
    }
}

pub(crate) fn totals(doc: &Doc, syntax: Syntax) -> Totals {
    let t = doc.totals.clone().unwrap_or_default();
    let currency = doc.currency.as_deref().map(str::trim);
    let tax = doc
        .tax_totals
        .iter()
        .find(|t| t.currency.as_deref().map(str::trim) == currency && t.amount.present())
        .or_else(|| doc.tax_totals.iter().find(|t| t.amount.present()))
        .and_then(|t| t.amount.value());
    let mut payable = t.payable.value();
    if syntax == Syntax::Zugferd1 && t.payable == Num::Absent {
        payable = t.tax_inclusive.value();
    }
    Totals {
        line_extension: t.line_extension.value(),
        allowance_total: t.allowance_total.value(),
        charge_total: t.charge_total.value(),
        tax_exclusive: t.tax_exclusive.value(),
        tax,
        tax_inclusive: t.tax_inclusive.value(),
        prepaid: t.prepaid.value(),
        rounding: t.rounding.value(),
        payable,
    }
}

/// A date as `YYYY-MM-DD`: UBL dates are kept, CII format 102 (`YYYYMMDD`) is converted.
pub(crate) fn date(s: &Option<String>) -> Option<String> {
    let s = clean(s)?;
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        return Some(format!("{}-{}-{}", &s[..4], &s[4..6], &s[6..]));
    }
    Some(s)
}
