//! Zip and gzip attachments opened, within bounds: the files inside become attachments of their
//! own (issue 13 §1), so pairing finds an invoice XML and its PDF in an archive exactly as when
//! they are attached.
//!
//! An archive is hostile input that multiplies: a few kilobytes can inflate to gigabytes (a zip
//! bomb), and its entry names are paths chosen by the sender (`../../etc/passwd`, `/abs`,
//! `C:\x`). So, per message and per archive ([`ArchiveLimits`]):
//! - at most 100 entries in an archive, and in all archives of a message together, counted on
//!   the central directory before any entry is read (and the central directory headers counted
//!   on the raw bytes first, so the zip crate never indexes a huge one);
//! - every byte inflated counts against one budget per message (the message size limit), and
//!   each entry and each archive may inflate to at most 100 times its compressed size. Sizes
//!   declared in the archive are never trusted: each entry is read through `Read::take` and
//!   reading stops one byte past its allowance;
//! - one level of nesting: an archive inside an attached archive is opened too (a batch export
//!   of zipped invoices, an `.xml.gz` in a zip), against the same budget; an archive inside that
//!   is listed, not opened. A file from a nested archive records both names
//!   (`batch.zip/INV-1.zip`: a sanitised name never holds `/`);
//! - encrypted entries refuse the whole archive; symbolic links are listed and not read;
//!   directories are skipped; a second entry with the same name is listed and not read;
//! - entry names are reduced to a sanitised base name ([`names::sanitise`]): metadata for
//!   people, never a path.
//!
//! Pure: bytes in, attachments and notes out. The zip crate runs behind `catch_unwind`, so a
//! panic on a malformed archive is an unreadable archive, never a lost session. Entries come
//! out in central directory order, so reading a stored message again yields the same
//! documents in the same order ([`super::document_bytes`]).

use std::collections::HashSet;
use std::io::{Cursor, Read};

use super::mime::Attachment;
use super::names;

/// Most entries (files, directories, links) in one zip archive.
pub const MAX_ENTRIES: usize = 100;

/// Most bytes inflated from all archives of one message together: the default message size
/// limit (`[server] max_message_size`, 35 MiB), so an archive never yields more than a message
/// could have carried as plain attachments.
pub const MAX_TOTAL_BYTES: u64 = 35 * 1024 * 1024;

/// Largest expansion of an entry, and of an archive, over its compressed size. Invoice XML
/// compresses about 10:1 and PDF hardly at all; a zip bomb compresses 1000:1 and more.
pub const MAX_RATIO: u64 = 100;

/// Every entry and archive may inflate to this much whatever its ratio: a tiny file of
/// repeated bytes compresses far beyond any ratio and is harmless.
pub const RATIO_FLOOR: u64 = 64 * 1024;

/// How many central directory signatures the raw bytes may hold, per allowed entry, before the
/// zip crate is asked to index them: a cheap upper bound on what indexing allocates (a stored
/// archive inside may add its own signatures, hence the slack).
const SIGNATURES_PER_ENTRY: usize = 16;

/// The bounds on opening archives. The entry count and the ratio are fixed and documented
/// above; the total is the configured `max_message_size` (`gateway::intake_limits`), 35 MiB
/// by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// Most entries in one zip archive ([`MAX_ENTRIES`]).
    pub max_entries: usize,
    /// Most bytes inflated from all archives of one message ([`MAX_TOTAL_BYTES`]).
    pub max_total_bytes: u64,
    /// Largest expansion over the compressed size, per entry and per archive ([`MAX_RATIO`]).
    pub max_ratio: u64,
    /// Expansion allowed whatever the ratio ([`RATIO_FLOOR`]).
    pub ratio_floor: u64,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        ArchiveLimits {
            max_entries: MAX_ENTRIES,
            max_total_bytes: MAX_TOTAL_BYTES,
            max_ratio: MAX_RATIO,
            ratio_floor: RATIO_FLOOR,
        }
    }
}

/// Where an attachment taken from an archive came from: both names sanitised, metadata only.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArchiveSource {
    /// The archive attachment's name, e.g. `INV-1.zip`.
    pub archive: String,
    /// The entry's base name inside it, e.g. `INV-1.xml`.
    pub entry: String,
}

