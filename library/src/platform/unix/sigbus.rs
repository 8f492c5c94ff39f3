//! Surviving a stream file that shrinks under its mappings.
//!
//! Touching a page of a shared file mapping that lies wholly past the end of the file raises
//! SIGBUS, which kills the process by default: a peer that truncates the file (or a full tmpfs
//! that drops pages) would take every reader and writer down. This module installs, once, a
//! SIGBUS handler that knows the address ranges of this library's mappings. For a fault inside
//! one of them it replaces the pages from the faulting one to the end of that mapping with
//! anonymous zero-filled memory (so the faulting instruction, retried, succeeds) and marks the
//! mapping as faulted; the stream then reports `IMAGESTREAM_BAD_FILE_SIZE` from its next call.
//! A fault anywhere else is passed to the handler that was installed before ours, or, if there
//! was none, to the default action (the process dies as it would have without us).
//!
//! Costs nothing until a fault: no system call and no check on any access; the streams test the
//! faulted flag (one atomic load) at the start of each call.
//!
//! Limits: at most [`SLOTS`] mappings are protected at once (others work, unprotected); a
//! SIGBUS handler installed by the application after our first stream replaces ours unless it
//! chains to the previous handler; data written to the replaced pages is lost (the stream is
//! broken anyway).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Once, OnceLock};

/// How many mappings can be protected at once.
pub(crate) const SLOTS: usize = 1024;

struct Slot {
    claimed: AtomicBool,
    start: AtomicUsize,
    len: AtomicUsize,
    /// Handlers running on this slot's range; deregistration waits for zero before the
    /// mapping may be unmapped.
    busy: AtomicU32,
    faulted: AtomicBool,
}

static TABLE: [Slot; SLOTS] = [const {
    Slot {
        claimed: AtomicBool::new(false),
        start: AtomicUsize::new(0),
        len: AtomicUsize::new(0),
        busy: AtomicU32::new(0),
        faulted: AtomicBool::new(false),
    }
}; SLOTS];

static INSTALL: Once = Once::new();
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();
static PAGE: AtomicUsize = AtomicUsize::new(4096);

/// A protected address range; dropping it stops the protection (wait-free unless a handler is
/// running on the range at that moment). Must be dropped before the range is unmapped.
#[derive(Debug)]
pub(crate) struct FaultGuard {
    slot: Option<usize>,
}

impl FaultGuard {
    /// Protects `[start, start + len)`, a live shared mapping of a file, installing the handler
    /// on first use. The address is only compared with fault addresses, never dereferenced here.
    pub(crate) fn protect(start: usize, len: usize) -> FaultGuard {
        install();
        for (i, s) in TABLE.iter().enumerate() {
            if s.claimed
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                s.faulted.store(false, Ordering::Relaxed);
                s.len.store(len, Ordering::Relaxed);
                s.start.store(start, Ordering::Release);
                return FaultGuard { slot: Some(i) };
            }
        }
        FaultGuard { slot: None }
    }

    /// Whether a SIGBUS was caught in the range (the file shrank under the mapping).
    #[inline]
    pub(crate) fn faulted(&self) -> bool {
        self.slot
            .is_some_and(|i| TABLE[i].faulted.load(Ordering::Acquire))
    }
}

impl Drop for FaultGuard {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            let s = &TABLE[i];
            s.start.store(0, Ordering::SeqCst);
            while s.busy.load(Ordering::SeqCst) != 0 {
                std::hint::spin_loop();
            }
            s.faulted.store(false, Ordering::Relaxed);
            s.len.store(0, Ordering::Relaxed);
            s.claimed.store(false, Ordering::Release);
        }
    }
}

fn install() {
    INSTALL.call_once(|| {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if page > 0 {
            PAGE.store(page as usize, Ordering::Relaxed);
        }
        // SAFETY: both sigaction structs are fully initialised (zeroed, then the fields we
        // use set); the handler is an `extern "C"` function with the SA_SIGINFO signature; the
        // old action is written into `old`, which we keep for chaining.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigbus as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
            libc::sigemptyset(&mut sa.sa_mask);
            // Record the previous action before ours can run, so that chaining always finds it.
            libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut old);
            let _ = PREVIOUS.set(old);
            libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut());
        }
    });
}

