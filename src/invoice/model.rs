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

/// Most `PartyTaxScheme`s kept per party ([`PartyData::tax_schemes`]).
pub(crate) const MAX_TAX_SCHEMES: usize = 8;

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
    /// UBL: tax registrations whose scheme, upper-cased as written (not trimmed), is `VAT`
    /// and is not (UBL-SR-12 and UBL-SR-13:
    /// `PartyTaxScheme[cac:TaxScheme/upper-case(cbc:ID)='VAT']/cbc:CompanyID` and `!=`).
    pub(crate) vat_tax_ids: usize,
    pub(crate) non_vat_tax_ids: usize,
    /// UBL: each `PartyTaxScheme` as written, (`TaxScheme/ID`, `CompanyID`), for the rules
    /// that compare the scheme their own way (Peppol's national rules); at most
    /// [`MAX_TAX_SCHEMES`].
    pub(crate) tax_schemes: Vec<(Option<String>, Option<String>)>,
    /// The `schemeID` of each of [`PartyData::tax_schemes`]' `CompanyID`, by the same index
    /// (PEPPOL-COMMON-R056-2 is shadowed by the templates of some schemes).
    pub(crate) tax_scheme_id_schemes: Vec<Option<String>>,
    /// Number of UBL `PartyLegalEntity` / CII `SpecifiedLegalOrganization` elements.
    pub(crate) legal_entities: usize,
    /// Legal registration identifiers (UBL `PartyLegalEntity/CompanyID`, CII
    /// `SpecifiedLegalOrganization/ID`).
    pub(crate) legal_ids: Vec<Ident>,
    /// Party identifiers (UBL `PartyIdentification/ID`, CII `ID`/`GlobalID`).
    pub(crate) identifiers: Vec<Ident>,
    /// Electronic address (UBL `EndpointID`, CII `URIUniversalCommunication/URIID`).
    pub(crate) endpoint: Option<Ident>,
    /// The element holding the electronic address exists (UBL `EndpointID`, CII
    /// `URIUniversalCommunication`), with or without its id.
    pub(crate) endpoint_element: bool,
    /// UBL: how many `PartyName/Name`s it has (UBL-SR-19 allows the payee one).
    pub(crate) names: usize,
    /// Party identifiers other than CII's `GlobalID` (UBL `PartyIdentification/ID`, CII `ID`):
    /// BR-17 compares them.
    pub(crate) local_ids: Vec<String>,
    /// Postal addresses in document order (normally one).
    pub(crate) addresses: Vec<AddressData>,
    /// A contact group is present (UBL `Contact`, CII `DefinedTradeContact`).
    pub(crate) contact: bool,
    /// The contact's name (BT-41: UBL `Name`, CII `PersonName` or `DepartmentName`), telephone
    /// (BT-42) and e-mail (BT-43) are given and not blank.
    pub(crate) contact_name: bool,
    pub(crate) contact_phone: bool,
    pub(crate) contact_email: bool,
    /// The contact's first telephone and e-mail, as written (XRechnung's BR-DE-27/28).
    pub(crate) contact_phone_text: Option<String>,
    pub(crate) contact_email_text: Option<String>,
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
/// A UBL `cac:PrepaidPayment` (XRechnung's extension calls it a third-party payment, BG-DEX-09).
#[derive(Debug, Clone, Default)]
pub(crate) struct PrepaidPaymentData {
    /// A `cbc:ID` (BT-DEX-001) that is not blank.
    pub(crate) id: bool,
    /// A `cbc:InstructionID` (BT-DEX-003) that is not blank.
    pub(crate) instruction_id: bool,
    /// Each `cbc:PaidAmount` (BT-DEX-002): its text as written and its `currencyID`; at most
    /// [`MAX_PAID_AMOUNTS`] (the schema allows one).
    pub(crate) paid_amounts: Vec<(String, Option<String>)>,
}

/// Most `cbc:PaidAmount`s kept per third-party payment.
pub(crate) const MAX_PAID_AMOUNTS: usize = 4;

#[derive(Debug, Clone, Default)]
pub(crate) struct TaxTotalData {
    pub(crate) amount: Num,
    pub(crate) currency: Option<String>,
    /// UBL: at least one `TaxSubtotal` exists.
    pub(crate) has_subtotals: bool,
    /// UBL: each `TaxSubtotal/TaxAmount`.
    pub(crate) subtotal_amounts: Vec<Num>,
}

