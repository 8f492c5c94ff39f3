//! A reader of a broadcast stream: owns a reader slot (by its lock), holds at most one frame at a
//! time, and takes only frames newer than the last it took. The public [`crate::Client`] drives
//! it; the protocol is described in [`crate::transport::broadcast`].

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::platform::{self, RangeLock};
use crate::transport::broadcast::file::BroadcastFile;
use crate::transport::broadcast::layout::{slot, READER_SLOTS};
use crate::transport::broadcast::{slot_lock_offset, split_latest, BufferPhase, BufferTag};
use crate::transport::client::{Attach, FrameInfo};
use crate::transport::error::Error;
use crate::transport::mapped_file::{MappedFile, MappingRef};

/// Attempts at holding the newest frame before a lock gives up (each failure means the server
/// published meanwhile; a later call finds the newer frame).
const HOLD_ATTEMPTS: usize = 4;

/// An attached broadcast reader. Dropping it gives back what it holds and frees its slot.
#[derive(Debug)]
pub(crate) struct BroadcastReader {
    file: Arc<BroadcastFile>,
    slot: usize,
    /// The lock that marks the slot as ours; released after the slot is cleaned, and after the
    /// last [`BroadcastSignal`] of this reader is gone (a wait outliving its reader must not
    /// touch the bit of a reader that took the slot meanwhile).
    slot_lock: Arc<RangeLock>,
    /// Sequence number of the last frame taken.
    last_seq: u64,
}

impl BroadcastReader {
    /// Takes a free reader slot of a broadcast file: the first slot whose lock can be taken and
    /// that no other stream of this process owns. Whatever a dead previous owner left (holds,
    /// a waiting bit) is cleared.
    ///
    /// # Errors
    /// [`Error::TooManyReaders`] when all 64 slots are taken; [`Error::UnableToOpenFile`] when
    /// the file cannot be locked at all.
    pub fn attach(file: BroadcastFile) -> Result<BroadcastReader, Error> {
        let file = Arc::new(file);
        let pid = std::process::id();
        for i in 0..READER_SLOTS {
            // Where a process's locks can be lost while it lives (classic POSIX record locks:
            // closing any descriptor of the file drops them all), a slot marked attached by a
            // live process is taken even if its lock is free.
            if !platform::LOCKS_SEEN_WITHIN_PROCESS
                && file.slot_attached(i)
                && platform::process_exists(file.slot_u32(i, slot::PID).load(Ordering::Relaxed))
            {
                continue;
            }
            let lock = match RangeLock::try_lock(file.mapped().file(), slot_lock_offset(i)) {
                Ok(Some(lock)) => lock,
                Ok(None) => continue,
                Err(_) => return Err(Error::UnableToOpenFile),
            };
            file.clear_reader_bits(i);
            file.slot_u32(i, slot::PID).store(pid, Ordering::Relaxed);
            file.slot_u32(i, slot::HELD).store(0, Ordering::Relaxed);
            file.slot_last_seq(i).store(0, Ordering::Relaxed);
            file.slot_u32(i, slot::STATE).store(1, Ordering::Release);
            file.attached().fetch_or(1 << i, Ordering::Release);
            return Ok(BroadcastReader {
                file,
                slot: i,
                slot_lock: Arc::new(lock),
                last_seq: 0,
            });
        }
        Err(Error::TooManyReaders)
    }

    /// Always [`Attach::Fresh`]: a broadcast reader attaches with `IMAGESTREAM_NOERROR`
    /// whatever the server is doing (SPEC section 7).
    pub fn attach_status(&self) -> Attach {
        Attach::Fresh
    }

    /// The mapped file.
    #[inline]
    pub fn mapped(&self) -> &MappedFile {
        self.file.mapped()
    }

    /// Whether the file still carries this reader's layout (the mapping's health is the
    /// caller's to check).
    #[inline]
    pub fn same_layout(&self) -> Result<(), Error> {
        self.file.same_layout()
    }

    /// Bytes of payload per buffer.
    pub fn payload_size(&self) -> usize {
        self.file.layout().payload_size()
    }

    /// A counted reference to the mapping.
    pub fn mapping_ref(&self) -> MappingRef {
        MappingRef::new(self.file.clone())
    }

    /// The reader slot this reader owns.
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// The number of buffers.
    pub fn buffers(&self) -> usize {
        self.file.layout().buffers()
    }

    /// Whether the newest frame is one this reader already had: one load.
    #[inline]
    pub fn nothing_to_take(&self) -> bool {
        split_latest(self.file.latest().load(Ordering::Acquire)).0 <= self.last_seq
    }

