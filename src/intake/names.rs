//! Attachment file names: decoded by mail-parser (RFC 2047, RFC 2231), made safe here.
//!
//! The result is metadata for people (the spool listing, notices): it is never used as a path.
//! Still, it is stripped of directories, control characters and surrounding dots/spaces so that a
//! careless consumer downstream cannot be led astray (SMTP-HARDENING 25).

/// Longest name kept, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// The name used when a part has none, or nothing usable is left after sanitising.
pub const UNNAMED: &str = "unnamed";

/// Sanitises a decoded attachment name: keeps only the last path segment (either slash), drops
/// control characters (NUL, CR, LF, ...), trims spaces and dots, caps the length.
pub fn sanitise(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    // A Windows drive prefix such as `C:` without a backslash.
    let last = match last.split_once(':') {
        Some((drive, rest)) if drive.len() == 1 => rest,
        _ => last,
    };
    let cleaned: String = last.chars().filter(|c| !c.is_control()).collect();
    let trimmed = cleaned.trim_matches(|c: char| c.is_whitespace() || c == '.');
    let mut out: String = trimmed.chars().take(MAX_NAME_CHARS).collect();
    if out.is_empty() {
        out.push_str(UNNAMED);
    }
    out
}

/// Splits `name` into base and lower-case extension: `INV-1.PDF` -> (`INV-1`, `pdf`).
pub fn split_extension(name: &str) -> (&str, String) {
    match name.rsplit_once('.') {
        Some((base, ext)) if !base.is_empty() => (base, ext.to_ascii_lowercase()),
        _ => (name, String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_paths_and_controls() {
        assert_eq!(sanitise("../../etc/passwd"), "passwd");
        assert_eq!(sanitise("C:\\x\\inv.xml"), "inv.xml");
        assert_eq!(sanitise("C:inv.xml"), "inv.xml");
        assert_eq!(sanitise("in\0v\r\n.xml"), "inv.xml");
        assert_eq!(sanitise(".."), UNNAMED);
        assert_eq!(sanitise(""), UNNAMED);
        assert_eq!(sanitise("  Factuur 12.pdf "), "Factuur 12.pdf");
        assert_eq!(sanitise(&"a".repeat(1000)).chars().count(), MAX_NAME_CHARS);
    }

    #[test]
    fn splits_extension_case_insensitively() {
        assert_eq!(split_extension("INV-1.PDF"), ("INV-1", "pdf".to_string()));
        assert_eq!(split_extension("a.b.xml"), ("a.b", "xml".to_string()));
        assert_eq!(split_extension("noext"), ("noext", String::new()));
        assert_eq!(split_extension(".xml"), (".xml", String::new()));
    }
}
