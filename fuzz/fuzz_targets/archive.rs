//! Fuzzes archive opening (`trustgate::intake::archive::expand`) with small limits taken from
//! the input, so every bound is reached often: the entry count, the message total, the ratio.
//! It must never panic, and whatever it yields stays within the limits: at most `max_entries`
//! files, at most `max_total_bytes` inflated in all, every file marked with its archive and
//! named without a path; bytes that are no archive pass through unchanged. Seed
//! with small zips and gzips (each prefixed with 8 bytes of limits; the first byte's low bit
//! names the attachment `x.gz` instead of `x.zip`).
//!
//! Panics that `expand` catches (the zip crate's, on malformed archives) are contained as in
//! production (`fuzz/common/contain.rs`); any other panic is a crash.
#![no_main]

#[path = "../common/contain.rs"]
mod contain;

use libfuzzer_sys::fuzz_target;
use trustgate::intake::Attachment;
use trustgate::intake::archive::{ArchiveLimits, expand};

fuzz_target!(init: contain::install(), |data: &[u8]| {
    let Some((knobs, bytes)) = data.split_first_chunk::<8>() else {
        return;
    };
    let limits = ArchiveLimits {
        max_entries: usize::from(knobs[1] % 8) + 1,
        max_total_bytes: (u64::from(u16::from_le_bytes([knobs[2], knobs[3]])) + 1) << 4,
        max_ratio: u64::from(knobs[4] % 16) + 1,
        ratio_floor: u64::from(u16::from_le_bytes([knobs[5], knobs[6]])),
    };
    let name = if knobs[0] & 1 == 1 { "x.gz" } else { "x.zip" };
    let attachment = Attachment {
        name: name.to_string(),
        content_type: "application/octet-stream".to_string(),
        bytes: bytes.to_vec(),
        location: None,
        archive: None,
    };
    let opens = bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"\x1f\x8b");
    let expanded = expand(vec![attachment], &limits);
    if !opens {
        // Not an archive by its bytes: passed through as it was.
        assert_eq!(expanded.attachments.len(), 1);
        assert_eq!(expanded.attachments[0].bytes, bytes);
        return;
    }
    let total: u64 = expanded
        .attachments
        .iter()
        .map(|a| a.bytes.len() as u64)
        .sum();
    assert!(total <= limits.max_total_bytes);
    assert!(expanded.attachments.len() <= limits.max_entries);
    assert!(expanded.attachments.iter().all(|a| a.archive.is_some()));
    assert!(
        expanded
            .attachments
            .iter()
            .all(|a| !a.name.contains(['/', '\\']) && !a.name.is_empty())
    );
});
