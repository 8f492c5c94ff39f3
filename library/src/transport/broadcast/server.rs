//! The server of a broadcast stream: lays the file out (or resumes one a previous server left),
//! takes buffers no reader holds, publishes, wakes waiting readers with one call, and reaps the
//! slots of dead readers. The public [`crate::Server`] drives it; the protocol is described in
//! [`crate::transport::broadcast`].

use std::fs::File;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::platform::{self, RangeLock, Wake};
use crate::transport::broadcast::file::BroadcastFile;
use crate::transport::broadcast::layout::{buffer, slot, BroadcastLayout, READER_SLOTS};
use crate::transport::broadcast::{
    latest_word, slot_lock_offset, split_latest, BufferPhase, BufferTag, SERVER_LOCK_OFFSET,
};
use crate::transport::createfile;
use crate::transport::error::Error;
use crate::transport::mapped_file::{MappedFile, MappingRef};
use crate::transport::server::{PutOutcome, WakeStats};

/// How often (at most) the server looks for dead readers while it publishes.
const REAP_INTERVAL_NS: u64 = 250_000_000;
/// How often (at most) it looks when no buffer is free.
const REAP_WHEN_FULL_NS: u64 = 10_000_000;

/// The writer of a broadcast file. Dropping it gives up the server lock.
#[derive(Debug)]
pub(crate) struct BroadcastWriter {
    file: Arc<BroadcastFile>,
    /// Marks this process as the file's server; the next server can start once it is gone.
    _server_lock: RangeLock,
    wake_stats: WakeStats,
    /// Coarse clock of the last look for dead readers.
    last_reap: u64,
    /// Readers found dead and reaped so far.
    reaped: u64,
}

/// Attempts at taking the server lock before a server is reported alive.
const SERVER_LOCK_ATTEMPTS: u32 = 3;
/// How long a server that lays a file out anew waits for the readers of the old layout to give
/// back the frames they hold.
const RETIRE_WAIT: Duration = Duration::from_secs(1);

/// Takes the server lock of a stream file. A lock found taken is tried again twice, 2 ms apart:
/// where a lock can only be probed by taking it (Windows), `shmimg inspect` holds it for a
/// moment.
fn server_lock(file: &File) -> Result<RangeLock, Error> {
    for attempt in 1..=SERVER_LOCK_ATTEMPTS {
        match RangeLock::try_lock(file, SERVER_LOCK_OFFSET) {
            Ok(Some(lock)) => return Ok(lock),
            Ok(None) if attempt < SERVER_LOCK_ATTEMPTS => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Ok(None) => {}
            Err(_) => return Err(Error::UnableToOpenFile),
        }
    }
    // Another server of this file is alive.
    Err(Error::IsServer)
}

/// Whether the server a file records is still alive although its lock could be taken: possible
/// only where a process's locks are lost when it closes any descriptor of the file (classic
/// POSIX record locks), so there the recorded process id is asked as well.
fn recorded_server_alive(file: &BroadcastFile) -> bool {
    if platform::LOCKS_SEEN_WITHIN_PROCESS {
        return false;
    }
    let pid = file.server_pid().load(Ordering::Relaxed);
    pid != 0 && pid != std::process::id() && platform::process_exists(pid)
}

impl BroadcastWriter {
    /// Creates or grows `path` for `layout` (never shrinking it; a new file is owner-only), and
    /// serves it: a file that already carries this very layout is resumed, with its readers
    /// (a restarted server); anything else is laid out anew, and readers of an older layout are
    /// told (`IMAGESTREAM_BAD_FILE_SIZE`) after the frames they hold are given back (waited for
    /// up to a second).
    ///
    /// # Errors
    /// Those of [`crate::create_file`]; [`Error::IsServer`] when a live server already serves
    /// the file (the file is left as it was).
    pub fn create(path: &Path, layout: BroadcastLayout) -> Result<BroadcastWriter, Error> {
        // The lock before any change: a second server fails without touching the file.
        let file = createfile::open_or_create(path, createfile::OWNER_ONLY)?;
        let lock = server_lock(&file)?;
        let len = createfile::grow(&file, layout.file_len())?;
        // A file that was longer keeps its length; the layout follows it, so that the second
        // decoy header stays where the original protocol looks.
        let layout = layout.for_file_len(len)?;
        let mapped = MappedFile::map(file, path, layout.file_len())?;
        let file = match BroadcastFile::recognise(&mapped) {
            Some(found) => {
                let old = BroadcastFile::new(mapped, found);
                if recorded_server_alive(&old) {
                    return Err(Error::IsServer);
                }
                if found.layout == layout {
                    old
                } else {
                    // Two new epochs: one to stop the old readers, and the new layout's, so
                    // that a reader that read fields of both layouts is refused.
                    retire(&old, found.epoch.wrapping_add(1));
                    BroadcastFile::lay_out(old.into_mapped(), layout, found.epoch.wrapping_add(2))
                }
            }
            None => BroadcastFile::lay_out(mapped, layout, (platform::monotonic_ns() as u32) | 1),
        };
        Ok(BroadcastWriter::start(file, lock))
    }

