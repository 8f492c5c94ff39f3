//! The writer side of a stream, whatever the file's kind: copies or renders frames into free
//! buffers and publishes them. [`Server::create`] serves a two-buffer file (or resumes a
//! broadcast file it recognises); [`Server::create_broadcast`] lays out a broadcast file.

use std::path::Path;

use crate::transport::broadcast::file::BroadcastFile;
use crate::transport::broadcast::layout::BroadcastLayout;
use crate::transport::broadcast::server::BroadcastWriter;
use crate::transport::client::StreamKind;
use crate::transport::error::Error;
use crate::transport::mapped_file::{MappedFile, MappingRef};
use crate::transport::two_buffer::file::TwoBufferFile;
use crate::transport::two_buffer::layout::{self, MIN_FILE_SIZE, NUM_BUFFERS};
use crate::transport::two_buffer::server::TwoBufferWriter;
use crate::transport::two_buffer::state::BufferState;

/// What happened to a frame handed to [`Server::put_frame`] (the non-error outcomes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PutOutcome {
    /// The frame is in shared memory for the client (`IMAGESTREAM_NOERROR`).
    Delivered,
    /// No buffer was free (two-buffer: both busy; broadcast: every buffer but the newest
    /// frame's held by readers); the frame was dropped and shared memory is unchanged
    /// (`IMAGESTREAM_NO_BUFFERAVAILABLE`).
    Dropped,
    /// No client is attached, the frame was dropped (`IMAGESTREAM_UNCONNECTED`).
    Unconnected,
}

/// Options of a server stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerOptions {
    /// Store rows bottom-up relative to the input (`IMAGESTREAM_OPTIONS_FLIPVERTICAL`): input
    /// row `r` goes to stored row `height - 1 - r`.
    pub flip_vertical: bool,
}

/// What a server's wake-ups did, counted since it was created; see [`Server::wake_stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WakeStats {
    /// Wake-up system calls made (one per published frame for which the file counted a waiting
    /// client; none otherwise).
    pub calls: u64,
    /// Of those, the calls that woke a client that was asleep (where the platform can tell).
    pub woke_sleepers: u64,
    /// Waiter counts taken back because the counted waiters were never found asleep: clients
    /// killed while they waited.
    pub stale_counts_reset: u64,
}

/// The frame a server is writing in place, between [`Server::begin_frame`] and
/// [`Server::end_frame`].
#[derive(Debug, Clone, Copy)]
struct InProgress {
    buffer: usize,
    width: u32,
    height: u32,
}

/// The writer of either file kind.
#[derive(Debug)]
enum Writer {
    TwoBuffer(TwoBufferWriter),
    Broadcast(BroadcastWriter),
}

impl Writer {
    #[inline]
    fn mapped(&self) -> &MappedFile {
        match self {
            Writer::TwoBuffer(w) => w.mapped(),
            Writer::Broadcast(w) => w.mapped(),
        }
    }

    fn health(&self) -> Result<(), Error> {
        match self {
            Writer::TwoBuffer(w) => w.mapped().health(),
            Writer::Broadcast(w) => w.health(),
        }
    }

    fn payload_size(&self) -> usize {
        match self {
            Writer::TwoBuffer(w) => w.payload_size(),
            Writer::Broadcast(w) => w.payload_size(),
        }
    }

    fn take_free(&mut self) -> Result<usize, PutOutcome> {
        match self {
            Writer::TwoBuffer(w) => w.take_free(),
            Writer::Broadcast(w) => w.take_free(),
        }
    }

    fn pixels_offset(&self, buffer: usize) -> usize {
        match self {
            Writer::TwoBuffer(w) => w.pixels_offset(buffer),
            Writer::Broadcast(w) => w.pixels_offset(buffer),
        }
    }

    fn publish(&mut self, buffer: usize, frame_number: u32, width: u32, height: u32) -> PutOutcome {
        match self {
            Writer::TwoBuffer(w) => w.publish(buffer, frame_number, width, height),
            Writer::Broadcast(w) => w.publish(buffer, frame_number, width, height),
        }
    }

    fn abandon(&mut self, buffer: usize) {
        match self {
            Writer::TwoBuffer(w) => w.abandon(buffer),
            Writer::Broadcast(w) => w.abandon(buffer),
        }
    }
}

