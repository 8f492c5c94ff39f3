//! Waiting on Unix systems without a cross-process address wait: short sleeps. A waiting client
//! re-checks after each one, so frames are still seen within about [`POLL_SLICE`].

use std::sync::atomic::AtomicU32;
use std::time::Duration;

use crate::platform::{FileId, Wake, Woke};

/// The longest sleep when the system cannot wait on memory across processes: each wait is a
/// sleep of at most this long, then the caller re-checks.
const POLL_SLICE: Duration = Duration::from_micros(100);

/// Nothing to hold: waits are sleeps.
#[derive(Debug)]
pub(crate) struct WakeChannel;

impl WakeChannel {
    /// The channel of the file `_id`.
    pub(crate) fn open(_id: FileId) -> WakeChannel {
        WakeChannel
    }

    /// Sleeps for the shorter of `timeout` and [`POLL_SLICE`].
    pub(crate) fn wait(
        &self,
        _key: u32,
        _word: &AtomicU32,
        _expected: u32,
        timeout: Duration,
    ) -> Woke {
        std::thread::sleep(timeout.min(POLL_SLICE));
        Woke::Other
    }

    /// Nothing to do: waiters poll.
    pub(crate) fn wake_all(&self, _key: u32, _word: &AtomicU32, _waiters: u32) -> Wake {
        Wake::Unknown
    }
}
