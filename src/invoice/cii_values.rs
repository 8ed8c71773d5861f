//! The CII syntax binding rules that read values, not only presence and counts (which the
//! generated tables of [`super::bindings`] check): which referenced documents may carry a URI,
//! a type code, a name, an attachment, a reference type or an issue date (CII-DT-015/018/021/
//! 022/024/027), amounts without `currencyID` or `currencyCodeListVersionID` (CII-DT-031/032),
//! quantity units only where the lines' billed quantities have one (CII-DT-033), `VAT` as the
//! only tax type code (CII-DT-037), format 102 dates (CII-DT-097), one origin country id per
//! product (CII-SR-090), one VAT due date type code (CII-SR-462) and one payment means text
//! (CII-SR-468); how many additional documents of a type code the header agreement and a line's
//! settlement hold (CII-SR-457/458/474..476), and that a line's gross price has only allowances
//! (CII-SR-119).
//!
//! Several contexts are element name patterns (`//ram:*[ends-with(name(), 'Amount')]`), so the
//! checks look at the local names as written, in the one streaming pass; each context is the
//! highest-priority template for its elements in the artefact's mode, so none is shadowed.
//! Locations come from the binding tracker's open elements. Pure.

use super::bindings::Hit;
use super::xml::Ns;

/// The element being started or ended, as the binding tracker knows it.
pub(crate) trait Element {
    /// How many open elements are above it (the root is the first).
    fn ancestors(&self) -> usize;
    /// The local name of ancestor `i` (0 is the root).
    fn ancestor(&self, i: usize) -> &[u8];
    /// It has the attribute `name`.
    fn has_attr(&self, name: &str) -> bool;
    /// The value of its attribute `name`.
    fn attr(&self, name: &[u8]) -> Option<String>;
    /// Where its start tag ends, in bytes.
    fn offset(&self) -> usize;
    /// Its path, as an SVRL location gives it.
    fn location(&self) -> String;
}

/// Most values kept for one check (a bound on a hostile document).
const MAX_VALUES: usize = 16;
/// Longest text kept of one value.
const MAX_TEXT: usize = 256;

/// A referenced document being read (`ram:*ReferencedDocument`).
#[derive(Default)]
struct Reference {
    depth: usize,
    offset: usize,
    additional: bool,
    invoice: bool,
    uri: bool,
    name: bool,
    binary: bool,
    /// How many `ram:Name` and `ram:AttachmentBinaryObject` children.
    names: u32,
    binaries: u32,
    reference_type: bool,
    issue_date: bool,
    /// Its `ram:TypeCode` children, as written.
    type_codes: Vec<String>,
}

/// A tax (`ram:*TradeTax`) being read: whether it has a type code, and one is `VAT`.
struct Tax {
    depth: usize,
    offset: usize,
    typed: bool,
    vat: bool,
}

/// A line's product (`…/ram:IncludedSupplyChainTradeLineItem/ram:SpecifiedTradeProduct`):
/// its origin countries and their ids.
struct Product {
    depth: usize,
    offset: usize,
    origins: usize,
    ids: usize,
}

/// A context that counts its additional referenced documents by type code: the header
/// agreement (CII-SR-457/458/475/476) or a line's settlement (CII-SR-474).
#[derive(Default)]
struct Holder {
    depth: usize,
    offset: usize,
    /// Documents with a `TypeCode` of 50 and of 130, as written (`ram:TypeCode = '50'`).
    written_50: u32,
    written_130: u32,
    /// Documents whose `normalize-space(ram:TypeCode)` is 130; the names and attachments of
    /// those whose is 916.
    normalized_130: u32,
    names_916: u32,
    binaries_916: u32,
}

/// A line's agreement (`…/ram:SpecifiedLineTradeAgreement`), for CII-SR-119: whether its
/// gross price's allowance has a charge indicator (one that is false) and an amount.
struct LineAgreement {
    depth: usize,
    offset: usize,
    indicator: bool,
    indicator_false: bool,
    amount: bool,
    /// An indicator that is no boolean.
    uncastable: bool,
}

