//! The C-visible constants and types. cbindgen turns this module into the two headers; every
//! name and value here is fixed by the original library's headers.
#![allow(non_camel_case_types, non_snake_case)]

use std::os::raw::c_int;

// ---- Public header: shared_memory_image_client.h -------------------------------------------

/// Not an error: no client is listening, the frame was not delivered.
pub const IMAGESTREAM_UNCONNECTED: c_int = 4;
/// Not an error: the file was already carrying a stream when the client attached.
pub const IMAGESTREAM_RECONNECTING: c_int = 3;
/// Not an error: no new frame to read.
pub const IMAGESTREAM_NO_FRAMEAVAILABLE: c_int = 2;
/// Not an error: no free buffer, the frame was dropped.
pub const IMAGESTREAM_NO_BUFFERAVAILABLE: c_int = 1;
/// Success.
pub const IMAGESTREAM_NOERROR: c_int = 0;
/// An argument is invalid (NULL pointer, unknown or destroyed handle, bad size or options).
pub const IMAGESTREAM_BAD_ARGS: c_int = -1;
/// Unlock without a lock.
pub const IMAGESTREAM_NOT_LOCKED: c_int = -2;
/// The file is missing or smaller than the 10 MiB minimum.
pub const IMAGESTREAM_BAD_FILE_SIZE: c_int = -3;
/// The file exists but cannot be opened for reading and writing.
pub const IMAGESTREAM_UNABLE_TO_OPEN_FILE: c_int = -4;
/// Mapping the file failed.
pub const IMAGESTREAM_UNABLE_TO_MAP_FILE: c_int = -5;
/// An allocation failed.
pub const IMAGESTREAM_MEMORY_ALLOC_ERROR: c_int = -6;
/// A background thread could not start (never returned by this implementation).
pub const IMAGESTREAM_THREAD_CREATE_ERROR: c_int = -7;
/// The call is not valid on a server stream.
pub const IMAGESTREAM_IS_SERVER: c_int = -8;
/// The call is not valid on a client stream.
pub const IMAGESTREAM_IS_NOTSERVER: c_int = -9;
/// The frame is larger than one buffer's payload.
pub const IMAGESTREAM_FRAME_TOO_LARGE: c_int = -10;
/// The call is not legal while a frame is locked.
pub const IMAGESTREAM_LOCKED: c_int = -11;

/// Options for a client stream.
pub const IMAGESTREAM_OPTIONS_NONE: u32 = 0x00000000;
/// Server option: store rows bottom-up relative to the input frame.
pub const IMAGESTREAM_OPTIONS_FLIPVERTICAL: u32 = 0x00000100;

/// A result code: one of the IMAGESTREAM_* codes above (0 success, > 0 informational,
/// < 0 error).
pub type SharedMemoryImageError = c_int;

/// Opaque stream object; only pointers to it (SharedMemoryImageStream) exist in C.
pub struct _SharedMemoryImageStream {
    _opaque: [u8; 0],
}

/// Handle of a stream. An opaque value created by SharedMemoryImageStream_create and
/// invalidated by SharedMemoryImageStream_destroy; never dereference it.
pub type SharedMemoryImageStream = *mut _SharedMemoryImageStream;

/// One RGB frame.
#[repr(C)]
#[derive(Debug)]
pub struct _SharedMemoryFrame {
    /// Frame number.
    pub iFrame: u32,
    /// Width in pixels.
    pub iWidth: u32,
    /// Height in pixels.
    pub iHeight: u32,
    /// iWidth * iHeight * 3 bytes of RGB, row major, rows tightly packed.
    pub buffer: *mut u8,
}

/// Pointer to a frame.
pub type SharedMemoryFrame = *mut _SharedMemoryFrame;

// ---- Server header: shared_memory_image_client_priv.h --------------------------------------

/// Server option: create initialises the buffer headers (this makes a server stream).
pub const IMAGESTREAM_OPTIONS_INITBUFFERHEADERS: u32 = 0x00000001;
/// Server option: no background thread or mutex (this implementation never starts threads).
pub const IMAGESTREAM_OPTIONS_NOTHREADS: u32 = 0x00000002;
/// Options for a server stream.
pub const IMAGESTREAM_OPTIONS_SERVER: u32 =
    IMAGESTREAM_OPTIONS_INITBUFFERHEADERS | IMAGESTREAM_OPTIONS_NOTHREADS;

/// Extension: every reader slot of a broadcast stream is taken (64 readers at most).
pub const IMAGESTREAM_TOO_MANY_READERS: c_int = -12;

/// Buffer state: free for the server to fill.
pub const IMAGESTREAM_BUFFER_STATE_SERVER: c_int = 0;
/// Buffer state: the server is writing it.
pub const IMAGESTREAM_BUFFER_STATE_SERVER_LOCKED: c_int = 1;
/// Buffer state: holds a complete frame the client has not read.
pub const IMAGESTREAM_BUFFER_STATE_CLIENT: c_int = 2;
/// Buffer state: the client is reading it.
pub const IMAGESTREAM_BUFFER_STATE_CLIENT_LOCKED: c_int = 3;
/// Buffer state: initialised by a server, no client attached.
pub const IMAGESTREAM_BUFFER_STATE_INIT: c_int = 4;

/// Opaque mapping reference; only pointers to it (SharedMemoryMapping) exist in C.
pub struct _SharedMemoryMapping {
    _opaque: [u8; 0],
}

/// Handle of a counted reference to a stream's mapping, from
/// SharedMemoryImageStream_retainmapping; released with SharedMemoryImageStream_releasemapping.
/// An opaque value; never dereference it.
pub type SharedMemoryMapping = *mut _SharedMemoryMapping;

/// The 24-byte header in front of each of the two buffers in the file (native byte order).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct BufferHeader {
    /// Frame number.
    pub frame_number: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// First scanline of this block; whole frames use 0.
    pub offset: u32,
    /// Scanlines in this block; whole frames use height.
    pub num_scanlines: u32,
    /// One of the IMAGESTREAM_BUFFER_STATE_* values.
    pub buffer_state: u8,
    /// Zeroed by a server's create; readers ignore it.
    pub pad: [u8; 3],
}

const _: () = assert!(
    std::mem::size_of::<BufferHeader>() == crate::transport::two_buffer::layout::HEADER_SIZE
);
const _: () = assert!(std::mem::align_of::<BufferHeader>() == 4);
