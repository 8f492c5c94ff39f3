//! The extensions of SPEC section 5 through the C API: lockwait (timeouts, wake-ups, servers
//! that wake nobody, error cases) and beginframe/endframe (zero-copy writes, error cases).

mod common;

use std::ptr::null_mut;
use std::time::{Duration, Instant};

use common::*;
use shared_memory_image_client::ffi::*;

fn lockwait(h: SharedMemoryImageStream, ms: u32) -> (i32, Option<(u32, Vec<u8>)>) {
    let mut fr: SharedMemoryFrame = null_mut();
    // SAFETY: valid out-pointer; on success the frame is valid until unlock below.
    let rc = unsafe { SharedMemoryImageStream_lockwait(h, &mut fr, ms) };
    if rc != IMAGESTREAM_NOERROR {
        return (rc, None);
    }
    // SAFETY: as above.
    let got = unsafe {
        let f = &*fr;
        (
            f.iFrame,
            std::slice::from_raw_parts(f.buffer, (f.iWidth * f.iHeight * 3) as usize).to_vec(),
        )
    };
    assert_eq!(unlock(h), IMAGESTREAM_NOERROR);
    (rc, Some(got))
}

#[test]
fn lockwait_times_out_with_no_frame_available() {
    let f = TempStreamFile::min();
    let s = server(&f);
    let (_, c) = client(&f);
    for ms in [0u32, 1, 30] {
        let t = Instant::now();
        assert_eq!(lockwait(c, ms).0, IMAGESTREAM_NO_FRAMEAVAILABLE);
        assert!(
            t.elapsed() >= Duration::from_millis(ms.into()),
            "returned before the timeout"
        );
    }
    // The waiter count is back to zero afterwards.
    assert_eq!(f.raw_header(0).pad, [0, 0, 0]);
    assert_eq!(f.raw_header(1).pad, [0, 0, 0]);
    destroy(c);
    destroy(s);
}

#[test]
fn lockwait_returns_a_frame_already_there_and_keeps_lock_order_of_errors() {
    let f = TempStreamFile::min();
    let s = server(&f);
    let (_, c) = client(&f);
    assert_eq!(put(s, 3, 2, 2, &pattern(3, 2, 2)), IMAGESTREAM_NOERROR);
    assert_eq!(lockwait(c, 0).1.unwrap(), (3, pattern(3, 2, 2)));
    let mut fr: SharedMemoryFrame = null_mut();
    // SAFETY: valid handles and out-pointers.
    unsafe {
        assert_eq!(
            SharedMemoryImageStream_lockwait(s, &mut fr, 10),
            IMAGESTREAM_IS_SERVER
        );
        assert_eq!(
            SharedMemoryImageStream_lockwait(c, null_mut(), 10),
            IMAGESTREAM_BAD_ARGS
        );
        assert_eq!(
            SharedMemoryImageStream_lockwait(null_mut(), &mut fr, 10),
            IMAGESTREAM_BAD_ARGS
        );
        assert_eq!(put(s, 4, 2, 2, &pattern(4, 2, 2)), IMAGESTREAM_NOERROR);
        assert_eq!(
            SharedMemoryImageStream_lockwait(c, &mut fr, 10),
            IMAGESTREAM_NOERROR
        );
        assert_eq!(
            SharedMemoryImageStream_lockwait(c, &mut fr, 10),
            IMAGESTREAM_LOCKED
        );
        assert_eq!(SharedMemoryImageStream_unlock(c), IMAGESTREAM_NOERROR);
    }
    destroy(c);
    destroy(s);
}

#[test]
fn lockwait_is_woken_by_a_frame_from_another_thread() {
    let f = TempStreamFile::min();
    let s = H(server(&f).addr());
    let c = H(client(&f).1.addr());
    for round in 0..20u32 {
        let got = std::thread::scope(|sc| {
            let waiter = sc.spawn(move || lockwait(c.get(), 10_000));
            std::thread::sleep(Duration::from_millis(5));
            assert_eq!(
                put(s.get(), round, 4, 4, &pattern(round, 4, 4)),
                IMAGESTREAM_NOERROR
            );
            waiter.join().unwrap()
        });
        assert_eq!(got.0, IMAGESTREAM_NOERROR);
        assert_eq!(got.1.unwrap(), (round, pattern(round, 4, 4)));
    }
    destroy(c.get());
    destroy(s.get());
}

#[test]
fn lockwait_sees_frames_from_a_server_that_wakes_nobody() {
    // A foreign server: header and state written raw, no futex wake.
    let f = TempStreamFile::min();
    let s = server(&f);
    let c = H(client(&f).1.addr());
    let f = &f;
    let got = std::thread::scope(|sc| {
        let waiter = sc.spawn(move || {
            let t = Instant::now();
            (lockwait(c.get(), 20_000), t.elapsed())
        });
        std::thread::sleep(Duration::from_millis(20));
        f.write_raw_header(1, &frame_header(77, 1, 1, 2));
        waiter.join().unwrap()
    });
    let ((rc, frame), waited) = got;
    assert_eq!(rc, IMAGESTREAM_NOERROR);
    assert_eq!(frame.unwrap().0, 77);
    assert!(
        waited < Duration::from_secs(10),
        "noticed by polling, not by the 20 s timeout"
    );
    destroy(c.get());
    destroy(s);
}

#[test]
fn lockwait_ends_when_another_thread_destroys_the_handle() {
    let f = TempStreamFile::min();
    let s = server(&f);
    let c = H(client(&f).1.addr());
    let rc = std::thread::scope(|sc| {
        let waiter = sc.spawn(move || lockwait(c.get(), 30_000).0);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(destroy(c.get()), IMAGESTREAM_NOERROR);
        waiter.join().unwrap()
    });
    assert_eq!(rc, IMAGESTREAM_BAD_ARGS);
    destroy(s);
}

