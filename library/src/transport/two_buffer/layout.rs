//! File layout: where the two buffer headers and payloads live in the mapped file.
//!
//! The file has no global header. Two buffers follow each other, each made of a 24-byte
//! [`BufferHeader`](crate::ffi::BufferHeader)-shaped header and a payload of `P` bytes, where
//! `P = ((L - 48) / 2)` rounded down to a multiple of 8 and `L` is the file's length.
//!
//! Everything here is plain arithmetic with no I/O, so it is unit-tested exhaustively.

use crate::transport::error::Error;

/// Number of buffers in a file.
pub const NUM_BUFFERS: usize = 2;

/// Size in bytes of one buffer header.
pub const HEADER_SIZE: usize = 24;

/// Smallest file length a stream accepts: 10 MiB.
pub const MIN_FILE_SIZE: u64 = 10 * 1024 * 1024;

/// Bytes per pixel (RGB).
pub const BYTES_PER_PIXEL: u64 = 3;

/// Byte offsets of the fields inside a buffer header.
pub mod field {
    /// `frame_number` (u32).
    pub const FRAME_NUMBER: usize = 0;
    /// `width` (u32).
    pub const WIDTH: usize = 4;
    /// `height` (u32).
    pub const HEIGHT: usize = 8;
    /// `offset` (u32): first scanline of the block; whole frames use 0.
    pub const OFFSET: usize = 12;
    /// `num_scanlines` (u32): scanlines in the block; whole frames use `height`.
    pub const NUM_SCANLINES: usize = 16;
    /// `buffer_state` (u8), the low byte of the 4-byte word at this offset (the other three bytes
    /// are `pad`).
    pub const STATE: usize = 20;
}

/// The geometry of one stream file, derived from its length alone.
///
/// ```
/// use shared_memory_image_client::Layout;
/// let l = Layout::for_file_len(25 * 1024 * 1024)?; // the classic Python client's file
/// assert_eq!(l.payload_size(), 13_107_176);
/// assert_eq!((l.pixels_offset(0), l.header_offset(1)), (24, 24 + 13_107_176));
/// assert!(l.fits(1920, 1080) && !l.fits(3840, 2160));
/// # Ok::<(), shared_memory_image_client::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    file_len: u64,
    payload: usize,
}

impl Layout {
    /// Computes the layout of a file of `file_len` bytes.
    ///
    /// # Errors
    /// [`Error::BadFileSize`] when `file_len` is below [`MIN_FILE_SIZE`];
    /// [`Error::UnableToMapFile`] when the file cannot be addressed on this platform.
    pub fn for_file_len(file_len: u64) -> Result<Layout, Error> {
        if file_len < MIN_FILE_SIZE {
            return Err(Error::BadFileSize);
        }
        if usize::try_from(file_len).is_err() {
            return Err(Error::UnableToMapFile);
        }
        let payload = ((file_len - 2 * HEADER_SIZE as u64) / 2) & !7;
        Ok(Layout {
            file_len,
            // Cannot fail: payload < file_len, which fits in usize (checked above).
            payload: payload as usize,
        })
    }

    /// The file length this layout was computed from.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// `P`: the payload size of each buffer in bytes (a multiple of 8).
    pub fn payload_size(&self) -> usize {
        self.payload
    }

    /// Byte offset of buffer `buffer`'s header (0 or `24 + P`).
    ///
    /// # Panics
    /// When `buffer >= NUM_BUFFERS`.
    pub fn header_offset(&self, buffer: usize) -> usize {
        assert!(buffer < NUM_BUFFERS, "buffer index out of range");
        buffer * (HEADER_SIZE + self.payload)
    }

    /// Byte offset of buffer `buffer`'s first pixel (24 or `48 + P`).
    ///
    /// # Panics
    /// When `buffer >= NUM_BUFFERS`.
    pub fn pixels_offset(&self, buffer: usize) -> usize {
        self.header_offset(buffer) + HEADER_SIZE
    }

    /// Whether a `width` x `height` RGB frame fits one buffer: both at least 1 and
    /// `width * height * 3 <= P`.
    pub fn fits(&self, width: u32, height: u32) -> bool {
        frame_fits(self.payload as u64, width, height)
    }

    /// The greatest `height` such that a frame `width` pixels wide fits, or 0 when none does
    /// (used in messages that say how large a frame may be).
    pub fn max_height_for_width(&self, width: u32) -> u32 {
        max_height_in(self.payload as u64, width)
    }
}

/// Whether a `width` x `height` RGB frame fits `payload` bytes: both at least 1 and
/// `width * height * 3 <= payload`.
pub(crate) fn frame_fits(payload: u64, width: u32, height: u32) -> bool {
    frame_len(width, height).is_some_and(|len| len <= payload)
}

/// The greatest height of a frame `width` pixels wide that fits `payload` bytes, 0 when none
/// does.
pub(crate) fn max_height_in(payload: u64, width: u32) -> u32 {
    if width == 0 {
        return 0;
    }
    let rows = payload / (u64::from(width) * BYTES_PER_PIXEL);
    u32::try_from(rows).unwrap_or(u32::MAX)
}

