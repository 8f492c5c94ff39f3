//! The "keeping a mapping alive" extension (SPEC section 5): counted references to a stream's
//! mapping, for zero-copy views in garbage-collected languages (the Python module's numpy
//! arrays hold one).

use crate::ffi::boundary::guard;
use crate::ffi::registry::{self, Stream};
use crate::ffi::types::*;

/// Extension: takes a counted reference to the mapping of `stream`, so that every frame address
/// the stream hands out (by lock, lockwait or beginframe), before or after this call, stays
/// mapped and readable until the reference is released, even after unlock, endframe and
/// SharedMemoryImageStream_destroy. What such an address shows after unlock is whatever the
/// other side writes there (the server may reuse the buffer): copy what you keep. Reads through
/// it keep the stream's truncation protection: pages of a file truncated under it read as zeros
/// (never SIGBUS). The reference costs no system call and no memory beyond a handle.
///
/// - `stream`: a live stream (client or server); NULL, destroyed or unknown handles give
///   IMAGESTREAM_BAD_ARGS.
/// - `mapping`: where the new reference's handle is written; NULL gives IMAGESTREAM_BAD_ARGS.
///   Left unchanged on any negative result.
///
/// Returns IMAGESTREAM_NOERROR; IMAGESTREAM_BAD_ARGS; IMAGESTREAM_MEMORY_ALLOC_ERROR when 65536
/// references are already held.
///
/// Ownership: the caller owns the reference and releases it with
/// SharedMemoryImageStream_releasemapping (each reference once). Thread safety: may be called
/// from any thread; references are independent of the stream's own calls.
///
/// # Safety
/// `mapping` must be NULL or point to writable memory for one handle.
#[no_mangle]
pub unsafe extern "C" fn SharedMemoryImageStream_retainmapping(
    stream: SharedMemoryImageStream,
    mapping: *mut SharedMemoryMapping,
) -> SharedMemoryImageError {
    guard(|| {
        if mapping.is_null() {
            return IMAGESTREAM_BAD_ARGS;
        }
        let Some(keep) = registry::with(stream, |s| match s {
            Stream::Client(c) => c.client.mapping_ref(),
            Stream::Server(s) => s.server.mapping_ref(),
        }) else {
            return IMAGESTREAM_BAD_ARGS;
        };
        match registry::insert_mapping(keep) {
            Ok(handle) => {
                // SAFETY: non-NULL (checked above), and the caller guarantees it is writable.
                unsafe { mapping.write(handle) };
                IMAGESTREAM_NOERROR
            }
            Err(e) => e.code(),
        }
    })
}

/// Extension: releases a reference taken with SharedMemoryImageStream_retainmapping. When it
/// was the last reference and the stream is destroyed, the file is unmapped: addresses the
/// stream handed out must not be used any more.
///
/// - `mapping`: NULL, released or unknown handles give IMAGESTREAM_BAD_ARGS (so releasing
///   twice is harmless).
///
/// Returns IMAGESTREAM_NOERROR or IMAGESTREAM_BAD_ARGS. Thread safety: may be called from any
/// thread.
///
/// # Safety
/// Safe to call with any handle value.
#[no_mangle]
pub unsafe extern "C" fn SharedMemoryImageStream_releasemapping(
    mapping: SharedMemoryMapping,
) -> SharedMemoryImageError {
    guard(|| match registry::remove_mapping(mapping) {
        Some(keep) => {
            drop(keep);
            IMAGESTREAM_NOERROR
        }
        None => IMAGESTREAM_BAD_ARGS,
    })
}
