//! A corrupt or hostile peer writing headers and state bytes raw: the library must never hand
//! out a frame that reaches past a buffer's payload, never crash, and never hang.

mod common;

use common::*;
use shared_memory_image_client::ffi::*;
use shared_memory_image_client::Header;

#[test]
fn oversized_and_empty_headers_are_never_returned() {
    let f = TempStreamFile::min();
    let s = server(&f);
    let (_, c) = client(&f);
    let p = f.layout().payload_size() as u32;
    for (w, h) in [
        (1, p / 3 + 1),
        (p / 3 + 1, 1),
        (0, 10),
        (10, 0),
        (0, 0),
        (u32::MAX, u32::MAX),
        (65536, 65536),   // 2^32 * 3 wraps a 32-bit product
        (1 << 31, 2),     // 2^32 exactly
        (0x5555_5556, 1), // *3 wraps to 2 in 32 bits
    ] {
        f.write_raw_header(0, &frame_header(1, w, h, 2));
        let (rc, got) = lock_copy(c);
        assert_eq!(rc, IMAGESTREAM_NO_FRAMEAVAILABLE, "{w}x{h}: {got:?}");
        assert_eq!(
            f.raw_states()[0],
            0,
            "the bad buffer is handed back to the server"
        );
    }
    // The stream still works afterwards.
    assert_eq!(put(s, 2, 3, 3, &pattern(2, 3, 3)), IMAGESTREAM_NOERROR);
    assert_eq!(lock_copy(c).1.unwrap().pixels, pattern(2, 3, 3));
    destroy(c);
    destroy(s);
}

#[test]
fn unknown_state_bytes_are_left_alone() {
    let f = TempStreamFile::min();
    let s = server(&f);
    let (_, c) = client(&f);
    for bad in [5u8, 17, 0x80, 0xFF] {
        f.write_raw_state(0, bad);
        f.write_raw_state(1, bad);
        assert_eq!(lock_copy(c).0, IMAGESTREAM_NO_FRAMEAVAILABLE);
        assert_eq!(put(s, 1, 1, 1, &[0, 0, 0]), IMAGESTREAM_NO_BUFFERAVAILABLE);
        assert_eq!(f.raw_states(), [bad, bad]);
    }
    destroy(c);
    destroy(s);
}

/// A tiny deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick_dim(&mut self, p: u32) -> u32 {
        match self.next() % 6 {
            0 => 0,
            1 => u32::MAX - (self.next() % 4) as u32,
            2 => (self.next() % 4096) as u32 + 1,
            3 => p / 3 + (self.next() % 3) as u32,
            4 => 1,
            _ => self.next() as u32,
        }
    }
}

#[test]
fn random_headers_between_calls_never_escape_the_payload() {
    let f = TempStreamFile::min();
    let s = server(&f);
    let (_, c) = client(&f);
    let p = f.layout().payload_size();
    // Learn where the two payloads are mapped in this process.
    let mut bases = Vec::new();
    for n in 0..2u32 {
        assert_eq!(put(s, n, 1, 1, &[9, 9, 9]), IMAGESTREAM_NOERROR);
    }
    for _ in 0..2 {
        // Lock both frames in turn (the newer first, then the older was dropped: put again).
        let mut fr: SharedMemoryFrame = std::ptr::null_mut();
        // SAFETY: valid handle and out-pointer.
        if unsafe { SharedMemoryImageStream_lock(c, &mut fr) } == IMAGESTREAM_NOERROR {
            // SAFETY: valid until unlock.
            bases.push(unsafe { (*fr).buffer } as usize);
            unlock(c);
        }
        put(s, 5, 1, 1, &[9, 9, 9]);
    }
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    let mut returned = 0;
    for i in 0..20_000 {
        for b in 0..2 {
            if rng.next() % 3 == 0 {
                let h = Header {
                    frame_number: rng.next() as u32,
                    width: rng.pick_dim(p as u32),
                    height: rng.pick_dim(p as u32),
                    offset: rng.next() as u32,
                    num_scanlines: rng.next() as u32,
                    state: (rng.next() % 7) as u8,
                    pad: [rng.next() as u8; 3],
                };
                f.write_raw_header(b, &h);
            }
        }
        match rng.next() % 3 {
            0 => {
                let px = pattern(i, 2, 2);
                let rc = put(s, i, 2, 2, &px);
                assert!(rc >= 0, "putframe error {rc}");
            }
            _ => {
                let mut fr: SharedMemoryFrame = std::ptr::null_mut();
                // SAFETY: valid handle and out-pointer; on success valid until unlock.
                let rc = unsafe { SharedMemoryImageStream_lock(c, &mut fr) };
                assert!(
                    rc == IMAGESTREAM_NOERROR || rc == IMAGESTREAM_NO_FRAMEAVAILABLE,
                    "{rc}"
                );
                if rc == IMAGESTREAM_NOERROR {
                    returned += 1;
                    // SAFETY: as above.
                    let frm = unsafe { &*fr };
                    let len = frm.iWidth as u64 * frm.iHeight as u64 * 3;
                    assert!(frm.iWidth >= 1 && frm.iHeight >= 1);
                    assert!(len <= p as u64, "frame of {len} bytes > payload {p}");
                    let base = frm.buffer as usize;
                    if bases.len() == 2 {
                        assert!(bases.contains(&base), "pointer outside both payloads");
                    }
                    assert_eq!(unlock(c), IMAGESTREAM_NOERROR);
                }
            }
        }
    }
    assert!(
        returned > 100,
        "the random walk should return frames too ({returned})"
    );
    destroy(c);
    destroy(s);
}
