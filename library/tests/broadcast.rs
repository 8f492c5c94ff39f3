//! Broadcast streams (SPEC section 7) through the C API: creation and its argument checks,
//! readers attaching with the original call, every reader getting the newest frame, holds that
//! keep a buffer from the server, the reader limit, server restarts, one wake-up call for every
//! waiting reader, readers killed while they hold frames, and what a client or server of the
//! original protocol can do to such a file.

mod common;

use std::collections::HashSet;
use std::ffi::CString;
use std::process::{Child, Command, Stdio};
use std::ptr::null_mut;
use std::time::{Duration, Instant};

use common::*;
use shared_memory_image_client::broadcast::BroadcastStatus;
use shared_memory_image_client::ffi::*;
use shared_memory_image_client::layout::Layout;

const CHILD_ENV: &str = "SHMIMG_BROADCAST_CHILD";

/// A temporary directory with a broadcast stream path in it (the file does not exist yet).
struct Place {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl Place {
    fn new() -> Place {
        let dir = if cfg!(unix) && std::path::Path::new("/dev/shm").is_dir() {
            tempfile::tempdir_in("/dev/shm")
        } else {
            tempfile::tempdir()
        }
        .unwrap();
        let path = dir.path().join("broadcast.shm");
        Place { _dir: dir, path }
    }

