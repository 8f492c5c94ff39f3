//! Property-based hostile files: arbitrary header fields and state bytes written raw into the
//! mapped file between arbitrary calls of a client and a server. Whatever happens, every call
//! returns a defined code (a panic would show as IMAGESTREAM_BAD_ARGS on valid arguments), no
//! call waits, and every frame handed out lies inside one of the two payloads and can be read
//! whole.

mod common;

use std::ptr::null_mut;

use common::*;
use proptest::prelude::*;
use shared_memory_image_client::ffi::*;
use shared_memory_image_client::Header;

#[derive(Debug, Clone)]
enum Op {
    WriteHeader(usize, Header),
    WriteState(usize, u8),
    Put(u32, u32),
    Lock,
    LockWait,
    Unlock,
    Begin(u32, u32),
    End(u32),
    Abort,
    NewClient,
    NewServer,
}

fn dim() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(1u32),
        1u32..64,
        Just(1024u32),
        Just(1_747_619u32), // 3 * this just exceeds the payload of a 10 MiB file with height 1
        Just(65_536u32),
        Just(u32::MAX),
        any::<u32>(),
    ]
}

fn header() -> impl Strategy<Value = Header> {
    let state = prop_oneof![0u8..5, any::<u8>()];
    (
        any::<u32>(),
        dim(),
        dim(),
        any::<u32>(),
        any::<u32>(),
        state,
        any::<[u8; 3]>(),
    )
        .prop_map(
            |(frame_number, width, height, offset, num_scanlines, state, pad)| Header {
                frame_number,
                width,
                height,
                offset,
                num_scanlines,
                state,
                pad,
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0usize..2, header()).prop_map(|(b, h)| Op::WriteHeader(b, h)),
        3 => (0usize..2, prop_oneof![0u8..5, any::<u8>()]).prop_map(|(b, s)| Op::WriteState(b, s)),
        3 => (prop_oneof![1u32..40, dim()], prop_oneof![1u32..40, dim()]).prop_map(|(w, h)| Op::Put(w, h)),
        4 => Just(Op::Lock),
        1 => Just(Op::LockWait),
        3 => Just(Op::Unlock),
        2 => (prop_oneof![1u32..40, dim()], prop_oneof![1u32..40, dim()]).prop_map(|(w, h)| Op::Begin(w, h)),
        2 => any::<u32>().prop_map(Op::End),
        1 => Just(Op::Abort),
        1 => Just(Op::NewClient),
        1 => Just(Op::NewServer),
    ]
}