/// A VAT category as an invoice line (UBL `Item/ClassifiedTaxCategory`, CII line
/// `ApplicableTradeTax`), a document level allowance or charge (UBL `TaxCategory`, CII
/// `CategoryTradeTax`) or a VAT breakdown (UBL `TaxSubtotal/TaxCategory`, CII header
/// `ApplicableTradeTax`) states it. Kept as written: the two syntaxes' rules compare them
/// differently (UBL trims and upper-cases the scheme, CII compares the type code as is).
#[derive(Debug, Clone, Default)]
pub(crate) struct TaxCategoryData {
    /// UBL `TaxScheme/ID`, CII `TypeCode`.
    pub(crate) scheme: Option<String>,
    /// UBL `ID`, CII `CategoryCode` (BT-95, BT-102, BT-118, BT-151).
    pub(crate) code: Option<String>,
    /// UBL `Percent`, CII `RateApplicablePercent` (BT-96, BT-103, BT-119, BT-152).
    pub(crate) percent: Num,
    /// UBL `TaxExemptionReasonCode` (BT-121) of a `TaxCategory`, as written (Peppol's
    /// P0104..P0111 match it to the category code).
    pub(crate) exemption_code: Option<String>,
}

impl TaxCategoryData {
    /// The category belongs to the VAT scheme: UBL
    /// `TaxScheme/normalize-space(upper-case(cbc:ID)) = 'VAT'`, CII `upper-case(ram:TypeCode) = 'VAT'`.
    pub(crate) fn is_vat(&self, cii: bool) -> bool {
        self.scheme.as_deref().is_some_and(|s| {
            if cii {
                s.eq_ignore_ascii_case("VAT")
            } else {
                // `normalize-space(…) = 'VAT'` without allocating: a value with a space inside
                // is never `VAT`.
                xml_trim(s).eq_ignore_ascii_case("VAT")
            }
        })
    }

    /// The category code is `code`: UBL `normalize-space(cbc:ID) = code`, CII
    /// `ram:CategoryCode = code`.
    pub(crate) fn code_is(&self, code: &str, cii: bool) -> bool {
        self.code.as_deref().is_some_and(|c| {
            if cii {
                c == code
            } else {
                // Category codes have no spaces, so trimming is normalize-space here.
                xml_trim(c) == code
            }
        })
    }
}

/// An invoice line (BG-25).
#[derive(Debug, Clone, Default)]
pub(crate) struct LineData {
    /// BT-126 is given and not blank: UBL `cbc:ID`, CII `AssociatedDocumentLineDocument/LineID`.
    /// (Lines keep flags, not text, where the rules only ask whether a term is there: a
    /// document may have many thousands of lines.)
    pub(crate) id: bool,
    /// BT-129 exists: UBL `InvoicedQuantity`/`CreditedQuantity`, CII `BilledQuantity`.
    pub(crate) quantity: bool,
    /// BT-130 exists: the quantity's `unitCode` attribute.
    pub(crate) unit_code: bool,
    /// BT-131, `Absent` when the line has none.
    pub(crate) net: Num,
    /// BT-153 is given and not blank: UBL `Item/Name`, CII `SpecifiedTradeProduct/Name`.
    pub(crate) item_name: bool,
    /// BT-146: UBL `Price/PriceAmount`, CII `NetPriceProductTradePrice/ChargeAmount`.
    pub(crate) price: Num,
    /// BT-151 and BT-152: the first [`MAX_TAXES`] categories the line states (UBL allows one,
    /// CII several).
    pub(crate) taxes: Vec<TaxCategoryData>,
    /// How many categories the line states (UBL-SR-48 wants exactly one).
    pub(crate) tax_count: usize,
    /// Where the line starts in the document (bytes), for a finding's line number.
    pub(crate) offset: usize,
    /// BT-148, the item gross price: UBL `Price/AllowanceCharge/BaseAmount`, CII
    /// `GrossPriceProductTradePrice/ChargeAmount`.
    pub(crate) gross_price: Num,
    /// An item standard identifier (BT-157) has no scheme: UBL
    /// `StandardItemIdentification/ID` without `schemeID`, CII `GlobalID` with a blank one.
    pub(crate) standard_id_without_scheme: bool,
    /// An item classification (BT-158) has no list: UBL `ItemClassificationCode` without
    /// `listID`, CII `DesignatedProductClassification/ClassCode` with a blank one.
    pub(crate) classification_without_list: bool,
    /// The item classifications (BT-158: UBL `ItemClassificationCode`, CII
    /// `DesignatedProductClassification/ClassCode`) as written, at most
    /// [`MAX_OTHER_CATEGORIES`] (Denmark's DK-R-003, XRechnung's CVD rules).
    pub(crate) classifications: Vec<ClassificationData>,
    /// The item attributes (BG-32: UBL `AdditionalItemProperty`, CII
    /// `ApplicableProductCharacteristic`), (name, value) as written, at most
    /// [`MAX_OTHER_CATEGORIES`] (XRechnung's CVD rules).
    pub(crate) properties: Vec<(Option<String>, Option<String>)>,
    /// An item attribute (BG-32) lacks its name (BT-160) or value (BT-161).
    pub(crate) property_incomplete: bool,
    /// CII: a `GlobalID` has no `schemeID` attribute at all (CII-SR-046).
    pub(crate) global_id_without_scheme_attribute: bool,
    /// How many document references the line has (UBL `DocumentReference`, CII
    /// `SpecifiedLineTradeSettlement/AdditionalReferencedDocument`), and whether one has type
    /// code `130` as written (Peppol allows one invoiced object identifier, BT-128).
    pub(crate) document_references: usize,
    pub(crate) object_reference: bool,
    /// CII: one of those references has no `IssuerAssignedID` (BR-52 asks every
    /// `ram:AdditionalReferencedDocument`).
    pub(crate) reference_without_id: bool,
    /// BT-149, the item price base quantity (UBL `Price/BaseQuantity`, CII
    /// `NetPriceProductTradePrice/BasisQuantity`).
    pub(crate) base_quantity: Num,
    /// The `unitCode` of the price base quantity (BT-150) and of the line's quantity (BT-130:
    /// UBL `InvoicedQuantity` in an Invoice, `CreditedQuantity` in a CreditNote, CII
    /// `BilledQuantity`), as written; PEPPOL-EN16931-R130 wants them equal.
    pub(crate) base_quantity_unit: Option<String>,
    pub(crate) quantity_unit: Option<String>,
    /// CII: the gross price's `BasisQuantity` and its `unitCode` (Peppol's R121 and R130, as
    /// XRechnung copies them, ask both prices).
    pub(crate) gross_base_quantity: Num,
    pub(crate) gross_base_quantity_unit: Option<String>,
    /// CII: the two prices' `BasisQuantity` as written, net then gross (XRechnung's BR-TMP-3
    /// compares them as strings).
    pub(crate) base_quantity_texts: [Option<String>; 2],
    /// BT-129 as a number (UBL `InvoicedQuantity` of an Invoice, `CreditedQuantity` of a
    /// CreditNote; CII `BilledQuantity`).
    pub(crate) quantity_value: Num,
    /// The price has an allowance (UBL `Price/AllowanceCharge`, CII
    /// `GrossPriceProductTradePrice/AppliedTradeAllowanceCharge`), with its indicator as
    /// written and its amount (BT-147, the price discount).
    pub(crate) price_allowance: bool,
    pub(crate) price_allowance_indicator: Option<String>,
    pub(crate) price_discount: Num,
}

