//! The live streams behind `SharedMemoryImageStream` handles, and the mappings behind
//! `SharedMemoryMapping` handles: two [`HandleTable`]s.

use crate::ffi::handle_table::HandleTable;
use crate::ffi::types::{_SharedMemoryFrame, SharedMemoryImageStream, SharedMemoryMapping};
use crate::transport::client::Client;
use crate::transport::error::Error;
use crate::transport::server::Server;
use crate::MappingRef;

/// A zeroed frame struct.
pub(crate) fn empty_frame() -> Box<_SharedMemoryFrame> {
    Box::new(_SharedMemoryFrame {
        iFrame: 0,
        iWidth: 0,
        iHeight: 0,
        buffer: std::ptr::null_mut(),
    })
}

/// A client stream as the C API sees it: the core client plus the frame struct whose address
/// `lock` hands out (boxed so it never moves while C holds it).
#[derive(Debug)]
pub(crate) struct ClientStream {
    pub client: Client,
    pub frame: Box<_SharedMemoryFrame>,
}

// SAFETY: the only non-Send part is the raw `buffer` pointer in `frame`, which points into the
// mapping owned by `client` in the same struct; moving both to another thread together keeps it
// valid, and it is only dereferenced by C code under the slot's mutex discipline.
unsafe impl Send for ClientStream {}

/// A server stream as the C API sees it: the core server plus the frame struct whose address
/// `beginframe` hands out.
#[derive(Debug)]
pub(crate) struct ServerStream {
    pub server: Server,
    pub frame: Box<_SharedMemoryFrame>,
}

// SAFETY: as for ClientStream: `frame.buffer` points into the mapping owned by `server`.
unsafe impl Send for ServerStream {}

/// A live stream behind a handle.
#[derive(Debug)]
pub(crate) enum Stream {
    /// Created with `IMAGESTREAM_OPTIONS_INITBUFFERHEADERS`.
    Server(ServerStream),
    /// Created without it.
    Client(ClientStream),
}

static STREAMS: HandleTable<Stream> = HandleTable::new();
static MAPPINGS: HandleTable<MappingRef> = HandleTable::new();

/// Registers `stream` and returns its new handle.
///
/// # Errors
/// [`Error::MemoryAlloc`] when 65 536 streams are already live.
pub(crate) fn insert(stream: Stream) -> Result<SharedMemoryImageStream, Error> {
    STREAMS.insert(stream).map(std::ptr::without_provenance_mut)
}

/// Runs `f` on the stream behind `handle` while holding its slot's mutex; `None` when the
/// handle is NULL, unknown or destroyed.
#[inline]
pub(crate) fn with<R>(
    handle: SharedMemoryImageStream,
    f: impl FnOnce(&mut Stream) -> R,
) -> Option<R> {
    STREAMS.with(handle.addr(), f)
}

/// Unregisters the stream behind `handle` and returns it (the caller drops it, outside any
/// lock); `None` when the handle is NULL, unknown or destroyed.
pub(crate) fn remove(handle: SharedMemoryImageStream) -> Option<Stream> {
    STREAMS.remove(handle.addr())
}

/// Registers a reference to a mapping and returns its new handle.
///
/// # Errors
/// [`Error::MemoryAlloc`] when 65 536 mapping references are already live.
pub(crate) fn insert_mapping(mapping: MappingRef) -> Result<SharedMemoryMapping, Error> {
    MAPPINGS
        .insert(mapping)
        .map(std::ptr::without_provenance_mut)
}

/// Unregisters the mapping reference behind `handle` and returns it; `None` when the handle is
/// NULL, unknown or released.
pub(crate) fn remove_mapping(handle: SharedMemoryMapping) -> Option<MappingRef> {
    MAPPINGS.remove(handle.addr())
}
