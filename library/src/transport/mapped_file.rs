//! A stream file mapped into memory, whatever its kind: opening and mapping it, typed atomic
//! access at byte offsets, the health of the mapping (truncated, deleted, replaced), and the
//! file's wait channel. The two file kinds ([`crate::transport::two_buffer::file`] for the two-buffer
//! file, [`crate::transport::broadcast`] for broadcast streams) lay their structures over it.
//!
//! This is the only module that turns the mapping's address into references. Words another
//! process may write at any time are accessed only through atomics; byte slices of a payload
//! are handed out only to a caller that owns it under its file's state machine.

use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use memmap2::{MmapOptions, MmapRaw};

use crate::platform::{self, FaultGuard, FileId, Wake, WakeChannel, Woke};
use crate::transport::error::Error;

/// A counted reference that keeps a stream's mapping alive: every address of the file that
/// the stream handed out (frame pixels, through the C API) stays mapped and readable until the
/// last reference is dropped, even after the stream itself is gone, and reads through it keep
/// the stream's truncation protection (a truncated file reads as zeros). For zero-copy views in
/// garbage-collected languages; Rust code has the borrow checker instead.
#[derive(Clone)]
pub struct MappingRef(Arc<dyn Send + Sync>);

impl MappingRef {
    /// A reference that keeps `owner` (something that owns a mapping) alive.
    pub(crate) fn new(owner: Arc<dyn Send + Sync>) -> MappingRef {
        MappingRef(owner)
    }
}

impl std::fmt::Debug for MappingRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappingRef")
            .field("references", &Arc::strong_count(&self.0))
            .finish()
    }
}

/// The error of a stream file that could not be opened: a missing file is
/// [`Error::BadFileSize`], any other failure [`Error::UnableToOpenFile`].
fn opened(file: std::io::Result<File>) -> Result<File, Error> {
    file.map_err(|e| match e.kind() {
        ErrorKind::NotFound => Error::BadFileSize,
        _ => Error::UnableToOpenFile,
    })
}

/// How often (at most) a stream checks that its path still names the file it mapped and that the
/// file still has its length.
pub(crate) const IDENTITY_CHECK_NS: u64 = 250_000_000;

/// An open, mapped stream file. Dropping it unmaps the file.
#[derive(Debug)]
pub(crate) struct MappedFile {
    /// Truncation protection of the mapping; declared before `map` so that it is dropped (and the
    /// protection withdrawn) before the mapping goes away.
    guard: FaultGuard,
    map: MmapRaw,
    len: usize,
    file: File,
    path: PathBuf,
    identity: FileId,
    channel: WakeChannel,
    /// Set when the path no longer names the mapped file (deleted or replaced), or the file
    /// became shorter than the mapping.
    broken: AtomicBool,
    /// Coarse clock reading of the last identity check.
    last_check: AtomicU64,
}

impl MappedFile {
    /// Opens `path` read/write and maps all of it, shared, when it is at least `min_len` bytes.
    ///
    /// Errors: a missing file or one under `min_len` gives [`Error::BadFileSize`]; a file that
    /// exists but cannot be opened read/write (a directory, no permission, not a regular file)
    /// gives [`Error::UnableToOpenFile`]; a failed mapping gives [`Error::UnableToMapFile`].
    pub fn open(path: &Path, min_len: u64) -> Result<MappedFile, Error> {
        MappedFile::map(opened(platform::open_read_write(path))?, path, min_len)
    }

    /// Opens `path` read-only and maps all of it read-only: for looking at a file without
    /// changing it (the atomics of such a mapping may only be loaded; a store would fault).
    ///
    /// # Errors
    /// As [`MappedFile::open`].
    pub fn open_read_only(path: &Path, min_len: u64) -> Result<MappedFile, Error> {
        MappedFile::map_with(opened(platform::open_read_only(path))?, path, min_len, true)
    }

    /// Maps an already open file (see [`MappedFile::open`]).
    pub fn map(file: File, path: &Path, min_len: u64) -> Result<MappedFile, Error> {
        MappedFile::map_with(file, path, min_len, false)
    }

