//! The coded values of an invoice, as the EN 16931 code list rules (BR-CL-01..26) see them:
//! which element (or attribute) carries a code of which list, in each syntax, read in the one
//! streaming pass ([`Collector`], fed by `xml::drive`) into the model's [`Doc::codes`].
//!
//! The sites follow the contexts of the official schematron (CEN/TC 434 validation 1.3.16,
//! `EN16931-UBL-validation.xslt` mode M13 and `EN16931-CII-validation.xslt` mode M12), in
//! their priority order: an element takes the first site that matches it, as an XSLT node
//! takes only its highest-priority template. Their quirks are kept:
//! - a UBL amount without `currencyID` is checked as the empty code (BR-CL-03 has no
//!   `[@currencyID]` predicate), and so fails;
//! - UBL's `SEPA` creditor identifier scheme is allowed under `AccountingSupplierParty` or
//!   `PayeeParty` only (BR-CL-10);
//! - an allowance or charge's reason code is checked against UNCL 5189 (BR-CL-19) when its
//!   `ChargeIndicator` reads `false`/`0`, against UNCL 7161 (BR-CL-20) when it reads
//!   `true`/`1`, and not at all otherwise (XPath 2.0 casts the indicator to a boolean);
//! - UBL's document reference scheme (BR-CL-07) only applies where the reference's
//!   `DocumentTypeCode` is `130`;
//! - UBL's `#SUBJECT#` note prefix (BR-CL-08) is checked only when it is three characters.
//!
//! The lists themselves, and the check, are the rules' business (`rules::codelists`). Pure.

use std::borrow::Cow;

use super::bindings::{FastMap, FastSet};

use super::xml::{Attrs, Family, Tag};
use Tag as T;

/// Most distinct coded values kept per document: an invoice has a few dozen; a hostile one
/// with millions of distinct codes is kept to a bounded model (the rest are not checked, and
/// [`Doc::codes_truncated`] says so).
pub(crate) const MAX_CODES: usize = 4096;

/// One coded value met in the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CodeUse {
    /// The official rule id, e.g. `BR-CL-14`.
    pub(crate) rule: &'static str,
    /// Which list of the rule, where it has several (UBL BR-CL-01: `cbc:InvoiceTypeCode` or
    /// `cbc:CreditNoteTypeCode`, as `rules::codelists` names them); empty otherwise.
    pub(crate) list: &'static str,
    /// The value as written (not normalised: the check normalises as the rule does).
    pub(crate) value: String,
    /// Where: the element path below the root, e.g. `Delivery/DeliveryLocation/ID@schemeID`.
    pub(crate) location: String,
}

/// The rule ids Peppol's reason code lists are collected under (UBL only; see `decide`).
pub(crate) const PEPPOL_ALLOWANCE_REASON: &str = "PEPPOL-EN16931-CL002";
pub(crate) const PEPPOL_CHARGE_REASON: &str = "PEPPOL-EN16931-CL003";
/// Peppol's date format rule: UBL dates are collected under it.
pub(crate) const PEPPOL_DATE: &str = "PEPPOL-EN16931-F001";
/// Peppol's amount currency rule: the `currencyID`s of UBL amounts other than a `TaxTotal`'s
/// own `TaxAmount` (which the model keeps, with whether the total has a breakdown).
pub(crate) const PEPPOL_AMOUNT_CURRENCY: &str = "PEPPOL-EN16931-R051";
/// The list of [`PEPPOL_AMOUNT_CURRENCY`] uses at a VAT breakdown's `TaxAmount`.
pub(crate) const PEPPOL_SUBTOTAL_AMOUNT: &str = "cac:TaxSubtotal/cbc:TaxAmount";
/// Most distinct currencies collected for [`PEPPOL_AMOUNT_CURRENCY`].
const MAX_CURRENCIES: usize = 8;

