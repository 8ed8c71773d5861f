//! Trace fields: the `Received:` field we prepend to every stored message (RFC 5321 4.4), and
//! the incoming `Authentication-Results` fields that claim our name (RFC 8601 5: a receiver
//! removes them, or a sender could write its own "dmarc=pass" for downstream systems to
//! believe). Pure functions over bytes.

use std::ops::Range;

/// Header fields looked at when searching for forged Authentication-Results; the MIME
/// pre-scan bounds them far lower already.
const MAX_FIELDS: usize = 100_000;

/// The byte ranges of the header fields `Authentication-Results` in `raw` whose authserv-id is
/// `hostname` (case-insensitive), each with its folded continuation lines and line ending.
pub fn own_auth_results(raw: &[u8], hostname: &str) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    let mut fields = 0usize;
    let mut pos = 0usize;
    while pos < raw.len() && fields < MAX_FIELDS {
        let line_end = next_line(raw, pos);
        let line = &raw[pos..line_end];
        // The empty line ends the header block.
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        // The field runs on over lines that start with white space (folding).
        let mut end = line_end;
        while end < raw.len() && matches!(raw[end], b' ' | b'\t') {
            end = next_line(raw, end);
        }
        fields += 1;
        if let Some(value) = field_value(&raw[pos..end], b"authentication-results")
            && authserv_id(value).eq_ignore_ascii_case(hostname)
        {
            found.push(pos..end);
        }
        pos = end;
    }
    found
}

/// The index after the next LF at or after `from` (or the end).
fn next_line(raw: &[u8], from: usize) -> usize {
    memchr::memchr(b'\n', &raw[from..]).map_or(raw.len(), |i| from + i + 1)
}

/// The value of `field` if its name is `name` (lower case), else `None`.
fn field_value<'a>(field: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let colon = memchr::memchr(b':', field)?;
    let written = field[..colon].trim_ascii_end();
    written
        .eq_ignore_ascii_case(name)
        .then(|| &field[colon + 1..])
}