/// The handler. Only async-signal-safe work: atomics, one raw mmap system call, and calling
/// the previous handler.
extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t for a handler installed with SA_SIGINFO.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = PAGE.load(Ordering::Relaxed);
    for s in TABLE.iter() {
        let start = s.start.load(Ordering::Acquire);
        if start == 0 || addr < start {
            continue;
        }
        let len = s.len.load(Ordering::Acquire);
        if addr >= start + len {
            continue;
        }
        s.busy.fetch_add(1, Ordering::SeqCst);
        let mut fixed = false;
        // Re-check under `busy` (SeqCst, against the SeqCst store and load of a deregistration):
        // a deregistration that began before our increment has cleared `start`, and one that
        // begins after it waits for us, so the range is still mapped. The length is read again
        // after `start`: the slot may have been given to another mapping at the same address
        // meanwhile, whose `start` store (Release) comes after its `len`.
        let still = s.start.load(Ordering::SeqCst) == start;
        let len = s.len.load(Ordering::Acquire);
        if still && addr < start + len {
            let from = addr & !(page - 1);
            let end = (start + len).div_ceil(page) * page;
            // SAFETY: [from, end) lies inside the live mapping registered in this slot (it
            // cannot be unmapped while `busy` is non-zero, and `start` and `len` were read
            // under `busy`), so MAP_FIXED replaces only pages of our own file mapping, with
            // private zero-filled read/write memory (a read-only mapping becomes writable, which
            // only this library's own loads touch).
            let r = unsafe { remap_zeroed(from, end - from) };
            fixed = r == from;
            s.faulted.store(true, Ordering::Release);
        }
        s.busy.fetch_sub(1, Ordering::Release);
        if fixed {
            return; // the faulting access is retried on zero-filled pages
        }
        break;
    }
    chain(sig, info, ctx);
}

/// Replaces `[from, from + len)` with private zero-filled pages; returns the address mapped.
///
/// # Safety
/// The range must be a page-aligned part of a live mapping owned by this library.
#[cfg(any(target_os = "linux", target_os = "android"))]
unsafe fn remap_zeroed(from: usize, len: usize) -> usize {
    // The raw system call: nothing in the C library's wrapper can run in the signal handler.
    // SAFETY: the caller guarantees the range; MAP_FIXED replaces exactly those pages.
    unsafe {
        libc::syscall(
            libc::SYS_mmap,
            from,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
            -1,
            0,
        ) as usize
    }
}

/// Replaces `[from, from + len)` with private zero-filled pages; returns the address mapped.
///
/// # Safety
/// The range must be a page-aligned part of a live mapping owned by this library.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
unsafe fn remap_zeroed(from: usize, len: usize) -> usize {
    // SAFETY: the caller guarantees the range; MAP_FIXED replaces exactly those pages.
    unsafe {
        libc::mmap(
            from as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANON | libc::MAP_FIXED,
            -1,
            0,
        ) as usize
    }
}

/// Hands a fault that is not ours to the previous handler, or to the default action.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    match PREVIOUS.get() {
        Some(prev) if prev.sa_sigaction != libc::SIG_DFL && prev.sa_sigaction != libc::SIG_IGN => {
            if prev.sa_flags & libc::SA_SIGINFO != 0 {
                // SAFETY: the previous action was installed with SA_SIGINFO, so its handler
                // has this signature; we pass on exactly what the kernel gave us.
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    unsafe { std::mem::transmute(prev.sa_sigaction) };
                f(sig, info, ctx);
            } else {
                // SAFETY: without SA_SIGINFO the handler takes only the signal number.
                let f: extern "C" fn(libc::c_int) =
                    unsafe { std::mem::transmute(prev.sa_sigaction) };
                f(sig);
            }
        }
        _ => {
            // Restore the default action; returning re-executes the faulting access, which
            // then terminates the process as if we had never been installed.
            // SAFETY: a zeroed sigaction with SIG_DFL is a valid default action.
            unsafe {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(libc::SIGBUS, &dfl, std::ptr::null_mut());
            }
        }
    }
}
