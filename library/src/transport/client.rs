//! The reader side of a stream, whatever the file's kind: [`Client::attach`] recognises a
//! broadcast file (SPEC section 7) and otherwise attaches to the two-buffer file of the
//! original protocol (SPEC section 4). Frames are locked zero-copy and unlocked by a guard.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::transport::broadcast::file::BroadcastFile;
use crate::transport::broadcast::reader::{BroadcastReader, BroadcastSignal};
use crate::transport::error::Error;
use crate::transport::mapped_file::{MappedFile, MappingRef};
use crate::transport::two_buffer::client::{TwoBufferReader, TwoBufferSignal};
use crate::transport::two_buffer::file::TwoBufferFile;
use crate::transport::two_buffer::layout::{MIN_FILE_SIZE, NUM_BUFFERS};
use crate::transport::two_buffer::state::BufferState;

/// How a client found the file when it attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attach {
    /// A two-buffer file whose buffers were both INIT (a server initialised the file and nobody
    /// was attached), or any broadcast file (`IMAGESTREAM_NOERROR`).
    Fresh,
    /// A two-buffer file that was already carrying a stream, or that no server has initialised
    /// yet (`IMAGESTREAM_RECONNECTING`). Not an error.
    Reconnected,
}

/// The kind of stream file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// The original protocol's file: two buffers, one reader.
    TwoBuffer,
    /// A broadcast file (SPEC section 7): `buffers` buffers, up to 64 readers.
    Broadcast {
        /// Number of buffers.
        buffers: usize,
    },
}

impl StreamKind {
    /// The number of buffers: 2 for a two-buffer file.
    pub fn buffers(self) -> usize {
        match self {
            StreamKind::TwoBuffer => NUM_BUFFERS,
            StreamKind::Broadcast { buffers } => buffers,
        }
    }
}

/// Description of a locked frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameInfo {
    /// The server's frame number.
    pub frame_number: u32,
    /// Width in pixels (at least 1).
    pub width: u32,
    /// Height in pixels (at least 1).
    pub height: u32,
    pub(crate) buffer: usize,
}

impl FrameInfo {
    /// Bytes of RGB data: `width * height * 3`.
    pub fn len(&self) -> usize {
        self.width as usize * self.height as usize * 3
    }

    /// Always false: a locked frame has at least one pixel.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// The reader of either file kind.
#[derive(Debug)]
enum Reader {
    TwoBuffer(TwoBufferReader),
    Broadcast(BroadcastReader),
}

/// A client (reader) stream on a file.
///
/// A `Client` is `Send` but its methods take `&mut self`: one thread reads at a time. Dropping it
/// unlocks any locked frame and detaches: on a two-buffer file the buffers go back to INIT, so
/// the server sees `Unconnected` until a client attaches again; on a broadcast file the reader
/// slot is freed.
///
/// ```
/// use std::time::Duration;
/// use shared_memory_image_client::{create_file, Attach, Client, Server};
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("frames");
/// create_file(&path, 4, 2)?;
/// let mut server = Server::create(&path)?;
/// let mut client = Client::attach(&path)?;
/// assert_eq!(client.attach_status(), Attach::Fresh);
///
/// assert!(client.lock()?.is_none()); // nothing yet
/// server.put_frame(7, 4, 2, &[9u8; 4 * 2 * 3])?;
/// {
///     let frame = client.lock_timeout(Duration::from_millis(100))?.expect("a frame");
///     assert_eq!((frame.frame_number(), frame.width(), frame.height()), (7, 4, 2));
///     assert_eq!(frame.row(1), &[9u8; 12]); // zero copy: these bytes are in the file
/// } // dropping the guard unlocks
/// assert!(client.lock()?.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Client {
    reader: Reader,
    locked: Option<FrameInfo>,
    /// When `lock_frame` reads the clock for the periodic file checks.
    checks: PeriodicCheck,
}

/// The most calls of `lock` that skip reading the clock in a row (see [`PeriodicCheck`]).
const MAX_CLOCK_CREDIT: u8 = 64;

