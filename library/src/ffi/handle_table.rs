//! A table of live objects behind C handles.
//!
//! A handle given to C is not a pointer to anything: it encodes a slot index and the slot's
//! generation. Every call decodes it and looks the slot up, so NULL, released, never-created and
//! garbage handles are recognised (`IMAGESTREAM_BAD_ARGS`) without ever dereferencing the value.
//! A slot's generation grows each time it is reused, so a stale handle never reaches the object
//! that took its slot.
//!
//! Slots live in chunks of 64 allocated on first use and never freed (at most 1024 chunks, so at
//! most 65 536 live objects per table). Looking a handle up takes no global lock: one atomic load
//! finds the chunk, and the slot's own mutex serialises calls on that handle, which is what makes
//! every entry point thread-safe for one handle.

use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::transport::error::Error;

const CHUNK_BITS: u32 = 6;
const CHUNK_LEN: usize = 1 << CHUNK_BITS;
const MAX_CHUNKS: usize = 1024;
const INDEX_BITS: u32 = 16;
const MAX_SLOTS: usize = CHUNK_LEN * MAX_CHUNKS;
const _: () = assert!(MAX_SLOTS == 1 << INDEX_BITS);

#[derive(Debug)]
struct SlotEntry<T> {
    generation: usize,
    value: Option<T>,
}

struct Chunk<T> {
    slots: [Mutex<SlotEntry<T>>; CHUNK_LEN],
}

/// Slot allocation state; taken only by insert and remove.
struct Allocator {
    free: Vec<usize>,
    next_unused: usize,
}

/// A table of `T`s addressed by handles (see the module documentation).
pub(crate) struct HandleTable<T> {
    chunks: [AtomicPtr<Chunk<T>>; MAX_CHUNKS],
    allocator: Mutex<Allocator>,
}

fn lock_ignoring_poison<U>(m: &Mutex<U>) -> MutexGuard<'_, U> {
    // A panic inside a call (caught at the boundary) may poison a mutex; every change made under
    // these mutexes is a single field assignment, so the data is consistent regardless.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The handle value of slot `index` at `generation`.
fn encode(index: usize, generation: usize) -> usize {
    generation << INDEX_BITS | index
}

/// (index, generation) of a handle value; `None` for values no handle has (generation 0, which
/// includes NULL and every small integer).
fn decode(handle: usize) -> Option<(usize, usize)> {
    let generation = handle >> INDEX_BITS;
    (generation != 0).then_some((handle & (MAX_SLOTS - 1), generation))
}

impl<T> HandleTable<T> {
    /// An empty table (no memory until the first insert).
    pub(crate) const fn new() -> HandleTable<T> {
        HandleTable {
            chunks: [const { AtomicPtr::new(std::ptr::null_mut()) }; MAX_CHUNKS],
            allocator: Mutex::new(Allocator {
                free: Vec::new(),
                next_unused: 0,
            }),
        }
    }

    fn chunk(&self, index: usize) -> Option<&Chunk<T>> {
        let p = self
            .chunks
            .get(index >> CHUNK_BITS)?
            .load(Ordering::Acquire);
        // SAFETY: a non-null pointer in `chunks` came from `Box::leak` in `allocate_slot`
        // (published with Release after full initialisation, read here with Acquire) and is
        // never freed, so it is valid for as long as the table and only shared references to
        // it are ever made.
        unsafe { p.as_ref() }
    }

    fn slot(&self, index: usize) -> Option<&Mutex<SlotEntry<T>>> {
        self.chunk(index).map(|c| &c.slots[index & (CHUNK_LEN - 1)])
    }

    fn allocate_slot(&self) -> Result<usize, Error> {
        let mut a = lock_ignoring_poison(&self.allocator);
        if let Some(i) = a.free.pop() {
            return Ok(i);
        }
        let i = a.next_unused;
        if i >= MAX_SLOTS {
            return Err(Error::MemoryAlloc);
        }
        let c = &self.chunks[i >> CHUNK_BITS];
        if c.load(Ordering::Relaxed).is_null() {
            let fresh = Box::new(Chunk {
                slots: std::array::from_fn(|_| {
                    Mutex::new(SlotEntry {
                        generation: 0,
                        value: None,
                    })
                }),
            });
            // Chunks are created only here, under the allocator's mutex, so nobody races this
            // store.
            c.store(Box::leak(fresh), Ordering::Release);
        }
        a.next_unused = i + 1;
        Ok(i)
    }

    /// Stores `value` and returns its new handle value (never 0).
    ///
    /// # Errors
    /// [`Error::MemoryAlloc`] when 65 536 values are already live.
    pub(crate) fn insert(&self, value: T) -> Result<usize, Error> {
        let index = self.allocate_slot()?;
        let slot = self.slot(index).expect("allocated slots have a chunk");
        let mut e = lock_ignoring_poison(slot);
        // Generations run 1..=MAX_GENERATION and then start over (after 2^48 reuses of one slot
        // on 64-bit targets); 0 is never used, so no handle encodes to a small integer.
        const MAX_GENERATION: usize = usize::MAX >> INDEX_BITS;
        e.generation = if e.generation >= MAX_GENERATION {
            1
        } else {
            e.generation + 1
        };
        e.value = Some(value);
        Ok(encode(index, e.generation))
    }

    /// Runs `f` on the value behind `handle` while holding its slot's mutex; `None` when the
    /// handle is 0, unknown or removed.
    #[inline]
    pub(crate) fn with<R>(&self, handle: usize, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let (index, generation) = decode(handle)?;
        let mut e = lock_ignoring_poison(self.slot(index)?);
        if e.generation != generation {
            return None;
        }
        e.value.as_mut().map(f)
    }

    /// Removes the value behind `handle` and returns it (the caller drops it, outside any lock);
    /// `None` when the handle is 0, unknown or removed.
    pub(crate) fn remove(&self, handle: usize) -> Option<T> {
        let (index, generation) = decode(handle)?;
        let value = {
            let mut e = lock_ignoring_poison(self.slot(index)?);
            if e.generation != generation {
                return None;
            }
            e.value.take()?
        };
        lock_ignoring_poison(&self.allocator).free.push(index);
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_rejects_null_and_small_values() {
        assert_eq!(decode(0), None);
        assert_eq!(decode(0xFFFF), None);
        assert_eq!(decode(encode(5, 7)), Some((5, 7)));
        assert_eq!(decode(encode(MAX_SLOTS - 1, 1)), Some((MAX_SLOTS - 1, 1)));
    }

    #[test]
    fn handles_find_their_values_until_removed_and_never_after_reuse() {
        static TABLE: HandleTable<u32> = HandleTable::new();
        let a = TABLE.insert(1).unwrap();
        assert_eq!(TABLE.with(a, |v| *v), Some(1));
        assert_eq!(TABLE.remove(a), Some(1));
        assert_eq!(TABLE.with(a, |v| *v), None);
        assert_eq!(TABLE.remove(a), None);
        // The slot is reused with a new generation: the old handle stays dead.
        let b = TABLE.insert(2).unwrap();
        assert_ne!(a, b);
        assert_eq!(TABLE.with(a, |v| *v), None);
        assert_eq!(TABLE.with(b, |v| *v), Some(2));
        // Unknown and garbage handles.
        assert_eq!(TABLE.with(0, |v| *v), None);
        assert_eq!(TABLE.with(encode(MAX_SLOTS - 1, 1), |v| *v), None);
        let x = 0u64;
        assert_eq!(TABLE.with(&x as *const u64 as usize, |v| *v), None);
    }
}
