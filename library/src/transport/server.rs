//! The writer side of a stream: initialises the file and publishes frames into free buffers.

use std::path::Path;

use crate::transport::error::Error;
use crate::transport::layout::{self, Layout, NUM_BUFFERS};
use crate::transport::mapped_file::MappingRef;
use crate::transport::shared_file::SharedFile;
use crate::transport::state::{BufferState, SERVER_ABANDON, SERVER_BEGIN, SERVER_PUBLISH};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::platform::Wake;

/// What happened to a frame handed to [`Server::put_frame`] (the non-error outcomes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PutOutcome {
    /// The frame is in shared memory for the client (`IMAGESTREAM_NOERROR`).
    Delivered,
    /// Both buffers were busy, the frame was dropped and shared memory is unchanged
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

/// The frame a server is writing in place, between [`Server::begin_frame`] and
/// [`Server::end_frame`].
#[derive(Debug, Clone, Copy)]
struct InProgress {
    buffer: usize,
    width: u32,
    height: u32,
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
#[derive(Debug)]
pub struct Server {
    file: Arc<SharedFile>,
    options: ServerOptions,
    in_progress: Option<InProgress>,
    /// Per buffer: wake-ups in a row that found none of the counted waiters asleep.
    idle_wakes: [u8; NUM_BUFFERS],
    wake_stats: WakeStats,
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

/// Wake-ups in a row that find none of the counted waiters asleep before the count is reset.
const STALE_AFTER: u8 = 2;

impl Server {
    /// Maps `path` (which must exist and be at least 10 MiB), zeroes both buffer headers and sets
    /// both buffers to INIT. A client that was attached re-attaches on its next lock.
    ///
    /// # Errors
    /// [`Error::BadFileSize`], [`Error::UnableToOpenFile`], [`Error::UnableToMapFile`].
    pub fn create(path: impl AsRef<Path>) -> Result<Server, Error> {
        Server::with_options(path, ServerOptions::default())
    }

    /// Like [`Server::create`], with options.
    ///
    /// # Errors
    /// As [`Server::create`].
    pub fn with_options(path: impl AsRef<Path>, options: ServerOptions) -> Result<Server, Error> {
        let file = Arc::new(SharedFile::open(path.as_ref())?);
        file.init_headers();
        Ok(Server {
            file,
            options,
            in_progress: None,
            idle_wakes: [0; NUM_BUFFERS],
            wake_stats: WakeStats::default(),
        })
    }

    /// The file's geometry (payload size, offsets).
    pub fn layout(&self) -> &Layout {
        self.file.layout()
    }

    /// A counted reference to this server's mapping of the file; see [`MappingRef`].
    pub fn mapping_ref(&self) -> MappingRef {
        MappingRef::new(self.file.clone())
    }

    /// The options this server was created with.
    pub fn options(&self) -> ServerOptions {
        self.options
    }

    /// Copies a `width` x `height` RGB frame (`pixels.len() == width * height * 3`, rows top
    /// first, tightly packed) into a free buffer and publishes it with number `frame_number`.
    ///
    /// # Errors
    /// [`Error::BadArgs`] for a zero width or height or a `pixels` length that does not match;
    /// [`Error::FrameTooLarge`] when the frame does not fit one buffer;
    /// [`Error::Locked`] between [`Server::begin_frame`] and [`Server::end_frame`];
    /// [`Error::BadFileSize`] once the file shrank under the mapping.
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
        self.file.health()?;
        let buffer = match self.take_free_buffer() {
            Ok(b) => b,
            Err(outcome) => {
                // The state bytes read may lie in pages the file no longer has.
                self.file.health()?;
                return Ok(outcome);
            }
        };
        // SAFETY: we moved `buffer` to SERVER_LOCKED, so we own it until we publish it below; no
        // other slice of it exists in this process (`&mut self`, and `in_progress` is None).
        let dst = unsafe { self.file.pixels_mut(buffer, pixels.len()) };
        if self.options.flip_vertical {
            copy_flipped(dst, pixels, width as usize * 3);
        } else {
            dst.copy_from_slice(pixels);
        }
        let outcome = self.publish(buffer, frame_number, width, height);
        self.file.health()?; // the copy may have hit pages the file no longer has
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
        self.file.health()?;
        let taken = self.take_free_buffer();
        if let Err(e) = self.file.health() {
            if let Ok(buffer) = taken {
                let _ = self.file.transition(buffer, SERVER_ABANDON);
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
        // SAFETY: `begin_frame` moved `p.buffer` to SERVER_LOCKED and we keep it until
        // `end_frame`/`abandon_frame`, which need `&mut self` and so end this borrow first.
        Some(unsafe { self.file.pixels_mut(p.buffer, len) })
    }

    /// Publishes the frame begun with [`Server::begin_frame`] as number `frame_number`.
    ///
    /// # Errors
    /// [`Error::NotLocked`] when no frame is begun.
    pub fn end_frame(&mut self, frame_number: u32) -> Result<PutOutcome, Error> {
        let p = self.in_progress.take().ok_or(Error::NotLocked)?;
        let outcome = self.publish(p.buffer, frame_number, p.width, p.height);
        self.file.health()?;
        Ok(outcome)
    }

    /// Gives back the buffer of a begun frame without publishing it. Returns whether one was
    /// begun.
    pub fn abandon_frame(&mut self) -> bool {
        match self.in_progress.take() {
            Some(p) => {
                let _ = self.file.transition(p.buffer, SERVER_ABANDON);
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

    /// The states of both buffers as seen now (`None` for an invalid byte).
    pub fn buffer_states(&self) -> [Option<BufferState>; NUM_BUFFERS] {
        [self.file.state(0), self.file.state(1)]
    }

    fn check_size(&self, width: u32, height: u32) -> Result<u64, Error> {
        if width == 0 || height == 0 {
            return Err(Error::BadArgs);
        }
        match layout::frame_len(width, height) {
            Some(len) if self.file.layout().fits(width, height) => Ok(len),
            _ => Err(Error::FrameTooLarge),
        }
    }

    /// Moves a free buffer to SERVER_LOCKED, or says why there is none.
    fn take_free_buffer(&self) -> Result<usize, PutOutcome> {
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
        // A buffer can go to INIT between our load and now (client detach); the check above is a
        // snapshot, which is all the spec asks for.
        Err(if saw_init {
            PutOutcome::Unconnected
        } else {
            PutOutcome::Dropped
        })
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

    /// What this server's wake-ups did so far: how many system calls it made to wake waiting
    /// clients, how many found a client asleep, and how many stale waiter counts (of clients
    /// killed while they waited) it took back.
    pub fn wake_stats(&self) -> WakeStats {
        self.wake_stats
    }

    fn publish(&mut self, buffer: usize, frame_number: u32, width: u32, height: u32) -> PutOutcome {
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
        unsafe { self.server.file.pixels(p.buffer, len) }
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
