//! Waking a waiting client: a futex on a buffer header's 4-byte state word (offset 20: the state
//! byte and the three pad bytes), shared between processes.
//!
//! A waiting client counts itself in `pad[0]` of the buffer it waits on, so that a server wakes
//! (one system call) only when someone waits; the server's check of that count is a plain load
//! after a fence.
//!
//! Waits are sliced. Until a client has been woken by its server, each sleep lasts at most
//! [`WAIT_SLICE`] (0.9 ms), so a server that never wakes anyone (the original library) is still
//! noticed within about a millisecond. Once a wake-up arrived, the server is known to wake its
//! clients and sleeps last up to [`LONG_SLICE`]; a slice that ends to find a frame nobody announced
//! drops back to short slices.

use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::time::Duration;

/// The longest single sleep of a client whose server has not been seen to wake it.
pub const WAIT_SLICE: Duration = Duration::from_micros(900);

/// The longest single sleep of a client whose server wakes it.
pub const LONG_SLICE: Duration = Duration::from_millis(50);

/// Why a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woke {
    /// Someone called [`wake_all`] on the word.
    Woken,
    /// The timeout passed.
    TimedOut,
    /// The word did not hold the expected value, a signal arrived, or waiting is not supported.
    Other,
}

/// Sleeps while `word` holds `expected`, at most `timeout`. Returns early when woken, when the
/// word changes, or on a signal; the caller re-checks its condition.
pub fn wait(word: &AtomicU32, expected: u32, timeout: Duration) -> Woke {
    if timeout.is_zero() {
        return Woke::TimedOut;
    }
    imp::wait(word, expected, timeout)
}

/// Wakes every process waiting on `word`.
pub fn wake_all(word: &AtomicU32) {
    imp::wake_all(word);
}

/// Registers a waiter in `count` (a pad byte of the header), saturating at 255 so a crowd of
/// waiters can never wrap it to zero (the server would then skip a wake-up).
pub fn add_waiter(count: &AtomicU8) -> bool {
    count
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_add(1))
        .is_ok()
}

/// Unregisters a waiter added with [`add_waiter`] (which returned true).
pub fn remove_waiter(count: &AtomicU8) {
    let _ = count.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
}

/// Whether anybody waits, as seen by a server that just published: a full fence orders its
/// state change before this load, pairing with the waiter's registration before its re-check.
pub fn has_waiters(count: &AtomicU8) -> bool {
    std::sync::atomic::fence(Ordering::SeqCst);
    count.load(Ordering::Relaxed) != 0
}

#[cfg(target_os = "linux")]
mod imp {
    use std::sync::atomic::AtomicU32;
    use std::time::Duration;

    use super::Woke;

    pub fn wait(word: &AtomicU32, expected: u32, timeout: Duration) -> Woke {
        let ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: `word` is a valid, aligned 4-byte location that outlives the call (the caller's
        // borrow keeps the mapping alive); FUTEX_WAIT only reads it; `ts` is a valid timespec.
        // Shared (not private) futex, because the other side is another process.
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

    pub fn wake_all(word: &AtomicU32) {
        // SAFETY: as above; FUTEX_WAKE does not access the memory, it only names the futex.
        unsafe {
            libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX);
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::sync::atomic::AtomicU32;
    use std::time::Duration;

    pub fn wait(_word: &AtomicU32, _expected: u32, timeout: Duration) -> super::Woke {
        std::thread::sleep(timeout.min(Duration::from_micros(100)));
        super::Woke::Other
    }

    pub fn wake_all(_word: &AtomicU32) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;
    use std::time::Instant;

    #[test]
    fn waiter_count_saturates_and_never_underflows() {
        let c = AtomicU8::new(254);
        assert!(add_waiter(&c));
        assert!(!add_waiter(&c));
        assert_eq!(c.load(Ordering::Relaxed), 255);
        let z = AtomicU8::new(0);
        remove_waiter(&z);
        assert_eq!(z.load(Ordering::Relaxed), 0);
        assert!(!has_waiters(&z));
    }

    #[test]
    fn wait_returns_at_once_when_the_value_differs_and_times_out_otherwise() {
        let w = AtomicU32::new(5);
        let t = Instant::now();
        assert_eq!(wait(&w, 6, Duration::from_secs(1)), Woke::Other);
        assert!(t.elapsed() < Duration::from_millis(500));
        let t = Instant::now();
        assert_eq!(wait(&w, 5, Duration::from_millis(2)), Woke::TimedOut);
        assert!(t.elapsed() >= Duration::from_millis(2));
    }
}