/// Whose text is being read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reading {
    ReferenceType,
    TaxType,
    Date,
    DueDateType,
    Information,
    /// The `udt:Indicator` of a gross price allowance's charge indicator.
    PriceIndicator,
}

/// The value rules' state over one CII document.
#[derive(Default)]
pub(crate) struct CiiValues {
    references: Vec<Reference>,
    taxes: Vec<Tax>,
    product: Option<Product>,
    agreement: Option<Holder>,
    line_settlement: Option<Holder>,
    line_agreement: Option<LineAgreement>,
    /// The element whose text is read: (depth, what, text so far, its offset).
    reading: Option<(usize, Reading, String, usize)>,
    /// The first quantity with a `unitCode` (location, offset), and whether a line's billed
    /// quantity has one (CII-DT-033).
    unit_quantity: Option<(String, usize)>,
    billed_unit: bool,
    /// The header settlement (location, offset), the distinct VAT due date type codes, and
    /// the payment means texts normalized (the first, and whether another differs).
    settlement: Option<(String, usize)>,
    due_date_types: Vec<String>,
    information: Option<String>,
    information_differs: bool,
    hits: Vec<Hit>,
}

/// `local` ends with `suffix`.
fn ends(local: &[u8], suffix: &[u8]) -> bool {
    local.ends_with(suffix)
}