    fn map_with(
        file: File,
        path: &Path,
        min_len: u64,
        read_only: bool,
    ) -> Result<MappedFile, Error> {
        let meta = file.metadata().map_err(|_| Error::UnableToOpenFile)?;
        if !meta.is_file() {
            return Err(Error::UnableToOpenFile);
        }
        if meta.len() < min_len {
            return Err(Error::BadFileSize);
        }
        let len = usize::try_from(meta.len()).map_err(|_| Error::UnableToMapFile)?;
        let identity = platform::file_id(&file).map_err(|_| Error::UnableToOpenFile)?;
        let options = MmapOptions::new().len(len).clone();
        let map = if read_only {
            options.map_raw_read_only(&file)
        } else {
            options.map_raw(&file)
        }
        .map_err(|_| Error::UnableToMapFile)?;
        let guard = FaultGuard::protect(map.as_ptr() as usize, len);
        Ok(MappedFile {
            guard,
            map,
            len,
            file,
            path: path.to_path_buf(),
            identity,
            channel: WakeChannel::open(identity),
            broken: AtomicBool::new(false),
            last_check: AtomicU64::new(platform::coarse_now_ns()),
        })
    }

    /// The mapped length in bytes (the file's length when it was opened).
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// The open file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// `Err(Error::BadFileSize)` once the file shrank under the mapping (a fault was caught, or
    /// a check found it shorter) or a check found that the path names another file (deleted or
    /// replaced); `Ok` otherwise. Two atomic loads, no system call.
    #[inline]
    pub fn health(&self) -> Result<(), Error> {
        if self.guard.faulted() || self.broken.load(Ordering::Relaxed) {
            Err(Error::BadFileSize)
        } else {
            Ok(())
        }
    }

    /// Checks, at most every 250 ms, that the file is still linked, that the path still names it
    /// and that it still has its length (system calls when due; one coarse clock read
    /// otherwise). Then as [`MappedFile::health`].
    #[inline]
    pub fn check_if_due(&self) -> Result<(), Error> {
        self.check_if_due_at(platform::coarse_now_ns())
    }

    /// [`MappedFile::check_if_due`] with the coarse clock already read (`now`, from
    /// [`MappedFile::coarse_now_ns`]).
    #[inline]
    pub fn check_if_due_at(&self, now: u64) -> Result<(), Error> {
        let last = self.last_check.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= IDENTITY_CHECK_NS {
            self.check_now(last, now);
        }
        self.health()
    }

    #[cold]
    fn check_now(&self, last: u64, now: u64) {
        // One thread checks; others go on with the last result.
        if self
            .last_check
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let intact = !platform::is_deleted(&self.file)
            && platform::path_id(&self.path).is_ok_and(|id| id == self.identity)
            && self
                .file
                .metadata()
                .is_ok_and(|m| m.len() >= self.len as u64);
        if !intact {
            self.broken.store(true, Ordering::Relaxed);
        }
    }

    /// The coarse monotonic clock the checks are timed with, in nanoseconds: a few nanoseconds
    /// to read, no system call, a resolution of a few milliseconds.
    #[inline]
    pub fn coarse_now_ns() -> u64 {
        platform::coarse_now_ns()
    }

    /// The byte at `offset`.
    ///
    /// # Panics
    /// When `offset` is outside the mapping.
    #[inline]
    pub fn u8_at(&self, offset: usize) -> &AtomicU8 {
        assert!(offset < self.len, "offset outside the mapping");
        // SAFETY: in bounds of the live mapping (checked above), which `self` keeps alive for
        // the returned lifetime; `AtomicU8` has the size and alignment of `u8`. Every access to
        // this byte from this process is atomic; another process may write it at any time,
        // which is exactly what an atomic permits.
        unsafe { AtomicU8::from_ptr(self.map.as_mut_ptr().add(offset)) }
    }

