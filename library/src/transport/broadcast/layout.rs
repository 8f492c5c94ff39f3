//! Where everything lives in a broadcast file: pure arithmetic on the number of buffers and the
//! payload size, unit-tested without any I/O. See [`crate::transport::broadcast`] for the format.

use crate::transport::error::Error;
use crate::transport::two_buffer::layout::{frame_fits, frame_len, HEADER_SIZE, MIN_FILE_SIZE};

/// Fewest buffers a broadcast stream may have.
pub const MIN_BUFFERS: u32 = 3;
/// Most buffers a broadcast stream may have.
pub const MAX_BUFFERS: u32 = 64;
/// Reader slots of every broadcast file: at most this many readers at once.
pub const READER_SLOTS: usize = 64;

/// The format marker at [`MAGIC_OFFSET`].
pub const MAGIC: [u8; 8] = *b"SHMIMGBC";
/// The marker while a server lays the file out (anew): readers that find it wait for
/// [`MAGIC`].
pub const MAGIC_LAYING_OUT: [u8; 8] = *b"SHMIMGLO";
/// The format version this library writes and reads.
pub const VERSION: u32 = 1;

const PAGE: u64 = 4096;

/// Offsets of the control block's fields (absolute file offsets). The first 24 bytes of the file
/// are a decoy two-buffer header (see [`DECOY_STATE`]).
pub mod control {
    /// `magic`: [`super::MAGIC`], 8 bytes.
    pub const MAGIC: usize = 64;
    /// `version` (u32).
    pub const VERSION: usize = 72;
    /// `buffers` (u32): the number of buffers.
    pub const BUFFERS: usize = 76;
    /// `payload` (u64): bytes of pixels each buffer holds.
    pub const PAYLOAD: usize = 80;
    /// `file_len` (u64): the length the file was laid out for.
    pub const FILE_LEN: usize = 88;
    /// `reader_slots` (u32).
    pub const READER_SLOTS: usize = 96;
    /// `epoch` (u32): changes each time the file is laid out anew; readers of an older layout
    /// stop.
    pub const EPOCH: usize = 100;
    /// `next_seq` (u64): the sequence number of the last frame published.
    pub const NEXT_SEQ: usize = 104;
    /// `latest` (u64): `seq << 8 | buffer` of the newest complete frame, 0 before the first.
    pub const LATEST: usize = 112;
    /// `notify` (u32): incremented at every publish; the word waiting readers sleep on.
    pub const NOTIFY: usize = 120;
    /// `server_pid` (u32): process id of the last server (for `shmimg inspect`).
    pub const SERVER_PID: usize = 124;
    /// `waiting` (u64): bit `i` set while reader slot `i` sleeps waiting for a frame.
    pub const WAITING: usize = 128;
    /// `attached` (u64): bit `i` set while reader slot `i` is attached.
    pub const ATTACHED: usize = 136;
    /// End of the control block.
    pub const END: usize = 192;
}

/// Offset of the magic: the control block starts after the decoy header.
pub const MAGIC_OFFSET: usize = control::MAGIC;

/// The state byte of both decoy headers: SERVER_LOCKED, a state no client of the original
/// protocol ever changes, so such a client attaches, never finds a frame and writes nothing.
pub const DECOY_STATE: u8 = 1;

/// Fields of a reader slot (offsets inside the slot).
pub mod slot {
    /// `state` (u32): 0 free, 1 attached.
    pub const STATE: usize = 0;
    /// `pid` (u32): the reader's process id (for `shmimg inspect`).
    pub const PID: usize = 4;
    /// `last_seq` (u64): the sequence number of the last frame the reader locked.
    pub const LAST_SEQ: usize = 8;
    /// `held` (u32): the buffer the reader holds plus one, 0 for none (for `shmimg inspect`).
    pub const HELD: usize = 16;
    /// Size of a slot.
    pub const SIZE: usize = 64;
}

