//! DATA framing: finds the end of data, undoes dot-stuffing and flags bare CR/LF, streaming.
//!
//! Called by `smtp::session` after the 354. Only `CRLF . CRLF` ends the data (RFC 5321
//! 4.1.1.4); a leading dot on any other line is removed (RFC 5321 4.5.2). We do not use
//! smtp-proto's `DataReceiver`: it passes bare LF through and also ends the data on
//! `CRLF . CR CR LF`, which would let a message carrying a bare CR end early and turn its tail
//! into commands (SMTP smuggling, CVE-2023-51764/51765/51766). Never buffers the message: the
//! decoded bytes go to the caller's chunk, and stop going there once the message is refused.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// After CRLF (or right after the 354): a dot here is special.
    LineStart,
    /// Inside a line.
    Mid,
    /// A CR was seen and not yet emitted: CRLF or a bare CR, depending on the next byte.
    Cr,
    /// A dot at the start of a line was consumed.
    Dot,
    /// `.` CR at the start of a line: LF ends the data.
    DotCr,
}

/// Streaming decoder for one message.
#[derive(Debug, Clone)]
pub(crate) struct DataDecoder {
    state: State,
    /// Decoded body bytes so far, counted even after the message is refused.
    size: u64,
    /// The size limit; past it nothing more is emitted.
    max: u64,
    /// A bare CR or LF was seen.
    bare: bool,
    /// The body grew past `max`.
    too_big: bool,
}

impl DataDecoder {
    /// A decoder for a message of at most `max` bytes.
    pub(crate) fn new(max: u64) -> DataDecoder {
        DataDecoder {
            state: State::LineStart,
            size: 0,
            max,
            bare: false,
            too_big: false,
        }
    }

    /// The decoded size (counted to the end, even past the limit).
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Whether the body grew past the limit.
    pub(crate) fn too_big(&self) -> bool {
        self.too_big
    }

    /// Whether a bare CR or LF was seen.
    pub(crate) fn bare_line_ending(&self) -> bool {
        self.bare
    }

    /// Decodes `input`, appending body bytes to `out` while the message is still acceptable.
    /// Returns the bytes consumed and whether the final `CRLF . CRLF` was reached; bytes after it
    /// are not consumed.
    pub(crate) fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> (usize, bool) {
        let mut i = 0;
        while let Some(&b) = input.get(i) {
            match self.state {
                State::Mid => {
                    let rest = &input[i..];
                    // The hot loop of DATA: memchr2 scans a word at a time.
                    let run = memchr::memchr2(b'\r', b'\n', rest).unwrap_or(rest.len());
                    if run > 0 {
                        self.emit(&rest[..run], out);
                        i += run;
                        continue;
                    }
                    i += 1;
                    if b == b'\r' {
                        self.state = State::Cr;
                    } else {
                        self.bare = true; // bare LF
                        self.emit(b"\n", out);
                    }
                }
                State::LineStart => {
                    i += 1;
                    match b {
                        b'.' => self.state = State::Dot,
                        b'\r' => self.state = State::Cr,
                        b'\n' => {
                            self.bare = true;
                            self.emit(b"\n", out);
                            self.state = State::Mid;
                        }
                        _ => {
                            self.emit(&[b], out);
                            self.state = State::Mid;
                        }
                    }
                }
                State::Cr => {
                    if b == b'\n' {
                        i += 1;
                        self.emit(b"\r\n", out);
                        self.state = State::LineStart;
                    } else {
                        // A bare CR; the byte after it is looked at again as part of the line.
                        self.bare = true;
                        self.emit(b"\r", out);
                        if b == b'\r' {
                            i += 1;
                        } else {
                            self.state = State::Mid;
                        }
                    }
                }
                State::Dot => {
                    if b == b'\r' {
                        i += 1;
                        self.state = State::DotCr;
                    } else {
                        // RFC 5321 4.5.2: the leading dot was stuffing; drop it, keep the rest.
                        self.state = State::Mid;
                    }
                }
                State::DotCr => {
                    if b == b'\n' {
                        self.state = State::LineStart;
                        return (i + 1, true);
                    }
                    // `.` CR followed by something else: the dot was stuffing and the CR is
                    // pending, exactly as in `Cr` (which flags it as bare).
                    self.state = State::Cr;
                }
            }
        }
        (i, false)
    }

    fn emit(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        self.size = self.size.saturating_add(bytes.len() as u64);
        if self.size > self.max {
            self.too_big = true;
        }
        if !self.too_big && !self.bare {
            out.extend_from_slice(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` split at `split`; returns (body, consumed, done, bare).
    fn decode_split(input: &[u8], split: usize, max: u64) -> (Vec<u8>, usize, bool, bool) {
        let mut d = DataDecoder::new(max);
        let mut body = Vec::new();
        let (a, done) = d.decode(&input[..split], &mut body);
        if done {
            return (body, a, true, d.bare_line_ending());
        }
        assert_eq!(a, split);
        let (b, done) = d.decode(&input[split..], &mut body);
        (body, a + b, done, d.bare_line_ending())
    }

    fn check(input: &[u8], body: &[u8], consumed: usize, bare: bool) {
        for split in 0..=input.len() {
            let (got, n, done, b) = decode_split(input, split, u64::MAX);
            assert!(done, "split {split}: no end found");
            assert_eq!(n, consumed, "split {split}");
            assert_eq!(b, bare, "split {split}");
            if !bare {
                assert_eq!(got, body, "split {split}");
            }
        }
    }

    #[test]
    fn dot_stuffing_is_undone() {
        check(
            b"hi\r\n..\r\n.a\r\n\r\n.\r\n",
            b"hi\r\n.\r\na\r\n\r\n",
            17,
            false,
        );
        check(b".\r\n", b"", 3, false);
        check(b"..\r\n.\r\nQUIT\r\n", b".\r\n", 7, false);
    }

    #[test]
    fn only_crlf_dot_crlf_ends_cve_2023_51764() {
        for payload in [
            &b"\n.\n"[..],
            b"\n.\r\n",
            b"\r.\r\n",
            b"\r\n.\r",
            b"\r\n.\r\r\n",
        ] {
            let mut input = b"x".to_vec();
            input.extend_from_slice(payload);
            input.extend_from_slice(
                b"MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\nz\r\n.\r\n",
            );
            let len = input.len();
            check(&input, b"", len, true);
        }
    }

    #[test]
    fn size_limit_stops_emitting_but_finds_the_end() {
        let mut input = vec![b'a'; 1000];
        input.extend_from_slice(b"\r\n.\r\n");
        let mut d = DataDecoder::new(100);
        let mut body = Vec::new();
        let (n, done) = d.decode(&input, &mut body);
        assert!(done);
        assert_eq!(n, input.len());
        assert!(d.too_big());
        assert!(body.len() <= 100);
        assert_eq!(d.size(), 1002);
    }
}
