//! The stream life cycle checked against the raw bytes of the file (read with pread, not through
//! the library), step by step, as an independent implementation of SPEC.md would see it.

mod common;

use common::*;
use shared_memory_image_client::ffi::*;
use shared_memory_image_client::Header;

const INIT: u8 = 4;

#[test]
fn full_life_cycle_in_raw_bytes() {
    let f = TempStreamFile::with_len(25 * 1024 * 1024);
    // Garbage where the headers go: server create must zero it.
    for b in 0..2 {
        f.write_raw_header(
            b,
            &Header {
                frame_number: 0xDEAD_BEEF,
                width: 7,
                height: 9,
                offset: 3,
                num_scanlines: 1,
                state: 2,
                pad: [0xAA, 0xBB, 0xCC],
            },
        );
    }
    let s = server(&f);
    let init = Header {
        state: INIT,
        ..Header::default()
    };
    assert_eq!(f.raw_header(0), init);
    assert_eq!(f.raw_header(1), init);

    let (rc, c) = client(&f);
    assert_eq!(rc, IMAGESTREAM_NOERROR, "both buffers were INIT");
    assert_eq!(f.raw_states(), [0, 0]);

    let p7 = pattern(7, 4, 2);
    assert_eq!(put(s, 7, 4, 2, &p7), IMAGESTREAM_NOERROR);
    let b7 = if f.raw_states()[0] == 2 { 0 } else { 1 };
    assert_eq!(f.raw_header(b7), frame_header(7, 4, 2, 2));
    assert_eq!(f.raw_header(1 - b7).state, 0);
    assert_eq!(f.raw_pixels(b7, p7.len()), p7);

    let p8 = pattern(8, 3, 3);
    assert_eq!(put(s, 8, 3, 3, &p8), IMAGESTREAM_NOERROR);
    let b8 = 1 - b7;
    assert_eq!(f.raw_header(b8), frame_header(8, 3, 3, 2));
    assert_eq!(f.raw_pixels(b8, p8.len()), p8);

    assert_eq!(
        put(s, 9, 4, 2, &pattern(9, 4, 2)),
        IMAGESTREAM_NO_BUFFERAVAILABLE
    );

    // Lock takes the newer frame (8) and drops the older (7 -> state 0).
    let mut fr: SharedMemoryFrame = std::ptr::null_mut();
    // SAFETY: valid handle and out-pointer; on success `fr` is valid until unlock.
    unsafe {
        assert_eq!(
            SharedMemoryImageStream_lock(c, &mut fr),
            IMAGESTREAM_NOERROR
        );
        assert_eq!(f.raw_header(b8).state, 3);
        assert_eq!(f.raw_header(b7).state, 0);
        let frame = &*fr;
        assert_eq!((frame.iFrame, frame.iWidth, frame.iHeight), (8, 3, 3));
        let px = std::slice::from_raw_parts(frame.buffer, 27);
        assert_eq!(px, &p8[..]);
        // Zero copy: a byte written into the file shows through the locked frame's pointer.
        let at = f.layout().pixels_offset(b8) as u64 + 5;
        write_at(
            &std::fs::OpenOptions::new()
                .write(true)
                .open(&f.path)
                .unwrap(),
            &[0x5A],
            at,
        );
        assert_eq!(*frame.buffer.add(5), 0x5A);
        assert_eq!(SharedMemoryImageStream_unlock(c), IMAGESTREAM_NOERROR);
    }
    assert_eq!(f.raw_states(), [0, 0]);

    // The server's next frame lands in a free buffer again.
    assert_eq!(put(s, 10, 1, 1, &[1, 2, 3]), IMAGESTREAM_NOERROR);
    assert_eq!(f.raw_states().iter().filter(|s| **s == 2).count(), 1);

    // Client destroy detaches: 0 and 2 both go to INIT; the server sees nobody.
    assert_eq!(destroy(c), IMAGESTREAM_NOERROR);
    assert_eq!(f.raw_states(), [INIT, INIT]);
    assert_eq!(put(s, 11, 1, 1, &[1, 2, 3]), IMAGESTREAM_UNCONNECTED);

    // Server destroy leaves states as they are.
    assert_eq!(destroy(s), IMAGESTREAM_NOERROR);
    assert_eq!(f.raw_states(), [INIT, INIT]);
}