/// Where a site's value is.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// The element's text.
    Text,
    /// An attribute, when present (the context has the `[@name]` predicate).
    Attr(&'static str),
    /// An attribute, absent read as empty (no predicate).
    AttrOrEmpty(&'static str),
    /// A UBL document note's `#SUBJECT#` prefix.
    NoteSubject,
}

/// A condition beyond the element path.
#[derive(Debug, Clone, Copy)]
enum When {
    Always,
    /// No ancestor with one of these names.
    NotUnder(&'static [Tag]),
    /// Only at the top: the path is exactly the pattern.
    AtTop,
    /// Decided at the end of the parent, by its indicator or type code.
    Parent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParentKind {
    /// An allowance or charge: 19 for false, 20 for true.
    AllowanceCharge,
    /// A UBL document reference: only with `DocumentTypeCode` 130.
    DocumentType130,
}

/// One context of a code list rule.
struct Site {
    rule: &'static str,
    list: &'static str,
    /// Path suffixes, any of which matches (the last tag is the element itself).
    patterns: &'static [&'static [Tag]],
    source: Source,
    when: When,
    /// UBL's amounts (BR-CL-03), whose currencies Peppol's R051 reads too.
    amount: bool,
}

const fn site(rule: &'static str, patterns: &'static [&'static [Tag]], source: Source) -> Site {
    Site {
        rule,
        list: "",
        patterns,
        source,
        when: When::Always,
        amount: false,
    }
}

/// UBL's sites, in the schematron's priority order.
static UBL: &[Site] = &[
    Site {
        list: "cbc:InvoiceTypeCode",
        ..site("BR-CL-01", &[&[T::InvoiceTypeCode]], Source::Text)
    },
    Site {
        list: "cbc:CreditNoteTypeCode",
        ..site("BR-CL-01", &[&[T::CreditNoteTypeCode]], Source::Text)
    },
    Site {
        amount: true,
        ..site(
            "BR-CL-03",
            &[
                &[T::Amount],
                &[T::BaseAmount],
                &[T::PriceAmount],
                &[T::TaxAmount],
                &[T::TaxableAmount],
                &[T::LineExtensionAmount],
                &[T::TaxExclusiveAmount],
                &[T::TaxInclusiveAmount],
                &[T::AllowanceTotalAmount],
                &[T::ChargeTotalAmount],
                &[T::PrepaidAmount],
                &[T::PayableRoundingAmount],
                &[T::PayableAmount],
            ],
            Source::AttrOrEmpty("currencyID"),
        )
    },
    site("BR-CL-04", &[&[T::DocumentCurrencyCode]], Source::Text),
    site("BR-CL-05", &[&[T::TaxCurrencyCode]], Source::Text),
    site(
        "BR-CL-06",
        &[&[T::InvoicePeriod, T::DescriptionCode]],
        Source::Text,
    ),
    Site {
        when: When::Parent,
        ..site(
            "BR-CL-07",
            &[
                &[T::AdditionalDocumentReference, T::ID],
                &[T::DocumentReference, T::ID],
            ],
            Source::Attr("schemeID"),
        )
    },
    site(
        "BR-CL-10",
        &[&[T::PartyIdentification, T::ID]],
        Source::Attr("schemeID"),
    ),
    site(
        "BR-CL-11",
        &[&[T::PartyLegalEntity, T::CompanyID]],
        Source::Attr("schemeID"),
    ),
    site(
        "BR-CL-13",
        &[&[T::CommodityClassification, T::ItemClassificationCode]],
        Source::Attr("listID"),
    ),
    site(
        "BR-CL-14",
        &[&[T::Country, T::IdentificationCode]],
        Source::Text,
    ),
    site(
        "BR-CL-15",
        &[&[T::OriginCountry, T::IdentificationCode]],
        Source::Text,
    ),
    site(
        "BR-CL-16",
        &[&[T::PaymentMeans, T::PaymentMeansCode]],
        Source::Text,
    ),
    site("BR-CL-17", &[&[T::TaxCategory, T::ID]], Source::Text),
    site(
        "BR-CL-18",
        &[&[T::ClassifiedTaxCategory, T::ID]],
        Source::Text,
    ),
    Site {
        when: When::Parent,
        ..site(
            "BR-CL-19",
            &[&[T::AllowanceCharge, T::AllowanceChargeReasonCode]],
            Source::Text,
        )
    },
    site(
        "BR-CL-21",
        &[&[T::StandardItemIdentification, T::ID]],
        Source::Attr("schemeID"),
    ),
    site("BR-CL-22", &[&[T::TaxExemptionReasonCode]], Source::Text),
    site(
        "BR-CL-23",
        &[
            &[T::InvoicedQuantity],
            &[T::BaseQuantity],
            &[T::CreditedQuantity],
        ],
        Source::Attr("unitCode"),
    ),
    site(
        "BR-CL-24",
        &[&[T::EmbeddedDocumentBinaryObject]],
        Source::Attr("mimeCode"),
    ),
    site("BR-CL-25", &[&[T::EndpointID]], Source::Attr("schemeID")),
    site(
        "BR-CL-26",
        &[&[T::DeliveryLocation, T::ID]],
        Source::Attr("schemeID"),
    ),
    // Peppol's format rule: every date, wherever it is (PEPPOL-EN16931-F001).
    site(
        PEPPOL_DATE,
        &[
            &[T::IssueDate],
            &[T::DueDate],
            &[T::TaxPointDate],
            &[T::StartDate],
            &[T::EndDate],
            &[T::ActualDeliveryDate],
        ],
        Source::Text,
    ),
    // Another mode of the schematron: the document's notes.
    Site {
        when: When::AtTop,
        ..site("BR-CL-08", &[&[T::Note]], Source::NoteSubject)
    },
];

/// CII's sites, in the schematron's priority order.
static CII: &[Site] = &[
    site(
        "BR-CL-01",
        &[&[T::ExchangedDocument, T::TypeCode]],
        Source::Text,
    ),
    site(
        "BR-CL-03",
        &[&[T::TaxTotalAmount]],
        Source::Attr("currencyID"),
    ),
    site("BR-CL-04", &[&[T::InvoiceCurrencyCode]], Source::Text),
    site("BR-CL-05", &[&[T::TaxCurrencyCode]], Source::Text),
    site("BR-CL-06", &[&[T::DueDateTypeCode]], Source::Text),
    site("BR-CL-07", &[&[T::ReferenceTypeCode]], Source::Text),
    site("BR-CL-08", &[&[T::SubjectCode]], Source::Text),
    Site {
        when: When::NotUnder(&[T::SpecifiedTradeProduct, T::ShipToTradeParty]),
        ..site("BR-CL-10", &[&[T::GlobalID]], Source::Attr("schemeID"))
    },
    Site {
        when: When::NotUnder(&[T::SpecifiedTaxRegistration]),
        ..site("BR-CL-11", &[&[T::ID]], Source::Attr("schemeID"))
    },
    site("BR-CL-13", &[&[T::ClassCode]], Source::Attr("listID")),
    site("BR-CL-14", &[&[T::CountryID]], Source::Text),
    site("BR-CL-15", &[&[T::OriginTradeCountry, T::ID]], Source::Text),
    site(
        "BR-CL-16",
        &[&[T::SpecifiedTradeSettlementPaymentMeans, T::TypeCode]],
        Source::Text,
    ),
    site(
        "BR-CL-17",
        &[&[T::CategoryTradeTax, T::CategoryCode]],
        Source::Text,
    ),
    site(
        "BR-CL-18",
        &[&[T::ApplicableTradeTax, T::CategoryCode]],
        Source::Text,
    ),
    Site {
        when: When::Parent,
        ..site(
            "BR-CL-19",
            &[&[T::SpecifiedTradeAllowanceCharge, T::ReasonCode]],
            Source::Text,
        )
    },
    site(
        "BR-CL-21",
        &[&[T::SpecifiedTradeProduct, T::GlobalID]],
        Source::Attr("schemeID"),
    ),
    site("BR-CL-22", &[&[T::ExemptionReasonCode]], Source::Text),
    site(
        "BR-CL-23",
        &[&[T::BasisQuantity], &[T::BilledQuantity]],
        Source::Attr("unitCode"),
    ),
    site(
        "BR-CL-24",
        &[&[T::AttachmentBinaryObject]],
        Source::Attr("mimeCode"),
    ),
    site(
        "BR-CL-25",
        &[&[T::URIUniversalCommunication, T::URIID]],
        Source::Attr("schemeID"),
    ),
    site(
        "BR-CL-26",
        &[&[
            T::ApplicableHeaderTradeDelivery,
            T::ShipToTradeParty,
            T::GlobalID,
        ]],
        Source::Attr("schemeID"),
    ),
];

/// An open allowance/charge or document reference whose codes wait for its indicator or type.
#[derive(Debug)]
struct Parent {
    /// Depth of the parent element.
    depth: usize,
    kind: ParentKind,
    /// The `ChargeIndicator` (UBL) or `ChargeIndicator/Indicator` (CII) text, or the
    /// `DocumentTypeCode` text.
    decided_by: Option<String>,
    /// Codes of its children: (value, location).
    waiting: Vec<(String, String)>,
}

/// A code in an element's text, being read.
#[derive(Debug)]
struct Open {
    depth: usize,
    /// The site it is read for, by index; `None` for the indicator or type code its parent
    /// waits for.
    site: Option<u16>,
    text: String,
}

/// Collects the coded values of one document during the streaming pass.
#[derive(Debug)]
pub(crate) struct Collector {
    sites: &'static [Site],
    family: Family,
    uses: Vec<CodeUse>,
    /// The values kept, by the number of their (rule, list) ([`Lists`]): the same code of the
    /// same list is checked once.
    seen: FastMap<u16, FastSet<String>>,
    truncated: bool,
    parents: Vec<Parent>,
    open: Option<Open>,
    /// The distinct amount currencies met, and whether at a breakdown's VAT amount
    /// ([`PEPPOL_AMOUNT_CURRENCY`]).
    currencies: Vec<(String, bool)>,
}

impl std::fmt::Debug for Site {
    // Written by hand: the patterns are long and say nothing in a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.rule, self.list)
    }
}

/// The longest code value kept: codes are short; a long value is wrong whatever it is.
const MAX_VALUE: usize = 128;

impl Collector {
    /// A collector for a document of `family` (ZUGFeRD 1.0 has no code list rules).
    pub(crate) fn new(family: Family) -> Collector {
        let sites: &'static [Site] = match family {
            Family::Ubl => UBL,
            Family::Cii => CII,
            Family::Zugferd1 => &[],
        };
        Collector {
            sites,
            family,
            uses: Vec::new(),
            seen: FastMap::default(),
            truncated: false,
            parents: Vec::new(),
            open: None,
            currencies: Vec::new(),
        }
    }

    /// An element of the syntax's namespaces starts at `depth`; `path` ends with it.
    pub(crate) fn start(&mut self, depth: usize, path: &[Tag], attrs: &Attrs<'_, '_>) {
        if self.sites.is_empty() {
            return;
        }
        let Some(&tag) = path.last() else { return };
        self.open = None;
        // The parents that decide their children's list.
        match (self.family, tag) {
            (Family::Ubl, T::AllowanceCharge) | (Family::Cii, T::SpecifiedTradeAllowanceCharge) => {
                self.parents.push(Parent {
                    depth,
                    kind: ParentKind::AllowanceCharge,
                    decided_by: None,
                    waiting: Vec::new(),
                });
            }
            (Family::Ubl, T::AdditionalDocumentReference | T::DocumentReference) => {
                self.parents.push(Parent {
                    depth,
                    kind: ParentKind::DocumentType130,
                    decided_by: None,
                    waiting: Vec::new(),
                });
            }
            _ => {}
        }
        if self.is_deciding(depth, path) {
            self.open = Some(Open {
                depth,
                site: None,
                text: String::new(),
            });
            return;
        }
        let sites = self.sites;
        let Some((at, site)) = candidates(self.family, tag)
            .iter()
            .map(|&i| (i, &sites[usize::from(i)]))
            .find(|(_, s)| matches(s, path))
        else {
            return;
        };
        match site.source {
            Source::Text | Source::NoteSubject => {
                self.open = Some(Open {
                    depth,
                    site: Some(at),
                    text: String::new(),
                });
            }
            Source::Attr(name) | Source::AttrOrEmpty(name) => {
                // Borrowed: most codes repeat, and only a new one is kept.
                let value = match (attrs.get_cow(name.as_bytes()), site.source) {
                    (Some(v), _) => v,
                    (None, Source::AttrOrEmpty(_)) => Cow::Borrowed(""),
                    (None, _) => return,
                };
                // UBL: a SEPA creditor identifier is a party identifier of the seller or the
                // payee only.
                if site.rule == "BR-CL-10"
                    && self.family == Family::Ubl
                    && normalize(&value) == "SEPA"
                    && path
                        .iter()
                        .any(|t| matches!(t, T::AccountingSupplierParty | T::PayeeParty))
                {
                    return;
                }
                self.found(at, value, path, Some(name), depth);
            }
        }
    }

    /// Text (or a character) inside the innermost open element.
    pub(crate) fn text(&mut self, depth: usize, s: &str) {
        if let Some(open) = &mut self.open
            && open.depth == depth
        {
            for c in s.chars() {
                if open.text.len() + c.len_utf8() > MAX_VALUE {
                    break;
                }
                open.text.push(c);
            }
        }
    }

    /// The element at `depth` ends.
    /// The element at `depth` ends; `path` still ends with it.
    pub(crate) fn end(&mut self, depth: usize, path: &[Tag]) {
        if let Some(open) = self.open.take_if(|o| o.depth == depth) {
            match open.site {
                None => {
                    if let Some(parent) = self.parents.last_mut() {
                        parent.decided_by.get_or_insert(open.text);
                    }
                }
                Some(at) => match self.sites[usize::from(at)].source {
                    Source::NoteSubject => {
                        // `#ABC#…`: the subject between the first two `#`, when it is three
                        // characters long.
                        let subject = open
                            .text
                            .split_once('#')
                            .and_then(|(_, rest)| rest.split_once('#'))
                            .map(|(subject, _)| subject.to_string());
                        if let Some(subject) = subject
                            && subject.chars().count() == 3
                        {
                            self.found(at, Cow::Owned(subject), path, None, depth);
                        }
                    }
                    _ => self.found(at, Cow::Owned(open.text), path, None, depth),
                },
            }
        }
        if self.parents.last().is_some_and(|p| p.depth == depth)
            && let Some(parent) = self.parents.pop()
        {
            self.decide(parent);
        }
    }

    /// Whether the text at `depth` is wanted (so the pass decodes it only then).
    pub(crate) fn wants_text(&self, depth: usize) -> bool {
        self.open.as_ref().is_some_and(|o| o.depth == depth)
    }

    /// The coded values met, and whether some were left out ([`MAX_CODES`]).
    pub(crate) fn finish(self) -> (Vec<CodeUse>, bool) {
        (self.uses, self.truncated)
    }

    /// Whether the element at `path` is the indicator or type code of the open parent.
    fn is_deciding(&self, depth: usize, path: &[Tag]) -> bool {
        let Some(parent) = self.parents.last() else {
            return false;
        };
        let below = depth - parent.depth;
        match (parent.kind, self.family) {
            (ParentKind::AllowanceCharge, Family::Ubl) => {
                below == 1 && path.ends_with(&[T::ChargeIndicator])
            }
            (ParentKind::AllowanceCharge, _) => {
                below == 2 && path.ends_with(&[T::ChargeIndicator, T::Indicator])
            }
            (ParentKind::DocumentType130, _) => {
                below == 1 && path.ends_with(&[T::DocumentTypeCode])
            }
        }
    }

    /// A value of the site numbered `at` at `path` (its attribute `attr`, or its text).
    fn found(
        &mut self,
        at: u16,
        value: Cow<'_, str>,
        path: &[Tag],
        attr: Option<&str>,
        depth: usize,
    ) {
        let site = &self.sites[usize::from(at)];
        if site.amount && !path.ends_with(&[T::TaxTotal, T::TaxAmount]) {
            // Self-billing's R051 leaves the breakdown's VAT amounts out: they are told apart.
            let subtotal = path.ends_with(&[T::TaxSubtotal, T::TaxAmount]);
            let list = if subtotal { PEPPOL_SUBTOTAL_AMOUNT } else { "" };
            // A short list scanned, not a set: an invoice has one or two currencies, and this
            // runs for every amount.
            if !self
                .currencies
                .iter()
                .any(|(v, s)| *s == subtotal && *v == *value)
                && self.currencies.len() < MAX_CURRENCIES
            {
                self.currencies.push((value.to_string(), subtotal));
                self.push(
                    lists().number(PEPPOL_AMOUNT_CURRENCY, list),
                    CodeUse {
                        rule: PEPPOL_AMOUNT_CURRENCY,
                        list,
                        value: value.to_string(),
                        location: location(path, attr),
                    },
                );
            }
        }
        if let When::Parent = site.when
            && let Some(parent) = self.parents.last_mut()
            && depth == parent.depth + 1
        {
            parent
                .waiting
                .push((value.into_owned(), location(path, attr)));
            return;
        }
        // Looked up before the location is written: most codes repeat (EUR, C62, S).
        let number = lists().of_site(self.family, at);
        if self.is_seen(number, &value) {
            return;
        }
        self.push(
            number,
            CodeUse {
                rule: site.rule,
                list: site.list,
                value: value.into_owned(),
                location: location(path, attr),
            },
        );
    }

    fn is_seen(&self, number: Option<u16>, value: &str) -> bool {
        number.is_some_and(|n| {
            self.seen
                .get(&n)
                .is_some_and(|values| values.contains(value))
        })
    }

    fn decide(&mut self, parent: Parent) {
        // Peppol's CL002/CL003 compare the indicator as written (`cbc:ChargeIndicator =
        // 'false'`), EN 16931's as a boolean (`= false()`, so `0` and padded values count too).
        let mut rules: [Option<&'static str>; 2] = [None, None];
        match parent.kind {
            ParentKind::AllowanceCharge => {
                rules[0] = match parent.decided_by.as_deref().map(normalize).as_deref() {
                    Some("false" | "0") => Some("BR-CL-19"),
                    Some("true" | "1") => Some("BR-CL-20"),
                    _ => None,
                };
                if self.family == Family::Ubl {
                    rules[1] = match parent.decided_by.as_deref() {
                        Some("false") => Some(PEPPOL_ALLOWANCE_REASON),
                        Some("true") => Some(PEPPOL_CHARGE_REASON),
                        _ => None,
                    };
                }
            }
            ParentKind::DocumentType130 => {
                // `cbc:DocumentTypeCode = '130'`: a string comparison, as written.
                if parent.decided_by.as_deref() == Some("130") {
                    rules[0] = Some("BR-CL-07");
                }
            }
        }
        for rule in rules.into_iter().flatten() {
            let number = lists().number(rule, "");
            for (value, location) in &parent.waiting {
                self.push(
                    number,
                    CodeUse {
                        rule,
                        list: "",
                        value: value.clone(),
                        location: location.clone(),
                    },
                );
            }
        }
    }

    /// Keeps `code`, of the list numbered `number` (`None`: a list [`Lists`] does not know,
    /// kept without deduplication).
    fn push(&mut self, number: Option<u16>, code: CodeUse) {
        // The same code of the same list is checked once (its first place is reported).
        if self.is_seen(number, &code.value) {
            return;
        }
        if self.uses.len() >= MAX_CODES {
            self.truncated = true;
            return;
        }
        if let Some(n) = number {
            self.seen.entry(n).or_default().insert(code.value.clone());
        }
        self.uses.push(code);
    }
}

/// Every (rule, list) a code is kept under, numbered once per process: a document's codes are
/// told apart by number instead of by comparing rule and list names for every code.
struct Lists {
    pairs: Vec<(&'static str, &'static str)>,
    /// The number of each site's list: UBL's, then CII's, by site index.
    of_site: [Vec<u16>; 2],
}

impl Lists {
    /// The number of `rule`'s `list` (a short scan: only for the rarer codes decided at a
    /// parent's end and the Peppol currencies).
    fn number(&self, rule: &str, list: &str) -> Option<u16> {
        let at = self.pairs.iter().position(|p| *p == (rule, list))?;
        u16::try_from(at).ok()
    }

    fn of_site(&self, family: Family, at: u16) -> Option<u16> {
        let sites = match family {
            Family::Ubl => &self.of_site[0],
            Family::Cii => &self.of_site[1],
            Family::Zugferd1 => return None,
        };
        sites.get(usize::from(at)).copied()
    }
}

fn lists() -> &'static Lists {
    static LISTS: std::sync::OnceLock<Lists> = std::sync::OnceLock::new();
    LISTS.get_or_init(|| {
        let mut pairs: Vec<(&'static str, &'static str)> = Vec::new();
        let mut number = |pair: (&'static str, &'static str)| -> u16 {
            let at = pairs.iter().position(|p| *p == pair).unwrap_or_else(|| {
                pairs.push(pair);
                pairs.len() - 1
            });
            u16::try_from(at).unwrap_or(u16::MAX)
        };
        let of_site = [UBL, CII].map(|sites| {
            sites
                .iter()
                .map(|s| number((s.rule, s.list)))
                .collect::<Vec<_>>()
        });
        for pair in [
            ("BR-CL-07", ""),
            ("BR-CL-19", ""),
            ("BR-CL-20", ""),
            (PEPPOL_ALLOWANCE_REASON, ""),
            (PEPPOL_CHARGE_REASON, ""),
            (PEPPOL_AMOUNT_CURRENCY, ""),
            (PEPPOL_AMOUNT_CURRENCY, PEPPOL_SUBTOTAL_AMOUNT),
        ] {
            number(pair);
        }
        Lists { pairs, of_site }
    })
}

/// The sites of `family` a pattern of which ends with `tag`, by index in priority order: most
/// elements have none, and the rest are matched against a few sites instead of all.
fn candidates(family: Family, tag: Tag) -> &'static [u16] {
    // Indexed by the tag's discriminant: one load per element.
    static TABLES: std::sync::OnceLock<[Vec<Vec<u16>>; 2]> = std::sync::OnceLock::new();
    let tables = TABLES.get_or_init(|| {
        let by_last = |sites: &[Site]| -> Vec<Vec<u16>> {
            let mut table = vec![Vec::new(); Tag::COUNT];
            for (i, site) in sites.iter().enumerate() {
                for tag in site.patterns.iter().filter_map(|p| p.last().copied()) {
                    if let Some(slot) = table.get_mut(tag as usize)
                        && let Ok(i) = u16::try_from(i)
                        && !slot.contains(&i)
                    {
                        slot.push(i);
                    }
                }
            }
            table
        };
        [by_last(UBL), by_last(CII)]
    });
    let table = match family {
        Family::Ubl => &tables[0],
        Family::Cii => &tables[1],
        Family::Zugferd1 => return &[],
    };
    table.get(tag as usize).map_or(&[], Vec::as_slice)
}

