//! Waking a waiting client: the waiter counts of the file and the length of a client's sleeps.
//! The sleep itself is the platform's cross-process wait on a buffer header's 4-byte state word
//! (offset 20: the state byte and the three pad bytes): a futex on Linux, a named semaphore on
//! Windows (the platform layer).
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

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

/// The longest single sleep of a client whose server has not been seen to wake it.
pub const WAIT_SLICE: Duration = Duration::from_micros(900);

/// The longest single sleep of a client whose server wakes it.
pub const LONG_SLICE: Duration = Duration::from_millis(50);

pub use crate::platform::Woke;

/// Registers a waiter in `count` (a pad byte of the header), saturating at 255 so a crowd of
/// waiters can never wrap it to zero (the server would then skip a wake-up).
pub fn add_waiter(count: &AtomicU8) -> bool {
    update(count, |n| n.checked_add(1))
}

/// Unregisters a waiter added with [`add_waiter`] (which returned true); never below zero (a
/// server may have reset a count it found stale).
pub fn remove_waiter(count: &AtomicU8) {
    update(count, |n| n.checked_sub(1));
}

/// Applies `f` to the count with compare-and-swap (SeqCst) until it sticks; false when `f`
/// declines (returns `None`), leaving the count as it is.
fn update(count: &AtomicU8, f: impl Fn(u8) -> Option<u8>) -> bool {
    let mut n = count.load(Ordering::SeqCst);
    while let Some(next) = f(n) {
        match count.compare_exchange_weak(n, next, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return true,
            Err(now) => n = now,
        }
    }
    false
}

/// Whether anybody waits, as seen by a server that just published: a full fence orders its
/// state change before this load, pairing with the waiter's registration before its re-check.
pub fn has_waiters(count: &AtomicU8) -> bool {
    std::sync::atomic::fence(Ordering::SeqCst);
    count.load(Ordering::Relaxed) != 0
}

/// What a process has seen of the server of one file: whether it wakes its waiting clients.
/// Decides how long a waiter sleeps between checks: [`WAIT_SLICE`] until a wake-up arrived,
/// [`LONG_SLICE`] afterwards, and short slices again once a frame turned up unannounced.
#[derive(Debug, Default)]
pub(crate) struct WakeHistory {
    server_wakes: AtomicBool,
}

impl WakeHistory {
    /// The longest sleep now, at most `timeout`.
    pub fn slice(&self, timeout: Duration) -> Duration {
        let slice = if self.server_wakes.load(Ordering::Relaxed) {
            LONG_SLICE
        } else {
            WAIT_SLICE
        };
        timeout.min(slice)
    }

    /// Learns from how a sleep ended; `frame_ready` says whether a frame is there now.
    pub fn record(&self, woke: Woke, frame_ready: impl FnOnce() -> bool) {
        match woke {
            Woke::Woken => self.server_wakes.store(true, Ordering::Relaxed),
            // A frame arrived without a wake-up: this server does not wake its clients.
            Woke::TimedOut if self.server_wakes.load(Ordering::Relaxed) && frame_ready() => {
                self.server_wakes.store(false, Ordering::Relaxed)
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