impl CiiValues {
    /// An element `at` starts at `depth` (the root is 1).
    pub(crate) fn start(&mut self, depth: usize, ns: Ns, local: &[u8], at: &dyn Element) {
        let offset = at.offset();
        let ancestors = at.ancestors();
        let parent = ancestors.checked_sub(1).map(|i| at.ancestor(i));
        // The names above it, from the root: `path(&[a, b])` is `/*/a/b/<it>`.
        let path = |names: &[&[u8]]| {
            ancestors == names.len() + 1
                && names
                    .iter()
                    .enumerate()
                    .all(|(i, n)| at.ancestor(i + 1) == *n)
        };
        match ns {
            Ns::CiiRam => {}
            Ns::CiiUdt => {
                if local == b"DateTimeString" && at.attr(b"format").as_deref() == Some("102") {
                    self.reading = Some((depth, Reading::Date, String::new(), offset));
                }
                if local == b"Indicator"
                    && self
                        .line_agreement
                        .as_ref()
                        .is_some_and(|a| a.depth + 4 == depth)
                    && parent == Some(b"ChargeIndicator")
                    && at.ancestor(ancestors - 2) == b"AppliedTradeAllowanceCharge"
                    && at.ancestor(ancestors - 3) == b"GrossPriceProductTradePrice"
                {
                    self.reading = Some((depth, Reading::PriceIndicator, String::new(), offset));
                }
                return;
            }
            _ => return,
        }
        // A child of an open referenced document or tax.
        if let Some(r) = self.references.last_mut()
            && r.depth + 1 == depth
        {
            match local {
                b"URIID" => r.uri = true,
                b"Name" => {
                    r.name = true;
                    r.names = r.names.saturating_add(1);
                }
                b"AttachmentBinaryObject" => {
                    r.binary = true;
                    r.binaries = r.binaries.saturating_add(1);
                }
                b"ReferenceTypeCode" => r.reference_type = true,
                b"FormattedIssueDateTime" => r.issue_date = true,
                b"TypeCode" => {
                    self.reading = Some((depth, Reading::ReferenceType, String::new(), offset))
                }
                _ => {}
            }
        }
        if let Some(t) = self.taxes.last_mut()
            && t.depth + 1 == depth
        {
            if local == b"TypeCode" {
                t.typed = true;
                self.reading = Some((depth, Reading::TaxType, String::new(), offset));
            }
            if local == b"DueDateTypeCode" && parent == Some(b"ApplicableTradeTax") {
                self.reading = Some((depth, Reading::DueDateType, String::new(), offset));
            }
        }
        if let Some(p) = &mut self.product {
            if p.depth + 1 == depth && local == b"OriginTradeCountry" {
                p.origins += 1;
            }
            if p.depth + 2 == depth && local == b"ID" && parent == Some(b"OriginTradeCountry") {
                p.ids += 1;
            }
        }
        if let Some(a) = &mut self.line_agreement
            && a.depth + 3 == depth
            && parent == Some(b"AppliedTradeAllowanceCharge")
            && at.ancestor(ancestors - 2) == b"GrossPriceProductTradePrice"
        {
            a.indicator |= local == b"ChargeIndicator";
            a.amount |= local == b"ActualAmount";
        }
        if local == b"Information" && parent == Some(b"SpecifiedTradeSettlementPaymentMeans") {
            self.reading = Some((depth, Reading::Information, String::new(), offset));
        }
        if ends(local, b"ReferencedDocument") && self.references.len() < MAX_VALUES {
            self.references.push(Reference {
                depth,
                offset,
                additional: local == b"AdditionalReferencedDocument",
                invoice: local == b"InvoiceReferencedDocument",
                ..Reference::default()
            });
        } else if ends(local, b"Amount") && local != b"TaxTotalAmount" {
            for (name, id) in [
                ("currencyID", "CII-DT-031"),
                ("currencyCodeListVersionID", "CII-DT-032"),
            ] {
                if at.has_attr(name) {
                    self.hit(id, at.location(), offset);
                }
            }
        } else if ends(local, b"Quantity") {
            if at.has_attr("unitCode") {
                self.billed_unit |= local == b"BilledQuantity"
                    && path(&[
                        b"SupplyChainTradeTransaction",
                        b"IncludedSupplyChainTradeLineItem",
                        b"SpecifiedLineTradeDelivery",
                    ]);
                if self.unit_quantity.is_none() {
                    self.unit_quantity = Some((at.location(), offset));
                }
            }
        } else if ends(local, b"TradeTax") && self.taxes.len() < MAX_VALUES {
            self.taxes.push(Tax {
                depth,
                offset,
                typed: false,
                vat: false,
            });
        } else if local == b"SpecifiedTradeProduct"
            && path(&[
                b"SupplyChainTradeTransaction",
                b"IncludedSupplyChainTradeLineItem",
            ])
        {
            self.product = Some(Product {
                depth,
                offset,
                origins: 0,
                ids: 0,
            });
        } else if local == b"ApplicableHeaderTradeSettlement"
            && path(&[b"SupplyChainTradeTransaction"])
            && self.settlement.is_none()
        {
            self.settlement = Some((at.location(), offset));
        } else if local == b"ApplicableHeaderTradeAgreement"
            && path(&[b"SupplyChainTradeTransaction"])
        {
            self.agreement = Some(Holder {
                depth,
                offset,
                ..Holder::default()
            });
        } else if local == b"SpecifiedLineTradeSettlement"
            && path(&[
                b"SupplyChainTradeTransaction",
                b"IncludedSupplyChainTradeLineItem",
            ])
        {
            self.line_settlement = Some(Holder {
                depth,
                offset,
                ..Holder::default()
            });
        } else if local == b"SpecifiedLineTradeAgreement"
            && path(&[
                b"SupplyChainTradeTransaction",
                b"IncludedSupplyChainTradeLineItem",
            ])
        {
            self.line_agreement = Some(LineAgreement {
                depth,
                offset,
                indicator: false,
                indicator_false: false,
                amount: false,
                uncastable: false,
            });
        }
    }

    /// Whether the text at `depth` is read.
    pub(crate) fn wants_text(&self, depth: usize) -> bool {
        self.reading.as_ref().is_some_and(|(d, ..)| *d == depth)
    }

    /// Text of the element at `depth`.
    pub(crate) fn text(&mut self, depth: usize, s: &str) {
        if let Some((d, _, text, _)) = &mut self.reading
            && *d == depth
        {
            for c in s.chars() {
                if text.len() + c.len_utf8() > MAX_TEXT {
                    break;
                }
                text.push(c);
            }
        }
    }

