//! RFC 3834: no automatic reply to automatic mail. A notice is a reply to a refused message,
//! so it is never sent for mail that a machine sent on its own (a bounce, an auto-reply, a
//! mailing list), or two robots could answer each other for ever.

/// The header fields of a message that say it was sent automatically, as received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AutoFields {
    /// `Auto-Submitted`, if present.
    pub auto_submitted: Option<String>,
    /// `Precedence`, if present.
    pub precedence: Option<String>,
    /// Whether a `List-Id` field is present.
    pub list_id: bool,
}

/// Why a message must get no notice, or `None` when one may go out.
/// `null_sender` is MAIL FROM:<> (a bounce, or a notice of someone else's).
pub fn no_notice_because(null_sender: bool, fields: &AutoFields) -> Option<&'static str> {
    if null_sender {
        return Some("the null sender (a bounce or an automatic reply)");
    }
    if let Some(value) = &fields.auto_submitted {
        // RFC 3834 5: anything but "no" (parameters after ';' and comments aside).
        let keyword = value.split([';', '(']).next().unwrap_or_default().trim();
        if !keyword.eq_ignore_ascii_case("no") {
            return Some("Auto-Submitted other than no");
        }
    }
    if let Some(value) = &fields.precedence {
        let value = value.trim();
        if ["bulk", "list", "junk"]
            .iter()
            .any(|p| value.eq_ignore_ascii_case(p))
        {
            return Some("Precedence bulk, list or junk");
        }
    }
    if fields.list_id {
        return Some("a List-Id field (mailing list)");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_mail_gets_no_notice() {
        let auto = |v: &str| AutoFields {
            auto_submitted: Some(v.into()),
            ..AutoFields::default()
        };
        assert!(no_notice_because(true, &AutoFields::default()).is_some());
        assert!(no_notice_because(false, &auto("auto-replied")).is_some());
        assert!(no_notice_because(false, &auto("auto-generated; owner-email=x@y")).is_some());
        assert!(no_notice_because(false, &auto("No (a person sent it)")).is_none());
        assert!(no_notice_because(false, &auto(" no ")).is_none());
        for p in ["bulk", "List", "JUNK"] {
            let fields = AutoFields {
                precedence: Some(p.into()),
                ..AutoFields::default()
            };
            assert!(no_notice_because(false, &fields).is_some(), "{p}");
        }
        let list = AutoFields {
            list_id: true,
            ..AutoFields::default()
        };
        assert!(no_notice_because(false, &list).is_some());
        assert!(no_notice_because(false, &AutoFields::default()).is_none());
    }
}
