//! The VAT category rules (BR-S-*, BR-E-*, …) as a table (see [`super::table`]): which VAT
//! breakdown a category needs, and what its taxable amount must add up to.
//!
//! Each follows the official XPath of its syntax, and they differ: UBL's BR-S-08 allows a
//! difference of less than 1 between the breakdown and the unrounded sums, CII's wants the
//! rounded sums exactly; UBL's BR-E-08 wants the unrounded sums exactly, CII's allows less
//! than 1 around the rounded ones. UBL trims category codes before comparing, CII does not.
//! A sum that cannot be computed (an amount that is not a number) fails closed.
//!
//! The families share shapes, written once and parameterised by category: -01 one breakdown,
//! -05 the line rate, -08 the taxable sum, -09 a zero tax amount, -10 the exemption reason.
//! The particulars stay per syntax: CII's S and Z breakdown rules do not test the VAT scheme;
//! CII's BR-O-08 wants the rounded sums exactly; UBL's BR-AF-05 allows a zero rate, CII's does
//! not; CII's BR-O-01 lets lines in O go without a breakdown. CII's O, L and M breakdown rules
//! match the breakdown element itself, which hides it from the generic breakdown rules there
//! (BR-CO-17 here, BR-45..48 and BR-DEC-19/20 in `en16931`; see
//! `VatBreakdownData::hidden_from_cii_breakdown_rules`).
//! -06/-07 ask the rate of an allowance's or charge's category, at document level and on the
//! lines. -02..-04 (who has a VAT identifier) are in `vat_ids`.
//! BR-O-11..14 forbid other categories beside O; BR-IC-11/12 ask an intra-community supply for
//! its delivery date or period and country.
//! BR-AF/AG-01, -08 and -09 (IGIC, IPSI) follow their own XPaths: UBL's -01 counts only
//! categories of the VAT scheme; CII's -08 and -09 always hold (the official -08 reads its rate
//! one level too high, -09 is `true()`), so only UBL's are checked.

use super::super::amount::Amount;
use super::super::model::{
    AllowanceChargeData, Doc, LineData, Num, TaxCategoryData, VatBreakdownData, normalize_space,
    parse_bool,
};
use super::table::{Broken, Input, Rule};

