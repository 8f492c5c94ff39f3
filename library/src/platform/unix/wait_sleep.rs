//! Waiting on Unix systems without a cross-process address wait: short sleeps. A waiting client
//! re-checks after each one, so frames are still seen within about [`super::POLL_SLICE`].

use std::sync::atomic::AtomicU32;
use std::time::Duration;

use super::poll_sleep;
use crate::platform::{Wake, Woke};

/// Sleeps for the shorter of `timeout` and [`super::POLL_SLICE`].
pub(super) fn wait(_word: &AtomicU32, _expected: u32, timeout: Duration) -> Woke {
    poll_sleep(timeout)
}

/// Nothing to do: waiters poll.
pub(super) fn wake_all(_word: &AtomicU32) -> Wake {
    Wake::Unknown
}
