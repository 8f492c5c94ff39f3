//! Helpers shared by the integration tests: temporary stream files, raw access to the file's
//! bytes (the view of an independent peer), and thin wrappers over the C API.
#![allow(dead_code)]

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use shared_memory_image_client::ffi::*;
use shared_memory_image_client::layout::{Layout, MIN_FILE_SIZE};
use shared_memory_image_client::Header;

/// A zero-filled stream file in a temporary directory (removed on drop).
pub struct TempStreamFile {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    pub len: u64,
}

impl TempStreamFile {
    /// A zero-filled file of `len` bytes, as the original Python client writes it.
    pub fn with_len(len: u64) -> TempStreamFile {
        let base = if cfg!(unix) && Path::new("/dev/shm").is_dir() {
            tempfile::tempdir_in("/dev/shm")
        } else {
            tempfile::tempdir()
        }
        .expect("temp dir");
        let path = base.path().join("stream.shm");
        let f = File::create(&path).expect("create file");
        f.set_len(len).expect("size file");
        TempStreamFile {
            _dir: base,
            path,
            len,
        }
    }

    /// A 10 MiB file.
    pub fn min() -> TempStreamFile {
        TempStreamFile::with_len(MIN_FILE_SIZE)
    }

    pub fn cpath(&self) -> CString {
        c_path(&self.path)
    }

    pub fn layout(&self) -> Layout {
        Layout::for_file_len(self.len).unwrap()
    }

    fn file(&self) -> File {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .unwrap()
    }

    /// Buffer `b`'s header as read from the file with pread (not through any mapping).
    pub fn raw_header(&self, b: usize) -> Header {
        let mut bytes = [0u8; 24];
        read_at(
            &self.file(),
            &mut bytes,
            self.layout().header_offset(b) as u64,
        );
        Header::from_bytes(&bytes)
    }

    pub fn raw_states(&self) -> [u8; 2] {
        [self.raw_header(0).state, self.raw_header(1).state]
    }

    /// Writes a header raw, as a foreign or hostile peer would.
    pub fn write_raw_header(&self, b: usize, h: &Header) {
        let mut bytes = [0u8; 24];
        for (i, v) in [h.frame_number, h.width, h.height, h.offset, h.num_scanlines]
            .into_iter()
            .enumerate()
        {
            bytes[i * 4..i * 4 + 4].copy_from_slice(&v.to_ne_bytes());
        }
        bytes[20] = h.state;
        bytes[21..24].copy_from_slice(&h.pad);
        write_at(&self.file(), &bytes, self.layout().header_offset(b) as u64);
    }

    pub fn write_raw_state(&self, b: usize, state: u8) {
        let at = self.layout().header_offset(b) as u64 + 20;
        write_at(&self.file(), &[state], at);
    }

    pub fn raw_pixels(&self, b: usize, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        read_at(&self.file(), &mut v, self.layout().pixels_offset(b) as u64);
        v
    }
}

/// Whether this process runs under Wine (whose ntdll exports `wine_get_version`), which differs
/// from Windows in a few places the tests name.
pub fn under_wine() -> bool {
    #[cfg(windows)]
    {
        use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleA, GetProcAddress};
        // SAFETY: NUL-terminated names; ntdll is loaded in every Windows process.
        unsafe {
            let ntdll = GetModuleHandleA(c"ntdll.dll".as_ptr().cast());
            !ntdll.is_null() && GetProcAddress(ntdll, c"wine_get_version".as_ptr().cast()).is_some()
        }
    }
    #[cfg(not(windows))]
    false
}

/// A path as the C API takes it: its bytes on Unix, UTF-8 on Windows.
pub fn c_path(path: &Path) -> CString {
    #[cfg(unix)]
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()).to_vec();
    #[cfg(windows)]
    let bytes = path.to_str().expect("UTF-8 path").as_bytes().to_vec();
    CString::new(bytes).unwrap()
}

/// Reads exactly `buf.len()` bytes at `at` (pread), as an independent peer would.
pub fn read_at(file: &File, buf: &mut [u8], at: u64) {
    #[cfg(unix)]
    std::os::unix::fs::FileExt::read_exact_at(file, buf, at).unwrap();
    #[cfg(windows)]
    {
        let mut done = 0;
        while done < buf.len() {
            let n =
                std::os::windows::fs::FileExt::seek_read(file, &mut buf[done..], at + done as u64)
                    .unwrap();
            assert!(n > 0, "read past the end of the file");
            done += n;
        }
    }
}

/// Writes all of `buf` at `at` (pwrite), as an independent peer would.
pub fn write_at(file: &File, buf: &[u8], at: u64) {
    #[cfg(unix)]
    std::os::unix::fs::FileExt::write_all_at(file, buf, at).unwrap();
    #[cfg(windows)]
    {
        let mut done = 0;
        while done < buf.len() {
            done += std::os::windows::fs::FileExt::seek_write(file, &buf[done..], at + done as u64)
                .unwrap();
        }
    }
}

