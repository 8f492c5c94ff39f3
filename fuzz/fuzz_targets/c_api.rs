//! Fuzzes the C API with arbitrary file contents and operation sequences: a two-buffer or a
//! broadcast stream file, bytes written into it at arbitrary places (as a hostile or broken peer
//! would) before and between calls, and servers and clients created, used and destroyed in any
//! order. Every call must return a defined code, and every frame a lock hands out must be
//! readable whole and no larger than a buffer's payload.

#![no_main]

use std::ffi::CString;
use std::fs::OpenOptions;
use std::path::PathBuf;
use std::ptr::null_mut;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use shared_memory_image_client::ffi::*;

/// The largest payload a stream file of this target has (the files are small, so that runs are
/// fast): frames are at most 64x64 for broadcast files; a two-buffer file of 10 MiB holds
/// 5 MiB per buffer.
const TWO_BUFFER_PAYLOAD: usize = (10 * 1024 * 1024 - 48) / 2 / 8 * 8;

#[derive(Debug, Arbitrary)]
enum Kind {
    TwoBuffer,
    Broadcast { buffers: u8, side: u8 },
}

#[derive(Debug, Arbitrary)]
enum Op {
    CreateServer { options: u16 },
    CreateClient,
    DestroyServer,
    DestroyClient { which: u8 },
    Put { width: u8, height: u8, number: u32 },
    Begin { width: u8, height: u8 },
    End { number: u32 },
    Abort,
    Lock { which: u8 },
    LockWait { which: u8 },
    Unlock { which: u8 },
    Retain { which: u8 },
    Poke { offset: u16, bytes: Vec<u8> },
    PokeFar { offset: u32, bytes: Vec<u8> },
}

#[derive(Debug, Arbitrary)]
struct Input {
    kind: Kind,
    ops: Vec<Op>,
}

/// One stream file per fuzzing process, reused by every input.
fn path() -> &'static (PathBuf, CString) {
    static PATH: OnceLock<(PathBuf, CString)> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let p = dir.join(format!("shmimg-fuzz-{}.shm", std::process::id()));
        let c = CString::new(p.to_str().expect("UTF-8 temp path")).unwrap();
        (p, c)
    })
}

/// Checks a frame the library handed out: no larger than a payload, and readable whole.
fn check_frame(frame: SharedMemoryFrame, payload: usize) {
    assert!(!frame.is_null());
    // SAFETY: the library returned NOERROR, so `frame` points to its frame struct, valid until
    // unlock.
    let f = unsafe { &*frame };
    let len = f.iWidth as usize * f.iHeight as usize * 3;
    assert!(len > 0 && len <= payload, "frame of {len} bytes, payload {payload}");
    assert!(!f.buffer.is_null());
    // SAFETY: the library guarantees `len` readable bytes at `buffer` until unlock; reading them
    // all is the point (a pointer past the mapping would crash here).
    let sum: u64 = unsafe { std::slice::from_raw_parts(f.buffer, len) }
        .iter()
        .map(|b| u64::from(*b))
        .sum();
    std::hint::black_box(sum);
}

fn defined(code: i32) -> bool {
    (-12..=4).contains(&code)
}

