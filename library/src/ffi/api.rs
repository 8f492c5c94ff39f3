//! The functions of `shared_memory_image_client.h`, the original public API.
//!
//! Each one checks its arguments, runs the core under the panic boundary and maps the result to
//! a code; none holds a lock beyond its own call except the per-handle slot mutex.

use std::ffi::CStr;
use std::os::raw::c_char;

use crate::ffi::boundary::{code_of, guard};
use crate::ffi::registry::{self, ClientStream, ServerStream, Stream};
use crate::ffi::types::*;
use crate::platform;
use crate::transport::client::FrameInfo;
use crate::transport::client::{Attach, Client};
use crate::transport::error::Error;
use crate::transport::server::{Server, ServerOptions};

/// Option bits the API defines; any other bit set makes create fail with BAD_ARGS.
const KNOWN_OPTIONS: u32 = 0x0000_01FF;

/// Opens a stream on an existing file of at least 10 MiB.
///
/// With IMAGESTREAM_OPTIONS_INITBUFFERHEADERS in `options` (as in IMAGESTREAM_OPTIONS_SERVER)
/// the stream is a server: both buffer headers are zeroed and set to INIT. Otherwise it is a
/// client, which attaches to the file. IMAGESTREAM_OPTIONS_FLIPVERTICAL makes a server store
/// rows bottom-up. The file is never created or resized here.
///
/// On a broadcast file (made by SharedMemoryImageStream_createbroadcast) a client becomes one
/// of its readers and the result is IMAGESTREAM_NOERROR whatever the server is doing; a server
/// resumes the broadcast stream with its readers.
///
/// - `filename`: NUL-terminated path (Unix: any bytes but NUL; Windows: UTF-8, else the ANSI
///   code page). NULL gives IMAGESTREAM_BAD_ARGS. Only read during the call.
/// - `stream`: where the new handle is written. NULL gives IMAGESTREAM_BAD_ARGS. Left unchanged
///   on any negative result.
///
/// Returns IMAGESTREAM_NOERROR; for a client, IMAGESTREAM_RECONNECTING when the file was not
/// freshly initialised (the handle is valid in both cases and must be destroyed);
/// IMAGESTREAM_BAD_ARGS for NULL arguments or option bits outside 0x1FF;
/// IMAGESTREAM_BAD_FILE_SIZE for a missing file or one under 10 MiB;
/// IMAGESTREAM_UNABLE_TO_OPEN_FILE when it cannot be opened read/write;
/// IMAGESTREAM_UNABLE_TO_MAP_FILE when mmap fails;
/// IMAGESTREAM_MEMORY_ALLOC_ERROR when 65536 streams are already open;
/// IMAGESTREAM_TOO_MANY_READERS when a broadcast file has 64 readers already;
/// IMAGESTREAM_IS_SERVER for a server on a broadcast file that a live server already serves.
///
/// Ownership: the caller owns the returned handle and releases it with
/// SharedMemoryImageStream_destroy. Thread safety: may be called from any thread.
///
/// # Safety
/// `filename` must be NULL or point to a NUL-terminated string; `stream` must be NULL or point
/// to writable memory for one handle.
#[no_mangle]
pub unsafe extern "C" fn SharedMemoryImageStream_create(
    filename: *const c_char,
    options: u32,
    stream: *mut SharedMemoryImageStream,
) -> SharedMemoryImageError {
    guard(|| {
        if filename.is_null() || stream.is_null() || options & !KNOWN_OPTIONS != 0 {
            return IMAGESTREAM_BAD_ARGS;
        }
        // SAFETY: non-NULL, and the caller guarantees a NUL-terminated string that lives for the
        // call.
        let path = platform::path_from_c(unsafe { CStr::from_ptr(filename) });
        let created = if options & IMAGESTREAM_OPTIONS_INITBUFFERHEADERS != 0 {
            let opts = ServerOptions {
                flip_vertical: options & IMAGESTREAM_OPTIONS_FLIPVERTICAL != 0,
            };
            Server::with_options(&path, opts).map(|server| {
                let frame = registry::empty_frame();
                (
                    Stream::Server(ServerStream { server, frame }),
                    IMAGESTREAM_NOERROR,
                )
            })
        } else {
            Client::attach(&path).map(|client| {
                let code = match client.attach_status() {
                    Attach::Fresh => IMAGESTREAM_NOERROR,
                    Attach::Reconnected => IMAGESTREAM_RECONNECTING,
                };
                let frame = registry::empty_frame();
                (Stream::Client(ClientStream { client, frame }), code)
            })
        };
        code_of(
            created.and_then(|(s, code)| registry::insert(s).map(|h| (h, code))),
            |(handle, code)| {
                // SAFETY: non-NULL (checked above), and the caller guarantees it is writable.
                unsafe { stream.write(handle) };
                code
            },
        )
    })
}

