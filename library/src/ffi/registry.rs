//! The table of live stream handles.
//!
//! A `SharedMemoryImageStream` given to C is not a pointer to anything: it encodes a slot index
//! and the slot's generation. Every call decodes it and looks the slot up, so NULL, destroyed,
//! never-created and garbage handles are recognised (`IMAGESTREAM_BAD_ARGS`) without ever
//! dereferencing the value. A slot's generation grows each time it is reused, so a stale handle
//! never reaches the stream that took its slot.
//!
//! Slots live in chunks of 64 allocated on first use and never freed (at most 1024 chunks, so at
//! most 65 536 live streams and about 2.5 MiB of slots). Looking a handle up takes no global lock:
//! one atomic load finds the chunk, and the slot's own mutex serialises calls on that handle,
//! which is what makes every entry point thread-safe for one handle.

use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::ffi::types::{_SharedMemoryFrame, SharedMemoryImageStream};
use crate::transport::client::Client;
use crate::transport::error::Error;
use crate::transport::server::Server;

const CHUNK_BITS: u32 = 6;
const CHUNK_LEN: usize = 1 << CHUNK_BITS;
const MAX_CHUNKS: usize = 1024;
const INDEX_BITS: u32 = 16;
const MAX_SLOTS: usize = CHUNK_LEN * MAX_CHUNKS;
const _: () = assert!(MAX_SLOTS == 1 << INDEX_BITS);

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

#[derive(Debug, Default)]
struct SlotEntry {
    generation: usize,
    stream: Option<Stream>,
}

struct Chunk {
    slots: [Mutex<SlotEntry>; CHUNK_LEN],
}

static CHUNKS: [AtomicPtr<Chunk>; MAX_CHUNKS] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; MAX_CHUNKS];

/// Slot allocation state; taken only by create and destroy.
struct Allocator {
    free: Vec<usize>,
    next_unused: usize,
}

static ALLOCATOR: Mutex<Allocator> = Mutex::new(Allocator {
    free: Vec::new(),
    next_unused: 0,
});

fn lock_ignoring_poison<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic inside a call (caught at the boundary) may poison a mutex; every change made under
    // these mutexes is a single field assignment, so the data is consistent regardless.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn chunk(index: usize) -> Option<&'static Chunk> {
    let p = CHUNKS.get(index >> CHUNK_BITS)?.load(Ordering::Acquire);
    // SAFETY: a non-null pointer in CHUNKS came from `Box::leak` in `allocate_slot` (published
    // with Release after full initialisation, read here with Acquire) and is never freed, so it
    // is valid for 'static and only shared references to it are ever made.
    unsafe { p.as_ref() }
}

fn slot(index: usize) -> Option<&'static Mutex<SlotEntry>> {
    chunk(index).map(|c| &c.slots[index & (CHUNK_LEN - 1)])
}

fn encode(index: usize, generation: usize) -> SharedMemoryImageStream {
    std::ptr::without_provenance_mut(generation << INDEX_BITS | index)
}

fn decode(handle: SharedMemoryImageStream) -> Option<(usize, usize)> {
    let v = handle.addr();
    let generation = v >> INDEX_BITS;
    (generation != 0).then_some((v & (MAX_SLOTS - 1), generation))
}

fn allocate_slot() -> Result<usize, Error> {
    let mut a = lock_ignoring_poison(&ALLOCATOR);
    if let Some(i) = a.free.pop() {
        return Ok(i);
    }
    let i = a.next_unused;
    if i >= MAX_SLOTS {
        return Err(Error::MemoryAlloc);
    }
    let c = &CHUNKS[i >> CHUNK_BITS];
    if c.load(Ordering::Relaxed).is_null() {
        let fresh = Box::new(Chunk {
            slots: std::array::from_fn(|_| Mutex::new(SlotEntry::default())),
        });
        // Chunks are created only here, under ALLOCATOR, so nobody races this store.
        c.store(Box::leak(fresh), Ordering::Release);
    }
    a.next_unused = i + 1;
    Ok(i)
}

/// Registers `stream` and returns its new handle.
///
/// # Errors
/// [`Error::MemoryAlloc`] when 65 536 streams are already live.
pub(crate) fn insert(stream: Stream) -> Result<SharedMemoryImageStream, Error> {
    let index = allocate_slot()?;
    let slot = slot(index).expect("allocated slots have a chunk");
    let mut e = lock_ignoring_poison(slot);
    // Generations run 1..=MAX_GENERATION and then start over (after 2^48 reuses of one slot on
    // 64-bit targets); 0 is never used, so no handle encodes to a small integer.
    const MAX_GENERATION: usize = usize::MAX >> INDEX_BITS;
    e.generation = if e.generation >= MAX_GENERATION {
        1
    } else {
        e.generation + 1
    };
    e.stream = Some(stream);
    Ok(encode(index, e.generation))
}

/// Runs `f` on the stream behind `handle` while holding its slot's mutex; `None` when the
/// handle is NULL, unknown or destroyed.
#[inline]
pub(crate) fn with<R>(
    handle: SharedMemoryImageStream,
    f: impl FnOnce(&mut Stream) -> R,
) -> Option<R> {
    let (index, generation) = decode(handle)?;
    let mut e = lock_ignoring_poison(slot(index)?);
    if e.generation != generation {
        return None;
    }
    e.stream.as_mut().map(f)
}

/// Unregisters the stream behind `handle` and returns it (the caller drops it, outside any
/// lock); `None` when the handle is NULL, unknown or destroyed.
pub(crate) fn remove(handle: SharedMemoryImageStream) -> Option<Stream> {
    let (index, generation) = decode(handle)?;
    let stream = {
        let mut e = lock_ignoring_poison(slot(index)?);
        if e.generation != generation {
            return None;
        }
        e.stream.take()?
    };
    lock_ignoring_poison(&ALLOCATOR).free.push(index);
    Some(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_rejects_null_and_small_values() {
        assert_eq!(decode(std::ptr::null_mut()), None);
        assert_eq!(decode(std::ptr::without_provenance_mut(0xFFFF)), None);
        assert_eq!(decode(encode(5, 7)), Some((5, 7)));
        assert_eq!(decode(encode(MAX_SLOTS - 1, 1)), Some((MAX_SLOTS - 1, 1)));
    }

    #[test]
    fn unknown_handles_are_not_found() {
        assert!(with(std::ptr::null_mut(), |_| ()).is_none());
        // An index whose chunk was never allocated.
        assert!(with(encode(MAX_SLOTS - 1, 1), |_| ()).is_none());
        // An address of real memory.
        let mut x = 0u64;
        let p: SharedMemoryImageStream = (&mut x as *mut u64).cast();
        assert!(with(p, |_| ()).is_none());
        assert!(remove(p).is_none());
    }
}
