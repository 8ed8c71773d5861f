//! The one bounded, namespace-aware streaming pass over an invoice XML (quick-xml `Reader`).
//!
//! `detect` opens the document and recognises the root; `drive` then feeds every element below
//! the root to a syntax [`Handler`] (`ubl`, `cii`) as a path of interned [`Tag`]s, and hands it the
//! text of the elements the handler asked for. No DOM is built and names are not allocated.
//!
//! Safety rules enforced here (STYLE.md 3.7): a DOCTYPE (and so every entity declaration) is
//! refused, no entity other than the five predefined ones and character references is resolved,
//! depth, element count and captured text are capped while reading, and content after the root
//! element is refused. Nothing is ever fetched.

use quick_xml::events::{BytesStart, Event};
use std::sync::OnceLock;

use quick_xml::reader::Reader;

use super::Limits;

/// The vocabulary a root element belongs to; decides which namespaces yield [`Tag`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// UBL 2.x: elements in the `cbc` and `cac` namespaces.
    Ubl,
    /// UN/CEFACT CII D16B: `rsm`, `ram`, `udt`, `qdt` (`:100`).
    Cii,
    /// ZUGFeRD 1.0: `rsm` (`urn:ferd:...`), `ram` (`:12`), `udt` (`:15`).
    Zugferd1,
}

/// The namespaces we recognise, by URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ns {
    Other,
    UblInvoice,
    UblCreditNote,
    UblCbc,
    UblCac,
    /// UBL's extension components (`ext:UBLExtensions`), which only the binding rules name.
    UblExt,
    CiiRsm,
    CiiRam,
    CiiUdt,
    CiiQdt,
    Zf1Rsm,
    Zf1Ram,
    Zf1Udt,
}

impl Ns {
    /// Classifies a namespace URI (checked once per declaration, not per element).
    fn of(uri: &[u8]) -> Ns {
        const TABLE: [(&[u8], Ns); 12] = [
            (b"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2", Ns::UblInvoice),
            (b"urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2", Ns::UblCreditNote),
            (b"urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2", Ns::UblCbc),
            (b"urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2", Ns::UblCac),
            (b"urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2", Ns::UblExt),
            (b"urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100", Ns::CiiRsm),
            (
                b"urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
                Ns::CiiRam,
            ),
            (b"urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100", Ns::CiiUdt),
            (b"urn:un:unece:uncefact:data:standard:QualifiedDataType:100", Ns::CiiQdt),
            (b"urn:ferd:CrossIndustryDocument:invoice:1p0", Ns::Zf1Rsm),
            (
                b"urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:12",
                Ns::Zf1Ram,
            ),
            (b"urn:un:unece:uncefact:data:standard:UnqualifiedDataType:15", Ns::Zf1Udt),
        ];
        TABLE
            .iter()
            .find(|(u, _)| *u == uri)
            .map_or(Ns::Other, |(_, ns)| *ns)
    }

    fn in_family(self, family: Family) -> bool {
        match family {
            Family::Ubl => matches!(self, Ns::UblCbc | Ns::UblCac),
            Family::Cii => matches!(self, Ns::CiiRsm | Ns::CiiRam | Ns::CiiUdt | Ns::CiiQdt),
            Family::Zugferd1 => matches!(self, Ns::Zf1Rsm | Ns::Zf1Ram | Ns::Zf1Udt),
        }
    }
}

macro_rules! tags {
    ($($name:ident),* $(,)?) => {
        /// Interned local names of the elements the extractors look at; all others are `Other`.
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Tag { Other, $($name),* }

        impl Tag {
            /// The local name (`?` for [`Tag::Other`]), for messages.
            pub(crate) fn name(self) -> &'static str {
                match self {
                    Tag::Other => "?",
                    $(Tag::$name => stringify!($name)),*
                }
            }

            /// How many tags there are, [`Tag::Other`] included: tables indexed by a tag's
            /// discriminant have this length.
            pub(crate) const COUNT: usize = Tag::ALL.len() + 1;

            /// Every tag with its local name.
            pub(crate) const ALL: &'static [(&'static str, Tag)] = &[$((stringify!($name), Tag::$name)),*];

            /// Looks a local name up in a table bucketed by length and middle byte (built
            /// once), so an element costs about one comparison of an equal-length name instead
            /// of a scan of all.
            fn from_local(local: &[u8]) -> Tag {
                static BUCKETS: OnceLock<Vec<Vec<(&'static [u8], Tag)>>> = OnceLock::new();
                let table = BUCKETS.get_or_init(|| {
                    let mut table = vec![Vec::new(); 64 * 32];
                    for (name, tag) in Tag::ALL {
                        if let Some(bucket) = table.get_mut(bucket_of(name.as_bytes())) {
                            bucket.push((name.as_bytes(), *tag));
                        }
                    }
                    table
                });
                table
                    .get(bucket_of(local))
                    .and_then(|bucket| bucket.iter().find(|(name, _)| same(name, local)))
                    .map_or(Tag::Other, |(_, tag)| *tag)
            }
        }
    };
}

