//! The memory-mapped stream file: opening and mapping it, and typed access to the header fields,
//! state bytes and pixel payloads that [`crate::transport::layout`] locates.
//!
//! This is the only module that turns the mapping's address into references. Header fields and
//! state bytes are accessed only through atomics, because the other process may write them at any
//! time (and a hostile one may write anything). Pixel payloads are handed out as slices only to a
//! caller that owns the buffer under the state machine.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};

use memmap2::{MmapOptions, MmapRaw};

use crate::transport::error::Error;
use crate::transport::layout::{field, Layout, NUM_BUFFERS};
use crate::transport::state::{self, BufferState, Transition};
use crate::transport::{sigbus, wake};

/// A decoded copy of one buffer header, as read at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// `frame_number`.
    pub frame_number: u32,
    /// `width` in pixels.
    pub width: u32,
    /// `height` in pixels.
    pub height: u32,
    /// `offset`: first scanline of the block (0 for whole frames).
    pub offset: u32,
    /// `num_scanlines`: scanlines in the block (`height` for whole frames).
    pub num_scanlines: u32,
    /// The raw `buffer_state` byte; see [`BufferState::from_u8`].
    pub state: u8,
    /// The three `pad` bytes (zeroed by a server's create, ignored by readers).
    pub pad: [u8; 3],
}

impl Header {
    /// Decodes the 24 bytes of a header in native byte order.
    pub fn from_bytes(bytes: &[u8; 24]) -> Header {
        let word = |at: usize| {
            u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        Header {
            frame_number: word(field::FRAME_NUMBER),
            width: word(field::WIDTH),
            height: word(field::HEIGHT),
            offset: word(field::OFFSET),
            num_scanlines: word(field::NUM_SCANLINES),
            state: bytes[field::STATE],
            pad: [bytes[21], bytes[22], bytes[23]],
        }
    }

    /// The state, or `None` when the byte holds no valid state.
    pub fn buffer_state(&self) -> Option<BufferState> {
        BufferState::from_u8(self.state)
    }
}

/// How often (at most) a stream checks that its path still names the file it mapped.
const IDENTITY_CHECK_NS: u64 = 250_000_000;

/// CLOCK_MONOTONIC_COARSE in nanoseconds (a few nanoseconds, no system call, ~4 ms resolution).
fn coarse_now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// An open, mapped stream file. Dropping it unmaps the file.
#[derive(Debug)]
pub(crate) struct SharedFile {
    /// SIGBUS protection of the mapping; declared before `map` so that it is dropped (and the
    /// protection withdrawn) before the mapping goes away.
    guard: sigbus::Registration,
    map: MmapRaw,
    layout: Layout,
    file: File,
    path: PathBuf,
    /// (device, inode) of the mapped file.
    identity: (u64, u64),
    /// Set when the path no longer names the mapped file (deleted or replaced).
    replaced: AtomicBool,
    /// CLOCK_MONOTONIC_COARSE of the last identity check.
    last_identity_check: AtomicU64,
    /// Whether the server on this file has been seen to wake a waiting client (process-local;
    /// decides how long a waiting client sleeps between checks, see [`crate::wake`]).
    pub server_wakes: AtomicBool,
}

impl SharedFile {
    /// Opens `path` read/write and maps all of it, shared.
    ///
    /// Errors: a missing file or one under 10 MiB gives [`Error::BadFileSize`]; a file that exists
    /// but cannot be opened read/write (a directory, no permission, not a regular file) gives
    /// [`Error::UnableToOpenFile`]; a failed `mmap` gives [`Error::UnableToMapFile`].
    pub fn open(path: &Path) -> Result<SharedFile, Error> {
        let file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(Error::BadFileSize),
            Err(_) => return Err(Error::UnableToOpenFile),
        };
        let meta = file.metadata().map_err(|_| Error::UnableToOpenFile)?;
        if !meta.is_file() {
            return Err(Error::UnableToOpenFile);
        }
        let layout = Layout::for_file_len(meta.len())?;
        let len = usize::try_from(layout.file_len()).map_err(|_| Error::UnableToMapFile)?;
        let map = MmapOptions::new()
            .len(len)
            .map_raw(&file)
            .map_err(|_| Error::UnableToMapFile)?;
        let guard = sigbus::register(map.as_ptr() as usize, len);
        Ok(SharedFile {
            guard,
            map,
            layout,
            file,
            path: path.to_path_buf(),
            identity: (meta.dev(), meta.ino()),
            replaced: AtomicBool::new(false),
            last_identity_check: AtomicU64::new(coarse_now_ns()),
            server_wakes: AtomicBool::new(false),
        })
    }