/// A server (writer) stream on a file.
///
/// A `Server` is `Send` but its methods take `&mut self`: one thread writes at a time.
///
/// ```
/// use shared_memory_image_client::{create_file, Client, PutOutcome, Server};
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("frames");
/// create_file(&path, 640, 480)?;
/// let mut server = Server::create(&path)?;
/// let pixels = vec![0u8; 640 * 480 * 3];
/// // Nobody listens yet: the frame is dropped.
/// assert_eq!(server.put_frame(0, 640, 480, &pixels)?, PutOutcome::Unconnected);
///
/// let _client = Client::attach(&path)?;
/// assert_eq!(server.put_frame(1, 640, 480, &pixels)?, PutOutcome::Delivered);
///
/// // Zero copy: render straight into shared memory, then publish.
/// if let Ok(mut frame) = server.frame(640, 480)? {
///     frame.fill(0x80);
///     assert_eq!(frame.publish(2), PutOutcome::Delivered);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Many readers, one renderer:
///
/// ```
/// use shared_memory_image_client::{Client, PutOutcome, Server, ServerOptions};
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("frames");
/// let mut server = Server::create_broadcast(&path, 640, 480, 4, ServerOptions::default())?;
/// let mut viewers = [Client::attach(&path)?, Client::attach(&path)?];
/// server.put_frame(1, 640, 480, &vec![7u8; 640 * 480 * 3])?;
/// for viewer in &mut viewers {
///     let frame = viewer.lock()?.expect("every reader gets the frame");
///     assert_eq!(frame.frame_number(), 1);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Server {
    writer: Writer,
    options: ServerOptions,
    in_progress: Option<InProgress>,
}

impl Server {
    /// Maps `path` (which must exist and be at least 10 MiB) and serves it: a two-buffer file
    /// gets both buffer headers zeroed and set to INIT (a client that was attached re-attaches
    /// on its next lock); a broadcast file is resumed with its readers.
    ///
    /// # Errors
    /// [`Error::BadFileSize`], [`Error::UnableToOpenFile`], [`Error::UnableToMapFile`];
    /// [`Error::IsServer`] when a live server already serves a broadcast file.
    pub fn create(path: impl AsRef<Path>) -> Result<Server, Error> {
        Server::with_options(path, ServerOptions::default())
    }

    /// Like [`Server::create`], with options.
    ///
    /// # Errors
    /// As [`Server::create`].
    pub fn with_options(path: impl AsRef<Path>, options: ServerOptions) -> Result<Server, Error> {
        let mapped = MappedFile::open(path.as_ref(), MIN_FILE_SIZE)?;
        let writer = match BroadcastFile::recognise_waiting(&mapped) {
            Some(found) => {
                Writer::Broadcast(BroadcastWriter::resume(BroadcastFile::new(mapped, found))?)
            }
            None => Writer::TwoBuffer(TwoBufferWriter::create(TwoBufferFile::from_mapped(mapped)?)),
        };
        Ok(Server {
            writer,
            options,
            in_progress: None,
        })
    }

    /// Creates `path` if missing, or grows it (never shrinking it), so that `buffers` frames of
    /// up to `max_width` x `max_height` fit, lays it out as a broadcast stream (SPEC section 7)
    /// and serves it. A file that already carries this very layout is resumed with the readers
    /// still attached (a restarted server); any other is laid out anew. A new file is readable
    /// and writable by its owner only.
    ///
    /// # Errors
    /// [`Error::BadArgs`] for a zero size or `buffers` outside 3..=64; [`Error::FrameTooLarge`]
    /// when the file would be too large; those of [`crate::create_file`];
    /// [`Error::IsServer`] when a live server already serves the file.
    pub fn create_broadcast(
        path: impl AsRef<Path>,
        max_width: u32,
        max_height: u32,
        buffers: u32,
        options: ServerOptions,
    ) -> Result<Server, Error> {
        let layout = BroadcastLayout::for_frames(max_width, max_height, buffers)?;
        Ok(Server {
            writer: Writer::Broadcast(BroadcastWriter::create(path.as_ref(), layout)?),
            options,
            in_progress: None,
        })
    }

    /// The kind of file this server writes.
    pub fn kind(&self) -> StreamKind {
        match &self.writer {
            Writer::TwoBuffer(_) => StreamKind::TwoBuffer,
            Writer::Broadcast(w) => StreamKind::Broadcast {
                buffers: w.buffers(),
            },
        }
    }

    /// Bytes of pixels each buffer holds.
    pub fn payload_size(&self) -> usize {
        self.writer.payload_size()
    }

    /// Whether a `width` x `height` frame fits a buffer.
    pub fn fits(&self, width: u32, height: u32) -> bool {
        layout::frame_fits(self.payload_size() as u64, width, height)
    }

    /// The greatest height of a frame `width` pixels wide that fits, 0 when none does (for
    /// messages that say how large a frame may be).
    pub fn max_height_for_width(&self, width: u32) -> u32 {
        layout::max_height_in(self.payload_size() as u64, width)
    }

