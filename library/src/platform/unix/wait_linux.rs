//! Cross-process wait and wake on Linux: a shared (not process-private) futex on the 4-byte word
//! itself, which lives in the mapped file.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

use crate::platform::{FileId, Wake, Woke};

/// Waits and wakes on words of one mapped file. On Linux the word is its own wait queue, so
/// this holds nothing.
#[derive(Debug)]
pub(crate) struct WakeChannel;

impl WakeChannel {
    /// The channel of the file `_id`.
    pub(crate) fn open(_id: FileId) -> WakeChannel {
        WakeChannel
    }

    /// Sleeps while `word` holds `expected`, at most `timeout`. `_key` names the word among the
    /// file's wait words (unused here: the word's address names it).
    pub(crate) fn wait(
        &self,
        _key: u32,
        word: &AtomicU32,
        expected: u32,
        timeout: Duration,
    ) -> Woke {
        let ts = libc::timespec {
            tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: `word` is a valid, aligned 4-byte location that outlives the call (the
        // caller's borrow keeps the mapping alive); FUTEX_WAIT only reads it; `ts` is a valid
        // timespec. Shared (not private) futex, because the waker is another process.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT,
                expected,
                &ts as *const libc::timespec,
            )
        };
        match rc {
            0 => Woke::Woken,
            _ if std::io::Error::last_os_error().raw_os_error() == Some(libc::ETIMEDOUT) => {
                Woke::TimedOut
            }
            _ => Woke::Other,
        }
    }

    /// Wakes every process sleeping on `word` (one system call). `_waiters` is how many the file
    /// says are waiting.
    pub(crate) fn wake_all(&self, _key: u32, word: &AtomicU32, _waiters: u32) -> Wake {
        // SAFETY: as in `wait`; FUTEX_WAKE does not access the memory, it only names the futex.
        let woken =
            unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX) };
        match woken {
            n if n > 0 => Wake::WokeSome,
            0 => Wake::WokeNobody,
            _ => Wake::Unknown,
        }
    }
}