/// Most distinct line allowance/charge categories kept ([`Doc::line_allowance_categories`]).
pub(crate) const MAX_OTHER_CATEGORIES: usize = 32;

impl Doc {
    /// Keeps a line allowance/charge category unless an equal one is kept already.
    pub(crate) fn note_line_allowance_category(&mut self, category: TaxCategoryData) {
        let seen = self.line_allowance_categories.iter().any(|c| {
            c.scheme == category.scheme && c.code == category.code && c.percent == category.percent
        });
        if !seen && self.line_allowance_categories.len() < MAX_OTHER_CATEGORIES {
            self.line_allowance_categories.push(category);
        }
    }
}

impl Doc {
    /// Notes an amount a BR-DEC rule reads with more than two decimals.
    pub(crate) fn note_long_decimals(
        &mut self,
        rule: &'static str,
        location: impl FnOnce() -> String,
    ) {
        if self.long_decimals.len() < MAX_NOTED {
            // BR-DEC-19/20 read a breakdown's amounts: the one being read.
            let breakdown = matches!(rule, "BR-DEC-19" | "BR-DEC-20")
                .then(|| self.vat_breakdown.len().checked_sub(1))
                .flatten();
            self.long_decimals.push((rule, location(), breakdown));
        }
    }
}

/// Most VAT categories kept per line or allowance/charge: the schemas allow one (UBL) or a
/// few, and a hostile document must not make each line cost more than its bytes.
pub(crate) const MAX_TAXES: usize = 4;

/// Keeps a new VAT category of a line or allowance/charge, up to [`MAX_TAXES`]; returns
/// whether it was kept (its fields are then filled into the last element).
pub(crate) fn push_tax(taxes: &mut Vec<TaxCategoryData>) -> bool {
    if taxes.len() < MAX_TAXES {
        taxes.push(TaxCategoryData::default());
        true
    } else {
        false
    }
}

