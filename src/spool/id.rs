//! Our message ids: `20261122T101530Z-000001`, the UTC second the commit began and a sequence
//! number within that second.
//!
//! Used by [`Spool::commit`](super::Spool::commit) to name a message before it is stored. Ids
//! sort by time as plain strings, never repeat within a process (the generator is monotonic
//! even when the clock steps back) and never repeat across restarts (the generator resumes
//! after the newest stored id and after the second the process started). They use only `[0-9A-Z-]`, so they are safe in replies, file
//! names and shells.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::MessageId;

/// The largest sequence number within one second; past it the generator moves to the next
/// second (the id then runs slightly ahead of the clock, which keeps the order).
const SEQ_MAX: u32 = 999_999;

/// Hands out increasing ids.
#[derive(Debug)]
pub(crate) struct IdGen {
    /// Unix second of the last id handed out (or found stored), 0 when none.
    last_sec: u64,
    /// Its sequence number.
    last_seq: u32,
}

impl IdGen {
    /// A generator whose ids all sort after `last` (the newest stored id), if any.
    pub(crate) fn after(last: Option<&str>) -> IdGen {
        match last.and_then(parse_id) {
            Some((last_sec, last_seq)) => IdGen { last_sec, last_seq },
            None => IdGen {
                last_sec: 0,
                last_seq: 0,
            },
        }
    }

    /// The generator of a process that starts at `now`: its ids sort after `last` (the newest
    /// stored id) and start in a second after `now`, so they also differ from any id a previous
    /// process handed out but never stored (a commit cut short by a crash), as long as the
    /// clock does not step back across the restart.
    pub(crate) fn resume(last: Option<&str>, now: SystemTime) -> IdGen {
        let stored = IdGen::after(last);
        let now_sec = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        IdGen {
            last_sec: stored.last_sec.max(now_sec),
            last_seq: SEQ_MAX,
        }
    }

    /// The next id for a commit that begins at `now`.
    pub(crate) fn next(&mut self, now: SystemTime) -> MessageId {
        let now_sec = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let (sec, seq) = if now_sec > self.last_sec {
            (now_sec, 1)
        } else if self.last_seq < SEQ_MAX {
            (self.last_sec, self.last_seq + 1)
        } else {
            (self.last_sec + 1, 1)
        };
        self.last_sec = sec;
        self.last_seq = seq;
        MessageId(format_id(sec, seq))
    }
}

/// `20261122T101530Z-000001`.
fn format_id(sec: u64, seq: u32) -> String {
    let sec = sec.min(super::MAX_UNIX_SECOND);
    let stamp =
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(sec)).to_string();
    let compact: String = stamp.chars().filter(|c| *c != '-' && *c != ':').collect();
    format!("{compact}-{seq:06}")
}

/// The smallest id of the second `t` falls in (sequence 0, which [`IdGen`] never hands out):
/// where a scan of the messages received since `t` starts.
pub(crate) fn first_id_at(t: SystemTime) -> String {
    format_id(t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()), 0)
}

/// The (second, sequence) of an id made by [`format_id`], or `None` for anything else.
pub(crate) fn parse_id(id: &str) -> Option<(u64, u32)> {
    let (stamp, seq) = id.split_once('-')?;
    let b = stamp.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' || seq.len() != 6 {
        return None;
    }
    let rfc = format!(
        "{}-{}-{}T{}:{}:{}Z",
        stamp.get(0..4)?,
        stamp.get(4..6)?,
        stamp.get(6..8)?,
        stamp.get(9..11)?,
        stamp.get(11..13)?,
        stamp.get(13..15)?
    );
    let time = humantime::parse_rfc3339(&rfc).ok()?;
    let sec = time.duration_since(UNIX_EPOCH).ok()?.as_secs();
    let seq = seq.parse().ok()?;
    Some((sec, seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(sec: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(sec)
    }

    #[test]
    fn ids_have_the_documented_form_and_round_trip() {
        let mut ids = IdGen::after(None);
        let id = ids.next(at(1_795_342_530));
        assert_eq!(id.0, "20261122T101530Z-000001");
        assert_eq!(parse_id(&id.0), Some((1_795_342_530, 1)));
        assert!(MessageId::parse(&id.0).is_some());
    }

    #[test]
    fn ids_increase_within_a_second_and_when_the_clock_steps_back() {
        let mut ids = IdGen::after(None);
        let a = ids.next(at(1000));
        let b = ids.next(at(1000));
        let c = ids.next(at(999));
        let d = ids.next(at(1001));
        assert!(a < b && b < c && c < d, "{a} {b} {c} {d}");
    }

    #[test]
    fn ids_resume_after_the_newest_stored_one() {
        let mut before = IdGen::after(None);
        let last = before.next(at(5000));
        let mut after = IdGen::after(Some(&last.0));
        let next = after.next(at(5000));
        assert!(next > last, "{next} <= {last}");
    }

    #[test]
    fn a_restarted_process_starts_after_its_start_second() {
        let mut before = IdGen::after(None);
        let used_but_not_stored = before.next(at(6000));
        let mut after = IdGen::resume(None, at(6000));
        let first = after.next(at(6000));
        assert!(
            first > used_but_not_stored,
            "{first} <= {used_but_not_stored}"
        );
        assert_eq!(parse_id(&first.0), Some((6001, 1)));
        // Once the clock passes, ids follow it again.
        assert_eq!(parse_id(&after.next(at(6005)).0), Some((6005, 1)));
    }

    #[test]
    fn a_full_second_rolls_over_in_order() {
        let mut ids = IdGen {
            last_sec: 7000,
            last_seq: SEQ_MAX,
        };
        let next = ids.next(at(7000));
        assert_eq!(parse_id(&next.0), Some((7001, 1)));
    }

    #[test]
    fn foreign_strings_are_not_ids() {
        for s in [
            "",
            "x",
            "20261122T101530Z",
            "20261122X101530Z-000001",
            "20261122T101530Z-1",
        ] {
            assert_eq!(parse_id(s), None, "{s}");
        }
    }
}
