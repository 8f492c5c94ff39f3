//! Cross-process wait and wake on FreeBSD: `_umtx_op` with `UMTX_OP_WAIT_UINT` and
//! `UMTX_OP_WAKE` (the shared forms, not the `_PRIVATE` ones, because the waker is another
//! process). Untested here (the project's machines run Linux); the crate is type-checked for
//! FreeBSD.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

use super::{failed_wait, relative_timespec};
use crate::platform::{Wake, Woke};

/// Sleeps while `word` holds `expected`, at most `timeout`.
pub(super) fn wait(word: &AtomicU32, expected: u32, timeout: Duration) -> Woke {
    let mut ts = relative_timespec(timeout);
    // SAFETY: `word` is a valid, aligned 4-byte location in a live mapping for the call and is
    // only read; with `uaddr` NULL, `uaddr2` points to a relative timeout (a valid timespec that
    // outlives the call).
    let rc = unsafe {
        libc::_umtx_op(
            word.as_ptr().cast(),
            libc::UMTX_OP_WAIT_UINT,
            libc::c_ulong::from(expected),
            std::ptr::null_mut(),
            (&mut ts as *mut libc::timespec).cast(),
        )
    };
    if rc == 0 {
        // Also returned when the value differed; the caller re-checks either way.
        Woke::Woken
    } else {
        failed_wait()
    }
}

/// Wakes every process sleeping on `word`.
pub(super) fn wake_all(word: &AtomicU32) -> Wake {
    // SAFETY: waking does not access the memory; the address only names the queue.
    unsafe {
        libc::_umtx_op(
            word.as_ptr().cast(),
            libc::UMTX_OP_WAKE,
            libc::c_ulong::from(i32::MAX as u32),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
    }
    Wake::Unknown
}
