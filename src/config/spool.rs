//! `[spool]`: where accepted mail is kept, and how.
//!
//! The validated [`Spool`] and the checks that build it from [`raw::Spool`], called by
//! [`super::validate`]. The directory is checked with `access(2)` only: nothing is created.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::defaults;
use super::raw;
use super::validate::{Key, Validator, key};

/// `[spool]`.
#[derive(Debug, Clone)]
pub struct Spool {
    /// The spool directory (database, body files, control socket), absolute.
    pub path: PathBuf,
    /// While DATA arrives, bodies up to this size stay in memory and larger ones are streamed
    /// to a staging file (every stored body is a file of its own either way).
    pub large_body_threshold: u64,
    /// Free disk space kept in reserve: below it, new messages get 452 4.3.1.
    pub min_free_space: u64,
    /// How long a message (its record, raw message and documents) is kept after its last
    /// delivery or its refusal, before the background purge removes it. A message with a
    /// document still pending is never purged.
    pub retention: Duration,
    /// redb's page cache (read cache and write buffer together), in bytes.
    pub cache_size: u64,
}

impl Default for Spool {
    /// Every optional key at its default (see [`defaults`]); `path`, which the config must
    /// set, empty.
    fn default() -> Spool {
        Spool {
            path: PathBuf::new(),
            large_body_threshold: defaults::LARGE_BODY_THRESHOLD,
            min_free_space: defaults::MIN_FREE_SPACE,
            retention: defaults::RETENTION,
            cache_size: defaults::SPOOL_CACHE_SIZE,
        }
    }
}

/// `[spool]`'s sizes and duration, checked by [`Validator::keys`].
const KEYS: &[Key<raw::Spool, Spool>] = &[
    key!(size large_body_threshold, defaults::LARGE_BODY_THRESHOLD_RANGE),
    key!(size min_free_space, defaults::MIN_FREE_SPACE_RANGE),
    key!(duration retention, defaults::RETENTION_RANGE),
    key!(size cache_size, defaults::SPOOL_CACHE_SIZE_RANGE),
];

impl Validator<'_> {
    pub(super) fn spool(&mut self, raw: raw::Spool) -> Spool {
        let path = self.path(&raw.path, "spool.path");
        if self.options.check_spool_writable
            && !raw.path.get_ref().trim().is_empty()
            && let Err(why) = check_writable_dir(&path)
        {
            self.error(&raw.path, format!("spool.path {}: {why}", path.display()));
        }
        let mut spool = Spool {
            path,
            ..Spool::default()
        };
        self.keys("", KEYS, &raw, &mut spool);
        if let Some(written) = &raw.retention
            && spool.retention < defaults::RETENTION_WARN_BELOW
        {
            self.warning(
                written,
                format!(
                    "spool.retention {} is under a day: messages are purged while an admin or an ERP may still look for them; it is meant for tests and benchmarks, write e.g. \"90d\" in production",
                    humantime::format_duration(spool.retention)
                ),
            );
        }
        spool
    }
}

/// The spool directory `file` names in `[spool] path`, read leniently: the TOML need only
/// parse, and nothing else in it is checked. `trustgate reload` uses it to find the running
/// daemon's control socket when the edited config has errors, so that the daemon, not only the
/// CLI, refuses the edit and logs why. `None` when the file cannot be read or parsed, or names
/// no path.
pub fn path_in_file(file: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(file).ok()?;
    let table: toml::Table = toml::from_str(&text).ok()?;
    let path = table.get("spool")?.get("path")?.as_str()?.trim();
    if path.is_empty() {
        return None;
    }
    Some(super::validate::resolve(
        &super::validate::base_dir(file),
        Path::new(path),
    ))
}

