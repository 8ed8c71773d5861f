//! A bounded, lazy reader of the objects in one PDF: reads only the objects it is asked for.
//!
//! Used by `facturx` alone, which asks for the catalog, the `/EmbeddedFiles` name tree, the
//! `/AF` array, file specifications and their embedded streams. lopdf's loader cannot be
//! bounded that way: it parses every object and decompresses every object stream before the
//! caller sees the document, so a 1.5 MB PDF of 90 object streams held 1.5 GB (issue 9). This
//! reader follows the cross-reference data (tables and streams, `/Prev` chains, hybrid
//! `/XRefStm`) to the trailer and resolves an object only when asked, decompressing an object
//! stream only when an object it holds is needed, once. lopdf's types (`Object`, `Dictionary`,
//! `Stream`) are the data model, and lopdf's filters (Flate, LZW, ASCII85, ASCIIHex, PNG and
//! TIFF predictors) decode streams, each call bounded.
//!
//! Bounds, all from [`PdfLimits`] and counted across the whole file:
//! - bytes materialised (decompressed streams: cross-reference streams, object streams,
//!   embedded files; and the strings the search copies out) ≤ `max_total_decompressed_bytes`,
//!   and one stream ≤ `max_decompressed_bytes`;
//! - objects known (cross-reference entries, members listed in the object streams read, and
//!   objects found by a repair scan) ≤ `max_objects`;
//! - values parsed (each number, name, string, array, dictionary entry …) ≤ `max_values`,
//!   nesting ≤ [`MAX_NESTING`].
//!
//! So its memory is the PDF itself plus at most those budgets, whatever the file holds.
//! Stream data is never copied into the object cache (a stream keeps its position; its bytes
//! are sliced from the input when decoded), so overlapping `/Length`s cost nothing.
//!
//! When the cross-reference data does not lead to an object (damaged offsets, a missing
//! table), the reader scans the file once for `N G obj` headers and reads the object there, as
//! lopdf's lenient loading does. Encrypted PDFs are refused (PDF/A-3, which Factur-X and
//! ZUGFeRD require, forbids encryption). No clock, no I/O, no unsafe; never follows external
//! references.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::rc::Rc;

use lopdf::{DecompressError, Dictionary, Object, ObjectId, Stream, StringFormat};

use super::facturx::{PdfError, PdfLimits};

/// Deepest nesting of arrays and dictionaries parsed (lopdf allows 100; real files use < 10).
pub(crate) const MAX_NESTING: usize = 64;

/// Most cross-reference sections followed through `/Prev` and `/XRefStm` (incremental
/// updates; real files have a handful).
const MAX_XREF_SECTIONS: usize = 64;

/// Most references followed in a row (an indirect object whose value is a reference, a
/// `/Length` stored in another object …) before the reader calls it a loop.
const MAX_INDIRECTION: usize = 8;

/// Most trailing `trailer` dictionaries and catalog candidates a repair scan tries.
const MAX_REPAIR_CANDIDATES: usize = 16;

/// Where an object lives, from the cross-reference data.
#[derive(Debug, Clone, Copy)]
enum Entry {
    /// At a byte offset of the file (`n` entries, type 1).
    Normal { offset: usize },
    /// The `index`th member of object stream `container` (type 2).
    Compressed { container: u32, index: usize },
}

/// A decoded object stream: its content and where each member starts.
struct ObjectStream {
    content: Vec<u8>,
    /// (object number, offset in `content`) in the order of the stream's index.
    members: Vec<(u32, usize)>,
}

/// An object as the caller sees it: borrowed when it was direct, shared from the cache when
/// it was resolved.
pub(crate) enum Resolved<'o> {
    Direct(&'o Object),
    Shared(Rc<Object>),
}

impl std::ops::Deref for Resolved<'_> {
    type Target = Object;
    fn deref(&self) -> &Object {
        match self {
            Resolved::Direct(o) => o,
            Resolved::Shared(o) => o,
        }
    }
}

/// The lazy reader. Not `Send`: one per PDF, on one thread.
pub(crate) struct PdfReader<'a> {
    data: &'a [u8],
    limits: &'a PdfLimits,
    entries: HashMap<u32, Entry>,
    trailer: Dictionary,
    /// Objects resolved so far, so a name tree that revisits a node does not parse it again.
    cache: HashMap<ObjectId, Rc<Object>>,
    /// Raw data of each stream parsed, by the position of its first byte.
    stream_data: HashMap<usize, Range<usize>>,
    object_streams: HashMap<u32, Option<Rc<ObjectStream>>>,
    /// Object number → offset of its last `N G obj` header, built on first need.
    scanned: Option<HashMap<u32, usize>>,
    /// Offsets of every `endstream`, built on first need.
    endstreams: Option<Vec<usize>>,
    /// Object numbers being resolved: a reference back to one of them is a loop.
    resolving: Vec<u32>,
    usage: Usage,
}

