//! The safe core: file layout, the buffer state machine, the mapped file, and the two stream
//! types. Nothing here exposes a raw pointer; the C layer in [`crate::ffi`] is built on it.

pub mod client;
pub mod createfile;
pub mod error;
pub mod layout;
pub(crate) mod mapped_file;
pub mod server;
pub mod shared_file;
pub mod state;
pub mod wake;
