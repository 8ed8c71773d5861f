//! The body of a message while DATA arrives: memory up to a threshold, then a file of its own.
//!
//! Made by [`Spool::staging`](super::Spool::staging), fed by the SMTP shell chunk by chunk,
//! consumed by [`Spool::commit`](super::Spool::commit), which fsyncs and renames the file into
//! place. It hashes the body as it arrives (so the commit never reads a large body again) and
//! never leaves a file behind: dropping an uncommitted staging removes its file, and start-up
//! removes any `*.tmp` a crash left.

use std::borrow::Cow;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::fault::{self, FaultInjector};
use super::schema::TMP_SUFFIX;

/// The body of a message while it arrives.
///
/// Bytes stay in memory up to the spool's `large_body_threshold`; the chunk that would cross it
/// moves everything to `<spool>/bodies/<unique>.tmp`, where later chunks are appended as they
/// come. Write errors are plain I/O errors: ENOSPC has kind
/// [`io::ErrorKind::StorageFull`] (see [`is_disk_full`](super::is_disk_full)).
pub struct Staging {
    /// The body while it is small.
    mem: Vec<u8>,
    /// The body once it crossed the threshold (then `mem` is empty).
    file: Option<SpillFile>,
    /// Bytes written so far.
    len: u64,
    /// SHA-256 of the bytes so far, so the commit need not read them back.
    hasher: Sha256,
    /// Bodies larger than this go to a file.
    threshold: u64,
    /// `<spool>/bodies`.
    dir: PathBuf,
    /// Test seam.
    faults: Option<FaultInjector>,
}

/// A staging file that has not been committed yet.
pub(crate) struct SpillFile {
    /// `<spool>/bodies/<unique>.tmp`.
    pub(crate) path: PathBuf,
    /// Open for writing.
    pub(crate) file: File,
}

/// How [`Staging::rewrite`] moved the body: offsets into the body as it arrived (where parsing
/// found the parts) mapped to offsets into the body as stored (where delivery reads them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shift {
    /// Bytes put before the body.
    prefix: usize,
    /// The ranges of the body as received that were left out, in order.
    dropped: Vec<std::ops::Range<usize>>,
}

impl Shift {
    /// How many ranges were left out.
    pub fn dropped(&self) -> usize {
        self.dropped.len()
    }

    /// Where the bytes `start..end` of the body as received are in the body as stored; `None`
    /// when a left-out range cuts into them (or the result does not fit in `u32`).
    pub fn range(&self, start: u32, end: u32) -> Option<(u32, u32)> {
        let (s, e) = (start as usize, end as usize);
        let mut before = 0usize;
        for d in &self.dropped {
            if d.end <= s {
                before += d.len();
            } else if d.start < e.max(s + 1) {
                return None;
            }
        }
        let moved = |x: usize| u32::try_from(x + self.prefix - before).ok();
        Some((moved(s)?, moved(e)?))
    }
}

/// A finished staging, handed to the commit.
pub(crate) struct Finished {
    /// Total size in bytes.
    pub(crate) len: u64,
    /// SHA-256 of the whole body.
    pub(crate) sha256: [u8; 32],
    /// Where the bytes are.
    pub(crate) content: Content,
}

/// Where a finished body is.
pub(crate) enum Content {
    /// Small enough to go into the database record.
    Memory(Vec<u8>),
    /// Already in a staging file (not yet fsynced, not yet renamed). The caller now owns it and
    /// must remove it on failure.
    File(SpillFile),
}

impl std::fmt::Debug for Staging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Staging")
            .field("len", &self.len)
            .field("file", &self.file.as_ref().map(|s| &s.path))
            .finish_non_exhaustive()
    }
}

impl Staging {
    /// An empty body that spills into `dir` past `threshold` bytes.
    pub(crate) fn new(dir: PathBuf, threshold: u64, faults: Option<FaultInjector>) -> Staging {
        Staging {
            mem: Vec::new(),
            file: None,
            len: 0,
            hasher: Sha256::new(),
            threshold,
            dir,
            faults,
        }
    }

