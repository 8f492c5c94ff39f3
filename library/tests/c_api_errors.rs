//! Every result code of the C API triggered on purpose (SPEC sections 3 and 4), through the
//! exported functions exactly as C calls them.

mod common;

use std::ffi::{CStr, CString};
use std::ptr::{null, null_mut};

use common::*;
use shared_memory_image_client::ffi::*;
use shared_memory_image_client::layout::MIN_FILE_SIZE;

fn sentinel() -> SharedMemoryImageStream {
    std::ptr::without_provenance_mut(0x5EED_0000)
}

/// Calls create with a pre-set output and returns (code, output).
fn create_keep(path: *const std::os::raw::c_char, options: u32) -> (i32, SharedMemoryImageStream) {
    let mut h = sentinel();
    // SAFETY: `path` is NULL or a valid C string; `h` is writable.
    let rc = unsafe { SharedMemoryImageStream_create(path, options, &mut h) };
    (rc, h)
}

#[test]
fn create_rejects_null_arguments_and_unknown_options() {
    let f = TempStreamFile::min();
    assert_eq!(
        create_keep(null(), IMAGESTREAM_OPTIONS_SERVER),
        (IMAGESTREAM_BAD_ARGS, sentinel())
    );
    // SAFETY: valid C string, NULL output pointer (must be rejected).
    let rc = unsafe { SharedMemoryImageStream_create(f.cpath().as_ptr(), 0, null_mut()) };
    assert_eq!(rc, IMAGESTREAM_BAD_ARGS);
    for bad in [
        0x200,
        0x400,
        0x8000_0000,
        0xFFFF_FFFF,
        IMAGESTREAM_OPTIONS_SERVER | 0x1000,
    ] {
        assert_eq!(
            create_keep(f.cpath().as_ptr(), bad),
            (IMAGESTREAM_BAD_ARGS, sentinel()),
            "{bad:#x}"
        );
    }
    // Every bit inside 0x1FF is accepted.
    for ok in [0x1FF, 0x100, 0x80, 0x4] {
        let (rc, h) = create_keep(f.cpath().as_ptr(), ok);
        assert!(rc >= 0, "{ok:#x}: {rc}");
        assert_eq!(destroy(h), IMAGESTREAM_NOERROR);
    }
}

#[test]
fn create_reports_missing_and_small_files_as_bad_file_size() {
    let f = TempStreamFile::with_len(MIN_FILE_SIZE - 1);
    for opts in [IMAGESTREAM_OPTIONS_SERVER, IMAGESTREAM_OPTIONS_NONE] {
        assert_eq!(
            create_keep(f.cpath().as_ptr(), opts),
            (IMAGESTREAM_BAD_FILE_SIZE, sentinel())
        );
        let missing = CString::new(f.path.with_extension("missing").to_str().unwrap()).unwrap();
        assert_eq!(
            create_keep(missing.as_ptr(), opts),
            (IMAGESTREAM_BAD_FILE_SIZE, sentinel())
        );
        assert_eq!(
            create_keep(c"".as_ptr(), opts),
            (IMAGESTREAM_BAD_FILE_SIZE, sentinel())
        );
    }
    let empty = TempStreamFile::with_len(0);
    assert_eq!(
        create_keep(empty.cpath().as_ptr(), 0),
        (IMAGESTREAM_BAD_FILE_SIZE, sentinel())
    );
    // Exactly the minimum is fine.
    let ok = TempStreamFile::min();
    let (rc, h) = create_keep(ok.cpath().as_ptr(), IMAGESTREAM_OPTIONS_SERVER);
    assert_eq!(rc, IMAGESTREAM_NOERROR);
    assert_eq!(destroy(h), IMAGESTREAM_NOERROR);
}