impl Client {
    /// Maps `path` (which must exist and be at least 10 MiB) and attaches. A broadcast file
    /// gives the client a reader slot of its own; a two-buffer file is attached as the
    /// original protocol says (every buffer in INIT, CLIENT or CLIENT_LOCKED goes to SERVER).
    /// See [`Client::attach_status`] for whether the file was fresh.
    ///
    /// # Errors
    /// [`Error::BadFileSize`], [`Error::UnableToOpenFile`], [`Error::UnableToMapFile`];
    /// [`Error::TooManyReaders`] when a broadcast file has 64 readers already.
    pub fn attach(path: impl AsRef<Path>) -> Result<Client, Error> {
        let mapped = MappedFile::open(path.as_ref(), MIN_FILE_SIZE)?;
        let reader = match BroadcastFile::recognise_waiting(&mapped) {
            Some(found) => {
                Reader::Broadcast(BroadcastReader::attach(BroadcastFile::new(mapped, found))?)
            }
            None => Reader::TwoBuffer(TwoBufferReader::attach(TwoBufferFile::from_mapped(mapped)?)),
        };
        Ok(Client {
            reader,
            locked: None,
            checks: PeriodicCheck::default(),
        })
    }

    /// How the file looked when this client attached.
    pub fn attach_status(&self) -> Attach {
        match &self.reader {
            Reader::TwoBuffer(r) => r.attach_status(),
            Reader::Broadcast(r) => r.attach_status(),
        }
    }

    /// The kind of file this client reads.
    pub fn kind(&self) -> StreamKind {
        match &self.reader {
            Reader::TwoBuffer(_) => StreamKind::TwoBuffer,
            Reader::Broadcast(r) => StreamKind::Broadcast {
                buffers: r.buffers(),
            },
        }
    }

    /// Bytes of pixels each buffer of the file holds.
    pub fn payload_size(&self) -> usize {
        match &self.reader {
            Reader::TwoBuffer(r) => r.payload_size(),
            Reader::Broadcast(r) => r.payload_size(),
        }
    }

    #[inline]
    fn mapped(&self) -> &MappedFile {
        match &self.reader {
            Reader::TwoBuffer(r) => r.mapped(),
            Reader::Broadcast(r) => r.mapped(),
        }
    }

