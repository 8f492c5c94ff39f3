//! Byte locks on top of classic POSIX record locks, for the Unix systems that have no
//! open-file-description locks (macOS, FreeBSD).
//!
//! Record locks belong to a process: a second request of the process for a byte it holds
//! succeeds, and closing *any* descriptor of a file drops every lock the process holds on that
//! file. So the process keeps one table of the bytes it holds, per file, under a mutex, with one
//! descriptor per file that stays open while any byte of the file is held:
//!
//! - a byte held by one stream of the process is refused to every other stream of it;
//! - taking or giving back a lock never closes a descriptor under a held lock (the descriptor of
//!   a file is closed only when its last lock is given back).
//!
//! Closing some other descriptor of the file (another stream of the process that ends) still
//! drops the process's locks in the kernel; the broadcast code therefore also asks whether the
//! process id recorded beside a lock is alive before it treats the lock's owner as gone.

use std::fs::File;
use std::io;
use std::sync::{Mutex, PoisonError};

use super::file_id;
use super::range_lock::{lock_request, LockKind};
use crate::platform::FileId;

/// The bytes this process holds in one file.
struct FileLocks {
    id: FileId,
    /// The descriptor every lock of the file is taken and given back through.
    file: File,
    offsets: Vec<u64>,
}

/// Every file in which this process holds a byte (a handful at most: a linear search will do).
static TABLE: Mutex<Vec<FileLocks>> = Mutex::new(Vec::new());

/// A lock on one byte of a file, held by this process, in the table.
#[derive(Debug)]
pub(crate) struct ProcessLock {
    id: FileId,
    offset: u64,
    /// The `fcntl` command that sets and clears a lock.
    set_lock: libc::c_int,
}

impl ProcessLock {
    /// Takes the lock on byte `offset` of `file` with the command `set_lock`; `Ok(None)` when
    /// this process (another stream of it) or another process holds it.
    pub(crate) fn try_lock(
        file: &File,
        offset: u64,
        set_lock: libc::c_int,
    ) -> io::Result<Option<ProcessLock>> {
        let id = file_id(file)?;
        let mut table = TABLE.lock().unwrap_or_else(PoisonError::into_inner);
        match table.iter_mut().find(|f| f.id == id) {
            Some(held) => {
                if held.offsets.contains(&offset)
                    || !lock_request(&held.file, offset, LockKind::Exclusive, set_lock)?
                {
                    return Ok(None);
                }
                held.offsets.push(offset);
            }
            None => {
                // The process holds no lock on this file, so closing this descriptor if the
                // request fails loses nothing.
                let own = file.try_clone()?;
                if !lock_request(&own, offset, LockKind::Exclusive, set_lock)? {
                    return Ok(None);
                }
                table.push(FileLocks {
                    id,
                    file: own,
                    offsets: vec![offset],
                });
            }
        }
        Ok(Some(ProcessLock {
            id,
            offset,
            set_lock,
        }))
    }
}

impl Drop for ProcessLock {
    fn drop(&mut self) {
        let mut table = TABLE.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(at) = table.iter().position(|f| f.id == self.id) else {
            return;
        };
        let held = &mut table[at];
        let _ = lock_request(&held.file, self.offset, LockKind::Unlock, self.set_lock);
        held.offsets.retain(|&o| o != self.offset);
        if held.offsets.is_empty() {
            // No lock of this process is left on the file: its descriptor can go.
            table.swap_remove(at);
        }
    }
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    //! Run on Linux with classic record locks (`F_SETLK`); an open-file-description probe from
    //! another descriptor sees them, as another process would.

    use super::super::range_lock::is_held_with;
    use super::*;

    /// Whether byte `offset` is locked, asked through `probe` (a descriptor kept open for the
    /// whole test: closing one would drop the process's record locks).
    fn held(probe: &File, offset: u64) -> bool {
        is_held_with(probe, offset, libc::F_OFD_GETLK).unwrap()
    }

    #[test]
    fn streams_of_one_process_exclude_each_other_and_keep_their_locks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"x").unwrap();
        let first = File::options().read(true).write(true).open(&path).unwrap();
        let second = File::options().read(true).write(true).open(&path).unwrap();
        let probe = File::open(&path).unwrap();

        let a = ProcessLock::try_lock(&first, 10, libc::F_SETLK)
            .unwrap()
            .unwrap();
        // The kernel would grant the process its own byte again; the table does not.
        assert!(ProcessLock::try_lock(&second, 10, libc::F_SETLK)
            .unwrap()
            .is_none());
        let b = ProcessLock::try_lock(&second, 11, libc::F_SETLK)
            .unwrap()
            .unwrap();
        // A failed request closed no descriptor holding the process's locks.
        assert!(ProcessLock::try_lock(&first, 11, libc::F_SETLK)
            .unwrap()
            .is_none());
        assert!(held(&probe, 10) && held(&probe, 11));

        // Giving one back keeps the other.
        drop(a);
        assert!(!held(&probe, 10));
        assert!(held(&probe, 11));
        let again = ProcessLock::try_lock(&first, 10, libc::F_SETLK)
            .unwrap()
            .unwrap();
        assert!(held(&probe, 10));
        drop(b);
        drop(again);
        assert!(!held(&probe, 10) && !held(&probe, 11));
        assert!(TABLE.lock().unwrap().iter().all(|f| f.offsets.is_empty()));
    }
}
