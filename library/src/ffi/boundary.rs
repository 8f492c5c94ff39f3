//! The panic boundary: every exported function runs its body through [`guard`], so a panic
//! becomes an error code instead of unwinding into C (which is undefined behaviour).

use std::os::raw::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::ffi::types::IMAGESTREAM_BAD_ARGS;
use crate::transport::error::Error;

/// Runs `body` and returns its code; a panic inside returns `IMAGESTREAM_BAD_ARGS`.
///
/// Unwind safety: the state a panic could leave half-changed is a handle's slot, whose mutex
/// the registry recovers from poisoning, and the shared file, whose every change is a single
/// atomic step. So asserting unwind safety is sound here.
#[inline]
pub(crate) fn guard(body: impl FnOnce() -> c_int) -> c_int {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(IMAGESTREAM_BAD_ARGS)
}

/// The C code of a result whose success maps to `ok`.
#[inline]
pub(crate) fn code_of<T>(r: Result<T, Error>, ok: impl FnOnce(T) -> c_int) -> c_int {
    match r {
        Ok(v) => ok(v),
        Err(e) => e.code(),
    }
}