    /// The element `at` ends at `depth`.
    pub(crate) fn end(&mut self, depth: usize, at: &dyn Element) {
        if let Some((_, what, text, offset)) = self.reading.take_if(|(d, ..)| *d == depth) {
            self.read(what, text, depth, offset, at);
        }
        if self.references.last().is_some_and(|r| r.depth == depth)
            && let Some(r) = self.references.pop()
        {
            self.reference(&r, at);
        }
        if self.taxes.last().is_some_and(|t| t.depth == depth)
            && let Some(t) = self.taxes.pop()
            && t.typed
            && !t.vat
        {
            self.hit("CII-DT-037", at.location(), t.offset);
        }
        if let Some(p) = self.product.take_if(|p| p.depth == depth)
            && p.origins > 0
            && p.ids != 1
        {
            self.hit("CII-SR-090", at.location(), p.offset);
        }
        if let Some(h) = self.agreement.take_if(|h| h.depth == depth) {
            for (id, n) in [
                ("CII-SR-457", h.written_50),
                ("CII-SR-458", h.written_130),
                ("CII-SR-475", h.names_916),
                ("CII-SR-476", h.binaries_916),
            ] {
                if n > 1 {
                    self.hit(id, at.location(), h.offset);
                }
            }
        }
        if let Some(h) = self.line_settlement.take_if(|h| h.depth == depth)
            && h.normalized_130 > 1
        {
            self.hit("CII-SR-474", at.location(), h.offset);
        }
        // `(indicator[false] and amount) or (not(indicator) and not(amount))`, negated.
        if let Some(a) = self.line_agreement.take_if(|a| a.depth == depth)
            && !a.uncastable
            && (a.indicator || a.amount)
            && !(a.amount && a.indicator_false)
        {
            self.hit("CII-SR-119", at.location(), a.offset);
        }
    }

    /// What the document as a whole breaks; `root` is the root's location.
    pub(crate) fn finish(mut self, root: &str) -> Vec<Hit> {
        if let Some((location, offset)) = self.unit_quantity.take()
            && !self.billed_unit
        {
            self.hit("CII-DT-033", location, offset);
        }
        if self.due_date_types.len() > 1
            && let Some((location, offset)) = self.settlement.take()
        {
            self.hit("CII-SR-462", location, offset);
        }
        if self.information_differs {
            self.hit("CII-SR-468", root.to_owned(), 0);
        }
        self.hits
    }

    fn read(&mut self, what: Reading, text: String, depth: usize, offset: usize, at: &dyn Element) {
        match what {
            Reading::ReferenceType => {
                if let Some(r) = self.references.last_mut()
                    && r.depth + 1 == depth
                    && r.type_codes.len() < MAX_VALUES
                {
                    r.type_codes.push(text);
                }
            }
            Reading::TaxType => {
                if let Some(t) = self.taxes.last_mut() {
                    t.vat |= text == "VAT";
                }
            }
            Reading::Date => {
                if !is_date_102(&text) {
                    self.hit("CII-DT-097", at.location(), offset);
                }
            }
            Reading::DueDateType => {
                if !self.due_date_types.contains(&text) && self.due_date_types.len() < MAX_VALUES {
                    self.due_date_types.push(text);
                }
            }
            Reading::PriceIndicator => {
                // `udt:Indicator = false()` casts the text to a boolean.
                // Text that is no boolean is an error in the artefact: no verdict.
                if let Some(a) = &mut self.line_agreement {
                    match text.trim_matches(XML_SPACE) {
                        "false" | "0" => a.indicator_false = true,
                        "true" | "1" => {}
                        _ => a.uncastable = true,
                    }
                }
            }
            Reading::Information => {
                let normalized = text.split_whitespace().collect::<Vec<_>>().join(" ");
                match &self.information {
                    None => self.information = Some(normalized),
                    Some(first) => self.information_differs |= *first != normalized,
                }
            }
        }
    }

