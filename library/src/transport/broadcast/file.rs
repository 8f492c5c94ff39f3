//! A broadcast file laid over a mapping: recognising it, laying it out, and typed access to its
//! control block, reader slots, buffer headers and payloads. Offsets always come from the
//! layout fixed when the file was opened, never from the file, so whatever another process
//! writes, every access stays inside the mapping.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::platform::{Wake, Woke};
use crate::transport::broadcast::layout::{
    self, buffer, control, slot, BroadcastLayout, READER_SLOTS,
};
use crate::transport::broadcast::BufferTag;
use crate::transport::error::Error;
use crate::transport::mapped_file::MappedFile;
use crate::transport::wake::WakeHistory;

/// Wait key of the `notify` word (the file's only wait word).
const NOTIFY_KEY: u32 = 0;

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
    pub fn recognise(mapped: &MappedFile) -> Option<Recognised> {
        if mapped.len() < control::END {
            return None;
        }
        // The magic is written last when a file is laid out (Release), so reading it first
        // (Acquire) makes the rest of the control block visible.
        let magic = mapped.u64_at(control::MAGIC).load(Ordering::Acquire);
        if magic.to_ne_bytes() != layout::MAGIC {
            return None;
        }
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
        Some(Recognised {
            layout: l,
            epoch: u32_at(control::EPOCH),
        })
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

    /// Lays the file out anew for `layout` under `epoch` (the caller holds the server lock and
    /// the file is at least `layout.file_len()` long): decoys, control block, reader slots
    /// that nobody holds, buffer headers. The magic is written last.
    ///
    /// # Panics
    /// When the mapping is shorter than the layout.
    pub fn lay_out(mapped: MappedFile, layout: BroadcastLayout, epoch: u32) -> BroadcastFile {
        assert!(mapped.len() as u64 >= layout.file_len(), "file too short");
        // Unrecognisable while it is being laid out.
        mapped.u64_at(control::MAGIC).store(0, Ordering::Release);
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
        put32(control::EPOCH, epoch);
        put64(control::NEXT_SEQ, 0);
        put64(control::LATEST, 0);
        put32(control::NOTIFY, 0);
        put32(control::SERVER_PID, 0);
        put64(control::WAITING, 0);
        put64(control::ATTACHED, 0);
        for b in 0..layout.buffers() {
            let at = layout.header_offset(b);
            for field in (0..buffer::SIZE).step_by(8) {
                put64(at + field, 0);
            }
        }
        let file = BroadcastFile {
            mapped,
            layout,
            epoch,
            wake_history: WakeHistory::default(),
        };
        file.mapped
            .u64_at(control::MAGIC)
            .store(u64::from_ne_bytes(layout::MAGIC), Ordering::Release);
        file
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
        if self.epoch_now() != self.epoch {
            return Err(Error::BadFileSize);
        }
        Ok(())
    }

    /// The epoch recorded in the file now.
    #[inline]
    pub fn epoch_now(&self) -> u32 {
        self.mapped.u32_at(control::EPOCH).load(Ordering::Relaxed)
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
