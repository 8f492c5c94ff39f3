//! A broadcast file laid over a mapping: recognising it, laying it out, and typed access to its
//! control block, reader slots, buffer headers and payloads. Offsets always come from the
//! layout fixed when the file was opened, never from the file, so whatever another process
//! writes, every access stays inside the mapping.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::platform::{RangeLock, Wake, Woke};
use crate::transport::broadcast::layout::{
    self, buffer, control, slot, BroadcastLayout, BUFFER_HEADERS_OFFSET, DATA_START, READER_SLOTS,
};
use crate::transport::broadcast::{BufferTag, SERVER_LOCK_OFFSET};
use crate::transport::error::Error;
use crate::transport::mapped_file::MappedFile;
use crate::transport::wake::WakeHistory;

/// Wait key of the `notify` word (the file's only wait word).
const NOTIFY_KEY: u32 = 0;

/// How long a reader attaching waits for a server that is laying the file out: longer than a
/// server waits for the readers of the previous layout ([`crate::transport::broadcast`]).
pub(crate) const LAYING_OUT_WAIT: Duration = Duration::from_secs(2);

/// A mapped broadcast file.
#[derive(Debug)]
pub(crate) struct BroadcastFile {
    mapped: MappedFile,
    layout: BroadcastLayout,
    /// The epoch this process attached under; a different one in the file means the file was
    /// laid out anew.
    epoch: u32,
    /// Whether the server has been seen to wake a waiting reader (process-local).
    pub wake_history: WakeHistory,
}

/// Marks a file as being laid out (SeqCst): readers attaching wait, and it is not recognised as
/// a broadcast file until the magic is written again.
fn mark_laying_out(mapped: &MappedFile) {
    mapped.u64_at(control::MAGIC).store(
        u64::from_ne_bytes(layout::MAGIC_LAYING_OUT),
        Ordering::SeqCst,
    );
}

/// What [`BroadcastFile::recognise`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Recognised {
    /// The layout the file declares.
    pub layout: BroadcastLayout,
    /// Its epoch.
    pub epoch: u32,
}

impl BroadcastFile {
    /// Whether `mapped` carries a broadcast layout: the magic, version 1, a geometry that is
    /// valid and yields the recorded file length, and a file at least that long.
    ///
    /// A server may be laying the file out anew meanwhile, so the fields read may mix two
    /// layouts; but they are read after the epoch (Acquire), which [`BroadcastFile::lay_out`]
    /// writes after every other field (Release): fields that go with the epoch read, or an epoch
    /// that is not the file's final one, which the first [`BroadcastFile::health`] check (and
    /// the check in every lock) refuses. Whatever they mix, the geometry is validated, so every
    /// access through it stays inside the mapping.
    pub fn recognise(mapped: &MappedFile) -> Option<Recognised> {
        if mapped.len() < control::END {
            return None;
        }
        if mapped
            .u64_at(control::MAGIC)
            .load(Ordering::Acquire)
            .to_ne_bytes()
            != layout::MAGIC
        {
            return None;
        }
        let epoch = mapped.u32_at(control::EPOCH).load(Ordering::Acquire);
        let u32_at = |at| mapped.u32_at(at).load(Ordering::Relaxed);
        let u64_at = |at| mapped.u64_at(at).load(Ordering::Relaxed);
        if u32_at(control::VERSION) != layout::VERSION
            || u32_at(control::READER_SLOTS) as usize != READER_SLOTS
        {
            return None;
        }
        let l = BroadcastLayout::new(u32_at(control::BUFFERS), u64_at(control::PAYLOAD))
            .and_then(|l| l.for_file_len(u64_at(control::FILE_LEN)))
            .ok()?;
        if (mapped.len() as u64) < l.file_len() {
            return None;
        }
        Some(Recognised { layout: l, epoch })
    }