/// Locks the newest complete frame of a client stream, without copying it.
///
/// On success `*frame` points to a frame owned by the stream whose `buffer` points straight into
/// shared memory; both stay valid until SharedMemoryImageStream_unlock or _destroy on this
/// stream. Any buffer reset by a restarted server is re-attached first; of two complete frames
/// the newer is locked and the older dropped; a buffer whose header does not describe a frame
/// that fits is handed back and reported as IMAGESTREAM_NO_FRAMEAVAILABLE. On a broadcast
/// stream, the newest frame is locked if this reader has not had it yet (other readers may hold
/// the same frame; the pixels must only be read).
///
/// - `stream`: NULL, destroyed or unknown handles give IMAGESTREAM_BAD_ARGS.
/// - `frame`: where the frame pointer is written; NULL gives IMAGESTREAM_BAD_ARGS. Left
///   unchanged unless the result is IMAGESTREAM_NOERROR.
///
/// Returns, checked in this order: IMAGESTREAM_BAD_ARGS (bad handle); IMAGESTREAM_IS_SERVER;
/// IMAGESTREAM_LOCKED when a frame is already locked; IMAGESTREAM_BAD_ARGS (NULL `frame`);
/// IMAGESTREAM_BAD_FILE_SIZE when the file shrank under the mapping (seen by the first call
/// that touches the lost pages), when its path was deleted or names another file now, or when
/// a broadcast file was laid out anew (seen within 250 ms); IMAGESTREAM_NO_FRAMEAVAILABLE when
/// there is nothing new; IMAGESTREAM_NOERROR.
///
/// Thread safety: calls on one handle are serialised; two threads locking one stream get one
/// frame and one IMAGESTREAM_LOCKED. Never blocks. Makes no system call, except at most every
/// 250 ms a check of the path and of the file's length (a cheap clock read decides when).
///
/// # Safety
/// `frame` must be NULL or point to writable memory for one pointer.
#[no_mangle]
pub unsafe extern "C" fn SharedMemoryImageStream_lock(
    stream: SharedMemoryImageStream,
    frame: *mut SharedMemoryFrame,
) -> SharedMemoryImageError {
    guard(|| {
        registry::with(stream, |s| match s {
            Stream::Server(_) => IMAGESTREAM_IS_SERVER,
            Stream::Client(c) => {
                if c.client.locked_frame().is_some() {
                    return IMAGESTREAM_LOCKED;
                }
                if frame.is_null() {
                    return IMAGESTREAM_BAD_ARGS;
                }
                code_of(c.client.lock_frame_inline(), |info| match info {
                    // SAFETY: `frame` is non-NULL (checked above) and writable by contract.
                    Some(info) => unsafe { publish_locked_frame(c, info, frame) },
                    None => IMAGESTREAM_NO_FRAMEAVAILABLE,
                })
            }
        })
        .unwrap_or(IMAGESTREAM_BAD_ARGS)
    })
}

/// Fills the stream's frame struct for a just-locked frame and stores its address in `*out`.
///
/// # Safety
/// `out` must be non-NULL and writable.
pub(crate) unsafe fn publish_locked_frame(
    c: &mut ClientStream,
    info: FrameInfo,
    out: *mut SharedMemoryFrame,
) -> SharedMemoryImageError {
    let pixels = c
        .client
        .locked_pixels_address()
        .map(std::ptr::NonNull::as_ptr);
    *c.frame = _SharedMemoryFrame {
        iFrame: info.frame_number,
        iWidth: info.width,
        iHeight: info.height,
        buffer: pixels.unwrap_or(std::ptr::null_mut()),
    };
    // SAFETY: the caller guarantees `out` is non-NULL and writable.
    unsafe { out.write(&mut *c.frame) };
    IMAGESTREAM_NOERROR
}

/// Unlocks the frame locked with SharedMemoryImageStream_lock; its buffer goes back to the
/// server. The frame's `buffer` pointer is set to NULL: the pixels must not be used any more.
///
/// - `stream`: NULL, destroyed or unknown handles give IMAGESTREAM_BAD_ARGS.
///
/// Returns IMAGESTREAM_NOERROR; IMAGESTREAM_IS_SERVER on a server; IMAGESTREAM_NOT_LOCKED when
/// nothing is locked; IMAGESTREAM_BAD_FILE_SIZE when the file shrank under the mapping (the
/// frame is unlocked all the same). Thread safety: calls on one handle are serialised.
///
/// # Safety
/// Safe to call with any handle value.
#[no_mangle]
pub unsafe extern "C" fn SharedMemoryImageStream_unlock(
    stream: SharedMemoryImageStream,
) -> SharedMemoryImageError {
    guard(|| {
        registry::with(stream, |s| match s {
            Stream::Server(_) => IMAGESTREAM_IS_SERVER,
            Stream::Client(c) => {
                let unlocked = c.client.unlock_frame();
                if !matches!(unlocked, Err(Error::NotLocked)) {
                    // Unlocked, even when the file shrank meanwhile (reported below).
                    c.frame.buffer = std::ptr::null_mut();
                }
                code_of(unlocked, |()| IMAGESTREAM_NOERROR)
            }
        })
        .unwrap_or(IMAGESTREAM_BAD_ARGS)
    })
}