    /// Appends a chunk.
    ///
    /// # Errors
    /// Disk errors once the body is in a file (ENOSPC has kind `StorageFull`). After an error the
    /// body is incomplete: drop the staging.
    pub fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        let new_len = self.len.saturating_add(chunk.len() as u64);
        if self.file.is_none() && new_len > self.threshold {
            self.spill()?;
        }
        match &mut self.file {
            Some(spill) => {
                fault::check_write(self.faults.as_ref())?;
                spill.file.write_all(chunk)?;
            }
            None => self.mem.extend_from_slice(chunk),
        }
        self.hasher.update(chunk);
        self.len = new_len;
        Ok(())
    }

    /// Moves the bytes so far into a new staging file.
    fn spill(&mut self) -> io::Result<()> {
        let (path, mut file) = create_tmp(&self.dir)?;
        // From here on the file is ours: Drop removes it whatever happens next.
        let result =
            fault::check_write(self.faults.as_ref()).and_then(|()| file.write_all(&self.mem));
        self.file = Some(SpillFile { path, file });
        result?;
        self.mem = Vec::new();
        Ok(())
    }

    /// Bytes so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the body went to a file (it crossed the threshold).
    pub fn is_file(&self) -> bool {
        self.file.is_some()
    }

    /// The staging file, while there is one (for tests and diagnostics).
    pub fn file_path(&self) -> Option<&Path> {
        self.file.as_ref().map(|s| s.path.as_path())
    }

    /// The whole body (for parsing): borrowed from memory, or read back from the file.
    ///
    /// # Errors
    /// Disk errors reading the file.
    pub fn bytes(&self) -> io::Result<Cow<'_, [u8]>> {
        match &self.file {
            Some(spill) => fs::read(&spill.path).map(Cow::Owned),
            None => Ok(Cow::Borrowed(&self.mem)),
        }
    }

    /// Puts `prefix` (our trace fields) before the body and leaves out the byte ranges `drop`
    /// finds in it (sorted, disjoint; incoming fields that claim our name); returns how offsets
    /// into the body as received move (the parts' recorded places must point into the body as
    /// stored). The SHA-256 stays that of the body as received: the resend index compares
    /// arrivals, and our fields differ on each.
    ///
    /// # Errors
    /// Disk errors while a body in a file is written anew; the old file is kept then.
    pub fn rewrite(
        &mut self,
        prefix: &[u8],
        drop: impl FnOnce(&[u8]) -> Vec<std::ops::Range<usize>>,
    ) -> io::Result<Shift> {
        // Read once (a body in memory is moved, not copied); `drop` finds the ranges in it.
        let old = match &self.file {
            Some(spill) => fs::read(&spill.path)?,
            None => std::mem::take(&mut self.mem),
        };
        let drop = drop(&old);
        let mut new = Vec::with_capacity(prefix.len() + old.len());
        new.extend_from_slice(prefix);
        let mut at = 0usize;
        let mut dropped = Vec::with_capacity(drop.len());
        for range in &drop {
            let start = range.start.clamp(at, old.len());
            new.extend_from_slice(&old[at..start]);
            at = range.end.clamp(start, old.len());
            dropped.push(start..at);
        }
        new.extend_from_slice(&old[at..]);
        let new_len = new.len() as u64;
        match &mut self.file {
            Some(spill) => {
                let (path, mut file) = create_tmp(&self.dir)?;
                let written =
                    fault::check_write(self.faults.as_ref()).and_then(|()| file.write_all(&new));
                let fresh = SpillFile { path, file };
                if let Err(err) = written {
                    fresh.remove();
                    return Err(err);
                }
                std::mem::replace(spill, fresh).remove();
            }
            None => self.mem = new,
        }
        self.len = new_len;
        Ok(Shift {
            prefix: prefix.len(),
            dropped,
        })
    }

    /// The SHA-256 of the body as received so far (before any [`Staging::rewrite`] of ours):
    /// what the resend index keys a message by.
    pub fn sha256(&self) -> [u8; 32] {
        self.hasher.clone().finalize().into()
    }

    /// Hands the body to the commit; the staging file, if any, is the caller's from now on.
    pub(crate) fn finish(mut self) -> Finished {
        let sha256 = std::mem::take(&mut self.hasher).finalize().into();
        let content = match self.file.take() {
            Some(spill) => Content::File(spill),
            None => Content::Memory(std::mem::take(&mut self.mem)),
        };
        Finished {
            len: self.len,
            sha256,
            content,
        }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Some(spill) = self.file.take() {
            spill.remove();
        }
    }
}

