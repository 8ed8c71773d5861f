//! The shape every table-driven rule has: its official id, the business terms it reads, and a
//! check over the extracted model that names each place the invoice breaks it.
//!
//! A layer's file (`en16931`, `vat`, …) holds a `RULES` table of these; [`run`] turns what a
//! check reports into [`Finding`]s with the rule's flag from the official artefact. The checks
//! read the model only, never the XML: the streaming pass is the one parse.

use super::super::model::Doc;
use super::catalogue::{self, Flag};
use super::{Finding, Severity};

/// One rule of a layer.
pub(crate) struct Rule {
    /// The official id, e.g. `BR-21`.
    pub(crate) id: &'static str,
    /// The business terms and groups it reads (the tests hold them to the EN 16931 names).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) terms: &'static [&'static str],
    /// Reports each place the invoice breaks the rule.
    pub(crate) check: fn(&Input<'_>, &mut Vec<Broken>),
}

/// What a check reads.
pub(crate) struct Input<'a> {
    pub(crate) doc: &'a Doc,
    /// The syntax is CII (its rules' XPaths compare some values differently from UBL's).
    pub(crate) cii: bool,
}

impl Input<'_> {
    /// The path of the document's root element, as a location's start.
    pub(crate) fn root(&self) -> &'static str {
        if self.cii {
            "/rsm:CrossIndustryInvoice"
        } else if self.doc.credit_note_root {
            "/CreditNote"
        } else {
            "/Invoice"
        }
    }

    /// A path below the root: `ubl` below a UBL root, `cii` below a CII root's
    /// `rsm:SupplyChainTradeTransaction`.
    pub(crate) fn below(&self, ubl: &str, cii: &str) -> String {
        if self.cii {
            format!("{}/rsm:SupplyChainTradeTransaction/{cii}", self.root())
        } else {
            format!("{}/{ubl}", self.root())
        }
    }

    /// The location of invoice line `index` (0-based).
    pub(crate) fn line(&self, index: usize) -> Loc {
        let offset = self.doc.lines.get(index).map(|l| l.offset);
        Loc::new(self.line_path(index), offset)
    }

    fn line_path(&self, index: usize) -> String {
        if self.cii {
            format!(
                "{}/rsm:SupplyChainTradeTransaction/ram:IncludedSupplyChainTradeLineItem[{}]",
                self.root(),
                index + 1
            )
        } else if self.doc.credit_note_root {
            format!("/CreditNote/cac:CreditNoteLine[{}]", index + 1)
        } else {
            format!("/Invoice/cac:InvoiceLine[{}]", index + 1)
        }
    }

    /// The location of document level allowance/charge `index` (0-based).
    pub(crate) fn allowance_charge(&self, index: usize) -> Loc {
        let offset = self.doc.allowance_charges.get(index).map(|a| a.offset);
        Loc::new(self.allowance_charge_path(index), offset)
    }

    fn allowance_charge_path(&self, index: usize) -> String {
        if self.cii {
            format!(
                "{}/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/ram:SpecifiedTradeAllowanceCharge[{}]",
                self.root(),
                index + 1
            )
        } else {
            format!("{}/cac:AllowanceCharge[{}]", self.root(), index + 1)
        }
    }

    /// The location of invoice line allowance/charge `index` (0-based, into
    /// [`Doc::line_allowance_charges`]): its position among its line's groups.
    pub(crate) fn line_allowance_charge(&self, index: usize) -> Loc {
        let all = &self.doc.line_allowance_charges;
        let Some(group) = all.get(index) else {
            return Loc::from(self.root().to_owned());
        };
        // A line's groups are next to each other in document order.
        let nth = all[..=index]
            .iter()
            .rev()
            .take_while(|a| a.line == group.line)
            .count();
        let element = if self.cii {
            "ram:SpecifiedLineTradeSettlement/ram:SpecifiedTradeAllowanceCharge"
        } else {
            "cac:AllowanceCharge"
        };
        Loc::new(
            format!("{}/{element}[{nth}]", self.line_path(group.line)),
            Some(group.offset),
        )
    }

    /// The location of VAT breakdown `index` (0-based).
    pub(crate) fn breakdown(&self, index: usize) -> Loc {
        let offset = self.doc.vat_breakdown.get(index).map(|b| b.offset);
        Loc::new(self.breakdown_path(index), offset)
    }

    fn breakdown_path(&self, index: usize) -> String {
        if self.cii {
            format!(
                "{}/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax[{}]",
                self.root(),
                index + 1
            )
        } else {
            format!(
                "{}/cac:TaxTotal/cac:TaxSubtotal[{}]",
                self.root(),
                index + 1
            )
        }
    }
}

