//! Changes to the config file from the command line, keeping the admin's comments and layout.
//!
//! Called by `trustgate receiver|sender|organisation ...` (`cli::receiver`,
//! `cli::organisation`). [`ConfigFile::open`] reads and validates the file and parses it as a
//! [`toml_edit::DocumentMut`]; the edit functions here change that document only; then
//! [`ConfigFile::save`] validates the new text with the same [`super::validate`] checks as
//! `check-config` and writes it atomically. Invariants: a config that would not validate is
//! never written (the file is left byte for byte as it was), and the file on disk is always
//! either the old text or the new one, never a mix (temp file, fsync, rename, fsync of the
//! directory). This module knows nothing of the command line and never prints.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rand::Rng;
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, value};

use super::validate::{self, ConfigErrors, Options};
use super::{Config, Language};
use crate::address::{Address, Domain};

/// The symbols of a generated local part: capitals and digits without the look-alikes 0, O, 1,
/// I and L, so an address read aloud or copied from paper is typed right. 31 symbols: each
/// carries almost 5 bits.
pub const ADDRESS_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// Why an edit was not made. Nothing was written in any case.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The file cannot be read (or is not UTF-8).
    #[error("{path}: cannot read the config file ({reason}); check the path and its permissions")]
    Read {
        /// The config file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The file as it is does not validate: it must be fixed before it is edited.
    #[error(
        "the config is invalid as it is; fix these first (trustgate check-config shows them), nothing was changed:\n{0}"
    )]
    Invalid(ConfigErrors),
    /// The edited text does not validate.
    #[error(
        "the edit would make the config invalid, so nothing was written (the lines are those of the edited text):\n{0}"
    )]
    Refused(ConfigErrors),
    /// What the edit names is not in the config, or is already there.
    #[error("{0}")]
    Conflict(String),
    /// Someone else changed the file between reading and writing it.
    #[error(
        "{0}: the file changed while it was being edited (another edit, or an editor); nothing was written, run the command again"
    )]
    Changed(PathBuf),
    /// Writing the new file failed; the old one is still in place.
    #[error("{path}: cannot write the config ({reason}); the file is unchanged")]
    Write {
        /// The config file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// A config file opened for editing: its validated contents and the document to change.
#[derive(Debug)]
pub struct ConfigFile {
    /// The path as given (for messages and the validator's positions).
    path: PathBuf,
    /// The bytes read, to notice a concurrent change before the rename.
    original: String,
    /// The document the edits change.
    pub doc: DocumentMut,
    /// The config as it was when opened, validated: the existing receivers, organisations and
    /// `[server]` keys the edits are checked against.
    pub config: Config,
}

impl ConfigFile {
    /// Reads and validates the config at `path` and parses it for editing.
    ///
    /// # Errors
    /// [`EditError::Read`] when it cannot be read; [`EditError::Invalid`] when it does not
    /// validate as it is.
    pub fn open(path: &Path) -> Result<ConfigFile, EditError> {
        let read_error = |reason: String| EditError::Read {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|e| read_error(e.to_string()))?;
        let original = String::from_utf8(bytes).map_err(|_| read_error("not UTF-8".into()))?;
        let config =
            validate::load_str(&original, path, &Options::default()).map_err(EditError::Invalid)?;
        // It validated, so it is TOML; toml_edit and toml share one parser.
        let doc = original
            .parse::<DocumentMut>()
            .map_err(|e| read_error(format!("not TOML: {e}")))?;
        Ok(ConfigFile {
            path: path.to_path_buf(),
            original,
            doc,
            config,
        })
    }

    /// The edited text, validated exactly as `check-config` would, without writing it.
    ///
    /// # Errors
    /// [`EditError::Refused`] with every problem of the edited text.
    pub fn check(&self) -> Result<(String, Config), EditError> {
        let text = self.doc.to_string();
        let config = validate::load_str(&text, &self.path, &Options::default())
            .map_err(EditError::Refused)?;
        Ok((text, config))
    }

    /// Validates the edited document and, when it is valid, replaces the file with it
    /// atomically. Returns the new config.
    ///
    /// # Errors
    /// [`EditError::Refused`] when the result does not validate, [`EditError::Changed`] when
    /// the file changed since [`ConfigFile::open`], [`EditError::Write`] when it cannot be
    /// written. In every case the file is left as it was.
    pub fn save(self) -> Result<Config, EditError> {
        let (text, config) = self.check()?;
        // A symlinked config (e.g. into a git checkout) is replaced at its target, so the link
        // stays a link.
        let target = std::fs::canonicalize(&self.path).map_err(|e| EditError::Write {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        // Not a lock: it narrows the window in which two admins' edits could overwrite each
        // other from the whole command to the moment between this read and the rename.
        match std::fs::read(&target) {
            Ok(now) if now == self.original.as_bytes() => {}
            _ => return Err(EditError::Changed(self.path)),
        }
        write_atomically(&target, text.as_bytes()).map_err(|e| EditError::Write {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        Ok(config)
    }
}

/// Replaces `target` with `bytes`: a temp file in the same directory with the same mode (and
/// owner, when allowed), fsync, rename over the target, fsync of the directory so the rename
/// itself survives a crash.
fn write_atomically(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};

    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map_or_else(|| "config".into(), |n| n.to_string_lossy().into_owned());
    let meta = std::fs::metadata(target)?;
    let mode = meta.permissions().mode() & 0o7777;
    let temp = dir.join(format!(".{name}.edit-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            // Never readable by others in between, whatever the umask.
            .mode(mode & 0o700)
            .open(&temp)?;
        file.write_all(bytes)?;
        // The owner first (root editing trustgate's file), then the mode: chown clears
        // set-id bits. A user who may not chown keeps the file as their own.
        let _ = rustix::fs::fchown(
            &file,
            Some(rustix::fs::Uid::from_raw(meta.uid())),
            Some(rustix::fs::Gid::from_raw(meta.gid())),
        );
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
        std::fs::rename(&temp, target)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// A local part of `length` symbols of [`ADDRESS_ALPHABET`], drawn from `rng` (pass a CSPRNG:
/// `rand::rng()` is ChaCha seeded from the OS, reseeded periodically).
pub fn generate_local_part(rng: &mut impl Rng, length: usize) -> String {
    (0..length)
        .map(|_| char::from(ADDRESS_ALPHABET[rng.random_range(0..ADDRESS_ALPHABET.len())]))
        .collect()
}

/// The addresses already in use, compared as [`Address::key`] (local part case-insensitive),
/// so a generated address never collides with an existing receiver or an earlier one of the
/// same run.
#[derive(Debug, Default)]
pub struct TakenAddresses(HashSet<String>);

impl TakenAddresses {
    /// The receivers of `config`.
    pub fn of(config: &Config) -> TakenAddresses {
        TakenAddresses(config.receivers.iter().map(|r| r.address.key()).collect())
    }

    /// A fresh address at `domain`, unused so far, now marked as taken.
    ///
    /// # Errors
    /// When 1,000 draws in a row collide (the address space at this length is nearly full,
    /// which takes billions of receivers at the minimum length).
    pub fn generate(
        &mut self,
        rng: &mut impl Rng,
        domain: &Domain,
        length: usize,
    ) -> Result<Address, EditError> {
        for _ in 0..1000 {
            let local = generate_local_part(rng, length);
            let address = Address::parse(&format!("{local}@{domain}")).map_err(|e| {
                EditError::Conflict(format!("cannot form an address at {domain}: {e}"))
            })?;
            if self.0.insert(address.key()) {
                return Ok(address);
            }
        }
        Err(EditError::Conflict(format!(
            "no free address of {length} characters at {domain} after 1000 tries; raise [server] receiver_address_length"
        )))
    }
}

/// A `[[receiver]]` to add.
#[derive(Debug, Clone)]
pub struct NewReceiver<'a> {
    /// Its address.
    pub address: &'a Address,
    /// Its organisation's id.
    pub organisation: &'a str,
    /// Its `document_type`.
    pub document_type: &'a str,
}

/// A `[[receiver.trusted_sender]]` to add.
#[derive(Debug, Clone)]
pub struct NewSender<'a> {
    /// `name`.
    pub name: &'a str,
    /// `contact`.
    pub contact: &'a str,
    /// What it trusts.
    pub trust: Trust<'a>,
    /// `language`, written only when given.
    pub language: Option<Language>,
}

/// The one kind of a new trusted sender.
#[derive(Debug, Clone, Copy)]
pub enum Trust<'a> {
    /// `domain = "..."`.
    Domain(&'a str),
    /// `address = "..."`.
    Address(&'a str),
    /// `verified_users = true`.
    VerifiedUsers,
}

/// An `[[organisation]]` to add.
#[derive(Debug, Clone, Default)]
pub struct NewOrganisation {
    /// `id`.
    pub id: String,
    /// `name`.
    pub name: String,
    /// `kvk`, when known.
    pub kvk: Option<String>,
    /// `no_kvk_reason`, when `kvk` is not.
    pub no_kvk_reason: Option<String>,
    /// `vat_ids`, written only when not empty.
    pub vat_ids: Vec<String>,
    /// `endpoint_ids`, written only when not empty.
    pub endpoint_ids: Vec<String>,
}

/// The array of tables `key` at the top of `doc`, created when absent.
///
/// # Errors
/// When `key` holds something else (e.g. `receiver = [...]` written inline).
fn array_of_tables<'d>(
    doc: &'d mut DocumentMut,
    key: &str,
) -> Result<&'d mut ArrayOfTables, EditError> {
    doc.entry(key)
        .or_insert_with(|| Item::ArrayOfTables(ArrayOfTables::new()))
        .as_array_of_tables_mut()
        .ok_or_else(|| {
            EditError::Conflict(format!(
                "`{key}` is not written as [[{key}]] sections; rewrite it so, then run the command again"
            ))
        })
}

/// Appends a `[[receiver]]` after the last one (with `address`, `organisation` and
/// `document_type`; every other key keeps its default).
///
/// # Errors
/// When `receiver` is not an array of tables.
pub fn add_receiver(doc: &mut DocumentMut, new: &NewReceiver<'_>) -> Result<(), EditError> {
    let mut table = Table::new();
    table.insert("address", value(new.address.to_string()));
    table.insert("organisation", value(new.organisation));
    table.insert("document_type", value(new.document_type));
    array_of_tables(doc, "receiver")?.push(table);
    Ok(())
}

/// The index in `[[receiver]]` of the receiver with `address` (compared as [`Address::key`]).
fn receiver_index(doc: &DocumentMut, address: &Address) -> Option<usize> {
    let receivers = doc.get("receiver")?.as_array_of_tables()?;
    receivers.iter().position(|t| {
        t.get("address")
            .and_then(Item::as_str)
            .and_then(|a| Address::parse(a.trim()).ok())
            .is_some_and(|a| a.key() == address.key())
    })
}

fn unknown_receiver(address: &Address) -> EditError {
    EditError::Conflict(format!(
        "no receiver {address} in the config; trustgate receiver list shows them"
    ))
}

/// Removes the `[[receiver]]` with `address`, with its trusted senders and the comments above
/// it.
///
/// # Errors
/// When there is no such receiver.
pub fn remove_receiver(doc: &mut DocumentMut, address: &Address) -> Result<(), EditError> {
    let index = receiver_index(doc, address).ok_or_else(|| unknown_receiver(address))?;
    if let Some(receivers) = doc
        .get_mut("receiver")
        .and_then(Item::as_array_of_tables_mut)
    {
        receivers.remove(index);
    }
    Ok(())
}

/// Appends a `[[receiver.trusted_sender]]` to the receiver with address `receiver`, after its
/// other trusted senders.
///
/// # Errors
/// When there is no such receiver.
pub fn add_trusted_sender(
    doc: &mut DocumentMut,
    receiver: &Address,
    new: &NewSender<'_>,
) -> Result<(), EditError> {
    let index = receiver_index(doc, receiver).ok_or_else(|| unknown_receiver(receiver))?;
    let mut table = Table::new();
    table.insert("name", value(new.name));
    table.insert("contact", value(new.contact));
    match new.trust {
        Trust::Domain(d) => table.insert("domain", value(d)),
        Trust::Address(a) => table.insert("address", value(a)),
        Trust::VerifiedUsers => table.insert("verified_users", value(true)),
    };
    if let Some(language) = new.language {
        table.insert("language", value(language.as_str()));
    }
    let receiver_table = doc
        .get_mut("receiver")
        .and_then(Item::as_array_of_tables_mut)
        .and_then(|r| r.get_mut(index))
        .ok_or_else(|| unknown_receiver(receiver))?;
    receiver_table
        .entry("trusted_sender")
        .or_insert_with(|| Item::ArrayOfTables(ArrayOfTables::new()))
        .as_array_of_tables_mut()
        .ok_or_else(|| {
            EditError::Conflict(format!(
                "receiver {receiver}: trusted_sender is not written as [[receiver.trusted_sender]] sections; rewrite it so, then run the command again"
            ))
        })?
        .push(table);
    Ok(())
}

/// Removes every `[[receiver.trusted_sender]]` of `receiver` whose `contact` is `contact`
/// (compared as [`Address::key`]); returns how many.
///
/// # Errors
/// When there is no such receiver, or it has no trusted sender with that contact.
pub fn remove_trusted_sender(
    doc: &mut DocumentMut,
    receiver: &Address,
    contact: &Address,
) -> Result<usize, EditError> {
    let index = receiver_index(doc, receiver).ok_or_else(|| unknown_receiver(receiver))?;
    let senders = doc
        .get_mut("receiver")
        .and_then(Item::as_array_of_tables_mut)
        .and_then(|r| r.get_mut(index))
        .and_then(|t| t.get_mut("trusted_sender"))
        .and_then(Item::as_array_of_tables_mut);
    let mut removed = 0;
    if let Some(senders) = senders {
        let before = senders.len();
        senders.retain(|t| {
            t.get("contact")
                .and_then(Item::as_str)
                .and_then(|c| Address::parse(c.trim()).ok())
                .is_none_or(|c| c.key() != contact.key())
        });
        removed = before - senders.len();
    }
    if removed == 0 {
        return Err(EditError::Conflict(format!(
            "receiver {receiver} has no trusted sender with contact {contact}; trustgate senders list shows them"
        )));
    }
    Ok(removed)
}

/// Appends an `[[organisation]]` after the last one.
///
/// # Errors
/// When `organisation` is not an array of tables.
pub fn add_organisation(doc: &mut DocumentMut, new: &NewOrganisation) -> Result<(), EditError> {
    let mut table = Table::new();
    table.insert("id", value(&new.id));
    table.insert("name", value(&new.name));
    if let Some(kvk) = &new.kvk {
        table.insert("kvk", value(kvk));
    }
    if let Some(reason) = &new.no_kvk_reason {
        table.insert("no_kvk_reason", value(reason));
    }
    if !new.vat_ids.is_empty() {
        table.insert(
            "vat_ids",
            value(new.vat_ids.iter().collect::<toml_edit::Array>()),
        );
    }
    if !new.endpoint_ids.is_empty() {
        table.insert(
            "endpoint_ids",
            value(new.endpoint_ids.iter().collect::<toml_edit::Array>()),
        );
    }
    array_of_tables(doc, "organisation")?.push(table);
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A valid config with comments everywhere an admin puts them.
    fn config_text(spool: &Path) -> String {
        format!(
            r#"# trustgate for ACME: keep this header
[server]
hostname = "mx.trust.example.test"   # the public name
listen = ["127.0.0.1:0"]

[spool]
path = "{}"

# Our only customer so far.
[[organisation]]
id = "acme"
name = "ACME B.V."

# The first address, handed out in 2025.
[[receiver]]
address = "AD64SDE@trust.example.test"
organisation = "acme"
document_type = "purchase-invoice"

# Supplier since 2024.
[[receiver.trusted_sender]]
name = "Supplier B.V."
contact = "billing@supplier.example"
domain = "supplier.example"

# Trailing remark about future receivers.
"#,
            spool.display()
        )
    }

    fn setup() -> (tempfile::TempDir, PathBuf, String) {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        std::fs::create_dir(&spool).unwrap();
        let path = dir.path().join("trustgate.toml");
        let text = config_text(&spool);
        std::fs::write(&path, &text).unwrap();
        (dir, path, text)
    }

    #[test]
    fn adding_a_receiver_and_a_sender_keeps_every_comment() {
        let (_dir, path, before) = setup();
        let mut file = ConfigFile::open(&path).unwrap();
        let address = Address::parse("XYZ23456@trust.example.test").unwrap();
        add_receiver(
            &mut file.doc,
            &NewReceiver {
                address: &address,
                organisation: "acme",
                document_type: "purchase-invoice",
            },
        )
        .unwrap();
        add_trusted_sender(
            &mut file.doc,
            &address,
            &NewSender {
                name: "New B.V.",
                contact: "ap@new.example",
                trust: Trust::Address("invoices@new.example"),
                language: Some(Language::En),
            },
        )
        .unwrap();
        let config = file.save().unwrap();
        let after = std::fs::read_to_string(&path).unwrap();
        for line in before.lines().filter(|l| l.contains('#')) {
            assert!(after.contains(line), "lost {line:?} in:\n{after}");
        }
        // The old text is untouched, the new sections follow it (before the trailing remark).
        let old_part = before.split("# Trailing remark").next().unwrap();
        assert!(after.starts_with(old_part.trim_end()), "{after}");
        assert_eq!(config.receivers.len(), 2);
        assert_eq!(config.receivers[1].address, address);
        assert_eq!(config.receivers[1].sender_language(0), Language::En);
        // The first receiver kept its own sender: the new section did not land under it.
        assert_eq!(config.receivers[0].trusted_senders.len(), 1);
    }

    #[test]
    fn removing_a_receiver_keeps_the_other_comments() {
        let (_dir, path, before) = setup();
        let mut file = ConfigFile::open(&path).unwrap();
        let address = Address::parse("ad64sde@trust.example.test").unwrap();
        remove_receiver(&mut file.doc, &address).unwrap();
        let config = file.save().unwrap();
        assert!(config.receivers.is_empty());
        let after = std::fs::read_to_string(&path).unwrap();
        for kept in [
            "# trustgate for ACME",
            "# the public name",
            "# Our only customer",
            "# Trailing remark",
        ] {
            assert!(after.contains(kept), "lost {kept:?} in:\n{after}");
        }
        assert!(!before.is_empty() && !after.contains("AD64SDE"));
    }

    #[test]
    fn an_edit_that_does_not_validate_is_refused_and_the_file_unchanged() {
        let (_dir, path, before) = setup();
        let mut file = ConfigFile::open(&path).unwrap();
        let address = Address::parse("XYZ23456@trust.example.test").unwrap();
        add_receiver(
            &mut file.doc,
            &NewReceiver {
                address: &address,
                organisation: "nobody",
                document_type: "purchase-invoice",
            },
        )
        .unwrap();
        let err = file.save().unwrap_err();
        let shown = err.to_string();
        assert!(matches!(err, EditError::Refused(_)), "{shown}");
        assert!(
            shown.contains("trustgate.toml:") && shown.contains("unknown organisation \"nobody\""),
            "{shown}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
        // No temp file is left behind either.
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            2
        );
    }

    #[test]
    fn the_file_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt as _;
        let (_dir, path, _) = setup();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let mut file = ConfigFile::open(&path).unwrap();
        let org = NewOrganisation {
            id: "beta".into(),
            name: "Beta".into(),
            no_kvk_reason: Some("test".into()),
            vat_ids: vec!["NL123456789B01".into()],
            ..NewOrganisation::default()
        };
        add_organisation(&mut file.doc, &org).unwrap();
        let config = file.save().unwrap();
        assert_eq!(config.organisations.len(), 2);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o640);
    }

    #[test]
    fn a_concurrent_change_is_not_overwritten() {
        let (_dir, path, _) = setup();
        let mut file = ConfigFile::open(&path).unwrap();
        remove_receiver(
            &mut file.doc,
            &Address::parse("AD64SDE@trust.example.test").unwrap(),
        )
        .unwrap();
        let theirs = std::fs::read_to_string(&path).unwrap() + "\n# edited meanwhile\n";
        std::fs::write(&path, &theirs).unwrap();
        assert!(matches!(file.save(), Err(EditError::Changed(_))));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), theirs);
    }

    #[test]
    fn generated_local_parts_use_only_unambiguous_symbols() {
        let mut rng = rand::rng();
        for _ in 0..1000 {
            let local = generate_local_part(&mut rng, 8);
            assert_eq!(local.len(), 8);
            assert!(
                local.bytes().all(|b| ADDRESS_ALPHABET.contains(&b)),
                "{local}"
            );
            assert!(!local.contains(['0', 'O', '1', 'I', 'L']), "{local}");
        }
        assert_eq!(ADDRESS_ALPHABET.len(), 31);
    }

    #[test]
    fn ten_thousand_generated_addresses_do_not_collide() {
        let mut taken = TakenAddresses::default();
        let domain = Domain::parse("trust.example.test").unwrap();
        let mut rng = rand::rng();
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let a = taken.generate(&mut rng, &domain, 8).unwrap();
            assert!(seen.insert(a.key()), "{a} generated twice");
        }
        assert_eq!(seen.len(), 10_000);
    }

    #[test]
    fn a_taken_address_is_never_generated_again() {
        // With a one-symbol alphabet's worth of room (length 1 has 31 addresses), the
        // generator must skip every taken one and finally say the space is full.
        let mut taken = TakenAddresses::default();
        let domain = Domain::parse("t.example").unwrap();
        let mut rng = rand::rng();
        let mut seen = HashSet::new();
        for _ in 0..31 {
            assert!(seen.insert(taken.generate(&mut rng, &domain, 1).unwrap().key()));
        }
        assert!(matches!(
            taken.generate(&mut rng, &domain, 1),
            Err(EditError::Conflict(_))
        ));
    }
}