    /// Holds the newest frame if it is newer than the last one taken (see the protocol in
    /// [`crate::transport::broadcast`]); `None` when there is none, or its header describes a
    /// frame that does not fit (a corrupt file).
    pub fn take_newest(&mut self) -> Option<FrameInfo> {
        let f = &self.file;
        let bit = 1u64 << self.slot;
        for _ in 0..HOLD_ATTEMPTS {
            let (seq, b) = split_latest(f.latest().load(Ordering::Acquire));
            if seq <= self.last_seq || b >= f.layout().buffers() {
                return None;
            }
            f.holders(b).fetch_or(bit, Ordering::SeqCst);
            if f.epoch_now() != f.epoch() {
                // A server is laying the file out anew (it checks the holders after changing
                // the epoch, so either it sees this bit or this reader sees the new epoch).
                f.holders(b).fetch_and(!bit, Ordering::Release);
                return None;
            }
            if f.tag(b).load(Ordering::SeqCst) != BufferTag::word(seq, BufferPhase::Ready) {
                // The server has moved on: this buffer is being rewritten or holds a newer frame.
                f.holders(b).fetch_and(!bit, Ordering::Release);
                continue;
            }
            let (frame_number, width, height) = f.frame_of(b);
            self.last_seq = seq;
            if !f.layout().fits(width, height) {
                f.holders(b).fetch_and(!bit, Ordering::Release);
                return None;
            }
            f.slot_last_seq(self.slot).store(seq, Ordering::Relaxed);
            f.slot_u32(self.slot, slot::HELD)
                .store(b as u32 + 1, Ordering::Relaxed);
            return Some(FrameInfo {
                frame_number,
                width,
                height,
                buffer: b,
            });
        }
        None
    }

    /// Byte offset of a held frame's pixels in the file.
    pub fn pixels_offset(&self, info: &FrameInfo) -> usize {
        self.file.layout().payload_offset(info.buffer)
    }

    /// Gives a held frame back (Release: every read of its pixels happens before).
    pub fn release(&mut self, info: &FrameInfo) {
        self.file
            .slot_u32(self.slot, slot::HELD)
            .store(0, Ordering::Relaxed);
        self.file
            .holders(info.buffer)
            .fetch_and(!(1u64 << self.slot), Ordering::Release);
    }

    /// What to sleep on until a frame newer than the last one taken may arrive.
    pub fn signal(&self) -> BroadcastSignal {
        BroadcastSignal {
            file: Arc::clone(&self.file),
            slot: self.slot,
            _slot_lock: Arc::clone(&self.slot_lock),
            last_seq: self.last_seq,
        }
    }
}

impl Drop for BroadcastReader {
    fn drop(&mut self) {
        // The slot is clean after this; its lock goes with the last reference to it (this
        // reader's, or a signal's that is still waiting).
        self.file.free_slot(self.slot);
    }
}

/// Sleeping until the server of a broadcast file publishes a frame newer than a reader's last;
/// keeps the file mapped.
#[derive(Debug)]
pub(crate) struct BroadcastSignal {
    file: Arc<BroadcastFile>,
    slot: usize,
    /// Keeps the slot from being taken by another reader while this signal may still clear its
    /// waiting bit.
    _slot_lock: Arc<RangeLock>,
    last_seq: u64,
}

impl BroadcastSignal {
    /// Sleeps until the server publishes, or `timeout` passes, and at most one slice. The reader
    /// marks itself in `waiting` while it sleeps, so that the server makes a wake-up call only
    /// when someone waits, and one call wakes every waiting reader.
    pub fn wait(&self, timeout: Duration) {
        let f = &self.file;
        if f.mapped()
            .check_if_due()
            .and_then(|()| f.same_layout())
            .is_err()
        {
            return; // the next lock reports it
        }
        let bit = 1u64 << self.slot;
        let new_frame = || split_latest(f.latest().load(Ordering::SeqCst)).0 > self.last_seq;
        f.waiting().fetch_or(bit, Ordering::SeqCst);
        let seen = f.notify().load(Ordering::SeqCst);
        // Re-check after marking: a frame published before the server could see the mark must
        // not be slept through (it incremented `notify` after publishing, so either the check
        // below sees the frame or the sleep sees `notify` changed).
        if !new_frame() {
            let woke = f.wait(seen, f.wake_history.slice(timeout));
            f.wake_history.record(woke, new_frame);
        }
        f.waiting().fetch_and(!bit, Ordering::SeqCst);
    }
}
