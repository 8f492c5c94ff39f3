//! Cross-process wait and wake on Linux: a shared (not process-private) futex on the 4-byte word
//! itself, which lives in the mapped file.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

use super::{failed_wait, relative_timespec};
use crate::platform::{Wake, Woke};

/// Sleeps while `word` holds `expected`, at most `timeout`.
pub(super) fn wait(word: &AtomicU32, expected: u32, timeout: Duration) -> Woke {
    let ts = relative_timespec(timeout);
    // SAFETY: `word` is a valid, aligned 4-byte location that outlives the call (the caller's
    // borrow keeps the mapping alive); FUTEX_WAIT only reads it; `ts` is a valid timespec.
    // Shared (not private) futex, because the waker is another process.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
        )
    };
    if rc == 0 {
        Woke::Woken
    } else {
        failed_wait()
    }
}

/// Wakes every process sleeping on `word` (one system call).
pub(super) fn wake_all(word: &AtomicU32) -> Wake {
    // SAFETY: as in `wait`; FUTEX_WAKE does not access the memory, it only names the futex.
    let woken =
        unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX) };
    match woken {
        n if n > 0 => Wake::WokeSome,
        0 => Wake::WokeNobody,
        _ => Wake::Unknown,
    }
}
