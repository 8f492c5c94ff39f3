//! Broadcast streams (SPEC section 7): one server, up to 64 readers, on a file of its own kind.
//!
//! # The file
//!
//! All integers native-endian. Offsets in [`layout`]; the geometry follows from the number of
//! buffers `n` (3 to 64) and the payload size `S` alone ([`BroadcastLayout`]).
//!
//! | offset | what |
//! |---|---|
//! | 0 | decoy two-buffer header: zeros, state byte (offset 20) = 1 |
//! | 64 | control block: magic `SHMIMGBC`, version 1, `n`, `S`, file length, reader slots (64), epoch, `next_seq`, `latest`, `notify`, server pid, `waiting` |
//! | 256 | 64 reader slots of 64 bytes: state (0 free, 1 attached), pid, last sequence number, held buffer |
//! | 4352 | room for 64 buffer headers of 64 bytes, the first `n` used: `tag` (`seq << 8 \| state`), `holders` (bit per reader slot), frame number, width, height, publish time |
//! | 12288 | payloads `0..ceil(n/2)`, one every `S` rounded up to a page |
//! | `H` = half the file | second decoy header (state 1), then payloads `ceil(n/2)..n` from `H + 4096` |
//!
//! A client of the original protocol reads its two buffer headers at 0 and `24 + P` with
//! `P = (L - 48) / 2`; the file is laid out so that both are the decoys, whose state 1
//! (SERVER_LOCKED) such a client never changes: it attaches (RECONNECTING), never finds a frame,
//! and writes nothing.
//!
//! Process-local liveness: reader slot `i` is owned by whoever holds a byte-range lock on byte
//! `2^40 + i` of the file (past its end; the lock marks ownership, it protects no data), the
//! server by the lock on byte `2^40 + 64`. The operating system releases these locks when a
//! process dies, so a dead reader is recognised by a failed lock probe, never by a stored process
//! id that may have been reused.
//!
//! # The state machine
//!
//! A buffer's `tag` is `seq << 8 | state`, with state FREE (0), WRITING (1) or READY (2), and
//! `seq` the sequence number of the frame it holds (the server numbers its frames 1, 2, 3, ...
//! in publication order; `next_seq` is the last one used). `holders` has bit `i` set while reader
//! `i` holds the buffer's frame. `latest` names the newest complete frame.
//!
//! - **Server takes a buffer** (`take_free`): not the buffer of `latest`, tag not WRITING,
//!   `holders == 0`; CAS `tag` to WRITING (SeqCst), then load `holders` again (SeqCst): non-zero
//!   means a reader got in between, so the tag is put back and another buffer tried. None left:
//!   the frame is dropped (`NO_BUFFERAVAILABLE`, or `UNCONNECTED` with no reader attached).
//!   The server never waits.
//! - **Server publishes**: header fields (relaxed), `tag = seq << 8 | READY` (Release),
//!   `latest = seq << 8 | b` (SeqCst), `notify += 1` (SeqCst), then a wake-up when `waiting` is
//!   not zero (one call wakes every waiting reader).
//! - **Reader locks**: `latest` (Acquire); nothing if its `seq` is not above the reader's last;
//!   else `holders[b] |= bit` (SeqCst), then load `tag[b]` (SeqCst): if it is not exactly
//!   `seq << 8 | READY` the server has moved on (the buffer is being rewritten, or holds a newer
//!   frame), so the bit is cleared and the lock retried.
//! - **Reader unlocks**: `holders[b] &= !bit` (Release: the reads of the pixels happen before).
//!
//! **Why no frame can be torn.** The server writes a payload only while its tag is WRITING, and
//! it keeps a buffer in WRITING only if, after its CAS to WRITING, it saw `holders == 0`. A
//! reader reads a payload only while its bit is set and only if, after setting it, it saw the
//! tag READY with the sequence number it wanted. Both sides write (SeqCst) and then read the
//! other's word (SeqCst); in the single total order of SeqCst operations one write comes first,
//! so at least one side sees the other's write and backs off: a reader never holds a buffer the
//! server writes. The sequence number in the tag rules out ABA: a buffer rewritten and
//! republished between a reader's load of `latest` and its check carries a newer number. The
//! Release on publish and unlock, and the Acquire/SeqCst loads before reading or writing a
//! payload, order the pixel accesses themselves.
//!
//! **Frames never go backwards** for a reader: it takes a frame only when its sequence number
//! is above the last one it took. **Dead readers** are reaped by the server at most every
//! 250 ms (and at once when no buffer is free): a slot marked attached whose lock can be taken
//! belongs to nobody, so its bits are cleared from every `holders` and from `waiting`, and the
//! slot freed. **A dead server** leaves a buffer in WRITING; the next server (which must hold
//! the server lock, so the old one is gone) sets such buffers FREE and goes on numbering from
//! `next_seq`, so attached readers go on reading.
//!
//! **Laying a file out anew** (a server with another geometry): the server marks the file as
//! being laid out (magic `SHMIMGLO`) and changes the epoch (SeqCst), so that readers of the old
//! layout stop: a reader loads the epoch after setting its holder bit (SeqCst), so either it sees
//! the new epoch and gives the frame back, or the server sees the bit. The server reaps dead
//! readers and waits, at most a second, for the old layout's holders to empty, then writes the
//! new layout with a second new epoch (after every other field, Release) and the magic. Headers
//! sit at the same offsets in every layout, never inside a payload, so whatever an old reader
//! still does to its headers touches no pixels. A reader attaching reads the epoch (Acquire)
//! before the other fields: either they go with it, or the epoch is not the final one and the
//! reader's first call reports `IMAGESTREAM_BAD_FILE_SIZE`.