    /// Locks the newest complete frame and returns a guard that derefs to its pixels and unlocks
    /// when dropped. `Ok(None)`: no new frame (`IMAGESTREAM_NO_FRAMEAVAILABLE`).
    ///
    /// # Errors
    /// As [`Client::lock_frame`].
    pub fn lock(&mut self) -> Result<Option<Frame<'_>>, Error> {
        Ok(self.lock_frame()?.map(|info| Frame { client: self, info }))
    }

    /// Locks the newest complete frame without a guard: the frame stays locked until
    /// [`Client::unlock_frame`] and its pixels are [`Client::locked_pixels`]. This is the form the
    /// C API uses; Rust code usually wants [`Client::lock`].
    ///
    /// On a two-buffer file, any buffer in INIT (a server restarted) is first taken back
    /// (re-attach), and of two complete frames the newer (by wrap-around frame number) is
    /// locked and the older dropped. On a broadcast file, the newest frame is locked if this
    /// client has not had it yet. A header describing a frame that does not fit the payload is
    /// never returned: the result is `Ok(None)`.
    ///
    /// # Errors
    /// [`Error::Locked`] when a frame is already locked; [`Error::BadFileSize`] once the file
    /// shrank under the mapping, or its path was deleted or names another file now (or a
    /// broadcast file was laid out anew). The call makes no system call but a cheap clock
    /// read, except at most every 250 ms, when it checks the path and the file's length.
    pub fn lock_frame(&mut self) -> Result<Option<FrameInfo>, Error> {
        self.lock_frame_inline()
    }

    /// [`Client::lock_frame`], inlined into its callers in this crate (the C API's `lock`).
    #[inline(always)]
    pub(crate) fn lock_frame_inline(&mut self) -> Result<Option<FrameInfo>, Error> {
        if self.locked.is_some() {
            return Err(Error::Locked);
        }
        // The common case of a polling client, kept short: nothing to take. Reading the state
        // may have touched pages the file no longer has, and at most every 250 ms the path and
        // the file's length are checked.
        let mapped = match &self.reader {
            Reader::TwoBuffer(r) if r.nothing_to_take() => r.mapped(),
            Reader::Broadcast(r) if r.nothing_to_take() => {
                r.same_layout()?;
                r.mapped()
            }
            _ => return self.lock_frame_slow(),
        };
        self.checks.run(mapped)?;
        Ok(None)
    }

    /// [`Client::lock_frame`] when there may be a frame to take.
    #[inline(never)]
    fn lock_frame_slow(&mut self) -> Result<Option<FrameInfo>, Error> {
        let found = match &mut self.reader {
            Reader::TwoBuffer(r) => r.take_newest(),
            Reader::Broadcast(r) => r.take_newest(),
        };
        let checked = match &self.reader {
            Reader::TwoBuffer(r) => Ok(r.mapped()),
            Reader::Broadcast(r) => r.same_layout().map(|()| r.mapped()),
        }
        .and_then(|mapped| self.checks.run(mapped));
        if let Err(e) = checked {
            if let Some(info) = found {
                self.release(&info);
            }
            return Err(e);
        }
        self.locked = found;
        Ok(found)
    }

    fn release(&mut self, info: &FrameInfo) {
        match &mut self.reader {
            Reader::TwoBuffer(r) => r.release(info),
            Reader::Broadcast(r) => r.release(info),
        }
    }

    /// Like [`Client::lock`], but waits up to `timeout` for a frame to arrive. A server of this
    /// library wakes the client at once; with one that wakes nobody (the original library) a new
    /// frame is still seen within about a millisecond. Waiting uses no CPU. While waiting, the
    /// client checks every 250 ms that the path still names the file it mapped, and reports a
    /// deleted or replaced file as [`Error::BadFileSize`].
    ///
    /// # Errors
    /// As [`Client::lock_frame`].
    pub fn lock_timeout(&mut self, timeout: Duration) -> Result<Option<Frame<'_>>, Error> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            match self.lock_frame_or_signal()? {
                Ok(info) => return Ok(Some(Frame { client: self, info })),
                Err(signal) => {
                    let left = deadline.map_or(Duration::MAX, |d| {
                        d.saturating_duration_since(Instant::now())
                    });
                    if left.is_zero() {
                        return Ok(None);
                    }
                    signal.wait(left);
                }
            }
        }
    }

    /// One step of a blocking lock, for callers that must not hold the client while they sleep
    /// (the C API releases its handle lock): locks a frame like [`Client::lock_frame`], or, when
    /// there is none, returns the [`FrameSignal`] to sleep on before trying again.
    ///
    /// # Errors
    /// As [`Client::lock_frame`].
    pub fn lock_frame_or_signal(&mut self) -> Result<Result<FrameInfo, FrameSignal>, Error> {
        if let Some(info) = self.lock_frame()? {
            return Ok(Ok(info));
        }
        Ok(Err(match &self.reader {
            Reader::TwoBuffer(r) => FrameSignal(Signal::TwoBuffer(r.signal())),
            Reader::Broadcast(r) => FrameSignal(Signal::Broadcast(r.signal())),
        }))
    }

    /// A counted reference to this client's mapping of the file; see [`MappingRef`].
    pub fn mapping_ref(&self) -> MappingRef {
        match &self.reader {
            Reader::TwoBuffer(r) => r.mapping_ref(),
            Reader::Broadcast(r) => r.mapping_ref(),
        }
    }

    /// The frame locked with [`Client::lock_frame`], if any.
    pub fn locked_frame(&self) -> Option<FrameInfo> {
        self.locked
    }

    fn pixels_offset(&self, info: &FrameInfo) -> usize {
        match &self.reader {
            Reader::TwoBuffer(r) => r.pixels_offset(info),
            Reader::Broadcast(r) => r.pixels_offset(info),
        }
    }

    /// The pixels of the frame locked with [`Client::lock_frame`]: `width * height * 3` bytes of
    /// RGB straight from shared memory (no copy). `None` when nothing is locked.
    pub fn locked_pixels(&self) -> Option<&[u8]> {
        let info = self.locked?;
        // SAFETY: the frame is locked by us (a two-buffer buffer in CLIENT_LOCKED, or a
        // broadcast buffer with our holder bit and its tag checked) until `unlock_frame`, which
        // takes `&mut self` and so cannot run while this borrow lives; `info.len()` fits the
        // payload (checked at lock time from a header copy, not re-read).
        Some(unsafe { self.mapped().bytes(self.pixels_offset(&info), info.len()) })
    }

    /// The address of the locked frame's pixels, for the C API (whose frame struct hands out a
    /// `uint8_t *`). No Rust reference to the pixels is made: on a broadcast file other readers,
    /// in this process too, may be reading the same frame.
    pub(crate) fn locked_pixels_address(&self) -> Option<std::ptr::NonNull<u8>> {
        let info = self.locked?;
        Some(
            self.mapped()
                .address_of(self.pixels_offset(&info), info.len()),
        )
    }

    /// Unlocks the frame locked with [`Client::lock_frame`]; the buffer is free for the server.
    ///
    /// # Errors
    /// [`Error::NotLocked`] when nothing is locked; [`Error::BadFileSize`] when the file shrank
    /// under the mapping (the frame is unlocked all the same).
    pub fn unlock_frame(&mut self) -> Result<(), Error> {
        let info = self.locked.take().ok_or(Error::NotLocked)?;
        self.release(&info);
        // The frame is unlocked either way; a file that shrank is reported now.
        self.mapped().health()
    }

    /// The states of both buffers of a two-buffer file as seen now (`None` for an invalid
    /// byte); `None` for a broadcast file.
    pub fn buffer_states(&self) -> Option<[Option<BufferState>; NUM_BUFFERS]> {
        match &self.reader {
            Reader::TwoBuffer(r) => Some(r.buffer_states()),
            Reader::Broadcast(_) => None,
        }
    }

    /// The broadcast reader slot this client owns; `None` on a two-buffer file.
    pub fn reader_slot(&self) -> Option<usize> {
        match &self.reader {
            Reader::TwoBuffer(_) => None,
            Reader::Broadcast(r) => Some(r.slot()),
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.unlock_frame();
    }
}