pub(super) const RULES: &[Rule] = &[
    Rule {
        id: "BR-CO-17",
        terms: &["BG-23", "BT-116", "BT-117", "BT-119"],
        check: |i, out| tax_amounts(i, out),
    },
    Rule {
        id: "BR-S-01",
        terms: &["BG-23", "BT-118", "BT-151", "BT-95", "BT-102"],
        check: |i, out| standard_rated_breakdown(i, out),
    },
    Rule {
        id: "BR-S-09",
        terms: &["BG-23", "BT-116", "BT-117", "BT-119"],
        check: |i, out| standard_rated_tax(i, out),
    },
    Rule {
        id: "BR-S-08",
        terms: &["BG-23", "BT-116", "BT-119", "BT-131", "BT-92", "BT-99"],
        check: |i, out| standard_rated_basis(i, out),
    },
    Rule {
        id: "BR-E-01",
        terms: &["BG-23", "BT-118", "BT-151", "BT-95", "BT-102"],
        check: |i, out| one_breakdown(i, "E", "exempt from VAT", out),
    },
    Rule {
        id: "BR-E-08",
        terms: &["BG-23", "BT-116", "BT-131", "BT-92", "BT-99"],
        check: |i, out| exempt_basis(i, out),
    },
    // The families below share shapes; each rule names its category and, where the two
    // syntaxes differ, each one's particulars (see the module doc).
    Rule {
        id: "BR-S-05",
        terms: &["BG-25", "BT-151", "BT-152"],
        check: |i, out| line_rate(i, "S", Rate::Positive, out),
    },
    Rule {
        id: "BR-S-10",
        terms: &["BG-23", "BT-118", "BT-120", "BT-121"],
        check: |i, out| exemption_reason(i, "S", ANY_SCHEME_IN_CII, false, out),
    },
    Rule {
        id: "BR-Z-01",
        terms: &["BG-23", "BT-118", "BT-151", "BT-95", "BT-102"],
        check: |i, out| one_breakdown(i, "Z", "zero rated", out),
    },
    Rule {
        id: "BR-Z-05",
        terms: &["BG-25", "BT-151", "BT-152"],
        check: |i, out| line_rate(i, "Z", Rate::Zero, out),
    },
    Rule {
        id: "BR-Z-08",
        terms: &["BG-23", "BT-116", "BT-131", "BT-92", "BT-99"],
        check: |i, out| zero_basis(i, "Z", ANY_SCHEME_IN_CII, false, out),
    },
    Rule {
        id: "BR-Z-09",
        terms: &["BG-23", "BT-117", "BT-118"],
        check: |i, out| zero_tax(i, "Z", ANY_SCHEME_IN_CII, out),
    },
    Rule {
        id: "BR-Z-10",
        terms: &["BG-23", "BT-118", "BT-120", "BT-121"],
        check: |i, out| exemption_reason(i, "Z", ANY_SCHEME_IN_CII, false, out),
    },
    Rule {
        id: "BR-E-05",
        terms: &["BG-25", "BT-151", "BT-152"],
        check: |i, out| line_rate(i, "E", Rate::Zero, out),
    },
    Rule {
        id: "BR-E-09",
        terms: &["BG-23", "BT-117", "BT-118"],
        check: |i, out| zero_tax(i, "E", VAT_ONLY, out),
    },
    Rule {
        id: "BR-E-10",
        terms: &["BG-23", "BT-118", "BT-120", "BT-121"],
        check: |i, out| exemption_reason(i, "E", VAT_ONLY, true, out),
    },
    Rule {
        id: "BR-AE-01",
        terms: &["BG-23", "BT-118", "BT-151", "BT-95", "BT-102"],
        check: |i, out| one_breakdown(i, "AE", "reverse charge", out),
    },
    Rule {
        id: "BR-AE-05",
        terms: &["BG-25", "BT-151", "BT-152"],
        check: |i, out| line_rate(i, "AE", Rate::Zero, out),
    },
    Rule {
        id: "BR-AE-08",
        terms: &["BG-23", "BT-116", "BT-131", "BT-92", "BT-99"],
        check: |i, out| zero_basis(i, "AE", VAT_ONLY, false, out),
    },
    Rule {
        id: "BR-AE-09",
        terms: &["BG-23", "BT-117", "BT-118"],
        check: |i, out| zero_tax(i, "AE", VAT_ONLY, out),
    },
    Rule {
        id: "BR-AE-10",
        terms: &["BG-23", "BT-118", "BT-120", "BT-121"],
        check: |i, out| exemption_reason(i, "AE", VAT_ONLY, true, out),
    },
    Rule {
        id: "BR-IC-01",
        terms: &["BG-23", "BT-118", "BT-151", "BT-95", "BT-102"],
        check: |i, out| one_breakdown(i, "K", "intra-community supply", out),
    },
    Rule {
        id: "BR-IC-05",
        terms: &["BG-25", "BT-151", "BT-152"],
        check: |i, out| line_rate(i, "K", Rate::Zero, out),
    },
    Rule {
        id: "BR-IC-08",
        terms: &["BG-23", "BT-116", "BT-131", "BT-92", "BT-99"],
        check: |i, out| zero_basis(i, "K", VAT_ONLY, false, out),
    },
    Rule {
        id: "BR-IC-09",
        terms: &["BG-23", "BT-117", "BT-118"],
        check: |i, out| zero_tax(i, "K", VAT_ONLY, out),
    },
    Rule {
        id: "BR-IC-10",
        terms: &["BG-23", "BT-118", "BT-120", "BT-121"],
        check: |i, out| exemption_reason(i, "K", VAT_ONLY, true, out),
    },
    Rule {
        id: "BR-G-01",
        terms: &["BG-23", "BT-118", "BT-151", "BT-95", "BT-102"],
        check: |i, out| one_breakdown(i, "G", "export outside the EU", out),
    },
    Rule {
        id: "BR-G-05",
        terms: &["BG-25", "BT-151", "BT-152"],
        check: |i, out| line_rate(i, "G", Rate::Zero, out),
    },
    Rule {
        id: "BR-G-08",
        terms: &["BG-23", "BT-116", "BT-131", "BT-92", "BT-99"],
        check: |i, out| zero_basis(i, "G", VAT_ONLY, false, out),
    },
    Rule {
        id: "BR-G-09",
        terms: &["BG-23", "BT-117", "BT-118"],
        check: |i, out| zero_tax(i, "G", VAT_ONLY, out),
    },
    Rule {
        id: "BR-G-10",
        terms: &["BG-23", "BT-118", "BT-120", "BT-121"],
        check: |i, out| exemption_reason(i, "G", VAT_ONLY, true, out),
    },
    Rule {
        id: "BR-O-01",
        terms: &["BG-23", "BT-118", "BT-151", "BT-95", "BT-102"],
        check: |i, out| {
            if i.cii {
                outside_scope_breakdown(i, out);
            } else {
                one_breakdown(i, "O", "not subject to VAT", out);
            }
        },
    },
    Rule {
        id: "BR-O-05",
        terms: &["BG-25", "BT-151", "BT-152"],
        check: |i, out| line_rate(i, "O", Rate::Absent, out),
    },
    Rule {
        id: "BR-O-08",
        // CII's wants the rounded sums exactly; UBL's is shaped like BR-E-08.
        terms: &["BG-23", "BT-116", "BT-131", "BT-92", "BT-99"],
        check: |i, out| zero_basis(i, "O", VAT_ONLY, true, out),
    },
    Rule {
        id: "BR-O-09",
        terms: &["BG-23", "BT-117", "BT-118"],
        check: |i, out| zero_tax(i, "O", VAT_ONLY, out),
    },
    Rule {
        id: "BR-O-10",
        terms: &["BG-23", "BT-118", "BT-120", "BT-121"],
        check: |i, out| exemption_reason(i, "O", VAT_ONLY, true, out),
    },
    Rule {
        id: "BR-B-01",
        terms: &["BT-118", "BT-151", "BT-95", "BT-102", "BT-40", "BT-55"],
        // Split payment (B) is Italian: with a category B anywhere, every country code in the
        // invoice is IT (as written).
        check: |i, out| {
            if !split_payment(i, true) {
                return;
            }
            let countries = i
                .doc
                .codes
                .iter()
                .filter(|c| c.rule == "BR-CL-14" || (!i.cii && c.rule == "BR-CL-15"));
            if let Some(other) = countries.map(|c| &c.value).find(|v| *v != "IT") {
                out.push(Broken::at(
                    i.root().to_owned(),
                    format!("the invoice uses VAT category B (split payment), which is for Italy only, but names the country {:?}", other.chars().take(10).collect::<String>()),
                ));
            }
        },
    },
    Rule {
        id: "BR-B-02",
        terms: &["BT-118", "BT-151", "BT-95", "BT-102"],
        check: |i, out| {
            if split_payment(i, false)
                && categories(i, false).any(|c| c.code.as_deref() == Some("S"))
            {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "the invoice uses VAT category B (split payment) beside S (standard rated); they cannot be combined",
                ));
            }
        },
    },
    Rule {
        id: "BR-AF-01",
        terms: &["BG-23", "BT-118", "BT-151", "BT-95", "BT-102"],
        check: |i, out| needs_breakdown(i, "L", false, "IGIC", out),
    },
    Rule {
        id: "BR-AF-08",
        terms: &["BG-23", "BT-116", "BT-119", "BT-131", "BT-92", "BT-99"],
        check: |i, out| rated_basis(i, "L", "IGIC", out),
    },
    Rule {
        id: "BR-AF-09",
        terms: &["BG-23", "BT-116", "BT-117", "BT-119"],
        check: |i, out| {
            if !i.cii {
                rated_tax(i, "L", "IGIC", out);
            }
        },
    },
    Rule {
        id: "BR-AG-01",
        terms: &["BG-23", "BT-118", "BT-151", "BT-95", "BT-102"],
        check: |i, out| needs_breakdown(i, "M", true, "IPSI", out),
    },
    Rule {
        id: "BR-AG-08",
        terms: &["BG-23", "BT-116", "BT-119", "BT-131", "BT-92", "BT-99"],
        check: |i, out| rated_basis(i, "M", "IPSI", out),
    },
    Rule {
        id: "BR-AG-09",
        terms: &["BG-23", "BT-116", "BT-117", "BT-119"],
        check: |i, out| {
            if !i.cii {
                rated_tax(i, "M", "IPSI", out);
            }
        },
    },
    Rule {
        id: "BR-AF-05",
        // UBL asks for a rate of at least zero, CII for one above zero.
        terms: &["BG-25", "BT-151", "BT-152"],
        check: |i, out| {
            let rate = if i.cii {
                Rate::Positive
            } else {
                Rate::NonNegative
            };
            line_rate(i, "L", rate, out);
        },
    },
    Rule {
        id: "BR-AF-06",
        // Like BR-AF-05: UBL asks for a rate of at least zero, CII for one above zero.
        terms: &["BG-20", "BT-95", "BT-96"],
        check: |i, out| {
            let rate = if i.cii {
                Rate::Positive
            } else {
                Rate::NonNegative
            };
            group_rate(i, "L", false, rate, out);
        },
    },
    Rule {
        id: "BR-AF-07",
        terms: &["BG-21", "BT-102", "BT-103"],
        check: |i, out| {
            let rate = if i.cii {
                Rate::Positive
            } else {
                Rate::NonNegative
            };
            group_rate(i, "L", true, rate, out);
        },
    },
    Rule {
        id: "BR-AF-10",
        terms: &["BG-23", "BT-118", "BT-120", "BT-121"],
        check: |i, out| exemption_reason(i, "L", VAT_ONLY, false, out),
    },
    Rule {
        id: "BR-AG-05",
        terms: &["BG-25", "BT-151", "BT-152"],
        check: |i, out| line_rate(i, "M", Rate::NonNegative, out),
    },
    Rule {
        id: "BR-AG-10",
        terms: &["BG-23", "BT-118", "BT-120", "BT-121"],
        check: |i, out| exemption_reason(i, "M", VAT_ONLY, false, out),
    },
    Rule {
        id: "BR-S-06",
        terms: &["BG-20", "BT-95", "BT-96"],
        check: |i, out| group_rate(i, "S", false, Rate::Positive, out),
    },
    Rule {
        id: "BR-S-07",
        terms: &["BG-21", "BT-102", "BT-103"],
        check: |i, out| group_rate(i, "S", true, Rate::Positive, out),
    },
    Rule {
        id: "BR-Z-06",
        terms: &["BG-20", "BT-95", "BT-96"],
        check: |i, out| group_rate(i, "Z", false, Rate::Zero, out),
    },
    Rule {
        id: "BR-Z-07",
        terms: &["BG-21", "BT-102", "BT-103"],
        check: |i, out| group_rate(i, "Z", true, Rate::Zero, out),
    },
    Rule {
        id: "BR-E-06",
        terms: &["BG-20", "BT-95", "BT-96"],
        check: |i, out| group_rate(i, "E", false, Rate::Zero, out),
    },
    Rule {
        id: "BR-E-07",
        terms: &["BG-21", "BT-102", "BT-103"],
        check: |i, out| group_rate(i, "E", true, Rate::Zero, out),
    },
    Rule {
        id: "BR-AE-06",
        terms: &["BG-20", "BT-95", "BT-96"],
        check: |i, out| group_rate(i, "AE", false, Rate::Zero, out),
    },
    Rule {
        id: "BR-AE-07",
        terms: &["BG-21", "BT-102", "BT-103"],
        check: |i, out| group_rate(i, "AE", true, Rate::Zero, out),
    },
    Rule {
        id: "BR-IC-06",
        terms: &["BG-20", "BT-95", "BT-96"],
        check: |i, out| group_rate(i, "K", false, Rate::Zero, out),
    },
    Rule {
        id: "BR-IC-07",
        terms: &["BG-21", "BT-102", "BT-103"],
        check: |i, out| group_rate(i, "K", true, Rate::Zero, out),
    },
    Rule {
        id: "BR-G-06",
        terms: &["BG-20", "BT-95", "BT-96"],
        check: |i, out| group_rate(i, "G", false, Rate::Zero, out),
    },
    Rule {
        id: "BR-G-07",
        terms: &["BG-21", "BT-102", "BT-103"],
        check: |i, out| group_rate(i, "G", true, Rate::Zero, out),
    },
    Rule {
        id: "BR-O-06",
        terms: &["BG-20", "BT-95", "BT-96"],
        check: |i, out| group_rate(i, "O", false, Rate::Absent, out),
    },
    Rule {
        id: "BR-O-07",
        terms: &["BG-21", "BT-102", "BT-103"],
        check: |i, out| group_rate(i, "O", true, Rate::Absent, out),
    },
    Rule {
        id: "BR-AG-06",
        terms: &["BG-20", "BT-95", "BT-96"],
        check: |i, out| group_rate(i, "M", false, Rate::NonNegative, out),
    },
    Rule {
        id: "BR-AG-07",
        terms: &["BG-21", "BT-102", "BT-103"],
        check: |i, out| group_rate(i, "M", true, Rate::NonNegative, out),
    },
    Rule {
        id: "BR-O-11",
        terms: &["BG-23", "BT-118"],
        check: |i, out| outside_scope_alone(i, Others::Breakdowns, out),
    },
    Rule {
        id: "BR-O-12",
        terms: &["BG-23", "BT-118", "BT-151"],
        check: |i, out| outside_scope_alone(i, Others::Lines, out),
    },
    Rule {
        id: "BR-O-13",
        terms: &["BG-23", "BT-118", "BT-95"],
        check: |i, out| outside_scope_alone(i, Others::Groups(false), out),
    },
    Rule {
        id: "BR-O-14",
        terms: &["BG-23", "BT-118", "BT-102"],
        check: |i, out| outside_scope_alone(i, Others::Groups(true), out),
    },
    Rule {
        id: "BR-IC-11",
        terms: &["BG-23", "BT-118", "BT-72", "BG-14"],
        check: |i, out| {
            let doc = i.doc;
            let given = if i.cii {
                doc.actual_delivery_date.is_some()
                    || doc.periods.iter().any(|p| p.has_start || p.has_end)
            } else {
                doc.actual_delivery_date
                    .as_deref()
                    .is_some_and(|d| d.chars().count() > 1)
                    || doc.periods.first().is_some_and(|p| p.any_child)
            };
            if intra_community(i) && !given {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "the invoice is an intra-community supply (VAT category K) without an actual delivery date (BT-72) or invoicing period (BG-14)",
                ));
            }
        },
    },
    Rule {
        id: "BR-IC-12",
        terms: &["BG-23", "BT-118", "BT-80"],
        check: |i, out| {
            let addresses = &i.doc.delivery_addresses;
            let given = if i.cii {
                addresses.iter().any(|a| a.country.is_some())
            } else {
                addresses
                    .first()
                    .and_then(|a| a.country.as_deref())
                    .is_some_and(|c| c.chars().count() > 1)
            };
            if intra_community(i) && !given {
                out.push(Broken::at(
                    i.root().to_owned(),
                    "the invoice is an intra-community supply (VAT category K) without the deliver to country code (BT-80)",
                ));
            }
        },
    },
];