    /// A counted reference to this server's mapping of the file; see [`MappingRef`].
    pub fn mapping_ref(&self) -> MappingRef {
        match &self.writer {
            Writer::TwoBuffer(w) => w.mapping_ref(),
            Writer::Broadcast(w) => w.mapping_ref(),
        }
    }

    /// The options this server was created with.
    pub fn options(&self) -> ServerOptions {
        self.options
    }

    /// What this server's wake-ups did so far: how many system calls it made to wake waiting
    /// clients, how many found a client asleep, and how many stale waiter counts (of clients
    /// killed while they waited) it took back.
    pub fn wake_stats(&self) -> WakeStats {
        match &self.writer {
            Writer::TwoBuffer(w) => w.wake_stats(),
            Writer::Broadcast(w) => w.wake_stats(),
        }
    }

    /// Readers attached to a broadcast stream now (one for a two-buffer file with a client,
    /// judged by its buffer states).
    pub fn readers_attached(&self) -> usize {
        match &self.writer {
            Writer::TwoBuffer(w) => {
                usize::from(!w.buffer_states().contains(&Some(BufferState::Init)))
            }
            Writer::Broadcast(w) => w.readers_attached(),
        }
    }

    /// Broadcast reader slots found dead (killed readers) and given back so far; 0 for a
    /// two-buffer file.
    pub fn readers_reaped(&self) -> u64 {
        match &self.writer {
            Writer::TwoBuffer(_) => 0,
            Writer::Broadcast(w) => w.readers_reaped(),
        }
    }

    /// Copies a `width` x `height` RGB frame (`pixels.len() == width * height * 3`, rows top
    /// first, tightly packed) into a free buffer and publishes it with number `frame_number`.
    ///
    /// # Errors
    /// [`Error::BadArgs`] for a zero width or height or a `pixels` length that does not match;
    /// [`Error::FrameTooLarge`] when the frame does not fit one buffer;
    /// [`Error::Locked`] between [`Server::begin_frame`] and [`Server::end_frame`];
    /// [`Error::BadFileSize`] once the file shrank under the mapping (or a broadcast file was
    /// laid out anew by another server).
    pub fn put_frame(
        &mut self,
        frame_number: u32,
        width: u32,
        height: u32,
        pixels: &[u8],
    ) -> Result<PutOutcome, Error> {
        let len = self.check_size(width, height)?;
        if pixels.len() as u64 != len {
            return Err(Error::BadArgs);
        }
        if self.in_progress.is_some() {
            return Err(Error::Locked);
        }
        self.writer.health()?;
        let buffer = match self.writer.take_free() {
            Ok(b) => b,
            Err(outcome) => {
                // The state read may lie in pages the file no longer has.
                self.writer.health()?;
                return Ok(outcome);
            }
        };
        // SAFETY: the buffer was taken for writing (two-buffer SERVER_LOCKED, broadcast
        // WRITING with no holder), so we own it until we publish it below; no other slice of it
        // exists in this process (`&mut self`, and `in_progress` is None).
        let dst = unsafe {
            self.writer
                .mapped()
                .bytes_mut(self.writer.pixels_offset(buffer), pixels.len())
        };
        if self.options.flip_vertical {
            copy_flipped(dst, pixels, width as usize * 3);
        } else {
            dst.copy_from_slice(pixels);
        }
        let outcome = self.writer.publish(buffer, frame_number, width, height);
        self.writer.health()?; // the copy may have hit pages the file no longer has
        Ok(outcome)
    }

    /// Takes a free buffer to render a `width` x `height` frame straight into shared memory (no
    /// copy). Returns `Ok(Err(outcome))` when no buffer is free (the frame cannot be written now),
    /// else the writable pixels through [`Server::frame_pixels_mut`]; finish with
    /// [`Server::end_frame`] (or [`Server::abandon_frame`]). FLIPVERTICAL does not apply: the
    /// caller writes rows in stored order.
    ///
    /// Most Rust code wants [`Server::frame`], the guard form.
    ///
    /// # Errors
    /// As [`Server::put_frame`]; [`Error::Locked`] when a frame is already begun.
    pub fn begin_frame(
        &mut self,
        width: u32,
        height: u32,
    ) -> Result<Result<(), PutOutcome>, Error> {
        self.check_size(width, height)?;
        if self.in_progress.is_some() {
            return Err(Error::Locked);
        }
        self.writer.health()?;
        let taken = self.writer.take_free();
        if let Err(e) = self.writer.health() {
            if let Ok(buffer) = taken {
                self.writer.abandon(buffer);
            }
            return Err(e);
        }
        Ok(taken.map(|buffer| {
            self.in_progress = Some(InProgress {
                buffer,
                width,
                height,
            });
        }))
    }

