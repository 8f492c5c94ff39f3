//! The `createfile` extension: create or grow a stream file with its space really allocated.

use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::transport::error::Error;
use crate::transport::layout;

/// Creates `path` (or grows an existing file) so that frames up to `max_width` x `max_height`
/// fit, never below the 10 MiB minimum, and returns the file's length afterwards.
///
/// The space is allocated with `posix_fallocate`, so a full file system (for instance a full
/// tmpfs under `/dev/shm`) fails here instead of killing a process with SIGBUS later. An existing
/// file that is already large enough is left as it is: it is never shrunk (a live stream may have
/// it mapped) and its contents are kept.
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
    if max_width == 0 || max_height == 0 {
        return Err(Error::BadArgs);
    }
    let needed = layout::file_len_for(max_width, max_height).ok_or(Error::FrameTooLarge)?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path.as_ref())
        .map_err(|_| Error::UnableToOpenFile)?;
    let meta = file.metadata().map_err(|_| Error::UnableToOpenFile)?;
    if !meta.is_file() {
        return Err(Error::UnableToOpenFile);
    }
    let len = i64::try_from(needed).map_err(|_| Error::FrameTooLarge)?;
    // Allocate the whole range, including what an existing shorter file already has: fills
    // holes of a sparse file too, so later writes through the mapping cannot hit ENOSPC.
    // SAFETY: the descriptor is open for writing and owned by `file` for the whole call;
    // posix_fallocate reads no memory of ours.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len as libc::off_t) };
    match rc {
        0 => {}
        libc::EFBIG => return Err(Error::FrameTooLarge),
        libc::ENOSPC | libc::EDQUOT | libc::ENOMEM => return Err(Error::MemoryAlloc),
        _ => {
            // File systems without fallocate support: fall back to setting the length (sparse).
            if meta.len() < needed {
                file.set_len(needed).map_err(|e| match e.kind() {
                    ErrorKind::StorageFull => Error::MemoryAlloc,
                    _ => Error::UnableToOpenFile,
                })?;
            }
        }
    }
    Ok(file
        .metadata()
        .map(|m| m.len())
        .unwrap_or(needed)
        .max(needed))
}