fn begin(h: SharedMemoryImageStream, w: u32, hh: u32) -> (i32, SharedMemoryFrame) {
    let mut fr: SharedMemoryFrame = null_mut();
    // SAFETY: valid out-pointer.
    let rc = unsafe { SharedMemoryImageStream_beginframe(h, w, hh, &mut fr) };
    (rc, fr)
}

fn end(h: SharedMemoryImageStream, n: u32) -> i32 {
    // SAFETY: any handle value is accepted.
    unsafe { SharedMemoryImageStream_endframe(h, n) }
}

#[test]
fn beginframe_writes_straight_into_shared_memory() {
    let f = TempStreamFile::min();
    let s = server(&f);
    let (_, c) = client(&f);
    let (rc, fr) = begin(s, 3, 2);
    assert_eq!(rc, IMAGESTREAM_NOERROR);
    assert!(
        f.raw_states().contains(&1),
        "the buffer is SERVER_LOCKED while begun"
    );
    let px = pattern(9, 3, 2);
    // SAFETY: the begun frame's buffer holds 3*2*3 writable bytes until endframe.
    unsafe {
        assert_eq!(((*fr).iWidth, (*fr).iHeight), (3, 2));
        std::ptr::copy_nonoverlapping(px.as_ptr(), (*fr).buffer, px.len());
    }
    // The bytes are in the file before publishing: no copy is made.
    let b = if f.raw_states()[0] == 1 { 0 } else { 1 };
    assert_eq!(f.raw_pixels(b, px.len()), px);
    assert_eq!(end(s, 9), IMAGESTREAM_NOERROR);
    assert_eq!(f.raw_header(b).frame_number, 9);
    assert_eq!(f.raw_header(b).num_scanlines, 2);
    assert_eq!(lock_copy(c).1.unwrap().pixels, px);
    destroy(c);
    destroy(s);
}

#[test]
fn beginframe_and_endframe_error_cases() {
    let f = TempStreamFile::min();
    let s = server(&f);
    assert_eq!(begin(s, 4, 4).0, IMAGESTREAM_UNCONNECTED);
    assert_eq!(f.raw_states(), [4, 4], "nothing changes without a client");
    let (_, c) = client(&f);
    assert_eq!(begin(c, 4, 4).0, IMAGESTREAM_IS_NOTSERVER);
    assert_eq!(end(c, 1), IMAGESTREAM_IS_NOTSERVER);
    assert_eq!(begin(null_mut(), 4, 4).0, IMAGESTREAM_BAD_ARGS);
    assert_eq!(end(null_mut(), 1), IMAGESTREAM_BAD_ARGS);
    // SAFETY: NULL out-pointer must be rejected.
    assert_eq!(
        unsafe { SharedMemoryImageStream_beginframe(s, 4, 4, null_mut()) },
        IMAGESTREAM_BAD_ARGS
    );
    assert_eq!(begin(s, 0, 4).0, IMAGESTREAM_BAD_ARGS);
    assert_eq!(begin(s, 4, 0).0, IMAGESTREAM_BAD_ARGS);
    assert_eq!(begin(s, u32::MAX, u32::MAX).0, IMAGESTREAM_FRAME_TOO_LARGE);
    assert_eq!(end(s, 1), IMAGESTREAM_NOT_LOCKED);

    assert_eq!(begin(s, 4, 4).0, IMAGESTREAM_NOERROR);
    assert_eq!(begin(s, 4, 4).0, IMAGESTREAM_LOCKED);
    assert_eq!(put(s, 1, 4, 4, &pattern(1, 4, 4)), IMAGESTREAM_LOCKED);
    assert_eq!(end(s, 1), IMAGESTREAM_NOERROR);
    assert_eq!(end(s, 1), IMAGESTREAM_NOT_LOCKED);
    assert_eq!(begin(s, 4, 4).0, IMAGESTREAM_NOERROR);
    assert_eq!(end(s, 2), IMAGESTREAM_NOERROR);
    assert_eq!(begin(s, 4, 4).0, IMAGESTREAM_NO_BUFFERAVAILABLE);
    assert_eq!(lock_copy(c).1.unwrap().frame_number, 2);

    // abortframe gives the buffer back unpublished.
    // SAFETY (abortframe calls): any handle value is accepted.
    assert_eq!(
        unsafe { SharedMemoryImageStream_abortframe(s) },
        IMAGESTREAM_NOT_LOCKED
    );
    assert_eq!(
        unsafe { SharedMemoryImageStream_abortframe(c) },
        IMAGESTREAM_IS_NOTSERVER
    );
    assert_eq!(
        unsafe { SharedMemoryImageStream_abortframe(null_mut()) },
        IMAGESTREAM_BAD_ARGS
    );
    let states_before = f.raw_states();
    assert_eq!(begin(s, 4, 4).0, IMAGESTREAM_NOERROR);
    assert_eq!(
        unsafe { SharedMemoryImageStream_abortframe(s) },
        IMAGESTREAM_NOERROR
    );
    assert_eq!(f.raw_states(), states_before);
    assert_eq!(end(s, 9), IMAGESTREAM_NOT_LOCKED);
    assert_eq!(lock_copy(c).0, IMAGESTREAM_NO_FRAMEAVAILABLE);

    // Destroy while begun gives the buffer back unpublished.
    assert_eq!(begin(s, 4, 4).0, IMAGESTREAM_NOERROR);
    assert!(f.raw_states().contains(&1));
    assert_eq!(destroy(s), IMAGESTREAM_NOERROR);
    assert!(!f.raw_states().contains(&1));
    assert!(!f.raw_states().contains(&2));
    destroy(c);
}