/// Checks, without changing anything, that `path` is a directory trustgate could write in, or
/// does not exist yet and could be created (its nearest existing ancestor is a writable
/// directory). Uses `access(2)`, so it answers for the user running the check.
fn check_writable_dir(path: &Path) -> Result<(), String> {
    use rustix::fs::{Access, access};
    let want = Access::WRITE_OK | Access::EXEC_OK;
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => access(path, want).map_err(|e| {
            format!("the directory is not writable ({e}); make it writable by the user trustgate runs as, e.g. chown trustgate {}", path.display())
        }),
        Ok(_) => Err("is not a directory; point spool.path at a directory".to_string()),
        // A missing path, or one under a file (ENOTDIR): look for the nearest existing ancestor.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            let mut ancestor = path.parent();
            while let Some(a) = ancestor {
                match std::fs::metadata(a) {
                    Ok(m) if m.is_dir() => {
                        return access(a, want).map_err(|e| {
                            format!("does not exist, and {} is not writable to create it ({e}); create the directory, e.g. mkdir -p {} and chown it to trustgate's user", a.display(), path.display())
                        });
                    }
                    Ok(_) => {
                        return Err(format!("cannot be created because {} is not a directory; choose another path", a.display()));
                    }
                    Err(_) => ancestor = a.parent(),
                }
            }
            Err("does not exist and has no existing parent; use an absolute path".to_string())
        }
        Err(e) => Err(format!("cannot be checked ({e}); check the path and its permissions")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::validate::testing::*;
    use crate::config::validate::{Options, load_str};

    #[test]
    fn spool_path_must_be_a_writable_directory() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("trustgate.toml");
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"").unwrap();
        let with_spool = |spool: &str| {
            let text = EXAMPLE.replace("path = \"spool\"", &format!("path = \"{spool}\""));
            match load_str(&text, &cfg, &Options::default()) {
                Ok(c) => Ok(c.spool.path),
                Err(e) => Err(e.0.iter().map(|e| e.message.clone()).collect::<Vec<_>>()),
            }
        };
        // Exists, and a directory: fine, and relative paths start at the config's directory.
        std::fs::create_dir(dir.path().join("spool")).unwrap();
        let base = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(with_spool("spool").unwrap(), base.join("spool"));
        assert_eq!(
            with_spool("./sub/../spool").unwrap(),
            base.join("sub/../spool")
        );
        // Missing but creatable (serve creates it): fine, and nothing was created.
        assert_eq!(with_spool("new/deeper").unwrap(), base.join("new/deeper"));
        assert!(!dir.path().join("new").exists());
        // A file, or under a file: refused.
        let errs = with_spool("a-file").unwrap_err();
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].ends_with("a-file: is not a directory; point spool.path at a directory"),
            "{errs:?}"
        );
        let errs = with_spool("a-file/spool").unwrap_err();
        assert!(
            errs[0].contains("cannot be created because") && errs[0].contains("is not a directory"),
            "{errs:?}"
        );
        // Not writable (only observable without root's CAP_DAC_OVERRIDE, so probe first).
        use std::os::unix::fs::PermissionsExt;
        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
        if std::fs::write(ro.join("probe"), b"").is_err() {
            let errs = with_spool("ro").unwrap_err();
            assert!(
                errs[0].contains("the directory is not writable"),
                "{errs:?}"
            );
            let errs = with_spool("ro/spool").unwrap_err();
            assert!(errs[0].contains("does not exist, and"), "{errs:?}");
        }
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o700)).unwrap();
    }

    #[test]
    fn spool_check_points_at_the_path_value() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"").unwrap();
        let text = EXAMPLE.replace("path = \"spool\"", "path = \"f\"");
        let errs = load_str(&text, &dir.path().join("t.toml"), &Options::default()).unwrap_err();
        assert_eq!((errs.0[0].line, errs.0[0].column), (7, 8));
    }

    #[test]
    fn retention_and_cache_size_round_trip_and_defaults() {
        let c = valid(HEAD);
        assert_eq!(c.spool.retention, Duration::from_secs(90 * 24 * 3600));
        assert_eq!(c.spool.cache_size, 64 << 20);
        let text = HEAD.replacen(
            "[spool]\n",
            "[spool]\nretention = \"30d\"\ncache_size = \"256 MiB\"\n",
            1,
        );
        let c = valid(&text);
        assert_eq!(
            (c.spool.retention, c.spool.cache_size),
            (Duration::from_secs(30 * 24 * 3600), 256 << 20)
        );
        // A duration needs its unit; the range is a day to ten years.
        let text = HEAD.replacen(
            "[spool]\n",
            "[spool]\nretention = 90\ncache_size = \"1 KiB\"\n",
            1,
        );
        assert_eq!(
            errors(&text),
            [
                "t.toml:5:13: retention: 90 has no unit; write e.g. \"90s\" or \"5m\"",
                "t.toml:6:14: cache_size 1024 bytes is out of range; use 1 MiB to 64 GiB",
            ]
        );
        for (written, shown) in [("\"30s\"", "30s"), ("\"11y\"", "11years")] {
            let text = HEAD.replacen("[spool]\n", &format!("[spool]\nretention = {written}\n"), 1);
            assert_one(
                &text,
                "5:13",
                &format!("retention {shown} is out of range; use 1m to 10years"),
            );
        }
        // Under a day is valid (tests, benchmarks) and warned about, at the value.
        let text = HEAD.replacen("[spool]\n", "[spool]\nretention = \"2m\"\n", 1);
        let c = valid(&text);
        assert_eq!(c.spool.retention, Duration::from_secs(120));
        let warnings: Vec<String> = c.warnings.iter().map(ToString::to_string).collect();
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("t.toml:5:13: spool.retention 2m is under a day")),
            "{warnings:?}"
        );
        assert!(
            valid(HEAD)
                .warnings
                .iter()
                .all(|w| !w.message.contains("retention"))
        );
        // The largest retention is exactly "10y".
        let text = HEAD.replacen("[spool]\n", "[spool]\nretention = \"10y\"\n", 1);
        assert_eq!(
            valid(&text).spool.retention,
            defaults::RETENTION_RANGE.end().to_owned()
        );
    }

    #[test]
    fn every_key_of_the_table_takes_its_range() {
        let text = HEAD.replacen("[spool]\n", "[spool]\n@KEY@\n", 1);
        check_table(&text, "", KEYS);
    }
}