#[test]
fn create_reports_unopenable_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = CString::new(dir.path().to_str().unwrap()).unwrap();
    assert_eq!(
        create_keep(d.as_ptr(), 0),
        (IMAGESTREAM_UNABLE_TO_OPEN_FILE, sentinel())
    );
    assert_eq!(
        create_keep(d.as_ptr(), IMAGESTREAM_OPTIONS_SERVER),
        (IMAGESTREAM_UNABLE_TO_OPEN_FILE, sentinel())
    );

    // A FIFO exists but is no regular file.
    #[cfg(unix)]
    {
        let fifo = dir.path().join("fifo");
        let cfifo = CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: valid C string.
        assert_eq!(unsafe { libc::mkfifo(cfifo.as_ptr(), 0o600) }, 0);
        assert_eq!(
            create_keep(cfifo.as_ptr(), 0),
            (IMAGESTREAM_UNABLE_TO_OPEN_FILE, sentinel())
        );
    }

    // No permission (meaningless for root, who bypasses permission checks).
    #[cfg(unix)]
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        let f = TempStreamFile::min();
        std::fs::set_permissions(&f.path, std::os::unix::fs::PermissionsExt::from_mode(0o400))
            .unwrap();
        assert_eq!(
            create_keep(f.cpath().as_ptr(), 0),
            (IMAGESTREAM_UNABLE_TO_OPEN_FILE, sentinel())
        );
    }
}

#[test]
#[cfg(unix)]
fn create_reports_a_failed_mapping() {
    // In a child process whose address space is capped, mmap fails with ENOMEM.
    let f = TempStreamFile::min();
    let path = f.cpath();
    // SAFETY: the child only calls async-signal-safe functions and our create, which on this
    // path allocates nothing before mmap fails; it leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let lim = libc::rlimit {
            rlim_cur: 1 << 20,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: valid pointers; this is the child.
        unsafe {
            libc::setrlimit(libc::RLIMIT_AS, &lim);
            let mut h = null_mut();
            let rc =
                SharedMemoryImageStream_create(path.as_ptr(), IMAGESTREAM_OPTIONS_SERVER, &mut h);
            libc::_exit(if rc == IMAGESTREAM_UNABLE_TO_MAP_FILE && h.is_null() {
                0
            } else {
                100 - rc
            });
        }
    }
    let mut status = 0;
    // SAFETY: valid pid and pointer.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status));
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "child saw code {}",
        100 - libc::WEXITSTATUS(status)
    );
}

#[test]
fn bad_handles_give_bad_args_everywhere() {
    let f = TempStreamFile::min();
    let s = server(&f);
    let (_, c) = client(&f);
    assert_eq!(destroy(s), IMAGESTREAM_NOERROR);
    assert_eq!(destroy(c), IMAGESTREAM_NOERROR);
    let mut x = 0u64;
    let garbage: Vec<SharedMemoryImageStream> = vec![
        null_mut(),
        s, // destroyed server
        c, // destroyed client
        std::ptr::without_provenance_mut(1),
        std::ptr::without_provenance_mut(usize::MAX),
        (&mut x as *mut u64).cast(),
    ];
    let px = [0u8; 3];
    for h in garbage {
        let mut fr: SharedMemoryFrame = null_mut();
        // SAFETY: every function accepts any handle value; other pointers are valid.
        unsafe {
            assert_eq!(
                SharedMemoryImageStream_lock(h, &mut fr),
                IMAGESTREAM_BAD_ARGS
            );
            assert_eq!(
                SharedMemoryImageStream_lock(h, null_mut()),
                IMAGESTREAM_BAD_ARGS
            );
            assert_eq!(SharedMemoryImageStream_unlock(h), IMAGESTREAM_BAD_ARGS);
            assert_eq!(put(h, 1, 1, 1, &px), IMAGESTREAM_BAD_ARGS);
            assert_eq!(
                SharedMemoryImageStream_putframe(h, null_mut()),
                IMAGESTREAM_BAD_ARGS
            );
            assert_eq!(SharedMemoryImageStream_destroy(h), IMAGESTREAM_BAD_ARGS);
        }
        assert!(fr.is_null());
    }
}