/// The archive formats we open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A zip archive (deflate or stored entries).
    Zip,
    /// A gzip file: one compressed member.
    Gzip,
}

impl Format {
    /// The word used in sentences.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Zip => "zip",
            Format::Gzip => "gzip",
        }
    }
}

/// An archive, or an entry in one, that yielded no attachment, and why: a sentence a
/// supplier's admin can act on, written to follow the name (`INV.zip: the zip archive is
/// encrypted; ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveNote {
    /// The archive's name, or the entry's (sanitised).
    pub name: String,
    /// Why nothing was taken from it.
    pub reason: String,
    /// Whether it may have hidden an invoice (encrypted, over a bound, unreadable, nested):
    /// then, when the message yields no document at all, it is why the message is refused.
    /// Otherwise (a link, a duplicate name) it is only listed.
    pub refuses: bool,
}

/// What opening a message's archives left besides their entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveReport {
    /// The archives opened, by name, in message order.
    pub opened: Vec<String>,
    /// Archives and entries that yielded nothing, in message order.
    pub notes: Vec<ArchiveNote>,
}

/// A message's attachments with every archive replaced by its entries.
#[derive(Debug, Clone, Default)]
pub struct Expanded {
    /// The attachments, archives' entries in their place.
    pub attachments: Vec<Attachment>,
    /// The archives opened, and what they did not yield.
    pub report: ArchiveReport,
}

/// How deep archives are opened: an archive attached to the mail is depth 0, an archive inside
/// it depth 1 (the one level of nesting); an archive inside that is listed, not opened.
const MAX_NESTING: usize = 1;

/// Replaces each zip or gzip attachment by its entries, and an archive among those by its own
/// entries, within `limits` (the total over the whole message). Other attachments pass through
/// unchanged, in order.
pub fn expand(attachments: Vec<Attachment>, limits: &ArchiveLimits) -> Expanded {
    let mut out = Expanded::default();
    let mut budget = Budget {
        bytes: limits.max_total_bytes,
        entries: limits.max_entries,
    };
    expand_into(attachments, limits, &mut budget, 0, &mut out);
    out
}

/// What is left of a message's allowance as its archives are opened: nested archives draw on
/// the same, so nesting multiplies neither the bytes nor the files.
struct Budget {
    /// Bytes that may still be inflated.
    bytes: u64,
    /// Entries that may still be listed, over all archives of the message.
    entries: usize,
}

fn expand_into(
    attachments: Vec<Attachment>,
    limits: &ArchiveLimits,
    budget: &mut Budget,
    depth: usize,
    out: &mut Expanded,
) {
    for a in attachments {
        let Some(format) = format_of(&a) else {
            out.attachments.push(a);
            continue;
        };
        if depth > MAX_NESTING {
            let parent = a.archive.as_ref().map_or("", |s| s.archive.as_str());
            out.report
                .notes
                .push(entry_note(&a.name, parent, NESTED, true));
            continue;
        }
        let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            open(&a, format, limits, budget)
        }))
        .unwrap_or_else(|_| Err(unreadable(format, "the reader failed")));
        match opened {
            Ok(opened) => {
                out.report.opened.push(label(&a));
                out.report.notes.extend(opened.notes);
                expand_into(opened.entries, limits, budget, depth + 1, out);
            }
            Err(reason) => out.report.notes.push(ArchiveNote {
                name: label(&a),
                reason,
                refuses: true,
            }),
        }
    }
}

/// How an archive is named in provenance and notes: its own name, after the archive it came
/// out of when nested (`batch.zip/INV-1.zip`).
fn label(a: &Attachment) -> String {
    match &a.archive {
        Some(source) => format!("{}/{}", source.archive, a.name),
        None => a.name.clone(),
    }
}

/// File name extensions of document formats that are zip archives inside but not archives
/// of files (office documents, packages): opened only when named or typed as a zip.
const ZIP_BASED_DOCUMENTS: &[&str] = &[
    "docx", "xlsx", "pptx", "docm", "xlsm", "odt", "ods", "odp", "odg", "epub", "jar", "apk",
    "ipa", "xpi", "kmz", "3mf", "vsdx", "xps", "oxps",
];

