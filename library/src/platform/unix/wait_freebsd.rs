//! Cross-process wait and wake on FreeBSD: `_umtx_op` with `UMTX_OP_WAIT_UINT` and
//! `UMTX_OP_WAKE` (the shared forms, not the `_PRIVATE` ones, because the waker is another
//! process). Untested here (the project's machines run Linux); the crate is type-checked for
//! FreeBSD.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

use crate::platform::{FileId, Wake, Woke};

/// Waits and wakes on words of one mapped file; the word's address names its wait queue.
#[derive(Debug)]
pub(crate) struct WakeChannel;

impl WakeChannel {
    /// The channel of the file `_id`.
    pub(crate) fn open(_id: FileId) -> WakeChannel {
        WakeChannel
    }

    /// Sleeps while `word` holds `expected`, at most `timeout`.
    pub(crate) fn wait(
        &self,
        _key: u32,
        word: &AtomicU32,
        expected: u32,
        timeout: Duration,
    ) -> Woke {
        let mut ts = libc::timespec {
            tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: `word` is a valid, aligned 4-byte location in a live mapping for the call and
        // is only read; with `uaddr` NULL, `uaddr2` points to a relative timeout (a valid
        // timespec that outlives the call).
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
        } else if std::io::Error::last_os_error().raw_os_error() == Some(libc::ETIMEDOUT) {
            Woke::TimedOut
        } else {
            Woke::Other
        }
    }

    /// Wakes every process sleeping on `word`.
    pub(crate) fn wake_all(&self, _key: u32, word: &AtomicU32, _waiters: u32) -> Wake {
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
}