/// The bucket of a local name: its length (names are shorter than 64 bytes) and 5 bits of its
/// middle byte (an index past the table for a longer name, which is no tag).
fn bucket_of(local: &[u8]) -> usize {
    let middle = local
        .get(local.len() / 2)
        .map_or(0, |b| usize::from(b & 0x1f));
    if local.len() < 64 {
        local.len() * 32 + middle
    } else {
        usize::MAX
    }
}

tags! {
    // UBL
    UBLVersionID, CustomizationID, ProfileID, ID, IssueDate, DueDate, InvoiceTypeCode,
    CreditNoteTypeCode, DocumentCurrencyCode, TaxCurrencyCode, BuyerReference, OrderReference,
    BillingReference, InvoiceDocumentReference, AdditionalDocumentReference, Attachment,
    EmbeddedDocumentBinaryObject, ExternalReference, URI, AccountingSupplierParty,
    AccountingCustomerParty, Party, EndpointID, PartyIdentification, PartyName, Name,
    PostalAddress, StreetName, CityName, PostalZone, Country, IdentificationCode, PartyTaxScheme,
    CompanyID, TaxScheme, PartyLegalEntity, RegistrationName, TaxRepresentativeParty, Contact,
    PaymentMeans, PaymentMeansCode, PaymentDueDate, PayeeFinancialAccount, AllowanceCharge,
    ChargeIndicator, Amount, TaxTotal, TaxAmount, TaxSubtotal, LegalMonetaryTotal,
    LineExtensionAmount, TaxExclusiveAmount, TaxInclusiveAmount, AllowanceTotalAmount,
    ChargeTotalAmount, PrepaidAmount, PayableRoundingAmount, PayableAmount, InvoiceLine,
    CreditNoteLine,
    // UBL elements of XRechnung's extension (sub-lines, third-party payments)
    SubInvoiceLine, PrepaidPayment, PaidAmount, InstructionID,
    // CII element of XRechnung's extension (BR-DEX-15)
    ParentLineID,
    // UBL elements SI-UBL 2.0 advises against (`discouraged`)
    CompanyLegalForm, AddressLine, Line, CountrySubentity,
    // CII elements NLCIUS-CII advises against (`discouraged`)
    DateString, FormattedIssueDateTime, LineThree, CountrySubDivisionName, Information,
    AccountName,
    // UBL elements of the code list rules (`codes`)
    BaseAmount, PriceAmount, TaxableAmount, InvoicePeriod, DescriptionCode, DocumentReference,
    DocumentTypeCode, Note, CommodityClassification, ItemClassificationCode, OriginCountry,
    TaxCategory, ClassifiedTaxCategory, AllowanceChargeReasonCode, StandardItemIdentification,
    TaxExemptionReasonCode, InvoicedQuantity, BaseQuantity, CreditedQuantity, DeliveryLocation,
    PayeeParty,
    // CII D16B (and ZUGFeRD 1.0 where the names are shared)
    ExchangedDocumentContext, GuidelineSpecifiedDocumentContextParameter,
    BusinessProcessSpecifiedDocumentContextParameter, ExchangedDocument, TypeCode,
    IssueDateTime, DateTimeString, SupplyChainTradeTransaction, IncludedSupplyChainTradeLineItem,
    SpecifiedLineTradeSettlement, SpecifiedTradeSettlementLineMonetarySummation, LineTotalAmount,
    ApplicableHeaderTradeAgreement, SellerTradeParty, BuyerTradeParty, GlobalID,
    SpecifiedLegalOrganization, PostalTradeAddress, PostcodeCode, LineOne, CountryID,
    URIUniversalCommunication, URIID, SpecifiedTaxRegistration, SellerTaxRepresentativeTradeParty,
    BuyerOrderReferencedDocument, IssuerAssignedID, AdditionalReferencedDocument,
    AttachmentBinaryObject, ApplicableHeaderTradeSettlement, InvoiceCurrencyCode,
    SpecifiedTradeSettlementPaymentMeans, PayeePartyCreditorFinancialAccount, IBANID,
    ProprietaryID, ApplicableTradeTax, CalculatedAmount, BasisAmount, CategoryCode,
    SpecifiedTradeAllowanceCharge, Indicator, ActualAmount, SpecifiedTradePaymentTerms,
    DueDateDateTime, SpecifiedTradeSettlementHeaderMonetarySummation, TaxBasisTotalAmount,
    TaxTotalAmount, RoundingAmount, GrandTotalAmount, TotalPrepaidAmount, DuePayableAmount,
    InvoiceReferencedDocument, DefinedTradeContact,
    // CII elements of the code list rules (`codes`)
    DueDateTypeCode, ReferenceTypeCode, SubjectCode, SpecifiedTradeProduct, ShipToTradeParty,
    ClassCode, OriginTradeCountry, CategoryTradeTax, ReasonCode, ExemptionReasonCode,
    BasisQuantity, BilledQuantity, ApplicableHeaderTradeDelivery,
    // Peppol's allowance and price rules as XRechnung's CII artefact copies them
    CalculationPercent, AppliedTradeAllowanceCharge,
    // XRechnung's Clean Vehicles Directive profile: the contract and tender references
    ContractDocumentReference, OriginatorDocumentReference, ContractReferencedDocument,
    // The invoice lines, allowances/charges and VAT breakdown of the rules (UBL, then CII)
    Item, Price, Percent, AllowanceChargeReason, TaxExemptionReason, AssociatedDocumentLineDocument,
    LineID, SpecifiedLineTradeDelivery, SpecifiedLineTradeAgreement, NetPriceProductTradePrice,
    ChargeAmount, RateApplicablePercent, Reason, ExemptionReason,
    // Periods, delivery, payee, payment cards and item details of the core rules (UBL, then CII)
    StartDate, EndDate, TaxPointDate, Delivery, ActualDeliveryDate, Address, CardAccount,
    PrimaryAccountNumberID, AdditionalItemProperty, Value, BillingSpecifiedPeriod,
    StartDateTime, EndDateTime, ActualDeliverySupplyChainEvent, OccurrenceDateTime,
    PayeeTradeParty, ApplicableTradeSettlementFinancialCard, DesignatedProductClassification,
    ApplicableProductCharacteristic, Description, GrossPriceProductTradePrice,
    // Syntax binding rules over references and payment (UBL, then CII)
    DocumentDescription, PaymentID, PaymentReference,
    // The Dutch rules (UBL)
    OrderLineReference, PaymentTerms,
    // Peppol BIS 3 (UBL)
    MultiplierFactorNumeric, PaymentMandate, PayerFinancialAccount, FinancialInstitutionBranch,
    // XRechnung's CII direct debit (BG-19)
    DirectDebitMandateID, CreditorReferenceID, PayerPartyDebtorFinancialAccount,
    PayeeSpecifiedCreditorFinancialInstitution, PayerSpecifiedDebtorFinancialInstitution,
    // XRechnung: the seller contact (UBL, then CII)
    Telephone, ElectronicMail, PersonName, DepartmentName, TelephoneUniversalCommunication,
    CompleteNumber, EmailURIUniversalCommunication,
    // The G-account extension (UBL)
    PaymentMeansID,
}