    fn cpath(&self) -> CString {
        c_path(&self.path)
    }
}

/// `createbroadcast` returning (code, handle or NULL).
fn createbroadcast(
    p: &CString,
    w: u32,
    h: u32,
    buffers: u32,
    options: u32,
) -> (i32, SharedMemoryImageStream) {
    let mut s: SharedMemoryImageStream = null_mut();
    // SAFETY: a valid C string and out-pointer.
    let rc = unsafe {
        SharedMemoryImageStream_createbroadcast(p.as_ptr(), w, h, buffers, options, &mut s)
    };
    (rc, s)
}

fn broadcast_server(p: &Place, buffers: u32) -> SharedMemoryImageStream {
    let (rc, s) = createbroadcast(&p.cpath(), 64, 64, buffers, 0);
    assert_eq!(rc, IMAGESTREAM_NOERROR);
    s
}

fn reader(p: &Place) -> SharedMemoryImageStream {
    let (rc, c) = create(&p.cpath(), IMAGESTREAM_OPTIONS_NONE);
    assert_eq!(rc, IMAGESTREAM_NOERROR, "readers attach with NOERROR");
    c
}

fn lockwait(h: SharedMemoryImageStream, ms: u32) -> (i32, Option<u32>) {
    let mut fr: SharedMemoryFrame = null_mut();
    // SAFETY: valid out-pointer; any handle value is accepted.
    let rc = unsafe { SharedMemoryImageStream_lockwait(h, &mut fr, ms) };
    if rc != IMAGESTREAM_NOERROR {
        return (rc, None);
    }
    // SAFETY: on success `fr` is valid until unlock.
    let n = unsafe { (*fr).iFrame };
    assert_eq!(unlock(h), IMAGESTREAM_NOERROR);
    (rc, Some(n))
}

#[test]
fn createbroadcast_checks_its_arguments() {
    let p = Place::new();
    let cp = p.cpath();
    let mut s: SharedMemoryImageStream = std::ptr::without_provenance_mut(0x5EED);
    // SAFETY: NULL arguments are accepted and rejected; `s` is a valid out-pointer.
    unsafe {
        assert_eq!(
            SharedMemoryImageStream_createbroadcast(std::ptr::null(), 64, 64, 3, 0, &mut s),
            IMAGESTREAM_BAD_ARGS
        );
        assert_eq!(
            SharedMemoryImageStream_createbroadcast(cp.as_ptr(), 64, 64, 3, 0, null_mut()),
            IMAGESTREAM_BAD_ARGS
        );
    }
    for (w, h, n, o) in [
        (64, 64, 2, 0),
        (64, 64, 65, 0),
        (64, 64, 0, 0),
        (0, 64, 3, 0),
        (64, 0, 3, 0),
        (64, 64, 3, IMAGESTREAM_OPTIONS_SERVER),
        (64, 64, 3, 0x200),
        (64, 64, 3, 0xFFFF_FFFF),
    ] {
        let mut out = s;
        // SAFETY: as above.
        let rc =
            unsafe { SharedMemoryImageStream_createbroadcast(cp.as_ptr(), w, h, n, o, &mut out) };
        assert_eq!(rc, IMAGESTREAM_BAD_ARGS, "{w}x{h} {n} {o:#x}");
        assert_eq!(out, s, "left unchanged");
    }
    assert!(!p.path.exists(), "nothing created by bad calls");
    assert_eq!(
        createbroadcast(&cp, u32::MAX, u32::MAX, 64, 0).0,
        IMAGESTREAM_FRAME_TOO_LARGE
    );
    let (rc, s) = createbroadcast(&cp, 64, 64, 3, IMAGESTREAM_OPTIONS_FLIPVERTICAL);
    assert_eq!(rc, IMAGESTREAM_NOERROR);
    // The file is laid out for the frames, at least 10 MiB, owner-only.
    assert!(std::fs::metadata(&p.path).unwrap().len() >= 10 * 1024 * 1024);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p.path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert_eq!(destroy(s), IMAGESTREAM_NOERROR);
}

#[test]
fn roles_and_codes_are_those_of_any_server_and_client() {
    let p = Place::new();
    let s = broadcast_server(&p, 3);
    let c = reader(&p);
    let mut fr: SharedMemoryFrame = null_mut();
    // SAFETY: valid handles and out-pointers.
    unsafe {
        assert_eq!(
            SharedMemoryImageStream_lock(s, &mut fr),
            IMAGESTREAM_IS_SERVER
        );
        assert_eq!(SharedMemoryImageStream_unlock(s), IMAGESTREAM_IS_SERVER);
        assert_eq!(
            SharedMemoryImageStream_lockwait(s, &mut fr, 0),
            IMAGESTREAM_IS_SERVER
        );
        assert_eq!(
            SharedMemoryImageStream_beginframe(c, 4, 4, &mut fr),
            IMAGESTREAM_IS_NOTSERVER
        );
        assert_eq!(SharedMemoryImageStream_unlock(c), IMAGESTREAM_NOT_LOCKED);
    }
    assert_eq!(put(c, 1, 4, 4, &pattern(1, 4, 4)), IMAGESTREAM_IS_NOTSERVER);
    assert_eq!(
        put(s, 1, 65, 64, &pattern(1, 65, 64)),
        IMAGESTREAM_FRAME_TOO_LARGE
    );
    assert_eq!(put(s, 1, 0, 64, &[]), IMAGESTREAM_BAD_ARGS);
    assert_eq!(lock_copy(c).0, IMAGESTREAM_NO_FRAMEAVAILABLE);
    assert_eq!(destroy(c), IMAGESTREAM_NOERROR);
    // No reader attached: UNCONNECTED, nothing published.
    assert_eq!(put(s, 2, 4, 4, &pattern(2, 4, 4)), IMAGESTREAM_UNCONNECTED);
    assert_eq!(destroy(s), IMAGESTREAM_NOERROR);
    // A reader attaches with NOERROR even with no server alive.
    let c = reader(&p);
    assert_eq!(lock_copy(c).0, IMAGESTREAM_NO_FRAMEAVAILABLE);
    destroy(c);
}

#[test]
fn every_reader_gets_the_newest_frame_and_never_an_older_one() {
    let p = Place::new();
    let s = broadcast_server(&p, 4);
    let readers: Vec<_> = (0..3).map(|_| reader(&p)).collect();
    assert_eq!(
        put(s, 10, 64, 64, &pattern(10, 64, 64)),
        IMAGESTREAM_NOERROR
    );
    // All three hold frame 10 at once, zero copy, every byte right.
    let held: Vec<_> = readers.iter().map(|&c| lock_keep(c)).collect();
    for (rc, fr) in &held {
        assert_eq!(*rc, IMAGESTREAM_NOERROR);
        // SAFETY: valid until unlock.
        let (n, px) = unsafe {
            (
                (**fr).iFrame,
                std::slice::from_raw_parts((**fr).buffer, 64 * 64 * 3).to_vec(),
            )
        };
        assert_eq!((n, px), (10, pattern(10, 64, 64)));
    }
    for &c in &readers {
        assert_eq!(unlock(c), IMAGESTREAM_NOERROR);
        // Already had it: nothing new.
        assert_eq!(lock_copy(c).0, IMAGESTREAM_NO_FRAMEAVAILABLE);
    }
    // Several frames while nobody looks: a reader gets only the newest.
    for n in 11..=13 {
        assert_eq!(put(s, n, 8, 8, &pattern(n, 8, 8)), IMAGESTREAM_NOERROR);
    }
    for &c in &readers {
        let got = lock_copy(c).1.unwrap();
        assert_eq!((got.frame_number, got.pixels), (13, pattern(13, 8, 8)));
    }
    // A reader that attaches later gets the newest frame there is.
    let late = reader(&p);
    assert_eq!(lock_copy(late).1.unwrap().frame_number, 13);
    for c in readers.into_iter().chain([late]) {
        assert_eq!(destroy(c), IMAGESTREAM_NOERROR);
    }
    destroy(s);
}

#[test]
fn flipvertical_stores_rows_bottom_up() {
    let p = Place::new();
    let (rc, s) = createbroadcast(&p.cpath(), 4, 3, 3, IMAGESTREAM_OPTIONS_FLIPVERTICAL);
    assert_eq!(rc, IMAGESTREAM_NOERROR);
    let c = reader(&p);
    let rows: Vec<u8> = (0..3u8).flat_map(|r| [r; 12]).collect();
    assert_eq!(put(s, 1, 4, 3, &rows), IMAGESTREAM_NOERROR);
    let got = lock_copy(c).1.unwrap().pixels;
    let want: Vec<u8> = (0..3u8).rev().flat_map(|r| [r; 12]).collect();
    assert_eq!(got, want);
    destroy(c);
    destroy(s);
}

#[test]
fn held_buffers_are_never_overwritten_and_a_full_stream_drops_frames() {
    let p = Place::new();
    let s = broadcast_server(&p, 3);
    let a = reader(&p);
    let b = reader(&p);
    assert_eq!(put(s, 1, 16, 16, &pattern(1, 16, 16)), IMAGESTREAM_NOERROR);
    let (rc, fa) = lock_keep(a);
    assert_eq!(rc, IMAGESTREAM_NOERROR);
    assert_eq!(put(s, 2, 16, 16, &pattern(2, 16, 16)), IMAGESTREAM_NOERROR);
    let (rc, fb) = lock_keep(b);
    assert_eq!(rc, IMAGESTREAM_NOERROR);
    // Frame 3 goes to the third buffer; then every buffer but the newest frame's is held.
    assert_eq!(put(s, 3, 16, 16, &pattern(3, 16, 16)), IMAGESTREAM_NOERROR);
    for n in 4..10 {
        assert_eq!(
            put(s, n, 16, 16, &pattern(n, 16, 16)),
            IMAGESTREAM_NO_BUFFERAVAILABLE,
            "frame {n}"
        );
        let mut w: SharedMemoryFrame = null_mut();
        // SAFETY: valid handle and out-pointer.
        assert_eq!(
            unsafe { SharedMemoryImageStream_beginframe(s, 16, 16, &mut w) },
            IMAGESTREAM_NO_BUFFERAVAILABLE
        );
    }
    // The held frames are intact.
    // SAFETY: both frames are valid until unlock.
    unsafe {
        assert_eq!(
            std::slice::from_raw_parts((*fa).buffer, 768),
            &pattern(1, 16, 16)[..]
        );
        assert_eq!(
            std::slice::from_raw_parts((*fb).buffer, 768),
            &pattern(2, 16, 16)[..]
        );
    }
    // Once one is given back, frames flow again.
    assert_eq!(unlock(a), IMAGESTREAM_NOERROR);
    assert_eq!(
        put(s, 10, 16, 16, &pattern(10, 16, 16)),
        IMAGESTREAM_NOERROR
    );
    assert_eq!(lock_copy(a).1.unwrap().frame_number, 10);
    assert_eq!(unlock(b), IMAGESTREAM_NOERROR);
    assert_eq!(lock_copy(b).1.unwrap().frame_number, 10);
    destroy(a);
    destroy(b);
    destroy(s);
}

#[test]
fn beginframe_endframe_and_abortframe_work_in_place() {
    let p = Place::new();
    let s = broadcast_server(&p, 3);
    let c = reader(&p);
    let mut w: SharedMemoryFrame = null_mut();
    // SAFETY: valid handle and out-pointer; the frame's buffer holds 8*8*3 writable bytes
    // until endframe or abortframe.
    unsafe {
        assert_eq!(
            SharedMemoryImageStream_beginframe(s, 8, 8, &mut w),
            IMAGESTREAM_NOERROR
        );
        std::ptr::write_bytes((*w).buffer, 0x11, 192);
        assert_eq!(SharedMemoryImageStream_abortframe(s), IMAGESTREAM_NOERROR);
        assert_eq!(lock_copy(c).0, IMAGESTREAM_NO_FRAMEAVAILABLE);
        assert_eq!(
            SharedMemoryImageStream_beginframe(s, 8, 8, &mut w),
            IMAGESTREAM_NOERROR
        );
        assert_eq!(put(s, 9, 8, 8, &pattern(9, 8, 8)), IMAGESTREAM_LOCKED);
        std::ptr::write_bytes((*w).buffer, 0x22, 192);
        assert_eq!(SharedMemoryImageStream_endframe(s, 5), IMAGESTREAM_NOERROR);
        assert_eq!(
            SharedMemoryImageStream_endframe(s, 5),
            IMAGESTREAM_NOT_LOCKED
        );
    }
    let got = lock_copy(c).1.unwrap();
    assert_eq!((got.frame_number, got.pixels), (5, vec![0x22; 192]));
    destroy(c);
    destroy(s);
}

#[test]
fn the_reader_limit_is_64_with_a_clear_code() {
    let p = Place::new();
    let s = broadcast_server(&p, 3);
    let readers: Vec<_> = (0..64).map(|_| reader(&p)).collect();
    let (rc, c) = create(&p.cpath(), IMAGESTREAM_OPTIONS_NONE);
    assert_eq!((rc, c), (IMAGESTREAM_TOO_MANY_READERS, null_mut()));
    // SAFETY: errorstring returns a static string.
    let msg = unsafe { std::ffi::CStr::from_ptr(SharedMemoryImageStream_errorstring(rc)) };
    assert!(msg.to_str().unwrap().contains("64"), "{msg:?}");
    // Every reader gets the frame.
    assert_eq!(put(s, 1, 4, 4, &pattern(1, 4, 4)), IMAGESTREAM_NOERROR);
    for &c in &readers {
        assert_eq!(lock_copy(c).1.unwrap().frame_number, 1);
    }
    // A slot given back is taken again.
    assert_eq!(destroy(readers[17]), IMAGESTREAM_NOERROR);
    let again = reader(&p);
    for (i, c) in readers.into_iter().enumerate() {
        if i != 17 {
            destroy(c);
        }
    }
    destroy(again);
    destroy(s);
}

#[test]
fn a_restarted_server_serves_the_readers_still_attached() {
    let p = Place::new();
    let s = broadcast_server(&p, 3);
    let c = reader(&p);
    assert_eq!(put(s, 1, 8, 8, &pattern(1, 8, 8)), IMAGESTREAM_NOERROR);
    assert_eq!(lock_copy(c).1.unwrap().frame_number, 1);
    // A second live server is refused.
    assert_eq!(
        createbroadcast(&p.cpath(), 64, 64, 3, 0).0,
        IMAGESTREAM_IS_SERVER
    );
    assert_eq!(
        create(&p.cpath(), IMAGESTREAM_OPTIONS_SERVER).0,
        IMAGESTREAM_IS_SERVER
    );
    // Begun and never finished: the next server frees that buffer.
    let mut w: SharedMemoryFrame = null_mut();
    // SAFETY: valid handle and out-pointer.
    assert_eq!(
        unsafe { SharedMemoryImageStream_beginframe(s, 8, 8, &mut w) },
        IMAGESTREAM_NOERROR
    );
    assert_eq!(destroy(s), IMAGESTREAM_NOERROR);
    let s = broadcast_server(&p, 3);
    assert_eq!(put(s, 2, 8, 8, &pattern(2, 8, 8)), IMAGESTREAM_NOERROR);
    assert_eq!(lock_copy(c).1.unwrap().frame_number, 2);
    destroy(s);
    // A server created with the original call resumes the broadcast stream too.
    let (rc, s) = create(&p.cpath(), IMAGESTREAM_OPTIONS_SERVER);
    assert_eq!(rc, IMAGESTREAM_NOERROR);
    assert_eq!(put(s, 3, 8, 8, &pattern(3, 8, 8)), IMAGESTREAM_NOERROR);
    assert_eq!(lock_copy(c).1.unwrap().frame_number, 3);
    destroy(s);
    // A new geometry lays the file out anew: the old readers are told.
    let (rc, s) = createbroadcast(&p.cpath(), 64, 64, 5, 0);
    assert_eq!(rc, IMAGESTREAM_NOERROR);
    assert_eq!(lock_copy(c).0, IMAGESTREAM_BAD_FILE_SIZE);
    destroy(c);
    let c = reader(&p);
    assert_eq!(put(s, 4, 8, 8, &pattern(4, 8, 8)), IMAGESTREAM_NOERROR);
    assert_eq!(lock_copy(c).1.unwrap().frame_number, 4);
    destroy(c);
    destroy(s);
}

#[test]
fn a_second_server_leaves_the_file_as_it_was() {
    let p = Place::new();
    let s = broadcast_server(&p, 3);
    let len = std::fs::metadata(&p.path).unwrap().len();
    let before = std::fs::read(&p.path).unwrap();
    // A larger geometry would grow the file: refused before anything changes.
    assert_eq!(
        createbroadcast(&p.cpath(), 1920, 1080, 8, 0).0,
        IMAGESTREAM_IS_SERVER
    );
    assert_eq!(std::fs::metadata(&p.path).unwrap().len(), len);
    assert!(std::fs::read(&p.path).unwrap() == before);
    destroy(s);
}

#[test]
fn readers_of_an_old_layout_never_touch_the_frames_of_a_new_one() {
    let p = Place::new();
    // Reader slot 0 attached under 64 buffers, whose last headers lay where a 3-buffer layout
    // used to put its first payload.
    let s = broadcast_server(&p, 64);
    let old = reader(&p);
    assert_eq!(put(s, 1, 8, 8, &pattern(1, 8, 8)), IMAGESTREAM_NOERROR);
    assert_eq!(lock_copy(old).1.unwrap().frame_number, 1);
    destroy(s);
    let s = broadcast_server(&p, 3);
    let new = reader(&p);
    let white = vec![0xFF; 64 * 64 * 3];
    for n in 1..=3 {
        assert_eq!(put(s, n, 64, 64, &white), IMAGESTREAM_NOERROR);
    }
    // The old reader is told, and detaching gives back what it held in its layout.
    assert_eq!(lock_copy(old).0, IMAGESTREAM_BAD_FILE_SIZE);
    destroy(old);
    let len = std::fs::metadata(&p.path).unwrap().len();
    let layout = shared_memory_image_client::BroadcastLayout::for_frames(64, 64, 3)
        .unwrap()
        .for_file_len(len)
        .unwrap();
    let bytes = std::fs::read(&p.path).unwrap();
    for b in 0..3 {
        let at = layout.payload_offset(b);
        assert!(
            bytes[at..at + white.len()].iter().all(|&v| v == 0xFF),
            "payload {b} changed"
        );
    }
    assert_eq!(lock_copy(new).1.unwrap().pixels, white);
    destroy(new);
    destroy(s);
}

#[test]
fn a_frame_held_when_the_file_is_laid_out_anew_is_kept_until_given_back() {
    let p = Place::new();
    let s = broadcast_server(&p, 3);
    let c = reader(&p);
    let first = pattern(1, 64, 64);
    assert_eq!(put(s, 1, 64, 64, &first), IMAGESTREAM_NOERROR);
    let (rc, fr) = lock_keep(c);
    assert_eq!(rc, IMAGESTREAM_NOERROR);
    // SAFETY: the frame is locked; its buffer holds 64 * 64 * 3 bytes until unlock.
    let held = unsafe { std::slice::from_raw_parts((*fr).buffer, first.len()) };
    destroy(s);
    // Another geometry, with a reader of its own, rendering black as fast as it can.
    let path = p.cpath();
    let renderer = std::thread::spawn(move || {
        let (rc, s) = createbroadcast(&path, 64, 64, 5, 0);
        assert_eq!(rc, IMAGESTREAM_NOERROR);
        let (rc, c) = create(&path, IMAGESTREAM_OPTIONS_NONE);
        assert_eq!(rc, IMAGESTREAM_NOERROR);
        let black = vec![0; 64 * 64 * 3];
        for n in 1..=200 {
            assert_eq!(put(s, n, 64, 64, &black), IMAGESTREAM_NOERROR);
            assert_eq!(lock_copy(c).1.unwrap().frame_number, n);
        }
        destroy(c);
        destroy(s);
    });
    // The held frame stays intact while held (the new server waits up to a second for it).
    for _ in 0..20 {
        assert!(held == first.as_slice(), "a held frame was overwritten");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(unlock(c), IMAGESTREAM_NOERROR);
    renderer.join().unwrap();
    assert_eq!(lock_copy(c).0, IMAGESTREAM_BAD_FILE_SIZE);
    destroy(c);
}

#[test]
fn a_wait_that_outlives_its_reader_keeps_the_reader_slot() {
    use shared_memory_image_client::{Client, Server, ServerOptions};
    let p = Place::new();
    let _server = Server::create_broadcast(&p.path, 64, 64, 3, ServerOptions::default()).unwrap();
    let mut first = Client::attach(&p.path).unwrap();
    let slot = first.reader_slot().unwrap();
    let signal = first.lock_frame_or_signal().unwrap().unwrap_err();
    drop(first);
    // The signal may still clear its waiting bit: nobody else gets the slot meanwhile.
    let second = Client::attach(&p.path).unwrap();
    assert_ne!(second.reader_slot(), Some(slot));
    drop(signal);
    let third = Client::attach(&p.path).unwrap();
    assert_eq!(third.reader_slot(), Some(slot));
}

#[test]
fn a_sequence_number_at_its_limit_is_a_bad_file_not_a_wrap() {
    use shared_memory_image_client::broadcast::layout::control;
    let p = Place::new();
    let s = broadcast_server(&p, 3);
    let c = reader(&p);
    let mut w: SharedMemoryFrame = null_mut();
    // SAFETY: valid handle and out-pointer.
    assert_eq!(
        unsafe { SharedMemoryImageStream_beginframe(s, 8, 8, &mut w) },
        IMAGESTREAM_NOERROR
    );
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&p.path)
        .unwrap();
    write_at(&f, &u64::MAX.to_ne_bytes(), control::NEXT_SEQ as u64);
    // SAFETY: valid handle.
    assert_eq!(
        unsafe { SharedMemoryImageStream_endframe(s, 1) },
        IMAGESTREAM_BAD_FILE_SIZE
    );
    // SAFETY: `w` is the stream's frame struct, valid until destroy.
    assert!(unsafe { (*w).buffer }.is_null());
    assert_eq!(
        put(s, 2, 8, 8, &pattern(2, 8, 8)),
        IMAGESTREAM_BAD_FILE_SIZE
    );
    assert_eq!(lock_copy(c).0, IMAGESTREAM_NO_FRAMEAVAILABLE);
    destroy(c);
    destroy(s);
}

#[test]
fn one_wake_up_call_wakes_every_waiting_reader_and_none_is_made_for_nobody() {
    use shared_memory_image_client::{Client, PutOutcome, Server, ServerOptions};
    let p = Place::new();
    let mut server = Server::create_broadcast(&p.path, 8, 8, 4, ServerOptions::default()).unwrap();
    let pixels = vec![1u8; 8 * 8 * 3];
    // Readers that poll, never wait: no wake-up calls at all.
    let mut pollers: Vec<Client> = (0..3).map(|_| Client::attach(&p.path).unwrap()).collect();
    for n in 0..200 {
        assert_eq!(
            server.put_frame(n, 8, 8, &pixels).unwrap(),
            PutOutcome::Delivered
        );
        for c in &mut pollers {
            assert_eq!(c.lock().unwrap().unwrap().frame_number(), n);
        }
    }
    assert_eq!(server.wake_stats().calls, 0);
    drop(pollers);
    // Four readers asleep in lockwait; one frame wakes them all with one call.
    let status = || BroadcastStatus::read(&p.path).unwrap().unwrap();
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let path = p.path.clone();
            std::thread::spawn(move || {
                let mut c = Client::attach(&path).unwrap();
                // A new reader gets the newest frame there is first; then it waits.
                assert_eq!(c.lock().unwrap().map(|f| f.frame_number()), Some(199));
                let f = c
                    .lock_timeout(Duration::from_secs(20))
                    .unwrap()
                    .map(|f| f.frame_number());
                f
            })
        })
        .collect();
    let t = Instant::now();
    while status().waiting.count_ones() < 4 {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "readers never all waited"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let before = server.wake_stats();
    assert_eq!(
        server.put_frame(500, 8, 8, &pixels).unwrap(),
        PutOutcome::Delivered
    );
    let after = server.wake_stats();
    assert_eq!(after.calls - before.calls, 1, "one call for all");
    for w in waiters {
        assert_eq!(w.join().unwrap(), Some(500));
    }
}