/// The invoice has a VAT breakdown in category K of the VAT scheme (UBL: the code trimmed; CII:
/// `CategoryCode[. = 'K']` as written).
fn intra_community(i: &Input<'_>) -> bool {
    i.doc
        .vat_breakdown
        .iter()
        .any(|b| b.category.code_is("K", i.cii) && b.category.is_vat(i.cii))
}

/// What BR-O-11..14 forbid beside a breakdown in category O.
#[derive(Clone, Copy)]
enum Others {
    Breakdowns,
    Lines,
    /// Allowances (`false`) or charges (`true`).
    Groups(bool),
}

/// BR-O-11..14: an invoice with a VAT breakdown in category O (not subject to VAT) has no other
/// VAT category. UBL asks it of the invoice, per kind: other breakdown categories (-11), line
/// categories (-12), allowance (-13) or charge (-14) categories of the VAT scheme, where a
/// category without an id counts as another (`normalize-space(cbc:ID) != 'O'`). CII asks it of
/// each breakdown in O: -11 and -12 both forbid any `ApplicableTradeTax` (breakdown or line)
/// with another code, -13 and -14 any `CategoryTradeTax` with another code.
fn outside_scope_alone(i: &Input<'_>, others: Others, out: &mut Vec<Broken>) {
    let doc = i.doc;
    let cii = i.cii;
    let Some(first_o) = doc
        .vat_breakdown
        .iter()
        .position(|b| b.category.code_is("O", cii) && b.category.is_vat(cii))
    else {
        return;
    };
    let other = |t: &TaxCategoryData| {
        if cii {
            t.code.as_deref().is_some_and(|c| c != "O")
        } else {
            t.is_vat(false) && !t.code_is("O", false)
        }
    };
    let breakdowns = || doc.vat_breakdown.iter().any(|b| other(&b.category));
    let lines = || doc.lines.iter().any(|l| l.taxes.iter().any(other));
    let groups = |charge: Option<bool>| {
        doc.allowance_charges
            .iter()
            .filter(|a| charge.is_none_or(|c| a.charge_as_boolean() == Some(c)))
            .any(|a| a.taxes.iter().any(other))
            || if cii {
                doc.line_allowance_categories.iter().any(other)
            } else {
                doc.line_allowance_charges
                    .iter()
                    .filter(|a| charge.is_none_or(|c| a.charge_as_boolean() == Some(c)))
                    .any(|a| a.taxes.iter().any(other))
            }
    };
    let (found, what) = match (others, cii) {
        (Others::Breakdowns | Others::Lines, true) => (
            breakdowns() || lines(),
            "a VAT breakdown or line in another category",
        ),
        (Others::Breakdowns, false) => (breakdowns(), "a VAT breakdown in another category"),
        (Others::Lines, false) => (lines(), "an invoice line in another category"),
        (Others::Groups(_), true) => (groups(None), "an allowance or charge in another category"),
        (Others::Groups(charge), false) => (
            groups(Some(charge)),
            if charge {
                "a charge in another category"
            } else {
                "an allowance in another category"
            },
        ),
    };
    if found {
        let at = if cii {
            i.breakdown(first_o)
        } else {
            i.root().to_owned().into()
        };
        out.push(Broken::at(
            at,
            format!(
                "the invoice has a VAT breakdown in category O (not subject to VAT) and {what}; an invoice not subject to VAT has no other category"
            ),
        ));
    }
}

