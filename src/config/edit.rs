//! Changes to the config from the command line, keeping the admin's comments and layout.
//!
//! Called by `trustgate receiver|sender|organisation ...` (`cli::receiver`,
//! `cli::organisation`). [`ConfigFile::open`] reads and validates the config (the main file
//! and the files its `include` names) and parses the main file as a
//! [`toml_edit::DocumentMut`]; an included file is parsed when an edit needs it: the one named
//! by `--file` ([`ConfigFile::file_doc`]), or the one that defines the receiver an edit
//! changes ([`ConfigFile::remove_receiver`], ...). The edit functions change documents only;
//! then [`ConfigFile::save`] validates the whole config as the edit leaves it (the changed
//! files read from memory, [`validate::Overlay`]) with the same checks as `check-config`, and
//! writes each changed file atomically. Invariants: a config that would not validate is never
//! written (every file is left byte for byte as it was); a file that no `include` names is
//! never written (trustgate would not read it); each file on disk is always either its old
//! text or its new one, never a mix (temp file, fsync, rename, fsync of the directory), and
//! an edit of several files writes every temp file before it renames any. This module knows
//! nothing of the command line and never prints.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rand::Rng;
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, value};

use super::validate::{self, ConfigErrors, Options, Overlay};
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
    /// An edit of several files was written in part: a rename (or the fsync of a directory)
    /// failed after others succeeded.
    #[error(
        "{path}: cannot write the config ({reason}); {} file(s) were written already ({}), the others are unchanged; run trustgate check-config, and fix or restore them",
        written.len(),
        some_paths(written)
    )]
    Partial {
        /// The file (or directory) that failed.
        path: PathBuf,
        /// What went wrong.
        reason: String,
        /// The files written before it.
        written: Vec<PathBuf>,
    },
}

/// Up to five paths, then how many more.
fn some_paths(paths: &[PathBuf]) -> String {
    let mut shown: Vec<String> = paths
        .iter()
        .take(5)
        .map(|p| p.display().to_string())
        .collect();
    if paths.len() > 5 {
        shown.push(format!("and {} more", paths.len() - 5));
    }
    shown.join(", ")
}

/// A config opened for editing: the main file, the files its `include` names (each opened
/// only when an edit needs it), the validated config, and the documents to change.
#[derive(Debug)]
pub struct ConfigFile {
    /// The main file's path as given (for messages and the validator's positions).
    path: PathBuf,
    /// The main file's bytes as read, to notice a concurrent change before the rename.
    original: String,
    /// The main file's document: edits change it unless they name another file.
    pub doc: DocumentMut,
    /// The config as it was when opened, validated (the main file with its included files):
    /// the existing receivers, organisations and `[server]` keys the edits are checked
    /// against.
    pub config: Config,
    /// The main file as [`validate::include_key`] names it, so a `--file` that names the main
    /// file edits [`ConfigFile::doc`].
    main_key: PathBuf,
    /// The files `include` names, in the order they join the main file: where a receiver that
    /// is not in the main file is looked for.
    included: Vec<PathBuf>,
    /// The included files opened for editing (existing ones, and new ones an edit creates), in
    /// the order they were opened; they are written in that order.
    opened: Vec<OpenedFile>,
    /// Index into `opened` by [`validate::include_key`]: an import opens a thousand files.
    opened_index: HashMap<PathBuf, usize>,
}

/// An included file opened for editing.
#[derive(Debug)]
struct OpenedFile {
    /// Its name, as [`validate::include_key`] gives it (and as the validator names it).
    key: PathBuf,
    /// Its text when opened, to notice a concurrent change; `None` when the edit creates it.
    original: Option<String>,
    /// The document the edits change.
    doc: DocumentMut,
}

/// The file of the config that defines a receiver.
#[derive(Debug, Clone, Copy)]
enum Place {
    /// The main file.
    Main,
    /// `ConfigFile::opened[i]`.
    Opened(usize),
}

