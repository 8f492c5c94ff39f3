//! The safe core: the two file kinds (the original protocol's two-buffer file and broadcast
//! files), the mapping they share, and the reader and writer types that serve both. Nothing here
//! exposes a raw pointer; the C layer in [`crate::ffi`] is built on it.

pub mod broadcast;
pub mod client;
pub mod createfile;
pub mod error;
pub(crate) mod mapped_file;
pub mod server;
pub mod two_buffer;
pub mod wake;