/// A breakdown-level rule's context tests the VAT scheme in both syntaxes.
const VAT_ONLY: bool = false;
/// A breakdown-level rule's context tests the VAT scheme in UBL only: CII's S and Z rules
/// match `ApplicableTradeTax/CategoryCode[. = 'S']` without looking at `TypeCode`.
const ANY_SCHEME_IN_CII: bool = true;

/// The VAT breakdowns a breakdown-level rule of category `code` is asked of (its context):
/// UBL `TaxSubtotal/TaxCategory[normalize-space(cbc:ID) = code][VAT scheme]`, CII header
/// `ApplicableTradeTax` with `CategoryCode = code` (as written) and, unless
/// `cii_any_scheme`, `upper-case(TypeCode) = 'VAT'`.
fn breakdowns_in<'a>(
    i: &'a Input<'_>,
    code: &'a str,
    cii_any_scheme: bool,
) -> impl Iterator<Item = (usize, &'a VatBreakdownData)> + 'a {
    let cii = i.cii;
    i.doc
        .vat_breakdown
        .iter()
        .enumerate()
        .filter(move |(_, b)| {
            let c = &b.category;
            c.code_is(code, cii) && ((cii && cii_any_scheme) || c.is_vat(cii))
        })
}

/// BR-x-09 for a category without VAT: the breakdown's VAT amount is zero (UBL
/// `xs:decimal(TaxAmount) = 0`, CII `CalculatedAmount = 0`; both false when it is absent).
fn zero_tax(i: &Input<'_>, code: &str, cii_any_scheme: bool, out: &mut Vec<Broken>) {
    for (n, b) in breakdowns_in(i, code, cii_any_scheme) {
        if b.tax.value() != Some(Amount::ZERO) {
            out.push(Broken::at(
                i.breakdown(n),
                format!(
                    "the VAT amount (BT-117) of the VAT breakdown for category {code} is {}; it must be 0",
                    shown(b.tax)
                ),
            ));
        }
    }
}

/// BR-x-10: a breakdown in category `code` has (`needed`) or has not a VAT exemption reason
/// text (BT-120) or code (BT-121); both syntaxes ask whether either element exists.
fn exemption_reason(
    i: &Input<'_>,
    code: &str,
    cii_any_scheme: bool,
    needed: bool,
    out: &mut Vec<Broken>,
) {
    for (n, b) in breakdowns_in(i, code, cii_any_scheme) {
        let has = b.exemption_reason || b.exemption_code;
        if has != needed {
            let detail = if needed {
                format!(
                    "the VAT breakdown for category {code} has no VAT exemption reason (BT-120) or reason code (BT-121); give one"
                )
            } else {
                format!(
                    "the VAT breakdown for category {code} has a VAT exemption reason (BT-120) or reason code (BT-121); a breakdown in this category must have neither"
                )
            };
            out.push(Broken::at(i.breakdown(n), detail));
        }
    }
}

/// What the rate of a category must be, as the rules' tests compare it (an absent rate fails
/// every comparison; a rate that is not a number fails closed).
#[derive(Clone, Copy)]
enum Rate {
    /// `Percent > 0`.
    Positive,
    /// `Percent >= 0`.
    NonNegative,
    /// `Percent = 0`.
    Zero,
    /// `not(Percent)`.
    Absent,
}

impl Rate {
    fn holds(self, percent: Num) -> bool {
        let v = percent.value();
        match self {
            Rate::Positive => v.is_some_and(|r| r > Amount::ZERO),
            Rate::NonNegative => v.is_some_and(|r| r >= Amount::ZERO),
            Rate::Zero => v == Some(Amount::ZERO),
            Rate::Absent => !percent.present(),
        }
    }

    fn wanted(self) -> &'static str {
        match self {
            Rate::Positive => "must be greater than zero",
            Rate::NonNegative => "must be zero or more",
            Rate::Zero => "must be 0",
            Rate::Absent => "must not be given",
        }
    }
}