fn matches(site: &Site, path: &[Tag]) -> bool {
    let hit = site.patterns.iter().any(|p| path.ends_with(p));
    hit && match site.when {
        When::Always | When::Parent => true,
        When::AtTop => site.patterns.contains(&path),
        When::NotUnder(names) => !path[..path.len() - 1].iter().any(|t| names.contains(t)),
    }
}

/// `normalize-space`: trimmed, inner runs of whitespace made one space.
pub(crate) fn normalize(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The element path below the root by local names, `?` for elements of other namespaces, and
/// `@attr` when the code is an attribute.
fn location(path: &[Tag], attr: Option<&str>) -> String {
    let mut out = String::new();
    for (i, tag) in path.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(tag.name());
    }
    if let Some(attr) = attr {
        out.push('@');
        out.push_str(attr);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::xml;

    /// The coded values of `text`, as (rule, list, value), in document order.
    fn codes_of(text: &str) -> Vec<(&'static str, &'static str, String)> {
        let (uses, truncated) = xml::drive_text(text).codes.finish();
        assert!(!truncated);
        uses.into_iter()
            .map(|u| (u.rule, u.list, u.value))
            .collect()
    }

    fn has(codes: &[(&'static str, &'static str, String)], rule: &str, value: &str) -> bool {
        codes.iter().any(|(r, _, v)| *r == rule && v == value)
    }

    const UBL: &str = r#"<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2" xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2">"#;

    #[test]
    fn ubl_codes_where_the_schematron_looks() {
        let codes = codes_of(&format!(
            r#"{UBL}<cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode><cbc:Note>#AAI#some text</cbc:Note><cbc:Note>#TOOLONG#x</cbc:Note>
<cbc:DocumentCurrencyCode> EUR </cbc:DocumentCurrencyCode>
<cac:AdditionalDocumentReference><cbc:ID schemeID="ABZ">1</cbc:ID><cbc:DocumentTypeCode>130</cbc:DocumentTypeCode></cac:AdditionalDocumentReference>
<cac:AdditionalDocumentReference><cbc:ID schemeID="XYZ">2</cbc:ID></cac:AdditionalDocumentReference>
<cac:AccountingSupplierParty><cac:Party><cbc:EndpointID schemeID="0106">1</cbc:EndpointID><cac:PartyIdentification><cbc:ID schemeID="SEPA">NL00ZZZ</cbc:ID></cac:PartyIdentification>
<cac:PostalAddress><cac:Country><cbc:IdentificationCode>NL</cbc:IdentificationCode></cac:Country></cac:PostalAddress></cac:Party></cac:AccountingSupplierParty>
<cac:AccountingCustomerParty><cac:Party><cac:PartyIdentification><cbc:ID schemeID="SEPA">x</cbc:ID></cac:PartyIdentification><cac:PartyIdentification><cbc:ID>no scheme</cbc:ID></cac:PartyIdentification></cac:Party></cac:AccountingCustomerParty>
<cac:AllowanceCharge><cbc:ChargeIndicator>false</cbc:ChargeIndicator><cbc:AllowanceChargeReasonCode>95</cbc:AllowanceChargeReasonCode><cbc:Amount>1</cbc:Amount></cac:AllowanceCharge>
<cac:AllowanceCharge><cbc:AllowanceChargeReasonCode>FC</cbc:AllowanceChargeReasonCode><cbc:ChargeIndicator>true</cbc:ChargeIndicator><cbc:Amount currencyID="EUR">1</cbc:Amount></cac:AllowanceCharge>
<cac:AllowanceCharge><cbc:AllowanceChargeReasonCode>ZZ</cbc:AllowanceChargeReasonCode></cac:AllowanceCharge>
<cac:TaxTotal><cac:TaxSubtotal><cac:TaxCategory><cbc:ID>S</cbc:ID></cac:TaxCategory></cac:TaxSubtotal></cac:TaxTotal>
<cac:InvoiceLine><cbc:InvoicedQuantity unitCode="C62">1</cbc:InvoicedQuantity><cac:Item><cac:ClassifiedTaxCategory><cbc:ID>S</cbc:ID></cac:ClassifiedTaxCategory></cac:Item></cac:InvoiceLine>
</Invoice>"#
        ));
        assert!(has(&codes, "BR-CL-01", "380"));
        assert_eq!(
            codes.iter().find(|c| c.0 == "BR-CL-01").map(|c| c.1),
            Some("cbc:InvoiceTypeCode")
        );
        assert!(has(&codes, "BR-CL-08", "AAI"));
        assert!(
            !has(&codes, "BR-CL-08", "TOOLONG"),
            "only a three-letter subject"
        );
        assert!(
            has(&codes, "BR-CL-04", " EUR "),
            "kept as written: {codes:?}"
        );
        // Only the reference typed 130.
        assert!(has(&codes, "BR-CL-07", "ABZ"));
        assert!(!has(&codes, "BR-CL-07", "XYZ"));
        assert!(has(&codes, "BR-CL-25", "0106"));
        // SEPA: allowed for the seller, checked (and so refused) for the buyer.
        assert_eq!(
            codes
                .iter()
                .filter(|c| c.0 == "BR-CL-10" && c.2 == "SEPA")
                .count(),
            1
        );
        assert!(has(&codes, "BR-CL-14", "NL"));
        // The indicator decides the list, wherever it stands; without one, neither.
        assert!(has(&codes, "BR-CL-19", "95"));
        assert!(has(&codes, "BR-CL-20", "FC"));
        assert!(!codes.iter().any(|c| c.2 == "ZZ"), "{codes:?}");
        // An amount without currencyID is the empty code.
        assert!(has(&codes, "BR-CL-03", ""));
        assert!(has(&codes, "BR-CL-03", "EUR"));
        assert!(has(&codes, "BR-CL-17", "S"));
        assert!(has(&codes, "BR-CL-18", "S"));
        assert!(has(&codes, "BR-CL-23", "C62"));
    }

    #[test]
    fn cii_codes_where_the_schematron_looks() {
        let codes = codes_of(
            r#"<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100" xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100" xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100">
<rsm:ExchangedDocument><ram:TypeCode>380</ram:TypeCode></rsm:ExchangedDocument>
<rsm:SupplyChainTradeTransaction>
<ram:IncludedSupplyChainTradeLineItem><ram:SpecifiedTradeProduct><ram:GlobalID schemeID="0160">1</ram:GlobalID></ram:SpecifiedTradeProduct></ram:IncludedSupplyChainTradeLineItem>
<ram:ApplicableHeaderTradeAgreement><ram:SellerTradeParty><ram:GlobalID schemeID="0088">2</ram:GlobalID>
<ram:SpecifiedLegalOrganization><ram:ID schemeID="0106">3</ram:ID></ram:SpecifiedLegalOrganization>
<ram:SpecifiedTaxRegistration><ram:ID schemeID="VA">NL1</ram:ID></ram:SpecifiedTaxRegistration></ram:SellerTradeParty></ram:ApplicableHeaderTradeAgreement>
<ram:ApplicableHeaderTradeDelivery><ram:ShipToTradeParty><ram:GlobalID schemeID="0088">4</ram:GlobalID></ram:ShipToTradeParty></ram:ApplicableHeaderTradeDelivery>
<ram:ApplicableHeaderTradeSettlement><ram:InvoiceCurrencyCode>EUR</ram:InvoiceCurrencyCode>
<ram:SpecifiedTradeAllowanceCharge><ram:ChargeIndicator><udt:Indicator>false</udt:Indicator></ram:ChargeIndicator><ram:ReasonCode>95</ram:ReasonCode></ram:SpecifiedTradeAllowanceCharge>
</ram:ApplicableHeaderTradeSettlement></rsm:SupplyChainTradeTransaction></rsm:CrossIndustryInvoice>"#,
        );
        assert!(has(&codes, "BR-CL-01", "380"));
        assert!(has(&codes, "BR-CL-21", "0160"));
        assert!(has(&codes, "BR-CL-10", "0088"), "{codes:?}");
        assert!(has(&codes, "BR-CL-26", "0088"));
        assert!(has(&codes, "BR-CL-11", "0106"));
        assert!(
            !has(&codes, "BR-CL-11", "VA"),
            "tax registrations are not checked"
        );
        assert!(has(&codes, "BR-CL-04", "EUR"));
        assert!(has(&codes, "BR-CL-19", "95"));
        assert!(
            !has(&codes, "BR-CL-10", "0160"),
            "a product's id is BR-CL-21's"
        );
    }
}