#[test]
fn putframe_argument_errors_in_spec_order() {
    let f = TempStreamFile::min();
    let s = server(&f);
    let (_, c) = client(&f);
    let px = vec![0u8; 64 * 64 * 3];
    // A client stream is checked before the frame.
    assert_eq!(put(c, 1, 64, 64, &px), IMAGESTREAM_IS_NOTSERVER);
    // SAFETY: NULL frame must be rejected, not read.
    assert_eq!(
        unsafe { SharedMemoryImageStream_putframe(c, null_mut()) },
        IMAGESTREAM_IS_NOTSERVER
    );
    assert_eq!(
        unsafe { SharedMemoryImageStream_putframe(s, null_mut()) },
        IMAGESTREAM_BAD_ARGS
    );
    let mut nobuf = _SharedMemoryFrame {
        iFrame: 1,
        iWidth: 4,
        iHeight: 4,
        buffer: null_mut(),
    };
    // SAFETY: valid frame struct with a NULL buffer, which must be rejected.
    assert_eq!(
        unsafe { SharedMemoryImageStream_putframe(s, &mut nobuf) },
        IMAGESTREAM_BAD_ARGS
    );
    assert_eq!(put(s, 1, 0, 64, &px), IMAGESTREAM_BAD_ARGS);
    assert_eq!(put(s, 1, 64, 0, &px), IMAGESTREAM_BAD_ARGS);
    assert_eq!(put(s, 1, 0, 0, &px), IMAGESTREAM_BAD_ARGS);
    // Too large, including sizes whose byte count overflows 32 and 64 bits. The buffer is never
    // read for these (it is only 12 KiB).
    let p = f.layout().payload_size() as u32;
    assert_eq!(put(s, 1, 1, p / 3 + 1, &px), IMAGESTREAM_FRAME_TOO_LARGE);
    assert_eq!(put(s, 1, 65536, 65536, &px), IMAGESTREAM_FRAME_TOO_LARGE);
    assert_eq!(
        put(s, 1, u32::MAX, u32::MAX, &px),
        IMAGESTREAM_FRAME_TOO_LARGE
    );
    // Server calls on a client and client calls on a server.
    let mut fr: SharedMemoryFrame = null_mut();
    // SAFETY: valid handles and out-pointers.
    unsafe {
        assert_eq!(
            SharedMemoryImageStream_lock(s, &mut fr),
            IMAGESTREAM_IS_SERVER
        );
        assert_eq!(
            SharedMemoryImageStream_lock(s, null_mut()),
            IMAGESTREAM_IS_SERVER
        );
        assert_eq!(SharedMemoryImageStream_unlock(s), IMAGESTREAM_IS_SERVER);
    }
    assert_eq!(destroy(c), IMAGESTREAM_NOERROR);
    assert_eq!(destroy(s), IMAGESTREAM_NOERROR);
}

#[test]
fn putframe_outcomes_unconnected_and_no_buffer_leave_memory_unchanged() {
    let f = TempStreamFile::min();
    let s = server(&f);
    let px = pattern(1, 16, 16);
    let before = (f.raw_header(0), f.raw_header(1));
    assert_eq!(put(s, 1, 16, 16, &px), IMAGESTREAM_UNCONNECTED);
    assert_eq!((f.raw_header(0), f.raw_header(1)), before);
    assert_eq!(f.raw_pixels(0, px.len()), vec![0; px.len()]);

    let (rc, c) = client(&f);
    assert_eq!(rc, IMAGESTREAM_NOERROR);
    assert_eq!(put(s, 1, 16, 16, &px), IMAGESTREAM_NOERROR);
    assert_eq!(put(s, 2, 16, 16, &px), IMAGESTREAM_NOERROR);
    let before = (f.raw_header(0), f.raw_header(1));
    let pix_before = (f.raw_pixels(0, px.len()), f.raw_pixels(1, px.len()));
    assert_eq!(
        put(s, 3, 16, 16, &pattern(3, 16, 16)),
        IMAGESTREAM_NO_BUFFERAVAILABLE
    );
    assert_eq!((f.raw_header(0), f.raw_header(1)), before);
    assert_eq!(
        (f.raw_pixels(0, px.len()), f.raw_pixels(1, px.len())),
        pix_before
    );
    destroy(c);
    destroy(s);
}

