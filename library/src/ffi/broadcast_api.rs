//! Broadcast streams (SPEC section 7): one server, up to 64 readers. Readers attach with the
//! original `SharedMemoryImageStream_create`; only the server needs this call.

use std::ffi::CStr;
use std::os::raw::c_char;

use crate::ffi::boundary::{code_of, guard};
use crate::ffi::registry::{self, ServerStream, Stream};
use crate::ffi::types::*;
use crate::platform;
use crate::transport::server::{Server, ServerOptions};

/// Extension: creates `filename` if missing, or grows it (never shrinking it), so that `buffers`
/// frames of up to `max_width` x `max_height` fit beside the control data, lays it out as a
/// broadcast stream and returns a server handle. The space is allocated as by
/// SharedMemoryImageStream_createfile, and a new file is readable and writable by its owner
/// only. A file that already carries this very layout (same number of buffers, same frame
/// size) is resumed with the readers still attached (a restarted server); any other file is
/// laid out anew, and the readers of an older layout get IMAGESTREAM_BAD_FILE_SIZE.
///
/// The handle is an ordinary server: SharedMemoryImageStream_putframe,
/// _beginframe/_endframe/_abortframe and _destroy behave as for any server; _lock and _unlock
/// give IMAGESTREAM_IS_SERVER. putframe returns IMAGESTREAM_UNCONNECTED when no reader is
/// attached and IMAGESTREAM_NO_BUFFERAVAILABLE when every buffer but the newest frame's is held
/// by readers (the frame is dropped: the server never waits for a reader). Readers attach with
/// SharedMemoryImageStream_create(filename, IMAGESTREAM_OPTIONS_NONE, &stream), which returns
/// IMAGESTREAM_NOERROR; each gets every newest frame it has not had yet, and lockwait wakes them
/// all with one call.
///
/// - `filename`: NUL-terminated path (UTF-8 on Windows, else the ANSI code page); NULL gives
///   IMAGESTREAM_BAD_ARGS. Only read during the call.
/// - `buffers`: 3 to 64, else IMAGESTREAM_BAD_ARGS.
/// - `options`: 0 or IMAGESTREAM_OPTIONS_FLIPVERTICAL, else IMAGESTREAM_BAD_ARGS.
/// - `stream`: where the new handle is written; NULL gives IMAGESTREAM_BAD_ARGS. Left unchanged
///   on any negative result.
///
/// Returns IMAGESTREAM_NOERROR; IMAGESTREAM_BAD_ARGS (as above, or a zero size);
/// IMAGESTREAM_FRAME_TOO_LARGE when the file would be too large for this system;
/// IMAGESTREAM_UNABLE_TO_OPEN_FILE when it cannot be created or opened read/write;
/// IMAGESTREAM_MEMORY_ALLOC_ERROR when there is no space for it (or 65536 streams are open);
/// IMAGESTREAM_UNABLE_TO_MAP_FILE when it cannot be mapped; IMAGESTREAM_IS_SERVER when a live
/// server already serves the file.
///
/// Ownership: the caller owns the handle and releases it with SharedMemoryImageStream_destroy.
/// Thread safety: may be called from any thread.
///
/// # Safety
/// `filename` must be NULL or point to a NUL-terminated string; `stream` must be NULL or point
/// to writable memory for one handle.
#[no_mangle]
pub unsafe extern "C" fn SharedMemoryImageStream_createbroadcast(
    filename: *const c_char,
    max_width: u32,
    max_height: u32,
    buffers: u32,
    options: u32,
    stream: *mut SharedMemoryImageStream,
) -> SharedMemoryImageError {
    guard(|| {
        if filename.is_null()
            || stream.is_null()
            || options & !IMAGESTREAM_OPTIONS_FLIPVERTICAL != 0
        {
            return IMAGESTREAM_BAD_ARGS;
        }
        // SAFETY: non-NULL, and the caller guarantees a NUL-terminated string.
        let path = platform::path_from_c(unsafe { CStr::from_ptr(filename) });
        let opts = ServerOptions {
            flip_vertical: options & IMAGESTREAM_OPTIONS_FLIPVERTICAL != 0,
        };
        let created = Server::create_broadcast(&path, max_width, max_height, buffers, opts)
            .and_then(|server| {
                registry::insert(Stream::Server(ServerStream {
                    server,
                    frame: registry::empty_frame(),
                }))
            });
        code_of(created, |handle| {
            // SAFETY: non-NULL (checked above), and the caller guarantees it is writable.
            unsafe { stream.write(handle) };
            IMAGESTREAM_NOERROR
        })
    })
}
