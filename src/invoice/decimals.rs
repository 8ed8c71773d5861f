//! The decimals rules (BR-DEC-*): which amount element each of them reads, per syntax, so the
//! streaming pass can note an amount written with more than two decimals under its rule. Pure.
//!
//! Each rule tests `string-length(substring-after(X, '.')) <= 2` on the text as written, so
//! `12.000` and `12.00 ` (a trailing space) both have three. The rules whose context is an
//! allowance or charge (BR-DEC-01/02/05/06/24/25/27/28) and the VAT total in the two
//! currencies (BR-DEC-13/15) are not here yet.

use super::xml::Tag as T;

/// Characters after the first `.` of an amount as written (XPath
/// `string-length(substring-after(., '.'))`).
pub(crate) fn fraction_digits(text: &str) -> usize {
    text.split_once('.')
        .map_or(0, |(_, after)| after.chars().count())
}

/// The BR-DEC rule that reads the amount element at `path` (below the root), if any.
pub(crate) fn rule(path: &[T], cii: bool) -> Option<&'static str> {
    if cii { cii_rule(path) } else { ubl_rule(path) }
}

fn ubl_rule(path: &[T]) -> Option<&'static str> {
    Some(match path {
        [T::LegalMonetaryTotal, last] => match last {
            T::LineExtensionAmount => "BR-DEC-09",
            T::AllowanceTotalAmount => "BR-DEC-10",
            T::ChargeTotalAmount => "BR-DEC-11",
            T::TaxExclusiveAmount => "BR-DEC-12",
            T::TaxInclusiveAmount => "BR-DEC-14",
            T::PrepaidAmount => "BR-DEC-16",
            T::PayableRoundingAmount => "BR-DEC-17",
            T::PayableAmount => "BR-DEC-18",
            _ => return None,
        },
        [T::InvoiceLine | T::CreditNoteLine, T::LineExtensionAmount] => "BR-DEC-23",
        // `cac:TaxTotal/cac:TaxSubtotal`, wherever it is.
        [.., T::TaxTotal, T::TaxSubtotal, T::TaxableAmount] => "BR-DEC-19",
        [.., T::TaxTotal, T::TaxSubtotal, T::TaxAmount] => "BR-DEC-20",
        _ => return None,
    })
}

fn cii_rule(path: &[T]) -> Option<&'static str> {
    Some(match path {
        // `//ram:SpecifiedTradeSettlementHeaderMonetarySummation`, wherever it is.
        [.., T::SpecifiedTradeSettlementHeaderMonetarySummation, last] => match last {
            T::LineTotalAmount => "BR-DEC-09",
            T::AllowanceTotalAmount => "BR-DEC-10",
            T::ChargeTotalAmount => "BR-DEC-11",
            T::TaxBasisTotalAmount => "BR-DEC-12",
            T::GrandTotalAmount => "BR-DEC-14",
            T::TotalPrepaidAmount => "BR-DEC-16",
            T::RoundingAmount => "BR-DEC-17",
            T::DuePayableAmount => "BR-DEC-18",
            _ => return None,
        },
        [
            ..,
            T::IncludedSupplyChainTradeLineItem,
            T::SpecifiedLineTradeSettlement,
            T::SpecifiedTradeSettlementLineMonetarySummation,
            T::LineTotalAmount,
        ] => "BR-DEC-23",
        [
            ..,
            T::ApplicableHeaderTradeSettlement,
            T::ApplicableTradeTax,
            last,
        ] => match last {
            T::BasisAmount => "BR-DEC-19",
            T::CalculatedAmount => "BR-DEC-20",
            _ => return None,
        },
        _ => return None,
    })
}

/// The business term each rule reads, for messages.
pub(crate) fn term(rule: &str) -> &'static str {
    match rule {
        "BR-DEC-09" => "the sum of invoice line net amounts (BT-106)",
        "BR-DEC-10" => "the sum of allowances on document level (BT-107)",
        "BR-DEC-11" => "the sum of charges on document level (BT-108)",
        "BR-DEC-12" => "the invoice total amount without VAT (BT-109)",
        "BR-DEC-14" => "the invoice total amount with VAT (BT-112)",
        "BR-DEC-16" => "the paid amount (BT-113)",
        "BR-DEC-17" => "the rounding amount (BT-114)",
        "BR-DEC-18" => "the amount due for payment (BT-115)",
        "BR-DEC-19" => "a VAT category taxable amount (BT-116)",
        "BR-DEC-20" => "a VAT category tax amount (BT-117)",
        "BR-DEC-23" => "an invoice line net amount (BT-131)",
        _ => "an amount",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_after_the_point_as_written() {
        assert_eq!(fraction_digits("12"), 0);
        assert_eq!(fraction_digits("12.5"), 1);
        assert_eq!(fraction_digits("12.50"), 2);
        assert_eq!(fraction_digits("12.500"), 3);
        assert_eq!(fraction_digits("12.00 "), 3);
        assert_eq!(fraction_digits(" 12"), 0);
    }

    #[test]
    fn each_syntax_names_its_elements() {
        assert_eq!(
            rule(&[T::LegalMonetaryTotal, T::PrepaidAmount], false),
            Some("BR-DEC-16")
        );
        assert_eq!(
            rule(
                &[T::InvoiceLine, T::TaxTotal, T::TaxSubtotal, T::TaxAmount],
                false
            ),
            Some("BR-DEC-20")
        );
        assert_eq!(
            rule(&[T::InvoiceLine, T::Price, T::PriceAmount], false),
            None
        );
        assert_eq!(
            rule(
                &[
                    T::SupplyChainTradeTransaction,
                    T::ApplicableHeaderTradeSettlement,
                    T::SpecifiedTradeSettlementHeaderMonetarySummation,
                    T::DuePayableAmount
                ],
                true
            ),
            Some("BR-DEC-18")
        );
    }
}