#[test]
fn lock_and_unlock_codes() {
    let f = TempStreamFile::min();
    let s = server(&f);
    let (rc, c) = client(&f);
    assert_eq!(rc, IMAGESTREAM_NOERROR);
    let mut fr: SharedMemoryFrame = null_mut();
    // SAFETY: valid handles and out-pointers throughout.
    unsafe {
        assert_eq!(
            SharedMemoryImageStream_lock(c, &mut fr),
            IMAGESTREAM_NO_FRAMEAVAILABLE
        );
        assert!(fr.is_null(), "output untouched without a frame");
        assert_eq!(SharedMemoryImageStream_unlock(c), IMAGESTREAM_NOT_LOCKED);
        assert_eq!(
            SharedMemoryImageStream_lock(c, null_mut()),
            IMAGESTREAM_BAD_ARGS
        );
        assert_eq!(put(s, 5, 2, 2, &pattern(5, 2, 2)), IMAGESTREAM_NOERROR);
        assert_eq!(
            SharedMemoryImageStream_lock(c, &mut fr),
            IMAGESTREAM_NOERROR
        );
        assert_eq!((*fr).iFrame, 5);
        let mut fr2: SharedMemoryFrame = null_mut();
        assert_eq!(
            SharedMemoryImageStream_lock(c, &mut fr2),
            IMAGESTREAM_LOCKED
        );
        // LOCKED is checked before the NULL output pointer.
        assert_eq!(
            SharedMemoryImageStream_lock(c, null_mut()),
            IMAGESTREAM_LOCKED
        );
        assert!(fr2.is_null());
        assert_eq!(SharedMemoryImageStream_unlock(c), IMAGESTREAM_NOERROR);
        assert!(
            (*fr).buffer.is_null(),
            "unlock clears the stale pixel pointer"
        );
        assert_eq!(SharedMemoryImageStream_unlock(c), IMAGESTREAM_NOT_LOCKED);
        assert_eq!(
            SharedMemoryImageStream_lock(c, &mut fr),
            IMAGESTREAM_NO_FRAMEAVAILABLE
        );
    }
    destroy(c);
    destroy(s);
}

#[test]
fn client_reconnecting_still_returns_a_valid_handle() {
    let f = TempStreamFile::min();
    let s = server(&f);
    let (rc, c1) = client(&f);
    assert_eq!(rc, IMAGESTREAM_NOERROR);
    // A second client while the first is attached: the file carries a stream.
    let (rc, c2) = client(&f);
    assert_eq!(rc, IMAGESTREAM_RECONNECTING);
    assert!(!c2.is_null());
    assert_eq!(put(s, 1, 4, 4, &pattern(1, 4, 4)), IMAGESTREAM_NOERROR);
    assert_eq!(lock_copy(c2).0, IMAGESTREAM_NOERROR);
    assert_eq!(destroy(c2), IMAGESTREAM_NOERROR);
    assert_eq!(destroy(c1), IMAGESTREAM_NOERROR);
    // A zero-filled file no server has initialised: states are 0, so RECONNECTING too.
    let g = TempStreamFile::min();
    let (rc, c3) = client(&g);
    assert_eq!(rc, IMAGESTREAM_RECONNECTING);
    assert_eq!(destroy(c3), IMAGESTREAM_NOERROR);
    destroy(s);
}

