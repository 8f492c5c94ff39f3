//! Locks on one byte of a file that mark ownership (of a broadcast reader slot, of a server),
//! released by the kernel when their process dies.
//!
//! Linux has open-file-description locks (`F_OFD_SETLK`): they belong to an open file, so two
//! streams of one process on a file see each other's locks, and closing another descriptor of the
//! file drops nothing. Other Unix systems have only classic POSIX record locks, which belong to
//! the process; [`super::process_locks`] makes them usable there.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// An exclusive lock on one byte of an open file, held until dropped or until the process dies.
/// The byte may lie past the end of the file: the lock marks ownership, it protects no data.
///
/// Linux: a duplicate of the descriptor the lock was taken through (the same open file
/// description, which owns the lock), kept open while the lock is held.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[derive(Debug)]
pub(crate) struct RangeLock {
    file: File,
    offset: u64,
}

/// An exclusive lock on one byte of an open file, held until dropped or until the process dies.
/// The byte may lie past the end of the file: the lock marks ownership, it protects no data.
///
/// Elsewhere: an entry in the process's table of record locks, given back when dropped.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
#[derive(Debug)]
pub(crate) struct RangeLock {
    _held: super::process_locks::ProcessLock,
}

/// Whether two open handles of one process on a file see each other's [`RangeLock`]s, and a
/// lock survives the closing of other descriptors of its file: yes with Linux's
/// open-file-description locks; no with the classic POSIX record locks of other Unix systems,
/// whose locks a process loses when it closes any descriptor of the file (this module's table
/// still keeps two streams of the process apart).
pub(crate) const LOCKS_SEEN_WITHIN_PROCESS: bool =
    cfg!(any(target_os = "linux", target_os = "android"));

/// The `fcntl` commands that set and test a lock.
#[cfg(any(target_os = "linux", target_os = "android"))]
const SET_LOCK: libc::c_int = libc::F_OFD_SETLK;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const SET_LOCK: libc::c_int = libc::F_SETLK;
#[cfg(any(target_os = "linux", target_os = "android"))]
const GET_LOCK: libc::c_int = libc::F_OFD_GETLK;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const GET_LOCK: libc::c_int = libc::F_GETLK;

/// Taking or giving back a lock.
#[derive(Clone, Copy)]
pub(super) enum LockKind {
    Exclusive,
    Unlock,
}

/// A `flock` naming byte `offset` (`l_pid` 0, as open-file-description locks require), an
/// exclusive lock or an unlock.
fn one_byte(offset: u64, kind: LockKind) -> io::Result<libc::flock> {
    // SAFETY: an all-zero flock is a valid value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    // (F_WRLCK and F_UNLCK are ints on some systems and shorts on others.)
    fl.l_type = match kind {
        LockKind::Exclusive => libc::F_WRLCK as _,
        LockKind::Unlock => libc::F_UNLCK as _,
    };
    fl.l_whence = libc::SEEK_SET as _;
    fl.l_start =
        libc::off_t::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    fl.l_len = 1;
    Ok(fl)
}

/// One non-blocking request `set_lock` (`F_SETLK` or `F_OFD_SETLK`) on byte `offset`:
/// `Ok(false)` when another holder conflicts.
pub(super) fn lock_request(
    file: &File,
    offset: u64,
    kind: LockKind,
    set_lock: libc::c_int,
) -> io::Result<bool> {
    let fl = one_byte(offset, kind)?;
    // SAFETY: the descriptor is open for the whole call (borrowed from `file`) and `fl` is a
    // valid flock that fcntl only reads.
    if unsafe { libc::fcntl(file.as_raw_fd(), set_lock, &fl) } == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(false),
        _ => Err(e),
    }
}

impl RangeLock {
    /// Takes the lock on byte `offset` of `file`; `Ok(None)` when another holder has it
    /// (another process, or another stream of this one).
    pub(crate) fn try_lock(file: &File, offset: u64) -> io::Result<Option<RangeLock>> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let file = file.try_clone()?;
            Ok(lock_request(&file, offset, LockKind::Exclusive, SET_LOCK)?
                .then_some(RangeLock { file, offset }))
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            Ok(
                super::process_locks::ProcessLock::try_lock(file, offset, SET_LOCK)?
                    .map(|held| RangeLock { _held: held }),
            )
        }
    }

    /// Whether someone else holds the lock on byte `offset` of the file, asked through `file`
    /// (which may be read-only) without taking the lock.
    pub(crate) fn is_held(file: &File, offset: u64) -> io::Result<bool> {
        is_held_with(file, offset, GET_LOCK)
    }
}

/// [`RangeLock::is_held`] with the test command `get_lock`.
pub(super) fn is_held_with(file: &File, offset: u64, get_lock: libc::c_int) -> io::Result<bool> {
    let mut fl = one_byte(offset, LockKind::Exclusive)?;
    // SAFETY: the descriptor is open for the call (borrowed from `file`); `fl` is a valid,
    // writable flock that fcntl fills in.
    if unsafe { libc::fcntl(file.as_raw_fd(), get_lock, &mut fl) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(fl.l_type != libc::F_UNLCK as _)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
impl Drop for RangeLock {
    fn drop(&mut self) {
        let _ = lock_request(&self.file, self.offset, LockKind::Unlock, SET_LOCK);
    }
}