/// Fields of a buffer header (offsets inside the header).
pub mod buffer {
    /// `tag` (u64): `seq << 8 | state`, see [`super::super::BufferTag`].
    pub const TAG: usize = 0;
    /// `holders` (u64): bit `i` set while reader slot `i` holds the frame.
    pub const HOLDERS: usize = 8;
    /// `frame_number` (u32).
    pub const FRAME_NUMBER: usize = 16;
    /// `width` (u32).
    pub const WIDTH: usize = 20;
    /// `height` (u32).
    pub const HEIGHT: usize = 24;
    /// `published_ns` (u64): when the frame was published (the coarse monotonic clock, for
    /// `inspect`).
    pub const PUBLISHED_NS: usize = 32;
    /// Size of a header.
    pub const SIZE: usize = 64;
}

/// Offset of reader slot 0.
pub const SLOTS_OFFSET: usize = 256;
/// Offset of buffer header 0.
pub const BUFFER_HEADERS_OFFSET: usize = SLOTS_OFFSET + READER_SLOTS * slot::SIZE;
/// Offset of the first payload: the page after room for [`MAX_BUFFERS`] headers, whatever the
/// number of buffers, so that the header of any buffer `b` is at the same offset in every layout
/// and never inside a payload (a reader of a previous layout may still touch its header).
pub const DATA_START: usize =
    (BUFFER_HEADERS_OFFSET + MAX_BUFFERS as usize * buffer::SIZE).next_multiple_of(PAGE as usize);

/// The geometry of a broadcast file, derived from its number of buffers, payload size and length.
///
/// The second decoy header sits at `H = 24 + P`, with `P = ((L - 48) / 2)` rounded down to a
/// multiple of 8: exactly where a client of the original protocol looks for its second buffer
/// header in a file of `L` bytes. Before it: the decoy header, the control block, the reader
/// slots, the buffer headers and payloads `0..k` (`k = ceil(n / 2)`); after it, from the next page
/// boundary: payloads `k..n`. Payloads start on page boundaries. The shortest file is `2H` bytes
/// with `H` the end of the first half's payloads (and at least 5 MiB); a longer file (one that
/// was already larger) moves `H` and the second half with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BroadcastLayout {
    buffers: u32,
    payload: u64,
    stride: u64,
    data_start: u64,
    /// Offset of the second decoy header.
    half: u64,
    file_len: u64,
}

impl BroadcastLayout {
    /// The layout for `buffers` buffers of `payload` bytes each.
    ///
    /// # Errors
    /// [`Error::BadArgs`] for a number of buffers outside 3..=64 or an empty payload;
    /// [`Error::FrameTooLarge`] when the file would be too large for this system.
    pub fn new(buffers: u32, payload: u64) -> Result<BroadcastLayout, Error> {
        if !(MIN_BUFFERS..=MAX_BUFFERS).contains(&buffers) || payload == 0 {
            return Err(Error::BadArgs);
        }
        let stride = payload
            .checked_next_multiple_of(PAGE)
            .ok_or(Error::FrameTooLarge)?;
        let data_start = DATA_START as u64;
        let first_half = u64::from(buffers.div_ceil(2))
            .checked_mul(stride)
            .and_then(|b| b.checked_add(data_start))
            .ok_or(Error::FrameTooLarge)?;
        // At least 10 MiB in all, as every stream file.
        let half = first_half.max(MIN_FILE_SIZE / 2);
        let file_len = half.checked_mul(2).ok_or(Error::FrameTooLarge)?;
        if file_len > i64::MAX as u64 || usize::try_from(file_len).is_err() {
            return Err(Error::FrameTooLarge);
        }
        Ok(BroadcastLayout {
            buffers,
            payload,
            stride,
            data_start,
            half,
            file_len,
        })
    }