impl Tag {
    /// Interns a local name in `family`; ZUGFeRD 1.0 names are mapped onto their CII D16B
    /// equivalents so one extractor serves both.
    fn intern(family: Family, local: &[u8]) -> Tag {
        if family == Family::Zugferd1 {
            match local {
                b"SpecifiedExchangedDocumentContext" => return Tag::ExchangedDocumentContext,
                b"HeaderExchangedDocument" => return Tag::ExchangedDocument,
                b"SpecifiedSupplyChainTradeTransaction" => return Tag::SupplyChainTradeTransaction,
                b"ApplicableSupplyChainTradeAgreement" => {
                    return Tag::ApplicableHeaderTradeAgreement;
                }
                b"ApplicableSupplyChainTradeSettlement" => {
                    return Tag::ApplicableHeaderTradeSettlement;
                }
                b"SpecifiedSupplyChainTradeSettlement" => return Tag::SpecifiedLineTradeSettlement,
                b"SpecifiedTradeSettlementMonetarySummation" => {
                    return Tag::SpecifiedTradeSettlementHeaderMonetarySummation;
                }
                _ => {}
            }
        }
        Tag::from_local(local)
    }
}

/// What a handler wants from an element it recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Capture {
    /// Only the end callback (to close an aggregate).
    Nothing,
    /// Its text, capped at [`Limits::max_text_bytes`].
    Text,
    /// Its text uncapped (base64 attachments); the document size bounds it.
    Binary,
}

/// Attribute access for the element being started.
pub(crate) struct Attrs<'a, 'b> {
    start: &'a BytesStart<'b>,
    /// Where the element's start tag ends, in bytes from the start of the document.
    offset: usize,
}

impl Attrs<'_, '_> {
    /// Where the element's start tag ends, in bytes from the start of the (decoded) document:
    /// a finding's line number is counted from it.
    pub(crate) fn offset(&self) -> usize {
        self.offset
    }

    /// Whether the element has the unprefixed attribute `name`.
    pub(crate) fn has(&self, name: &[u8]) -> bool {
        self.start
            .attributes()
            .with_checks(false)
            .any(|a| a.is_ok_and(|a| a.key.as_ref() == name))
    }

