//! The two-buffer stream file (SPEC section 3) laid over a mapping: typed access to the header
//! fields, state bytes and pixel payloads that [`crate::layout`] locates.
//!
//! Header fields and state bytes are accessed only through atomics, because the other process
//! may write them at any time (and a hostile one may write anything). Pixel payloads are handed
//! out as slices only to a caller that owns the buffer under the state machine.

use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::time::Duration;

use crate::platform::{Wake, Woke};
use crate::transport::error::Error;
use crate::transport::mapped_file::MappedFile;
use crate::transport::two_buffer::layout::{field, Layout, NUM_BUFFERS};
use crate::transport::two_buffer::state::{self, BufferState, Transition};
use crate::transport::wake::WakeHistory;

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

/// A two-buffer stream file, mapped. Dropping the last reference unmaps the file.
#[derive(Debug)]
pub(crate) struct TwoBufferFile {
    mapped: MappedFile,
    layout: Layout,
    /// Whether the server on this file has been seen to wake a waiting client (process-local).
    pub wake_history: WakeHistory,
}

impl TwoBufferFile {
    /// The two-buffer view of a mapped file.
    ///
    /// # Errors
    /// [`Error::BadFileSize`] for a file under 10 MiB.
    pub fn from_mapped(mapped: MappedFile) -> Result<TwoBufferFile, Error> {
        let layout = Layout::for_file_len(mapped.len() as u64)?;
        Ok(TwoBufferFile {
            mapped,
            layout,
            wake_history: WakeHistory::default(),
        })
    }

    /// The mapping underneath.
    #[inline]
    pub fn mapped(&self) -> &MappedFile {
        &self.mapped
    }

    /// See [`MappedFile::check_if_due`]: a coarse clock read, and at most every 250 ms a few
    /// system calls.
    #[inline]
    pub fn check_if_due(&self) -> Result<(), Error> {
        self.mapped.check_if_due()
    }

    /// The file's geometry.
    #[inline]
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The state byte of buffer `buffer`.
    #[inline]
    pub fn state_cell(&self, buffer: usize) -> &AtomicU8 {
        self.mapped
            .u8_at(self.layout.header_offset(buffer) + field::STATE)
    }

    /// The 4-byte header word at `field_offset` (a multiple of 4 below 24) of buffer `buffer`.
    #[inline]
    pub fn word(&self, buffer: usize, field_offset: usize) -> &AtomicU32 {
        debug_assert!(field_offset % 4 == 0 && field_offset < 24);
        // Header offsets are multiples of 8 (P is), so the word is aligned.
        self.mapped
            .u32_at(self.layout.header_offset(buffer) + field_offset)
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
        self.mapped
            .u8_at(self.layout.header_offset(buffer) + field::STATE + 1)
    }

    /// The current state of buffer `buffer`, `None` for an invalid byte.
    #[inline]
    pub fn state(&self, buffer: usize) -> Option<BufferState> {
        state::load(self.state_cell(buffer))
    }

    /// The states of both buffers as seen now, read one after the other (`None` for an invalid
    /// byte).
    #[inline]
    pub fn states(&self) -> [Option<BufferState>; NUM_BUFFERS] {
        [self.state(0), self.state(1)]
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
            let _ = self.wake(b);
        }
    }

    /// Sleeps while buffer `buffer`'s state word holds `expected`, at most `timeout`.
    pub fn wait(&self, buffer: usize, expected: u32, timeout: Duration) -> Woke {
        self.mapped
            .wait(buffer as u32, self.state_word(buffer), expected, timeout)
    }

    /// Wakes the clients waiting on buffer `buffer` (one system call) if the file counts any;
    /// returns how many it counted and what the wake-up found. No system call when nobody is
    /// counted.
    pub fn wake(&self, buffer: usize) -> Option<(u8, Wake)> {
        let waiters = self.waiters(buffer);
        if !crate::transport::wake::has_waiters(waiters) {
            return None;
        }
        let counted = waiters.load(Ordering::Relaxed);
        let woke = self
            .mapped
            .wake_all(buffer as u32, self.state_word(buffer), u32::from(counted));
        Some((counted, woke))
    }
}