fn defined(rc: i32) -> bool {
    (-11..=4).contains(&rc)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn hostile_headers_never_escape_the_payload(ops in prop::collection::vec(op(), 1..120)) {
        let f = TempStreamFile::min();
        let p = f.layout().payload_size();
        let mut s = server(&f);
        let mut c = client(&f).1;
        let px = vec![0x5Au8; 40 * 40 * 3];
        // Payload addresses seen so far: both must be P + 24 apart.
        let mut seen: Vec<usize> = Vec::new();
        for op in ops {
            match op {
                Op::WriteHeader(b, h) => f.write_raw_header(b, &h),
                Op::WriteState(b, st) => f.write_raw_state(b, st),
                Op::Put(w, h) => {
                    let need = (u64::from(w) * u64::from(h)).saturating_mul(3);
                    if w != 0 && h != 0 && f.layout().fits(w, h) && need > px.len() as u64 {
                        continue; // a valid size we cannot back with real bytes here
                    }
                    // Zero and too-large sizes must be rejected before any byte is read.
                    let rc = put(s, 1, w, h, &px);
                    prop_assert!(defined(rc), "put {w}x{h}: {rc}");
                    if w == 0 || h == 0 {
                        prop_assert_eq!(rc, IMAGESTREAM_BAD_ARGS);
                    } else if !f.layout().fits(w, h) {
                        prop_assert_eq!(rc, IMAGESTREAM_FRAME_TOO_LARGE);
                    } else {
                        prop_assert!(rc != IMAGESTREAM_BAD_ARGS, "put {w}x{h}: panic or bad args");
                    }
                }
                Op::Lock | Op::LockWait => {
                    let mut fr: SharedMemoryFrame = null_mut();
                    // SAFETY: valid handle and out-pointer; lockwait with 0 ms never waits.
                    let rc = unsafe {
                        if matches!(op, Op::Lock) {
                            SharedMemoryImageStream_lock(c, &mut fr)
                        } else {
                            SharedMemoryImageStream_lockwait(c, &mut fr, 0)
                        }
                    };
                    prop_assert!(matches!(rc, IMAGESTREAM_NOERROR | IMAGESTREAM_NO_FRAMEAVAILABLE | IMAGESTREAM_LOCKED), "lock: {rc}");
                    if rc == IMAGESTREAM_NOERROR {
                        // SAFETY: on success the frame and its pixels are valid until unlock.
                        let (w, h, ptr) = unsafe { ((*fr).iWidth, (*fr).iHeight, (*fr).buffer as usize) };
                        prop_assert!(w >= 1 && h >= 1);
                        let len = u64::from(w) * u64::from(h) * 3;
                        prop_assert!(len <= p as u64, "{w}x{h} exceeds the payload");
                        if !seen.contains(&ptr) {
                            seen.push(ptr);
                        }
                        prop_assert!(seen.len() <= 2);
                        if seen.len() == 2 {
                            prop_assert_eq!(seen[0].abs_diff(seen[1]), p + 24);
                        }
                        // SAFETY: as above; reading every byte must stay inside the mapping.
                        let sum: u64 = unsafe { std::slice::from_raw_parts(ptr as *const u8, len as usize) }
                            .iter().map(|b| u64::from(*b)).sum();
                        prop_assert!(sum <= len * 255);
                    }
                }
                Op::Unlock => {
                    let rc = unlock(c);
                    prop_assert!(rc == IMAGESTREAM_NOERROR || rc == IMAGESTREAM_NOT_LOCKED, "unlock: {rc}");
                }
                Op::Begin(w, h) => {
                    let mut fr: SharedMemoryFrame = null_mut();
                    // SAFETY: valid handle and out-pointer.
                    let rc = unsafe { SharedMemoryImageStream_beginframe(s, w, h, &mut fr) };
                    prop_assert!(defined(rc), "begin: {rc}");
                    if w != 0 && h != 0 {
                        prop_assert!(rc != IMAGESTREAM_BAD_ARGS, "begin {w}x{h}: panic or bad args");
                    }
                    if rc == IMAGESTREAM_NOERROR {
                        let len = u64::from(w) * u64::from(h) * 3;
                        prop_assert!(len <= p as u64);
                        // SAFETY: the begun frame's pixels are writable until endframe.
                        unsafe { std::ptr::write_bytes((*fr).buffer, 0x33, len as usize) };
                    }
                }
                Op::End(n) => {
                    // SAFETY: any handle value is accepted.
                    let rc = unsafe { SharedMemoryImageStream_endframe(s, n) };
                    prop_assert!(defined(rc) && rc != IMAGESTREAM_BAD_ARGS, "end: {rc}");
                }
                Op::Abort => {
                    // SAFETY: any handle value is accepted.
                    let rc = unsafe { SharedMemoryImageStream_abortframe(s) };
                    prop_assert!(rc == IMAGESTREAM_NOERROR || rc == IMAGESTREAM_NOT_LOCKED, "abort: {rc}");
                }
                Op::NewClient => {
                    prop_assert_eq!(destroy(c), IMAGESTREAM_NOERROR);
                    let (rc, h) = client(&f);
                    prop_assert!(rc == IMAGESTREAM_NOERROR || rc == IMAGESTREAM_RECONNECTING);
                    c = h;
                }
                Op::NewServer => {
                    prop_assert_eq!(destroy(s), IMAGESTREAM_NOERROR);
                    s = server(&f);
                }
            }
        }
        prop_assert_eq!(destroy(c), IMAGESTREAM_NOERROR);
        prop_assert_eq!(destroy(s), IMAGESTREAM_NOERROR);
    }
}
