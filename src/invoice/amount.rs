//! Exact decimal amounts for invoice arithmetic: parsed from `xs:decimal` text, never via `f64`.
//!
//! Used by the field extractors (`ubl`, `cii`) and the totals rules. Every operation is checked
//! and returns `None` on overflow instead of panicking; values beyond 30 digits are refused at
//! parse time, so real invoices never get near the `i128` range.

use std::cmp::Ordering;
use std::fmt;

/// Most digits (integer and fraction together) accepted in one amount.
const MAX_DIGITS: usize = 30;
/// Most fraction digits accepted in one amount.
const MAX_SCALE: u32 = 20;

/// An exact decimal number as written in an invoice (`units / 10^scale`).
///
/// Equality and ordering are numeric: `1.5 == 1.50`. Display keeps the written scale.
#[derive(Debug, Clone, Copy)]
pub struct Amount {
    units: i128,
    scale: u32,
}

impl Amount {
    /// Zero with scale 0.
    pub const ZERO: Amount = Amount { units: 0, scale: 0 };

    /// Parses `xs:decimal` text: optional surrounding XML whitespace, optional sign, digits with
    /// an optional decimal point (`5.`, `.5` allowed), no exponent. `None` when not a decimal or
    /// longer than 30 digits.
    pub fn parse(text: &str) -> Option<Amount> {
        let t = text.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
        let (negative, digits) = match t.as_bytes().first()? {
            b'-' => (true, &t[1..]),
            b'+' => (false, &t[1..]),
            _ => (false, t),
        };
        let (int, frac) = match digits.split_once('.') {
            Some((i, f)) => (i, f),
            None => (digits, ""),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if int.len() + frac.len() > MAX_DIGITS || frac.len() > MAX_SCALE as usize {
            return None;
        }
        let mut units: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            if !b.is_ascii_digit() {
                return None;
            }
            units = units.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
        }
        let scale = u32::try_from(frac.len()).ok()?;
        Some(Amount {
            units: if negative { -units } else { units },
            scale,
        })
    }

    /// Whether `text` is in the lexical space of `xs:decimal` (optional sign, digits with at most
    /// one decimal point, at least one digit, no exponent), whatever its length: tells an amount
    /// that is not a number from one that is merely too long for [`Amount::parse`].
    pub fn is_decimal_lexical(text: &str) -> bool {
        let t = text.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
        let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        !(int.is_empty() && frac.is_empty())
            && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    }

    /// `self + other`, `None` on overflow.
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        let (a, b, scale) = align(self, other)?;
        Some(Amount {
            units: a.checked_add(b)?,
            scale,
        })
    }

    /// `self - other`, `None` on overflow.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        let (a, b, scale) = align(self, other)?;
        Some(Amount {
            units: a.checked_sub(b)?,
            scale,
        })
    }

    /// XPath `round(x * 100) div 100`: two decimals, halves rounded towards positive infinity
    /// (the rounding the EN 16931 schematron uses, e.g. `-2.345` becomes `-2.34`).
    pub fn round2(self) -> Option<Amount> {
        self.round_to(2)
    }

    /// XPath `round(x)`: the nearest integer, halves towards positive infinity.
    pub fn round0(self) -> Option<Amount> {
        self.round_to(0)
    }

    /// `self * other`, exact, `None` on overflow.
    pub fn checked_mul(self, other: Amount) -> Option<Amount> {
        let scale = self.scale.checked_add(other.scale)?;
        if scale > 2 * MAX_SCALE + 2 {
            return None;
        }
        Some(Amount {
            units: self.units.checked_mul(other.units)?,
            scale,
        })
    }

    /// `self div 100`, exact.
    pub fn percent(self) -> Option<Amount> {
        Some(Amount {
            units: self.units,
            scale: self.scale.checked_add(2)?,
        })
    }

    /// XPath `abs(x)`.
    pub fn abs(self) -> Option<Amount> {
        Some(Amount {
            units: self.units.checked_abs()?,
            scale: self.scale,
        })
    }

    /// `digits` decimals, halves rounded towards positive infinity.
    fn round_to(self, digits: u32) -> Option<Amount> {
        if self.scale <= digits {
            return Some(self);
        }
        let d = 10i128.checked_pow(self.scale - digits)?;
        // floor(units / d + 1/2) = floor((2 * units + d) / (2 * d))
        let num = self.units.checked_mul(2)?.checked_add(d)?;
        let den = d.checked_mul(2)?;
        Some(Amount {
            units: num.div_euclid(den),
            scale: digits,
        })
    }

    /// Whether the value is below zero.
    pub fn is_negative(self) -> bool {
        self.units < 0
    }

    /// Numeric comparison, `None` only if aligning the scales would overflow.
    fn compare(self, other: Amount) -> Option<Ordering> {
        let (a, b, _) = align(self, other)?;
        Some(a.cmp(&b))
    }
}

