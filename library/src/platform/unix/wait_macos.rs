//! Cross-process wait and wake on macOS: `os_sync_wait_on_address` with the shared flag (macOS
//! 14.4 and later), looked up at run time so the library still loads on older systems, where
//! waits are sliced sleeps instead (`poll_sleep`). Untested here (the project's machines run Linux); the crate
//! is type-checked for macOS.

use std::ffi::c_void;
use std::sync::atomic::AtomicU32;
use std::sync::OnceLock;
use std::time::Duration;

use super::{failed_wait, poll_sleep};
use crate::platform::{Wake, Woke};

const OS_SYNC_WAIT_ON_ADDRESS_SHARED: u32 = 1;
const OS_SYNC_WAKE_BY_ADDRESS_SHARED: u32 = 1;
const OS_CLOCK_MACH_ABSOLUTE_TIME: u32 = 32;

type WaitFn = unsafe extern "C" fn(*mut c_void, u64, usize, u32, u32, u64) -> libc::c_int;
type WakeFn = unsafe extern "C" fn(*mut c_void, usize, u32) -> libc::c_int;

struct AddressWait {
    wait: WaitFn,
    wake_all: WakeFn,
}

fn address_wait() -> Option<&'static AddressWait> {
    static FNS: OnceLock<Option<AddressWait>> = OnceLock::new();
    FNS.get_or_init(|| {
        // SAFETY: dlsym with RTLD_DEFAULT and NUL-terminated names has no other precondition.
        let (w, k) = unsafe {
            (
                libc::dlsym(
                    libc::RTLD_DEFAULT,
                    c"os_sync_wait_on_address_with_timeout".as_ptr(),
                ),
                libc::dlsym(libc::RTLD_DEFAULT, c"os_sync_wake_by_address_all".as_ptr()),
            )
        };
        if w.is_null() || k.is_null() {
            return None;
        }
        // SAFETY: the symbols are the system's functions of these documented signatures.
        unsafe {
            Some(AddressWait {
                wait: std::mem::transmute::<*mut c_void, WaitFn>(w),
                wake_all: std::mem::transmute::<*mut c_void, WakeFn>(k),
            })
        }
    })
    .as_ref()
}

/// Sleeps while `word` holds `expected`, at most `timeout`.
pub(super) fn wait(word: &AtomicU32, expected: u32, timeout: Duration) -> Woke {
    let Some(f) = address_wait() else {
        return poll_sleep(timeout);
    };
    let ns = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX).max(1);
    // SAFETY: `word` is a valid, aligned 4-byte location in a live mapping for the call; the
    // function only reads it.
    let rc = unsafe {
        (f.wait)(
            word.as_ptr().cast(),
            u64::from(expected),
            4,
            OS_SYNC_WAIT_ON_ADDRESS_SHARED,
            OS_CLOCK_MACH_ABSOLUTE_TIME,
            ns,
        )
    };
    if rc >= 0 {
        Woke::Woken
    } else {
        failed_wait()
    }
}

/// Wakes every process sleeping on `word`.
pub(super) fn wake_all(word: &AtomicU32) -> Wake {
    let Some(f) = address_wait() else {
        return Wake::Unknown;
    };
    // SAFETY: as in `wait`; waking does not access the memory.
    let rc = unsafe { (f.wake_all)(word.as_ptr().cast(), 4, OS_SYNC_WAKE_BY_ADDRESS_SHARED) };
    if rc == 0 {
        Wake::WokeSome
    } else if std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOENT) {
        Wake::WokeNobody
    } else {
        Wake::Unknown
    }
}