    /// CII-DT-015..027: what a referenced document may carry, by its kind and type code; and
    /// the count of the context holding it (CII-SR-457/458/474..476).
    fn reference(&mut self, r: &Reference, at: &dyn Element) {
        if r.additional {
            let written = |code: &str| r.type_codes.iter().any(|c| c == code);
            // `normalize-space(ram:TypeCode)`: of the one type code (more is an XPath error).
            let normalized = r.type_codes.first().map(|c| c.trim_matches(XML_SPACE));
            let normalized = |code: &str| normalized == Some(code);
            if let Some(h) = self.agreement.as_mut().filter(|h| h.depth + 1 == r.depth) {
                h.written_50 = h.written_50.saturating_add(u32::from(written("50")));
                h.written_130 = h.written_130.saturating_add(u32::from(written("130")));
                if normalized("916") {
                    h.names_916 = h.names_916.saturating_add(r.names);
                    h.binaries_916 = h.binaries_916.saturating_add(r.binaries);
                }
            }
            if let Some(h) = self
                .line_settlement
                .as_mut()
                .filter(|h| h.depth + 1 == r.depth)
            {
                h.normalized_130 = h
                    .normalized_130
                    .saturating_add(u32::from(normalized("130")));
            }
        }
        let typed = |code: &str| r.type_codes.iter().any(|c| c == code);
        let attached = r.additional && typed("916");
        let broken = [
            ("CII-DT-015", r.uri && !attached),
            (
                "CII-DT-018",
                !r.type_codes.is_empty()
                    && !(r.additional && (typed("50") || typed("130") || typed("916"))),
            ),
            ("CII-DT-021", r.name && !attached),
            ("CII-DT-022", r.binary && !attached),
            (
                "CII-DT-024",
                r.reference_type && !(r.additional && typed("130")),
            ),
            ("CII-DT-027", r.issue_date && !r.invoice),
        ];
        for (id, _) in broken.iter().filter(|(_, b)| *b) {
            self.hit(id, at.location(), r.offset);
        }
    }

    fn hit(&mut self, id: &'static str, location: String, offset: usize) {
        if self.hits.len() < super::bindings::MAX_HITS {
            self.hits.push(Hit {
                id,
                location,
                offset,
            });
        }
    }
}

/// The whitespace XPath's `normalize-space` and casts strip.
const XML_SPACE: [char; 4] = [' ', '\t', '\n', '\r'];

/// CII-DT-097: `matches(., '^\s*(\d{4})(1[0-2]|0[1-9]){1}(3[01]|[12][0-9]|0[1-9]){1}\s*$')`.
fn is_date_102(text: &str) -> bool {
    let t = text.trim_matches([' ', '\t', '\n', '\r']);
    let b = t.as_bytes();
    if b.len() != 8 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let month = (b[4] - b'0') * 10 + (b[5] - b'0');
    let day = (b[6] - b'0') * 10 + (b[7] - b'0');
    (1..=12).contains(&month) && (1..=31).contains(&day)
}

/// The ids of these rules, for [`super::rules::implemented`].
pub(crate) const IDS: &[&str] = &[
    "CII-DT-015",
    "CII-DT-018",
    "CII-DT-021",
    "CII-DT-022",
    "CII-DT-024",
    "CII-DT-027",
    "CII-DT-031",
    "CII-DT-032",
    "CII-DT-033",
    "CII-DT-037",
    "CII-DT-097",
    "CII-SR-090",
    "CII-SR-119",
    "CII-SR-457",
    "CII-SR-458",
    "CII-SR-462",
    "CII-SR-468",
    "CII-SR-474",
    "CII-SR-475",
    "CII-SR-476",
];

#[cfg(test)]
mod tests {
    use super::is_date_102;

    #[test]
    fn dates_follow_the_official_pattern() {
        assert!(is_date_102("20240131"));
        assert!(is_date_102(" 20240231\n"));
        assert!(!is_date_102("20241301"));
        assert!(!is_date_102("2024-01-31"));
        assert!(!is_date_102("20240100"));
    }
}
