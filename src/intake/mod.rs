//! Intake: from the raw message to invoice documents.
//!
//! Called by the [`crate::gateway`] at end of data, on a blocking thread, with a body whose size
//! the SMTP session has already bounded. [`mime`] takes the attachments out of the MIME tree
//! (mail-parser) within our own limits and checks the header From strictly; [`pairing`] asks
//! [`crate::invoice`] which XML files are invoices and pairs each with its same-named PDF.
//! Pure functions over bytes: no sockets, no disk, no clock. Names taken from mail are
//! sanitised here and are only ever metadata, never paths.

pub mod mime;
pub mod names;
pub mod pairing;

pub use mime::{Attachment, HeaderFrom, IntakeError, IntakeLimits, ParsedMessage, parse_message};
pub use pairing::{Document, Ignored, Origin, Paired, pair};
