//! The two-buffer file of the original protocol (SPEC sections 3 and 4): its layout, the buffer
//! state machine, the file laid over a mapping, and its reader and writer.

pub(crate) mod client;
pub(crate) mod file;
pub mod layout;
pub(crate) mod server;
pub mod state;
