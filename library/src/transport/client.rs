//! The reader side of a stream: attaches to a file, locks the newest complete frame zero-copy,
//! and detaches so the server knows nobody is listening.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::transport::error::Error;
use crate::transport::layout::{Layout, NUM_BUFFERS};
use crate::transport::mapped_file::{MappedFile, MappingRef};
use crate::transport::shared_file::SharedFile;
use crate::transport::state::{
    self, BufferState, ATTACH_INIT, ATTACH_LOCKED, ATTACH_UNREAD, CLIENT_DROP, CLIENT_LOCK,
    CLIENT_UNLOCK, DETACH_FREE, DETACH_UNREAD,
};
use crate::transport::wake;

/// How a client found the file when it attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attach {
    /// Both buffers were INIT: a server initialised the file and nobody was attached
    /// (`IMAGESTREAM_NOERROR`).
    Fresh,
    /// The file was already carrying a stream, or no server has initialised it yet
    /// (`IMAGESTREAM_RECONNECTING`). Not an error.
    Reconnected,
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
    buffer: usize,
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

/// A client (reader) stream on a file.
///
/// A `Client` is `Send` but its methods take `&mut self`: one thread reads at a time. Dropping it
/// unlocks any locked frame and detaches (buffers go back to INIT), so the server sees
/// `Unconnected` until a client attaches again.
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
    file: Arc<SharedFile>,
    attach: Attach,
    locked: Option<FrameInfo>,
    /// Calls of `lock_frame` that may still skip reading the clock (see
    /// [`Client::check_periodically`]).
    clock_credit: u8,
    /// The coarse clock at the last read.
    last_tick: u64,
}

/// A client that calls `lock` more often than the coarse clock ticks reads the clock on one call
/// in this many.
const CALLS_PER_CLOCK_READ: u8 = 8;

impl Client {
    /// Maps `path` (which must exist and be at least 10 MiB) and attaches: every buffer in INIT,
    /// CLIENT or CLIENT_LOCKED goes to SERVER (free). See [`Client::attach_status`] for whether
    /// the file was fresh.
    ///
    /// # Errors
    /// [`Error::BadFileSize`], [`Error::UnableToOpenFile`], [`Error::UnableToMapFile`].
    pub fn attach(path: impl AsRef<Path>) -> Result<Client, Error> {
        let file = Arc::new(SharedFile::open(path.as_ref())?);
        let mut all_init = true;
        for b in 0..NUM_BUFFERS {
            let mut fresh = false;
            for t in [ATTACH_INIT, ATTACH_UNREAD, ATTACH_LOCKED] {
                if file.transition(b, t).is_ok() {
                    fresh = t == ATTACH_INIT;
                    break;
                }
            }
            all_init &= fresh;
        }
        let attach = if all_init {
            Attach::Fresh
        } else {
            Attach::Reconnected
        };
        Ok(Client {
            file,
            attach,
            locked: None,
            clock_credit: 0,
            last_tick: 0,
        })
    }

    /// How the file looked when this client attached.
    pub fn attach_status(&self) -> Attach {
        self.attach
    }

    /// The file's geometry (payload size, offsets).
    pub fn layout(&self) -> &Layout {
        self.file.layout()
    }