/// Runs this test binary's ignored test `name` as a child process (a reader to be killed).
fn spawn_child(name: &str, path: &std::path::Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            name,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits until a child prints `line`.
fn wait_for_line(child: &mut Child, line: &str) {
    use std::io::BufRead;
    let out = child.stdout.as_mut().unwrap();
    let mut reader = std::io::BufReader::new(out);
    let mut buf = String::new();
    loop {
        buf.clear();
        assert!(
            reader.read_line(&mut buf).unwrap() > 0,
            "the child ended before `{line}`"
        );
        // The test harness prints "test NAME ... " before the child's own output.
        if buf.trim_end().ends_with(line) {
            return;
        }
    }
}

#[test]
#[ignore = "a reader process of readers_killed_while_holding_frames_are_given_back"]
fn child_reader_holding_a_frame() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let cp = c_path(std::path::Path::new(&path));
    let (rc, c) = create(&cp, IMAGESTREAM_OPTIONS_NONE);
    assert_eq!(rc, IMAGESTREAM_NOERROR);
    let mut fr: SharedMemoryFrame = null_mut();
    // SAFETY: valid handle and out-pointer.
    let rc = unsafe { SharedMemoryImageStream_lockwait(c, &mut fr, 20_000) };
    assert_eq!(rc, IMAGESTREAM_NOERROR);
    println!("holding");
    // Hold the frame until killed; then wait in lockwait forever.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(unlock(c), IMAGESTREAM_NOERROR);
    loop {
        let _ = lockwait(c, 60_000);
    }
}

