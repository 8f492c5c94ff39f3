//! A read-only snapshot of a broadcast file for diagnostics (`shmimg inspect`): the buffers and
//! who holds them, the reader table, and which readers are dead.

use std::path::Path;
use std::sync::atomic::Ordering;

use crate::platform::RangeLock;
use crate::transport::broadcast::file::BroadcastFile;
use crate::transport::broadcast::layout::{slot, BroadcastLayout, READER_SLOTS};
use crate::transport::broadcast::{slot_lock_offset, split_latest, BufferTag, SERVER_LOCK_OFFSET};
use crate::transport::error::Error;
use crate::transport::mapped_file::MappedFile;
use crate::transport::two_buffer::layout::MIN_FILE_SIZE;

/// One buffer of a broadcast file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferStatus {
    /// Its tag: the sequence number of its frame and its phase.
    pub tag: BufferTag,
    /// Reader slots holding its frame (bit per slot).
    pub holders: u64,
    /// The frame's number, width and height.
    pub frame: (u32, u32, u32),
    /// When the frame was published (0 before the first), on the clock of
    /// [`BroadcastStatus::now_ns`].
    pub published_ns: u64,
}

/// One attached reader slot of a broadcast file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderStatus {
    /// The slot.
    pub slot: usize,
    /// The process id the reader recorded.
    pub pid: u32,
    /// The sequence number of the last frame it took.
    pub last_seq: u64,
    /// The buffer it holds, if any.
    pub held: Option<usize>,
    /// Whether its owner is alive (it holds the slot's lock); a dead one is given back by the
    /// server within 250 ms of its next frame.
    pub alive: bool,
}

/// A snapshot of a broadcast file, read without changing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastStatus {
    /// The geometry.
    pub layout: BroadcastLayout,
    /// The layout's epoch.
    pub epoch: u32,
    /// Sequence number of the last frame published.
    pub last_seq: u64,
    /// The newest complete frame: (sequence number, buffer).
    pub latest: Option<(u64, usize)>,
    /// The process id of the last server, and whether a server is alive now.
    pub server: (u32, bool),
    /// Reader slots waiting for a frame (bit per slot).
    pub waiting: u64,
    /// Every buffer.
    pub buffers: Vec<BufferStatus>,
    /// Every slot marked attached.
    pub readers: Vec<ReaderStatus>,
    /// The time of this snapshot on the clock the server stamps frames with (a coarse monotonic
    /// clock, nanoseconds): a frame's age is `now_ns - published_ns`.
    pub now_ns: u64,
}

impl BroadcastStatus {
    /// Reads the status of the broadcast file at `path`, opened and mapped read-only, without
    /// taking any lock; `Ok(None)` when it is not one.
    ///
    /// # Errors
    /// Those of opening and mapping a stream file.
    pub fn read(path: impl AsRef<Path>) -> Result<Option<BroadcastStatus>, Error> {
        let mapped = MappedFile::open_read_only(path.as_ref(), MIN_FILE_SIZE)?;
        let Some(found) = BroadcastFile::recognise(&mapped) else {
            return Ok(None);
        };
        let f = BroadcastFile::new(mapped, found);
        let held_by_someone =
            |offset| RangeLock::is_held(f.mapped().file(), offset).unwrap_or(false);
        let latest = f.latest().load(Ordering::Acquire);
        let buffers = (0..f.layout().buffers())
            .map(|b| BufferStatus {
                tag: f.tag_now(b),
                holders: f.holders(b).load(Ordering::Acquire),
                frame: f.frame_of(b),
                published_ns: f.published_ns(b).load(Ordering::Relaxed),
            })
            .collect();
        let readers = (0..READER_SLOTS)
            .filter(|&i| f.slot_attached(i))
            .map(|i| ReaderStatus {
                slot: i,
                pid: f.slot_u32(i, slot::PID).load(Ordering::Relaxed),
                last_seq: f.slot_last_seq(i).load(Ordering::Relaxed),
                held: match f.slot_u32(i, slot::HELD).load(Ordering::Relaxed) {
                    0 => None,
                    b => Some(b as usize - 1),
                },
                alive: held_by_someone(slot_lock_offset(i)),
            })
            .collect();
        Ok(Some(BroadcastStatus {
            layout: *f.layout(),
            epoch: f.epoch_now(),
            last_seq: f.next_seq().load(Ordering::Relaxed),
            latest: (latest != 0).then_some(split_latest(latest)),
            server: (
                f.server_pid().load(Ordering::Relaxed),
                held_by_someone(SERVER_LOCK_OFFSET),
            ),
            waiting: f.waiting().load(Ordering::Relaxed),
            buffers,
            readers,
            now_ns: MappedFile::coarse_now_ns(),
        }))
    }
}
