//! The typed error of the Rust API, one variant per negative C code.
//!
//! The positive C codes are not errors; the Rust API returns them as values instead
//! ([`crate::PutOutcome`], [`crate::Attach`], and `Option` for "no frame available").

use std::os::raw::c_int;

/// Everything that can go wrong in a stream call. Each variant is one negative
/// `IMAGESTREAM_*` code of the C API; [`Error::code`] and [`Error::from_code`] convert.
///
/// ```
/// use shared_memory_image_client::{Client, Error};
/// let err = Client::attach("/nonexistent/stream").unwrap_err();
/// assert_eq!(err, Error::BadFileSize);
/// assert_eq!(err.code(), -3); // IMAGESTREAM_BAD_FILE_SIZE
/// assert_eq!(err.to_string(), "file missing or smaller than the 10 MiB minimum");
/// assert_eq!(Error::from_code(-11), Some(Error::Locked));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Error {
    /// `IMAGESTREAM_BAD_ARGS` (-1): an argument is invalid.
    #[error("invalid argument")]
    BadArgs,
    /// `IMAGESTREAM_NOT_LOCKED` (-2): unlock without a lock.
    #[error("no frame is locked")]
    NotLocked,
    /// `IMAGESTREAM_BAD_FILE_SIZE` (-3): the file is missing or smaller than 10 MiB.
    #[error("file missing or smaller than the 10 MiB minimum")]
    BadFileSize,
    /// `IMAGESTREAM_UNABLE_TO_OPEN_FILE` (-4): the file exists but cannot be opened read/write.
    #[error("file cannot be opened for reading and writing")]
    UnableToOpenFile,
    /// `IMAGESTREAM_UNABLE_TO_MAP_FILE` (-5): mapping the file failed.
    #[error("file cannot be mapped into memory")]
    UnableToMapFile,
    /// `IMAGESTREAM_MEMORY_ALLOC_ERROR` (-6): an allocation failed (for `createfile`: no space left
    /// for the file).
    #[error("memory or storage allocation failed")]
    MemoryAlloc,
    /// `IMAGESTREAM_THREAD_CREATE_ERROR` (-7): a background thread could not start. This
    /// implementation starts no threads; the variant exists for the 1:1 mapping.
    #[error("a background thread could not be started")]
    ThreadCreate,
    /// `IMAGESTREAM_IS_SERVER` (-8): the call is not valid on a server stream.
    #[error("call not valid on a server stream")]
    IsServer,
    /// `IMAGESTREAM_IS_NOTSERVER` (-9): the call is not valid on a client stream.
    #[error("call not valid on a client stream")]
    IsNotServer,
    /// `IMAGESTREAM_FRAME_TOO_LARGE` (-10): the frame is larger than one buffer's payload.
    #[error("frame larger than the buffer payload")]
    FrameTooLarge,
    /// `IMAGESTREAM_LOCKED` (-11): the call is not legal while a frame is locked.
    #[error("call not allowed while a frame is locked")]
    Locked,
    /// `IMAGESTREAM_TOO_MANY_READERS` (-12, an extension): every reader slot of a broadcast
    /// stream is taken.
    #[error("every reader slot of the broadcast stream is taken (64 readers at most)")]
    TooManyReaders,
}

impl Error {
    /// Every variant, in code order (-1 down to -12).
    pub const ALL: [Error; 12] = [
        Error::BadArgs,
        Error::NotLocked,
        Error::BadFileSize,
        Error::UnableToOpenFile,
        Error::UnableToMapFile,
        Error::MemoryAlloc,
        Error::ThreadCreate,
        Error::IsServer,
        Error::IsNotServer,
        Error::FrameTooLarge,
        Error::Locked,
        Error::TooManyReaders,
    ];

    /// The C code of this error (always negative).
    pub const fn code(self) -> c_int {
        match self {
            Error::BadArgs => -1,
            Error::NotLocked => -2,
            Error::BadFileSize => -3,
            Error::UnableToOpenFile => -4,
            Error::UnableToMapFile => -5,
            Error::MemoryAlloc => -6,
            Error::ThreadCreate => -7,
            Error::IsServer => -8,
            Error::IsNotServer => -9,
            Error::FrameTooLarge => -10,
            Error::Locked => -11,
            Error::TooManyReaders => -12,
        }
    }

    /// The error for a negative C code, or `None` for any other value.
    pub fn from_code(code: c_int) -> Option<Error> {
        Error::ALL.into_iter().find(|e| e.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_distinct() {
        for (i, e) in Error::ALL.into_iter().enumerate() {
            assert_eq!(e.code(), -(i as c_int) - 1);
            assert_eq!(Error::from_code(e.code()), Some(e));
        }
        assert_eq!(Error::from_code(0), None);
        assert_eq!(Error::from_code(-13), None);
        assert_eq!(Error::from_code(2), None);
    }
}