/// An edited config that validated, not yet written.
struct Checked {
    /// The main file's new text.
    text: String,
    /// The included files that changed (or are new): index into `ConfigFile::opened`, new text.
    changed: Vec<(usize, String)>,
    /// The config as it will be.
    config: Config,
}

/// A file to replace (or create), its new text, and what it held when it was read.
struct Pending {
    /// The name in messages.
    shown: PathBuf,
    /// The file to replace: a symlink's target, so the link stays a link.
    target: PathBuf,
    /// The new text.
    text: String,
    /// The text read when the edit began; `None` for a file the edit creates.
    original: Option<String>,
}

impl ConfigFile {
    /// Reads and validates the config at `path` (with the files its `include` names) and
    /// parses the main file for editing. Included files are parsed when an edit needs them.
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
        let main_key = validate::include_key(
            path,
            Path::new(path.file_name().unwrap_or(path.as_os_str())),
        );
        let included = validate::included_files(&original, path);
        Ok(ConfigFile {
            path: path.to_path_buf(),
            original,
            doc,
            config,
            main_key,
            included,
            opened: Vec::new(),
            opened_index: HashMap::new(),
        })
    }

    /// The document of the file `written` (relative to the main file's directory, or
    /// absolute): the main file's, or that of a file its `include` names, which is created
    /// (empty, then with what the edits add) when it does not exist yet.
    ///
    /// # Errors
    /// [`EditError::Conflict`] when no `include` of the main file names the file (trustgate
    /// would never read it: the message says which `include` entry to add) or its directory
    /// does not exist; [`EditError::Read`] when it exists but cannot be read or is not TOML.
    pub fn file_doc(&mut self, written: &Path) -> Result<&mut DocumentMut, EditError> {
        let key = validate::include_key(&self.path, written);
        if key == self.main_key {
            return Ok(&mut self.doc);
        }
        let i = match self.opened_index.get(&key) {
            Some(&i) => i,
            None => {
                self.check_included(written, &key)?;
                let original = match std::fs::read(&key) {
                    Ok(bytes) => Some(String::from_utf8(bytes).map_err(|_| EditError::Read {
                        path: key.clone(),
                        reason: "not UTF-8".into(),
                    })?),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => {
                        return Err(EditError::Read {
                            path: key,
                            reason: e.to_string(),
                        });
                    }
                };
                let doc = match &original {
                    Some(text) => parse_included(&key, text)?,
                    None => DocumentMut::new(),
                };
                self.push_opened(key, original, doc)
            }
        };
        Ok(&mut self.opened[i].doc)
    }

    fn push_opened(&mut self, key: PathBuf, original: Option<String>, doc: DocumentMut) -> usize {
        let i = self.opened.len();
        self.opened_index.insert(key.clone(), i);
        self.opened.push(OpenedFile { key, original, doc });
        i
    }

    /// That the file `key` (written as `written`) is one the config reads: its directory
    /// exists and an `include` entry of the main file names it.
    fn check_included(&self, written: &Path, key: &Path) -> Result<(), EditError> {
        let main = self.path.display();
        let suggestion = self.include_suggestion(key);
        let dir = key.parent().unwrap_or(Path::new("/"));
        if !dir.is_dir() {
            return Err(EditError::Conflict(format!(
                "{}: the directory {} does not exist; create it, make sure include at the top of {main} names its files (e.g. include = [\"{suggestion}\"]), then run the command again; nothing was written",
                written.display(),
                dir.display(),
            )));
        }
        if validate::include_covering(&self.original, &self.path, key).is_some() {
            return Ok(());
        }
        let how = match self.doc.get("include") {
            Some(list) => {
                let line = toml_edit::Document::parse(self.original.as_str())
                    .ok()
                    .and_then(|d| d.get("include").and_then(Item::span))
                    .map(|span| format!(":{}", line_of(&self.original, span.start)))
                    .unwrap_or_default();
                format!(
                    "add \"{suggestion}\" to include = {} at {main}{line}",
                    list.to_string().trim()
                )
            }
            None => {
                format!("add include = [\"{suggestion}\"] at the top of {main}, before any table")
            }
        };
        Err(EditError::Conflict(format!(
            "{}: trustgate would not read this file, because no include of {main} names it; {how}, then run the command again; nothing was written",
            written.display()
        )))
    }

    /// The `include` entry to suggest for `key`: every `.toml` file of its directory,
    /// relative to the main file's directory when it is below it. A file beside the main
    /// file is named alone: `*.toml` there would include the main file itself.
    fn include_suggestion(&self, key: &Path) -> String {
        let base = self.main_key.parent().unwrap_or(Path::new("/"));
        let relative = key.strip_prefix(base).unwrap_or(key);
        match relative.parent() {
            Some(dir)
                if !dir.as_os_str().is_empty() && key.extension().is_some_and(|e| e == "toml") =>
            {
                format!("{}/*.toml", dir.display())
            }
            _ => relative.display().to_string(),
        }
    }

    /// The file that defines the receiver `address`: the main file, or the included file
    /// (opened now) that holds its `[[receiver]]`.
    ///
    /// # Errors
    /// When no file defines it, or an included file cannot be read.
    fn find_receiver(&mut self, address: &Address) -> Result<Place, EditError> {
        if receiver_index(&self.doc, address).is_some() {
            return Ok(Place::Main);
        }
        if let Some(i) = self
            .opened
            .iter()
            .position(|f| receiver_index(&f.doc, address).is_some())
        {
            return Ok(Place::Opened(i));
        }
        let key = address.key();
        if self.config.receivers.iter().any(|r| r.address.key() == key) {
            // Parsing a thousand files to find one receiver is slow: first only the files
            // whose text holds the local part; then, should it be written with escapes,
            // every one.
            let local = address.local().to_ascii_lowercase();
            for quick in [true, false] {
                for file in self.included.clone() {
                    if self.opened_index.contains_key(&file) {
                        continue;
                    }
                    let text = std::fs::read(&file)
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok())
                        .ok_or_else(|| EditError::Read {
                            path: file.clone(),
                            reason: "cannot read it as UTF-8 text".into(),
                        })?;
                    if quick && !text.to_ascii_lowercase().contains(&local) {
                        continue;
                    }
                    let doc = parse_included(&file, &text)?;
                    if receiver_index(&doc, address).is_some() {
                        return Ok(Place::Opened(self.push_opened(file, Some(text), doc)));
                    }
                }
            }
        }
        Err(EditError::Conflict(format!(
            "no receiver {address} in the config ({} and the {} file{} its include names); trustgate receiver list shows them",
            self.path.display(),
            self.included.len(),
            if self.included.len() == 1 { "" } else { "s" }
        )))
    }

    /// The document at `place`, and the prefix that locates its receiver `address` in
    /// messages: `FILE:LINE` of the receiver's `address` as the file was read.
    fn at(&mut self, place: Place, address: &Address) -> (&mut DocumentMut, String) {
        let (doc, shown, original) = match place {
            Place::Main => (&mut self.doc, &self.path, Some(&self.original)),
            Place::Opened(i) => {
                let f = &mut self.opened[i];
                (&mut f.doc, &f.key, f.original.as_ref())
            }
        };
        let line = original
            .and_then(|text| receiver_line(text, address))
            .map(|l| format!(":{l}"))
            .unwrap_or_default();
        (doc, format!("{}{line}", shown.display()))
    }

    /// Removes the receiver `address` from the file that defines it (see [`remove_receiver`]).
    ///
    /// # Errors
    /// When no file of the config defines it, or the file cannot be read.
    pub fn remove_receiver(&mut self, address: &Address) -> Result<(), EditError> {
        let place = self.find_receiver(address)?;
        let (doc, at) = self.at(place, address);
        remove_receiver(doc, address).map_err(|e| located(e, &at))
    }

    /// Adds a trusted sender to the receiver `receiver`, in the file that defines it (see
    /// [`add_trusted_sender`]).
    ///
    /// # Errors
    /// When no file defines the receiver, a file cannot be read, or the receiver's senders
    /// are not written as sections (the message names the file and line).
    pub fn add_trusted_sender(
        &mut self,
        receiver: &Address,
        new: &NewSender<'_>,
    ) -> Result<(), EditError> {
        let place = self.find_receiver(receiver)?;
        let (doc, at) = self.at(place, receiver);
        add_trusted_sender(doc, receiver, new).map_err(|e| located(e, &at))
    }

    /// Removes the trusted senders with `contact` from the receiver `receiver`, in the file
    /// that defines it (see [`remove_trusted_sender`]); returns how many.
    ///
    /// # Errors
    /// When no file defines the receiver, a file cannot be read, or the receiver has no
    /// trusted sender with that contact (the message names the file and line).
    pub fn remove_trusted_sender(
        &mut self,
        receiver: &Address,
        contact: &Address,
    ) -> Result<usize, EditError> {
        let place = self.find_receiver(receiver)?;
        let (doc, at) = self.at(place, receiver);
        remove_trusted_sender(doc, receiver, contact).map_err(|e| located(e, &at))
    }

    /// The new text of the main file and of each changed or new included file, validated
    /// together exactly as `check-config` would read them, without writing anything.
    ///
    /// # Errors
    /// [`EditError::Refused`] with every problem of the edited config.
    fn checked(&self) -> Result<Checked, EditError> {
        let text = self.doc.to_string();
        let mut changed = Vec::new();
        let mut overlay = Overlay::new();
        for (i, f) in self.opened.iter().enumerate() {
            let new = f.doc.to_string();
            if f.original.as_deref() != Some(new.as_str()) {
                overlay.insert(f.key.clone(), new.clone());
                changed.push((i, new));
            }
        }
        let config = validate::load_str_with(&text, &self.path, &Options::default(), &overlay)
            .map_err(EditError::Refused)?;
        Ok(Checked {
            text,
            changed,
            config,
        })
    }

    /// The edited main text, validated (with the included files as the edit leaves them)
    /// exactly as `check-config` would, without writing it.
    ///
    /// # Errors
    /// [`EditError::Refused`] with every problem of the edited config.
    pub fn check(&self) -> Result<(String, Config), EditError> {
        let Checked { text, config, .. } = self.checked()?;
        Ok((text, config))
    }

    /// Validates the edited config and, when it is valid, writes it: see
    /// [`ConfigFile::save_files`]. Returns the new config.
    ///
    /// # Errors
    /// As [`ConfigFile::save_files`].
    pub fn save(self) -> Result<Config, EditError> {
        self.save_files().map(|(config, _)| config)
    }

    /// Validates the edited config as a whole (the main file and every included file, as the
    /// edit leaves them) and, when it is valid, writes each file that changed atomically:
    /// first a temp file beside each (same mode and owner; a new file takes the main file's),
    /// each fsynced; then the renames; then an fsync of each directory. Returns the new config
    /// and the files written, as messages name them.
    ///
    /// # Errors
    /// [`EditError::Refused`] when the result does not validate, [`EditError::Changed`] when
    /// a file changed (or a new one appeared) since it was read, [`EditError::Write`] when a
    /// temp file cannot be written: in these cases nothing is written. [`EditError::Partial`]
    /// when a rename or the fsync of a directory fails after others succeeded.
    pub fn save_files(self) -> Result<(Config, Vec<PathBuf>), EditError> {
        let Checked {
            text,
            changed,
            config,
        } = self.checked()?;
        let write_error = |path: &Path, e: std::io::Error| EditError::Write {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let mut pending: Vec<Pending> = Vec::new();
        if text != self.original {
            // A symlinked config (e.g. into a git checkout) is replaced at its target, so
            // the link stays a link.
            let target =
                std::fs::canonicalize(&self.path).map_err(|e| write_error(&self.path, e))?;
            pending.push(Pending {
                shown: self.path.clone(),
                target,
                text,
                original: Some(self.original.clone()),
            });
        }
        for (i, text) in changed {
            let f = &self.opened[i];
            let target = match &f.original {
                Some(_) => std::fs::canonicalize(&f.key).map_err(|e| write_error(&f.key, e))?,
                None => f.key.clone(),
            };
            pending.push(Pending {
                shown: f.key.clone(),
                target,
                text,
                original: f.original.clone(),
            });
        }
        // Not a lock: it narrows the window in which two admins' edits could overwrite each
        // other from the whole command to the moment between this read and the renames.
        for p in &pending {
            let unchanged = match (&p.original, std::fs::read(&p.target)) {
                (Some(old), Ok(now)) => now == old.as_bytes(),
                (None, Err(e)) => e.kind() == std::io::ErrorKind::NotFound,
                _ => false,
            };
            if !unchanged {
                return Err(EditError::Changed(p.shown.clone()));
            }
        }
        let like = std::fs::metadata(&self.path).map_err(|e| write_error(&self.path, e))?;
        write_all_atomically(&pending, &like)?;
        Ok((config, pending.into_iter().map(|p| p.shown).collect()))
    }
}