/// BR-x-05: each invoice line VAT category in `code` and the VAT scheme (UBL
/// `InvoiceLine/Item/ClassifiedTaxCategory`, CII line `ApplicableTradeTax` with
/// `upper-case(TypeCode) = 'VAT'`) has a rate (BT-152) as `rate` says.
fn line_rate(i: &Input<'_>, code: &str, rate: Rate, out: &mut Vec<Broken>) {
    let cii = i.cii;
    for (n, line) in i.doc.lines.iter().enumerate() {
        let bad = line
            .taxes
            .iter()
            .find(|t| t.code_is(code, cii) && t.is_vat(cii) && !rate.holds(t.percent));
        if let Some(t) = bad {
            out.push(Broken::at(
                i.line(n),
                format!(
                    "invoice line {} is in VAT category {code} with a VAT rate (BT-152) of {}; in this category the rate {}",
                    n + 1,
                    shown(t.percent),
                    rate.wanted()
                ),
            ));
        }
    }
}

/// BR-x-06/07: each VAT category in `code` and the VAT scheme of a document level allowance
/// (`charge` false) or charge, or of a line's own, has a rate (BT-96, BT-103) as `rate` says.
/// The contexts (UBL `AllowanceCharge[ChargeIndicator = false()]/TaxCategory[…]`, CII
/// `SpecifiedTradeAllowanceCharge[ChargeIndicator/Indicator = false()]/CategoryTradeTax[…]`)
/// match at any depth and take the indicator as an `xs:boolean`.
fn group_rate(i: &Input<'_>, code: &str, charge: bool, rate: Rate, out: &mut Vec<Broken>) {
    let cii = i.cii;
    let kind = if charge { "charge" } else { "allowance" };
    let bad = |taxes: &[TaxCategoryData]| {
        taxes
            .iter()
            .find(|t| t.code_is(code, cii) && t.is_vat(cii) && !rate.holds(t.percent))
            .map(|t| t.percent)
    };
    let detail = |what: String, percent: Num| {
        format!(
            "{what} is in VAT category {code} with a VAT rate of {}; in this category the rate {}",
            shown(percent),
            rate.wanted()
        )
    };
    for (n, a) in i.doc.allowance_charges.iter().enumerate() {
        if a.charge_as_boolean() == Some(charge)
            && let Some(percent) = bad(&a.taxes)
        {
            let what = format!("document level {kind} {}", n + 1);
            out.push(Broken::at(i.allowance_charge(n), detail(what, percent)));
        }
    }
    for (n, a) in i.doc.line_allowance_charges.iter().enumerate() {
        if a.charge_as_boolean() == Some(charge)
            && let Some(percent) = bad(&a.taxes)
        {
            let what = format!("a {kind} of invoice line {}", a.line + 1);
            out.push(Broken::at(
                i.line_allowance_charge(n),
                detail(what, percent),
            ));
        }
    }
}

/// CII's BR-O-01: a breakdown for category O is the only one, with a line, allowance or
/// charge in O; unlike the other categories' -01, lines in O without a breakdown pass.
fn outside_scope_breakdown(i: &Input<'_>, out: &mut Vec<Broken>) {
    let doc = i.doc;
    let is_o = |t: &TaxCategoryData| t.code_is("O", true);
    let breakdowns = doc
        .vat_breakdown
        .iter()
        .filter(|b| is_o(&b.category))
        .count();
    let used = doc.lines.iter().any(|l| l.taxes.iter().any(is_o))
        || doc
            .allowance_charges
            .iter()
            .any(|a| a.taxes.iter().any(is_o))
        || doc.line_allowance_categories.iter().any(is_o);
    if breakdowns > 0 && !(breakdowns == 1 && used) {
        let detail = if breakdowns == 1 {
            "the invoice has a VAT breakdown for category O (not subject to VAT) but no line, allowance or charge in it".to_owned()
        } else {
            format!(
                "the invoice has {breakdowns} VAT breakdowns for category O (not subject to VAT); give exactly one"
            )
        };
        out.push(Broken::at(i.root().to_owned(), detail));
    }
}

/// A line, allowance or charge is in category `code` (at `rate`, when one is given): any of
/// its categories has the code and any has the rate, as the XPath predicates test them.
fn in_category(taxes: &[TaxCategoryData], code: &str, rate: Option<Amount>, cii: bool) -> bool {
    taxes.iter().any(|t| t.code_is(code, cii))
        && rate.is_none_or(|r| taxes.iter().any(|t| t.percent.value() == Some(r)))
}

/// Σ of the amounts, or why it cannot be computed.
fn total<'a>(amounts: impl Iterator<Item = (Num, String)> + 'a) -> Result<Amount, String> {
    let mut sum = Amount::ZERO;
    for (n, what) in amounts {
        match n {
            Num::Absent => {}
            Num::Value(a) => {
                sum = sum
                    .checked_add(a)
                    .ok_or("the amounts are too large to compute with exactly")?;
            }
            Num::Invalid => return Err(format!("{what} is not a decimal number")),
            Num::TooLong => {
                return Err(format!("{what} has more digits than can be computed with"));
            }
        }
    }
    Ok(sum)
}

