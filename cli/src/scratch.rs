//! Scratch files for the commands that make their own streams (demo, bench, torture,
//! crashtest): a place for them and their removal when the command ends.

use std::path::{Path, PathBuf};

/// `/dev/shm` on Unix systems that have it (a tmpfs: the stream never touches a disk), else the
/// temporary directory (`%TEMP%` on Windows).
pub fn shm_dir() -> PathBuf {
    if cfg!(unix) && Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    }
}

/// A file or directory in [`shm_dir`] named after `prefix` and this process, removed (with its
/// contents) when dropped, however the command ends.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// `shm_dir()/{prefix}-{pid}{suffix}`; nothing is created yet.
    pub fn new(prefix: &str, suffix: &str) -> Scratch {
        Scratch(shm_dir().join(format!("{prefix}-{}{suffix}", std::process::id())))
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.0.is_dir() {
            let _ = std::fs::remove_dir_all(&self.0);
        } else {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}