    /// The pixels of the frame begun with [`Server::begin_frame`], `None` when none is begun.
    pub fn frame_pixels_mut(&mut self) -> Option<&mut [u8]> {
        let p = self.in_progress?;
        let len = p.width as usize * p.height as usize * 3;
        // SAFETY: `begin_frame` took `p.buffer` for writing and we keep it until
        // `end_frame`/`abandon_frame`, which need `&mut self` and so end this borrow first.
        Some(unsafe {
            self.writer
                .mapped()
                .bytes_mut(self.writer.pixels_offset(p.buffer), len)
        })
    }

    /// Publishes the frame begun with [`Server::begin_frame`] as number `frame_number`.
    ///
    /// # Errors
    /// [`Error::NotLocked`] when no frame is begun; [`Error::BadFileSize`] as for
    /// [`Server::put_frame`].
    pub fn end_frame(&mut self, frame_number: u32) -> Result<PutOutcome, Error> {
        let p = self.in_progress.take().ok_or(Error::NotLocked)?;
        let outcome = self
            .writer
            .publish(p.buffer, frame_number, p.width, p.height);
        self.writer.health()?;
        Ok(outcome)
    }

    /// Gives back the buffer of a begun frame without publishing it. Returns whether one was
    /// begun.
    pub fn abandon_frame(&mut self) -> bool {
        match self.in_progress.take() {
            Some(p) => {
                self.writer.abandon(p.buffer);
                true
            }
            None => false,
        }
    }

    /// Begins a frame and returns a guard that derefs to its pixels and publishes on
    /// [`FrameWriter::publish`], or abandons the frame when dropped unpublished.
    /// `Ok(Err(outcome))` means no buffer is free.
    ///
    /// # Errors
    /// As [`Server::begin_frame`].
    pub fn frame(
        &mut self,
        width: u32,
        height: u32,
    ) -> Result<Result<FrameWriter<'_>, PutOutcome>, Error> {
        Ok(self
            .begin_frame(width, height)?
            .map(|()| FrameWriter { server: self }))
    }

    /// The states of both buffers of a two-buffer file as seen now (`None` for an invalid
    /// byte); `None` for a broadcast file.
    pub fn buffer_states(&self) -> Option<[Option<BufferState>; NUM_BUFFERS]> {
        match &self.writer {
            Writer::TwoBuffer(w) => Some(w.buffer_states()),
            Writer::Broadcast(_) => None,
        }
    }

    fn check_size(&self, width: u32, height: u32) -> Result<u64, Error> {
        if width == 0 || height == 0 {
            return Err(Error::BadArgs);
        }
        match layout::frame_len(width, height) {
            Some(len) if len <= self.payload_size() as u64 => Ok(len),
            _ => Err(Error::FrameTooLarge),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.abandon_frame();
    }
}

/// A frame being written in place; see [`Server::frame`]. Derefs to the frame's pixels.
#[derive(Debug)]
pub struct FrameWriter<'a> {
    server: &'a mut Server,
}

impl FrameWriter<'_> {
    /// Publishes the frame as number `frame_number`.
    pub fn publish(self, frame_number: u32) -> PutOutcome {
        // `end_frame` cannot fail: the guard exists only while a frame is begun. Dropping the
        // guard afterwards finds nothing begun and does nothing.
        self.server
            .end_frame(frame_number)
            .unwrap_or(PutOutcome::Dropped)
    }
}

impl std::ops::Deref for FrameWriter<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        let p = self.server.in_progress.expect("frame in progress");
        let len = p.width as usize * p.height as usize * 3;
        // SAFETY: as in `Server::frame_pixels_mut`; the shared borrow of the guard excludes any
        // mutable one.
        unsafe {
            self.server
                .writer
                .mapped()
                .bytes(self.server.writer.pixels_offset(p.buffer), len)
        }
    }
}

impl std::ops::DerefMut for FrameWriter<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.server.frame_pixels_mut().expect("frame in progress")
    }
}

impl Drop for FrameWriter<'_> {
    fn drop(&mut self) {
        self.server.abandon_frame();
    }
}

/// Copies `src` into `dst` (same length) with the row order reversed.
fn copy_flipped(dst: &mut [u8], src: &[u8], row_len: usize) {
    debug_assert_eq!(dst.len(), src.len());
    for (d, s) in dst
        .chunks_exact_mut(row_len)
        .zip(src.chunks_exact(row_len).rev())
    {
        d.copy_from_slice(s);
    }
}

#[cfg(test)]
mod tests {
    use super::copy_flipped;

    #[test]
    fn copy_flipped_reverses_rows() {
        let src = [1, 1, 1, 2, 2, 2, 3, 3, 3];
        let mut dst = [0; 9];
        copy_flipped(&mut dst, &src, 3);
        assert_eq!(dst, [3, 3, 3, 2, 2, 2, 1, 1, 1]);
    }
}
