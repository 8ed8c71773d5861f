//! What the verdict asks about earlier invoices: the duplicate index, the messages being
//! stored at this moment, who has sent for a seller so far, and each trusted sender's lifecycle. [`super::verdict`] sees them
//! through the [`Precedents`] trait, so it stays pure and is tested with a table; the gateway
//! answers from the spool and its in-flight set ([`SpoolPrecedents`]).

use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::spool::{SenderKey, SenderRecord, Spool, format_time};

/// What is known of an invoice with a given duplicate key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Precedent {
    /// Nothing: this is the first.
    None,
    /// Stored before, in "message M of <time>".
    Stored(String),
    /// In another message between its end of data and its commit that did not finish within
    /// [`IN_FLIGHT_WAIT`]: the answer depends on that message's outcome.
    InFlight,
}

/// The lookups the verdict needs. `Err` means the lookup itself failed (the answer is 451).
pub(crate) trait Precedents {
    /// The precedent of the invoice with duplicate key `key`. Reserves the key for this
    /// message until its commit returned, first waiting (bounded) for another message that
    /// holds it, so the index answers for that one too.
    fn precedent(&mut self, key: &str) -> Result<Precedent, ()>;
    /// The trusted-sender entry that has sent for `seller` so far (see
    /// `invoice::identity::seller_claim`); `None` when none has, or the lookup failed (the
    /// answer is only a warning).
    fn seller_sender(&mut self, seller: &str) -> Option<String>;
    /// What happened to the trusted sender `key` so far (`None`: nothing, it is pending).
    fn sender(&mut self, key: &SenderKey) -> Result<Option<SenderRecord>, ()>;
    /// The earlier message this one repeats exactly (the same Message-ID and the same bytes
    /// as received), if one was stored: a client that never saw our 250 sending again. Its
    /// invoices are duplicates of that message's, but it is answered 250 whatever the
    /// receiver's `duplicates` says, so that a lost reply never bounces to the supplier.
    fn retransmission_of(&mut self) -> Option<String> {
        None
    }
}

/// Duplicate keys of messages between their end of data and their commit. Two sessions that
/// carry the same invoice at once would otherwise both find the index empty and both be told
/// "accepted". The second now waits until the first's commit returned (a few milliseconds
/// normally) and then reads the index, so its answer is the one its record will carry; only
/// after [`IN_FLIGHT_WAIT`] does it get a 451 and try again later. One process owns the
/// spool, so a set in memory sees every session.
#[derive(Debug, Default)]
pub struct InFlight {
    keys: Mutex<HashSet<String>>,
    /// Signalled whenever keys are released.
    released: Condvar,
}

/// How long a message waits for another one holding the same duplicate key to be stored.
pub const IN_FLIGHT_WAIT: Duration = Duration::from_secs(5);

/// Keys reserved in [`InFlight`] by one message; released when dropped (after its commit).
#[derive(Debug, Default)]
pub struct Reservation {
    set: Option<Arc<InFlight>>,
    keys: Vec<String>,
}

impl Reservation {
    /// Reserves `key` for this message, waiting up to `wait` while another message holds it;
    /// `false` when it still does then. Blocking: call it on a blocking thread.
    fn reserve(&mut self, in_flight: &Arc<InFlight>, key: &str, wait: Duration) -> bool {
        if self.keys.iter().any(|k| k == key) {
            return true;
        }
        let deadline = Instant::now() + wait;
        let mut keys = in_flight
            .keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while keys.contains(key) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            keys = in_flight
                .released
                .wait_timeout(keys, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        keys.insert(key.to_string());
        drop(keys);
        self.set.get_or_insert_with(|| Arc::clone(in_flight));
        self.keys.push(key.to_string());
        true
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(in_flight) = &self.set {
            let mut keys = in_flight
                .keys
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for key in &self.keys {
                keys.remove(key);
            }
            drop(keys);
            in_flight.released.notify_all();
        }
    }
}

/// [`Precedents`] from the spool's indexes and the gateway's in-flight set. Holds the keys it
/// reserved until dropped: keep it until the commit returned.
pub(crate) struct SpoolPrecedents<'a> {
    spool: &'a Spool,
    in_flight: &'a Arc<InFlight>,
    /// What this message reserved.
    pub(crate) reserved: Reservation,
    /// Message id and session, for the log of a failed lookup.
    sid: u64,
    /// The message's Message-ID and the SHA-256 of its body as received, for
    /// [`Precedents::retransmission_of`].
    resend: Option<(&'a str, [u8; 32])>,
}

impl<'a> SpoolPrecedents<'a> {
    /// Lookups for one message of session `sid`, whose Message-ID header is `message_id` and
    /// whose body as received hashes to `sha256`.
    pub(crate) fn new(
        spool: &'a Spool,
        in_flight: &'a Arc<InFlight>,
        sid: u64,
        message_id: Option<&'a str>,
        sha256: [u8; 32],
    ) -> Self {
        SpoolPrecedents {
            spool,
            in_flight,
            reserved: Reservation::default(),
            sid,
            resend: message_id.map(|m| (m, sha256)),
        }
    }
}

impl Precedents for SpoolPrecedents<'_> {
    fn precedent(&mut self, key: &str) -> Result<Precedent, ()> {
        if !self.reserved.reserve(self.in_flight, key, IN_FLIGHT_WAIT) {
            return Ok(Precedent::InFlight);
        }
        match self.spool.find_duplicate(key) {
            Ok(Some(e)) => Ok(Precedent::Stored(format!(
                "message {} of {}",
                e.message,
                format_time(e.received_at)
            ))),
            Ok(None) => Ok(Precedent::None),
            Err(err) => {
                tracing::error!(sid = self.sid, error = %err, "duplicate lookup failed");
                Err(())
            }
        }
    }

    fn seller_sender(&mut self, seller: &str) -> Option<String> {
        self.spool.seller_sender(seller).ok().flatten()
    }

    fn sender(&mut self, key: &SenderKey) -> Result<Option<SenderRecord>, ()> {
        self.spool.sender(key).map_err(|err| {
            tracing::error!(sid = self.sid, error = %err, "sender state lookup failed");
        })
    }

    /// Looked up only when a duplicate would be refused: one read off the hot path of every
    /// other message. A failed lookup only loses the retransmission's leniency.
    fn retransmission_of(&mut self) -> Option<String> {
        let (message_id, sha256) = self.resend?;
        match self.spool.find_resend(message_id, &sha256) {
            Ok(found) => found.map(|id| id.to_string()),
            Err(err) => {
                tracing::warn!(sid = self.sid, error = %err, "resend lookup failed");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_reservation_waits_for_the_first_to_be_released() {
        let in_flight = Arc::new(InFlight::default());
        let mut first = Reservation::default();
        assert!(first.reserve(&in_flight, "k", Duration::ZERO));
        // Held: a short wait gives up.
        let mut second = Reservation::default();
        assert!(!second.reserve(&in_flight, "k", Duration::from_millis(20)));
        // Released while the second waits: it gets the key.
        let waiter = {
            let in_flight = Arc::clone(&in_flight);
            std::thread::spawn(move || {
                let mut r = Reservation::default();
                let got = r.reserve(&in_flight, "k", Duration::from_secs(10));
                (got, r)
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        drop(first);
        let (got, held) = waiter.join().unwrap();
        assert!(got);
        // Another key is never held up.
        let mut other = Reservation::default();
        assert!(other.reserve(&in_flight, "other", Duration::ZERO));
        drop(held);
        assert!(second.reserve(&in_flight, "k", Duration::ZERO));
    }
}
