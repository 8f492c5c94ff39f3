//! The Windows implementation of the platform layer. See [`crate::platform`] for the interface.

mod owner_only;
mod wait;

use std::ffi::{CStr, OsString};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::windows::ffi::OsStringExt;
use std::os::windows::fs::OpenOptionsExt;
use std::os::windows::io::AsRawHandle;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use windows_sys::Win32::Foundation::{
    ERROR_DISK_FULL, ERROR_HANDLE_DISK_FULL, ERROR_LOCK_VIOLATION, HANDLE,
};
use windows_sys::Win32::Globalization::{MultiByteToWideChar, CP_ACP};
use windows_sys::Win32::Storage::FileSystem::{
    FileAllocationInfo, FileStandardInfo, GetFileInformationByHandle, GetFileInformationByHandleEx,
    LockFileEx, SetFileInformationByHandle, UnlockFileEx, BY_HANDLE_FILE_INFORMATION,
    FILE_ALLOCATION_INFO, FILE_FLAG_BACKUP_SEMANTICS, FILE_SHARE_DELETE, FILE_SHARE_READ,
    FILE_SHARE_WRITE, FILE_STANDARD_INFO, LOCKFILE_EXCLUSIVE_LOCK, LOCKFILE_FAIL_IMMEDIATELY,
};
use windows_sys::Win32::System::Performance::{QueryPerformanceCounter, QueryPerformanceFrequency};
use windows_sys::Win32::System::SystemInformation::GetTickCount64;
use windows_sys::Win32::System::IO::OVERLAPPED;

use super::{AllocError, FileId};

pub(crate) use wait::WakeChannel;

/// Every process may read, write, rename and delete the file while we have it open, as on Unix.
const SHARE_ALL: u32 = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;

fn handle(file: &File) -> HANDLE {
    file.as_raw_handle()
}

/// Opens an existing file for reading and writing, sharing read, write and delete access.
pub(crate) fn open_read_write(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .share_mode(SHARE_ALL)
        .open(path)
}

/// Opens an existing file for reading only, sharing read, write and delete access.
pub(crate) fn open_read_only(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .share_mode(SHARE_ALL)
        .open(path)
}

/// Opens `path` for reading and writing, creating it if missing. A file this call creates is
/// accessible to the current user only when `mode` grants nothing to group and others (a
/// protected access list naming the user), else it inherits its folder's access list; an
/// existing file keeps its own.
pub(crate) fn create_or_open(path: &Path, mode: u32) -> io::Result<File> {
    let created = if mode & 0o077 == 0 {
        owner_only::create_new(path, SHARE_ALL)
    } else {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .share_mode(SHARE_ALL)
            .open(path)
    };
    match created {
        Ok(file) => Ok(file),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => open_read_write(path),
        Err(e) => Err(e),
    }
}