#[test]
fn errorstring_is_static_distinct_and_never_null() {
    let mut seen = std::collections::HashSet::new();
    for code in -12..=4 {
        let p = SharedMemoryImageStream_errorstring(code);
        assert!(!p.is_null());
        // SAFETY: non-NULL, static, NUL-terminated by contract.
        let s = unsafe { CStr::from_ptr(p) }.to_str().expect("UTF-8");
        assert!(!s.is_empty());
        assert!(seen.insert(s.to_string()), "duplicate: {s}");
        assert_eq!(
            p,
            SharedMemoryImageStream_errorstring(code),
            "static storage"
        );
    }
    for unknown in [-13, 5, 1000, i32::MIN, i32::MAX] {
        let p = SharedMemoryImageStream_errorstring(unknown);
        assert!(!p.is_null());
        // SAFETY: as above.
        let s = unsafe { CStr::from_ptr(p) }.to_str().unwrap();
        assert!(!seen.contains(s));
        assert!(s.contains("unknown"));
    }
}

#[test]
fn createfile_sizes_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("made.shm");
    let cp = CString::new(p.to_str().unwrap()).unwrap();
    // SAFETY: valid C strings or NULL throughout.
    unsafe {
        assert_eq!(
            SharedMemoryImageStream_createfile(null(), 10, 10),
            IMAGESTREAM_BAD_ARGS
        );
        assert_eq!(
            SharedMemoryImageStream_createfile(cp.as_ptr(), 0, 10),
            IMAGESTREAM_BAD_ARGS
        );
        assert_eq!(
            SharedMemoryImageStream_createfile(cp.as_ptr(), 10, 0),
            IMAGESTREAM_BAD_ARGS
        );
        assert!(!p.exists());
        assert_eq!(
            SharedMemoryImageStream_createfile(cp.as_ptr(), u32::MAX, u32::MAX),
            IMAGESTREAM_FRAME_TOO_LARGE
        );
        assert_eq!(
            SharedMemoryImageStream_createfile(cp.as_ptr(), 640, 480),
            IMAGESTREAM_NOERROR
        );
        assert_eq!(std::fs::metadata(&p).unwrap().len(), MIN_FILE_SIZE);
        assert_eq!(
            SharedMemoryImageStream_createfile(cp.as_ptr(), 3840, 2160),
            IMAGESTREAM_NOERROR
        );
        let len = std::fs::metadata(&p).unwrap().len();
        assert_eq!(len, 48 + 2 * (3840 * 2160 * 3));
        // Never shrinks, and keeps the contents (nothing has the file mapped here).
        {
            let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
            write_at(&f, b"last", len - 4);
        }
        assert_eq!(
            SharedMemoryImageStream_createfile(cp.as_ptr(), 16, 16),
            IMAGESTREAM_NOERROR
        );
        assert_eq!(std::fs::metadata(&p).unwrap().len(), len);
        assert_eq!(&std::fs::read(&p).unwrap()[len as usize - 4..], b"last");
        // Space is really allocated, not sparse.
        #[cfg(unix)]
        assert!(
            std::os::unix::fs::MetadataExt::blocks(&std::fs::metadata(&p).unwrap()) * 512 >= len
        );
        let d = CString::new(dir.path().to_str().unwrap()).unwrap();
        assert_eq!(
            SharedMemoryImageStream_createfile(d.as_ptr(), 16, 16),
            IMAGESTREAM_UNABLE_TO_OPEN_FILE
        );
        let nodir = CString::new(dir.path().join("no/such/dir").to_str().unwrap()).unwrap();
        assert_eq!(
            SharedMemoryImageStream_createfile(nodir.as_ptr(), 16, 16),
            IMAGESTREAM_UNABLE_TO_OPEN_FILE
        );
    }
    // A 4K frame fits a stream on the file.
    let cpath = CString::new(p.to_str().unwrap()).unwrap();
    let (rc, s) = create(&cpath, IMAGESTREAM_OPTIONS_SERVER);
    assert_eq!(rc, IMAGESTREAM_NOERROR);
    let (_, c) = create(&cpath, 0);
    let px = vec![7u8; 3840 * 2160 * 3];
    assert_eq!(put(s, 1, 3840, 2160, &px), IMAGESTREAM_NOERROR);
    assert_eq!(put(s, 2, 3840, 2161, &px), IMAGESTREAM_FRAME_TOO_LARGE);
    destroy(c);
    destroy(s);
}
