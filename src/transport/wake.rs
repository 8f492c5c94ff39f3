//! Waking a waiting client: a futex on a buffer header's 4-byte state word (offset 20: the state
//! byte and the three pad bytes), shared between processes.
//!
//! A waiting client counts itself in `pad[0]` of the buffer it waits on, so that a server wakes
//! (one system call) only when someone waits; the server's check of that count is a plain load
//! after a fence. Every wait is sliced to at most [`WAIT_SLICE`], so a server that never wakes
//! anyone (the original library) is still noticed within about a millisecond, and a waiter whose
//! wake-up went to a crashed or foreign server never sleeps long.

use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::time::Duration;

/// The longest single sleep of a waiting client.
pub const WAIT_SLICE: Duration = Duration::from_micros(900);

/// Sleeps while `word` holds `expected`, at most `timeout` (and at most [`WAIT_SLICE`]). Returns
/// early when woken, when the word changes, or on a signal; the caller re-checks its condition.
pub fn wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let timeout = timeout.min(WAIT_SLICE);
    if timeout.is_zero() {
        return;
    }
    imp::wait(word, expected, timeout);
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

    pub fn wait(word: &AtomicU32, expected: u32, timeout: Duration) {
        let ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: `word` is a valid, aligned 4-byte location that outlives the call (the caller's
        // borrow keeps the mapping alive); FUTEX_WAIT only reads it; `ts` is a valid timespec.
        // Shared (not private) futex, because the other side is another process. Errors
        // (EAGAIN: value changed, EINTR, ETIMEDOUT) all mean "re-check", so the result is ignored.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT,
                expected,
                &ts as *const libc::timespec,
            );
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

    pub fn wait(_word: &AtomicU32, _expected: u32, timeout: Duration) {
        std::thread::sleep(timeout.min(Duration::from_micros(100)));
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
    fn wait_returns_at_once_when_the_value_differs_and_within_a_slice_otherwise() {
        let w = AtomicU32::new(5);
        let t = Instant::now();
        wait(&w, 6, Duration::from_secs(1));
        assert!(t.elapsed() < Duration::from_millis(100));
        let t = Instant::now();
        wait(&w, 5, Duration::from_secs(10));
        // One slice at most (generous bound for a loaded machine).
        assert!(t.elapsed() < Duration::from_millis(200));
    }
}