/// What the taxable amount of category `code` (at `rate`) must be: Σ line net amounts +
/// Σ document level charges − Σ document level allowances in it, each sum rounded to two
/// decimals when `round`.
fn basis(i: &Input<'_>, code: &str, rate: Option<Amount>, round: bool) -> Result<Amount, String> {
    let cii = i.cii;
    let lines = total(
        i.doc
            .lines
            .iter()
            .enumerate()
            .filter(|(_, l): &(usize, &LineData)| in_category(&l.taxes, code, rate, cii))
            .map(|(n, l)| {
                (
                    l.net,
                    format!("the net amount (BT-131) of invoice line {}", n + 1),
                )
            }),
    )?;
    let group = |charge: bool| {
        total(
            i.doc
                .allowance_charges
                .iter()
                .filter(move |a: &&AllowanceChargeData| {
                    // Both syntaxes compare the indicator with a boolean here.
                    a.indicator.as_deref().and_then(parse_bool) == Some(charge)
                        && in_category(&a.taxes, code, rate, cii)
                })
                .map(|a| {
                    (
                        a.amount,
                        "a document level allowance or charge amount".to_owned(),
                    )
                }),
        )
    };
    let (charges, allowances) = (group(true)?, group(false)?);
    let (lines, charges, allowances) = if round {
        let r = |a: Amount| {
            a.round2()
                .ok_or("the amounts are too large to compute with exactly")
        };
        (r(lines)?, r(charges)?, r(allowances)?)
    } else {
        (lines, charges, allowances)
    };
    lines
        .checked_add(charges)
        .and_then(|a| a.checked_sub(allowances))
        .ok_or_else(|| "the amounts are too large to compute with exactly".to_owned())
}

/// `a - 1 < b < a + 1`.
fn within_one(a: Amount, b: Amount) -> bool {
    let one = Amount::parse("1").unwrap_or(Amount::ZERO);
    match (a.checked_sub(one), a.checked_add(one)) {
        (Some(low), Some(high)) => low < b && b < high,
        _ => false,
    }
}

/// BR-S-08: for each rate of a standard rated breakdown, its taxable amount equals the sum of
/// the lines, charges and allowances at that rate.
fn standard_rated_basis(i: &Input<'_>, out: &mut Vec<Broken>) {
    let cii = i.cii;
    for (n, b) in i.doc.vat_breakdown.iter().enumerate() {
        // UBL's context also asks for the VAT scheme; CII's does not.
        let c = &b.category;
        if !c.code_is("S", cii) || (!cii && !c.is_vat(cii)) {
            continue;
        }
        let rate = match c.percent {
            // `every $rate in …` over no rate holds.
            Num::Absent => continue,
            Num::Value(rate) => rate,
            Num::Invalid | Num::TooLong => {
                out.push(Broken::at(
                    i.breakdown(n),
                    format!("the taxable amount of VAT breakdown {} cannot be checked because its VAT rate (BT-119) is not a usable number", n + 1),
                ));
                continue;
            }
        };
        let expected = match basis(i, "S", Some(rate), cii) {
            Ok(e) => e,
            Err(why) => {
                out.push(Broken::at(i.breakdown(n), format!("the taxable amount (BT-116) of the standard rated VAT breakdown at {rate} % cannot be checked because {why}")));
                continue;
            }
        };
        let ok = if cii {
            b.taxable.value() == Some(expected)
        } else {
            let used = i
                .doc
                .lines
                .iter()
                .any(|l| in_category(&l.taxes, "S", Some(rate), cii))
                || i.doc
                    .allowance_charges
                    .iter()
                    .any(|a| in_category(&a.taxes, "S", Some(rate), cii));
            used && b.taxable.value().is_some_and(|t| within_one(t, expected))
        };
        if !ok {
            out.push(Broken::at(
                i.breakdown(n),
                format!(
                    "the taxable amount (BT-116) of the standard rated VAT breakdown at {rate} % is {}, but the lines, charges and allowances at that rate add up to {expected}",
                    shown(b.taxable)
                ),
            ));
        }
    }
}

/// BR-E-08: an exempt breakdown's taxable amount equals the sum of the exempt lines, charges
/// and allowances.
fn exempt_basis(i: &Input<'_>, out: &mut Vec<Broken>) {
    zero_basis(i, "E", VAT_ONLY, false, out);
}

/// BR-x-08 of a category without a rate in the sums (E, Z, AE, K, G, O): the breakdown's
/// taxable amount equals the sum of the lines, charges and allowances in `code`. UBL wants
/// the unrounded sums exactly (and an invoice line); CII allows less than 1 around the rounded
/// sums, or wants them exactly when `cii_exact` (BR-O-08).
fn zero_basis(
    i: &Input<'_>,
    code: &str,
    cii_any_scheme: bool,
    cii_exact: bool,
    out: &mut Vec<Broken>,
) {
    let cii = i.cii;
    for (n, b) in breakdowns_in(i, code, cii_any_scheme) {
        let expected = match basis(i, code, None, cii) {
            Ok(e) => e,
            Err(why) => {
                out.push(Broken::at(i.breakdown(n), format!("the taxable amount (BT-116) of the VAT breakdown for category {code} cannot be checked because {why}")));
                continue;
            }
        };
        let ok = match b.taxable.value() {
            None => false,
            Some(t) if cii && cii_exact => t == expected,
            Some(t) if cii => within_one(t, expected),
            // UBL also asks for at least one invoice line.
            Some(t) => !i.doc.lines.is_empty() && t == expected,
        };
        if !ok {
            out.push(Broken::at(
                i.breakdown(n),
                format!(
                    "the taxable amount (BT-116) of the VAT breakdown for category {code} is {}, but the lines, charges and allowances in it add up to {expected}",
                    shown(b.taxable)
                ),
            ));
        }
    }
}

/// BR-x-01 for a category that needs exactly one breakdown: an invoice with a line,
/// allowance or charge in category `code` has exactly one VAT breakdown in it.
fn one_breakdown(i: &Input<'_>, code: &str, name: &str, out: &mut Vec<Broken>) {
    let cii = i.cii;
    let doc = i.doc;
    // UBL counts only categories in the VAT scheme; CII counts every one.
    let counts = |t: &TaxCategoryData| t.code_is(code, cii) && (cii || t.is_vat(cii));
    let in_lines = doc.lines.iter().any(|l| l.taxes.iter().any(counts));
    let in_groups = doc
        .allowance_charges
        .iter()
        .any(|a| a.taxes.iter().any(counts))
        || doc.line_allowance_categories.iter().any(counts);
    let breakdowns = doc
        .vat_breakdown
        .iter()
        .filter(|b| counts(&b.category))
        .count();
    let ok = if cii {
        (breakdowns == 0 && !in_lines && !in_groups) || (breakdowns == 1 && (in_lines || in_groups))
    } else {
        // UBL's `//cac:TaxCategory` also finds the breakdowns' own categories.
        let anywhere = in_lines || in_groups || breakdowns > 0;
        !anywhere || breakdowns == 1
    };
    if !ok {
        let detail = if breakdowns == 1 {
            format!(
                "the invoice has a VAT breakdown for category {code} ({name}) but no line, allowance or charge in it"
            )
        } else {
            format!(
                "the invoice has lines, allowances or charges in VAT category {code} ({name}) and {breakdowns} VAT breakdowns for it; give exactly one"
            )
        };
        out.push(Broken::at(i.root().to_owned(), detail));
    }
}

