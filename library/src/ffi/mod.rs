//! The C ABI: the `SharedMemoryImageStream_*` functions, their constants and types.
//!
//! This layer only validates arguments, calls the safe core and maps results to codes. Handles
//! are registry entries, never pointers, so bad handles are caught without undefined behaviour,
//! and every export runs under a panic boundary.
//!
//! The functions are also callable from Rust (they are `unsafe extern "C"`), which is how the
//! test suite exercises the C surface without a C compiler.

pub mod api;
pub(crate) mod boundary;
pub mod broadcast_api;
pub(crate) mod handle_table;
pub mod mapping_api;
pub(crate) mod registry;
pub mod server_api;
pub mod types;

pub use api::*;
pub use broadcast_api::*;
pub use mapping_api::*;
pub use server_api::*;
pub use types::*;
