//! The platform layer: everything that differs between operating systems, behind one small
//! interface. The transport core uses only what this module re-exports and has no `cfg` of its
//! own.
//!
//! | concern | Unix ([`unix`](self)) | Windows |
//! |---|---|---|
//! | opening a stream file | `open(O_RDWR)` | `CreateFileW`, sharing read, write and delete |
//! | creating one owner-only | `O_CREAT` with mode 0600, then `fchmod` | a protected DACL granting the current user only |
//! | file identity | device and inode | volume serial number and file index |
//! | deleted while open | link count 0 | delete pending |
//! | allocating space | `fallocate` (Linux), `F_PREALLOCATE` (macOS), else `posix_fallocate` | `FileAllocationInfo`, then `SetEndOfFile` |
//! | cross-process wait and wake | futex (Linux), `os_sync_wait_on_address` (macOS 14.4+), `_umtx_op` (FreeBSD), else sliced sleeps | a named semaphore per wait word, named after the file's identity |
//! | truncation protection | a SIGBUS handler scoped to our mappings | none needed: a mapped file cannot be truncated |
//! | coarse monotonic clock | `CLOCK_MONOTONIC_COARSE` (Linux), `CLOCK_MONOTONIC_FAST` (FreeBSD) | `GetTickCount64` |
//! | C file names | bytes as they are | UTF-8, else the ANSI code page |
//!
//! Both implementations provide exactly these items, with the same signatures:
//!
//! - `open_read_write(&Path) -> io::Result<File>`, `open_read_only(&Path) -> io::Result<File>`
//! - `create_or_open(&Path, mode: u32) -> io::Result<File>` (a new file gets exactly `mode`)
//! - `file_id(&File) -> io::Result<FileId>`, `path_id(&Path) -> io::Result<FileId>`
//! - `is_deleted(&File) -> bool`
//! - `allocate(&File, len: u64) -> Result<(), AllocError>`
//! - `FaultGuard::protect(start, len)`, `FaultGuard::faulted()`
//! - `WakeChannel::open(FileId)`, `WakeChannel::wait`, `WakeChannel::wake_all`
//! - `coarse_now_ns()`, `monotonic_ns()`
//! - `path_from_c(&CStr) -> PathBuf`
//! - `RangeLock` (a lock on one byte of a file, released by the system when the process dies),
//!   and `LOCKS_SEEN_WITHIN_PROCESS` (whether two handles of one process on a file see each
//!   other's locks); `process_exists(pid)`, a second opinion where they do not

#[cfg(unix)]
#[path = "unix/mod.rs"]
mod imp;

#[cfg(windows)]
#[path = "windows/mod.rs"]
mod imp;

pub(crate) use imp::{
    allocate, coarse_now_ns, create_or_open, file_id, is_deleted, monotonic_ns, open_read_only,
    open_read_write, path_from_c, path_id, process_exists, FaultGuard, RangeLock, WakeChannel,
    LOCKS_SEEN_WITHIN_PROCESS,
};

/// Which file a handle or path refers to: (device, inode) on Unix, (volume serial number, file
/// index) on Windows. Two equal ids name the same file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FileId {
    /// Device (Unix) or volume serial number (Windows).
    pub volume: u64,
    /// Inode (Unix) or file index (Windows).
    pub index: u64,
}

/// Why space could not be allocated for a file.
#[derive(Debug)]
pub(crate) enum AllocError {
    /// The file system is full, or a quota is exceeded.
    NoSpace,
    /// The length is beyond what the file system supports.
    TooLarge,
    /// Any other failure.
    Other,
}

/// Why a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woke {
    /// The other side woke this waiter.
    Woken,
    /// The timeout passed.
    TimedOut,
    /// The word did not hold the expected value, a signal arrived, or this platform cannot
    /// wait on memory (the caller re-checks and waits again).
    Other,
}

/// What a wake-up call found out about the waiters it was meant for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// At least one waiter was asleep and was woken.
    WokeSome,
    /// Nobody was asleep to be woken: the waiters counted in the file have not gone to sleep yet,
    /// or are dead. (Systems that cannot tell never say so.)
    #[cfg_attr(
        not(any(
            target_os = "linux",
            target_os = "android",
            target_os = "macos",
            windows
        )),
        allow(dead_code)
    )]
    WokeNobody,
    /// The platform cannot tell.
    Unknown,
}