/// What one reader has spent of its [`PdfLimits`]; never more than the limits (a count that
/// would cross its limit is refused, not added).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    /// Bytes decompressed and strings copied (`max_total_decompressed_bytes`).
    pub(crate) materialised: usize,
    /// Objects known (`max_objects`).
    pub(crate) objects: usize,
    /// Values parsed (`max_values`).
    pub(crate) values: usize,
}

impl<'a> PdfReader<'a> {
    /// A reader of `pdf`; nothing is read before [`PdfReader::open`].
    pub(crate) fn new(pdf: &'a [u8], limits: &'a PdfLimits) -> PdfReader<'a> {
        // Offsets count from the header, as lopdf counts them: bytes before it are junk.
        let start = memchr::memmem::find(pdf, b"%PDF-").unwrap_or(0);
        PdfReader {
            data: &pdf[start..],
            limits,
            entries: HashMap::new(),
            trailer: Dictionary::new(),
            cache: HashMap::new(),
            stream_data: HashMap::new(),
            object_streams: HashMap::new(),
            scanned: None,
            endstreams: None,
            resolving: Vec::new(),
            usage: Usage::default(),
        }
    }

    /// Reads the cross-reference data and the trailer; no object is parsed yet.
    ///
    /// # Errors
    /// [`PdfError`] when no trailer with a `/Root` can be found, the file is encrypted, or a
    /// bound is crossed.
    pub(crate) fn open(&mut self) -> Result<(), PdfError> {
        let mut trailers = Vec::new();
        if let Err(err) = self.read_xref_chain(&mut trailers)
            && err.is_bound()
        {
            return Err(err);
        }
        // Damaged cross-reference data keeps what was read; the rest is repaired below.
        let encrypted = trailers.iter().any(|t| t.has(b"Encrypt"));
        // The newest trailer with a /Root is the document's.
        match trailers.iter().position(|t| t.has(b"Root")) {
            Some(newest) => self.trailer = trailers.swap_remove(newest),
            None => self.repair_trailer()?,
        }
        if encrypted || self.trailer.has(b"Encrypt") {
            return Err(PdfError::Unreadable("the PDF is encrypted".into()));
        }
        Ok(())
    }

    /// What this reader has spent of its budgets so far.
    pub(crate) fn usage(&self) -> Usage {
        self.usage
    }

    /// The document catalog (`/Root` of the trailer).
    ///
    /// # Errors
    /// [`PdfError::Unreadable`] when it is not a dictionary; a bound.
    pub(crate) fn catalog(&mut self) -> Result<Rc<Object>, PdfError> {
        let root = self.trailer.get(b"Root").cloned().unwrap_or(Object::Null);
        let catalog = match root {
            Object::Reference(id) => self.get(id)?,
            other => Rc::new(other),
        };
        if catalog.as_dict().is_err() {
            return Err(PdfError::Unreadable(
                "the catalog is not a dictionary".into(),
            ));
        }
        Ok(catalog)
    }

    /// `object`, with references followed (a dangling one is `null`, PDF 32000-1 7.3.10).
    ///
    /// # Errors
    /// A bound crossed while reading the object.
    pub(crate) fn resolve<'o>(&mut self, object: &'o Object) -> Result<Resolved<'o>, PdfError> {
        let &Object::Reference(mut id) = object else {
            return Ok(Resolved::Direct(object));
        };
        for _ in 0..MAX_INDIRECTION {
            let next = self.get(id)?;
            match &*next {
                Object::Reference(again) => id = *again,
                _ => return Ok(Resolved::Shared(next)),
            }
        }
        Ok(Resolved::Shared(Rc::new(Object::Null)))
    }

    /// The object reached through `object` if it is a reference, with its id.
    ///
    /// # Errors
    /// A bound crossed while reading the object.
    pub(crate) fn resolve_with_id(
        &mut self,
        object: &Object,
    ) -> Result<(Option<ObjectId>, Rc<Object>), PdfError> {
        match object {
            Object::Reference(id) => {
                let resolved = self.resolve(object)?;
                let shared = match resolved {
                    Resolved::Shared(rc) => rc,
                    Resolved::Direct(o) => Rc::new(o.clone()),
                };
                Ok((Some(*id), shared))
            }
            other => Ok((None, Rc::new(other.clone()))),
        }
    }

    /// The decoded data of a stream this reader parsed, at most `limit` bytes (and within the
    /// file's total budget).
    ///
    /// # Errors
    /// [`PdfError::TotalDecompressedTooLarge`] past the total budget,
    /// [`PdfError::StreamTooLarge`] past `limit`, [`PdfError::Unreadable`] when the data does
    /// not decode.
    pub(crate) fn stream_content(
        &mut self,
        stream: &Stream,
        limit: usize,
    ) -> Result<Vec<u8>, PdfError> {
        let raw = stream
            .start_position
            .and_then(|start| self.stream_data.get(&start))
            .map_or(&[][..], |range| &self.data[range.clone()]);
        let remaining = self
            .limits
            .max_total_decompressed_bytes
            .saturating_sub(self.usage.materialised);
        let bound = limit.min(remaining);
        // lopdf decodes from an owned stream; the copy of the raw data lives only as long as
        // this call.
        let owned = Stream::new(stream.dict.clone(), raw.to_vec());
        match owned.decompressed_content_with_limit(bound) {
            Ok(bytes) => {
                self.charge(bytes.len())?;
                Ok(bytes)
            }
            Err(lopdf::Error::Decompress(DecompressError::MemoryLimitExceeded { .. })) => {
                if bound < limit {
                    Err(self.total_exceeded())
                } else {
                    Err(PdfError::StreamTooLarge { limit })
                }
            }
            Err(err) => Err(PdfError::Unreadable(format!(
                "a stream does not decode: {err}"
            ))),
        }
    }

    // ---- budgets ----

    fn total_exceeded(&self) -> PdfError {
        PdfError::TotalDecompressedTooLarge {
            limit: self.limits.max_total_decompressed_bytes,
        }
    }

    /// Counts `bytes` materialised against the total budget.
    fn charge(&mut self, bytes: usize) -> Result<(), PdfError> {
        let total = self.usage.materialised.saturating_add(bytes);
        if total > self.limits.max_total_decompressed_bytes {
            return Err(self.total_exceeded());
        }
        self.usage.materialised = total;
        Ok(())
    }

    /// Counts `n` objects known against `max_objects`.
    fn count_objects(&mut self, n: usize) -> Result<(), PdfError> {
        let total = self.usage.objects.saturating_add(n);
        if total > self.limits.max_objects {
            return Err(PdfError::TooManyObjects {
                limit: self.limits.max_objects,
            });
        }
        self.usage.objects = total;
        Ok(())
    }

    fn count_value(&mut self) -> Result<(), PdfError> {
        if self.usage.values >= self.limits.max_values {
            return Err(PdfError::TooManyValues {
                limit: self.limits.max_values,
            });
        }
        self.usage.values += 1;
        Ok(())
    }

    fn insert_entry(&mut self, number: u32, entry: Entry) -> Result<(), PdfError> {
        // The newest section is read first, and its entry wins.
        if let std::collections::hash_map::Entry::Vacant(slot) = self.entries.entry(number) {
            slot.insert(entry);
            self.count_objects(1)?;
        }
        Ok(())
    }

    // ---- cross-reference data (PDF 32000-1 7.5.4, 7.5.8) ----

    /// Follows `startxref`, `/Prev` and `/XRefStm` from the newest section to the oldest,
    /// collecting each section's trailer dictionary in `trailers`.
    fn read_xref_chain(&mut self, trailers: &mut Vec<Dictionary>) -> Result<(), PdfError> {
        let startxref = memchr::memmem::rfind(self.data, b"startxref")
            .ok_or_else(|| PdfError::Unreadable("no startxref".into()))?;
        let mut lexer = Lexer::new(self.data, startxref + b"startxref".len());
        let mut next = Some(lexer.unsigned()?);
        let mut seen = HashSet::new();
        let mut pending_stream: Vec<usize> = Vec::new();
        while let Some(offset) = next.take().or_else(|| pending_stream.pop()) {
            if seen.len() >= MAX_XREF_SECTIONS || !seen.insert(offset) {
                break;
            }
            let trailer = self.read_xref_section(offset)?;
            if let Ok(Object::Integer(stm)) = trailer.get(b"XRefStm") {
                // A hybrid file (7.5.8.4): the stream's entries come after this table's.
                pending_stream.push(usize::try_from(*stm).unwrap_or(usize::MAX));
            }
            next = match trailer.get(b"Prev") {
                Ok(Object::Integer(prev)) => usize::try_from(*prev).ok(),
                _ => None,
            };
            trailers.push(trailer);
        }
        Ok(())
    }

    /// Reads one section (a table and its trailer, or a cross-reference stream) at `offset`;
    /// returns its trailer dictionary.
    fn read_xref_section(&mut self, offset: usize) -> Result<Dictionary, PdfError> {
        let mut lexer = Lexer::new(self.data, offset);
        lexer.skip_space();
        if lexer.eat_keyword(b"xref") {
            return self.read_xref_table(lexer);
        }
        let (_, object) = self.parse_indirect_at(offset, None)?;
        let Object::Stream(stream) = object else {
            return Err(PdfError::Unreadable("startxref points at no xref".into()));
        };
        self.read_xref_stream(&stream)?;
        Ok(stream.dict)
    }

    fn read_xref_table(&mut self, mut lexer: Lexer<'a>) -> Result<Dictionary, PdfError> {
        loop {
            lexer.skip_space();
            if lexer.eat_keyword(b"trailer") {
                let trailer = self.parse_value(&mut lexer, 0)?;
                return match trailer {
                    Object::Dictionary(d) => Ok(d),
                    _ => Err(PdfError::Unreadable(
                        "the trailer is not a dictionary".into(),
                    )),
                };
            }
            let first = lexer.unsigned()?;
            let count = lexer.unsigned()?;
            for i in 0..count {
                let offset = lexer.unsigned()?;
                let _generation = lexer.unsigned()?;
                lexer.skip_space();
                let kind = lexer.byte();
                if kind == Some(b'n')
                    && let Ok(number) = u32::try_from(first.saturating_add(i))
                    && number != 0
                {
                    self.insert_entry(number, Entry::Normal { offset })?;
                } else if kind != Some(b'f') && kind != Some(b'n') {
                    return Err(PdfError::Unreadable("damaged xref table".into()));
                }
            }
        }
    }

    fn read_xref_stream(&mut self, stream: &Stream) -> Result<(), PdfError> {
        let widths: Vec<usize> = match stream.dict.get(b"W") {
            Ok(Object::Array(w)) => w
                .iter()
                .map(|o| o.as_i64().ok().and_then(|v| usize::try_from(v).ok()))
                .collect::<Option<_>>()
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        if widths.len() != 3 || widths.iter().any(|w| *w > 8) || widths[1] == 0 {
            return Err(PdfError::Unreadable("bad /W in an xref stream".into()));
        }
        let row = widths.iter().sum::<usize>();
        let size = stream
            .dict
            .get(b"Size")
            .and_then(Object::as_i64)
            .unwrap_or(0);
        let sections: Vec<(i64, i64)> = match stream.dict.get(b"Index") {
            Ok(Object::Array(index)) => index
                .chunks_exact(2)
                .map(|p| (p[0].as_i64().unwrap_or(0), p[1].as_i64().unwrap_or(0)))
                .collect(),
            _ => vec![(0, size)],
        };
        let data = self.stream_content(stream, self.limits.max_decompressed_bytes)?;
        let mut rows = data.chunks_exact(row);
        for (first, count) in sections {
            for i in 0..count.max(0) {
                let Some(r) = rows.next() else {
                    return Ok(());
                };
                let (f0, rest) = r.split_at(widths[0]);
                let (f1, f2) = rest.split_at(widths[1]);
                let kind = if widths[0] == 0 { 1 } else { be(f0) };
                let Ok(number) = u32::try_from(first.saturating_add(i)) else {
                    continue;
                };
                if number == 0 {
                    continue;
                }
                match kind {
                    1 => self.insert_entry(
                        number,
                        Entry::Normal {
                            offset: usize::try_from(be(f1)).unwrap_or(usize::MAX),
                        },
                    )?,
                    2 => self.insert_entry(
                        number,
                        Entry::Compressed {
                            container: u32::try_from(be(f1)).unwrap_or(0),
                            index: usize::try_from(be(f2)).unwrap_or(usize::MAX),
                        },
                    )?,
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// No usable trailer: look for one, or for the catalog, in the file itself.
    fn repair_trailer(&mut self) -> Result<(), PdfError> {
        let data = self.data;
        for at in memchr::memmem::rfind_iter(data, b"trailer").take(MAX_REPAIR_CANDIDATES) {
            let mut lexer = Lexer::new(data, at + b"trailer".len());
            if let Ok(Object::Dictionary(d)) = self.parse_value(&mut lexer, 0)
                && d.has(b"Root")
            {
                self.trailer = d;
                return Ok(());
            }
        }
        // No trailer: the last object typed /Catalog.
        self.scan()?;
        let mut headers: Vec<(usize, u32)> = self
            .scanned
            .as_ref()
            .map(|s| s.iter().map(|(n, o)| (*o, *n)).collect())
            .unwrap_or_default();
        headers.sort_unstable();
        for at in memchr::memmem::rfind_iter(data, b"/Catalog").take(MAX_REPAIR_CANDIDATES) {
            let i = headers.partition_point(|(o, _)| *o <= at);
            let Some(&(_, number)) = i.checked_sub(1).and_then(|i| headers.get(i)) else {
                continue;
            };
            let object = self.get((number, 0))?;
            if object.as_dict().is_ok_and(|d| d.has_type(b"Catalog")) {
                self.trailer.set("Root", Object::Reference((number, 0)));
                return Ok(());
            }
        }
        Err(PdfError::Unreadable(
            "no cross-reference data and no catalog found".into(),
        ))
    }

    /// Scans the file once for `N G obj` headers (the last one of a number wins, as in an
    /// incremental update). Numbers the cross-reference data already listed are not counted
    /// again.
    fn scan(&mut self) -> Result<(), PdfError> {
        if self.scanned.is_some() {
            return Ok(());
        }
        let data = self.data;
        let mut found = HashMap::new();
        for at in memchr::memmem::find_iter(data, b"obj") {
            if let Some((number, start)) = header_before(data, at)
                && found.insert(number, start).is_none()
                && !self.entries.contains_key(&number)
            {
                self.count_objects(1)?;
            }
        }
        self.scanned = Some(found);
        Ok(())
    }

    /// The first `endstream` keyword at or after `from`. The positions of all of them are
    /// found once (each counted as an object, as each ends one), so streams with wrong
    /// lengths cannot make the reader search the rest of the file again and again.
    fn next_endstream(&mut self, from: usize) -> Result<Option<usize>, PdfError> {
        if self.endstreams.is_none() {
            let mut all = Vec::new();
            for at in memchr::memmem::find_iter(self.data, b"endstream") {
                self.count_objects(1)?;
                all.push(at);
            }
            self.endstreams = Some(all);
        }
        let all = self.endstreams.as_deref().unwrap_or_default();
        Ok(all.get(all.partition_point(|at| *at < from)).copied())
    }

    // ---- objects ----

    /// The object `id` (its number decides; generations are not checked, as readers commonly
    /// do), `null` when the file does not have it.
    fn get(&mut self, id: ObjectId) -> Result<Rc<Object>, PdfError> {
        if let Some(hit) = self.cache.get(&id) {
            return Ok(hit.clone());
        }
        if self.resolving.contains(&id.0) || self.resolving.len() >= MAX_INDIRECTION {
            return Ok(Rc::new(Object::Null));
        }
        self.resolving.push(id.0);
        let loaded = self.load(id.0);
        self.resolving.pop();
        let object = Rc::new(loaded?.unwrap_or(Object::Null));
        self.cache.insert(id, object.clone());
        Ok(object)
    }

    fn load(&mut self, number: u32) -> Result<Option<Object>, PdfError> {
        match self.entries.get(&number).copied() {
            Some(Entry::Normal { offset }) => match self.parse_indirect_at(offset, Some(number)) {
                Ok((_, object)) => return Ok(Some(object)),
                Err(err) if err.is_bound() => return Err(err),
                Err(_) => {}
            },
            Some(Entry::Compressed { container, index }) => {
                match self.member(container, index, number) {
                    Ok(Some(object)) => return Ok(Some(object)),
                    Ok(None) => {}
                    Err(err) if err.is_bound() => return Err(err),
                    Err(_) => {}
                }
            }
            None => {}
        }
        // The cross-reference data did not lead to it: where the scan found its header.
        self.scan()?;
        let Some(offset) = self.scanned.as_ref().and_then(|s| s.get(&number)).copied() else {
            return Ok(None);
        };
        match self.parse_indirect_at(offset, Some(number)) {
            Ok((_, object)) => Ok(Some(object)),
            Err(err) if err.is_bound() => Err(err),
            Err(_) => Ok(None),
        }
    }

    /// Member `index` (object `number`) of object stream `container` (PDF 32000-1 7.5.7).
    fn member(
        &mut self,
        container: u32,
        index: usize,
        number: u32,
    ) -> Result<Option<Object>, PdfError> {
        let Some(stream) = self.object_stream(container)? else {
            return Ok(None);
        };
        let at = match stream.members.get(index) {
            Some((n, at)) if *n == number => *at,
            _ => match stream.members.iter().find(|(n, _)| *n == number) {
                Some((_, at)) => *at,
                None => return Ok(None),
            },
        };
        let mut lexer = Lexer::new(&stream.content, at);
        let object = self.parse_value(&mut lexer, 0)?;
        Ok(Some(object))
    }

    fn object_stream(&mut self, container: u32) -> Result<Option<Rc<ObjectStream>>, PdfError> {
        if let Some(cached) = self.object_streams.get(&container) {
            return Ok(cached.clone());
        }
        // Decoded at most once, whatever the outcome.
        self.object_streams.insert(container, None);
        // An object stream is never itself in an object stream (7.5.7).
        let offset = match self.entries.get(&container) {
            Some(Entry::Normal { offset }) => Some(*offset),
            Some(Entry::Compressed { .. }) => None,
            None => {
                self.scan()?;
                self.scanned
                    .as_ref()
                    .and_then(|s| s.get(&container))
                    .copied()
            }
        };
        let Some(offset) = offset else {
            return Ok(None);
        };
        let stream = match self.parse_indirect_at(offset, Some(container)) {
            Ok((_, Object::Stream(stream))) => stream,
            Ok(_) => return Ok(None),
            Err(err) if err.is_bound() => return Err(err),
            Err(_) => return Ok(None),
        };
        let first = stream
            .dict
            .get(b"First")
            .and_then(Object::as_i64)
            .ok()
            .and_then(|f| usize::try_from(f).ok());
        let Some(first) = first else {
            return Ok(None);
        };
        let content = match self.stream_content(&stream, self.limits.max_decompressed_bytes) {
            Ok(content) => content,
            Err(err) if err.is_bound() => return Err(err),
            Err(_) => return Ok(None),
        };
        let mut members = Vec::new();
        let mut lexer = Lexer::new(&content[..first.min(content.len())], 0);
        while let (Ok(number), Ok(at)) = (lexer.unsigned(), lexer.unsigned()) {
            self.count_objects(1)?;
            if let Ok(number) = u32::try_from(number) {
                members.push((number, first.saturating_add(at)));
            }
        }
        let decoded = Rc::new(ObjectStream { content, members });
        self.object_streams.insert(container, Some(decoded.clone()));
        Ok(Some(decoded))
    }

    /// Parses `N G obj VALUE [stream … endstream]` at `offset`; when `expect` is given, the
    /// header must carry that number.
    fn parse_indirect_at(
        &mut self,
        offset: usize,
        expect: Option<u32>,
    ) -> Result<(u32, Object), PdfError> {
        let data = self.data;
        if offset >= data.len() {
            return Err(PdfError::Unreadable(
                "an object offset is past the end".into(),
            ));
        }
        let mut lexer = Lexer::new(data, offset);
        let number = lexer.unsigned()?;
        let _generation = lexer.unsigned()?;
        lexer.skip_space();
        if !lexer.eat_keyword(b"obj") {
            return Err(PdfError::Unreadable("no object at an xref offset".into()));
        }
        let number = u32::try_from(number)
            .map_err(|_| PdfError::Unreadable("object number out of range".into()))?;
        if expect.is_some_and(|e| e != number) {
            return Err(PdfError::Unreadable("xref offset of another object".into()));
        }
        let value = self.parse_value(&mut lexer, 0)?;
        let Object::Dictionary(dict) = value else {
            return Ok((number, value));
        };
        lexer.skip_space();
        if !lexer.eat_keyword(b"stream") {
            return Ok((number, Object::Dictionary(dict)));
        }
        // 7.3.8.1: `stream` is followed by CRLF or LF (a lone CR is tolerated).
        let mut start = lexer.pos;
        if data.get(start) == Some(&b'\r') {
            start += 1;
        }
        if data.get(start) == Some(&b'\n') {
            start += 1;
        }
        let end = self.stream_end(&dict, start)?;
        self.stream_data.insert(start, start..end);
        Ok((number, Object::Stream(Stream::with_position(dict, start))))
    }

    /// Where a stream's data ends: by its `/Length` when `endstream` follows there, else at the
    /// next `endstream`.
    fn stream_end(&mut self, dict: &Dictionary, start: usize) -> Result<usize, PdfError> {
        let data = self.data;
        let length = match dict.get(b"Length") {
            Ok(Object::Integer(n)) => usize::try_from(*n).ok(),
            Ok(Object::Reference(id)) => match &*self.get(*id)? {
                Object::Integer(n) => usize::try_from(*n).ok(),
                _ => None,
            },
            _ => None,
        };
        if let Some(end) = length.and_then(|l| start.checked_add(l))
            && end <= data.len()
        {
            let mut after = Lexer::new(data, end);
            after.skip_space();
            if after.eat_keyword(b"endstream") {
                return Ok(end);
            }
        }
        let Some(mut end) = self.next_endstream(start)? else {
            return Err(PdfError::Unreadable("a stream has no end".into()));
        };
        // The EOL before `endstream` is not data.
        if end > start && data[end - 1] == b'\n' {
            end -= 1;
        }
        if end > start && data[end - 1] == b'\r' {
            end -= 1;
        }
        Ok(end)
    }

    /// One direct value (PDF 32000-1 7.3), counted against the budgets.
    fn parse_value(&mut self, lexer: &mut Lexer<'_>, depth: usize) -> Result<Object, PdfError> {
        if depth > MAX_NESTING {
            return Err(PdfError::Unreadable(format!(
                "objects nested more than {MAX_NESTING} deep"
            )));
        }
        self.count_value()?;
        lexer.skip_space();
        let bad = || PdfError::Unreadable("malformed object".into());
        match lexer.peek().ok_or_else(bad)? {
            b'<' if lexer.peek_at(1) == Some(b'<') => {
                lexer.pos += 2;
                let mut dict = Dictionary::new();
                loop {
                    lexer.skip_space();
                    match lexer.peek().ok_or_else(bad)? {
                        b'>' if lexer.peek_at(1) == Some(b'>') => {
                            lexer.pos += 2;
                            return Ok(Object::Dictionary(dict));
                        }
                        b'/' => {
                            let key = lexer.name();
                            self.charge(key.len())?;
                            let value = self.parse_value(lexer, depth + 1)?;
                            dict.set(key, value);
                        }
                        _ => return Err(bad()),
                    }
                }
            }
            b'<' => {
                let s = lexer.hex_string().ok_or_else(bad)?;
                self.charge(s.len())?;
                Ok(Object::String(s, StringFormat::Hexadecimal))
            }
            b'(' => {
                let s = lexer.literal_string().ok_or_else(bad)?;
                self.charge(s.len())?;
                Ok(Object::String(s, StringFormat::Literal))
            }
            b'/' => {
                let n = lexer.name();
                self.charge(n.len())?;
                Ok(Object::Name(n))
            }
            b'[' => {
                lexer.pos += 1;
                let mut items = Vec::new();
                loop {
                    lexer.skip_space();
                    if lexer.peek().ok_or_else(bad)? == b']' {
                        lexer.pos += 1;
                        return Ok(Object::Array(items));
                    }
                    items.push(self.parse_value(lexer, depth + 1)?);
                }
            }
            b'+' | b'-' | b'.' | b'0'..=b'9' => {
                let number = lexer.number().ok_or_else(bad)?;
                if let Object::Integer(n) = number
                    && let Some(generation) = lexer.reference_tail()
                    && let Ok(n) = u32::try_from(n)
                {
                    return Ok(Object::Reference((n, generation)));
                }
                Ok(number)
            }
            _ => {
                if lexer.eat_keyword(b"null") {
                    Ok(Object::Null)
                } else if lexer.eat_keyword(b"true") {
                    Ok(Object::Boolean(true))
                } else if lexer.eat_keyword(b"false") {
                    Ok(Object::Boolean(false))
                } else {
                    Err(bad())
                }
            }
        }
    }
}

impl PdfError {
    /// Whether this error is a bound of [`PdfLimits`] (which ends the search) rather than
    /// damage (after which the reader tries another way to the object).
    pub(crate) fn is_bound(&self) -> bool {
        matches!(
            self,
            PdfError::TooManyObjects { .. }
                | PdfError::TooManyValues { .. }
                | PdfError::TotalDecompressedTooLarge { .. }
                | PdfError::StreamTooLarge { .. }
        )
    }
}

/// A big-endian unsigned field of an xref stream row (at most 8 bytes wide).
fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |acc, b| (acc << 8) | u64::from(*b))
}

/// When `data[at..]` starts `obj` preceded by `N G `, the object number and where `N` starts.
fn header_before(data: &[u8], at: usize) -> Option<(u32, usize)> {
    // `obj` must end there (not `objstm`) and not be the end of `endobj`.
    if data.get(at + 3).is_some_and(|b| !is_delimiter_or_space(*b)) {
        return None;
    }
    let mut i = at;
    let back_space = |i: &mut usize| {
        let end = *i;
        while *i > 0 && is_space(data[*i - 1]) {
            *i -= 1;
        }
        *i < end
    };
    let back_digits = |i: &mut usize| {
        let end = *i;
        while *i > 0 && data[*i - 1].is_ascii_digit() && end - *i < 10 {
            *i -= 1;
        }
        (*i < end).then_some(*i..end)
    };
    if !back_space(&mut i) {
        return None;
    }
    back_digits(&mut i)?;
    if !back_space(&mut i) {
        return None;
    }
    let number = back_digits(&mut i)?;
    if i > 0 && !is_delimiter_or_space(data[i - 1]) {
        return None;
    }
    let number = std::str::from_utf8(&data[number]).ok()?.parse().ok()?;
    Some((number, i))
}

fn is_space(b: u8) -> bool {
    matches!(b, b'\0' | b'\t' | b'\n' | b'\x0C' | b'\r' | b' ')
}

fn is_delimiter_or_space(b: u8) -> bool {
    is_space(b)
        || matches!(
            b,
            b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
        )
}

/// A cursor over PDF syntax (PDF 32000-1 7.2): white space, comments and tokens.
struct Lexer<'d> {
    data: &'d [u8],
    pos: usize,
}

impl<'d> Lexer<'d> {
    fn new(data: &'d [u8], pos: usize) -> Lexer<'d> {
        Lexer { data, pos }
    }

    fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.data.get(self.pos + ahead).copied()
    }

    fn byte(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    /// Skips white space and comments.
    fn skip_space(&mut self) {
        while let Some(b) = self.peek() {
            if is_space(b) {
                self.pos += 1;
            } else if b == b'%' {
                while let Some(b) = self.peek() {
                    if b == b'\r' || b == b'\n' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// Consumes `word` when it is next and ends at a delimiter.
    fn eat_keyword(&mut self, word: &[u8]) -> bool {
        let end = self.pos + word.len();
        if self.data.get(self.pos..end) == Some(word)
            && self.data.get(end).is_none_or(|b| is_delimiter_or_space(*b))
        {
            self.pos = end;
            return true;
        }
        false
    }

    /// An unsigned integer after optional white space.
    fn unsigned(&mut self) -> Result<usize, PdfError> {
        self.skip_space();
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) && self.pos - start < 20 {
            self.pos += 1;
        }
        std::str::from_utf8(&self.data[start..self.pos])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| PdfError::Unreadable("expected a number".into()))
    }

    /// A number (7.3.3): an integer, or a real when it has a point.
    fn number(&mut self) -> Option<Object> {
        let start = self.pos;
        if matches!(self.peek(), Some(b'+' | b'-')) {
            self.pos += 1;
        }
        let mut real = false;
        while let Some(b) = self.peek() {
            if b.is_ascii_digit() {
                self.pos += 1;
            } else if b == b'.' && !real {
                real = true;
                self.pos += 1;
            } else {
                break;
            }
        }
        let text = std::str::from_utf8(&self.data[start..self.pos]).ok()?;
        if real {
            let text = if text.ends_with('.') {
                text.trim_end_matches('.')
            } else {
                text
            };
            let value: f32 = match text {
                "" | "+" | "-" => 0.0,
                t => t.parse().ok()?,
            };
            Some(Object::Real(value))
        } else {
            // Out of range integers are clamped (7.3.3 leaves them to the reader).
            match text.parse::<i64>() {
                Ok(v) => Some(Object::Integer(v)),
                Err(_) if text.len() > 1 => Some(Object::Integer(if text.starts_with('-') {
                    i64::MIN
                } else {
                    i64::MAX
                })),
                Err(_) => None,
            }
        }
    }

    /// After an integer: ` G R` makes it a reference; returns G and consumes it, else
    /// consumes nothing.
    fn reference_tail(&mut self) -> Option<u16> {
        let save = self.pos;
        let mut look = || {
            if !self.peek().is_some_and(is_space) {
                return None;
            }
            self.skip_space();
            let start = self.pos;
            while self.peek().is_some_and(|b| b.is_ascii_digit()) && self.pos - start < 6 {
                self.pos += 1;
            }
            let generation = std::str::from_utf8(&self.data[start..self.pos])
                .ok()?
                .parse::<u16>()
                .ok()?;
            self.skip_space();
            self.eat_keyword(b"R").then_some(generation)
        };
        let found = look();
        if found.is_none() {
            self.pos = save;
        }
        found
    }

    /// A name (7.3.5), with `#xx` escapes decoded; the cursor is on `/`.
    fn name(&mut self) -> Vec<u8> {
        self.pos += 1;
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            if is_delimiter_or_space(b) {
                break;
            }
            self.pos += 1;
            if b == b'#'
                && let (Some(h), Some(l)) = (self.peek(), self.peek_at(1))
                && let (Some(h), Some(l)) = (hex(h), hex(l))
            {
                self.pos += 2;
                out.push((h << 4) | l);
            } else {
                out.push(b);
            }
        }
        out
    }

    /// A hexadecimal string (7.3.4.3); the cursor is on `<`.
    fn hex_string(&mut self) -> Option<Vec<u8>> {
        self.pos += 1;
        let mut out = Vec::new();
        let mut high: Option<u8> = None;
        loop {
            let b = self.byte()?;
            if b == b'>' {
                if let Some(h) = high {
                    out.push(h << 4);
                }
                return Some(out);
            }
            if is_space(b) {
                continue;
            }
            let v = hex(b)?;
            match high.take() {
                Some(h) => out.push((h << 4) | v),
                None => high = Some(v),
            }
        }
    }

    /// A literal string (7.3.4.2) with balanced parentheses and escapes; the cursor is on `(`.
    fn literal_string(&mut self) -> Option<Vec<u8>> {
        self.pos += 1;
        let mut out = Vec::new();
        let mut open = 1usize;
        loop {
            let b = self.byte()?;
            match b {
                b'(' => {
                    open += 1;
                    out.push(b);
                }
                b')' => {
                    open -= 1;
                    if open == 0 {
                        return Some(out);
                    }
                    out.push(b);
                }
                b'\\' => {
                    let e = self.byte()?;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'\r' => {
                            if self.peek() == Some(b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        b'0'..=b'7' => {
                            let mut v = u32::from(e - b'0');
                            for _ in 0..2 {
                                match self.peek() {
                                    Some(d @ b'0'..=b'7') => {
                                        self.pos += 1;
                                        v = v * 8 + u32::from(d - b'0');
                                    }
                                    _ => break,
                                }
                            }
                            out.push((v & 0xFF) as u8);
                        }
                        other => out.push(other),
                    }
                }
                other => out.push(other),
            }
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