    /// This layout in a file of `file_len` bytes (at least [`BroadcastLayout::file_len`]): the
    /// second decoy and the payloads after it move to where the original protocol's second
    /// header is in a file of that length.
    ///
    /// # Errors
    /// [`Error::BadFileSize`] for a file shorter than the layout needs;
    /// [`Error::FrameTooLarge`] for one too long to be mapped here.
    pub fn for_file_len(self, file_len: u64) -> Result<BroadcastLayout, Error> {
        if file_len < self.file_len {
            return Err(Error::BadFileSize);
        }
        if file_len > i64::MAX as u64 || usize::try_from(file_len).is_err() {
            return Err(Error::FrameTooLarge);
        }
        // 24 + P for this length; at least the shortest file's half (its first half ends
        // there), and the second half still fits because the file is at least twice as long.
        let half = HEADER_SIZE as u64 + (((file_len - 2 * HEADER_SIZE as u64) / 2) & !7);
        Ok(BroadcastLayout {
            half,
            file_len,
            ..self
        })
    }

    /// The layout for frames up to `max_width` x `max_height`.
    ///
    /// # Errors
    /// As [`BroadcastLayout::new`]; [`Error::BadArgs`] for a zero width or height.
    pub fn for_frames(
        max_width: u32,
        max_height: u32,
        buffers: u32,
    ) -> Result<BroadcastLayout, Error> {
        if max_width == 0 || max_height == 0 {
            return Err(Error::BadArgs);
        }
        let len = frame_len(max_width, max_height).ok_or(Error::FrameTooLarge)?;
        BroadcastLayout::new(
            buffers,
            len.checked_next_multiple_of(8)
                .ok_or(Error::FrameTooLarge)?,
        )
    }

    /// Number of buffers.
    pub fn buffers(&self) -> usize {
        self.buffers as usize
    }

    /// Bytes of pixels each buffer holds.
    pub fn payload_size(&self) -> usize {
        self.payload as usize
    }

    /// The file's length.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// Offset of the second decoy header, `24 + P` for the original protocol's reading of a
    /// file of [`BroadcastLayout::file_len`] bytes.
    pub fn second_decoy_offset(&self) -> usize {
        self.half as usize
    }

    /// Offset of reader slot `slot`.
    ///
    /// # Panics
    /// When `slot >= READER_SLOTS`.
    pub fn slot_offset(&self, slot: usize) -> usize {
        assert!(slot < READER_SLOTS, "reader slot out of range");
        SLOTS_OFFSET + slot * slot::SIZE
    }

    /// Offset of buffer `b`'s header.
    ///
    /// # Panics
    /// When `b` is not below the number of buffers.
    pub fn header_offset(&self, b: usize) -> usize {
        assert!(b < self.buffers(), "buffer out of range");
        BUFFER_HEADERS_OFFSET + b * buffer::SIZE
    }

    /// Offset of buffer `b`'s payload (a page boundary).
    ///
    /// # Panics
    /// When `b` is not below the number of buffers.
    pub fn payload_offset(&self, b: usize) -> usize {
        assert!(b < self.buffers(), "buffer out of range");
        let k = self.buffers.div_ceil(2) as usize;
        let at = if b < k {
            self.data_start + b as u64 * self.stride
        } else {
            (self.half + HEADER_SIZE as u64).next_multiple_of(PAGE) + (b - k) as u64 * self.stride
        };
        at as usize
    }

    /// Whether a `width` x `height` RGB frame fits one buffer.
    pub fn fits(&self, width: u32, height: u32) -> bool {
        frame_fits(self.payload, width, height)
    }
}