/// Where a rule is broken: a path to the element, like the SVRL `location` of the official
/// validators (with the usual prefixes instead of their namespace tests), and where the
/// element starts in the document when the model knows it (for the line number).
#[derive(Debug, Clone)]
pub(crate) struct Loc {
    pub(crate) path: String,
    pub(crate) offset: Option<usize>,
}

impl Loc {
    pub(crate) fn new(path: String, offset: Option<usize>) -> Loc {
        Loc { path, offset }
    }
}

impl From<String> for Loc {
    fn from(path: String) -> Loc {
        Loc { path, offset: None }
    }
}

impl std::fmt::Display for Loc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.path)
    }
}

/// One place a rule is broken.
pub(crate) struct Broken {
    /// What is wrong there, in words a supplier's clerk can act on.
    pub(crate) detail: String,
    pub(crate) location: Loc,
}

impl Broken {
    pub(crate) fn at(location: impl Into<Loc>, detail: impl Into<String>) -> Broken {
        Broken {
            detail: detail.into(),
            location: location.into(),
        }
    }
}

/// Most places one rule reports: a document with 10 000 lines that all lack an item name needs
/// one sentence that says so, not 10 000.
pub(crate) const MAX_PER_RULE: usize = 3;

/// Runs every rule of `rules` and adds what broke to `out`, with the flag and text that the
/// artefact of `layer` ([`catalogue::layer`]) gives the rule.
pub(crate) fn run(rules: &[Rule], input: &Input<'_>, layer: u16, out: &mut Vec<Finding>) {
    let mut broken = Vec::new();
    for rule in rules {
        broken.clear();
        (rule.check)(input, &mut broken);
        if broken.is_empty() {
            // Most rules hold; the catalogue is looked up only for those that do not.
            continue;
        }
        let official = catalogue::lookup(rule.id, layer);
        let severity = match official.map(|o| o.flag) {
            Some(Flag::Warning | Flag::Information) => Severity::Warning,
            Some(Flag::Fatal) | None => Severity::Fatal,
        };
        let total = broken.len();
        for (i, b) in broken.drain(..).enumerate().take(MAX_PER_RULE) {
            let more = if i + 1 == MAX_PER_RULE && total > MAX_PER_RULE {
                format!(" ({} more places break this rule)", total - MAX_PER_RULE)
            } else {
                String::new()
            };
            out.push(Finding {
                rule_id: rule.id,
                severity,
                message: format!("[{}] {}{more}", rule.id, b.detail),
                location: Some(b.location.path),
                official_text: official.map(|o| o.text),
                line: None,
                offset: b.location.offset,
            });
        }
    }
}

/// Each index of `items` for which `broken` holds.
pub(crate) fn each<T>(items: &[T], broken: impl Fn(&T) -> bool) -> impl Iterator<Item = usize> {
    items
        .iter()
        .enumerate()
        .filter(move |(_, item)| broken(item))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::super::catalogue;

    /// Every table rule is an official rule of the artefacts its table checks, and names the
    /// business terms it reads as `BT-n`/`BG-n` (`BT-DEX-n` for XRechnung's extension).
    #[test]
    fn every_table_rule_is_official_and_names_its_terms() {
        for (file, layers, rules) in super::super::tables() {
            for rule in rules {
                let official = catalogue::lookup(rule.id, layers);
                assert!(
                    official.is_some_and(|o| o.layers & layers != 0),
                    "{file}: {} is not a rule of the artefacts the table checks",
                    rule.id
                );
                // UBL-CR-002 reads the UBL version, which is syntax, no business term.
                assert!(
                    !rule.terms.is_empty() || rule.id == "UBL-CR-002",
                    "{file}: {} names no terms",
                    rule.id
                );
                for term in rule.terms {
                    // XRechnung's extension numbers its own terms `BT-DEX-n`/`BG-DEX-n`.
                    let number = term
                        .strip_prefix("BT-")
                        .or_else(|| term.strip_prefix("BG-"))
                        .map(|n| n.strip_prefix("DEX-").unwrap_or(n))
                        .and_then(|n| n.parse::<u32>().ok());
                    assert!(
                        number.is_some(),
                        "{file}: {}: {term:?} is no business term",
                        rule.id
                    );
                }
            }
        }
    }

    #[test]
    fn no_rule_id_is_twice_in_one_artefact() {
        let mut seen = std::collections::HashSet::new();
        for (file, layers, rules) in super::super::tables() {
            for bit in (0..16).map(|b| 1u16 << b).filter(|b| layers & b != 0) {
                for rule in rules {
                    assert!(seen.insert((bit, rule.id)), "{file}: {} twice", rule.id);
                }
            }
        }
    }
}