/// A document level allowance (BG-20) or charge (BG-21).
#[derive(Debug, Clone, Default)]
pub(crate) struct AllowanceChargeData {
    /// `ChargeIndicator` (CII `ChargeIndicator/Indicator`) as written.
    pub(crate) indicator: Option<String>,
    /// BT-92 / BT-99.
    pub(crate) amount: Num,
    /// BT-97 / BT-104 exists.
    pub(crate) reason: bool,
    /// How many reasons it has (UBL-SR-30/31 allow one).
    pub(crate) reasons: usize,
    /// CII: the `ChargeIndicator` element exists (CII-SR-463), with or without its `Indicator`.
    pub(crate) indicator_element: bool,
    /// UBL: the percentage (BT-94 / BT-101, `MultiplierFactorNumeric`; present when the
    /// element is, whatever its text) and base amount (BT-93 / BT-100) as numbers.
    pub(crate) multiplier_value: Num,
    pub(crate) base_value: Num,
    /// BT-98 / BT-105 exists.
    pub(crate) reason_code: bool,
    /// BT-95 / BT-102 and their rates.
    pub(crate) taxes: Vec<TaxCategoryData>,
    /// Where the group starts in the document (bytes).
    pub(crate) offset: usize,
    /// How its amounts are written, for the decimals rules.
    pub(crate) decimals: GroupDecimals,
}

/// Whether an allowance's or charge's amount and base amount, as written, have more than two
/// decimals (`string-length(substring-after(Amount, '.')) > 2`): `None` until the first one
/// is read, which decides (CII reads `ActualAmount[1]`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct GroupDecimals {
    pub(crate) amount: Option<bool>,
    pub(crate) base: Option<bool>,
}

impl GroupDecimals {
    /// Notes an amount (`base` false) or base amount written with `digits` decimals.
    pub(crate) fn note(&mut self, base: bool, digits: usize) {
        let slot = if base {
            &mut self.base
        } else {
            &mut self.amount
        };
        slot.get_or_insert(digits > 2);
    }
}

impl AllowanceChargeData {
    /// The group is a charge (`Some(true)`) or an allowance (`Some(false)`), as each syntax's
    /// rule contexts decide it: UBL compares the indicator with an `xs:boolean`
    /// (`cbc:ChargeIndicator = false()`), CII compares its text with `'true'` or `'false'`.
    pub(crate) fn is_charge(&self, cii: bool) -> Option<bool> {
        is_charge(self.indicator.as_deref(), cii)
    }

    /// The indicator cast to `xs:boolean`: the contexts of the VAT category rules
    /// (`ChargeIndicator = false()`, CII `udt:Indicator = false()`) compare it so in both
    /// syntaxes.
    pub(crate) fn charge_as_boolean(&self) -> Option<bool> {
        self.indicator.as_deref().and_then(parse_bool)
    }
}

