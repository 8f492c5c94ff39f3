//! The functions of `shared_memory_image_client_priv.h`: the original server call and our
//! extensions.

use std::ffi::{CStr, OsStr};
use std::os::raw::c_char;
use std::os::unix::ffi::OsStrExt;

use crate::ffi::boundary::{code_of, guard};
use crate::ffi::registry::{self, Stream};
use crate::ffi::types::*;
use crate::transport::createfile::create_file;
use crate::transport::layout;
use crate::transport::server::PutOutcome;

/// The C code of a put outcome.
pub(crate) fn put_code(outcome: PutOutcome) -> SharedMemoryImageError {
    match outcome {
        PutOutcome::Delivered => IMAGESTREAM_NOERROR,
        PutOutcome::Dropped => IMAGESTREAM_NO_BUFFERAVAILABLE,
        PutOutcome::Unconnected => IMAGESTREAM_UNCONNECTED,
    }
}

/// Copies a frame into a free buffer of a server stream and hands it to the client.
///
/// - `stream`: NULL, destroyed or unknown handles give IMAGESTREAM_BAD_ARGS.
/// - `frame`: read during the call only (`buffer` must hold iWidth * iHeight * 3 bytes of RGB,
///   rows top first, tightly packed); NULL, a NULL `buffer` or a zero width or height give
///   IMAGESTREAM_BAD_ARGS. The caller keeps ownership of both.
///
/// Returns, checked in this order: IMAGESTREAM_BAD_ARGS (bad handle); IMAGESTREAM_IS_NOTSERVER
/// on a client; IMAGESTREAM_BAD_ARGS (bad frame); IMAGESTREAM_FRAME_TOO_LARGE when
/// iWidth * iHeight * 3 exceeds a buffer's payload; IMAGESTREAM_LOCKED between
/// SharedMemoryImageStream_beginframe and _endframe; IMAGESTREAM_UNCONNECTED when no client is
/// attached and IMAGESTREAM_NO_BUFFERAVAILABLE when both buffers are busy (the frame is dropped
/// and shared memory is unchanged in both cases); IMAGESTREAM_NOERROR.
///
/// With IMAGESTREAM_OPTIONS_FLIPVERTICAL, input row r is stored as row iHeight-1-r. The copy is
/// the only work proportional to the frame: no allocation, no system call. Thread safety: calls
/// on one handle are serialised.
///
/// # Safety
/// `frame` must be NULL or point to a readable frame whose `buffer`, if not NULL, points to at
/// least iWidth * iHeight * 3 readable bytes that no one writes during the call.
#[no_mangle]
pub unsafe extern "C" fn SharedMemoryImageStream_putframe(
    stream: SharedMemoryImageStream,
    frame: SharedMemoryFrame,
) -> SharedMemoryImageError {
    guard(|| {
        registry::with(stream, |s| match s {
            Stream::Client(_) => IMAGESTREAM_IS_NOTSERVER,
            Stream::Server(server) => {
                if frame.is_null() {
                    return IMAGESTREAM_BAD_ARGS;
                }
                // SAFETY: non-NULL, and the caller guarantees it points to a readable frame.
                let f = unsafe { frame.read() };
                if f.buffer.is_null() || f.iWidth == 0 || f.iHeight == 0 {
                    return IMAGESTREAM_BAD_ARGS;
                }
                let len = match layout::frame_len(f.iWidth, f.iHeight) {
                    Some(len) if server.layout().fits(f.iWidth, f.iHeight) => len,
                    _ => return IMAGESTREAM_FRAME_TOO_LARGE,
                };
                // The frame fits the payload, so its length fits in usize.
                // SAFETY: `buffer` is non-NULL and the caller guarantees `len` readable bytes
                // that nobody writes during the call; u8 needs no alignment.
                let pixels = unsafe { std::slice::from_raw_parts(f.buffer, len as usize) };
                code_of(
                    server.put_frame(f.iFrame, f.iWidth, f.iHeight, pixels),
                    put_code,
                )
            }
        })
        .unwrap_or(IMAGESTREAM_BAD_ARGS)
    })
}

/// Extension: creates `filename`, or grows an existing file, so that frames up to
/// `max_width` x `max_height` fit; never smaller than the 10 MiB minimum, never shrunk, existing
/// contents kept. The space is really allocated (posix_fallocate), so a full file system fails
/// here rather than with SIGBUS later.
///
/// - `filename`: NUL-terminated path; NULL gives IMAGESTREAM_BAD_ARGS. Only read during the call.
///
/// Returns IMAGESTREAM_NOERROR; IMAGESTREAM_BAD_ARGS for NULL or a zero size;
/// IMAGESTREAM_FRAME_TOO_LARGE when the size cannot be a file; IMAGESTREAM_UNABLE_TO_OPEN_FILE
/// when the file cannot be created or opened read/write; IMAGESTREAM_MEMORY_ALLOC_ERROR when
/// there is no space for it. Thread safety: may be called from any thread.
///
/// # Safety
/// `filename` must be NULL or point to a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn SharedMemoryImageStream_createfile(
    filename: *const c_char,
    max_width: u32,
    max_height: u32,
) -> SharedMemoryImageError {
    guard(|| {
        if filename.is_null() {
            return IMAGESTREAM_BAD_ARGS;
        }
        // SAFETY: non-NULL, and the caller guarantees a NUL-terminated string.
        let path = OsStr::from_bytes(unsafe { CStr::from_ptr(filename) }.to_bytes());
        code_of(create_file(path, max_width, max_height), |_| {
            IMAGESTREAM_NOERROR
        })
    })
}
