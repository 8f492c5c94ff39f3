//! The reader side of a two-buffer stream: attaches to the file, locks the newest complete frame
//! (SPEC section 4), and detaches so the server knows nobody is listening. The public
//! [`crate::Client`] drives it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::transport::client::{Attach, FrameInfo};
use crate::transport::mapped_file::{MappedFile, MappingRef};
use crate::transport::two_buffer::file::TwoBufferFile;
use crate::transport::two_buffer::layout::NUM_BUFFERS;
use crate::transport::two_buffer::state::{
    self, BufferState, ATTACH_INIT, ATTACH_LOCKED, ATTACH_UNREAD, CLIENT_DROP, CLIENT_LOCK,
    CLIENT_UNLOCK, DETACH_FREE, DETACH_UNREAD,
};
use crate::transport::wake;

/// An attached two-buffer reader. Dropping it detaches (buffers go back to INIT).
#[derive(Debug)]
pub(crate) struct TwoBufferReader {
    file: Arc<TwoBufferFile>,
    attach: Attach,
}

impl TwoBufferReader {
    /// Attaches to a mapped two-buffer file: every buffer in INIT, CLIENT or CLIENT_LOCKED goes
    /// to SERVER (free).
    pub fn attach(file: TwoBufferFile) -> TwoBufferReader {
        let file = Arc::new(file);
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
        TwoBufferReader { file, attach }
    }

    /// How the file looked when the reader attached.
    pub fn attach_status(&self) -> Attach {
        self.attach
    }

    /// The mapped file.
    #[inline]
    pub fn mapped(&self) -> &MappedFile {
        self.file.mapped()
    }

    /// Bytes of payload per buffer.
    pub fn payload_size(&self) -> usize {
        self.file.layout().payload_size()
    }

    /// A counted reference to the mapping.
    pub fn mapping_ref(&self) -> MappingRef {
        MappingRef::new(self.file.clone())
    }

    /// Whether neither buffer holds a frame or needs re-attaching: the idle case of a polling
    /// client, kept to two loads.
    #[inline]
    pub fn nothing_to_take(&self) -> bool {
        let waiting = |s| matches!(s, Some(BufferState::Client) | Some(BufferState::Init));
        !waiting(self.file.state(0)) && !waiting(self.file.state(1))
    }

    /// Re-attaches buffers a restarted server reset, drops an older complete frame, and locks
    /// the newest one whose header describes a frame that fits its payload (a header that does
    /// not, from a corrupt or hostile writer, is handed back and nothing is locked).
    pub fn take_newest(&mut self) -> Option<FrameInfo> {
        let f = &self.file;
        let states = f.states();
        let mut ready = [false; NUM_BUFFERS];
        for (b, s) in states.into_iter().enumerate() {
            match s {
                Some(BufferState::Init) => {
                    let _ = f.transition(b, ATTACH_INIT);
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
                let f0 = f.header(0).frame_number;
                let f1 = f.header(1).frame_number;
                let (newer, older) = if state::is_newer(f1, f0) {
                    (1, 0)
                } else {
                    (0, 1)
                };
                let _ = f.transition(older, CLIENT_DROP);
                newer
            }
        };
        f.transition(buffer, CLIENT_LOCK).ok()?;
        let h = f.header(buffer);
        if !f.layout().fits(h.width, h.height) {
            let _ = f.transition(buffer, CLIENT_UNLOCK);
            return None;
        }
        // The two state bytes were read one after the other, so the server may have published
        // the other buffer in between (an older frame than ours, if it then also published
        // ours). Drop it now, or the next lock would hand out a frame older than this one.
        let other = 1 - buffer;
        if f.state(other) == Some(BufferState::Client)
            && !state::is_newer(f.header(other).frame_number, h.frame_number)
        {
            let _ = f.transition(other, CLIENT_DROP);
        }
        Some(FrameInfo {
            frame_number: h.frame_number,
            width: h.width,
            height: h.height,
            buffer,
        })
    }

    /// Byte offset of a locked frame's pixels in the file.
    pub fn pixels_offset(&self, info: &FrameInfo) -> usize {
        self.file.layout().pixels_offset(info.buffer)
    }

    /// Gives a locked frame's buffer back to the server (3 → 0). Fails only when a restarted
    /// server reset the buffer to INIT meanwhile; the next lock re-attaches it.
    pub fn release(&mut self, info: &FrameInfo) {
        let _ = self.file.transition(info.buffer, CLIENT_UNLOCK);
    }

    /// What to sleep on until a frame may arrive: the buffer the server publishes next (the
    /// one it is writing, else the first free one, the order this library's server takes them
    /// in).
    pub fn signal(&self) -> TwoBufferSignal {
        let states = self.file.states();
        let buffer = states
            .iter()
            .position(|s| *s == Some(BufferState::ServerLocked))
            .or_else(|| states.iter().position(|s| *s == Some(BufferState::Server)))
            .unwrap_or(0);
        TwoBufferSignal {
            file: Arc::clone(&self.file),
            buffer,
        }
    }

    /// The states of both buffers as seen now (`None` for an invalid byte).
    pub fn buffer_states(&self) -> [Option<BufferState>; NUM_BUFFERS] {
        self.file.states()
    }
}

impl Drop for TwoBufferReader {
    fn drop(&mut self) {
        for b in 0..NUM_BUFFERS {
            // A buffer the server is writing (SERVER_LOCKED) is left alone: it becomes CLIENT
            // and stays there until the next client attaches.
            if self.file.transition(b, DETACH_FREE).is_err() {
                let _ = self.file.transition(b, DETACH_UNREAD);
            }
            // Threads still waiting through a signal of this reader re-check at once.
            let _ = self.file.wake(b);
        }
    }
}

/// Sleeping until the server of a two-buffer file publishes; keeps the file mapped.
#[derive(Debug)]
pub(crate) struct TwoBufferSignal {
    file: Arc<TwoBufferFile>,
    buffer: usize,
}

impl TwoBufferSignal {
    /// Sleeps until the server publishes a frame, a buffer changes state, or `timeout` passes,
    /// and at most one slice (see [`wake::WakeHistory`]). The waiter counts itself in `pad[0]`
    /// of the buffer it waits on while it sleeps.
    pub fn wait(&self, timeout: Duration) {
        let f = &self.file;
        if f.check_if_due().is_err() {
            return; // the next lock reports it
        }
        let frame_ready = || (0..NUM_BUFFERS).any(|b| f.state(b) == Some(BufferState::Client));
        let registered = wake::add_waiter(f.waiters(self.buffer));
        let seen = f.state_word(self.buffer).load(Ordering::SeqCst);
        // Re-check after registering: a frame (or a server restart, INIT) that came before the
        // server could see us must not be slept through.
        let ready =
            frame_ready() || (0..NUM_BUFFERS).any(|b| f.state(b) == Some(BufferState::Init));
        if !ready {
            let woke = f.wait(self.buffer, seen, f.wake_history.slice(timeout));
            f.wake_history.record(woke, frame_ready);
        }
        if registered {
            wake::remove_waiter(f.waiters(self.buffer));
        }
    }
}