    /// Locks the newest complete frame and returns a guard that derefs to its pixels and unlocks
    /// when dropped. `Ok(None)`: no new frame (`IMAGESTREAM_NO_FRAMEAVAILABLE`).
    ///
    /// # Errors
    /// [`Error::Locked`] when a frame is already locked through [`Client::lock_frame`].
    pub fn lock(&mut self) -> Result<Option<Frame<'_>>, Error> {
        Ok(self.lock_frame()?.map(|info| Frame { client: self, info }))
    }

    /// Locks the newest complete frame without a guard: the frame stays locked until
    /// [`Client::unlock_frame`] and its pixels are [`Client::locked_pixels`]. This is the form the
    /// C API uses; Rust code usually wants [`Client::lock`].
    ///
    /// Any buffer in INIT (a server restarted) is first taken back (re-attach). Of two complete
    /// frames the newer (by wrap-around frame number) is locked and the older dropped. A header
    /// describing a frame that does not fit the payload is never returned: the buffer is handed
    /// back and the result is `Ok(None)`.
    ///
    /// # Errors
    /// [`Error::Locked`] when a frame is already locked; [`Error::BadFileSize`] once the file
    /// shrank under the mapping, or its path was deleted or names another file now. The call
    /// makes no system call but a cheap clock read, except at most every 250 ms, when it checks
    /// the path and the file's length.
    pub fn lock_frame(&mut self) -> Result<Option<FrameInfo>, Error> {
        if self.locked.is_some() {
            return Err(Error::Locked);
        }
        // The common case of a polling client, kept short: nothing to take.
        let waiting = |s| matches!(s, Some(BufferState::Client) | Some(BufferState::Init));
        if !waiting(self.file.state(0)) && !waiting(self.file.state(1)) {
            // Reading the state bytes may have touched pages the file no longer has; and at most
            // every 250 ms, check that the path still names this file at its length.
            self.check_periodically()?;
            return Ok(None);
        }
        self.lock_frame_slow()
    }

    /// [`Client::lock_frame`] when a buffer holds a frame, or needs re-attaching.
    #[inline(never)]
    fn lock_frame_slow(&mut self) -> Result<Option<FrameInfo>, Error> {
        let found = self.take_newest_frame();
        if let Err(e) = self.check_periodically() {
            if let Some(info) = found {
                let _ = self.file.transition(info.buffer, CLIENT_UNLOCK);
            }
            return Err(e);
        }
        self.locked = found;
        Ok(found)
    }

    /// The health of the file, and at most every 250 ms a check of its path and length. The
    /// clock that times those checks costs a few nanoseconds to read, as much as the rest of an
    /// idle `lock`; so a client whose calls come faster than the clock ticks (a few
    /// milliseconds) reads it on every [`CALLS_PER_CLOCK_READ`]th call only. A client that
    /// slows down after such a burst is checked again after at most that many calls.
    #[inline(always)]
    fn check_periodically(&mut self) -> Result<(), Error> {
        if self.clock_credit > 0 {
            self.clock_credit -= 1;
            return self.file.health();
        }
        let now = MappedFile::coarse_now_ns();
        if now == self.last_tick {
            self.clock_credit = CALLS_PER_CLOCK_READ - 1;
        }
        self.last_tick = now;
        self.file.check_if_due_at(now)
    }

    /// The state-machine part of [`Client::lock_frame`]: re-attaches buffers a restarted server
    /// reset, drops an older complete frame, and locks the newest one that fits its payload.
    fn take_newest_frame(&mut self) -> Option<FrameInfo> {
        let states = [self.file.state(0), self.file.state(1)];
        let mut ready = [false; NUM_BUFFERS];
        for (b, s) in states.into_iter().enumerate() {
            match s {
                Some(BufferState::Init) => {
                    let _ = self.file.transition(b, ATTACH_INIT);
                }
                Some(BufferState::Client) => ready[b] = true,
                _ => {}
            }
        }
        let buffer = match ready {
            [false, false] => return None,
            [true, false] => 0,
            [false, true] => 1,
            [true, true] => {
                let f0 = self.file.header(0).frame_number;
                let f1 = self.file.header(1).frame_number;
                let (newer, older) = if state::is_newer(f1, f0) {
                    (1, 0)
                } else {
                    (0, 1)
                };
                let _ = self.file.transition(older, CLIENT_DROP);
                newer
            }
        };
        self.file.transition(buffer, CLIENT_LOCK).ok()?;
        let h = self.file.header(buffer);
        if !self.file.layout().fits(h.width, h.height) {
            let _ = self.file.transition(buffer, CLIENT_UNLOCK);
            return None;
        }
        // The two state bytes were read one after the other, so the server may have published
        // the other buffer in between (an older frame than ours, if it then also published
        // ours). Drop it now, or the next lock would hand out a frame older than this one.
        let other = 1 - buffer;
        if self.file.state(other) == Some(BufferState::Client)
            && !state::is_newer(self.file.header(other).frame_number, h.frame_number)
        {
            let _ = self.file.transition(other, CLIENT_DROP);
        }
        Some(FrameInfo {
            frame_number: h.frame_number,
            width: h.width,
            height: h.height,
            buffer,
        })
    }

    /// Like [`Client::lock`], but waits up to `timeout` for a frame to arrive. A server of this
    /// library wakes the client at once; with one that wakes nobody (the original library) a new
    /// frame is still seen within about a millisecond. Waiting uses no CPU. While waiting, the
    /// client checks every 250 ms that the path still names the file it mapped, and reports a
    /// deleted or replaced file as [`Error::BadFileSize`].
    ///
    /// # Errors
    /// [`Error::Locked`] when a frame is already locked through [`Client::lock_frame`].
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
    /// [`Error::Locked`] when a frame is already locked.
    pub fn lock_frame_or_signal(&mut self) -> Result<Result<FrameInfo, FrameSignal>, Error> {
        if let Some(info) = self.lock_frame()? {
            return Ok(Ok(info));
        }
        // The buffer the server publishes next: the one it is writing, else the first free one
        // (the order this library's server takes them in).
        let states = [self.file.state(0), self.file.state(1)];
        let buffer = states
            .iter()
            .position(|s| *s == Some(BufferState::ServerLocked))
            .or_else(|| states.iter().position(|s| *s == Some(BufferState::Server)))
            .unwrap_or(0);
        Ok(Err(FrameSignal {
            file: Arc::clone(&self.file),
            buffer,
        }))
    }

    /// A counted reference to this client's mapping of the file; see [`MappingRef`].
    pub fn mapping_ref(&self) -> MappingRef {
        MappingRef::new(self.file.clone())
    }

    /// The frame locked with [`Client::lock_frame`], if any.
    pub fn locked_frame(&self) -> Option<FrameInfo> {
        self.locked
    }

    /// The pixels of the frame locked with [`Client::lock_frame`]: `width * height * 3` bytes of
    /// RGB straight from shared memory (no copy). `None` when nothing is locked.
    pub fn locked_pixels(&self) -> Option<&[u8]> {
        let info = self.locked?;
        // SAFETY: the buffer is CLIENT_LOCKED by us until `unlock_frame`, which takes `&mut self`
        // and so cannot run while this borrow lives; `info.len()` fits the payload (checked at
        // lock time from a header copy, not re-read).
        Some(unsafe { self.file.pixels(info.buffer, info.len()) })
    }

    /// Like [`Client::locked_pixels`], writable (the client owns the buffer until unlock).
    pub fn locked_pixels_mut(&mut self) -> Option<&mut [u8]> {
        let info = self.locked?;
        // SAFETY: as in `locked_pixels`; `&mut self` makes this the only slice of the payload.
        Some(unsafe { self.file.pixels_mut(info.buffer, info.len()) })
    }

    /// Unlocks the frame locked with [`Client::lock_frame`]; the buffer is free for the server.
    ///
    /// # Errors
    /// [`Error::NotLocked`] when nothing is locked; [`Error::BadFileSize`] when the file shrank
    /// under the mapping (the frame is unlocked all the same).
    pub fn unlock_frame(&mut self) -> Result<(), Error> {
        let info = self.locked.take().ok_or(Error::NotLocked)?;
        // Fails only when a restarted server reset the buffer to INIT meanwhile; the next lock
        // re-attaches it.
        let _ = self.file.transition(info.buffer, CLIENT_UNLOCK);
        // The frame is unlocked either way; a file that shrank is reported now.
        self.file.health()
    }

    /// The states of both buffers as seen now (`None` for an invalid byte).
    pub fn buffer_states(&self) -> [Option<BufferState>; NUM_BUFFERS] {
        [self.file.state(0), self.file.state(1)]
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.unlock_frame();
        for b in 0..NUM_BUFFERS {
            // A buffer the server is writing (SERVER_LOCKED) is left alone: it becomes CLIENT
            // and stays there until the next client attaches.
            if self.file.transition(b, DETACH_FREE).is_err() {
                let _ = self.file.transition(b, DETACH_UNREAD);
            }
            // Threads still waiting through a FrameSignal of this client re-check at once.
            let _ = self.file.wake(b);
        }
    }
}