/// Whether `a` is an archive we open, and which: its first bytes decide (`PK\x03\x04`, or
/// `\x1f\x8b`). A file whose name says it is an office document or a package built on zip
/// (`.docx`, `.odt`, ...) is opened only when its content type says zip too. A name or type
/// that says archive over bytes that are not one is left an ordinary attachment (pairing lists
/// it as neither an invoice nor its PDF), as it was before archives were opened.
pub fn format_of(a: &Attachment) -> Option<Format> {
    let magic = if a.bytes.starts_with(b"PK\x03\x04") {
        Some(Format::Zip)
    } else if a.bytes.starts_with(b"\x1f\x8b") {
        Some(Format::Gzip)
    } else {
        None
    };
    let (_, ext) = names::split_extension(&a.name);
    let claimed = match (ext.as_str(), a.content_type.as_str()) {
        ("zip", _)
        | (_, "application/zip" | "application/x-zip-compressed" | "application/x-zip") => {
            Some(Format::Zip)
        }
        ("gz" | "tgz", _) | (_, "application/gzip" | "application/x-gzip") => Some(Format::Gzip),
        _ => None,
    };
    match (magic, claimed) {
        (Some(m), Some(_)) => Some(m),
        (Some(m), None) if !ZIP_BASED_DOCUMENTS.contains(&ext.as_str()) => Some(m),
        _ => None,
    }
}

/// The entries of one archive and what was left out of it.
struct Opened {
    entries: Vec<Attachment>,
    notes: Vec<ArchiveNote>,
}

fn open(
    a: &Attachment,
    format: Format,
    limits: &ArchiveLimits,
    budget: &mut Budget,
) -> Result<Opened, String> {
    match format {
        Format::Zip => open_zip(a, limits, budget),
        Format::Gzip => open_gzip(a, limits, budget),
    }
}

/// How much an input of `compressed` bytes may inflate to by the ratio.
fn allowance(compressed: u64, limits: &ArchiveLimits) -> u64 {
    compressed
        .saturating_mul(limits.max_ratio)
        .max(limits.ratio_floor)
}

/// Which bound a read ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    /// The entry's own ratio.
    EntryRatio,
    /// The archive's ratio.
    ArchiveRatio,
    /// The message's total.
    Total,
}

/// Reads `reader` to its end within the smallest of the three allowances, charging every byte
/// inflated to `budget`. Stops one byte past the allowance: which bound was hit is returned.
fn read_bounded(
    reader: impl Read,
    entry_left: u64,
    archive_left: u64,
    budget: &mut u64,
) -> Result<Result<Vec<u8>, Bound>, std::io::Error> {
    let (limit, bound) = [
        (entry_left, Bound::EntryRatio),
        (archive_left, Bound::ArchiveRatio),
        (*budget, Bound::Total),
    ]
    .into_iter()
    .min_by_key(|(left, _)| *left)
    .unwrap_or((0, Bound::Total));
    let mut bytes = Vec::new();
    let read = reader.take(limit.saturating_add(1)).read_to_end(&mut bytes);
    let n = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    *budget = budget.saturating_sub(n);
    read?;
    Ok(if n > limit { Err(bound) } else { Ok(bytes) })
}

fn too_many_in_message(limits: &ArchiveLimits) -> String {
    format!(
        "the archive is not opened: the message's archives hold more than {} files together; send at most {} files in one message",
        limits.max_entries, limits.max_entries
    )
}

fn unreadable(format: Format, why: impl std::fmt::Display) -> String {
    format!(
        "the {} archive cannot be read ({why}); send the invoice files again, in a plain zip or unpacked",
        format.as_str()
    )
}

fn too_big(format: Format, bound: Bound, entry: &str, limits: &ArchiveLimits) -> String {
    let what = format.as_str();
    match bound {
        Bound::EntryRatio => format!(
            "the {what} archive is not opened: its file {entry} inflates to more than {} times its compressed size; send the invoice files unpacked",
            limits.max_ratio
        ),
        Bound::ArchiveRatio => format!(
            "the {what} archive is not opened: it inflates to more than {} times its size; send the invoice files unpacked",
            limits.max_ratio
        ),
        Bound::Total => format!(
            "the {what} archive is not opened: the message's archives inflate to more than {} MiB; send fewer or smaller files",
            limits.max_total_bytes / (1024 * 1024)
        ),
    }
}

