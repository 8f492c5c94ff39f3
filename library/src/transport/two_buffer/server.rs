//! The writer side of a two-buffer stream: initialises the file and publishes frames into free
//! buffers (SPEC section 4). The public [`crate::Server`] drives it.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::platform::Wake;
use crate::transport::mapped_file::{MappedFile, MappingRef};
use crate::transport::server::{PutOutcome, WakeStats};
use crate::transport::two_buffer::file::TwoBufferFile;
use crate::transport::two_buffer::layout::NUM_BUFFERS;
use crate::transport::two_buffer::state::{
    BufferState, SERVER_ABANDON, SERVER_BEGIN, SERVER_PUBLISH,
};

/// Wake-ups in a row that find none of the counted waiters asleep before the count is reset.
const STALE_AFTER: u8 = 2;

/// The writer of a two-buffer file.
#[derive(Debug)]
pub(crate) struct TwoBufferWriter {
    file: Arc<TwoBufferFile>,
    /// Per buffer: wake-ups in a row that found none of the counted waiters asleep.
    idle_wakes: [u8; NUM_BUFFERS],
    wake_stats: WakeStats,
}

impl TwoBufferWriter {
    /// Takes over a mapped two-buffer file: zeroes both headers and sets both states to INIT
    /// (a client that was attached re-attaches on its next lock).
    pub fn create(file: TwoBufferFile) -> TwoBufferWriter {
        file.init_headers();
        TwoBufferWriter {
            file: Arc::new(file),
            idle_wakes: [0; NUM_BUFFERS],
            wake_stats: WakeStats::default(),
        }
    }

    /// The mapped file.
    #[inline]
    pub fn mapped(&self) -> &MappedFile {
        self.file.mapped()
    }

    /// Bytes of payload per buffer.
    pub fn payload_size(&self) -> usize {
        self.file.layout().payload_size()
    }

    /// A counted reference to the mapping.
    pub fn mapping_ref(&self) -> MappingRef {
        MappingRef::new(self.file.clone())
    }

    /// What this writer's wake-ups did so far.
    pub fn wake_stats(&self) -> WakeStats {
        self.wake_stats
    }

    /// Moves a free buffer to SERVER_LOCKED, or says why there is none: `Unconnected` when a
    /// buffer is INIT (no client), else `Dropped` (both busy). The states are a snapshot: a
    /// buffer can go to INIT right after (a client detaching), which is all the spec asks for.
    pub fn take_free(&mut self) -> Result<usize, PutOutcome> {
        let mut saw_init = false;
        for b in 0..NUM_BUFFERS {
            match self.file.state(b) {
                Some(BufferState::Server) if self.file.transition(b, SERVER_BEGIN).is_ok() => {
                    return Ok(b);
                }
                Some(BufferState::Init) => saw_init = true,
                _ => {}
            }
        }
        Err(if saw_init {
            PutOutcome::Unconnected
        } else {
            PutOutcome::Dropped
        })
    }

    /// Byte offset of buffer `buffer`'s payload in the file.
    pub fn pixels_offset(&self, buffer: usize) -> usize {
        self.file.layout().pixels_offset(buffer)
    }

    /// Writes the header of a whole frame into a buffer taken with
    /// [`TwoBufferWriter::take_free`], publishes it (1 → 2) and wakes a waiting client.
    pub fn publish(
        &mut self,
        buffer: usize,
        frame_number: u32,
        width: u32,
        height: u32,
    ) -> PutOutcome {
        self.file
            .write_frame_header(buffer, frame_number, width, height);
        match self.file.transition(buffer, SERVER_PUBLISH) {
            Ok(()) => {
                self.wake_waiters(buffer);
                PutOutcome::Delivered
            }
            // Only a peer breaking the protocol (or a new server on the same file) moves a buffer
            // we hold; the frame is lost.
            Err(_) => PutOutcome::Dropped,
        }
    }

    /// Gives back a buffer taken with [`TwoBufferWriter::take_free`] unpublished (1 → 0).
    pub fn abandon(&mut self, buffer: usize) {
        let _ = self.file.transition(buffer, SERVER_ABANDON);
    }

    /// The states of both buffers as seen now (`None` for an invalid byte).
    pub fn buffer_states(&self) -> [Option<BufferState>; NUM_BUFFERS] {
        self.file.states()
    }

    /// Wakes the clients counted as waiting on `buffer`. Counted waiters that were not asleep
    /// at [`STALE_AFTER`] wake-ups in a row are taken to be dead (a client killed while it
    /// waited never takes its count back) and the count is reset, so that later frames make no
    /// system call. A live waiter whose count is lost this way (it registered at that very
    /// moment) sleeps one slice longer at worst, then registers again.
    fn wake_waiters(&mut self, buffer: usize) {
        let Some((counted, woke)) = self.file.wake(buffer) else {
            return;
        };
        self.wake_stats.calls += 1;
        match woke {
            Wake::WokeNobody => {
                self.idle_wakes[buffer] += 1;
                if self.idle_wakes[buffer] >= STALE_AFTER {
                    self.idle_wakes[buffer] = 0;
                    let reset = self.file.waiters(buffer).compare_exchange(
                        counted,
                        0,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                    if reset.is_ok() {
                        self.wake_stats.stale_counts_reset += 1;
                    }
                }
            }
            Wake::WokeSome => {
                self.idle_wakes[buffer] = 0;
                self.wake_stats.woke_sleepers += 1;
            }
            Wake::Unknown => self.idle_wakes[buffer] = 0,
        }
    }
}