/// UBL compares a charge indicator with an `xs:boolean`, CII's core rules compare its text with
/// `'true'` or `'false'`.
fn is_charge(indicator: Option<&str>, cii: bool) -> Option<bool> {
    let text = indicator?;
    if cii {
        match text {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    } else {
        parse_bool(text)
    }
}

/// An allowance (BG-27) or charge (BG-28) of an invoice line. Flags, not text: a document may
/// have many thousands of lines.
#[derive(Debug, Clone, Default)]
pub(crate) struct LineAllowanceChargeData {
    /// The line it belongs to (0-based index into [`Doc::lines`]).
    pub(crate) line: usize,
    /// `ChargeIndicator` (CII `ChargeIndicator/Indicator`) as written, the first one.
    pub(crate) indicator: Option<String>,
    /// BT-139 / BT-144 exists.
    pub(crate) reason: bool,
    /// How many reasons it has (UBL-SR-30/31 allow one).
    pub(crate) reasons: usize,
    /// CII: the `ChargeIndicator` element exists (CII-SR-463).
    pub(crate) indicator_element: bool,
    /// The amount (BT-136 / BT-141: UBL `Amount`, CII `ActualAmount`), and UBL's base amount
    /// and percentage (`MultiplierFactorNumeric`), as numbers; each present when its element
    /// is, whatever its text.
    pub(crate) amount_value: Num,
    pub(crate) base_value: Num,
    pub(crate) multiplier_value: Num,
    /// BT-140 / BT-145 exists.
    pub(crate) reason_code: bool,
    /// The VAT categories it states (UBL `TaxCategory`, CII `CategoryTradeTax`), at most
    /// [`MAX_TAXES`].
    pub(crate) taxes: Vec<TaxCategoryData>,
    /// Where the group starts in the document (bytes).
    pub(crate) offset: usize,
    /// How its amounts are written, for the decimals rules.
    pub(crate) decimals: GroupDecimals,
}

impl LineAllowanceChargeData {
    /// The group is a charge (`Some(true)`) or an allowance (`Some(false)`) by its text, as
    /// [`AllowanceChargeData::is_charge`] decides it.
    pub(crate) fn is_charge(&self, cii: bool) -> Option<bool> {
        is_charge(self.indicator.as_deref(), cii)
    }

    /// The indicator cast to `xs:boolean` (`ChargeIndicator = true()` in either syntax).
    pub(crate) fn charge_as_boolean(&self) -> Option<bool> {
        self.indicator.as_deref().and_then(parse_bool)
    }
}

/// A VAT breakdown (BG-23): UBL `TaxTotal/TaxSubtotal`, CII header `ApplicableTradeTax`.
#[derive(Debug, Clone, Default)]
pub(crate) struct VatBreakdownData {
    /// BT-116: UBL `TaxableAmount`, CII `BasisAmount`.
    pub(crate) taxable: Num,
    /// BT-117: UBL `TaxAmount`, CII `CalculatedAmount`.
    pub(crate) tax: Num,
    /// BT-118 and BT-119 (UBL `TaxCategory`; CII the group itself).
    pub(crate) category: TaxCategoryData,
    /// BT-120 exists: UBL `TaxCategory/TaxExemptionReason`, CII `ExemptionReason`.
    pub(crate) exemption_reason: bool,
    /// BT-121 exists: UBL `TaxCategory/TaxExemptionReasonCode`, CII `ExemptionReasonCode`.
    pub(crate) exemption_code: bool,
    /// Where the breakdown starts in the document (bytes).
    pub(crate) offset: usize,
}

impl VatBreakdownData {
    /// CII only: the breakdown is in category O, L or M of the VAT scheme. The official CII
    /// artefact's rules for those categories match the breakdown element itself
    /// (`ApplicableTradeTax[ram:CategoryCode = 'O'][upper-case(ram:TypeCode) = 'VAT']`), with a
    /// higher priority than the generic breakdown rule, so BR-45..48, BR-CO-17 and BR-DEC-19/20
    /// never run on such a breakdown there.
    pub(crate) fn hidden_from_cii_breakdown_rules(&self, cii: bool) -> bool {
        let c = &self.category;
        cii && ["O", "L", "M"].iter().any(|k| c.code_is(k, true)) && c.is_vat(true)
    }
}

/// CII's direct debit references at the header: the mandate
/// (`SpecifiedTradePaymentTerms/DirectDebitMandateID`, BT-89) and the creditor identifier
/// (`CreditorReferenceID`, BT-90).
#[derive(Debug, Clone, Default)]
pub(crate) struct DirectDebitData {
    pub(crate) mandate: bool,
    pub(crate) creditor: bool,
}

/// A payment instruction.
#[derive(Debug, Clone, Default)]
pub(crate) struct PaymentMeansData {
    pub(crate) code: Option<String>,
    /// The payment account ids: UBL `PayeeFinancialAccount/ID`, CII `IBANID` and `ProprietaryID`.
    pub(crate) accounts: Vec<String>,
    /// The payment account group exists (UBL `PayeeFinancialAccount`, CII
    /// `PayeePartyCreditorFinancialAccount`).
    pub(crate) account_element: bool,
    /// Payment card primary account numbers (BT-87): UBL `CardAccount/PrimaryAccountNumberID`,
    /// CII `ApplicableTradeSettlementFinancialCard/ID`.
    pub(crate) card_numbers: Vec<String>,
    /// Where the group starts in the document (bytes).
    pub(crate) offset: usize,
    /// UBL: the `PaymentMeansCode` has a `name` attribute (UBL-SR-46).
    pub(crate) code_named: bool,
    /// UBL: a `PaymentMandate/ID` exists (BT-89).
    pub(crate) mandate: bool,
    /// UBL: a `PaymentMandate` exists (BG-19), and its `PayerFinancialAccount/ID` (BT-91; CII:
    /// `PayerPartyDebtorFinancialAccount/IBANID`).
    pub(crate) mandate_element: bool,
    pub(crate) payer_account: bool,
    /// CII: a `PayeeSpecifiedCreditorFinancialInstitution` or
    /// `PayerSpecifiedDebtorFinancialInstitution` exists.
    pub(crate) institution: bool,
    /// A payment card group exists (UBL `CardAccount`, CII `ApplicableTradeSettlementFinancialCard`).
    pub(crate) card_element: bool,
    /// UBL: its `ID`s as written (the G-account rules name the instructions by them).
    pub(crate) ids: Vec<String>,
    /// CII: the account has an `IBANID`, a `ProprietaryID` (BR-CO-27 of NLCIUS-CII).
    pub(crate) iban: bool,
    pub(crate) proprietary: bool,
    /// UBL, each first as written: the remittance information (BT-83, `PaymentID`), the
    /// account's `FinancialInstitutionBranch/ID` (BT-86), the mandate reference (BT-89,
    /// `PaymentMandate/ID`) and the debited account (BT-91): Denmark's rules read them.
    pub(crate) payment_id: Option<String>,
    pub(crate) branch: Option<String>,
    pub(crate) mandate_id: Option<String>,
    pub(crate) payer_account_id: Option<String>,
}

/// UBL `PaymentTerms`, as the G-account rules read it: which payment instruction it refers to
/// (`PaymentMeansID`s as written) and its amount.
#[derive(Debug, Clone, Default)]
pub(crate) struct PaymentTermsData {
    pub(crate) means_ids: Vec<String>,
    pub(crate) amount: Num,
}

/// An invoicing period: the document's (BG-14) or a line's (BG-26).
#[derive(Debug, Clone, Default)]
pub(crate) struct PeriodData {
    /// The line it belongs to (a line's period).
    pub(crate) line: usize,
    /// The start date element exists (UBL `StartDate`, CII `StartDateTime`).
    pub(crate) has_start: bool,
    pub(crate) has_end: bool,
    /// The dates as written: UBL `StartDate`, CII `StartDateTime/DateTimeString[@format = '102']`.
    pub(crate) start: Option<String>,
    pub(crate) end: Option<String>,
    /// UBL `DescriptionCode` exists (BT-8).
    pub(crate) description_code: bool,
    /// It has a child element (UBL's BR-IC-11 asks `InvoicePeriod/*`).
    pub(crate) any_child: bool,
    /// Where the group starts in the document (bytes).
    pub(crate) offset: usize,
}

/// An item classification (BT-158) with its list attributes, as written.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClassificationData {
    pub(crate) code: String,
    /// `listID` (BT-158-1).
    pub(crate) list: Option<String>,
    /// `listVersionID` (BT-158-2).
    pub(crate) version: Option<String>,
}

