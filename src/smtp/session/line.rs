//! Command-line framing for the session: CRLF is the only line end, and memory stays bounded.
//!
//! Called by `smtp::session` while it is between commands. smtp-proto's `RequestReceiver`
//! would accept lines of 4096 octets and treats a bare LF as a line end; we frame lines
//! ourselves and only then hand one complete line to `smtp_proto::Request::parse`.
//! Never allocates more than `max_line_length` bytes, whatever the client sends.

/// How a framed line ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Line {
    /// A well-formed line ending in CRLF; read it with [`LineReader::take`].
    Complete,
    /// Longer than the limit (RFC 5321 4.5.3.1.4): the excess was discarded, not stored.
    TooLong,
    /// A bare CR or bare LF inside the line. CVE-2023-51764/51765/51766: a bare LF never ends a
    /// line, so `MAIL ...\nRCPT ...\r\n` is one bad line, never two commands.
    BareLineEnding,
}

/// Accumulates one command line across reads.
#[derive(Debug, Default)]
pub(crate) struct LineReader {
    /// The first `max` bytes of the current line (CRLF included when it fits).
    buf: Vec<u8>,
    /// Bytes of the current line seen so far, including those not stored.
    len: usize,
    /// The previous byte, to recognise CRLF split across reads.
    prev: u8,
    /// A bare CR or LF was seen in this line.
    bare: bool,
}

impl LineReader {
    /// Consumes bytes up to and including the first CRLF. Returns how many bytes were consumed
    /// and, when a line ended, how.
    pub(crate) fn push(&mut self, input: &[u8], max: usize) -> (usize, Option<Line>) {
        for (i, &b) in input.iter().enumerate() {
            self.len = self.len.saturating_add(1);
            if self.prev == b'\r' && b != b'\n' {
                self.bare = true;
            }
            if self.buf.len() < max {
                self.buf.push(b);
            }
            if b == b'\n' {
                if self.prev == b'\r' {
                    let line = if self.len > max {
                        Line::TooLong
                    } else if self.bare {
                        Line::BareLineEnding
                    } else {
                        Line::Complete
                    };
                    if line != Line::Complete {
                        self.clear();
                    }
                    self.prev = 0;
                    self.len = 0;
                    self.bare = false;
                    return (i + 1, Some(line));
                }
                self.bare = true;
            }
            self.prev = b;
        }
        (input.len(), None)
    }

    /// Takes the complete line (CRLF included) out, leaving the reader empty. Give the buffer
    /// back with [`LineReader::restore`] to reuse its allocation.
    pub(crate) fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// Returns a buffer taken with [`LineReader::take`], emptied.
    pub(crate) fn restore(&mut self, mut buf: Vec<u8>) {
        buf.clear();
        self.buf = buf;
    }

    /// Forgets any partial line (after STARTTLS).
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.len = 0;
        self.prev = 0;
        self.bare = false;
    }

    /// Bytes held in memory.
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(chunks: &[&[u8]], max: usize) -> Vec<(Line, Vec<u8>)> {
        let mut r = LineReader::default();
        let mut lines = Vec::new();
        for chunk in chunks {
            let mut rest: &[u8] = chunk;
            while !rest.is_empty() {
                let (n, line) = r.push(rest, max);
                rest = &rest[n..];
                assert!(r.buffered() <= max);
                if let Some(line) = line {
                    let buf = r.take();
                    lines.push((
                        line,
                        if line == Line::Complete {
                            buf.clone()
                        } else {
                            Vec::new()
                        },
                    ));
                    r.restore(buf);
                }
            }
        }
        lines
    }

    #[test]
    fn crlf_ends_a_line_even_split() {
        let lines = frame(&[b"NOOP\r", b"\nQUIT\r\n"], 512);
        assert_eq!(
            lines,
            vec![
                (Line::Complete, b"NOOP\r\n".to_vec()),
                (Line::Complete, b"QUIT\r\n".to_vec())
            ]
        );
    }

    #[test]
    fn bare_lf_does_not_split_a_line_cve_2023_51764() {
        let lines = frame(&[b"MAIL FROM:<a@b.test>\nRCPT TO:<c@d.test>\r\n"], 512);
        assert_eq!(lines, vec![(Line::BareLineEnding, Vec::new())]);
    }

    #[test]
    fn bare_cr_is_refused() {
        assert_eq!(
            frame(&[b"NO\rOP\r\n"], 512),
            vec![(Line::BareLineEnding, Vec::new())]
        );
        assert_eq!(
            frame(&[b"NOOP\r\r\n"], 512),
            vec![(Line::BareLineEnding, Vec::new())]
        );
    }

    #[test]
    fn long_line_is_discarded_without_growing() {
        let long = vec![b'a'; 100_000];
        let lines = frame(&[b"EHLO ", &long, b"\r\nNOOP\r\n"], 512);
        assert_eq!(
            lines,
            vec![
                (Line::TooLong, Vec::new()),
                (Line::Complete, b"NOOP\r\n".to_vec())
            ]
        );
    }

    #[test]
    fn line_of_exactly_max_is_accepted() {
        let mut line = vec![b'a'; 10];
        line.extend_from_slice(b"\r\n");
        assert_eq!(frame(&[&line], 12)[0].0, Line::Complete);
        assert_eq!(frame(&[&line], 11)[0].0, Line::TooLong);
    }
}