/// `SharedMemoryImageStream_create` returning (code, handle or NULL).
pub fn create(path: &std::ffi::CStr, options: u32) -> (i32, SharedMemoryImageStream) {
    let mut h: SharedMemoryImageStream = std::ptr::null_mut();
    // SAFETY: valid C string and out-pointer.
    let rc = unsafe { SharedMemoryImageStream_create(path.as_ptr(), options, &mut h) };
    (rc, h)
}

pub fn server(f: &TempStreamFile) -> SharedMemoryImageStream {
    let (rc, h) = create(&f.cpath(), IMAGESTREAM_OPTIONS_SERVER);
    assert_eq!(rc, IMAGESTREAM_NOERROR);
    h
}

pub fn client(f: &TempStreamFile) -> (i32, SharedMemoryImageStream) {
    create(&f.cpath(), IMAGESTREAM_OPTIONS_NONE)
}

/// A pattern derived from the frame number and size, so a reader can check every byte.
pub fn pattern(frame_number: u32, width: u32, height: u32) -> Vec<u8> {
    let n = width as usize * height as usize * 3;
    let seed = frame_number.wrapping_mul(2_654_435_761);
    (0..n)
        .map(|i| (seed.wrapping_add(i as u32).wrapping_mul(31) >> 3) as u8)
        .collect()
}

pub fn put(
    h: SharedMemoryImageStream,
    frame_number: u32,
    width: u32,
    height: u32,
    pixels: &[u8],
) -> i32 {
    let mut frame = _SharedMemoryFrame {
        iFrame: frame_number,
        iWidth: width,
        iHeight: height,
        buffer: pixels.as_ptr() as *mut u8,
    };
    // SAFETY: `frame` describes `pixels`, which outlive the call.
    unsafe { SharedMemoryImageStream_putframe(h, &mut frame) }
}

/// A copy of a locked frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Got {
    pub frame_number: u32,
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

/// Locks, copies and unlocks; (code, frame on success).
pub fn lock_copy(h: SharedMemoryImageStream) -> (i32, Option<Got>) {
    let mut f: SharedMemoryFrame = std::ptr::null_mut();
    // SAFETY: valid out-pointer.
    let rc = unsafe { SharedMemoryImageStream_lock(h, &mut f) };
    if rc != IMAGESTREAM_NOERROR {
        return (rc, None);
    }
    // SAFETY: on success `f` points to the stream's frame, whose buffer holds w*h*3 bytes until
    // unlock.
    let got = unsafe {
        let fr = &*f;
        Got {
            frame_number: fr.iFrame,
            width: fr.iWidth,
            height: fr.iHeight,
            pixels: std::slice::from_raw_parts(fr.buffer, (fr.iWidth * fr.iHeight * 3) as usize)
                .to_vec(),
        }
    };
    // SAFETY: any handle value is accepted.
    assert_eq!(
        unsafe { SharedMemoryImageStream_unlock(h) },
        IMAGESTREAM_NOERROR
    );
    (rc, Some(got))
}

pub fn destroy(h: SharedMemoryImageStream) -> i32 {
    // SAFETY: any handle value is accepted.
    unsafe { SharedMemoryImageStream_destroy(h) }
}

pub fn unlock(h: SharedMemoryImageStream) -> i32 {
    // SAFETY: any handle value is accepted.
    unsafe { SharedMemoryImageStream_unlock(h) }
}

/// A handle that can cross threads in a test (handles are plain integers underneath).
#[derive(Clone, Copy)]
pub struct H(pub usize);

impl H {
    pub fn new(h: SharedMemoryImageStream) -> H {
        H(h.addr())
    }
    pub fn get(self) -> SharedMemoryImageStream {
        std::ptr::without_provenance_mut(self.0)
    }
}

/// The header of a whole frame as the server writes it.
pub fn frame_header(frame_number: u32, width: u32, height: u32, state: u8) -> Header {
    Header {
        frame_number,
        width,
        height,
        offset: 0,
        num_scanlines: height,
        state,
        pad: [0; 3],
    }
}

/// `SharedMemoryImageStream_lock`, keeping the frame locked: (code, frame pointer).
pub fn lock_keep(h: SharedMemoryImageStream) -> (i32, SharedMemoryFrame) {
    let mut fr: SharedMemoryFrame = std::ptr::null_mut();
    // SAFETY: valid out-pointer; any handle value is accepted.
    let rc = unsafe { SharedMemoryImageStream_lock(h, &mut fr) };
    (rc, fr)
}

/// Runs this test binary's ignored test `test` alone in a child process, with the environment
/// variable `env` set to `arg` (so that the child knows it is one), and returns its exit status
/// and output. A crash in the child (a SIGBUS that got through, say) fails the caller's test
/// instead of killing the test runner.
pub fn run_child(test: &str, env: &str, arg: &str) -> (std::process::ExitStatus, String) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            test,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(env, arg)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status, text)
}

/// [`run_child`], asserting that the child's test ran and passed.
pub fn run_in_child(test: &str, env: &str, arg: &str) {
    let (status, text) = run_child(test, env, arg);
    assert!(
        status.success(),
        "{test} ({arg}) failed in its child process ({status}):\n{text}"
    );
    assert!(text.contains("1 passed"), "{test} did not run:\n{text}");
}
