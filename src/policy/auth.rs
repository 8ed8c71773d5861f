//! The authentication policy: what must be proven about a trusted sender before its mail is
//! believed (SPF, DKIM and DMARC aligned with the header From, per receiver, issue 10).
//!
//! Stage 2 of end of data, between taking the message apart and the verdict: it is async (DNS)
//! and its result is plain data the verdict reads. Today no check runs yet, so the result
//! says so ([`Authentication::NotChecked`]) and the verdict trusts the identities as written,
//! as trustgate always has; the checks will fill in this type without changing the stages.

/// What stage 2 proved about a message's sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authentication {
    /// No SPF, DKIM or DMARC check ran: the envelope sender and header From are taken as
    /// written.
    NotChecked,
}