/// The health of a mapped file, and at most every 250 ms a check of its path and length. The
/// clock that times those checks costs a few nanoseconds to read, as much as the rest of an idle
/// `lock`; so a client whose calls come faster than the clock ticks (a few milliseconds) skips
/// reading it on the next calls: `credit` counts the calls left before the next reading and
/// doubles (up to [`MAX_CLOCK_CREDIT`]) each time a reading finds the same tick as the last one
/// (`last_tick`); a reading that finds a new tick sets it back to 0, so a slow caller reads the
/// clock on every call. A client that slows down after a tight loop is checked again after at
/// most that many calls.
#[derive(Debug, Default)]
struct PeriodicCheck {
    /// Calls that may still skip reading the clock.
    credit: u8,
    /// The coarse clock at the last read.
    last_tick: u64,
    /// The credit the next reading in the same tick grants.
    next_credit: u8,
}

impl PeriodicCheck {
    /// The health of `mapped`, and its path and length checked if due.
    #[inline(always)]
    fn run(&mut self, mapped: &MappedFile) -> Result<(), Error> {
        if self.credit > 0 {
            self.credit -= 1;
            return mapped.health();
        }
        let now = MappedFile::coarse_now_ns();
        if now == self.last_tick {
            self.next_credit = (self.next_credit * 2).clamp(1, MAX_CLOCK_CREDIT);
            self.credit = self.next_credit;
        } else {
            self.next_credit = 0;
        }
        self.last_tick = now;
        mapped.check_if_due_at(now)
    }
}

#[derive(Debug)]
enum Signal {
    TwoBuffer(TwoBufferSignal),
    Broadcast(BroadcastSignal),
}

/// Something to sleep on until a frame may have arrived; see [`Client::lock_frame_or_signal`].
/// It keeps the file mapped, so it stays valid even if the client is dropped meanwhile.
#[derive(Debug)]
pub struct FrameSignal(Signal);

impl FrameSignal {
    /// Sleeps until the server publishes a frame (or, on a two-buffer file, a buffer changes
    /// state), or `timeout` passes, and at most one slice: 0.9 ms until the server has been
    /// seen to wake its clients, 50 ms after. May return early; the caller tries to lock again.
    pub fn wait(&self, timeout: Duration) {
        match &self.0 {
            Signal::TwoBuffer(s) => s.wait(timeout),
            Signal::Broadcast(s) => s.wait(timeout),
        }
    }
}

/// A locked frame; see [`Client::lock`]. Derefs to its RGB pixels (zero copy) and unlocks when
/// dropped.
#[derive(Debug)]
pub struct Frame<'a> {
    client: &'a mut Client,
    info: FrameInfo,
}

impl Frame<'_> {
    /// The server's frame number.
    pub fn frame_number(&self) -> u32 {
        self.info.frame_number
    }
    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.info.width
    }
    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.info.height
    }
    /// The frame's description.
    pub fn info(&self) -> FrameInfo {
        self.info
    }
    /// Row `y` (0 = first stored row) as `width * 3` bytes.
    ///
    /// # Panics
    /// When `y >= height`.
    pub fn row(&self, y: u32) -> &[u8] {
        assert!(y < self.info.height, "row out of range");
        let n = self.info.width as usize * 3;
        &self[y as usize * n..][..n]
    }
}

impl std::ops::Deref for Frame<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.client.locked_pixels().expect("frame is locked")
    }
}

impl Drop for Frame<'_> {
    fn drop(&mut self) {
        let _ = self.client.unlock_frame();
    }
}