/// The entry as an attachment of its own: typed by its name, no place in the raw message.
fn entry_attachment(archive: &str, name: String, bytes: Vec<u8>) -> Attachment {
    let (_, ext) = names::split_extension(&name);
    let content_type = match ext.as_str() {
        "xml" => "application/xml",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    };
    Attachment {
        archive: Some(ArchiveSource {
            archive: archive.to_string(),
            entry: name.clone(),
        }),
        name,
        content_type: content_type.to_string(),
        bytes,
        location: None,
    }
}

/// A note on one entry of `archive`.
fn entry_note(entry: &str, archive: &str, what: &str, refuses: bool) -> ArchiveNote {
    ArchiveNote {
        name: entry.to_string(),
        reason: format!("in the archive {archive}: {what}"),
        refuses,
    }
}

const NESTED: &str =
    "an archive inside an archive inside an archive is not opened; send the files in one archive";

fn open_zip(a: &Attachment, limits: &ArchiveLimits, budget: &mut Budget) -> Result<Opened, String> {
    let too_many = || {
        format!(
            "the zip archive holds more than {} files; send at most {} files in one archive",
            limits.max_entries, limits.max_entries
        )
    };
    let archive = label(a);
    let signatures = memchr::memmem::find_iter(&a.bytes, b"PK\x01\x02").count();
    if signatures > limits.max_entries.saturating_mul(SIGNATURES_PER_ENTRY) {
        return Err(too_many());
    }
    let mut zip = zip::ZipArchive::new(Cursor::new(a.bytes.as_slice()))
        .map_err(|e| unreadable(Format::Zip, e))?;
    if zip.len() > limits.max_entries {
        return Err(too_many());
    }
    budget.entries = budget
        .entries
        .checked_sub(zip.len())
        .ok_or_else(|| too_many_in_message(limits))?;
    // Encryption anywhere refuses the whole archive, before anything is inflated.
    for i in 0..zip.len() {
        let entry = zip
            .by_index_data(i)
            .map_err(|e| unreadable(Format::Zip, e))?;
        if entry.encrypted() {
            return Err(
                "the zip archive is encrypted (password protected); send the invoice files unencrypted"
                    .to_string(),
            );
        }
    }
    let size = u64::try_from(a.bytes.len()).unwrap_or(u64::MAX);
    let mut archive_left = allowance(size, limits);
    let mut opened = Opened {
        entries: Vec::new(),
        notes: Vec::new(),
    };
    let mut seen: HashSet<String> = HashSet::new();
    for i in 0..zip.len() {
        let (name, is_dir, is_symlink, compressed) = {
            let entry = zip
                .by_index_data(i)
                .map_err(|e| unreadable(Format::Zip, e))?;
            let raw = match entry.name() {
                Ok(name) => name.into_owned(),
                Err(_) => String::from_utf8_lossy(entry.name_raw()).into_owned(),
            };
            (
                names::sanitise(&raw),
                entry.is_dir(),
                entry.is_symlink(),
                entry.compressed_size().min(size),
            )
        };
        if is_dir {
            continue;
        }
        if is_symlink {
            opened.notes.push(entry_note(
                &name,
                &archive,
                "a symbolic link, not a file; it is not followed",
                false,
            ));
            continue;
        }
        if !seen.insert(name.to_lowercase()) {
            opened.notes.push(entry_note(
                &name,
                &archive,
                "a second file of this name; only the first is read",
                false,
            ));
            continue;
        }
        let file = match zip.by_index(i) {
            Ok(file) => file,
            Err(
                e @ (zip::result::ZipError::UnsupportedArchive(_)
                | zip::result::ZipError::CompressionMethodNotSupported(_)),
            ) => {
                opened.notes.push(entry_note(
                    &name,
                    &archive,
                    &format!("stored in a way we do not read ({e}); use plain deflate"),
                    true,
                ));
                continue;
            }
            Err(e) => return Err(unreadable(Format::Zip, e)),
        };
        let bytes = match read_bounded(
            file,
            allowance(compressed, limits),
            archive_left,
            &mut budget.bytes,
        ) {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(bound)) => return Err(too_big(Format::Zip, bound, &name, limits)),
            Err(e) => return Err(unreadable(Format::Zip, e)),
        };
        archive_left = archive_left.saturating_sub(u64::try_from(bytes.len()).unwrap_or(u64::MAX));
        opened.entries.push(entry_attachment(&archive, name, bytes));
    }
    Ok(opened)
}