impl SpillFile {
    /// Closes and removes the file (best effort: start-up removes what is left).
    pub(crate) fn remove(self) {
        drop(self.file);
        if let Err(err) = fs::remove_file(&self.path) {
            tracing::warn!(error = %err, path = %self.path.display(), "cannot remove spool staging file");
        }
    }
}

/// Creates a new, empty `<dir>/<unique>.tmp` (mode 0600) that no one else has.
pub(crate) fn create_tmp(dir: &Path) -> io::Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut last_err = None;
    for _ in 0..16 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{}-{nanos}-{n}{TMP_SUFFIX}", std::process::id()));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(file) => return Ok((path, file)),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => last_err = Some(err),
            Err(err) => return Err(err),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("cannot create a staging file")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staging(dir: &Path, threshold: u64) -> Staging {
        Staging::new(dir.to_path_buf(), threshold, None)
    }

    fn files_in(dir: &Path) -> Vec<PathBuf> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    }

    #[test]
    fn small_bodies_stay_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = staging(dir.path(), 10);
        s.write(b"hello").unwrap();
        s.write(b"world").unwrap();
        assert!(!s.is_file());
        assert_eq!(s.len(), 10);
        assert_eq!(&*s.bytes().unwrap(), b"helloworld");
        assert!(files_in(dir.path()).is_empty());
    }

    #[test]
    fn rewrite_prepends_and_drops_but_keeps_the_hash_of_what_arrived() {
        for threshold in [1000, 4] {
            let dir = tempfile::tempdir().unwrap();
            let mut s = staging(dir.path(), threshold);
            s.write(b"A: 1\r\nB: 2\r\nC: 3\r\n").unwrap();
            let dropped = vec![std::ops::Range { start: 6, end: 12 }];
            let shift = s.rewrite(b"T: 0\r\n", |_| dropped).unwrap();
            assert_eq!(&*s.bytes().unwrap(), b"T: 0\r\nA: 1\r\nC: 3\r\n");
            assert_eq!(shift.dropped(), 1);
            // "C: 3" was at 12..16 and is at 12..16 again (6 bytes put before, 6 left out);
            // "A: 1" moved by the prefix; "B: 2" is gone.
            assert_eq!(shift.range(12, 16), Some((12, 16)));
            assert_eq!(shift.range(0, 4), Some((6, 10)));
            assert_eq!(shift.range(6, 10), None);
            assert_eq!(shift.range(4, 8), None);
            assert_eq!(s.len(), 18);
            let finished = s.finish();
            assert_eq!(
                finished.sha256,
                <[u8; 32]>::from(Sha256::digest(b"A: 1\r\nB: 2\r\nC: 3\r\n"))
            );
            if let Content::File(spill) = finished.content {
                spill.remove();
            }
            assert!(files_in(dir.path()).is_empty(), "threshold {threshold}");
        }
    }

    #[test]
    fn crossing_the_threshold_moves_the_body_to_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = staging(dir.path(), 10);
        s.write(b"hello").unwrap();
        s.write(b"world!").unwrap();
        s.write(b" more").unwrap();
        assert!(s.is_file());
        let path = s.file_path().unwrap().to_path_buf();
        assert_eq!(fs::read(&path).unwrap(), b"helloworld! more");
        assert_eq!(&*s.bytes().unwrap(), b"helloworld! more");
        assert_eq!(s.len(), 16);
        let finished = s.finish();
        assert_eq!(
            finished.sha256,
            <[u8; 32]>::from(Sha256::digest(b"helloworld! more"))
        );
        match finished.content {
            Content::File(spill) => spill.remove(),
            Content::Memory(_) => panic!("expected a file"),
        }
        assert!(files_in(dir.path()).is_empty());
    }

    #[test]
    fn a_dropped_staging_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = staging(dir.path(), 0);
        s.write(b"x").unwrap();
        let path = s.file_path().unwrap().to_path_buf();
        assert!(path.exists());
        drop(s);
        assert!(!path.exists());
        assert!(files_in(dir.path()).is_empty());
    }

    #[test]
    fn injected_enospc_is_storage_full_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let faults = FaultInjector::new();
        let mut s = Staging::new(dir.path().to_path_buf(), 4, Some(faults.clone()));
        s.write(b"abc").unwrap();
        faults.fail_writes(true);
        let err = s.write(b"defgh").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        drop(s);
        assert!(files_in(dir.path()).is_empty());
    }
}