    /// The names of the element's attributes, as written (namespace declarations included),
    /// until a malformed one.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &[u8]> {
        let mut attributes = self.start.attributes();
        attributes.with_checks(false);
        attributes.map_while(Result::ok).map(|a| a.key.into_inner())
    }

    /// Whether the element has any attribute (namespace declarations included).
    pub(crate) fn any(&self) -> bool {
        !self.start.attributes_raw().trim_ascii().is_empty()
    }

    /// The unprefixed attribute `name`, unescaped, borrowed from the document when it needs
    /// no unescaping; `None` when absent or malformed.
    pub(crate) fn get_cow(&self, name: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
        for attr in self.start.attributes().with_checks(false) {
            let attr = attr.ok()?;
            if attr.key.as_ref() == name {
                return match attr.value {
                    std::borrow::Cow::Borrowed(raw) => {
                        let unescaped =
                            quick_xml::escape::unescape(std::str::from_utf8(raw).ok()?).ok()?;
                        Some(unescaped)
                    }
                    std::borrow::Cow::Owned(_) => attr
                        .unescape_value()
                        .ok()
                        .map(|v| std::borrow::Cow::Owned(v.into_owned())),
                };
            }
        }
        None
    }

    /// The unprefixed attribute `name`, unescaped; `None` when absent or malformed.
    pub(crate) fn get(&self, name: &[u8]) -> Option<String> {
        self.get_cow(name).map(std::borrow::Cow::into_owned)
    }
}

/// A syntax-specific extractor fed by [`drive`].
pub(crate) trait Handler {
    /// What the handler remembers between an element's start and its end.
    type Field: Copy;
    /// Called for each element below the root; `path` lists the elements from the root's
    /// child down to this one. Return `None` to ignore the element (its children still come).
    fn start(&mut self, path: &[Tag], attrs: &Attrs<'_, '_>) -> Option<(Self::Field, Capture)>;
    /// Called at the end of an element `start` returned a field for, with its direct text
    /// (empty unless text was captured).
    fn end(&mut self, field: Self::Field, text: &str);
    /// Whether the element at `path` may occur at most once in its parent, and if so the
    /// official id of the constraint (the schema's, or the syntax binding's). Asked before
    /// [`Handler::start`]; only elements the model reads need an answer.
    fn singular(&self, _path: &[Tag]) -> Option<&'static str> {
        None
    }
    /// Called (before [`Handler::start`]) for the second and later occurrence of a singular
    /// element in the same parent; `path` ends with it.
    fn repeated(&mut self, _path: &[Tag], _rule: &'static str) {}
    /// Called at the end of every element of the syntax's namespaces named `…Amount` (UBL's
    /// `cbc:*Amount`, CII's `ram:*Amount`: an amount type, an `xs:decimal`) whose text is not
    /// a decimal, whether or not the model reads it: the schema refuses such a document, so
    /// every amount is checked, not only those the rules compute with.
    fn malformed_amount(&mut self, _element: &str, _text: &str) {}
    /// Called at the end of every amount element of the syntax's namespaces (named `…Amount`)
    /// that has no child element, with its text as written: the decimals rules read it.
    fn amount_text(&mut self, _path: &[Tag], _text: &str) {}
    /// Called for every element, in any namespace, that has no child element and no text but
    /// XML whitespace (Peppol's "no empty elements"); `qname` is its name as written.
    fn empty_element(&mut self, _path: &[Tag], _qname: &[u8]) {}
}

/// Appends `s` to an amount's text, up to one byte past [`AMOUNT_TEXT_MAX`] (enough to know it
/// is too long).
fn hold(held: &mut String, s: &str) {
    for c in s.chars() {
        if held.len() > AMOUNT_TEXT_MAX {
            return;
        }
        held.push(c);
    }
}

/// Whether an element's local name makes it an amount (an `xs:decimal` in both syntaxes).
fn is_amount_name(local: &[u8]) -> bool {
    local.ends_with(b"Amount")
}

/// The longest amount text kept for the check (a decimal of 30 digits and a few more chars):
/// anything longer is not a usable amount anyway, and nothing more is held.
const AMOUNT_TEXT_MAX: usize = 64;

/// `Root/A/B/C`, for messages.
pub(crate) fn path_name(root: &str, path: &[Tag]) -> String {
    let mut out = root.to_string();
    for t in path {
        out.push('/');
        out.push_str(t.name());
    }
    out
}

/// [`path_name`] of an element whose own name is given as written (`qname`): elements of
/// other namespaces show their name instead of `?`.
pub(crate) fn location(root: &str, path: &[Tag], qname: &[u8]) -> String {
    let parent = path.split_last().map_or(path, |(_, parent)| parent);
    let mut out = path_name(root, parent);
    out.push('/');
    out.push_str(&String::from_utf8_lossy(qname));
    out
}

/// Why a document is not inspected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Not an invoice root (or no root at all).
    NotInvoice,
    /// An invoice root, but the document is refused; the text is for the supplier.
    Refused(String),
}

/// The recognised root element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Root {
    /// The root's namespace.
    pub(crate) ns: Ns,
    /// Which tags the content uses.
    pub(crate) family: Family,
}

/// A reader positioned just after the root's start tag.
pub(crate) struct Opened<'x> {
    reader: Reader<&'x [u8]>,
    scope: Scope,
    pub(crate) root: Root,
    root_empty: bool,
}