pub mod layout;

pub(crate) mod file;
pub(crate) mod reader;
pub(crate) mod server;
pub mod status;

pub use layout::BroadcastLayout;
pub use status::{BroadcastStatus, BufferStatus, ReaderStatus};

/// The state of a broadcast buffer, in the low byte of its tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum BufferPhase {
    /// 0: holds no frame, or one older than `latest` (the server may take it).
    Free = 0,
    /// 1: the server is writing it.
    Writing = 1,
    /// 2: holds a complete frame.
    Ready = 2,
}

/// A buffer's tag: the sequence number of its frame and its phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BufferTag {
    /// Sequence number of the frame in the buffer (0: none yet).
    pub seq: u64,
    /// The phase; `None` for a byte no participant writes (a corrupt file).
    pub phase: Option<BufferPhase>,
}

impl BufferTag {
    /// The highest sequence number a tag (and `latest`) can carry, above the low byte.
    pub(crate) const MAX_SEQ: u64 = u64::MAX >> 8;

    /// Decodes a raw tag word.
    pub fn from_word(word: u64) -> BufferTag {
        BufferTag {
            seq: word >> 8,
            phase: match word & 0xFF {
                0 => Some(BufferPhase::Free),
                1 => Some(BufferPhase::Writing),
                2 => Some(BufferPhase::Ready),
                _ => None,
            },
        }
    }

    /// The raw word of `seq` and `phase`.
    pub fn word(seq: u64, phase: BufferPhase) -> u64 {
        seq << 8 | phase as u64
    }
}

/// The `latest` word naming frame `seq` in buffer `b`.
pub(crate) fn latest_word(seq: u64, b: usize) -> u64 {
    seq << 8 | b as u64
}

/// The sequence number and buffer a `latest` word names (sequence number 0 before the first
/// frame).
#[inline]
pub(crate) fn split_latest(word: u64) -> (u64, usize) {
    (word >> 8, (word & 0xFF) as usize)
}

/// Byte of the file whose lock marks reader slot `slot` as owned (past any real file's end).
pub(crate) fn slot_lock_offset(slot: usize) -> u64 {
    (1u64 << 40) + slot as u64
}

/// Byte of the file whose lock marks the server as alive.
pub(crate) const SERVER_LOCK_OFFSET: u64 = (1u64 << 40) + layout::READER_SLOTS as u64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip() {
        for phase in [BufferPhase::Free, BufferPhase::Writing, BufferPhase::Ready] {
            let t = BufferTag::from_word(BufferTag::word(12345, phase));
            assert_eq!((t.seq, t.phase), (12345, Some(phase)));
        }
        assert_eq!(BufferTag::from_word(7).phase, None);
    }
}
