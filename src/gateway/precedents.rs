//! What the verdict asks about earlier invoices: the duplicate index, the messages being
//! stored at this moment, and who has sent for a seller so far. [`super::verdict`] sees them
//! through the [`Precedents`] trait, so it stays pure and is tested with a table; the gateway
//! answers from the spool and its in-flight set ([`SpoolPrecedents`]).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use crate::spool::{Spool, format_time};

/// What is known of an invoice with a given duplicate key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Precedent {
    /// Nothing: this is the first.
    None,
    /// Stored before, in "message M of <time>".
    Stored(String),
    /// In another message between its end of data and its commit: the answer depends on
    /// that message's outcome.
    InFlight,
}

/// The lookups the verdict needs. `Err` means the lookup itself failed (the answer is 451).
pub(crate) trait Precedents {
    /// The precedent of the invoice with duplicate key `key`. Reserves the key for this
    /// message when there is none, until the message's commit returned.
    fn precedent(&mut self, key: &str) -> Result<Precedent, ()>;
    /// The trusted-sender entry that has sent for `seller` so far (see
    /// `invoice::identity::seller_claim`); `None` when none has, or the lookup failed (the
    /// answer is only a warning).
    fn seller_sender(&mut self, seller: &str) -> Option<String>;
}

/// Duplicate keys of messages between their end of data and their commit. Two sessions that
/// carry the same invoice at once would otherwise both find the index empty and both be told
/// "accepted"; the second now waits for the first's outcome with a 451, and its retry gets the
/// answer the index gives. One process owns the spool, so a set in memory sees every session.
#[derive(Debug, Default)]
pub struct InFlight(Mutex<HashSet<String>>);

/// Keys reserved in [`InFlight`] by one message; released when dropped (after its commit).
#[derive(Debug, Default)]
pub struct Reservation {
    set: Option<Arc<InFlight>>,
    keys: Vec<String>,
}

impl Reservation {
    /// Reserves `key` for this message; `false` when another message holds it.
    fn reserve(&mut self, in_flight: &Arc<InFlight>, key: &str) -> bool {
        if self.keys.iter().any(|k| k == key) {
            return true;
        }
        let mut set = in_flight.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !set.insert(key.to_string()) {
            return false;
        }
        self.set.get_or_insert_with(|| Arc::clone(in_flight));
        self.keys.push(key.to_string());
        true
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(in_flight) = &self.set {
            let mut set = in_flight.0.lock().unwrap_or_else(PoisonError::into_inner);
            for key in &self.keys {
                set.remove(key);
            }
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
}

impl<'a> SpoolPrecedents<'a> {
    /// Lookups for one message of session `sid`.
    pub(crate) fn new(spool: &'a Spool, in_flight: &'a Arc<InFlight>, sid: u64) -> Self {
        SpoolPrecedents {
            spool,
            in_flight,
            reserved: Reservation::default(),
            sid,
        }
    }
}

impl Precedents for SpoolPrecedents<'_> {
    fn precedent(&mut self, key: &str) -> Result<Precedent, ()> {
        if !self.reserved.reserve(self.in_flight, key) {
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
}