/// Destroys a stream and invalidates its handle. A client unlocks any locked frame and detaches
/// (the server then gets IMAGESTREAM_UNCONNECTED until a client attaches again); a server gives
/// back any frame begun with SharedMemoryImageStream_beginframe. Buffer states are otherwise
/// left as they are, and the file is unmapped (not deleted).
///
/// - `stream`: NULL, destroyed or unknown handles give IMAGESTREAM_BAD_ARGS (so destroying twice
///   is harmless).
///
/// Returns IMAGESTREAM_NOERROR or IMAGESTREAM_BAD_ARGS. After it returns, frame pointers from
/// this stream are dangling. Thread safety: waits for a call in progress on the same handle;
/// later calls with the handle give IMAGESTREAM_BAD_ARGS.
///
/// # Safety
/// Safe to call with any handle value.
#[no_mangle]
pub unsafe extern "C" fn SharedMemoryImageStream_destroy(
    stream: SharedMemoryImageStream,
) -> SharedMemoryImageError {
    guard(|| match registry::remove(stream) {
        Some(s) => {
            drop(s);
            IMAGESTREAM_NOERROR
        }
        None => IMAGESTREAM_BAD_ARGS,
    })
}

/// A static, NUL-terminated UTF-8 description of a result code: a distinct one for each
/// IMAGESTREAM_* code and a generic one for any other value. Never NULL; the caller must not
/// free it. Thread safety: may be called from any thread.
#[no_mangle]
pub extern "C" fn SharedMemoryImageStream_errorstring(
    err: SharedMemoryImageError,
) -> *const c_char {
    error_cstr(err).as_ptr()
}

/// The message of [`SharedMemoryImageStream_errorstring`] as a `CStr`.
pub fn error_cstr(err: SharedMemoryImageError) -> &'static CStr {
    match err {
        IMAGESTREAM_UNCONNECTED => c"no client is connected; the frame was not delivered",
        IMAGESTREAM_RECONNECTING => c"reconnected to a stream that was already in progress",
        IMAGESTREAM_NO_FRAMEAVAILABLE => c"no new frame is available",
        IMAGESTREAM_NO_BUFFERAVAILABLE => c"no free buffer; the frame was dropped",
        IMAGESTREAM_NOERROR => c"no error",
        IMAGESTREAM_BAD_ARGS => c"invalid argument",
        IMAGESTREAM_NOT_LOCKED => c"no frame is locked",
        IMAGESTREAM_BAD_FILE_SIZE => c"file missing or smaller than the 10 MiB minimum",
        IMAGESTREAM_UNABLE_TO_OPEN_FILE => c"file cannot be opened for reading and writing",
        IMAGESTREAM_UNABLE_TO_MAP_FILE => c"file cannot be mapped into memory",
        IMAGESTREAM_MEMORY_ALLOC_ERROR => c"memory or storage allocation failed",
        IMAGESTREAM_THREAD_CREATE_ERROR => c"a background thread could not be started",
        IMAGESTREAM_IS_SERVER => c"call not valid on a server stream",
        IMAGESTREAM_IS_NOTSERVER => c"call not valid on a client stream",
        IMAGESTREAM_FRAME_TOO_LARGE => c"frame larger than the buffer payload",
        IMAGESTREAM_LOCKED => c"call not allowed while a frame is locked",
        IMAGESTREAM_TOO_MANY_READERS => {
            c"every reader slot of the broadcast stream is taken (64 readers at most)"
        }
        _ => c"unknown error code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::error::Error;

    #[test]
    fn error_strings_match_the_rust_messages_and_are_distinct() {
        for e in Error::ALL {
            assert_eq!(error_cstr(e.code()).to_str().unwrap(), e.to_string());
        }
        let mut seen = std::collections::HashSet::new();
        for code in -12..=4 {
            assert!(
                seen.insert(error_cstr(code)),
                "duplicate message for {code}"
            );
        }
        assert_eq!(error_cstr(-13), c"unknown error code");
        assert_eq!(error_cstr(i32::MAX), c"unknown error code");
        assert!(!seen.contains(c"unknown error code"));
    }
}
