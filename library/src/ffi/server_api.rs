//! The functions of `shared_memory_image_client_priv.h`: the original server call and our
//! extensions.

use std::ffi::CStr;
use std::os::raw::c_char;
use std::time::{Duration, Instant};

use crate::ffi::api::publish_locked_frame;
use crate::ffi::boundary::{code_of, guard};
use crate::ffi::registry::{self, ServerStream, Stream};
use crate::ffi::types::*;
use crate::platform;
use crate::transport::client::FrameSignal;
use crate::transport::createfile::{create_file_with_mode, OWNER_ONLY};
use crate::transport::server::PutOutcome;
use crate::transport::two_buffer::layout;

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
/// SharedMemoryImageStream_beginframe and _endframe; IMAGESTREAM_BAD_FILE_SIZE when the file
/// shrank under the mapping (or a broadcast file was laid out anew); IMAGESTREAM_UNCONNECTED
/// when no client is attached and IMAGESTREAM_NO_BUFFERAVAILABLE when both buffers are busy, or
/// on a broadcast stream every buffer but the newest frame's is held by readers (the frame is
/// dropped and shared memory is unchanged in both cases); IMAGESTREAM_NOERROR.
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
            Stream::Server(ServerStream { server, .. }) => {
                if frame.is_null() {
                    return IMAGESTREAM_BAD_ARGS;
                }
                // SAFETY: non-NULL, and the caller guarantees it points to a readable frame.
                let f = unsafe { frame.read() };
                if f.buffer.is_null() || f.iWidth == 0 || f.iHeight == 0 {
                    return IMAGESTREAM_BAD_ARGS;
                }
                let len = match layout::frame_len(f.iWidth, f.iHeight) {
                    Some(len) if len <= server.payload_size() as u64 => len,
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
/// contents kept. The space is really allocated (fallocate on Linux), so a full file
/// system fails here rather than with SIGBUS later. A file this call creates is readable and
/// writable by its owner only (mode 0600 on Unix whatever the umask; on Windows an access list
/// granting the current user alone); an existing file keeps its permissions. See
/// SharedMemoryImageStream_createfilemode for files shared with a group.
///
/// - `filename`: NUL-terminated path (UTF-8 on Windows, else the ANSI code page); NULL gives
///   IMAGESTREAM_BAD_ARGS. Only read during the call.
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
    // SAFETY: the caller's contract is the one createfilemode asks for.
    unsafe { SharedMemoryImageStream_createfilemode(filename, max_width, max_height, OWNER_ONLY) }
}

/// Extension: SharedMemoryImageStream_createfile with the permission bits a new file gets, for
/// example 0660 for a group of users who share streams on purpose. The bits are set exactly,
/// whatever the umask; an existing file keeps its own. On Windows, a `mode` that grants nothing
/// to group and others (0600) gives the owner-only access list, any other the access list the
/// file inherits from its folder.
///
/// - `filename`: as for createfile.
/// - `mode`: Unix permission bits; must include 0600 (owner read and write) and nothing outside
///   0777, else IMAGESTREAM_BAD_ARGS.
///
/// Returns the codes of SharedMemoryImageStream_createfile. Thread safety: may be called from
/// any thread.
///
/// # Safety
/// `filename` must be NULL or point to a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn SharedMemoryImageStream_createfilemode(
    filename: *const c_char,
    max_width: u32,
    max_height: u32,
    mode: u32,
) -> SharedMemoryImageError {
    guard(|| {
        if filename.is_null() {
            return IMAGESTREAM_BAD_ARGS;
        }
        // SAFETY: non-NULL, and the caller guarantees a NUL-terminated string.
        let path = platform::path_from_c(unsafe { CStr::from_ptr(filename) });
        code_of(
            create_file_with_mode(&path, max_width, max_height, mode),
            |_| IMAGESTREAM_NOERROR,
        )
    })
}

/// One pass of lockwait under the handle's lock: a final code, or something to sleep on.
enum WaitStep {
    Done(SharedMemoryImageError),
    Sleep(FrameSignal),
}