/// The identity of an open file: volume serial number and file index.
pub(crate) fn file_id(file: &File) -> io::Result<FileId> {
    // SAFETY: all-zero is a valid BY_HANDLE_FILE_INFORMATION (plain integers).
    let mut info: BY_HANDLE_FILE_INFORMATION = unsafe { std::mem::zeroed() };
    // SAFETY: the handle is open for the call (borrowed from `file`) and `info` is writable.
    if unsafe { GetFileInformationByHandle(handle(file), &mut info) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(FileId {
        volume: u64::from(info.dwVolumeSerialNumber),
        index: u64::from(info.nFileIndexHigh) << 32 | u64::from(info.nFileIndexLow),
    })
}

/// The identity of the file a path names now (opened for no access, so any file can be asked;
/// a file pending deletion cannot be opened and gives an error).
pub(crate) fn path_id(path: &Path) -> io::Result<FileId> {
    let file = OpenOptions::new()
        .access_mode(0)
        .share_mode(SHARE_ALL)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
        .open(path)?;
    file_id(&file)
}

/// Whether an open file has been deleted (delete pending, or no links left).
pub(crate) fn is_deleted(file: &File) -> bool {
    // SAFETY: all-zero is a valid FILE_STANDARD_INFO (integers and booleans).
    let mut info: FILE_STANDARD_INFO = unsafe { std::mem::zeroed() };
    // SAFETY: the handle is open for the call; `info` is writable and its size is passed.
    let ok = unsafe {
        GetFileInformationByHandleEx(
            handle(file),
            FileStandardInfo,
            (&mut info as *mut FILE_STANDARD_INFO).cast(),
            std::mem::size_of::<FILE_STANDARD_INFO>() as u32,
        )
    };
    ok == 0 || info.DeletePending || info.NumberOfLinks == 0
}

fn alloc_error(e: &io::Error) -> AllocError {
    match e.raw_os_error().map(|c| c as u32) {
        Some(ERROR_DISK_FULL) | Some(ERROR_HANDLE_DISK_FULL) => AllocError::NoSpace,
        _ => AllocError::Other,
    }
}

/// Reserves `len` bytes of disk space for `file` and makes it at least `len` bytes long. A file
/// that is already at least `len` bytes long is left alone: an allocation size below the end of
/// the file would truncate it.
pub(crate) fn allocate(file: &File, len: u64) -> Result<(), AllocError> {
    let size = i64::try_from(len).map_err(|_| AllocError::TooLarge)?;
    let current = file.metadata().map_err(|_| AllocError::Other)?.len();
    if current >= len {
        return Ok(());
    }
    let info = FILE_ALLOCATION_INFO {
        AllocationSize: size,
    };
    // SAFETY: the handle is open for writing for the call; `info` is a valid
    // FILE_ALLOCATION_INFO whose size is passed.
    let ok = unsafe {
        SetFileInformationByHandle(
            handle(file),
            FileAllocationInfo,
            (&info as *const FILE_ALLOCATION_INFO).cast(),
            std::mem::size_of::<FILE_ALLOCATION_INFO>() as u32,
        )
    };
    if ok == 0 {
        let e = io::Error::last_os_error();
        if matches!(alloc_error(&e), AllocError::NoSpace) {
            return Err(AllocError::NoSpace);
        }
        // File systems that cannot reserve: setting the length below still sizes the file.
    }
    file.set_len(len).map_err(|e| alloc_error(&e))
}

/// A coarse monotonic clock in nanoseconds (`GetTickCount64`: no system call, 10 to 16 ms
/// resolution).
#[inline]
pub(crate) fn coarse_now_ns() -> u64 {
    // SAFETY: no preconditions.
    unsafe { GetTickCount64() }.saturating_mul(1_000_000)
}

/// The system-wide monotonic clock in nanoseconds (the performance counter): comparable between
/// processes on one machine.
pub(crate) fn monotonic_ns() -> u64 {
    static FREQUENCY: OnceLock<u64> = OnceLock::new();
    let freq = *FREQUENCY.get_or_init(|| {
        let mut f = 0i64;
        // SAFETY: `f` is writable; the call cannot fail on Windows XP and later.
        unsafe { QueryPerformanceFrequency(&mut f) };
        u64::try_from(f).unwrap_or(1).max(1)
    });
    let mut count = 0i64;
    // SAFETY: `count` is writable.
    unsafe { QueryPerformanceCounter(&mut count) };
    let count = u64::try_from(count).unwrap_or(0);
    (u128::from(count) * 1_000_000_000 / u128::from(freq)) as u64
}

/// A C file name as a path: UTF-8 when it is valid UTF-8, else the ANSI code page (what
/// `CreateFileA` would do).
pub(crate) fn path_from_c(name: &CStr) -> PathBuf {
    let bytes = name.to_bytes();
    if let Ok(s) = std::str::from_utf8(bytes) {
        return PathBuf::from(s);
    }
    PathBuf::from(ansi_to_wide(bytes))
}

fn ansi_to_wide(bytes: &[u8]) -> OsString {
    let Ok(len) = i32::try_from(bytes.len()) else {
        return OsString::new();
    };
    // SAFETY: `bytes` is readable for `len` bytes; with a NULL output the call only measures.
    let wide_len =
        unsafe { MultiByteToWideChar(CP_ACP, 0, bytes.as_ptr(), len, std::ptr::null_mut(), 0) };
    let Ok(n) = usize::try_from(wide_len) else {
        return OsString::new();
    };
    let mut wide = vec![0u16; n];
    // SAFETY: `wide` is writable for `wide_len` UTF-16 units, as measured above.
    let written =
        unsafe { MultiByteToWideChar(CP_ACP, 0, bytes.as_ptr(), len, wide.as_mut_ptr(), wide_len) };
    wide.truncate(usize::try_from(written).unwrap_or(0));
    OsString::from_wide(&wide)
}

/// Whether a process with this id is running (it may be another process that reused the id).
pub(crate) fn process_exists(pid: u32) -> bool {
    use windows_sys::Win32::Foundation::{CloseHandle, STILL_ACTIVE};
    use windows_sys::Win32::System::Threading::{
        GetExitCodeProcess, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION,
    };
    // SAFETY: OpenProcess has no memory preconditions; a NULL result means no such process (or
    // no access, which still means it exists: treated as running by the exit-code check below
    // failing to run).
    let h = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if h.is_null() {
        return io::Error::last_os_error().raw_os_error() == Some(5); // ERROR_ACCESS_DENIED
    }
    let mut code = 0u32;
    // SAFETY: `h` is an open process handle, closed once below; `code` is writable.
    let running = unsafe { GetExitCodeProcess(h, &mut code) } != 0 && code == STILL_ACTIVE as u32;
    // SAFETY: as above.
    unsafe { CloseHandle(h) };
    running
}

/// A mapped file cannot be truncated on Windows (`SetEndOfFile` fails with
/// `ERROR_USER_MAPPED_FILE` while a view exists), so there is nothing to protect.
#[derive(Debug)]
pub(crate) struct FaultGuard;

impl FaultGuard {
    /// Nothing to register.
    pub(crate) fn protect(_start: usize, _len: usize) -> FaultGuard {
        FaultGuard
    }

    /// Always false: the mapping cannot lose its pages.
    #[inline]
    pub(crate) fn faulted(&self) -> bool {
        false
    }
}

/// Two handles of one process on a file see each other's [`RangeLock`]s: Windows locks belong
/// to the handle.
pub(crate) const LOCKS_SEEN_WITHIN_PROCESS: bool = true;

/// An exclusive lock on one byte of a file (`LockFileEx`), held until dropped or until the
/// process dies (Windows releases it then). The byte may lie past the end of the file.
#[derive(Debug)]
pub(crate) struct RangeLock {
    /// A duplicate handle through which the lock was taken, kept open while it is held.
    file: File,
    offset: u64,
}

fn overlapped_at(offset: u64) -> OVERLAPPED {
    // SAFETY: all-zero is a valid OVERLAPPED (integers, a union of integers, a null handle).
    let mut ov: OVERLAPPED = unsafe { std::mem::zeroed() };
    ov.Anonymous.Anonymous.Offset = offset as u32;
    ov.Anonymous.Anonymous.OffsetHigh = (offset >> 32) as u32;
    ov
}

fn try_lock_byte(file: &File, offset: u64) -> io::Result<bool> {
    let mut ov = overlapped_at(offset);
    // SAFETY: the handle is open for the call; `ov` is a valid OVERLAPPED naming the byte, and
    // the handle is synchronous, so the call completes before returning.
    let ok = unsafe {
        LockFileEx(
            handle(file),
            LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY,
            0,
            1,
            0,
            &mut ov,
        )
    };
    if ok != 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(ERROR_LOCK_VIOLATION as i32) {
        Ok(false)
    } else {
        Err(e)
    }
}

fn unlock_byte(file: &File, offset: u64) {
    let mut ov = overlapped_at(offset);
    // SAFETY: as in `try_lock_byte`.
    unsafe { UnlockFileEx(handle(file), 0, 1, 0, &mut ov) };
}

impl RangeLock {
    /// Takes the lock on byte `offset` of `file`; `Ok(None)` when another holder has it.
    pub(crate) fn try_lock(file: &File, offset: u64) -> io::Result<Option<RangeLock>> {
        let file = file.try_clone()?;
        Ok(try_lock_byte(&file, offset)?.then_some(RangeLock { file, offset }))
    }

    /// Whether someone else holds the lock on byte `offset` of the file, probed through `file`
    /// (which must not hold it itself; read-only will do) by taking and releasing it at once:
    /// Windows has no way to ask without taking.
    pub(crate) fn is_held(file: &File, offset: u64) -> io::Result<bool> {
        if try_lock_byte(file, offset)? {
            unlock_byte(file, offset);
            Ok(false)
        } else {
            Ok(true)
        }
    }
}

impl Drop for RangeLock {
    fn drop(&mut self) {
        unlock_byte(&self.file, self.offset);
    }
}
