//! Cross-process wait and wake on Windows. `WaitOnAddress` works only within one process, so
//! each wait word of a file has a named semaphore, named after the file's identity (volume serial
//! number, file index) and the word's key: every process that maps the file finds the same one.
//! A waiter sleeps on it; the server releases one unit per waiter the file counts, in one call.
//!
//! A unit released for a waiter that was not asleep (it found its frame before sleeping, or it
//! died) stays in the semaphore and lets one later wait return early; the waiter re-checks and
//! sleeps again, so the cost is one spurious wake-up per such unit.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, WAIT_OBJECT_0, WAIT_TIMEOUT};
use windows_sys::Win32::System::Threading::{
    CreateSemaphoreW, CreateWaitableTimerExW, ReleaseSemaphore, SetWaitableTimer,
    WaitForMultipleObjects, WaitForSingleObject, CREATE_WAITABLE_TIMER_HIGH_RESOLUTION,
    TIMER_ALL_ACCESS,
};

use crate::platform::{FileId, Wake, Woke};

/// The longest sleep when the system cannot wait on memory across processes: each wait is a
/// sleep of at most this long, then the caller re-checks.
const POLL_SLICE: Duration = Duration::from_micros(100);

/// Wait words per file with a semaphore of their own (keys `0..KEYS`); waiters on other keys
/// poll.
const KEYS: usize = 4;

/// An open semaphore handle.
#[derive(Debug)]
struct Semaphore(HANDLE);

// SAFETY: a semaphore handle may be used and closed from any thread.
unsafe impl Send for Semaphore {}
// SAFETY: as above; every use is a thread-safe kernel call.
unsafe impl Sync for Semaphore {}

impl Drop for Semaphore {
    fn drop(&mut self) {
        // SAFETY: the handle was opened by CreateSemaphoreW and is closed once.
        unsafe { CloseHandle(self.0) };
    }
}

/// The default timer tick of Windows: waits with a timeout shorter than this would last a
/// whole tick, so they wait on a high-resolution timer as well.
const TICK: Duration = Duration::from_micros(15_600);

thread_local! {
    /// This thread's high-resolution waitable timer (Windows 10 1803 and later; absent before).
    static HIGH_RES_TIMER: Timer = Timer::new();
}

/// A waitable timer that fires with sub-millisecond precision.
struct Timer(Option<Semaphore>);

impl Timer {
    fn new() -> Timer {
        // SAFETY: no attributes, no name; the flag asks for a high-resolution timer, which
        // fails (NULL) on systems without it.
        let h = unsafe {
            CreateWaitableTimerExW(
                std::ptr::null(),
                std::ptr::null(),
                CREATE_WAITABLE_TIMER_HIGH_RESOLUTION,
                TIMER_ALL_ACCESS,
            )
        };
        Timer((!h.is_null()).then_some(Semaphore(h)))
    }

    /// Waits on `sem` for at most `timeout`, timed by this timer; `None` when there is no
    /// high-resolution timer.
    fn wait(&self, sem: HANDLE, timeout: Duration) -> Option<Woke> {
        let timer = self.0.as_ref()?.0;
        // Relative due times are negative, in 100 ns units.
        let due = -i64::try_from(timeout.as_nanos().div_ceil(100)).unwrap_or(i64::MAX);
        // SAFETY: `timer` is this thread's open timer handle; `due` is valid for the call; no
        // completion routine.
        if unsafe { SetWaitableTimer(timer, &due, 0, None, std::ptr::null(), 0) } == 0 {
            return None;
        }
        let handles = [sem, timer];
        // SAFETY: both handles are open for the call; the array holds the count passed.
        Some(
            match unsafe { WaitForMultipleObjects(2, handles.as_ptr(), 0, u32::MAX - 1) } {
                WAIT_OBJECT_0 => Woke::Woken,
                w if w == WAIT_OBJECT_0 + 1 => Woke::TimedOut,
                _ => Woke::Other,
            },
        )
    }
}

/// The semaphores of one mapped file, opened on first use.
#[derive(Debug)]
pub(crate) struct WakeChannel {
    id: FileId,
    semaphores: [OnceLock<Option<Semaphore>>; KEYS],
}

impl WakeChannel {
    /// The channel of the file `id`.
    pub(crate) fn open(id: FileId) -> WakeChannel {
        WakeChannel {
            id,
            semaphores: Default::default(),
        }
    }

    fn semaphore(&self, key: u32) -> Option<HANDLE> {
        let cell = self.semaphores.get(key as usize)?;
        cell.get_or_init(|| {
            let name = format!(
                "Local\\shmimg-{:08x}-{:016x}-{key}",
                self.id.volume, self.id.index
            );
            let wide: Vec<u16> = name.encode_utf16().chain([0]).collect();
            // SAFETY: `wide` is a NUL-terminated name; no security attributes. Creates the
            // semaphore, or opens it when another process created it first.
            let h = unsafe { CreateSemaphoreW(std::ptr::null(), 0, i32::MAX, wide.as_ptr()) };
            (!h.is_null()).then_some(Semaphore(h))
        })
        .as_ref()
        .map(|s| s.0)
    }

    /// Sleeps while `word` holds `expected`, at most `timeout` (rounded up to whole
    /// milliseconds).
    pub(crate) fn wait(
        &self,
        key: u32,
        word: &AtomicU32,
        expected: u32,
        timeout: Duration,
    ) -> Woke {
        if word.load(Ordering::SeqCst) != expected {
            return Woke::Other;
        }
        let Some(sem) = self.semaphore(key) else {
            std::thread::sleep(timeout.min(POLL_SLICE));
            return Woke::Other;
        };
        if timeout < TICK {
            if let Some(woke) = HIGH_RES_TIMER.with(|t| t.wait(sem, timeout)) {
                return woke;
            }
        }
        let ms = timeout
            .as_micros()
            .div_ceil(1000)
            .min(u128::from(u32::MAX - 1)) as u32;
        // SAFETY: `sem` is an open semaphore handle owned by `self`, which outlives the call.
        match unsafe { WaitForSingleObject(sem, ms) } {
            WAIT_OBJECT_0 => Woke::Woken,
            WAIT_TIMEOUT => Woke::TimedOut,
            _ => Woke::Other,
        }
    }

    /// Releases one unit per counted waiter (one call). Reports nobody woken when units of an
    /// earlier wake-up were still unclaimed: the waiters counted then never slept.
    pub(crate) fn wake_all(&self, key: u32, _word: &AtomicU32, waiters: u32) -> Wake {
        let Some(sem) = self.semaphore(key) else {
            return Wake::Unknown;
        };
        let mut previous = 0i32;
        let count = i32::try_from(waiters.max(1)).unwrap_or(i32::MAX);
        // SAFETY: `sem` is an open semaphore handle; `previous` is writable.
        if unsafe { ReleaseSemaphore(sem, count, &mut previous) } == 0 {
            return Wake::Unknown;
        }
        if previous > 0 {
            Wake::WokeNobody
        } else {
            Wake::WokeSome
        }
    }
}