/// Extension: like SharedMemoryImageStream_lock, but when no frame is available it blocks until
/// one arrives or `timeout_ms` milliseconds pass (then IMAGESTREAM_NO_FRAMEAVAILABLE). A timeout
/// of 0 makes it behave exactly like lock.
///
/// A server of this library wakes the waiter at once (on Linux through a futex on the 4-byte
/// word at header offset 20, on Windows through a named semaphore derived from the file's
/// identity; on a broadcast stream one call wakes every waiting reader); with a server that
/// wakes nobody (the original library) a new frame is still returned within about 1 ms.
/// Waiting uses no CPU. While waiting, the stream checks every
/// 250 ms that its path still names the file it mapped; a deleted or replaced file ends the wait
/// with IMAGESTREAM_BAD_FILE_SIZE (as does a file that shrank under the mapping).
///
/// - `stream`: NULL, destroyed or unknown handles give IMAGESTREAM_BAD_ARGS.
/// - `frame`: as for lock; NULL gives IMAGESTREAM_BAD_ARGS.
///
/// Returns the codes of SharedMemoryImageStream_lock, in the same order. Thread safety: the
/// handle is not held while sleeping, so other threads may use it; a destroy from another thread
/// wakes the wait, which then returns IMAGESTREAM_BAD_ARGS.
///
/// # Safety
/// `frame` must be NULL or point to writable memory for one pointer.
#[no_mangle]
pub unsafe extern "C" fn SharedMemoryImageStream_lockwait(
    stream: SharedMemoryImageStream,
    frame: *mut SharedMemoryFrame,
    timeout_ms: u32,
) -> SharedMemoryImageError {
    guard(|| {
        let deadline = Instant::now() + Duration::from_millis(u64::from(timeout_ms));
        loop {
            let step = registry::with(stream, |s| match s {
                Stream::Server(_) => WaitStep::Done(IMAGESTREAM_IS_SERVER),
                Stream::Client(c) => {
                    if c.client.locked_frame().is_some() {
                        return WaitStep::Done(IMAGESTREAM_LOCKED);
                    }
                    if frame.is_null() {
                        return WaitStep::Done(IMAGESTREAM_BAD_ARGS);
                    }
                    match c.client.lock_frame_or_signal() {
                        Err(e) => WaitStep::Done(e.code()),
                        // SAFETY: `frame` is non-NULL (checked above) and writable by contract.
                        Ok(Ok(info)) => {
                            WaitStep::Done(unsafe { publish_locked_frame(c, info, frame) })
                        }
                        Ok(Err(signal)) => WaitStep::Sleep(signal),
                    }
                }
            })
            .unwrap_or(WaitStep::Done(IMAGESTREAM_BAD_ARGS));
            match step {
                WaitStep::Done(code) => return code,
                WaitStep::Sleep(signal) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return IMAGESTREAM_NO_FRAMEAVAILABLE;
                    }
                    signal.wait(left);
                }
            }
        }
    })
}