/// BR-S-01: an invoice with a line, allowance or charge in category S has a standard rated
/// VAT breakdown, and one with such a breakdown has something in it. No scheme is asked for.
fn standard_rated_breakdown(i: &Input<'_>, out: &mut Vec<Broken>) {
    let cii = i.cii;
    let doc = i.doc;
    let is_s = |t: &TaxCategoryData| t.code_is("S", cii);
    let breakdowns = doc
        .vat_breakdown
        .iter()
        .filter(|b| is_s(&b.category))
        .count();
    let line_taxes = doc
        .lines
        .iter()
        .map(|l| l.taxes.iter().filter(|t| is_s(t)).count())
        .sum::<usize>();
    let group_taxes = doc
        .allowance_charges
        .iter()
        .map(|a| a.taxes.iter().filter(|t| is_s(t)).count())
        .sum::<usize>()
        + doc
            .line_allowance_categories
            .iter()
            .filter(|t| is_s(t))
            .count();
    let ok = if cii {
        cii_pairing(doc, "S")
    } else {
        let users = line_taxes + group_taxes;
        (users > 0 && breakdowns > 0) || (users == 0 && breakdowns == 0)
    };
    if !ok {
        let detail = if breakdowns == 0 {
            "the invoice has lines, allowances or charges in VAT category S (standard rated) but no VAT breakdown for S; give one per rate"
        } else {
            "the invoice has a VAT breakdown for category S (standard rated) but no line, allowance or charge in it"
        };
        out.push(Broken::at(i.root().to_owned(), detail));
    }
}

/// The VAT categories BR-B-01/02 read, with their codes as written: the breakdown, the
/// document level allowances and charges, the lines, and (`line_groups`, UBL BR-B-01's
/// `//cac:TaxCategory`, and every CII `CategoryCode`) the lines' allowances and charges.
fn categories<'a>(i: &Input<'a>, line_groups: bool) -> impl Iterator<Item = &'a TaxCategoryData> {
    let doc = i.doc;
    let line_groups = line_groups || i.cii;
    doc.vat_breakdown
        .iter()
        .map(|b| &b.category)
        .chain(doc.allowance_charges.iter().flat_map(|a| &a.taxes))
        .chain(doc.lines.iter().flat_map(|l| &l.taxes))
        .chain(
            doc.line_allowance_categories
                .iter()
                .filter(move |_| line_groups),
        )
}

/// Some category is B (split payment), as written.
fn split_payment(i: &Input<'_>, line_groups: bool) -> bool {
    categories(i, line_groups).any(|c| c.code.as_deref() == Some("B"))
}

/// CII's BR-x-01 (S, L, M): a category the lines (or the allowances and charges) use is counted
/// with its breakdowns, and the two together must be at least two: two lines in S pass on
/// their own.
fn cii_pairing(doc: &Doc, code: &str) -> bool {
    let is = |t: &TaxCategoryData| t.code_is(code, true);
    let breakdowns = doc.vat_breakdown.iter().filter(|b| is(&b.category)).count();
    let line_taxes: usize = doc
        .lines
        .iter()
        .map(|l| l.taxes.iter().filter(|t| is(t)).count())
        .sum();
    let group_taxes = doc
        .allowance_charges
        .iter()
        .map(|a| a.taxes.iter().filter(|t| is(t)).count())
        .sum::<usize>()
        + doc
            .line_allowance_categories
            .iter()
            .filter(|t| is(t))
            .count();
    (line_taxes + breakdowns >= 2 || line_taxes == 0)
        && (group_taxes + breakdowns >= 2 || group_taxes == 0)
}

/// BR-AF-01 (L, IGIC) and BR-AG-01 (M, IPSI): lines, allowances or charges in the category
/// and a VAT breakdown for it go together. UBL counts only categories of the VAT scheme, and
/// its first test counts breakdowns whose code is exactly `code` (BR-AG-01 also asks those
/// for the VAT scheme: `vat_first`).
fn needs_breakdown(i: &Input<'_>, code: &str, vat_first: bool, name: &str, out: &mut Vec<Broken>) {
    let doc = i.doc;
    let ok = if i.cii {
        cii_pairing(doc, code)
    } else {
        let of_vat = |t: &TaxCategoryData| t.code_is(code, false) && t.is_vat(false);
        let users = doc
            .lines
            .iter()
            .flat_map(|l| &l.taxes)
            .filter(|t| of_vat(t))
            .count()
            + doc
                .allowance_charges
                .iter()
                .flat_map(|a| &a.taxes)
                .filter(|t| of_vat(t))
                .count()
            + doc
                .line_allowance_categories
                .iter()
                .filter(|t| of_vat(t))
                .count();
        let first = doc
            .vat_breakdown
            .iter()
            .filter(|b| {
                b.category.code.as_deref() == Some(code) && (!vat_first || b.category.is_vat(false))
            })
            .count();
        let second = doc
            .vat_breakdown
            .iter()
            .filter(|b| of_vat(&b.category))
            .count();
        (users > 0 && first > 0) || (users == 0 && second == 0)
    };
    if !ok {
        out.push(Broken::at(
            i.root().to_owned(),
            format!("the lines, allowances or charges in VAT category {code} ({name}) and the VAT breakdown for {code} do not go together: one needs the other"),
        ));
    }
}

