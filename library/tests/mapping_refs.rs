//! The "keeping a mapping alive" extension (SPEC section 5): a retained mapping keeps every frame
//! address a stream handed out readable after unlock, after destroy and after the file is
//! deleted, and reads after a truncation give zeros. The scenarios that could crash run in child
//! processes (this test binary re-executed on an ignored test), so that a crash fails the test
//! instead of killing the runner.

mod common;

use std::ptr::null_mut;

use common::*;
use shared_memory_image_client::ffi::*;

const CHILD_ENV: &str = "SHMIMG_MAPPING_CHILD";

fn retain(h: SharedMemoryImageStream) -> (i32, SharedMemoryMapping) {
    let mut m: SharedMemoryMapping = null_mut();
    // SAFETY: a valid out-pointer; any handle value is accepted.
    let rc = unsafe { SharedMemoryImageStream_retainmapping(h, &mut m) };
    (rc, m)
}

fn release(m: SharedMemoryMapping) -> i32 {
    // SAFETY: any handle value is accepted.
    unsafe { SharedMemoryImageStream_releasemapping(m) }
}

/// Sums `len` bytes at `p` (reads them all, as a viewer would).
///
/// # Safety
/// `p` must be readable for `len` bytes.
unsafe fn sum(p: *const u8, len: usize) -> u64 {
    // SAFETY: the caller's contract.
    unsafe { std::slice::from_raw_parts(p, len) }
        .iter()
        .map(|b| u64::from(*b))
        .sum()
}

#[test]
fn retain_and_release_reject_bad_arguments() {
    let f = TempStreamFile::min();
    let s = server(&f);
    // SAFETY: NULL out-pointer and NULL/garbage handles are accepted and rejected.
    unsafe {
        assert_eq!(
            SharedMemoryImageStream_retainmapping(s, std::ptr::null_mut()),
            IMAGESTREAM_BAD_ARGS
        );
    }
    let sentinel: SharedMemoryMapping = std::ptr::without_provenance_mut(0x5EED);
    let mut m = sentinel;
    // SAFETY: as above.
    unsafe {
        assert_eq!(
            SharedMemoryImageStream_retainmapping(null_mut(), &mut m),
            IMAGESTREAM_BAD_ARGS
        );
    }
    assert_eq!(m, sentinel, "left unchanged on error");
    assert_eq!(release(null_mut()), IMAGESTREAM_BAD_ARGS);
    assert_eq!(release(sentinel), IMAGESTREAM_BAD_ARGS);
    let (rc, m) = retain(s);
    assert_eq!(rc, IMAGESTREAM_NOERROR);
    assert_eq!(release(m), IMAGESTREAM_NOERROR);
    assert_eq!(release(m), IMAGESTREAM_BAD_ARGS, "released twice");
    destroy(s);
    let (rc, _) = retain(s);
    assert_eq!(rc, IMAGESTREAM_BAD_ARGS, "destroyed stream");
}

#[test]
fn frames_stay_readable_after_unlock_destroy_and_delete() {
    run_in_child("child_after_destroy", CHILD_ENV, "1");
}

#[test]
#[ignore = "runs in a child process of frames_stay_readable_after_unlock_destroy_and_delete"]
fn child_after_destroy() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let f = TempStreamFile::with_len(25 * 1024 * 1024);
    let s = server(&f);
    let (_, c) = client(&f);
    let pixels = pattern(1, 640, 480);
    assert_eq!(put(s, 1, 640, 480, &pixels), IMAGESTREAM_NOERROR);
    let (rc, fr) = lock_keep(c);
    assert_eq!(rc, IMAGESTREAM_NOERROR);
    // SAFETY: `fr` is valid until unlock; `buffer` is copied out now.
    let addr = unsafe { (*fr).buffer };
    let (rc, m) = retain(c);
    assert_eq!(rc, IMAGESTREAM_NOERROR);
    assert_eq!(unlock(c), IMAGESTREAM_NOERROR);
    // After unlock the bytes are still the frame (nothing overwrote them yet).
    // SAFETY: the retained mapping keeps the address mapped.
    let copy = unsafe { std::slice::from_raw_parts(addr, pixels.len()) }.to_vec();
    assert_eq!(copy, pixels);
    // The server writes a new frame in place through beginframe; its address is retained too.
    let mut w: SharedMemoryFrame = null_mut();
    // SAFETY: valid handle and out-pointer.
    assert_eq!(
        unsafe { SharedMemoryImageStream_beginframe(s, 64, 64, &mut w) },
        IMAGESTREAM_NOERROR
    );
    // SAFETY: valid until endframe; the address is kept alive by `ms` below.
    let waddr = unsafe { (*w).buffer };
    let (rc, ms) = retain(s);
    assert_eq!(rc, IMAGESTREAM_NOERROR);
    // SAFETY: 64*64*3 writable bytes of the begun buffer.
    unsafe { std::ptr::write_bytes(waddr, 0xAB, 64 * 64 * 3) };
    // SAFETY: valid handle.
    assert_eq!(
        unsafe { SharedMemoryImageStream_endframe(s, 2) },
        IMAGESTREAM_NOERROR
    );
    // Destroy both streams and delete the file: the addresses stay readable.
    assert_eq!(destroy(c), IMAGESTREAM_NOERROR);
    assert_eq!(destroy(s), IMAGESTREAM_NOERROR);
    std::fs::remove_file(&f.path).unwrap();
    // SAFETY: the retained mappings keep both addresses mapped.
    let (now, written) = unsafe {
        (
            std::slice::from_raw_parts(addr, pixels.len()).to_vec(),
            sum(waddr, 64 * 64 * 3),
        )
    };
    assert_eq!(written, 0xAB * 64 * 64 * 3);
    // The server reused the unlocked buffer (the first free one) for its new frame: an address
    // kept after unlock shows whatever the server wrote there since, and the rest of the old
    // frame.
    let reused = 64 * 64 * 3;
    assert!(now[..reused].iter().all(|&b| b == 0xAB));
    assert_eq!(now[reused..], copy[reused..]);
    assert_eq!(release(m), IMAGESTREAM_NOERROR);
    assert_eq!(release(ms), IMAGESTREAM_NOERROR);
}

#[test]
#[cfg(unix)]
fn reads_after_a_truncation_give_zeros() {
    run_in_child("child_after_truncation", CHILD_ENV, "1");
}

#[test]
#[ignore = "runs in a child process of reads_after_a_truncation_give_zeros"]
#[cfg(unix)]
fn child_after_truncation() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let f = TempStreamFile::with_len(25 * 1024 * 1024);
    let s = server(&f);
    let (_, c) = client(&f);
    assert_eq!(
        put(s, 1, 640, 480, &pattern(1, 640, 480)),
        IMAGESTREAM_NOERROR
    );
    let (rc, fr) = lock_keep(c);
    assert_eq!(rc, IMAGESTREAM_NOERROR);
    // SAFETY: valid until unlock; kept alive by the retained mapping afterwards.
    let addr = unsafe { (*fr).buffer };
    let (rc, m) = retain(c);
    assert_eq!(rc, IMAGESTREAM_NOERROR);
    assert_eq!(destroy(c), IMAGESTREAM_NOERROR);
    assert_eq!(destroy(s), IMAGESTREAM_NOERROR);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&f.path)
        .unwrap()
        .set_len(0)
        .unwrap();
    // SAFETY: mapped (retained); the vanished pages read as zeros instead of raising SIGBUS.
    assert_eq!(unsafe { sum(addr, 640 * 480 * 3) }, 0);
    assert_eq!(release(m), IMAGESTREAM_NOERROR);
}