/// Extension: takes a free buffer of a server stream so the caller can render or read back a
/// `width` x `height` RGB frame straight into shared memory (no copy). On success `*frame`
/// points to a frame owned by the stream whose `buffer` is the buffer's payload (rows top first;
/// FLIPVERTICAL does not apply), valid until SharedMemoryImageStream_endframe or _destroy. Its
/// `iFrame` is ignored: endframe sets the number.
///
/// - `stream`: NULL, destroyed or unknown handles give IMAGESTREAM_BAD_ARGS.
/// - `frame`: where the frame pointer is written; NULL gives IMAGESTREAM_BAD_ARGS. Left
///   unchanged unless the result is IMAGESTREAM_NOERROR.
///
/// Returns, in this order: IMAGESTREAM_BAD_ARGS (bad handle); IMAGESTREAM_IS_NOTSERVER;
/// IMAGESTREAM_BAD_ARGS (NULL `frame`, zero width or height); IMAGESTREAM_FRAME_TOO_LARGE;
/// IMAGESTREAM_LOCKED when a frame is already begun; IMAGESTREAM_BAD_FILE_SIZE as for putframe;
/// IMAGESTREAM_UNCONNECTED or IMAGESTREAM_NO_BUFFERAVAILABLE when no buffer is free (nothing
/// changes; try again later);
/// IMAGESTREAM_NOERROR. Until endframe, putframe and another beginframe give IMAGESTREAM_LOCKED;
/// destroy gives the buffer back unpublished. Thread safety: calls on one handle are serialised.
///
/// # Safety
/// `frame` must be NULL or point to writable memory for one pointer.
#[no_mangle]
pub unsafe extern "C" fn SharedMemoryImageStream_beginframe(
    stream: SharedMemoryImageStream,
    width: u32,
    height: u32,
    frame: *mut SharedMemoryFrame,
) -> SharedMemoryImageError {
    guard(|| {
        registry::with(stream, |s| match s {
            Stream::Client(_) => IMAGESTREAM_IS_NOTSERVER,
            Stream::Server(ss) => {
                if frame.is_null() {
                    return IMAGESTREAM_BAD_ARGS;
                }
                code_of(ss.server.begin_frame(width, height), |begun| match begun {
                    Err(outcome) => put_code(outcome),
                    Ok(()) => {
                        let pixels = ss.server.frame_pixels_mut().map(<[u8]>::as_mut_ptr);
                        *ss.frame = _SharedMemoryFrame {
                            iFrame: 0,
                            iWidth: width,
                            iHeight: height,
                            buffer: pixels.unwrap_or(std::ptr::null_mut()),
                        };
                        // SAFETY: `frame` is non-NULL (checked above) and writable by contract.
                        unsafe { frame.write(&mut *ss.frame) };
                        IMAGESTREAM_NOERROR
                    }
                })
            }
        })
        .unwrap_or(IMAGESTREAM_BAD_ARGS)
    })
}

/// Extension: publishes the frame begun with SharedMemoryImageStream_beginframe as number
/// `frame_number` and wakes a waiting client. The frame pointer from beginframe must not be used
/// afterwards (its `buffer` is set to NULL).
///
/// - `stream`: NULL, destroyed or unknown handles give IMAGESTREAM_BAD_ARGS.
///
/// Returns IMAGESTREAM_NOERROR; IMAGESTREAM_IS_NOTSERVER on a client; IMAGESTREAM_NOT_LOCKED when
/// no frame is begun; IMAGESTREAM_BAD_FILE_SIZE as for putframe. Thread safety: calls on one
/// handle are serialised.
///
/// # Safety
/// Safe to call with any handle value.
#[no_mangle]
pub unsafe extern "C" fn SharedMemoryImageStream_endframe(
    stream: SharedMemoryImageStream,
    frame_number: u32,
) -> SharedMemoryImageError {
    guard(|| {
        registry::with(stream, |s| match s {
            Stream::Client(_) => IMAGESTREAM_IS_NOTSERVER,
            Stream::Server(ss) => {
                let ended = ss.server.end_frame(frame_number);
                // Published or not (a file that shrank meanwhile), the frame is over.
                ss.frame.buffer = std::ptr::null_mut();
                code_of(ended, put_code)
            }
        })
        .unwrap_or(IMAGESTREAM_BAD_ARGS)
    })
}

/// Extension: gives back the buffer of a frame begun with SharedMemoryImageStream_beginframe
/// without publishing it (for a renderer that fails mid-frame). The frame pointer from
/// beginframe must not be used afterwards.
///
/// - `stream`: NULL, destroyed or unknown handles give IMAGESTREAM_BAD_ARGS.
///
/// Returns IMAGESTREAM_NOERROR; IMAGESTREAM_IS_NOTSERVER on a client; IMAGESTREAM_NOT_LOCKED when
/// no frame is begun. Thread safety: calls on one handle are serialised.
///
/// # Safety
/// Safe to call with any handle value.
#[no_mangle]
pub unsafe extern "C" fn SharedMemoryImageStream_abortframe(
    stream: SharedMemoryImageStream,
) -> SharedMemoryImageError {
    guard(|| {
        registry::with(stream, |s| match s {
            Stream::Client(_) => IMAGESTREAM_IS_NOTSERVER,
            Stream::Server(ss) => {
                if ss.server.abandon_frame() {
                    ss.frame.buffer = std::ptr::null_mut();
                    IMAGESTREAM_NOERROR
                } else {
                    IMAGESTREAM_NOT_LOCKED
                }
            }
        })
        .unwrap_or(IMAGESTREAM_BAD_ARGS)
    })
}