#[test]
fn destroy_while_locked_unlocks_and_detaches() {
    let f = TempStreamFile::min();
    let s = server(&f);
    let (_, c) = client(&f);
    assert_eq!(put(s, 1, 2, 2, &pattern(1, 2, 2)), IMAGESTREAM_NOERROR);
    assert_eq!(lock_keep(c).0, IMAGESTREAM_NOERROR);
    assert!(f.raw_states().contains(&3));
    assert_eq!(destroy(c), IMAGESTREAM_NOERROR);
    assert_eq!(f.raw_states(), [INIT, INIT]);
    destroy(s);
}

#[test]
fn client_detach_leaves_a_buffer_the_server_is_writing() {
    let f = TempStreamFile::min();
    let s = server(&f);
    let (_, c) = client(&f);
    // Simulate a server mid-write on buffer 1 (state 1), as another process would hold it.
    f.write_raw_state(1, 1);
    assert_eq!(destroy(c), IMAGESTREAM_NOERROR);
    assert_eq!(f.raw_states(), [INIT, 1]);
    destroy(s);
}

#[test]
fn flipvertical_stores_rows_bottom_up() {
    let f = TempStreamFile::min();
    let (rc, s) = create(
        &f.cpath(),
        IMAGESTREAM_OPTIONS_SERVER | IMAGESTREAM_OPTIONS_FLIPVERTICAL,
    );
    assert_eq!(rc, IMAGESTREAM_NOERROR);
    let (_, c) = client(&f);
    let (w, h) = (5u32, 4u32);
    let input = pattern(3, w, h);
    assert_eq!(put(s, 3, w, h, &input), IMAGESTREAM_NOERROR);
    let b = if f.raw_states()[0] == 2 { 0 } else { 1 };
    let stored = f.raw_pixels(b, input.len());
    let row = (w * 3) as usize;
    for r in 0..h as usize {
        let stored_row = h as usize - 1 - r;
        assert_eq!(
            &stored[stored_row * row..][..row],
            &input[r * row..][..row],
            "row {r}"
        );
    }
    let (_, got) = lock_copy(c);
    assert_eq!(got.unwrap().pixels, stored);
    // Without the flag the rows are stored as given.
    destroy(s);
    let s = server(&f);
    let (_, _) = lock_copy(c); // re-attach after the server restart
    assert_eq!(put(s, 4, w, h, &input), IMAGESTREAM_NOERROR);
    assert_eq!(lock_copy(c).1.unwrap().pixels, input);
    destroy(c);
    destroy(s);
}

#[test]
fn frame_numbers_compare_with_wraparound() {
    for (first, second, expect) in [
        (u32::MAX, 0, 0),
        (0, u32::MAX, 0),
        (u32::MAX - 1, u32::MAX, u32::MAX),
        (5, 4, 5),
        (0x7FFF_FFFF, 0x8000_0000, 0x8000_0000),
    ] {
        let f = TempStreamFile::min();
        let s = server(&f);
        let (_, c) = client(&f);
        assert_eq!(put(s, first, 1, 1, &[1, 1, 1]), IMAGESTREAM_NOERROR);
        assert_eq!(put(s, second, 1, 1, &[2, 2, 2]), IMAGESTREAM_NOERROR);
        let (rc, got) = lock_copy(c);
        assert_eq!(rc, IMAGESTREAM_NOERROR);
        assert_eq!(got.unwrap().frame_number, expect, "{first} then {second}");
        // The older one was dropped.
        assert_eq!(lock_copy(c).0, IMAGESTREAM_NO_FRAMEAVAILABLE);
        destroy(c);
        destroy(s);
    }
}
