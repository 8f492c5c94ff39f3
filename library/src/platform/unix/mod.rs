//! The Unix implementation of the platform layer (Linux, macOS, FreeBSD and other Unix systems).
//! See [`crate::platform`] for the interface.

mod range_lock;
mod sigbus;

#[cfg(any(test, not(any(target_os = "linux", target_os = "android"))))]
mod process_locks;

#[cfg_attr(
    any(target_os = "linux", target_os = "android"),
    path = "wait_linux.rs"
)]
#[cfg_attr(target_os = "macos", path = "wait_macos.rs")]
#[cfg_attr(target_os = "freebsd", path = "wait_freebsd.rs")]
#[cfg_attr(
    not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "freebsd"
    )),
    path = "wait_sleep.rs"
)]
mod wait;

use std::ffi::{CStr, OsStr};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use std::sync::atomic::AtomicU32;
use std::time::Duration;

use super::{AllocError, FileId, Wake, Woke};

pub(crate) use range_lock::{RangeLock, LOCKS_SEEN_WITHIN_PROCESS};
pub(crate) use sigbus::FaultGuard;

/// Opens an existing file for reading and writing.
pub(crate) fn open_read_write(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).open(path)
}

/// Opens an existing file for reading only.
pub(crate) fn open_read_only(path: &Path) -> io::Result<File> {
    File::open(path)
}

/// Opens `path` for reading and writing, creating it if missing. A file this call creates gets
/// exactly the permission bits `mode`, whatever the umask; an existing file keeps its own.
pub(crate) fn create_or_open(path: &Path, mode: u32) -> io::Result<File> {
    match OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
    {
        Ok(file) => {
            // The umask may have removed bits from `mode`; set them exactly.
            file.set_permissions(std::fs::Permissions::from_mode(mode))?;
            Ok(file)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => open_read_write(path),
        Err(e) => Err(e),
    }
}

fn id_of(meta: &std::fs::Metadata) -> FileId {
    FileId {
        volume: meta.dev(),
        index: meta.ino(),
    }
}

/// The identity of an open file.
pub(crate) fn file_id(file: &File) -> io::Result<FileId> {
    file.metadata().map(|m| id_of(&m))
}

/// The identity of the file a path names now.
pub(crate) fn path_id(path: &Path) -> io::Result<FileId> {
    std::fs::metadata(path).map(|m| id_of(&m))
}

/// Whether an open file has been deleted (no name links to it any more).
pub(crate) fn is_deleted(file: &File) -> bool {
    file.metadata().map(|m| m.nlink() == 0).unwrap_or(true)
}

/// Allocates `len` bytes for `file` (growing it to `len` when shorter), so that writes through a
/// mapping cannot later fail for want of space.
pub(crate) fn allocate(file: &File, len: u64) -> Result<(), AllocError> {
    let current = file.metadata().map_err(|_| AllocError::Other)?.len();
    match reserve(file, current, len) {
        Ok(()) => {}
        Err(e) => match e.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) | Some(libc::ENOMEM) => {
                return Err(AllocError::NoSpace)
            }
            Some(libc::EFBIG) => return Err(AllocError::TooLarge),
            // File systems that cannot reserve space: set the length (sparse) below.
            _ => {}
        },
    }
    if current < len {
        file.set_len(len).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => AllocError::NoSpace,
            Some(libc::EFBIG) => AllocError::TooLarge,
            _ => AllocError::Other,
        })?;
    }
    Ok(())
}

/// Reserves disk space for the first `len` bytes of `file`, which is `current` bytes long now.
///
/// Linux: the `fallocate` system call itself. Not `posix_fallocate`: where the file system
/// cannot allocate, glibc's fallback reads and writes back every block, which could undo writes
/// that a live stream makes through its mapping at the same moment.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn reserve(file: &File, _current: u64, len: u64) -> io::Result<()> {
    let len = libc::off_t::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    // SAFETY: the descriptor is open for writing and owned by `file` for the whole call;
    // fallocate reads no memory of ours. Mode 0 only allocates (and grows the file).
    if unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Other Unix systems (but macOS): `posix_fallocate`, only for a file that must grow: where it is
/// emulated by writing, it must not touch a file that a live stream may have mapped.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "macos")))]
fn reserve(file: &File, current: u64, len: u64) -> io::Result<()> {
    if current >= len {
        return Ok(());
    }
    let len = libc::off_t::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    // SAFETY: the descriptor is open for writing and owned by `file` for the whole call;
    // posix_fallocate reads no memory of ours.
    match unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) } {
        0 => Ok(()),
        rc => Err(io::Error::from_raw_os_error(rc)),
    }
}