    /// Serves a mapped file that carries a broadcast layout (a server created with the original
    /// call on such a file: it resumes it).
    ///
    /// # Errors
    /// [`Error::IsServer`] when a live server already serves the file.
    pub fn resume(file: BroadcastFile) -> Result<BroadcastWriter, Error> {
        let lock = server_lock(file.mapped().file())?;
        if recorded_server_alive(&file) {
            return Err(Error::IsServer);
        }
        Ok(BroadcastWriter::start(file, lock))
    }

    fn start(file: BroadcastFile, lock: RangeLock) -> BroadcastWriter {
        // The previous server is gone (we hold its lock): a buffer it was writing is free.
        for b in 0..file.layout().buffers() {
            let t = file.tag_now(b);
            if t.phase != Some(BufferPhase::Ready) {
                file.tag(b)
                    .store(BufferTag::word(t.seq, BufferPhase::Free), Ordering::Release);
            }
        }
        file.server_pid()
            .store(std::process::id(), Ordering::Relaxed);
        BroadcastWriter {
            file: Arc::new(file),
            _server_lock: lock,
            wake_stats: WakeStats::default(),
            last_reap: 0,
            reaped: 0,
        }
    }

    /// The mapped file.
    #[inline]
    pub fn mapped(&self) -> &MappedFile {
        self.file.mapped()
    }

    /// The health of the mapping and of the layout (another server may have laid the file out
    /// anew).
    pub fn health(&self) -> Result<(), Error> {
        self.file.health()?;
        if self.file.next_seq().load(Ordering::Relaxed) >= BufferTag::MAX_SEQ {
            return Err(Error::BadFileSize);
        }
        Ok(())
    }

    /// Bytes of payload per buffer.
    pub fn payload_size(&self) -> usize {
        self.file.layout().payload_size()
    }

    /// The number of buffers.
    pub fn buffers(&self) -> usize {
        self.file.layout().buffers()
    }

    /// A counted reference to the mapping.
    pub fn mapping_ref(&self) -> MappingRef {
        MappingRef::new(self.file.clone())
    }

    /// What this server's wake-ups did so far.
    pub fn wake_stats(&self) -> WakeStats {
        self.wake_stats
    }

    /// Reader slots found dead and given back so far.
    pub fn readers_reaped(&self) -> u64 {
        self.reaped
    }

    /// Readers attached now (a dead reader counts until it is reaped): one load.
    #[inline]
    pub fn readers_attached(&self) -> usize {
        self.file.attached().load(Ordering::Acquire).count_ones() as usize
    }

    /// Takes a buffer that is not the newest frame's and that no reader holds, and marks it
    /// WRITING; or says why there is none (`Unconnected` with no reader attached, else
    /// `Dropped`). Looks for dead readers at most every 250 ms, and when no buffer is free.
    pub fn take_free(&mut self) -> Result<usize, PutOutcome> {
        let now = MappedFile::coarse_now_ns();
        if now.saturating_sub(self.last_reap) >= REAP_INTERVAL_NS {
            self.reap(now);
        }
        if self.readers_attached() == 0 {
            return Err(PutOutcome::Unconnected);
        }
        if let Some(b) = self.claim() {
            return Ok(b);
        }
        if now.saturating_sub(self.last_reap) >= REAP_WHEN_FULL_NS && self.reap(now) > 0 {
            if let Some(b) = self.claim() {
                return Ok(b);
            }
        }
        Err(if self.readers_attached() == 0 {
            PutOutcome::Unconnected
        } else {
            PutOutcome::Dropped
        })
    }