/// UBL's BR-AF-08/BR-AG-08: the taxable amount of a breakdown in `code` at a rate is the sum of
/// the lines, charges and allowances in it at that rate, to within 1, and the invoice has
/// lines. (CII's copies read the rate and taxable amount one level too high, so they always
/// hold, and are not checked.)
fn rated_basis(i: &Input<'_>, code: &str, name: &str, out: &mut Vec<Broken>) {
    if i.cii {
        return;
    }
    for (n, b) in i.doc.vat_breakdown.iter().enumerate() {
        let c = &b.category;
        if !c.code_is(code, false) || !c.is_vat(false) {
            continue;
        }
        let rate = match c.percent {
            Num::Absent => continue,
            Num::Value(rate) => rate,
            Num::Invalid | Num::TooLong => {
                out.push(Broken::at(
                    i.breakdown(n),
                    format!("the taxable amount of VAT breakdown {} cannot be checked because its VAT rate (BT-119) is not a usable number", n + 1),
                ));
                continue;
            }
        };
        let expected = match basis(i, code, Some(rate), false) {
            Ok(e) => e,
            Err(why) => {
                out.push(Broken::at(i.breakdown(n), format!("the taxable amount (BT-116) of the {name} VAT breakdown at {rate} % cannot be checked because {why}")));
                continue;
            }
        };
        let ok =
            !i.doc.lines.is_empty() && b.taxable.value().is_some_and(|t| within_one(t, expected));
        if !ok {
            out.push(Broken::at(
                i.breakdown(n),
                format!(
                    "the taxable amount (BT-116) of the {name} VAT breakdown at {rate} % is {}, but the lines, charges and allowances at that rate add up to {expected}",
                    shown(b.taxable)
                ),
            ));
        }
    }
}

/// The rate of a VAT breakdown as BR-CO-17 reads it: in the VAT scheme, which both syntaxes
/// trim and upper-case here.
fn vat_rate(b: &VatBreakdownData) -> Num {
    let c = &b.category;
    let vat = c
        .scheme
        .as_deref()
        .is_some_and(|s| normalize_space(s).eq_ignore_ascii_case("VAT"));
    if vat { c.percent } else { Num::Absent }
}

/// `round2(|taxable| × rate ÷ 100)`, or why not.
fn expected_tax(taxable: Amount, rate: Amount) -> Option<Amount> {
    taxable.abs()?.checked_mul(rate)?.percent()?.round2()
}

/// `|tax| − 1 < expected < |tax| + 1` (UBL) or with `≤` (CII's BR-CO-17).
fn close(tax: Amount, expected: Amount, inclusive: bool) -> bool {
    let Some(t) = tax.abs() else { return false };
    let one = Amount::parse("1").unwrap_or(Amount::ZERO);
    match (t.checked_sub(one), t.checked_add(one)) {
        (Some(low), Some(high)) if inclusive => low <= expected && expected <= high,
        (Some(low), Some(high)) => low < expected && expected < high,
        _ => false,
    }
}

/// BR-CO-17: a breakdown's tax amount is its taxable amount times its rate, within 1; a zero
/// rate (or none) needs a tax amount that rounds to zero.
fn tax_amounts(i: &Input<'_>, out: &mut Vec<Broken>) {
    let cii = i.cii;
    for (n, b) in i.doc.vat_breakdown.iter().enumerate() {
        // CII's BR-O-*, BR-AF-* and BR-AG-* rules match the breakdown element itself (the
        // others match its CategoryCode), so BR-CO-17's context there never sees it.
        if b.hidden_from_cii_breakdown_rules(cii) {
            continue;
        }
        let rate = vat_rate(b);
        if rate.unusable() || b.tax.unusable() || b.taxable.unusable() {
            out.push(Broken::at(i.breakdown(n), format!("the VAT amount (BT-117) of VAT breakdown {} cannot be checked because one of its amounts or its rate is not a usable number", n + 1)));
            continue;
        }
        let round0 = |n: Num| n.value().and_then(Amount::round0);
        let tax_zero = round0(b.tax) == Some(Amount::ZERO);
        let ok = match rate.value() {
            None => tax_zero,
            Some(r) if r.round0() == Some(Amount::ZERO) => tax_zero,
            Some(r) => match (b.tax.value(), b.taxable.value()) {
                (Some(tax), Some(taxable)) => {
                    expected_tax(taxable, r).is_some_and(|e| close(tax, e, cii))
                }
                _ => false,
            },
        };
        if !ok {
            let expected = match (rate.value(), b.taxable.value()) {
                (Some(r), Some(t)) => {
                    expected_tax(t, r).map_or("unknown".into(), |e| e.to_string())
                }
                _ => "0".into(),
            };
            out.push(Broken::at(
                i.breakdown(n),
                format!(
                    "the VAT amount (BT-117) of VAT breakdown {} is {}, but its taxable amount times its rate is {expected}",
                    n + 1,
                    shown(b.tax)
                ),
            ));
        }
    }
}

/// BR-S-09: a standard rated breakdown's tax amount is its taxable amount times its rate,
/// within 1.
fn standard_rated_tax(i: &Input<'_>, out: &mut Vec<Broken>) {
    rated_tax(i, "S", "standard rated", out);
}

/// BR-S-09, and UBL's BR-AF-09/BR-AG-09 (L, M): a breakdown's VAT amount is its taxable
/// amount times its rate, to within 1.
fn rated_tax(i: &Input<'_>, code: &str, name: &str, out: &mut Vec<Broken>) {
    let cii = i.cii;
    for (n, b) in i.doc.vat_breakdown.iter().enumerate() {
        let c = &b.category;
        if !c.code_is(code, cii) || (!cii && !c.is_vat(cii)) {
            continue;
        }
        if c.percent.unusable() || b.tax.unusable() || b.taxable.unusable() {
            out.push(Broken::at(i.breakdown(n), format!("the VAT amount (BT-117) of {name} VAT breakdown {} cannot be checked because one of its amounts or its rate is not a usable number", n + 1)));
            continue;
        }
        let expected = match (b.taxable.value(), c.percent.value()) {
            (Some(t), Some(r)) => expected_tax(t, r),
            _ => None,
        };
        let ok = match (b.tax.value(), expected) {
            (Some(tax), Some(e)) => close(tax, e, false),
            _ => false,
        };
        if !ok {
            out.push(Broken::at(
                i.breakdown(n),
                format!(
                    "the VAT amount (BT-117) of {name} VAT breakdown {} is {}, but its taxable amount times its rate (BT-119) is {}",
                    n + 1,
                    shown(b.tax),
                    expected.map_or("unknown (no rate or taxable amount)".into(), |e| e.to_string())
                ),
            ));
        }
    }
}

fn shown(n: Num) -> String {
    match n {
        Num::Value(a) => a.to_string(),
        Num::Absent => "absent".into(),
        Num::Invalid => "not a number".into(),
        Num::TooLong => "too long to compute with".into(),
    }
}