/// Bytes in a `width` x `height` RGB frame, or `None` when either side is 0 or the size does not
/// fit in a `u64` (it is computed with checked arithmetic, never wrapping).
pub fn frame_len(width: u32, height: u32) -> Option<u64> {
    if width == 0 || height == 0 {
        return None;
    }
    (u64::from(width) * u64::from(height)).checked_mul(BYTES_PER_PIXEL)
}

/// The file length that [`crate::create_file`] gives a file meant for frames up to
/// `max_width` x `max_height`: the smallest length whose payload holds such a frame, and never
/// less than [`MIN_FILE_SIZE`]. `None` when either side is 0 or the length overflows `i64`
/// (the largest file a POSIX system can describe).
pub fn file_len_for(max_width: u32, max_height: u32) -> Option<u64> {
    let frame = frame_len(max_width, max_height)?;
    let payload = frame.checked_add(7)? & !7;
    let len = payload
        .checked_mul(2)?
        .checked_add(2 * HEADER_SIZE as u64)?;
    if len > i64::MAX as u64 {
        return None;
    }
    Some(len.max(MIN_FILE_SIZE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_file_is_accepted_and_smaller_rejected() {
        assert_eq!(
            Layout::for_file_len(MIN_FILE_SIZE - 1),
            Err(Error::BadFileSize)
        );
        assert_eq!(Layout::for_file_len(0), Err(Error::BadFileSize));
        let l = Layout::for_file_len(MIN_FILE_SIZE).unwrap();
        assert_eq!(l.payload_size(), (10_485_760 - 48) / 2);
        assert_eq!(l.payload_size() % 8, 0);
    }

    #[test]
    fn payload_is_rounded_down_to_multiple_of_8() {
        for extra in 0..64u64 {
            let len = MIN_FILE_SIZE + extra;
            let l = Layout::for_file_len(len).unwrap();
            let p = l.payload_size() as u64;
            assert_eq!(p % 8, 0);
            assert!(p <= (len - 48) / 2);
            assert!((len - 48) / 2 - p < 8);
            assert!(48 + 2 * p <= len, "buffers must lie inside the file");
        }
    }

    #[test]
    fn offsets_match_the_spec_for_the_python_client_file() {
        // 25 MiB, as written by the widely used Python client.
        let l = Layout::for_file_len(25 * 1024 * 1024).unwrap();
        let p = l.payload_size();
        assert_eq!(p, 13_107_176);
        assert_eq!(l.header_offset(0), 0);
        assert_eq!(l.pixels_offset(0), 24);
        assert_eq!(l.header_offset(1), 24 + p);
        assert_eq!(l.pixels_offset(1), 48 + p);
        // Headers stay 8-byte aligned, so 4-byte atomics on their fields are aligned.
        assert_eq!(l.header_offset(1) % 8, 0);
    }

    #[test]
    fn fits_is_exact_at_the_boundary_and_never_overflows() {
        let l = Layout::for_file_len(MIN_FILE_SIZE).unwrap();
        let p = l.payload_size() as u64;
        assert!(l.fits(1, 1));
        assert!(!l.fits(0, 1));
        assert!(!l.fits(1, 0));
        assert!(l.fits(1, (p / 3) as u32));
        assert!(!l.fits(1, (p / 3 + 1) as u32));
        assert!(!l.fits(u32::MAX, u32::MAX));
        assert!(!l.fits(u32::MAX, 2));
        assert_eq!(frame_len(u32::MAX, u32::MAX), None);
        // The 10 MiB minimum holds 720p but not 1080p (6 220 800 bytes > 5 242 856).
        assert!(l.fits(1280, 720));
        assert!(!l.fits(1920, 1080));
    }

    #[test]
    fn file_len_for_gives_room_for_the_frame_and_respects_the_minimum() {
        assert_eq!(file_len_for(0, 10), None);
        assert_eq!(file_len_for(640, 480), Some(MIN_FILE_SIZE));
        for (w, h) in [(3840, 2160), (4096, 4096), (7680, 4320), (3, 3_000_001)] {
            let len = file_len_for(w, h).unwrap();
            let l = Layout::for_file_len(len).unwrap();
            assert!(l.fits(w, h), "{w}x{h}");
            // Not wastefully large: one more row of 8 bytes' worth would not be needed.
            assert!(len < MIN_FILE_SIZE.max(48 + 2 * (frame_len(w, h).unwrap() + 8)));
        }
        assert_eq!(file_len_for(u32::MAX, u32::MAX), None);
    }

    #[test]
    fn max_height_for_width() {
        let l = Layout::for_file_len(MIN_FILE_SIZE).unwrap();
        let h = l.max_height_for_width(1920);
        assert!(l.fits(1920, h));
        assert!(!l.fits(1920, h + 1));
        assert_eq!(l.max_height_for_width(0), 0);
    }
}