/// An allowance's or charge's reason code (BT-98/BT-105) and reason (BT-97/BT-104), as written.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReasonTexts {
    pub(crate) code: Option<String>,
    pub(crate) text: Option<String>,
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
    /// UBL `DocumentTypeCode`, CII `TypeCode` (`130`: an invoiced object identifier, not an
    /// attachment; `50`: a tender or lot reference).
    pub(crate) type_code: Option<String>,
    /// UBL: the `ID` has a `schemeID` attribute.
    pub(crate) id_scheme: bool,
    /// UBL: it has an `Attachment` group, and in it an `ExternalReference`.
    pub(crate) attachment_element: bool,
    pub(crate) external_reference: bool,
    /// UBL: it has a `DocumentDescription`.
    pub(crate) description: bool,
    /// UBL: its first `DocumentDescription`, as written (Iceland's `EINDAGI`, Greece's
    /// `##M.AR.K##` and `##INVOICE|URL##` markers).
    pub(crate) description_text: Option<String>,
}

impl Doc {
    /// The party a field belongs to.
    pub(crate) fn party_mut(&mut self, role: super::ubl::Role) -> &mut PartyData {
        use super::ubl::Role;
        match role {
            Role::Seller => &mut self.seller,
            Role::Buyer => &mut self.buyer,
            Role::TaxRepresentative => &mut self.tax_representative,
            Role::Payee => &mut self.payee,
        }
    }
}

/// Most sub-lines kept per document (a bound on a hostile one).
pub(crate) const MAX_SUB_LINES: usize = 4096;