/// Most namespace declarations in scope at once.
// Real invoices declare 5 to 20; the cap also bounds the scan per element.
const MAX_BINDINGS: usize = 128;

/// The namespace declarations in scope, innermost last. Namespaces are classified into [`Ns`]
/// once, when declared, so resolving an element is a short scan over prefixes instead of a
/// URI comparison per element (quick-xml's `NsReader` did the latter).
#[derive(Debug, Default)]
struct Scope {
    /// (prefix, namespace, depth of the declaring element); the default namespace has prefix "".
    bindings: Vec<(Box<[u8]>, Ns, usize)>,
}

impl Scope {
    /// Records the `xmlns` declarations of an element opened at `depth`, then resolves its name.
    fn enter(&mut self, e: &BytesStart<'_>, depth: usize) -> Result<Ns, Stop> {
        let raw = e.attributes_raw();
        if !raw.trim_ascii().is_empty() {
            // Every attribute list is read once with quick-xml's checks, which refuse a
            // malformed or repeated attribute: such a document is not well-formed, and the
            // official validators refuse it too.
            for attr in e.attributes() {
                let attr = attr.map_err(|err| {
                    Stop::Refused(format!(
                        "the XML has a malformed or repeated attribute ({err}); send a well-formed invoice"
                    ))
                })?;
                let key = attr.key.as_ref();
                let prefix = match key {
                    b"xmlns" => &b""[..],
                    _ => match key.strip_prefix(b"xmlns:") {
                        Some(p) => p,
                        None => continue,
                    },
                };
                let uri = attr.unescape_value().map_err(|_| {
                    Stop::Refused(
                        "the XML uses an entity reference in a namespace declaration; write the URI itself"
                            .into(),
                    )
                })?;
                if self.bindings.len() >= MAX_BINDINGS {
                    return Err(Stop::Refused(format!(
                        "the XML declares more than {MAX_BINDINGS} namespaces; send a simpler invoice"
                    )));
                }
                self.bindings
                    .push((prefix.into(), Ns::of(uri.as_bytes()), depth));
            }
        }
        let name = e.name();
        let prefix = name.prefix().map_or(&b""[..], |p| p.into_inner());
        Ok(self
            .bindings
            .iter()
            .rev()
            .find(|(p, _, _)| same(p, prefix))
            .map_or(Ns::Other, |(_, ns, _)| *ns))
    }

    /// Drops the declarations of the element closed at `depth`.
    fn exit(&mut self, depth: usize) {
        while self.bindings.last().is_some_and(|(_, _, d)| *d >= depth) {
            self.bindings.pop();
        }
    }
}

/// The local name of the root element of `xml`, for saying what a file that is no invoice
/// is instead ("its root element is Order"): `None` when no element starts within the first
/// 256 events (not XML, or text first). Reads no further than the root's start tag; entities
/// and DOCTYPEs are never expanded (quick-xml does not).
pub fn root_element(xml: &[u8]) -> Option<String> {
    let mut reader = Reader::from_reader(xml);
    for _ in 0..256 {
        match reader.read_event().ok()? {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = String::from_utf8_lossy(e.local_name().into_inner());
                // A name is at most a line of a reply: cut very long ones.
                return Some(name.chars().take(64).collect());
            }
            Event::Eof => return None,
            Event::Text(ref t) if t.iter().any(|b| !b.is_ascii_whitespace()) => return None,
            _ => {}
        }
    }
    None
}

const DOCTYPE_REFUSED: &str = "XML with a DOCTYPE is refused; send the invoice without a DTD";

/// Reads up to the root element and recognises it. `xml` must be valid UTF-8 without BOM.
pub(crate) fn open<'x>(xml: &'x [u8], limits: &Limits) -> Result<Opened<'x>, Stop> {
    let mut reader = Reader::from_reader(xml);
    let mut scope = Scope::default();
    let mut doctype = false;
    loop {
        let Ok(event) = reader.read_event() else {
            return Err(Stop::NotInvoice);
        };
        match event {
            Event::DocType(_) => doctype = true,
            Event::Start(ref e) | Event::Empty(ref e) => {
                let ns = scope.enter(e, 1).map_err(|_| Stop::NotInvoice)?;
                let family = match (ns, e.local_name().into_inner()) {
                    (Ns::UblInvoice, b"Invoice") | (Ns::UblCreditNote, b"CreditNote") => {
                        Family::Ubl
                    }
                    (Ns::CiiRsm, b"CrossIndustryInvoice") => Family::Cii,
                    (Ns::Zf1Rsm, b"CrossIndustryDocument") => Family::Zugferd1,
                    _ => return Err(Stop::NotInvoice),
                };
                if doctype {
                    return Err(Stop::Refused(DOCTYPE_REFUSED.into()));
                }
                if xml.len() > limits.max_bytes {
                    return Err(Stop::Refused(format!(
                        "the invoice XML is {} bytes, more than the {} accepted; send a smaller invoice",
                        xml.len(),
                        limits.max_bytes
                    )));
                }
                let root_empty = matches!(event, Event::Empty(_));
                if root_empty {
                    scope.exit(1);
                }
                return Ok(Opened {
                    reader,
                    scope,
                    root: Root { ns, family },
                    root_empty,
                });
            }
            Event::Text(ref t) if t.iter().any(|b| !b.is_ascii_whitespace()) => {
                return Err(Stop::NotInvoice);
            }
            Event::Eof | Event::End(_) | Event::CData(_) | Event::GeneralRef(_) => {
                return Err(Stop::NotInvoice);
            }
            _ => {}
        }
    }
}