#[test]
fn readers_killed_while_holding_frames_are_given_back() {
    let p = Place::new();
    let s = broadcast_server(&p, 3);
    let live = reader(&p);
    let status = || BroadcastStatus::read(&p.path).unwrap().unwrap();
    let mut slots_seen = HashSet::new();
    for round in 0..6u32 {
        // Two readers in other processes take the newest frame and hold it; then they are
        // killed, without a chance to give anything back.
        let mut kids: Vec<Child> = (0..2)
            .map(|_| spawn_child("child_reader_holding_a_frame", &p.path))
            .collect();
        let t = Instant::now();
        while status().readers.len() < 3 {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "readers never attached"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        let n = 100 + round;
        assert_eq!(put(s, n, 8, 8, &pattern(n, 8, 8)), IMAGESTREAM_NOERROR);
        for k in &mut kids {
            wait_for_line(k, "holding");
        }
        for k in &mut kids {
            k.kill().unwrap();
            k.wait().unwrap();
        }
        let killed = Instant::now();
        let st = status();
        for r in &st.readers {
            slots_seen.insert(r.slot);
        }
        assert_eq!(st.readers.iter().filter(|r| !r.alive).count(), 2, "{st:?}");
        // The server keeps delivering (the live reader takes every frame) and gives back what
        // the dead held within a second.
        let mut m = 1000 * (round + 1);
        loop {
            assert_ne!(
                put(s, m, 8, 8, &pattern(m, 8, 8)),
                IMAGESTREAM_UNCONNECTED,
                "the live reader is attached"
            );
            if let Some(got) = lock_copy(live).1 {
                assert_eq!(got.pixels, pattern(got.frame_number, 8, 8));
            }
            m += 1;
            let st = status();
            if st.readers.len() == 1
                && st
                    .buffers
                    .iter()
                    .all(|b| b.holders & !(1 << st.readers[0].slot) == 0)
            {
                break;
            }
            assert!(
                killed.elapsed() < Duration::from_secs(1),
                "round {round}: dead readers' holds still there after {:?}: {st:?}",
                killed.elapsed()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        println!(
            "round {round}: holds given back {:?} after the kill",
            killed.elapsed()
        );
    }
    assert!(slots_seen.len() >= 3);
    // New readers attach in the freed slots.
    let fresh = reader(&p);
    destroy(fresh);
    destroy(live);
    destroy(s);
}

/// The bytes of the file, read as an independent peer would.
fn file_bytes(p: &Place) -> Vec<u8> {
    std::fs::read(&p.path).unwrap()
}

#[test]
fn a_client_of_the_original_protocol_sees_no_frames_and_writes_nothing() {
    original_client_sees_decoys(false);
}

#[test]
fn in_a_longer_file_the_decoys_move_with_its_length() {
    original_client_sees_decoys(true);
}

fn original_client_sees_decoys(longer_file: bool) {
    let p = Place::new();
    if longer_file {
        // An existing file larger than the layout needs (and of an odd length): it keeps it.
        std::fs::File::create(&p.path)
            .unwrap()
            .set_len(31 * 1024 * 1024 + 13)
            .unwrap();
    }
    let s = broadcast_server(&p, 4);
    if longer_file {
        assert_eq!(
            std::fs::metadata(&p.path).unwrap().len(),
            31 * 1024 * 1024 + 13
        );
    }
    let c = reader(&p);
    assert_eq!(put(s, 1, 64, 64, &pattern(1, 64, 64)), IMAGESTREAM_NOERROR);
    let before = file_bytes(&p);
    // The original client's view: two headers at 0 and 24 + P, by the file's length.
    let l = Layout::for_file_len(before.len() as u64).unwrap();
    let states = [before[20], before[l.header_offset(1) + 20]];
    assert_eq!(states, [1, 1], "both decoy states are SERVER_LOCKED");
    // What it does (SPEC section 4), as compare-and-swaps on those bytes: attach (4, 2 or 3 to
    // 0), lock (4 to 0; take a 2), detach (0 or 2 to 4). None applies to state 1.
    for state in states {
        for (from, _to) in [(4, 0), (2, 0), (3, 0), (2, 3), (0, 4)] {
            assert_ne!(state, from);
        }
    }
    // So it changes nothing, and our readers and server go on.
    assert_eq!(file_bytes(&p), before);
    assert_eq!(lock_copy(c).1.unwrap().frame_number, 1);
    destroy(c);
    destroy(s);
}

#[test]
fn a_server_of_the_original_protocol_cannot_make_this_library_misbehave() {
    let p = Place::new();
    let s = broadcast_server(&p, 4);
    let c = reader(&p);
    assert_eq!(put(s, 1, 64, 64, &pattern(1, 64, 64)), IMAGESTREAM_NOERROR);
    // An original server's create on this file: zero both headers, states INIT; then a frame
    // into "buffer 0": a header and pixels written over the control block, reader slots and
    // buffer headers.
    let len = std::fs::metadata(&p.path).unwrap().len();
    let l = Layout::for_file_len(len).unwrap();
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&p.path)
        .unwrap();
    let mut h = [0u8; 24];
    h[20] = 4;
    write_at(&f, &h, 0);
    write_at(&f, &h, l.header_offset(1) as u64);
    let junk: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    write_at(&f, &junk, l.pixels_offset(0) as u64);
    // Our reader and server never crash and never hand out a frame past a payload: every call
    // returns a defined code (the layout's epoch was overwritten, so BAD_FILE_SIZE).
    for _ in 0..10 {
        let (rc, got) = lock_copy(c);
        assert!(
            [
                IMAGESTREAM_BAD_FILE_SIZE,
                IMAGESTREAM_NO_FRAMEAVAILABLE,
                IMAGESTREAM_NOERROR
            ]
            .contains(&rc),
            "{rc}"
        );
        if let Some(g) = got {
            assert!(g.pixels.len() <= 64 * 64 * 3);
        }
        let rc = put(s, 2, 64, 64, &pattern(2, 64, 64));
        assert!(rc == IMAGESTREAM_BAD_FILE_SIZE || rc >= 0, "{rc}");
    }
    assert_eq!(lock_copy(c).0, IMAGESTREAM_BAD_FILE_SIZE);
    destroy(c);
    destroy(s);
    // A reader attaching now sees a two-buffer file with no frame.
    let (rc, c) = create(&p.cpath(), IMAGESTREAM_OPTIONS_NONE);
    assert!(rc >= 0, "{rc}");
    destroy(c);
}

#[test]
fn random_writes_into_a_broadcast_file_never_give_a_frame_past_a_payload() {
    use shared_memory_image_client::broadcast::layout::{
        buffer, BUFFER_HEADERS_OFFSET, MAX_BUFFERS,
    };
    const HEADERS_END: u64 = (BUFFER_HEADERS_OFFSET + MAX_BUFFERS as usize * buffer::SIZE) as u64;
    let p = Place::new();
    let s = broadcast_server(&p, 3);
    let readers: Vec<_> = (0..3).map(|_| reader(&p)).collect();
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&p.path)
        .unwrap();
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for step in 0..3000u32 {
        // A random word into the control block, reader slots or buffer headers.
        let at = 64 + next() % (HEADERS_END - 64);
        let v = next().to_ne_bytes();
        write_at(&f, &v[..(1 + next() % 8) as usize], at);
        let n = step;
        let rc = put(s, n, 16, 16, &pattern(n, 16, 16));
        assert!(rc >= 0 || rc == IMAGESTREAM_BAD_FILE_SIZE, "put: {rc}");
        for &c in &readers {
            let (rc, got) = lock_copy(c);
            assert!(rc >= 0 || rc == IMAGESTREAM_BAD_FILE_SIZE, "lock: {rc}");
            if let Some(g) = got {
                assert!(g.width as usize * g.height as usize * 3 <= 64 * 64 * 3);
            }
        }
    }
    for c in readers {
        destroy(c);
    }
    destroy(s);
}