/// The decoy two-buffer header: zero fields and [`DECOY_STATE`].
pub fn decoy_header() -> [u8; HEADER_SIZE] {
    let mut h = [0u8; HEADER_SIZE];
    h[20] = DECOY_STATE;
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::two_buffer::layout::Layout;

    #[test]
    fn arguments_are_checked() {
        assert_eq!(BroadcastLayout::new(2, 100), Err(Error::BadArgs));
        assert_eq!(BroadcastLayout::new(65, 100), Err(Error::BadArgs));
        assert_eq!(BroadcastLayout::new(3, 0), Err(Error::BadArgs));
        assert_eq!(BroadcastLayout::for_frames(0, 1, 3), Err(Error::BadArgs));
        assert_eq!(
            BroadcastLayout::for_frames(u32::MAX, u32::MAX, 64),
            Err(Error::FrameTooLarge)
        );
        assert!(BroadcastLayout::new(64, u64::MAX - 10).is_err());
    }

    /// Layouts of every size and number of buffers, in the shortest file and in longer ones.
    fn all_layouts() -> Vec<BroadcastLayout> {
        let mut all = Vec::new();
        for n in MIN_BUFFERS..=MAX_BUFFERS {
            for (w, h) in [(1, 1), (640, 480), (1920, 1080), (3840, 2160), (7, 13)] {
                let l = BroadcastLayout::for_frames(w, h, n).unwrap();
                all.push(l);
                for extra in [1, 7, 8, 4095, 4096 * 3 + 5, l.file_len() / 3] {
                    all.push(l.for_file_len(l.file_len() + extra).unwrap());
                }
            }
        }
        all
    }

    #[test]
    fn the_second_decoy_is_where_the_original_protocol_looks_for_buffer_1() {
        for l in all_layouts() {
            let two = Layout::for_file_len(l.file_len()).unwrap();
            assert_eq!(two.header_offset(1), l.second_decoy_offset(), "{l:?}");
            assert_eq!(two.header_offset(0), 0);
            assert!(l.file_len() >= MIN_FILE_SIZE);
        }
        let l = BroadcastLayout::new(3, 100).unwrap();
        assert_eq!(l.for_file_len(l.file_len() - 1), Err(Error::BadFileSize));
    }

    #[test]
    fn regions_are_in_bounds_aligned_and_disjoint() {
        for l in all_layouts() {
            let n = l.buffers();
            {
                // Every region as [start, end).
                let mut regions = vec![(0, HEADER_SIZE), (control::MAGIC, control::END)];
                regions.push((SLOTS_OFFSET, BUFFER_HEADERS_OFFSET));
                // Room for every header a layout may have, and the ones of this one in it.
                let table = (
                    BUFFER_HEADERS_OFFSET,
                    BUFFER_HEADERS_OFFSET + MAX_BUFFERS as usize * buffer::SIZE,
                );
                assert!(l.header_offset(n - 1) + buffer::SIZE <= table.1);
                regions.push(table);
                regions.push((
                    l.second_decoy_offset(),
                    l.second_decoy_offset() + HEADER_SIZE,
                ));
                for b in 0..l.buffers() {
                    let at = l.payload_offset(b);
                    assert_eq!(at % 4096, 0);
                    regions.push((at, at + l.payload_size()));
                }
                regions.sort();
                for pair in regions.windows(2) {
                    assert!(pair[0].1 <= pair[1].0, "{n}: {pair:?} overlap in {l:?}");
                }
                assert!(regions.last().unwrap().1 as u64 <= l.file_len());
            }
        }
    }

    #[test]
    fn frames_fit_up_to_the_size_asked_for() {
        let l = BroadcastLayout::for_frames(1920, 1080, 3).unwrap();
        assert!(l.fits(1920, 1080) && l.fits(1080, 1920) && !l.fits(1920, 1081));
        assert!(!l.fits(0, 1) && !l.fits(u32::MAX, u32::MAX));
    }

    #[test]
    fn little_space_is_wasted() {
        // An even number of 4K buffers: the file is the payloads plus a few pages.
        let l = BroadcastLayout::for_frames(3840, 2160, 4).unwrap();
        let payloads = 4 * l.payload_size() as u64;
        assert!(
            l.file_len() - payloads < 64 * 1024,
            "{}",
            l.file_len() - payloads
        );
    }
}