fuzz_target!(|input: Input| {
    let (path, cpath) = path();
    let _ = std::fs::remove_file(path);
    let payload = match input.kind {
        Kind::TwoBuffer => {
            let f = std::fs::File::create(path).unwrap();
            f.set_len(10 * 1024 * 1024).unwrap();
            TWO_BUFFER_PAYLOAD
        }
        Kind::Broadcast { buffers, side } => {
            let side = u32::from(side % 64) + 1;
            let buffers = u32::from(buffers % 6) + 3;
            let mut s = null_mut();
            // SAFETY: a valid C string and out-pointer.
            let rc = unsafe {
                SharedMemoryImageStream_createbroadcast(cpath.as_ptr(), side, side, buffers, 0, &mut s)
            };
            assert_eq!(rc, IMAGESTREAM_NOERROR);
            // SAFETY: a handle just created.
            unsafe { SharedMemoryImageStream_destroy(s) };
            (side * side * 3) as usize
        }
    };
    let file = OpenOptions::new().read(true).write(true).open(path).unwrap();
    let len = file.metadata().unwrap().len();
    let mut server: SharedMemoryImageStream = null_mut();
    let mut clients: Vec<SharedMemoryImageStream> = Vec::new();
    let mut mappings: Vec<SharedMemoryMapping> = Vec::new();
    let pick = |clients: &Vec<SharedMemoryImageStream>, which: u8| {
        if clients.is_empty() {
            null_mut()
        } else {
            clients[which as usize % clients.len()]
        }
    };
    for op in input.ops.into_iter().take(64) {
        // SAFETY (every call below): valid C strings and out-pointers; any handle value, NULL
        // and destroyed ones included, is accepted by the API.
        unsafe {
            match op {
                Op::CreateServer { options } => {
                    let mut s = null_mut();
                    let rc = SharedMemoryImageStream_create(
                        cpath.as_ptr(),
                        u32::from(options) | IMAGESTREAM_OPTIONS_INITBUFFERHEADERS,
                        &mut s,
                    );
                    assert!(defined(rc), "create server: {rc}");
                    if rc >= 0 {
                        SharedMemoryImageStream_destroy(server);
                        server = s;
                    }
                }
                Op::CreateClient => {
                    let mut c = null_mut();
                    let rc = SharedMemoryImageStream_create(cpath.as_ptr(), 0, &mut c);
                    assert!(defined(rc), "create client: {rc}");
                    if rc >= 0 {
                        clients.push(c);
                    }
                }
                Op::DestroyServer => {
                    SharedMemoryImageStream_destroy(server);
                    server = null_mut();
                }
                Op::DestroyClient { which } => {
                    if !clients.is_empty() {
                        let i = which as usize % clients.len();
                        assert_eq!(SharedMemoryImageStream_destroy(clients.remove(i)), 0);
                    }
                }
                Op::Put { width, height, number } => {
                    let (w, h) = (u32::from(width), u32::from(height));
                    let pixels = vec![0x5Au8; (w * h * 3) as usize + 1];
                    let mut f = _SharedMemoryFrame {
                        iFrame: number,
                        iWidth: w,
                        iHeight: h,
                        buffer: pixels.as_ptr() as *mut u8,
                    };
                    let rc = SharedMemoryImageStream_putframe(server, &mut f);
                    assert!(defined(rc), "put: {rc}");
                }
                Op::Begin { width, height } => {
                    let mut f = null_mut();
                    let rc = SharedMemoryImageStream_beginframe(
                        server,
                        u32::from(width),
                        u32::from(height),
                        &mut f,
                    );
                    assert!(defined(rc), "begin: {rc}");
                    if rc == 0 {
                        let fr = &*f;
                        let n = fr.iWidth as usize * fr.iHeight as usize * 3;
                        assert!(n <= payload);
                        std::ptr::write_bytes(fr.buffer, 0xA5, n);
                    }
                }
                Op::End { number } => {
                    assert!(defined(SharedMemoryImageStream_endframe(server, number)));
                }
                Op::Abort => {
                    assert!(defined(SharedMemoryImageStream_abortframe(server)));
                }
                Op::Lock { which } => {
                    let mut f = null_mut();
                    let rc = SharedMemoryImageStream_lock(pick(&clients, which), &mut f);
                    assert!(defined(rc), "lock: {rc}");
                    if rc == 0 {
                        check_frame(f, payload);
                    }
                }
                Op::LockWait { which } => {
                    let mut f = null_mut();
                    let rc = SharedMemoryImageStream_lockwait(pick(&clients, which), &mut f, 0);
                    assert!(defined(rc), "lockwait: {rc}");
                    if rc == 0 {
                        check_frame(f, payload);
                    }
                }
                Op::Unlock { which } => {
                    assert!(defined(SharedMemoryImageStream_unlock(pick(&clients, which))));
                }
                Op::Retain { which } => {
                    let mut m = null_mut();
                    let rc = SharedMemoryImageStream_retainmapping(pick(&clients, which), &mut m);
                    assert!(defined(rc));
                    if rc == 0 {
                        mappings.push(m);
                    }
                }
                Op::Poke { offset, bytes } => {
                    poke(&file, u64::from(offset), &bytes, len);
                }
                Op::PokeFar { offset, bytes } => {
                    poke(&file, u64::from(offset) % len, &bytes, len);
                }
            }
        }
    }
    for c in clients {
        // SAFETY: handles from create.
        assert_eq!(unsafe { SharedMemoryImageStream_destroy(c) }, 0);
    }
    // SAFETY: NULL or a handle from create.
    unsafe { SharedMemoryImageStream_destroy(server) };
    for m in mappings {
        // SAFETY: handles from retainmapping.
        assert_eq!(unsafe { SharedMemoryImageStream_releasemapping(m) }, 0);
    }
});

/// Writes `bytes` into the file at `offset` (within its length), as another process would.
fn poke(file: &std::fs::File, offset: u64, bytes: &[u8], len: u64) {
    use std::os::unix::fs::FileExt;
    let n = bytes.len().min((len - offset.min(len)) as usize).min(64);
    let _ = file.write_all_at(&bytes[..n], offset);
}