    /// The 4-byte word at `offset` (a multiple of 4).
    ///
    /// # Panics
    /// When the word is outside the mapping or misaligned.
    #[inline]
    pub fn u32_at(&self, offset: usize) -> &AtomicU32 {
        assert!(offset % 4 == 0 && offset + 4 <= self.len, "bad word offset");
        // SAFETY: in bounds (checked above); the mapping starts on a page boundary, so a
        // multiple of 4 is 4-byte aligned as `AtomicU32` requires. Access is atomic only.
        unsafe { AtomicU32::from_ptr(self.map.as_mut_ptr().add(offset).cast::<u32>()) }
    }

    /// The 8-byte word at `offset` (a multiple of 8).
    ///
    /// # Panics
    /// When the word is outside the mapping or misaligned.
    #[inline]
    pub fn u64_at(&self, offset: usize) -> &AtomicU64 {
        assert!(offset % 8 == 0 && offset + 8 <= self.len, "bad word offset");
        // SAFETY: as in `u32_at`, with 8-byte alignment from the page-aligned start.
        unsafe { AtomicU64::from_ptr(self.map.as_mut_ptr().add(offset).cast::<u64>()) }
    }

    /// The address of `len` bytes at `offset`.
    ///
    /// # Panics
    /// When the range is outside the mapping.
    #[inline]
    fn range_start(&self, offset: usize, len: usize) -> *mut u8 {
        assert!(
            offset <= self.len && len <= self.len - offset,
            "range outside the mapping"
        );
        // SAFETY: `offset` is within the live mapping (checked above), so the sum stays in
        // bounds of one allocation.
        unsafe { self.map.as_mut_ptr().add(offset) }
    }

    /// `len` bytes at `offset`.
    ///
    /// # Safety
    /// The caller must own the range under its file's state machine for the whole life of the
    /// slice, so that no cooperating process writes it meanwhile, and no `&mut` slice of it may
    /// exist in this process.
    ///
    /// # Panics
    /// When the range is outside the mapping.
    #[inline]
    pub unsafe fn bytes(&self, offset: usize, len: usize) -> &[u8] {
        // SAFETY: `range_start` checked the range against the live mapping, which `self` keeps
        // alive for the returned lifetime; u8 needs no alignment; exclusivity is the caller's
        // contract above.
        unsafe { std::slice::from_raw_parts(self.range_start(offset, len), len) }
    }

    /// `len` writable bytes at `offset`.
    ///
    /// # Safety
    /// As for [`MappedFile::bytes`], and no other slice of the range may exist in this process
    /// meanwhile.
    ///
    /// # Panics
    /// When the range is outside the mapping.
    #[allow(clippy::mut_from_ref)]
    #[inline]
    pub unsafe fn bytes_mut(&self, offset: usize, len: usize) -> &mut [u8] {
        // SAFETY: in bounds as in `bytes`; the mapping is writable (opened read/write, mapped
        // shared read/write); exclusivity is the caller's contract above.
        unsafe { std::slice::from_raw_parts_mut(self.range_start(offset, len), len) }
    }

    /// The address of `len` bytes at `offset`, for handing to C (which reads, and may write,
    /// through it under its own contract); no reference to the bytes is made.
    ///
    /// # Panics
    /// When the range is outside the mapping.
    #[inline]
    pub fn address_of(&self, offset: usize, len: usize) -> std::ptr::NonNull<u8> {
        std::ptr::NonNull::new(self.range_start(offset, len)).expect("a mapping is never at 0")
    }

    /// Sleeps while `word` (one of this file's words) holds `expected`, at most `timeout`; `key`
    /// names the word among the file's wait words (small integers).
    pub fn wait(&self, key: u32, word: &AtomicU32, expected: u32, timeout: Duration) -> Woke {
        if timeout.is_zero() {
            return Woke::TimedOut;
        }
        self.channel.wait(key, word, expected, timeout)
    }

    /// Wakes every process sleeping on `word` (key `key`), of which the file counts `waiters`.
    pub fn wake_all(&self, key: u32, word: &AtomicU32, waiters: u32) -> Wake {
        self.channel.wake_all(key, word, waiters)
    }
}