    /// `Err(Error::BadFileSize)` once the file shrank under the mapping (a SIGBUS was caught)
    /// or a waiting client found that the path names another file (deleted or replaced); `Ok`
    /// otherwise. Two atomic loads, no system call.
    #[inline]
    pub fn health(&self) -> Result<(), Error> {
        if self.guard.faulted() || self.replaced.load(Ordering::Relaxed) {
            Err(Error::BadFileSize)
        } else {
            Ok(())
        }
    }

    /// Checks, at most every 250 ms, that the file is still linked and that the path still
    /// names it (two `stat` calls when due; a coarse clock read otherwise). Then as
    /// [`SharedFile::health`]. Called only by a client that is about to sleep: `lock` and
    /// `putframe` make no system call.
    pub fn check_identity_if_due(&self) -> Result<(), Error> {
        let now = coarse_now_ns();
        let last = self.last_identity_check.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= IDENTITY_CHECK_NS
            && self
                .last_identity_check
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let linked = self.file.metadata().map(|m| m.nlink() > 0).unwrap_or(false);
            let same = std::fs::metadata(&self.path)
                .map(|m| (m.dev(), m.ino()) == self.identity)
                .unwrap_or(false);
            if !(linked && same) {
                self.replaced.store(true, Ordering::Relaxed);
            }
        }
        self.health()
    }

    /// The file's geometry.
    #[inline]
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The state byte of buffer `buffer`.
    #[inline]
    pub fn state_cell(&self, buffer: usize) -> &AtomicU8 {
        let at = self.layout.header_offset(buffer) + field::STATE;
        // SAFETY: `at` < 24 + P + 24 <= file_len = the mapping's length (Layout guarantees
        // 48 + 2P <= L), so the pointer is in bounds of a live mapping that `self` keeps alive for
        // the returned lifetime. `AtomicU8` has the size and alignment of `u8`. All accesses to
        // this byte from this process go through atomics; another process may write it at any
        // time, which is exactly what an atomic permits.
        unsafe { AtomicU8::from_ptr(self.map.as_mut_ptr().add(at)) }
    }

    /// The 4-byte header word at `field_offset` (a multiple of 4 below 24) of buffer `buffer`.
    #[inline]
    pub fn word(&self, buffer: usize, field_offset: usize) -> &AtomicU32 {
        debug_assert!(field_offset % 4 == 0 && field_offset < 24);
        let at = self.layout.header_offset(buffer) + field_offset;
        // SAFETY: in bounds as for `state_cell` (at + 4 <= header_offset + 24 <= file_len). The
        // mapping starts on a page boundary and header offsets are multiples of 8 (P is a
        // multiple of 8), so `at` is 4-byte aligned as `AtomicU32` requires. Access is atomic only.
        unsafe { AtomicU32::from_ptr(self.map.as_mut_ptr().add(at).cast::<u32>()) }
    }

    /// The 4-byte word at header offset 20 of buffer `buffer` (state byte and pad): the futex a
    /// waiting client sleeps on.
    #[inline]
    pub fn state_word(&self, buffer: usize) -> &AtomicU32 {
        self.word(buffer, field::STATE)
    }

    /// `pad[0]` of buffer `buffer`: the number of clients waiting for a frame in it (an
    /// extension; other implementations ignore the pad bytes).
    #[inline]
    pub fn waiters(&self, buffer: usize) -> &AtomicU8 {
        let at = self.layout.header_offset(buffer) + field::STATE + 1;
        // SAFETY: as in `state_cell`: byte 21 of a header inside the live mapping; `AtomicU8`
        // has the layout of `u8`; accessed atomically only.
        unsafe { AtomicU8::from_ptr(self.map.as_mut_ptr().add(at)) }
    }

    /// The current state of buffer `buffer`, `None` for an invalid byte.
    #[inline]
    pub fn state(&self, buffer: usize) -> Option<BufferState> {
        state::load(self.state_cell(buffer))
    }

    /// Applies a state transition to buffer `buffer`; see [`Transition::apply`].
    #[inline]
    pub fn transition(&self, buffer: usize, t: Transition) -> Result<(), u8> {
        t.apply(self.state_cell(buffer))
    }

    /// A snapshot of buffer `buffer`'s header. Fields are read one by one (relaxed), so a header
    /// the other side is changing may come back mixed; callers that rely on it own the buffer.
    pub fn header(&self, buffer: usize) -> Header {
        let w = |f| self.word(buffer, f).load(Ordering::Relaxed);
        let pad = self
            .state_word(buffer)
            .load(Ordering::Relaxed)
            .to_ne_bytes();
        Header {
            frame_number: w(field::FRAME_NUMBER),
            width: w(field::WIDTH),
            height: w(field::HEIGHT),
            offset: w(field::OFFSET),
            num_scanlines: w(field::NUM_SCANLINES),
            state: self.state_cell(buffer).load(Ordering::Acquire),
            pad: [pad[1], pad[2], pad[3]],
        }
    }

    /// Writes the description of a whole frame into buffer `buffer`'s header (state untouched).
    pub fn write_frame_header(&self, buffer: usize, frame_number: u32, width: u32, height: u32) {
        let put = |f, v| self.word(buffer, f).store(v, Ordering::Relaxed);
        put(field::FRAME_NUMBER, frame_number);
        put(field::WIDTH, width);
        put(field::HEIGHT, height);
        put(field::OFFSET, 0);
        put(field::NUM_SCANLINES, height);
    }

    /// Server initialisation: zeroes both headers (fields and pad) and sets both states to INIT.
    pub fn init_headers(&self) {
        for b in 0..NUM_BUFFERS {
            for f in [
                field::FRAME_NUMBER,
                field::WIDTH,
                field::HEIGHT,
                field::OFFSET,
                field::NUM_SCANLINES,
            ] {
                self.word(b, f).store(0, Ordering::Relaxed);
            }
            // The state byte and its three pad bytes form the word at offset 20; storing the whole
            // word with the state in its first byte zeroes the pad in the same step.
            let word = u32::from_ne_bytes([BufferState::Init as u8, 0, 0, 0]);
            self.word(b, field::STATE).store(word, Ordering::Release);
            // Clients sleeping on the old state re-check at once and re-attach.
            wake::wake_all(self.state_word(b));
        }
    }

    /// The payload of buffer `buffer`, `len` bytes long.
    ///
    /// # Safety
    /// The caller must own `buffer` under the state machine for the whole life of the slice (a
    /// client in state CLIENT_LOCKED), so that no cooperating process writes it meanwhile, and
    /// no `&mut` slice of the same payload may exist in this process.
    ///
    /// # Panics
    /// When `len` exceeds the payload size.
    pub unsafe fn pixels(&self, buffer: usize, len: usize) -> &[u8] {
        assert!(len <= self.layout.payload_size(), "payload overrun");
        let at = self.layout.pixels_offset(buffer);
        // SAFETY: `at + len <= pixels_offset + P <= file_len`, inside the live mapping; u8 needs no
        // alignment; exclusivity against this process and cooperating peers is the caller's
        // contract above.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(at), len) }
    }

    /// The payload of buffer `buffer`, `len` bytes long, writable.
    ///
    /// # Safety
    /// The caller must own `buffer` under the state machine (server in SERVER_LOCKED, or client in
    /// CLIENT_LOCKED) for the whole life of the slice, and no other slice of the same payload may
    /// exist in this process meanwhile.
    ///
    /// # Panics
    /// When `len` exceeds the payload size.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn pixels_mut(&self, buffer: usize, len: usize) -> &mut [u8] {
        assert!(len <= self.layout.payload_size(), "payload overrun");
        let at = self.layout.pixels_offset(buffer);
        // SAFETY: in bounds as in `pixels`; the mapping is writable (opened read/write, mapped
        // shared read/write); exclusivity is the caller's contract above.
        unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().add(at), len) }
    }
}