/// Brings both values to the larger scale.
fn align(a: Amount, b: Amount) -> Option<(i128, i128, u32)> {
    let scale = a.scale.max(b.scale);
    let ua = a.units.checked_mul(10i128.checked_pow(scale - a.scale)?)?;
    let ub = b.units.checked_mul(10i128.checked_pow(scale - b.scale)?)?;
    Some((ua, ub, scale))
}

impl PartialEq for Amount {
    fn eq(&self, other: &Amount) -> bool {
        self.compare(*other) == Some(Ordering::Equal)
    }
}

impl PartialOrd for Amount {
    fn partial_cmp(&self, other: &Amount) -> Option<Ordering> {
        self.compare(*other)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.units.unsigned_abs().to_string();
        let scale = self.scale as usize;
        let sign = if self.units < 0 { "-" } else { "" };
        if scale == 0 {
            return write!(f, "{sign}{digits}");
        }
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (int, frac) = padded.split_at(padded.len() - scale);
        write!(f, "{sign}{int}.{frac}")
    }
}

impl serde::Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Amount {
        Amount::parse(s).unwrap()
    }

    #[test]
    fn parses_xs_decimal_forms() {
        assert_eq!(a(" 12.50\n").to_string(), "12.50");
        assert_eq!(a("-0.5").to_string(), "-0.5");
        assert_eq!(a("+7").to_string(), "7");
        assert_eq!(a(".5").to_string(), "0.5");
        assert_eq!(a("5.").to_string(), "5");
        for bad in [
            "", "-", ".", "1e3", "1,5", "abc", "1.2.3", "--1", " ", "0x10",
        ] {
            assert!(Amount::parse(bad).is_none(), "{bad:?}");
        }
        assert!(Amount::parse(&"9".repeat(31)).is_none());
        assert!(Amount::parse(&"9".repeat(30)).is_some());
    }

    #[test]
    fn lexical_decimal_is_told_from_too_long() {
        for ok in ["1", "-1.5", "+.5", "5.", &"9".repeat(40)] {
            assert!(Amount::is_decimal_lexical(ok), "{ok:?}");
        }
        for bad in [
            "", "-", ".", "n/a", "1E5", "1e30", "1,5", "0x10", "1.2.3", "--1",
        ] {
            assert!(!Amount::is_decimal_lexical(bad), "{bad:?}");
        }
    }

    #[test]
    fn products_percentages_and_rounding_are_exact() {
        let tax = a("908.91")
            .abs()
            .unwrap()
            .checked_mul(a("21"))
            .unwrap()
            .percent()
            .unwrap();
        assert_eq!(tax, a("190.8711"));
        assert_eq!(tax.round2().unwrap().to_string(), "190.87");
        assert_eq!(a("2.5").round0().unwrap(), a("3"));
        assert_eq!(a("-2.5").round0().unwrap(), a("-2"));
        assert_eq!(a("-0.4").round0().unwrap(), Amount::ZERO);
        assert_eq!(a("-3.25").abs().unwrap(), a("3.25"));
        let huge = a(&"9".repeat(30));
        assert!(huge.checked_mul(huge).is_none());
    }

    #[test]
    fn equality_is_numeric() {
        assert_eq!(a("1.5"), a("1.500"));
        assert!(a("-1") < a("0.00"));
        assert_ne!(a("1.01"), a("1.1"));
    }

    #[test]
    fn arithmetic_is_exact() {
        assert_eq!(a("0.1").checked_add(a("0.2")), Some(a("0.3")));
        assert_eq!(
            a("100").checked_sub(a("0.01")).unwrap().to_string(),
            "99.99"
        );
    }

    #[test]
    fn round2_is_half_up_towards_positive_infinity() {
        assert_eq!(a("2.345").round2().unwrap().to_string(), "2.35");
        assert_eq!(a("-2.345").round2().unwrap().to_string(), "-2.34");
        assert_eq!(a("2.3449").round2().unwrap().to_string(), "2.34");
        assert_eq!(a("-2.3451").round2().unwrap().to_string(), "-2.35");
        assert_eq!(a("7.1").round2().unwrap().to_string(), "7.1");
    }

    #[test]
    fn overflow_is_none_not_panic() {
        let big = a(&"9".repeat(30));
        let tiny = a("0.00000000000000000001");
        assert!(big.checked_add(tiny).is_none());
        assert!(big.partial_cmp(&tiny).is_none());
        assert!(a("-0.00000000000000000005").round2().is_some());
    }
}