/// One sub-line of XRechnung's extension (UBL `cac:SubInvoiceLine`).
#[derive(Debug, Clone, Default)]
pub(crate) struct SubLineData {
    /// The invoice line it belongs to (index into [`Doc::lines`]).
    pub(crate) line: usize,
    /// How deep it nests: 1 below the invoice line, 2 below a sub-line, …
    pub(crate) depth: usize,
    /// Its `LineExtensionAmount` (BT-131).
    pub(crate) net: Num,
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
    /// The seller's tax representative (BG-11): UBL `TaxRepresentativeParty`, CII
    /// `SellerTaxRepresentativeTradeParty`.
    pub(crate) tax_representative: PartyData,
    /// The first document totals group, if any.
    pub(crate) totals: Option<TotalsData>,
    pub(crate) tax_totals: Vec<TaxTotalData>,
    /// CII: each header `ApplicableTradeTax/CalculatedAmount`.
    pub(crate) vat_breakdown_amounts: Vec<Num>,
    /// The invoice lines (BG-25) in document order.
    pub(crate) lines: Vec<LineData>,
    /// The allowances and charges of the invoice lines (BG-27, BG-28) in document order: UBL
    /// `InvoiceLine/AllowanceCharge`, CII `SpecifiedLineTradeSettlement/SpecifiedTradeAllowanceCharge`.
    pub(crate) line_allowance_charges: Vec<LineAllowanceChargeData>,
    /// The document level allowances and charges (BG-20, BG-21) in document order.
    pub(crate) allowance_charges: Vec<AllowanceChargeData>,
    /// The VAT breakdown groups (BG-23) in document order (UBL: of every document level
    /// `TaxTotal`).
    pub(crate) vat_breakdown: Vec<VatBreakdownData>,
    /// The distinct VAT categories of allowances and charges below the lines (UBL
    /// `InvoiceLine//AllowanceCharge/TaxCategory`, CII line `CategoryTradeTax`), at most
    /// [`MAX_OTHER_CATEGORIES`]: the VAT category rules count them with the others.
    pub(crate) line_allowance_categories: Vec<TaxCategoryData>,
    /// Elements with no child element and no text but whitespace, in any namespace: the
    /// first [`MAX_NOTED`] locations, and how many there are.
    pub(crate) empty_elements: Noted,
    /// The same, less those a template of NLCIUS's mode with a higher priority than its
    /// empty-element warning takes (SI-UBL-2, NLCIUS-CII's empty-element-check): `[0]` for a
    /// supplier outside the Netherlands, `[1]` for a Dutch one (more templates then match).
    pub(crate) nlcius_empty: [Noted; 2],
    /// The same, without CII `ram:ApplicableHeaderTradeDelivery` (which XRechnung's copy of
    /// PEPPOL-EN16931-R008 allows empty, when written with that prefix).
    pub(crate) empty_elements_but_delivery: usize,
    /// UBL amounts (but prices, and the amounts of a price's allowance) with more than two
    /// decimals as written (UBL-DT-01).
    pub(crate) long_amounts: Noted,
    /// Amounts a BR-DEC rule reads that have more than two decimals as written: (rule,
    /// location), at most [`MAX_NOTED`] (`invoice::decimals`).
    /// The third value is the VAT breakdown the amount belongs to, if it does.
    pub(crate) long_decimals: Vec<(&'static str, String, Option<usize>)>,
    /// An attached binary object has no `mimeCode` (UBL-DT-06; XRechnung's BR-DEX-01).
    pub(crate) binary_without_mime: bool,
    /// Binary objects (UBL `EmbeddedDocumentBinaryObject`) without a `filename` attribute.
    pub(crate) binary_without_filename: bool,
    /// Document level allowance amounts (BT-92).
    pub(crate) allowances: Vec<Num>,
    /// Document level charge amounts (BT-99).
    pub(crate) charges: Vec<Num>,
    pub(crate) payment_means: Vec<PaymentMeansData>,
    pub(crate) attachments: Vec<AttachmentData>,
    /// The payee (BG-10): UBL `PayeeParty`, CII `PayeeTradeParty`.
    pub(crate) payee: PartyData,
    /// The invoicing periods (BG-14): UBL `InvoicePeriod`, CII header `BillingSpecifiedPeriod`.
    pub(crate) periods: Vec<PeriodData>,
    /// The invoice line periods (BG-26), in document order.
    pub(crate) line_periods: Vec<PeriodData>,
    /// A preceding invoice reference group exists (UBL `BillingReference/InvoiceDocumentReference`,
    /// CII header `InvoiceReferencedDocument`): XRechnung's BR-DE-26.
    pub(crate) invoice_reference_element: bool,
    /// XRechnung's extension: the sub-lines (UBL `SubInvoiceLine`, at any depth), in document
    /// order, at most [`MAX_SUB_LINES`] (BR-DEX-02).
    pub(crate) sub_lines: Vec<SubLineData>,
    /// CII: a `ParentLineID` exists anywhere (BR-DEX-15).
    pub(crate) parent_line_id: bool,
    /// UBL `TaxPointDate`, CII `TaxPointDate` (at any depth, as BR-CO-03 asks) exists (BT-7).
    pub(crate) tax_point_date: bool,
    /// CII `DueDateTypeCode` exists, at any depth (BT-8).
    pub(crate) due_date_type_code: bool,
    /// The preceding invoice references (BG-3), each with whether it has its id (UBL
    /// `BillingReference` with `InvoiceDocumentReference/ID`, CII header
    /// `InvoiceReferencedDocument` with a non-blank `IssuerAssignedID`).
    pub(crate) billing_references: Vec<bool>,
    /// The deliver-to addresses (BG-15): UBL `Delivery/DeliveryLocation/Address`, CII
    /// `ShipToTradeParty/PostalTradeAddress`.
    pub(crate) delivery_addresses: Vec<AddressData>,
    /// UBL: the payment terms groups (`PaymentTerms`), for the G-account rules.
    pub(crate) payment_terms: Vec<PaymentTermsData>,
    /// UBL: how many invoice notes (BT-22, root `Note`) there are.
    pub(crate) notes: usize,
    /// A line refers to a purchase order line (BT-132: UBL `OrderLineReference/LineID`, CII
    /// `SpecifiedLineTradeAgreement/BuyerOrderReferencedDocument/LineID`).
    pub(crate) order_line_reference: bool,
    /// The payment terms (BT-20) are given: UBL `PaymentTerms/Note`, CII
    /// `SpecifiedTradePaymentTerms/Description`.
    pub(crate) payment_terms_note: bool,
    /// BT-12, the contract reference, is given and not blank (UBL
    /// `ContractDocumentReference/ID`, CII `ContractReferencedDocument/IssuerAssignedID`).
    pub(crate) contract_reference: bool,
    /// UBL: BT-17, the tender or lot reference, is given and not blank
    /// (`OriginatorDocumentReference/ID`; CII gives it as an additional document of type 50).
    pub(crate) originator_reference: bool,
    /// UBL: how many `cac:Item`s of sub-lines (`cac:SubInvoiceLine/cac:Item`, at any depth)
    /// have not exactly one `cac:ClassifiedTaxCategory` (XRechnung's extension, BR-DEX-03).
    pub(crate) sub_line_items_without_one_category: u32,
    /// UBL: the third-party payments (`cac:PrepaidPayment` below the root; XRechnung's
    /// extension, BR-DEX-09..14), in document order.
    pub(crate) prepaid_payments: Vec<PrepaidPaymentData>,
    /// The elements NLCIUS advises against, where they stand (BR-NL-19..35), at most
    /// [`super::discouraged::MAX_NOTED`].
    pub(crate) discouraged: Vec<super::discouraged::Discouraged>,
    /// CII: the header direct debit references exist (XRechnung's BR-DE-23-b..31).
    pub(crate) direct_debit: DirectDebitData,
    /// The first payment terms text as written (UBL `PaymentTerms/Note`, CII
    /// `SpecifiedTradePaymentTerms/Description`).
    pub(crate) payment_terms_text: Option<String>,
    /// CII: a `SpecifiedTradePaymentTerms/DueDateDateTime` exists (BT-9).
    pub(crate) due_date_element: bool,
    /// UBL: the distinct `PaymentMeans/PaymentID` values, at most [`MAX_OTHER_CATEGORIES`]
    /// (UBL-SR-44 allows one).
    pub(crate) payment_ids: Vec<String>,
    /// UBL: the reason code and reason (first each, as written) of every `AllowanceCharge`
    /// (the document's, the lines' and the prices'), in document order: Denmark's DK-R-004
    /// reads them wherever they are.
    pub(crate) allowance_reasons: Vec<ReasonTexts>,
    /// UBL: a `PartyTaxScheme` lacks its `CompanyID` or `TaxScheme/ID` (UBL-SR-53).
    pub(crate) party_tax_scheme_incomplete: bool,
    /// UBL: the currencies of the `TaxTotal/TaxAmount`s below the root's children (a line's),
    /// distinct; BR-53 looks for the VAT accounting currency anywhere.
    pub(crate) nested_tax_currencies: Vec<String>,
    /// BT-72, the actual delivery date: UBL `Delivery/ActualDeliveryDate`, CII
    /// `ActualDeliverySupplyChainEvent/OccurrenceDateTime/DateTimeString`.
    pub(crate) actual_delivery_date: Option<String>,
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
    /// The syntax binding rules the document breaks, where (at most
    /// [`super::bindings::MAX_HITS`]).
    pub(crate) bindings: Vec<super::bindings::Hit>,
}

impl Doc {
    /// Takes the coded values and binding rule breaks the streaming pass collected.
    pub(crate) fn set_collected(&mut self, collected: super::xml::Collected) {
        let (codes, truncated) = collected.codes.finish();
        self.codes = codes;
        self.codes_truncated = truncated;
        self.bindings = collected.bindings;
    }
}

/// Places in a document that break one rule: the first [`MAX_NOTED`] and how many in all.
#[derive(Debug, Clone, Default)]
pub(crate) struct Noted {
    pub(crate) first: Vec<String>,
    pub(crate) count: usize,
}

impl Noted {
    /// Counts a place; `location` is only called while fewer than [`MAX_NOTED`] are kept.
    pub(crate) fn note(&mut self, location: impl FnOnce() -> String) {
        self.count += 1;
        if self.first.len() < MAX_NOTED {
            self.first.push(location());
        }
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

/// Trims XML whitespace (space, tab, CR, LF) from both ends.
pub(crate) fn xml_trim(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\n', '\r'])
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
