//! # shmimg: the shared memory image transport
//!
//! A drop-in implementation of the EnSight shared memory image transport: two processes on one
//! machine pass RGB frames through a memory-mapped file holding two buffers. The writer
//! ([`Server`]) copies or renders frames into free buffers; the reader ([`Client`]) locks the
//! newest complete frame and reads it in place, without a copy.
//!
//! The same library serves C (`include/shared_memory_image_client.h` and
//! `include/shared_memory_image_client_priv.h`, the functions in [`ffi`]) and Rust (this
//! crate's safe API).
//!
//! ```no_run
//! use shared_memory_image_client::{create_file, Client, PutOutcome, Server};
//!
//! create_file("/dev/shm/frames", 1920, 1080)?;
//! let mut server = Server::create("/dev/shm/frames")?;
//! let mut client = Client::attach("/dev/shm/frames")?;
//!
//! let pixels = vec![0u8; 1920 * 1080 * 3];
//! assert_eq!(server.put_frame(1, 1920, 1080, &pixels)?, PutOutcome::Delivered);
//!
//! if let Some(frame) = client.lock()? {
//!     println!("frame {} is {}x{}", frame.frame_number(), frame.width(), frame.height());
//!     let _first_pixel = &frame[..3];
//! } // unlocked here
//! # Ok::<(), shared_memory_image_client::Error>(())
//! ```

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod ffi;
/// cbindgen:ignore
mod platform;
/// cbindgen:ignore
mod transport;

pub use transport::two_buffer::{layout, state};
pub use transport::{broadcast, client, error, server, wake};

pub use broadcast::BroadcastLayout;
pub use client::{Attach, Client, Frame, FrameInfo, FrameSignal, StreamKind};
pub use error::Error;
pub use layout::Layout;
pub use server::{FrameWriter, PutOutcome, Server, ServerOptions, WakeStats};
pub use state::BufferState;
pub use transport::createfile::{create_file, create_file_with_mode, OWNER_ONLY};
pub use transport::mapped_file::MappingRef;
pub use transport::two_buffer::file::Header;

/// The system-wide monotonic clock, in nanoseconds: `CLOCK_MONOTONIC` on Unix, the performance
/// counter on Windows. Readings of different processes on one machine are comparable, so a
/// server can stamp a frame and a client can tell how old it is.
pub fn monotonic_ns() -> u64 {
    platform::monotonic_ns()
}

/// The README's Rust examples, compiled as doctests so they stay correct.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