/// Something to sleep on until a frame may have arrived; see [`Client::lock_frame_or_signal`].
/// It keeps the file mapped, so it stays valid even if the client is dropped meanwhile.
#[derive(Debug)]
pub struct FrameSignal {
    file: Arc<SharedFile>,
    buffer: usize,
}

impl FrameSignal {
    /// Sleeps until the server publishes a frame, a buffer changes state, or `timeout` passes,
    /// and at most one slice ([`wake::WAIT_SLICE`], or [`wake::LONG_SLICE`] once the server has
    /// been seen to wake its clients). May return early; the caller tries to lock again.
    pub fn wait(&self, timeout: Duration) {
        let f = &self.file;
        if f.check_if_due().is_err() {
            return; // the next lock reports it
        }
        let frame_ready = || (0..NUM_BUFFERS).any(|b| f.state(b) == Some(BufferState::Client));
        let registered = wake::add_waiter(f.waiters(self.buffer));
        let word = f.state_word(self.buffer);
        let seen = word.load(Ordering::SeqCst);
        // Re-check after registering: a frame (or a server restart, INIT) that came before the
        // server could see us must not be slept through.
        let ready =
            frame_ready() || (0..NUM_BUFFERS).any(|b| f.state(b) == Some(BufferState::Init));
        if !ready {
            let wakes = f.server_wakes.load(Ordering::Relaxed);
            let slice = if wakes {
                wake::LONG_SLICE
            } else {
                wake::WAIT_SLICE
            };
            match f.wait(self.buffer, seen, timeout.min(slice)) {
                wake::Woke::Woken => f.server_wakes.store(true, Ordering::Relaxed),
                // A frame arrived without a wake-up: this server does not wake its clients.
                wake::Woke::TimedOut if wakes && frame_ready() => {
                    f.server_wakes.store(false, Ordering::Relaxed)
                }
                _ => {}
            }
        }
        if registered {
            wake::remove_waiter(f.waiters(self.buffer));
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