/// What the pass collects for the rules besides the handler's model.
pub(crate) struct Collected {
    /// The coded values (the code list rules' model).
    pub(crate) codes: super::codes::Collector,
    /// The syntax binding rules broken (`bindings`).
    pub(crate) bindings: Vec<super::bindings::Hit>,
}

/// The whole pass over `text` with its syntax's handler, for the tests of what it collects.
#[cfg(test)]
pub(crate) fn drive_text(text: &str) -> Collected {
    let prepared = super::detect::prepare(text.as_bytes()).expect("prepared");
    let opened = super::detect::open(&prepared, &Limits::default()).expect("opened");
    match opened.root.family {
        Family::Ubl => drive(opened, &Limits::default(), &mut super::ubl::Ubl::new(false)),
        _ => drive(opened, &Limits::default(), &mut super::cii::Cii::default()),
    }
    .expect("driven")
}

/// Feeds everything below the root to `handler`, enforcing `limits`, until the end of input,
/// and collects the document's coded values and binding rule breaks on the way.
pub(crate) fn drive<H: Handler>(
    opened: Opened<'_>,
    limits: &Limits,
    handler: &mut H,
) -> Result<Collected, Stop> {
    let Opened {
        mut reader,
        mut scope,
        root,
        root_empty,
    } = opened;
    let family = root.family;
    let mut path: Vec<Tag> = Vec::with_capacity(limits.max_depth.min(64));
    // Per open element: the handler's field, whether its text is captured.
    let mut fields: Vec<Option<(H::Field, Capture)>> = Vec::with_capacity(limits.max_depth.min(64));
    let mut text = String::new();
    let mut depth: usize = if root_empty { 0 } else { 1 };
    let mut elements: usize = 1;
    // (depth, tag) of each singular element seen, so a second one under the same parent is
    // caught. Non-decreasing in depth: closing an element drops its children's entries, so the
    // entries at the current child depth on top are exactly the current parent's. Bounded by
    // the depth times the handler's singular tags, since a repeat is never pushed again.
    let mut seen: Vec<(usize, Tag)> = Vec::new();
    // The open amount element, if the innermost open element is one: (depth, local name,
    // its text so far, at most AMOUNT_TEXT_MAX + 1 bytes).
    let mut amount: Option<(usize, String, String)> = None;
    let mut codes = super::codes::Collector::new(family);
    let (root_local, root_shown): (&[u8], &'static str) = match root.ns {
        Ns::UblInvoice => (b"Invoice", "/Invoice"),
        Ns::UblCreditNote => (b"CreditNote", "/CreditNote"),
        Ns::CiiRsm => (b"CrossIndustryInvoice", "/rsm:CrossIndustryInvoice"),
        _ => (b"", ""),
    };
    let mut bindings = super::bindings::Tracker::new(family, root_shown);
    if !root_empty {
        bindings.root(root.ns, root_local);
    }
    // The innermost open element has, so far, no child element and no text but whitespace.
    let mut blank = false;
    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(err) => return Err(not_well_formed(reader.error_position(), &err)),
        };
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if depth == 0 {
                    return Err(refused(
                        "the XML has content after its root element; send one invoice per file",
                    ));
                }
                depth += 1;
                elements += 1;
                if depth > limits.max_depth {
                    return Err(Stop::Refused(format!(
                        "the XML nests elements more than {} deep; send a flatter invoice",
                        limits.max_depth
                    )));
                }
                if elements > limits.max_elements {
                    return Err(Stop::Refused(format!(
                        "the XML has more than {} elements; send a smaller invoice",
                        limits.max_elements
                    )));
                }
                let ns = scope.enter(e, depth)?;
                let in_family = ns.in_family(family);
                let tag = if in_family {
                    Tag::intern(family, e.local_name().into_inner())
                } else {
                    Tag::Other
                };
                path.push(tag);
                if tag != Tag::Other
                    && let Some(rule) = handler.singular(&path)
                {
                    let again = seen
                        .iter()
                        .rev()
                        .take_while(|(d, _)| *d == depth)
                        .any(|(_, t)| *t == tag);
                    if again {
                        handler.repeated(&path, rule);
                    } else {
                        seen.push((depth, tag));
                    }
                }
                let attrs = Attrs {
                    start: e,
                    offset: usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX),
                };
                let wanted = handler.start(&path, &attrs);
                bindings.element(depth, ns, tag, e.local_name().into_inner(), &attrs);
                if in_family {
                    codes.start(depth, &path, &attrs);
                }
                // An element inside an amount makes it no amount (the schema refuses that too,
                // through its type); only a leaf is checked.
                amount = None;
                if in_family && is_amount_name(e.local_name().into_inner()) {
                    let name = String::from_utf8_lossy(e.local_name().into_inner()).into_owned();
                    if matches!(event, Event::Empty(_)) {
                        handler.malformed_amount(&name, "");
                    } else {
                        amount = Some((depth, name, String::new()));
                    }
                }
                blank = true;
                if matches!(event, Event::Empty(_)) {
                    handler.empty_element(&path, e.name().into_inner());
                    blank = false;
                    if let Some((field, _)) = wanted {
                        handler.end(field, "");
                    }
                    codes.end(depth, &path);
                    bindings.end(depth);
                    path.pop();
                    scope.exit(depth);
                    depth -= 1;
                } else {
                    if matches!(wanted, Some((_, Capture::Text | Capture::Binary))) {
                        text.clear();
                    }
                    fields.push(wanted);
                }
            }
            Event::End(ref e) => {
                if blank && depth > 1 {
                    handler.empty_element(&path, e.name().into_inner());
                }
                // The parent now has a child element.
                blank = false;
                codes.end(depth, &path);
                while seen.last().is_some_and(|(d, _)| *d > depth) {
                    seen.pop();
                }
                let closed_amount = amount.take_if(|(at, ..)| *at == depth);
                bindings.end(depth);
                scope.exit(depth);
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    continue;
                }
                if let Some(Some((field, capture))) = fields.pop() {
                    if capture == Capture::Nothing {
                        handler.end(field, "");
                    } else {
                        handler.end(field, &text);
                        text.clear();
                    }
                }
                // After the handler: an amount the model reads is noted there first, under
                // its business term.
                if let Some((_, name, held)) = closed_amount {
                    if held.len() > AMOUNT_TEXT_MAX
                        || !super::amount::Amount::is_decimal_lexical(held.trim())
                    {
                        handler.malformed_amount(&name, &held);
                    }
                    handler.amount_text(&path, &held);
                }
                path.pop();
            }
            Event::Text(t) => {
                if blank && t.iter().any(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
                    blank = false;
                }
                if depth == 0 {
                    if t.iter().any(|b| !b.is_ascii_whitespace()) {
                        return Err(refused(
                            "the XML has text after its root element; send one invoice per file",
                        ));
                    }
                    continue;
                }
                if let Some((_, _, held)) = &mut amount {
                    let s = t.xml10_content().map_err(|_| refused(NOT_UTF8))?;
                    hold(held, &s);
                }
                if codes.wants_text(depth) || bindings.wants_text(depth) {
                    let s = t.xml10_content().map_err(|_| refused(NOT_UTF8))?;
                    codes.text(depth, &s);
                    bindings.text(depth, &s);
                }
                if let Some(capture) = capturing(&fields) {
                    let s = t.xml10_content().map_err(|_| refused(NOT_UTF8))?;
                    push(&mut text, &s, capture, limits);
                }
            }
            Event::CData(t) => {
                if blank && t.iter().any(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
                    blank = false;
                }
                if depth == 0 {
                    return Err(refused(
                        "the XML has content after its root element; send one invoice per file",
                    ));
                }
                if let Some((_, _, held)) = &mut amount {
                    let s = t.xml10_content().map_err(|_| refused(NOT_UTF8))?;
                    hold(held, &s);
                }
                if codes.wants_text(depth) || bindings.wants_text(depth) {
                    let s = t.xml10_content().map_err(|_| refused(NOT_UTF8))?;
                    codes.text(depth, &s);
                    bindings.text(depth, &s);
                }
                if let Some(capture) = capturing(&fields) {
                    let s = t.xml10_content().map_err(|_| refused(NOT_UTF8))?;
                    push(&mut text, &s, capture, limits);
                }
            }
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    Ok(None) => match &*r {
                        b"amp" => '&',
                        b"lt" => '<',
                        b"gt" => '>',
                        b"apos" => '\'',
                        b"quot" => '"',
                        other => {
                            return Err(Stop::Refused(format!(
                                "the XML uses the entity reference &{};, and entity references are refused; write the characters themselves",
                                String::from_utf8_lossy(other)
                                    .chars()
                                    .take(40)
                                    .collect::<String>()
                            )));
                        }
                    },
                    Err(err) => {
                        return Err(not_well_formed(reader.buffer_position(), &err));
                    }
                };
                if depth == 0 {
                    return Err(refused(
                        "the XML has text after its root element; send one invoice per file",
                    ));
                }
                if !matches!(ch, ' ' | '\t' | '\n' | '\r') {
                    blank = false;
                }
                if let Some((_, _, held)) = &mut amount {
                    hold(held, ch.encode_utf8(&mut [0; 4]));
                }
                codes.text(depth, ch.encode_utf8(&mut [0; 4]));
                bindings.text(depth, ch.encode_utf8(&mut [0; 4]));
                if let Some(capture) = capturing(&fields) {
                    push(&mut text, ch.encode_utf8(&mut [0; 4]), capture, limits);
                }
            }
            Event::DocType(_) => return Err(refused(DOCTYPE_REFUSED)),
            Event::Eof => {
                if depth != 0 {
                    return Err(refused(
                        "the XML ends before its root element is closed; send the complete invoice",
                    ));
                }
                return Ok(Collected {
                    codes,
                    bindings: bindings.finish(),
                });
            }
            Event::Comment(_) | Event::PI(_) | Event::Decl(_) => {}
        }
    }
}

