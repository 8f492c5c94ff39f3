//! The `createfile` extension: create or grow a stream file with its space really allocated, and
//! readable by its owner only unless asked otherwise.

use std::fs::File;
use std::path::Path;

use crate::platform::{self, AllocError};
use crate::transport::error::Error;
use crate::transport::two_buffer::layout;

/// The permissions of a file [`create_file`] creates: read and write for its owner only.
pub const OWNER_ONLY: u32 = 0o600;

/// Creates `path` (or grows an existing file) so that frames up to `max_width` x `max_height`
/// fit, never below the 10 MiB minimum, and returns the file's length afterwards. A file this
/// call creates is readable and writable by its owner only (mode 0600 on Unix whatever the
/// umask; on Windows a protected access list that grants the current user alone); an existing
/// file keeps its permissions.
///
/// The space is allocated (`fallocate` on Linux), so a full file system (for instance a
/// full tmpfs under `/dev/shm`) fails here instead of killing a process with SIGBUS later. An
/// existing file that is already large enough is left as it is: it is never shrunk (a live
/// stream may have it mapped) and its contents are kept.
///
/// ```
/// use shared_memory_image_client::{create_file, Layout};
/// # let dir = tempfile::tempdir()?;
/// let len = create_file(dir.path().join("4k"), 3840, 2160)?;
/// assert!(Layout::for_file_len(len)?.fits(3840, 2160));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::BadArgs`] for a zero width or height; [`Error::FrameTooLarge`] when the needed size
/// cannot be a file on this system; [`Error::UnableToOpenFile`] when the file cannot be created
/// or opened read/write; [`Error::MemoryAlloc`] when the space cannot be allocated (no space
/// left, quota).
pub fn create_file(path: impl AsRef<Path>, max_width: u32, max_height: u32) -> Result<u64, Error> {
    create_file_with_mode(path, max_width, max_height, OWNER_ONLY)
}

/// Like [`create_file`], but a file this call creates gets the permission bits `mode` (for
/// example `0o660` for a group of users who share streams on purpose), exactly, whatever the
/// umask. `mode` must grant the owner read and write and have no bits outside `0o777`. On
/// Windows, a mode that grants nothing to group and others gives the owner-only access list and
/// any other mode gives the file the access list it inherits from its folder.
///
/// # Errors
/// As [`create_file`]; [`Error::BadArgs`] for a `mode` outside `0o777` or without `0o600`.
pub fn create_file_with_mode(
    path: impl AsRef<Path>,
    max_width: u32,
    max_height: u32,
    mode: u32,
) -> Result<u64, Error> {
    if max_width == 0 || max_height == 0 || mode & !0o777 != 0 || mode & 0o600 != 0o600 {
        return Err(Error::BadArgs);
    }
    let needed = layout::file_len_for(max_width, max_height).ok_or(Error::FrameTooLarge)?;
    grow(&open_or_create(path.as_ref(), mode)?, needed)
}

/// Opens `path` read/write, creating it with permission bits `mode` if missing.
///
/// # Errors
/// [`Error::UnableToOpenFile`] when it cannot be created or opened read/write, or is not a
/// regular file.
pub(crate) fn open_or_create(path: &Path, mode: u32) -> Result<File, Error> {
    let file = platform::create_or_open(path, mode).map_err(|_| Error::UnableToOpenFile)?;
    let meta = file.metadata().map_err(|_| Error::UnableToOpenFile)?;
    if !meta.is_file() {
        return Err(Error::UnableToOpenFile);
    }
    Ok(file)
}

/// Makes an open file at least `needed` bytes long with the space allocated (never shrinking
/// it); returns its length.
pub(crate) fn grow(file: &File, needed: u64) -> Result<u64, Error> {
    // Allocate the whole range, including what an existing shorter file already has: fills
    // holes of a sparse file too, so later writes through the mapping cannot hit ENOSPC.
    platform::allocate(file, needed).map_err(|e| match e {
        AllocError::NoSpace => Error::MemoryAlloc,
        AllocError::TooLarge => Error::FrameTooLarge,
        AllocError::Other => Error::UnableToOpenFile,
    })?;
    Ok(file
        .metadata()
        .map(|m| m.len())
        .unwrap_or(needed)
        .max(needed))
}