    /// [`BroadcastFile::recognise`], waiting while a server lays the file out: a file marked
    /// as being laid out while a server holds its lock is looked at again every millisecond (up
    /// to [`LAYING_OUT_WAIT`]), and one marked as laid out but not readable as such a few more
    /// times (a layout read while it changed). `None` for a file of another kind.
    pub fn recognise_waiting(mapped: &MappedFile) -> Option<Recognised> {
        const RETRIES_WHEN_MARKED: u32 = 3;
        let start = Instant::now();
        let mut retries = 0;
        loop {
            if let Some(found) = BroadcastFile::recognise(mapped) {
                return Some(found);
            }
            if mapped.len() < control::END {
                return None;
            }
            let magic = mapped
                .u64_at(control::MAGIC)
                .load(Ordering::Acquire)
                .to_ne_bytes();
            let again = if magic == layout::MAGIC {
                retries += 1;
                retries <= RETRIES_WHEN_MARKED
            } else {
                magic == layout::MAGIC_LAYING_OUT
                    && start.elapsed() < LAYING_OUT_WAIT
                    && RangeLock::is_held(mapped.file(), SERVER_LOCK_OFFSET).unwrap_or(false)
            };
            if !again {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The broadcast view of a mapped file that [`BroadcastFile::recognise`] recognised.
    pub fn new(mapped: MappedFile, found: Recognised) -> BroadcastFile {
        BroadcastFile {
            mapped,
            layout: found.layout,
            epoch: found.epoch,
            wake_history: WakeHistory::default(),
        }
    }

    /// Lays the file out anew for `layout` under `epoch` (the caller holds the server lock, the
    /// file is at least `layout.file_len()` long, and readers of a previous layout were told to
    /// stop: see [`BroadcastFile::retire`]): decoys, control block, every buffer header slot,
    /// reader slots left to their owners. The epoch is written after every other field
    /// (Release), the magic last.
    ///
    /// # Panics
    /// When the mapping is shorter than the layout.
    pub fn lay_out(mapped: MappedFile, layout: BroadcastLayout, epoch: u32) -> BroadcastFile {
        assert!(mapped.len() as u64 >= layout.file_len(), "file too short");
        mark_laying_out(&mapped);
        for at in [0, layout.second_decoy_offset()] {
            let decoy = layout::decoy_header();
            for (i, word) in decoy.chunks_exact(4).enumerate() {
                let w = u32::from_ne_bytes(word.try_into().expect("4 bytes"));
                mapped.u32_at(at + 4 * i).store(w, Ordering::Relaxed);
            }
        }
        let put32 = |at, v| mapped.u32_at(at).store(v, Ordering::Relaxed);
        let put64 = |at, v| mapped.u64_at(at).store(v, Ordering::Relaxed);
        put32(control::VERSION, layout::VERSION);
        put32(control::BUFFERS, layout.buffers() as u32);
        put64(control::PAYLOAD, layout.payload_size() as u64);
        put64(control::FILE_LEN, layout.file_len());
        put32(control::READER_SLOTS, READER_SLOTS as u32);
        put64(control::NEXT_SEQ, 0);
        put64(control::LATEST, 0);
        put32(control::NOTIFY, 0);
        put32(control::SERVER_PID, 0);
        put64(control::WAITING, 0);
        put64(control::ATTACHED, 0);
        // Every header a layout may have, so that none keeps bits of an earlier layout.
        for at in (BUFFER_HEADERS_OFFSET..DATA_START).step_by(8) {
            put64(at, 0);
        }
        mapped
            .u32_at(control::EPOCH)
            .store(epoch, Ordering::Release);
        mapped
            .u64_at(control::MAGIC)
            .store(u64::from_ne_bytes(layout::MAGIC), Ordering::Release);
        BroadcastFile {
            mapped,
            layout,
            epoch,
            wake_history: WakeHistory::default(),
        }
    }

    /// Tells the readers of this layout to stop, before the file is laid out anew: marks the
    /// file as being laid out (readers attaching now wait) and stores `epoch` (SeqCst), which
    /// readers check after setting a holder bit (so a reader either sees it and gives the frame
    /// back, or the caller sees the bit). `epoch` must differ from this layout's and from the
    /// one the new layout gets.
    pub fn retire(&self, epoch: u32) {
        mark_laying_out(&self.mapped);
        self.mapped
            .u32_at(control::EPOCH)
            .store(epoch, Ordering::SeqCst);
    }

    /// The epoch this process attached under (or laid the file out with).
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Gives back the mapping (to lay the file out anew).
    pub fn into_mapped(self) -> MappedFile {
        self.mapped
    }

    /// The mapping underneath.
    #[inline]
    pub fn mapped(&self) -> &MappedFile {
        &self.mapped
    }

    /// The geometry.
    #[inline]
    pub fn layout(&self) -> &BroadcastLayout {
        &self.layout
    }

    /// The health of the mapping, and whether the file still carries the layout this process
    /// attached under (a server that laid it out anew changed the epoch).
    #[inline]
    pub fn health(&self) -> Result<(), Error> {
        self.mapped.health()?;
        self.same_layout()
    }

    /// Whether the file still carries the layout this process attached under:
    /// [`Error::BadFileSize`] once a server laid it out anew (the epoch changed). For callers
    /// that check the mapping's health on their own.
    #[inline]
    pub fn same_layout(&self) -> Result<(), Error> {
        if self.epoch_now() != self.epoch {
            return Err(Error::BadFileSize);
        }
        Ok(())
    }

    /// The epoch recorded in the file now (SeqCst: see [`BroadcastFile::retire`]).
    #[inline]
    pub fn epoch_now(&self) -> u32 {
        self.mapped.u32_at(control::EPOCH).load(Ordering::SeqCst)
    }

    /// `next_seq`: the sequence number of the last frame published.
    #[inline]
    pub fn next_seq(&self) -> &AtomicU64 {
        self.mapped.u64_at(control::NEXT_SEQ)
    }

    /// `latest`: `seq << 8 | buffer` of the newest complete frame, 0 before the first.
    #[inline]
    pub fn latest(&self) -> &AtomicU64 {
        self.mapped.u64_at(control::LATEST)
    }

    /// `notify`: incremented at every publish; the word waiting readers sleep on.
    #[inline]
    pub fn notify(&self) -> &AtomicU32 {
        self.mapped.u32_at(control::NOTIFY)
    }

    /// `waiting`: bit `i` set while reader `i` sleeps.
    #[inline]
    pub fn waiting(&self) -> &AtomicU64 {
        self.mapped.u64_at(control::WAITING)
    }

    /// `attached`: bit `i` set while reader `i` is attached.
    #[inline]
    pub fn attached(&self) -> &AtomicU64 {
        self.mapped.u64_at(control::ATTACHED)
    }

    /// `server_pid`.
    pub fn server_pid(&self) -> &AtomicU32 {
        self.mapped.u32_at(control::SERVER_PID)
    }

    /// Buffer `b`'s tag word.
    #[inline]
    pub fn tag(&self, b: usize) -> &AtomicU64 {
        self.mapped
            .u64_at(self.layout.header_offset(b) + buffer::TAG)
    }

    /// Buffer `b`'s holders (bit per reader slot).
    #[inline]
    pub fn holders(&self, b: usize) -> &AtomicU64 {
        self.mapped
            .u64_at(self.layout.header_offset(b) + buffer::HOLDERS)
    }

    /// A field (u32) of buffer `b`'s header.
    #[inline]
    pub fn header_u32(&self, b: usize, field: usize) -> &AtomicU32 {
        self.mapped.u32_at(self.layout.header_offset(b) + field)
    }

    /// The frame number, width and height in buffer `b`'s header (relaxed loads: the caller
    /// holds the buffer, or only looks).
    pub fn frame_of(&self, b: usize) -> (u32, u32, u32) {
        let field = |at| self.header_u32(b, at).load(Ordering::Relaxed);
        (
            field(buffer::FRAME_NUMBER),
            field(buffer::WIDTH),
            field(buffer::HEIGHT),
        )
    }

    /// Buffer `b`'s publish time (coarse monotonic clock, nanoseconds).
    pub fn published_ns(&self, b: usize) -> &AtomicU64 {
        self.mapped
            .u64_at(self.layout.header_offset(b) + buffer::PUBLISHED_NS)
    }

    /// A u32 field of reader slot `i`.
    #[inline]
    pub fn slot_u32(&self, i: usize, field: usize) -> &AtomicU32 {
        self.mapped.u32_at(self.layout.slot_offset(i) + field)
    }

    /// Reader slot `i`'s last sequence number.
    #[inline]
    pub fn slot_last_seq(&self, i: usize) -> &AtomicU64 {
        self.mapped
            .u64_at(self.layout.slot_offset(i) + slot::LAST_SEQ)
    }

    /// Whether reader slot `i` is marked attached.
    pub fn slot_attached(&self, i: usize) -> bool {
        self.slot_u32(i, slot::STATE).load(Ordering::Acquire) == 1
    }

    /// Clears reader `i`'s bit from every buffer's holders and from `waiting`: what a reader
    /// holds and waits for, given back (at detach, or when it died).
    pub fn clear_reader_bits(&self, i: usize) {
        let bit = 1u64 << i;
        for b in 0..self.layout.buffers() {
            if self.holders(b).load(Ordering::Relaxed) & bit != 0 {
                self.holders(b).fetch_and(!bit, Ordering::Release);
            }
        }
        self.waiting().fetch_and(!bit, Ordering::SeqCst);
    }

    /// Frees reader slot `i` (its owner detaches, or died): gives back what it holds and waits
    /// for, clears its `attached` bit, and marks it free last, so that an owner killed half-way
    /// leaves a slot still marked attached, which the server reaps.
    pub fn free_slot(&self, i: usize) {
        self.clear_reader_bits(i);
        self.slot_u32(i, slot::HELD).store(0, Ordering::Relaxed);
        self.attached().fetch_and(!(1u64 << i), Ordering::Release);
        self.slot_u32(i, slot::STATE).store(0, Ordering::Release);
    }

    /// A decoded tag of buffer `b`.
    pub fn tag_now(&self, b: usize) -> BufferTag {
        BufferTag::from_word(self.tag(b).load(Ordering::Acquire))
    }

    /// Sleeps while `notify` holds `expected`, at most `timeout`.
    pub fn wait(&self, expected: u32, timeout: Duration) -> Woke {
        self.mapped
            .wait(NOTIFY_KEY, self.notify(), expected, timeout)
    }

    /// Wakes every reader sleeping on `notify` (one system call), of which the file counts
    /// `waiters`.
    pub fn wake_all(&self, waiters: u32) -> Wake {
        self.mapped.wake_all(NOTIFY_KEY, self.notify(), waiters)
    }
}