#[cfg(target_os = "macos")]
fn reserve(file: &File, current: u64, len: u64) -> io::Result<()> {
    if current >= len {
        return Ok(());
    }
    let mut store = libc::fstore_t {
        fst_flags: libc::F_ALLOCATEALL,
        fst_posmode: libc::F_PEOFPOSMODE,
        fst_offset: 0,
        fst_length: libc::off_t::try_from(len - current)
            .map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?,
        fst_bytesalloc: 0,
    };
    // SAFETY: the descriptor is open for writing and owned by `file`; `store` is a valid,
    // writable fstore_t for the duration of the call.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_PREALLOCATE, &mut store) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A coarse monotonic clock in nanoseconds: a few nanoseconds to read and no system call, with a
/// resolution of a few milliseconds.
#[inline]
pub(crate) fn coarse_now_ns() -> u64 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    const CLOCK: libc::clockid_t = libc::CLOCK_MONOTONIC_COARSE;
    #[cfg(target_os = "freebsd")]
    const CLOCK: libc::clockid_t = libc::CLOCK_MONOTONIC_FAST;
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    const CLOCK: libc::clockid_t = libc::CLOCK_MONOTONIC;
    read_clock(CLOCK)
}

/// The system-wide monotonic clock in nanoseconds (`CLOCK_MONOTONIC`): comparable between
/// processes on one machine.
pub(crate) fn monotonic_ns() -> u64 {
    read_clock(libc::CLOCK_MONOTONIC)
}

#[inline]
fn read_clock(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock ids used exist on their targets.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A C file name as a path: Unix paths are bytes, taken as they are.
pub(crate) fn path_from_c(name: &CStr) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(name.to_bytes()))
}

/// Waits and wakes on words of one mapped file. On Unix a word's address names its wait queue
/// (the system's cross-process address wait, in the `wait_*.rs` file of each system), so the
/// channel holds nothing, and the word's key and the file's count of waiters are not needed.
#[derive(Debug)]
pub(crate) struct WakeChannel;

impl WakeChannel {
    /// The channel of the file `_id`.
    pub(crate) fn open(_id: FileId) -> WakeChannel {
        WakeChannel
    }

    /// Sleeps while `word` holds `expected`, at most `timeout`.
    pub(crate) fn wait(
        &self,
        _key: u32,
        word: &AtomicU32,
        expected: u32,
        timeout: Duration,
    ) -> Woke {
        wait::wait(word, expected, timeout)
    }

    /// Wakes every process sleeping on `word` (one system call).
    pub(crate) fn wake_all(&self, _key: u32, word: &AtomicU32, _waiters: u32) -> Wake {
        wait::wake_all(word)
    }
}

/// A relative timeout for a wait system call (seconds capped at `i32::MAX`).
#[cfg_attr(
    not(any(target_os = "linux", target_os = "android", target_os = "freebsd")),
    allow(dead_code)
)]
fn relative_timespec(timeout: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    }
}

/// How a wait system call that failed ended, from `errno`: its timeout passed, or anything
/// else (a signal, the word no longer held the value), after which the caller re-checks.
#[cfg_attr(
    not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "freebsd"
    )),
    allow(dead_code)
)]
fn failed_wait() -> Woke {
    if io::Error::last_os_error().raw_os_error() == Some(libc::ETIMEDOUT) {
        Woke::TimedOut
    } else {
        Woke::Other
    }
}

/// The longest sleep where the system cannot wait on memory across processes: each wait is a
/// sleep of at most this long, then the caller re-checks.
#[cfg_attr(
    any(target_os = "linux", target_os = "android", target_os = "freebsd"),
    allow(dead_code)
)]
const POLL_SLICE: Duration = Duration::from_micros(100);

/// A wait where the system has no cross-process address wait: a sleep of at most
/// [`POLL_SLICE`].
#[cfg_attr(
    any(target_os = "linux", target_os = "android", target_os = "freebsd"),
    allow(dead_code)
)]
fn poll_sleep(timeout: Duration) -> Woke {
    std::thread::sleep(timeout.min(POLL_SLICE));
    Woke::Other
}

/// Whether a process with this id exists (it may be another process that reused the id of one
/// that died: only a hint, for systems whose locks cannot tell on their own).
pub(crate) fn process_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks whether the process exists; no memory is involved.
    if unsafe { libc::kill(pid, 0) } == 0 {
        return true;
    }
    // EPERM: it exists, but belongs to another user.
    io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