const NOT_UTF8: &str = "the XML is not valid UTF-8; send the invoice encoded as UTF-8";

fn capturing<F>(fields: &[Option<(F, Capture)>]) -> Option<Capture> {
    match fields.last() {
        Some(Some((_, c @ (Capture::Text | Capture::Binary)))) => Some(*c),
        _ => None,
    }
}

/// Byte equality for short names: a plain loop beats a `memcmp` call at these lengths.
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Appends captured text; plain text is cut (at a character boundary) at the cap.
fn push(text: &mut String, s: &str, capture: Capture, limits: &Limits) {
    if capture == Capture::Text && text.len() + s.len() > limits.max_text_bytes {
        for c in s.chars() {
            if text.len() + c.len_utf8() > limits.max_text_bytes {
                break;
            }
            text.push(c);
        }
        return;
    }
    text.push_str(s);
}

fn refused(reason: &str) -> Stop {
    Stop::Refused(reason.to_owned())
}

fn not_well_formed(position: u64, err: &quick_xml::Error) -> Stop {
    Stop::Refused(format!(
        "the XML is not well-formed at byte {position} ({err}); send a well-formed invoice"
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_root_element_of_any_xml_and_none_of_text() {
        use super::root_element;
        assert_eq!(
            root_element(
                b"<?xml version=\"1.0\"?><!-- c --><o:Order xmlns:o=\"urn:x\"><a/></o:Order>"
            )
            .as_deref(),
            Some("Order")
        );
        assert_eq!(root_element(b"<Empty/>").as_deref(), Some("Empty"));
        assert_eq!(root_element(b"just text"), None);
        assert_eq!(root_element(b""), None);
        assert_eq!(root_element(b"%PDF-1.7"), None);
    }

    use super::*;

    #[test]
    fn every_tag_is_found_by_its_name() {
        for (name, tag) in Tag::ALL {
            assert!(name.len() < 64, "{name} does not fit the length table");
            assert_eq!(Tag::from_local(name.as_bytes()), *tag);
        }
        // `codes` indexes a table of 256 by the tag's discriminant.
        assert!(Tag::ALL.len() < 256);
        assert_eq!(Tag::from_local(b"Unknown"), Tag::Other);
        assert_eq!(Tag::from_local(b""), Tag::Other);
        assert_eq!(Tag::from_local(&[b'a'; 100]), Tag::Other);
    }

    #[test]
    fn zugferd1_names_map_onto_cii() {
        assert_eq!(
            Tag::intern(Family::Zugferd1, b"HeaderExchangedDocument"),
            Tag::ExchangedDocument
        );
        assert_eq!(
            Tag::intern(Family::Cii, b"HeaderExchangedDocument"),
            Tag::Other
        );
    }

    #[test]
    fn namespace_declarations_are_scoped() {
        let xml = br#"<r xmlns="urn:a" xmlns:c="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"><c:x/><y xmlns:c="urn:b"><c:z/></y><c:w/></r>"#;
        let mut reader = Reader::from_reader(&xml[..]);
        let mut scope = Scope::default();
        let mut depth = 0;
        let mut seen = Vec::new();
        loop {
            match reader.read_event().unwrap() {
                Event::Start(e) => {
                    depth += 1;
                    seen.push(scope.enter(&e, depth).unwrap());
                }
                Event::Empty(e) => {
                    seen.push(scope.enter(&e, depth + 1).unwrap());
                    scope.exit(depth + 1);
                }
                Event::End(_) => {
                    scope.exit(depth);
                    depth -= 1;
                }
                Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(
            seen,
            [Ns::Other, Ns::UblCbc, Ns::Other, Ns::Other, Ns::UblCbc]
        );
        assert!(scope.bindings.is_empty());
    }

    #[test]
    fn too_many_namespace_declarations_are_refused() {
        let decls: String = (0..200)
            .map(|i| format!(" xmlns:p{i}=\"urn:{i}\""))
            .collect();
        let xml = format!("<r{decls}/>");
        let mut reader = Reader::from_reader(xml.as_bytes());
        let Ok(Event::Empty(e)) = reader.read_event() else {
            panic!()
        };
        assert!(matches!(
            Scope::default().enter(&e, 1),
            Err(Stop::Refused(_))
        ));
    }
}