/// The authserv-id of an Authentication-Results value: the first word, comments and white
/// space around it removed (`mx.example (comment); spf=pass` → `mx.example`).
fn authserv_id(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    let mut out = String::new();
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            ';' => break,
            c if c.is_whitespace() => {
                if !out.is_empty() {
                    break;
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// What the `Received:` field says about one arrival.
pub struct Arrival<'a> {
    /// The EHLO/HELO name the client gave.
    pub helo: &'a str,
    /// The client's address.
    pub peer: std::net::SocketAddr,
    /// Our hostname.
    pub hostname: &'a str,
    /// `TLSv1_3 TLS13_AES_256_GCM_SHA384` when the session ran over TLS.
    pub tls: Option<&'a str>,
    /// Our queue id (the spool's message id).
    pub id: &'a str,
    /// The one recipient, if there is exactly one (more are not disclosed to each other).
    pub for_rcpt: Option<&'a str>,
    /// When DATA ended, formatted as RFC 5322 date-time.
    pub date: &'a str,
}

/// The `Received:` field (RFC 5321 4.4, with RFC 3848's ESMTPS), folded, ending in CRLF.
/// The HELO name is the client's text: anything but a plain name is written as a comment-safe
/// literal, so it cannot add fields or break the header.
pub fn received(arrival: &Arrival<'_>) -> String {
    let helo: String = arrival
        .helo
        .chars()
        .filter(|c| c.is_ascii_graphic() && !matches!(c, '(' | ')' | '\\' | ';'))
        .take(255)
        .collect();
    let helo = if helo.is_empty() {
        "unknown".to_string()
    } else {
        helo
    };
    let (with, tls) = match arrival.tls {
        Some(tls) => ("ESMTPS", format!(" ({tls})")),
        None => ("ESMTP", String::new()),
    };
    let for_rcpt = arrival
        .for_rcpt
        .map(|r| format!("\r\n\tfor <{r}>"))
        .unwrap_or_default();
    format!(
        "Received: from {helo} ([{ip}]:{port})\r\n\tby {host} (trustgate) with {with}{tls}\r\n\tid {id}{for_rcpt};\r\n\t{date}\r\n",
        ip = arrival.peer.ip(),
        port = arrival.peer.port(),
        host = arrival.hostname,
        id = arrival.id,
        date = arrival.date,
    )
}

/// `t` as an RFC 5322 date-time in UTC: `Thu, 03 Dec 2026 17:00:00 +0000`.
pub fn rfc5322_date(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let weekday = WEEKDAYS[usize::try_from(days.rem_euclid(7)).unwrap_or(0)];
    let month_name = MONTHS[usize::try_from(month - 1).unwrap_or(0)];
    format!(
        "{weekday}, {day:02} {month_name} {year} {:02}:{:02}:{:02} +0000",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc5322() {
        use std::time::{Duration, UNIX_EPOCH};
        assert_eq!(rfc5322_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(UNIX_EPOCH + Duration::from_secs(1_796_317_200)),
            "Thu, 03 Dec 2026 17:00:00 +0000"
        );
        assert_eq!(
            rfc5322_date(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "Tue, 29 Feb 2000 00:00:00 +0000"
        );
    }

    #[test]
    fn finds_only_our_own_authentication_results_with_their_folds() {
        let raw = b"Authentication-Results: MX.trust.test;\r\n\tdmarc=pass header.from=supplier.test\r\nAuthentication-Results: other.test; spf=pass\r\nauthentication-results :  (forged) mx.trust.test; dkim=pass\r\nSubject: x\r\n\r\nAuthentication-Results: mx.trust.test; body\r\n";
        let found = own_auth_results(raw, "mx.trust.test");
        assert_eq!(found.len(), 2);
        let first = &raw[found[0].clone()];
        assert!(first.starts_with(b"Authentication-Results: MX"));
        assert!(first.ends_with(b"supplier.test\r\n"));
        assert!(raw[found[1].clone()].starts_with(b"authentication-results :"));
    }

    #[test]
    fn a_header_block_without_an_end_or_a_colon_is_fine() {
        assert!(own_auth_results(b"no colon here", "mx").is_empty());
        assert!(own_auth_results(b"", "mx").is_empty());
        assert_eq!(
            own_auth_results(b"Authentication-Results: mx", "mx"),
            vec![0..26]
        );
    }

    #[test]
    fn received_keeps_a_hostile_helo_inside_its_field() {
        let field = received(&Arrival {
            helo: "evil\r\nX-Injected: 1 (x) ;",
            peer: "127.0.0.1:2525".parse().unwrap(),
            hostname: "mx.trust.test",
            tls: Some("TLSv1_3 TLS13_AES_128_GCM_SHA256"),
            id: "20261203T170000Z-000001",
            for_rcpt: Some("AD64SDE@trust.test"),
            date: "Thu, 03 Dec 2026 17:00:00 +0000",
        });
        assert!(field.starts_with("Received: from evilX-Injected:1x ([127.0.0.1]:2525)\r\n"));
        assert!(field.contains("with ESMTPS (TLSv1_3 TLS13_AES_128_GCM_SHA256)"));
        assert!(field.contains("for <AD64SDE@trust.test>;"));
        assert_eq!(field.matches("\r\n").count(), 5);
        assert!(field.lines().skip(1).all(|l| l.starts_with('\t')));
    }

    proptest::proptest! {
        /// Arbitrary header blocks: every range found is a whole field (it starts a line and
        /// ends at a line end or the end), in order, within the message.
        #[test]
        fn found_ranges_are_whole_fields(
            fields in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just("Authentication-Results: mx.t; a=b\r\n".to_string()),
                    proptest::strategy::Just("authentication-results:(c)MX.T;\r\n folded\r\n".to_string()),
                    "[ -~]{0,40}\r\n",
                    "[ -~\t]{0,40}\n",
                ],
                0..12,
            ),
            tail in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
        ) {
            let mut raw: Vec<u8> = fields.concat().into_bytes();
            raw.extend_from_slice(&tail);
            let found = own_auth_results(&raw, "mx.t");
            let mut at = 0;
            for r in &found {
                proptest::prop_assert!(r.start >= at && r.start < r.end && r.end <= raw.len());
                proptest::prop_assert!(r.start == 0 || raw[r.start - 1] == b'\n');
                proptest::prop_assert!(r.end == raw.len() || raw[r.end - 1] == b'\n');
                at = r.end;
            }
        }
    }
}