/// The name of a gzip file's member: the attachment's name without `.gz` (`INV-1.xml.gz`),
/// else the name the gzip header carries, else the attachment's name.
fn member_name(archive: &str, header_name: Option<&[u8]>) -> String {
    let lower = archive.to_ascii_lowercase();
    if let Some(stem) = lower
        .ends_with(".gz")
        .then(|| archive.get(..archive.len() - 3))
        .flatten()
        .filter(|s| !s.is_empty())
    {
        return names::sanitise(stem);
    }
    if lower.ends_with(".tgz")
        && let Some(stem) = archive.get(..archive.len() - 4)
    {
        return names::sanitise(&format!("{stem}.tar"));
    }
    match header_name {
        Some(n) if !n.is_empty() => names::sanitise(&String::from_utf8_lossy(n)),
        _ => archive.to_string(),
    }
}

fn open_gzip(
    a: &Attachment,
    limits: &ArchiveLimits,
    budget: &mut Budget,
) -> Result<Opened, String> {
    budget.entries = budget
        .entries
        .checked_sub(1)
        .ok_or_else(|| too_many_in_message(limits))?;
    let size = u64::try_from(a.bytes.len()).unwrap_or(u64::MAX);
    let mut decoder = flate2::read::GzDecoder::new(a.bytes.as_slice());
    let ratio = allowance(size, limits);
    let bytes = match read_bounded(&mut decoder, ratio, ratio, &mut budget.bytes) {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(bound)) => {
            let name = member_name(&a.name, None);
            return Err(too_big(Format::Gzip, bound, &name, limits));
        }
        Err(e) => return Err(unreadable(Format::Gzip, e)),
    };
    let name = member_name(&a.name, decoder.header().and_then(|h| h.filename()));
    Ok(Opened {
        entries: vec![entry_attachment(&label(a), name, bytes)],
        notes: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use zip::write::SimpleFileOptions;

    use super::*;

    fn attachment(name: &str, content_type: &str, bytes: Vec<u8>) -> Attachment {
        Attachment {
            name: name.to_string(),
            content_type: content_type.to_string(),
            bytes,
            location: None,
            archive: None,
        }
    }

    /// A zip of `(name, bytes)` files, deflated.
    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in files {
            w.start_file(*name, options).unwrap();
            w.write_all(bytes).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn expand_one(name: &str, bytes: Vec<u8>) -> Expanded {
        expand(
            vec![attachment(name, "application/octet-stream", bytes)],
            &ArchiveLimits::default(),
        )
    }

    fn names_of(e: &Expanded) -> Vec<&str> {
        e.attachments.iter().map(|a| a.name.as_str()).collect()
    }

    #[test]
    fn a_zip_with_an_xml_and_a_pdf_yields_both_with_their_provenance() {
        let zip = zip_of(&[("INV-1.xml", b"<Invoice/>"), ("INV-1.pdf", b"%PDF-1.4\n")]);
        let e = expand(
            vec![
                attachment("note.txt", "text/plain", b"hi".to_vec()),
                attachment("INV-1.zip", "application/zip", zip),
            ],
            &ArchiveLimits::default(),
        );
        assert_eq!(names_of(&e), ["note.txt", "INV-1.xml", "INV-1.pdf"]);
        assert_eq!(e.attachments[1].content_type, "application/xml");
        assert_eq!(e.attachments[1].bytes, b"<Invoice/>");
        assert_eq!(e.attachments[2].content_type, "application/pdf");
        assert_eq!(
            e.attachments[2].archive,
            Some(ArchiveSource {
                archive: "INV-1.zip".into(),
                entry: "INV-1.pdf".into()
            })
        );
        assert!(e.attachments.iter().all(|a| a.location.is_none()));
        assert_eq!(e.report.opened, ["INV-1.zip"]);
        assert!(e.report.notes.is_empty(), "{:?}", e.report.notes);
    }

    #[test]
    fn entry_names_are_base_names_never_paths() {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default();
        for name in [
            "../evil.xml",
            "/etc/passwd",
            "C:\\x\\win.xml",
            "a/../../b/c.pdf",
        ] {
            w.start_file(name, options).unwrap();
            w.write_all(b"x").unwrap();
        }
        w.add_directory("dir/", options).unwrap();
        let zip = w.finish().unwrap().into_inner();
        let e = expand_one("x.zip", zip);
        assert_eq!(names_of(&e), ["evil.xml", "passwd", "win.xml", "c.pdf"]);
        assert!(e.report.notes.is_empty(), "{:?}", e.report.notes);
    }

    #[test]
    fn one_level_of_nesting_is_opened_and_the_next_is_listed() {
        let innermost = zip_of(&[("INV-3.xml", b"<Invoice/>")]);
        let inner = zip_of(&[("INV-1.xml", b"<Invoice/>"), ("deeper.zip", &innermost)]);
        let gz = gzip_of(b"<Invoice/>", None);
        let zip = zip_of(&[
            ("inner.zip", &inner),
            ("INV-2.xml.gz", &gz),
            ("a.xml", b"<a/>"),
        ]);
        let e = expand_one("outer.zip", zip);
        assert_eq!(names_of(&e), ["INV-1.xml", "INV-2.xml", "a.xml"]);
        assert_eq!(
            e.report.opened,
            ["outer.zip", "outer.zip/inner.zip", "outer.zip/INV-2.xml.gz"]
        );
        let from: Vec<_> = e
            .attachments
            .iter()
            .map(|a| a.archive.as_ref().unwrap().archive.as_str())
            .collect();
        assert_eq!(
            from,
            ["outer.zip/inner.zip", "outer.zip/INV-2.xml.gz", "outer.zip"]
        );
        assert_eq!(e.report.notes.len(), 1, "{:?}", e.report.notes);
        let note = &e.report.notes[0];
        assert_eq!(note.name, "deeper.zip");
        assert!(note.refuses);
        assert_eq!(
            note.reason,
            format!("in the archive outer.zip/inner.zip: {NESTED}")
        );
    }

    #[test]
    fn nested_archives_share_the_message_budget() {
        // Each inner archive inflates within its own ratio, but together they pass the total.
        let mut seed = 1u32;
        let big: Vec<u8> = (0..200 * 1024)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (seed >> 16) as u8
            })
            .collect();
        let inner = zip_of(&[("a.xml", &big)]);
        let zip = zip_of(&[("1.zip", &inner), ("2.zip", &inner), ("3.zip", &inner)]);
        let limits = ArchiveLimits {
            max_total_bytes: 500 * 1024,
            ..ArchiveLimits::default()
        };
        let e = expand(
            vec![attachment("outer.zip", "application/zip", zip)],
            &limits,
        );
        assert!(
            e.report
                .notes
                .iter()
                .any(|n| n.refuses && n.reason.contains("archives inflate to more than")),
            "{:?}",
            e.report.notes
        );
    }

    #[test]
    fn a_zip_bomb_is_refused_after_reading_its_allowance_only() {
        // One entry of 50 MB of zeros: about 50 KB deflated, a ratio of about 1000.
        let zeros = vec![0u8; 50 * 1000 * 1000];
        let zip = zip_of(&[("zeros.bin", &zeros)]);
        drop(zeros);
        assert!(zip.len() < 200_000, "{}", zip.len());
        let e = expand_one("bomb.zip", zip);
        assert!(e.attachments.is_empty());
        assert_eq!(e.report.notes.len(), 1);
        let note = &e.report.notes[0];
        assert!(note.refuses);
        assert!(
            note.reason
                .contains("zeros.bin inflates to more than 100 times"),
            "{}",
            note.reason
        );
        // The same bomb in a gzip.
        let e = expand_one("bomb.gz", gzip_of(&vec![0u8; 10_000_000], None));
        assert!(e.attachments.is_empty());
        assert!(
            e.report.notes[0].reason.contains("more than 100 times"),
            "{:?}",
            e.report.notes
        );
    }

    #[test]
    fn the_message_total_bounds_all_archives_together() {
        let limits = ArchiveLimits {
            max_total_bytes: 150_000,
            ..ArchiveLimits::default()
        };
        // Incompressible-ish content: ratio about 1, within the ratio, over the total.
        let noise: Vec<u8> = (0..100_000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let a = zip_of(&[("a.pdf", &noise)]);
        let b = zip_of(&[("b.pdf", &noise)]);
        let e = expand(
            vec![
                attachment("a.zip", "application/zip", a),
                attachment("b.zip", "application/zip", b),
            ],
            &limits,
        );
        assert_eq!(names_of(&e), ["a.pdf"]);
        assert_eq!(e.report.notes[0].name, "b.zip");
        assert!(
            e.report.notes[0].reason.contains("more than 0 MiB"),
            "{:?}",
            e.report.notes
        );
    }

    #[test]
    fn more_than_100_entries_are_refused_before_reading_any() {
        let names: Vec<String> = (0..101).map(|i| format!("f{i}.xml")).collect();
        let files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"<a/>"[..])).collect();
        let e = expand_one("many.zip", zip_of(&files));
        assert!(e.attachments.is_empty());
        assert!(
            e.report.notes[0].reason.contains("more than 100 files"),
            "{:?}",
            e.report.notes
        );
        let e = expand_one("hundred.zip", zip_of(&files[..100]));
        assert_eq!(e.attachments.len(), 100);
    }

    #[test]
    fn a_second_file_of_the_same_name_is_listed_and_the_first_kept() {
        let zip = zip_of(&[("a/INV.xml", b"<first/>"), ("b/inv.XML", b"<second/>")]);
        let e = expand_one("dup.zip", zip);
        assert_eq!(names_of(&e), ["INV.xml"]);
        assert_eq!(e.attachments[0].bytes, b"<first/>");
        assert_eq!(e.report.notes.len(), 1);
        assert_eq!(e.report.notes[0].name, "inv.XML");
        assert!(!e.report.notes[0].refuses);
    }

    #[test]
    fn symbolic_links_are_listed_not_followed() {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        w.add_symlink("INV.xml", "/etc/passwd", SimpleFileOptions::default())
            .unwrap();
        w.start_file("real.xml", SimpleFileOptions::default())
            .unwrap();
        w.write_all(b"<a/>").unwrap();
        let e = expand_one("links.zip", w.finish().unwrap().into_inner());
        assert_eq!(names_of(&e), ["real.xml"]);
        assert_eq!(e.report.notes[0].name, "INV.xml");
        assert!(e.report.notes[0].reason.contains("symbolic link"));
    }

    #[test]
    fn an_encrypted_zip_is_refused_with_a_sentence_that_says_so() {
        use zip::unstable::write::FileOptionsExt as _;
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default()
            .with_deprecated_encryption(b"secret")
            .unwrap();
        w.start_file("INV-1.xml", options).unwrap();
        w.write_all(b"<Invoice/>").unwrap();
        let e = expand_one("INV.zip", w.finish().unwrap().into_inner());
        assert!(e.attachments.is_empty());
        assert_eq!(
            e.report.notes,
            [ArchiveNote {
                name: "INV.zip".into(),
                reason: "the zip archive is encrypted (password protected); send the invoice files unencrypted".into(),
                refuses: true,
            }]
        );
    }

    fn gzip_of(bytes: &[u8], header_name: Option<&str>) -> Vec<u8> {
        let mut builder = flate2::GzBuilder::new();
        if let Some(name) = header_name {
            builder = builder.filename(name);
        }
        let mut w = builder.write(Vec::new(), flate2::Compression::default());
        w.write_all(bytes).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn a_gzip_yields_its_one_member_named_after_the_attachment_or_its_header() {
        let e = expand_one("INV-1.xml.gz", gzip_of(b"<Invoice/>", Some("other.xml")));
        assert_eq!(names_of(&e), ["INV-1.xml"]);
        assert_eq!(e.attachments[0].bytes, b"<Invoice/>");
        assert_eq!(e.attachments[0].content_type, "application/xml");
        let e = expand(
            vec![attachment(
                "unnamed",
                "application/gzip",
                gzip_of(b"<Invoice/>", Some("../../INV-2.xml")),
            )],
            &ArchiveLimits::default(),
        );
        assert_eq!(names_of(&e), ["INV-2.xml"]);
    }

    #[test]
    fn damaged_archives_are_refused_never_a_panic() {
        let zip = zip_of(&[
            ("INV-1.xml", b"<Invoice>lots of text</Invoice>"),
            ("b.pdf", b"%PDF"),
        ]);
        for cut in 0..zip.len() {
            let e = expand_one("cut.zip", zip[..cut].to_vec());
            assert!(e.attachments.is_empty() || e.report.notes.is_empty());
        }
        let e = expand_one("cut.zip", zip[..zip.len() - 30].to_vec());
        assert!(
            e.report.notes[0]
                .reason
                .starts_with("the zip archive cannot be read"),
            "{:?}",
            e.report.notes
        );
        let mut flipped = zip.clone();
        for i in 0..flipped.len() {
            flipped[i] ^= 0x55;
            let _ = expand_one("flip.zip", flipped.clone());
            flipped[i] ^= 0x55;
        }
        let gz = gzip_of(b"<Invoice>text</Invoice>", None);
        for cut in 0..gz.len() {
            let _ = expand_one("cut.xml.gz", gz[..cut].to_vec());
        }
        // Named a zip, but not one: an ordinary attachment, as before archives were opened.
        let e = expand_one("x.zip", b"not a zip at all".to_vec());
        assert_eq!(names_of(&e), ["x.zip"]);
        assert!(e.report.notes.is_empty() && e.report.opened.is_empty());
    }

    #[test]
    fn office_documents_pass_through_unopened() {
        let docx = zip_of(&[("word/document.xml", b"<w/>")]);
        let e = expand_one("offer.docx", docx.clone());
        assert_eq!(names_of(&e), ["offer.docx"]);
        assert!(e.report.opened.is_empty());
        // Unless typed as a zip, or carrying no name that says otherwise.
        let typed = expand(
            vec![attachment("offer.docx", "application/zip", docx.clone())],
            &ArchiveLimits::default(),
        );
        assert_eq!(names_of(&typed), ["document.xml"]);
        assert_eq!(names_of(&expand_one("unnamed", docx)), ["document.xml"]);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any bytes, as a zip or a gzip: never a panic, and the bounds hold.
        #[test]
        fn arbitrary_bytes_never_panic_and_stay_within_the_bounds(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096),
            gzip in proptest::prelude::any::<bool>(),
        ) {
            let limits = ArchiveLimits {
                max_entries: 3,
                max_total_bytes: 8192,
                max_ratio: 4,
                ratio_floor: 1024,
            };
            let (name, magic): (&str, &[u8]) =
                if gzip { ("x.gz", b"\x1f\x8b\x08\x00") } else { ("x.zip", b"PK\x03\x04") };
            for bytes in [body.clone(), [magic, &body].concat()] {
                let opens = bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"\x1f\x8b");
                let e = expand(vec![attachment(name, "application/octet-stream", bytes.clone())], &limits);
                if !opens {
                    // Not an archive: passed through as it was.
                    proptest::prop_assert_eq!(e.attachments.len(), 1);
                    proptest::prop_assert_eq!(&e.attachments[0].bytes, &bytes);
                    continue;
                }
                let total: usize = e.attachments.iter().map(|a| a.bytes.len()).sum();
                proptest::prop_assert!(total <= 8192);
                proptest::prop_assert!(e.attachments.len() <= 3);
                proptest::prop_assert!(e.attachments.iter().all(|a| a.archive.is_some()));
            }
        }

        /// A real zip with bytes changed: never a panic, and the bounds hold.
        #[test]
        fn mutated_zips_never_panic(
            edits in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 1..8),
        ) {
            let mut zip = zip_of(&[
                ("INV-1.xml", b"<Invoice>some text some text some text</Invoice>"),
                ("INV-1.pdf", b"%PDF-1.4 0000000000000000000000000000000000"),
                ("x/y.txt", b""),
            ]);
            let len = zip.len();
            for (at, byte) in edits {
                zip[at % len] = byte;
            }
            let limits = ArchiveLimits { max_entries: 3, max_total_bytes: 4096, max_ratio: 4, ratio_floor: 256 };
            let e = expand(vec![attachment("m.zip", "application/zip", zip)], &limits);
            let total: usize = e.attachments.iter().map(|a| a.bytes.len()).sum();
            proptest::prop_assert!(total <= 4096);
            proptest::prop_assert!(e.attachments.len() <= 3);
        }
    }
}