    /// One pass over the buffers for one that can be taken; the oldest frame first.
    fn claim(&mut self) -> Option<usize> {
        let f = &self.file;
        let (_, newest) = split_latest(f.latest().load(Ordering::Acquire));
        let n = f.layout().buffers();
        // Oldest first, without allocating: at most 64 buffers, scanned for the oldest untried
        // one each round.
        let mut tried = 0u64;
        for _ in 0..n {
            let mut best: Option<(u64, usize, u64)> = None;
            for b in 0..n {
                if b == newest || tried & (1 << b) != 0 {
                    continue;
                }
                let word = f.tag(b).load(Ordering::Acquire);
                let tag = BufferTag::from_word(word);
                if tag.phase == Some(BufferPhase::Writing) {
                    continue;
                }
                if best.is_none_or(|(seq, _, _)| tag.seq < seq) {
                    best = Some((tag.seq, b, word));
                }
            }
            let (seq, b, word) = best?;
            tried |= 1 << b;
            if f.holders(b).load(Ordering::SeqCst) != 0 {
                continue;
            }
            let writing = BufferTag::word(seq, BufferPhase::Writing);
            if f.tag(b)
                .compare_exchange(word, writing, Ordering::SeqCst, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            if f.holders(b).load(Ordering::SeqCst) != 0 {
                // A reader got in between: it may read this buffer, so put the tag back.
                f.tag(b).store(word, Ordering::Release);
                continue;
            }
            return Some(b);
        }
        None
    }

    /// Byte offset of buffer `b`'s payload in the file.
    pub fn pixels_offset(&self, b: usize) -> usize {
        self.file.layout().payload_offset(b)
    }

    /// Publishes a buffer taken with [`BroadcastWriter::take_free`] as the newest frame and
    /// wakes every waiting reader with one call (none when nobody waits).
    pub fn publish(&mut self, b: usize, frame_number: u32, width: u32, height: u32) -> PutOutcome {
        let f = &self.file;
        f.header_u32(b, buffer::FRAME_NUMBER)
            .store(frame_number, Ordering::Relaxed);
        f.header_u32(b, buffer::WIDTH)
            .store(width, Ordering::Relaxed);
        f.header_u32(b, buffer::HEIGHT)
            .store(height, Ordering::Relaxed);
        f.published_ns(b)
            .store(MappedFile::coarse_now_ns(), Ordering::Relaxed);
        let seq = f.next_seq().load(Ordering::Relaxed).saturating_add(1);
        if seq > BufferTag::MAX_SEQ {
            // Only a file written by someone else can get here (2^56 frames): refuse to
            // publish; `health` reports the file as unusable.
            self.abandon(b);
            return PutOutcome::Dropped;
        }
        f.next_seq().store(seq, Ordering::Relaxed);
        f.tag(b)
            .store(BufferTag::word(seq, BufferPhase::Ready), Ordering::Release);
        f.latest().store(latest_word(seq, b), Ordering::SeqCst);
        f.notify().fetch_add(1, Ordering::SeqCst);
        let waiting = f.waiting().load(Ordering::SeqCst);
        if waiting != 0 {
            self.wake_stats.calls += 1;
            if f.wake_all(waiting.count_ones()) == Wake::WokeSome {
                self.wake_stats.woke_sleepers += 1;
            }
        }
        PutOutcome::Delivered
    }

    /// Gives back a buffer taken with [`BroadcastWriter::take_free`] unpublished.
    pub fn abandon(&mut self, b: usize) {
        let t = self.file.tag_now(b);
        self.file
            .tag(b)
            .store(BufferTag::word(t.seq, BufferPhase::Free), Ordering::Release);
    }

    /// Frees the slots of readers that died (see [`reap_dead_readers`]); returns how many.
    fn reap(&mut self, now: u64) -> usize {
        self.last_reap = now;
        let freed = reap_dead_readers(&self.file);
        self.reaped += freed as u64;
        freed
    }
}

/// Frees the slots of readers that died: a slot marked attached whose lock can be taken belongs
/// to nobody. Returns how many were freed.
fn reap_dead_readers(f: &BroadcastFile) -> usize {
    let mut freed = 0;
    for i in 0..READER_SLOTS {
        if !f.slot_attached(i) {
            continue;
        }
        // Where locks belong to the process rather than to an open file (classic POSIX record
        // locks), a lock can be lost while its process lives (closing any descriptor of the
        // file drops them all): there a slot is reaped only when its process is gone as well.
        let owner = f.slot_u32(i, slot::PID).load(Ordering::Relaxed);
        if !platform::LOCKS_SEEN_WITHIN_PROCESS && platform::process_exists(owner) {
            continue;
        }
        if let Ok(Some(lock)) = RangeLock::try_lock(f.mapped().file(), slot_lock_offset(i)) {
            f.free_slot(i);
            drop(lock);
            freed += 1;
        }
    }
    freed
}

/// Stops the readers of `old`'s layout (a new `epoch`) and waits, at most [`RETIRE_WAIT`], for
/// them to give back the frames they hold, reaping dead ones meanwhile. A reader that holds a
/// frame longer may see it overwritten by the new layout's frames; it gets
/// `IMAGESTREAM_BAD_FILE_SIZE` at its next call.
fn retire(old: &BroadcastFile, epoch: u32) {
    old.retire(epoch);
    let start = Instant::now();
    loop {
        reap_dead_readers(old);
        let held = (0..old.layout().buffers()).any(|b| old.holders(b).load(Ordering::SeqCst) != 0);
        if !held || start.elapsed() >= RETIRE_WAIT {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

impl Drop for BroadcastWriter {
    fn drop(&mut self) {
        self.file.server_pid().store(0, Ordering::Relaxed);
    }
}
