//! The one place a refusal becomes an SMTP reply. Policy and the verdict say what failed, as
//! data ([`Refusal`]); this maps each kind to its code, enhanced status and sentence (all
//! built in [`crate::smtp::reply`]).

use crate::policy::auth::AuthFailure;
use crate::policy::{Refusal, RefusalKind};
use crate::smtp::{Reply, reply};

/// The reply for `refusal`.
pub fn reply_for(refusal: &Refusal) -> Reply {
    let receiver = refusal.receiver.as_deref().unwrap_or_default();
    let sender = refusal.sender.as_deref().unwrap_or_default();
    match &refusal.kind {
        RefusalKind::UnknownRecipient => reply::unknown_recipient(receiver),
        RefusalKind::NullSender => reply::sender_not_trusted(
            crate::policy::directory::Identity::EnvelopeSender.describe(),
            "",
            receiver,
        ),
        RefusalKind::UntrustedSender(identity) => {
            reply::sender_not_trusted(identity.describe(), sender, receiver)
        }
        RefusalKind::BadHeaderFrom(why) => reply::bad_header_from(why),
        RefusalKind::TlsRequired => reply::TLS_REQUIRED,
        RefusalKind::SenderDisabled { organisation } => {
            reply::sender_disabled(sender, receiver, organisation)
        }
        RefusalKind::NotAuthenticated(failure) => match failure {
            AuthFailure::Dmarc(why) => reply::dmarc_failed(why),
            AuthFailure::Spf(why) => reply::spf_failed(why),
            AuthFailure::Dkim(why) => reply::dkim_failed(why),
            AuthFailure::Temporary(why) => reply::auth_temporary(why),
        },
        RefusalKind::Unparsable(why) => reply::unparsable_message(why),
        RefusalKind::HeadersTooLarge => reply::HEADERS_TOO_LARGE,
        RefusalKind::UnsafeXml { file, why } => reply::invoice_refused(&format!("{file}: {why}")),
        RefusalKind::NoInvoiceXml { found } => reply::no_invoice(found),
        RefusalKind::InvoicesRefused {
            refused,
            total,
            details,
        } => reply::invoices_refused(*refused, *total, details),
        RefusalKind::DuplicateInFlight { number } => reply::duplicate_in_flight(number),
        RefusalKind::Internal(_) => reply::LOCAL_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::directory::Identity;

    #[test]
    fn each_kind_has_its_enhanced_status() {
        let cases = [
            (
                Refusal::new(RefusalKind::UnknownRecipient).for_receiver("x@gw.test"),
                550,
                "5.1.1",
            ),
            (
                Refusal::new(RefusalKind::UntrustedSender(Identity::HeaderFrom))
                    .for_receiver("x@gw.test")
                    .from_sender("evil@y.test"),
                550,
                "5.7.1",
            ),
            (Refusal::new(RefusalKind::TlsRequired), 530, "5.7.0"),
            (
                Refusal::new(RefusalKind::SenderDisabled {
                    organisation: "Acme".into(),
                })
                .for_receiver("x@gw.test")
                .from_sender("ap@supplier.test"),
                550,
                "5.7.1",
            ),
            (
                Refusal::new(RefusalKind::NotAuthenticated(AuthFailure::Dmarc(
                    "no pass".into(),
                ))),
                550,
                "5.7.26",
            ),
            (
                Refusal::new(RefusalKind::NotAuthenticated(AuthFailure::Temporary(
                    "timeout".into(),
                ))),
                451,
                "4.7.24",
            ),
            (
                Refusal::new(RefusalKind::NoInvoiceXml { found: Vec::new() }),
                550,
                "5.6.0",
            ),
            (
                Refusal::new(RefusalKind::DuplicateInFlight { number: "1".into() }),
                451,
                "4.5.0",
            ),
            (
                Refusal::new(RefusalKind::Internal("staging_read")),
                451,
                "4.3.0",
            ),
        ];
        for (refusal, code, status) in cases {
            let reply = reply_for(&refusal);
            assert_eq!((reply.code, reply.status), (code, status), "{reply}");
        }
        let reply = reply_for(
            &Refusal::new(RefusalKind::UntrustedSender(Identity::HeaderFrom))
                .for_receiver("x@gw.test")
                .from_sender("evil@y.test"),
        );
        assert!(
            reply.text().contains("header From <evil@y.test>"),
            "{reply}"
        );
    }
}
