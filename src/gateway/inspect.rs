//! Stage 1 of end of data: take the message apart. MIME (within the pre-scan's bounds), the
//! header From read strictly, the Message-ID, and every invoice found, inspected and paired
//! with its PDF. Blocking CPU work over the raw bytes, run on a blocking thread under the
//! gateway's inspection permits; it knows nothing of receivers or trust.

use crate::intake::{self, HeaderFrom, IntakeError, IntakeLimits, Paired};
use crate::policy::{Refusal, RefusalKind};

/// A message taken apart.
pub(crate) struct Inspected {
    /// The header From as read (one mailbox, or why not).
    pub(crate) header_from: HeaderFrom,
    /// The Message-ID header.
    pub(crate) message_id: Option<String>,
    /// The invoices with their PDFs, and what was ignored or refused.
    pub(crate) paired: Paired,
    /// The Subject, for a notice.
    pub(crate) subject: Option<String>,
    /// Whether it was sent automatically (no notice then).
    pub(crate) auto: crate::notify::suppress::AutoFields,
}

/// Takes `raw` apart within `limits`. A message over a MIME bound, or one that cannot be
/// parsed, is refused here (552 for headers, 550 for the rest): nothing of it is stored.
pub(crate) fn take_apart(raw: &[u8], limits: &IntakeLimits) -> Result<Inspected, Refusal> {
    let parsed = intake::parse_message(raw, limits).map_err(|err| match err {
        IntakeError::HeadersTooLarge { .. } | IntakeError::AllHeadersTooLarge { .. } => {
            Refusal::new(RefusalKind::HeadersTooLarge)
        }
        other => Refusal::new(RefusalKind::Unparsable(other.to_string())),
    })?;
    Ok(Inspected {
        header_from: parsed.header_from,
        message_id: parsed.message_id,
        paired: intake::pair_parsed(parsed.attachments, &parsed.archives, limits),
        subject: parsed.subject,
        auto: parsed.auto,
    })
}
