//! Text taken from a mail, made safe to show: the one escaping function for every place that
//! shows it (SMTP replies, log fields, `trustgate spool list|show`).
//!
//! A sender chooses envelope addresses, attachment names, the header From and the Message-ID.
//! Shown raw, a control character drives a terminal, a line separator splits a log line, and a
//! bidirectional override reorders what a reader sees: `INV\u{202E}fdp.xml` displays as
//! `INVlmx.pdf` (CVE-2021-42574, "Trojan Source", is the same trick in source code). Every
//! character that is invisible or changes how its neighbours display is written as `\u{XXXX}`
//! instead. Only what is shown changes: the spool stores what arrived.
//! Pure: no I/O.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` is shown escaped: every control (C0, DEL, C1), every format character (bidi
/// embeddings, overrides and isolates, marks, zero-width characters, the BOM, tags), the line
/// and paragraph separators, every space other than U+0020, and the invisible fillers and
/// selectors that render as nothing.
pub fn is_invisible(c: char) -> bool {
    match c {
        ' ' => false,
        // Cc: C0 controls, DEL, C1 controls.
        _ if c.is_control() => true,
        // Zs other than U+0020, Zl, Zp: they look like (or break) a space or a line.
        '\u{00A0}' | '\u{1680}' | '\u{2000}'..='\u{200A}' | '\u{2028}' | '\u{2029}' => true,
        '\u{202F}' | '\u{205F}' | '\u{3000}' => true,
        // Cf: format characters (Unicode 15 list).
        '\u{00AD}' | '\u{0600}'..='\u{0605}' | '\u{061C}' | '\u{06DD}' | '\u{070F}' => true,
        '\u{0890}' | '\u{0891}' | '\u{08E2}' | '\u{180E}' => true,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' => true,
        '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}' => true,
        '\u{110BD}' | '\u{110CD}' | '\u{13430}'..='\u{1343F}' | '\u{1BCA0}'..='\u{1BCA3}' => true,
        '\u{1D173}'..='\u{1D17A}' | '\u{E0001}' | '\u{E0020}'..='\u{E007F}' => true,
        // Invisible marks and fillers that are not Cf: combining grapheme joiner, Hangul
        // fillers, Khmer inherent vowels, Mongolian and other variation selectors.
        '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}' => true,
        '\u{180B}'..='\u{180D}' | '\u{180F}' | '\u{3164}' | '\u{FFA0}' => true,
        '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}' => true,
        // Noncharacters at the end of the BMP.
        '\u{FFFE}' | '\u{FFFF}' => true,
        _ => false,
    }
}

/// `s` as it may be shown: each [`is_invisible`] character written as `\u{XXXX}` (upper-case
/// hex), everything else as it is. Borrows when there is nothing to escape.
pub fn display_safe(s: &str) -> Cow<'_, str> {
    let Some(first) = s.find(is_invisible) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 16);
    out.push_str(&s[..first]);
    for c in s[first..].chars() {
        if is_invisible(c) {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\u{{{:X}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bidi_override_is_escaped() {
        assert_eq!(display_safe("INV\u{202E}fdp.xml"), "INV\\u{202E}fdp.xml");
        assert_eq!(
            display_safe("a\u{2028}b\u{200B}c\u{FEFF}d\u{1B}[2J\r\n\u{85}"),
            "a\\u{2028}b\\u{200B}c\\u{FEFF}d\\u{1B}[2J\\u{D}\\u{A}\\u{85}"
        );
    }

    #[test]
    fn plain_text_is_borrowed() {
        for s in [
            "billing@supplier.example",
            "Müller GmbH",
            "請求書.xml",
            "a b",
            "",
        ] {
            assert!(matches!(display_safe(s), Cow::Borrowed(_)), "{s}");
        }
    }

    proptest! {
        /// Whatever goes in, nothing invisible comes out, and text without such characters
        /// comes out unchanged.
        #[test]
        fn nothing_invisible_survives(s in "\\PC*|[\\u{0}-\\u{3000}\\u{E0000}-\\u{E01EF}]*") {
            let shown = display_safe(&s);
            prop_assert!(!shown.chars().any(is_invisible), "{shown:?}");
            if !s.chars().any(is_invisible) {
                prop_assert_eq!(shown.as_ref(), s.as_str());
            }
        }
    }
}