/// An included file's text as a document.
fn parse_included(key: &Path, text: &str) -> Result<DocumentMut, EditError> {
    text.parse::<DocumentMut>().map_err(|e| EditError::Read {
        path: key.to_path_buf(),
        reason: format!("not TOML: {e}"),
    })
}

/// A [`EditError::Conflict`] prefixed with where it is (`FILE:LINE`); other errors as they are.
fn located(e: EditError, at: &str) -> EditError {
    match e {
        EditError::Conflict(message) => EditError::Conflict(format!("{at}: {message}")),
        other => other,
    }
}

/// The 1-based line of a byte offset of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(0, |t| t.matches('\n').count()) + 1
}

/// The line of the `address` key of the `[[receiver]]` with `address` in `text`.
fn receiver_line(text: &str, address: &Address) -> Option<usize> {
    let doc = toml_edit::Document::parse(text).ok()?;
    let key = address.key();
    doc.get("receiver")?
        .as_array_of_tables()?
        .iter()
        .filter_map(|t| t.get("address"))
        .find(|a| {
            a.as_str()
                .and_then(|a| Address::parse(a.trim()).ok())
                .is_some_and(|a| a.key() == key)
        })
        .and_then(Item::span)
        .map(|span| line_of(text, span.start))
}

/// Writes every pending file: all temp files first (so a failure there leaves every file as
/// it was), then the renames, then one fsync per directory so the renames survive a crash.
/// A new file takes the mode and owner of `like` (the main config: the daemon reads both).
fn write_all_atomically(pending: &[Pending], like: &std::fs::Metadata) -> Result<(), EditError> {
    // The temp files are written by a few threads at once: each fsync waits for the disk
    // (about 3 ms here), and concurrent ones share the device's cache flushes, so an import
    // of 1,000 files takes a fraction of the time one thread would. Each thread holds one
    // file open at a time, far below the limit of open files.
    const WRITERS: usize = 8;
    let chunk = pending.len().div_ceil(WRITERS).max(1);
    let results: Vec<Vec<Result<PathBuf, (usize, std::io::Error)>>> = std::thread::scope(|s| {
        let workers: Vec<_> = pending
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                s.spawn(move || {
                    let mut done = Vec::with_capacity(part.len());
                    for (j, p) in part.iter().enumerate() {
                        let meta = std::fs::metadata(&p.target).unwrap_or_else(|_| like.clone());
                        let result = write_temp(&p.target, p.text.as_bytes(), &meta);
                        let failed = result.is_err();
                        done.push(result.map_err(|e| (c * chunk + j, e)));
                        if failed {
                            break;
                        }
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join().unwrap_or_else(|_| {
                    vec![Err((0, std::io::Error::other("a writer thread failed")))]
                })
            })
            .collect()
    });
    let mut temps: Vec<PathBuf> = Vec::with_capacity(pending.len());
    let mut failure = None;
    for result in results.into_iter().flatten() {
        match result {
            Ok(temp) => temps.push(temp),
            Err(e) => failure = failure.or(Some(e)),
        }
    }
    if let Some((i, e)) = failure {
        for temp in &temps {
            let _ = std::fs::remove_file(temp);
        }
        return Err(EditError::Write {
            path: pending[i].shown.clone(),
            reason: e.to_string(),
        });
    }
    let mut written: Vec<PathBuf> = Vec::with_capacity(pending.len());
    let mut dirs: Vec<&Path> = Vec::new();
    for (i, (p, temp)) in pending.iter().zip(&temps).enumerate() {
        if let Err(e) = std::fs::rename(temp, &p.target) {
            for temp in &temps[i..] {
                let _ = std::fs::remove_file(temp);
            }
            return Err(if written.is_empty() {
                EditError::Write {
                    path: p.shown.clone(),
                    reason: e.to_string(),
                }
            } else {
                EditError::Partial {
                    path: p.shown.clone(),
                    reason: e.to_string(),
                    written,
                }
            });
        }
        written.push(p.shown.clone());
        let dir = p.target.parent().unwrap_or(Path::new("."));
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    for dir in dirs {
        if let Err(e) = std::fs::File::open(dir).and_then(|d| d.sync_all()) {
            return Err(EditError::Partial {
                path: dir.to_path_buf(),
                reason: format!("cannot sync the directory: {e}"),
                written,
            });
        }
    }
    Ok(())
}

/// A temp file beside `target` holding `bytes`, with the mode (and owner, when allowed) of
/// `meta`, fsynced; returns its path.
fn write_temp(target: &Path, bytes: &[u8], meta: &std::fs::Metadata) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};

    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map_or_else(|| "config".into(), |n| n.to_string_lossy().into_owned());
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
        file.sync_all()
    })();
    match result {
        Ok(()) => Ok(temp),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
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

/// The file `dir/<id>.toml` of an organisation, for an import with one file per organisation.
///
/// The id becomes a file name, so it must be a safe file-name stem, whatever validated it
/// before: 1 to 64 of `a-z 0-9 - _`, starting with a letter or digit. That leaves no `/`, no
/// `.` (no `..`, no hidden file, no second extension), no leading `-` (read as an option by
/// shell tools), nothing a shell or a file system treats specially, and no capitals (two ids
/// never name one file on a case-insensitive file system).
///
/// # Errors
/// When `id` is not such a stem.
pub fn organisation_file(dir: &Path, id: &str) -> Result<PathBuf, EditError> {
    let safe = (1..=64).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !safe {
        return Err(EditError::Conflict(format!(
            "organisation id \"{}\" cannot name a file; an id is 1 to 64 lower-case letters, digits, - or _, starting with a letter or digit, e.g. acme",
            id.escape_debug()
        )));
    }
    Ok(dir.join(format!("{id}.toml")))
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

    /// [`setup`] with `include = ["conf.d/*.toml"]` at the top and an empty `conf.d/`.
    fn setup_with_include() -> (tempfile::TempDir, PathBuf, String) {
        let (dir, path, text) = setup();
        let text = format!("include = [\"conf.d/*.toml\"]\n{text}");
        std::fs::write(&path, &text).unwrap();
        std::fs::create_dir(dir.path().join("conf.d")).unwrap();
        (dir, path, text)
    }

    fn beta() -> NewOrganisation {
        NewOrganisation {
            id: "beta".into(),
            name: "Beta".into(),
            no_kvk_reason: Some("test".into()),
            ..NewOrganisation::default()
        }
    }

    #[test]
    fn an_edit_of_two_files_writes_both_and_a_new_file_takes_the_main_files_mode() {
        use std::os::unix::fs::PermissionsExt as _;
        let (dir, path, _) = setup_with_include();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let mut file = ConfigFile::open(&path).unwrap();
        remove_receiver(
            &mut file.doc,
            &Address::parse("AD64SDE@trust.example.test").unwrap(),
        )
        .unwrap();
        let doc = file.file_doc(Path::new("conf.d/beta.toml")).unwrap();
        add_organisation(doc, &beta()).unwrap();
        let (config, written) = file.save_files().unwrap();
        assert_eq!(config.organisations.len(), 2);
        assert!(config.receivers.is_empty());
        let beta_path = dir.path().join("conf.d/beta.toml");
        assert_eq!(written[0], path);
        assert_eq!(written[1], std::fs::canonicalize(&beta_path).unwrap());
        let mode = std::fs::metadata(&beta_path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o640);
        assert!(!std::fs::read_to_string(&path).unwrap().contains("AD64SDE"));
        // No temp file is left behind.
        assert_eq!(
            std::fs::read_dir(dir.path().join("conf.d"))
                .unwrap()
                .count(),
            1
        );
    }

    #[test]
    fn an_edit_of_two_files_that_does_not_validate_writes_neither() {
        let (dir, path, before) = setup_with_include();
        let mut file = ConfigFile::open(&path).unwrap();
        remove_receiver(
            &mut file.doc,
            &Address::parse("AD64SDE@trust.example.test").unwrap(),
        )
        .unwrap();
        let address = Address::parse("XYZ23456@trust.example.test").unwrap();
        let doc = file.file_doc(Path::new("conf.d/beta.toml")).unwrap();
        add_receiver(
            doc,
            &NewReceiver {
                address: &address,
                organisation: "nobody",
                document_type: "purchase-invoice",
            },
        )
        .unwrap();
        let err = file.save_files().unwrap_err();
        let shown = err.to_string();
        assert!(
            shown.contains("conf.d/beta.toml:3:16: ") && shown.contains("unknown organisation"),
            "{shown}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
        assert_eq!(
            std::fs::read_dir(dir.path().join("conf.d"))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn a_new_file_that_appears_meanwhile_is_not_overwritten() {
        let (dir, path, before) = setup_with_include();
        let mut file = ConfigFile::open(&path).unwrap();
        let doc = file.file_doc(Path::new("conf.d/beta.toml")).unwrap();
        add_organisation(doc, &beta()).unwrap();
        let theirs = "# someone else's\n";
        std::fs::write(dir.path().join("conf.d/beta.toml"), theirs).unwrap();
        assert!(matches!(file.save_files(), Err(EditError::Changed(_))));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("conf.d/beta.toml")).unwrap(),
            theirs
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    }

    #[test]
    fn a_file_no_include_names_is_refused_with_the_entry_to_add() {
        let (dir, path, _) = setup();
        std::fs::create_dir(dir.path().join("conf.d")).unwrap();
        let mut file = ConfigFile::open(&path).unwrap();
        let err = file
            .file_doc(Path::new("conf.d/beta.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("add include = [\"conf.d/*.toml\"] at the top of"),
            "{err}"
        );
        // Beside the main file, `*.toml` would include the main file itself: name it alone.
        let err = file
            .file_doc(Path::new("beta.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("add include = [\"beta.toml\"]"), "{err}");
        // The main file itself, however written, is the main document.
        assert!(file.file_doc(Path::new("./trustgate.toml")).is_ok());
        assert!(file.file_doc(&path).is_ok());
        assert!(file.opened.is_empty());
    }

    #[test]
    fn organisation_files_are_named_by_safe_stems_only() {
        let dir = Path::new("conf.d");
        assert_eq!(
            organisation_file(dir, "acme-1_b").unwrap(),
            Path::new("conf.d/acme-1_b.toml")
        );
        for bad in [
            "",
            "../etc/passwd",
            "a/b",
            ".hidden",
            "..",
            "-rf",
            "_x",
            "Acme",
            "acme.toml",
            "a b",
            "a\0b",
            "\u{e9}t\u{e9}",
            &"a".repeat(65),
        ] {
            assert!(
                matches!(organisation_file(dir, bad), Err(EditError::Conflict(_))),
                "{bad:?}"
            );
        }
    }
}
