//! Fault injection: a seam that makes the spool's disk fail on demand, for tests.
//!
//! [`Spool::open_with_faults`](super::Spool::open_with_faults) opens the database through
//! [`FaultyBackend`], redb's file backend wrapped so that `write` and `sync_data` fail while the
//! test says so; the same switches make body files (staging writes, their fsync) fail. It is
//! never used by the daemon's normal open, and it never fakes success: it only adds errors.

use std::fmt;
use std::fs::File;
use std::io;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};

/// Switches that make spool disk operations fail; clone it to keep a handle in the test.
#[derive(Clone, Default)]
pub struct FaultInjector {
    state: Arc<State>,
}

#[derive(Default)]
struct State {
    /// `sync_data` of the database and `sync_all` of body files fail with EIO.
    fail_syncs: AtomicBool,
    /// Writes to the database and to body files fail with ENOSPC.
    fail_writes: AtomicBool,
}

impl fmt::Debug for FaultInjector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultInjector")
            .field("fail_syncs", &self.state.fail_syncs.load(Ordering::SeqCst))
            .field(
                "fail_writes",
                &self.state.fail_writes.load(Ordering::SeqCst),
            )
            .finish()
    }
}

impl FaultInjector {
    /// No faults yet.
    pub fn new() -> FaultInjector {
        FaultInjector::default()
    }

    /// While on, every fsync of the database or of a body file fails with EIO.
    pub fn fail_syncs(&self, on: bool) {
        self.state.fail_syncs.store(on, Ordering::SeqCst);
    }

    /// While on, every write to the database or to a body file fails with ENOSPC.
    pub fn fail_writes(&self, on: bool) {
        self.state.fail_writes.store(on, Ordering::SeqCst);
    }

    /// Turns every fault off.
    pub fn clear(&self) {
        self.fail_syncs(false);
        self.fail_writes(false);
    }

    /// `Err(EIO)` while syncs fail.
    pub(crate) fn check_sync(&self) -> io::Result<()> {
        if self.state.fail_syncs.load(Ordering::SeqCst) {
            return Err(rustix::io::Errno::IO.into());
        }
        Ok(())
    }

    /// `Err(ENOSPC)` while writes fail.
    pub(crate) fn check_write(&self) -> io::Result<()> {
        if self.state.fail_writes.load(Ordering::SeqCst) {
            return Err(rustix::io::Errno::NOSPC.into());
        }
        Ok(())
    }
}

/// `Ok` without faults, else the injected error.
pub(crate) fn check_sync(faults: Option<&FaultInjector>) -> io::Result<()> {
    faults.map_or(Ok(()), FaultInjector::check_sync)
}

/// `Ok` without faults, else the injected error.
pub(crate) fn check_write(faults: Option<&FaultInjector>) -> io::Result<()> {
    faults.map_or(Ok(()), FaultInjector::check_write)
}

/// redb's file backend with injected faults; locking is passed through unchanged, so the
/// one-process rule of the database still holds.
#[derive(Debug)]
pub(crate) struct FaultyBackend {
    inner: FileBackend,
    faults: FaultInjector,
}

impl FaultyBackend {
    /// Wraps `file` (opened read-write).
    pub(crate) fn new(
        file: File,
        faults: FaultInjector,
    ) -> Result<FaultyBackend, redb::DatabaseError> {
        Ok(FaultyBackend {
            inner: FileBackend::new(file)?,
            faults,
        })
    }
}

impl StorageBackend for FaultyBackend {
    fn len(&self) -> Result<u64, io::Error> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.faults.check_write()?;
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        self.faults.check_sync()?;
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        self.faults.check_write()?;
        self.inner.write(offset, data)
    }

    fn close(&self) -> Result<(), io::Error> {
        self.inner.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}
