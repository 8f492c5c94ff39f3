//! Concurrency on one handle, server restarts under a live client, and a client that attaches
//! before any server initialised the file.

mod common;

use std::sync::Barrier;

use common::*;
use shared_memory_image_client::ffi::*;

#[test]
fn two_threads_locking_one_client_get_one_frame_and_one_locked() {
    let f = TempStreamFile::min();
    let s = server(&f);
    let (_, c) = client(&f);
    let c = H::new(c);
    for n in 0..300u32 {
        assert_eq!(put(s, n, 8, 8, &pattern(n, 8, 8)), IMAGESTREAM_NOERROR);
        let barrier = Barrier::new(2);
        let results: Vec<(i32, u32)> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    sc.spawn(|| {
                        barrier.wait();
                        let mut fr: SharedMemoryFrame = std::ptr::null_mut();
                        // SAFETY: valid handle and out-pointer.
                        let rc = unsafe { SharedMemoryImageStream_lock(c.get(), &mut fr) };
                        // SAFETY: on success `fr` is valid until unlock, which happens below after
                        // both threads are joined.
                        let num = if rc == 0 {
                            unsafe { (*fr).iFrame }
                        } else {
                            u32::MAX
                        };
                        (rc, num)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut codes: Vec<i32> = results.iter().map(|r| r.0).collect();
        codes.sort();
        assert_eq!(
            codes,
            vec![IMAGESTREAM_LOCKED, IMAGESTREAM_NOERROR],
            "round {n}"
        );
        assert!(results.iter().any(|r| r.1 == n));
        assert_eq!(unlock(c.get()), IMAGESTREAM_NOERROR);
    }
    destroy(c.get());
    destroy(s);
}

#[test]
fn concurrent_calls_and_destroy_on_one_handle_never_crash() {
    for _ in 0..50 {
        let f = TempStreamFile::min();
        let s = H::new(server(&f));
        let c = H::new(client(&f).1);
        std::thread::scope(|sc| {
            for t in 0..4 {
                sc.spawn(move || {
                    for i in 0..200u32 {
                        match (t + i) % 4 {
                            0 => {
                                let rc = put(s.get(), i, 4, 4, &pattern(i, 4, 4));
                                assert!(rc >= 0 || rc == IMAGESTREAM_BAD_ARGS);
                            }
                            1 => {
                                let mut fr: SharedMemoryFrame = std::ptr::null_mut();
                                // SAFETY: valid out-pointer; any handle value is accepted.
                                let rc = unsafe { SharedMemoryImageStream_lock(c.get(), &mut fr) };
                                assert!(matches!(rc, 0 | 2 | -1 | -11), "{rc}");
                            }
                            2 => {
                                let rc = unlock(c.get());
                                assert!(matches!(rc, -2..=0), "{rc}");
                            }
                            _ => {
                                if i == 150 && t == 3 {
                                    assert!(destroy(c.get()) >= -1);
                                }
                            }
                        }
                    }
                });
            }
        });
        destroy(c.get());
        assert_eq!(destroy(s.get()), IMAGESTREAM_NOERROR);
        assert_eq!(destroy(s.get()), IMAGESTREAM_BAD_ARGS);
    }
}

#[test]
fn server_restart_with_a_live_client() {
    let f = TempStreamFile::min();
    let (_, c) = {
        let s = server(&f);
        let c = client(&f);
        assert_eq!(put(s, 1, 2, 2, &pattern(1, 2, 2)), IMAGESTREAM_NOERROR);
        assert_eq!(lock_copy(c.1).1.unwrap().frame_number, 1);
        // A frame left unread when the server goes away.
        assert_eq!(put(s, 2, 2, 2, &pattern(2, 2, 2)), IMAGESTREAM_NOERROR);
        assert_eq!(destroy(s), IMAGESTREAM_NOERROR);
        c
    };
    // A new server initialises the file again: both INIT.
    let s2 = server(&f);
    assert_eq!(f.raw_states(), [4, 4]);
    assert_eq!(
        put(s2, 100, 2, 2, &pattern(100, 2, 2)),
        IMAGESTREAM_UNCONNECTED
    );
    // The client's next lock re-attaches by itself (nothing new yet)...
    assert_eq!(lock_copy(c).0, IMAGESTREAM_NO_FRAMEAVAILABLE);
    assert_eq!(f.raw_states(), [0, 0]);
    // ...and then receives the new server's frames.
    assert_eq!(put(s2, 101, 2, 2, &pattern(101, 2, 2)), IMAGESTREAM_NOERROR);
    let got = lock_copy(c).1.unwrap();
    assert_eq!((got.frame_number, got.pixels), (101, pattern(101, 2, 2)));
    destroy(c);
    destroy(s2);
}

#[test]
fn server_restart_while_the_client_holds_a_frame() {
    let f = TempStreamFile::min();
    let s = server(&f);
    let (_, c) = client(&f);
    assert_eq!(put(s, 1, 2, 2, &pattern(1, 2, 2)), IMAGESTREAM_NOERROR);
    assert_eq!(lock_keep(c).0, IMAGESTREAM_NOERROR);
    destroy(s);
    let s2 = server(&f);
    // Unlock still succeeds for the client; the buffer stays INIT until the next lock.
    assert_eq!(unlock(c), IMAGESTREAM_NOERROR);
    assert_eq!(f.raw_states(), [4, 4]);
    assert_eq!(lock_copy(c).0, IMAGESTREAM_NO_FRAMEAVAILABLE);
    assert_eq!(put(s2, 7, 2, 2, &pattern(7, 2, 2)), IMAGESTREAM_NOERROR);
    assert_eq!(lock_copy(c).1.unwrap().frame_number, 7);
    destroy(c);
    destroy(s2);
}

#[test]
fn client_attaching_before_the_server_initialises() {
    let f = TempStreamFile::min(); // zero-filled: both states 0
    let (rc, c) = client(&f);
    assert_eq!(rc, IMAGESTREAM_RECONNECTING);
    assert_eq!(lock_copy(c).0, IMAGESTREAM_NO_FRAMEAVAILABLE);
    let s = server(&f);
    // The server's create reset both buffers to INIT: until the client's next lock call it
    // counts as not connected.
    assert_eq!(put(s, 1, 2, 2, &pattern(1, 2, 2)), IMAGESTREAM_UNCONNECTED);
    assert_eq!(lock_copy(c).0, IMAGESTREAM_NO_FRAMEAVAILABLE);
    assert_eq!(put(s, 2, 2, 2, &pattern(2, 2, 2)), IMAGESTREAM_NOERROR);
    assert_eq!(lock_copy(c).1.unwrap().pixels, pattern(2, 2, 2));
    destroy(c);
    destroy(s);
}

#[test]
fn handles_are_not_confused_after_slot_reuse() {
    let f = TempStreamFile::min();
    let s = server(&f);
    let (_, c1) = client(&f);
    assert_eq!(destroy(c1), IMAGESTREAM_NOERROR);
    // Create and destroy many streams so that slots are reused.
    let mut handles = Vec::new();
    for _ in 0..100 {
        let (_, c) = client(&f);
        handles.push(c);
        assert_ne!(c, c1);
        assert_eq!(
            unlock(c1),
            IMAGESTREAM_BAD_ARGS,
            "stale handle must stay dead"
        );
        destroy(c);
    }
    for h in handles {
        assert_eq!(destroy(h), IMAGESTREAM_BAD_ARGS);
    }
    destroy(s);
}

#[test]
fn frames_never_go_backwards_under_a_racing_server() {
    // A server thread publishing as fast as it can against a client locking as fast as it can:
    // the client reads the two state bytes one after the other, so a frame can be published
    // between the two reads. Frame numbers must still only go forwards.
    use shared_memory_image_client::{state, Client, Server};
    let f = TempStreamFile::min();
    let mut server = Server::create(&f.path).unwrap();
    let mut client = Client::attach(&f.path).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (checked, backwards) = std::thread::scope(|sc| {
        sc.spawn(|| {
            let px = [7u8; 3];
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n = n.wrapping_add(1);
                let _ = server.put_frame(n, 1, 1, &px);
            }
        });
        let mut last: Option<u32> = None;
        let (mut checked, mut backwards) = (0u64, 0u64);
        let t = std::time::Instant::now();
        while t.elapsed() < std::time::Duration::from_secs(2) {
            if let Some(frame) = client.lock().unwrap() {
                let n = frame.frame_number();
                if last.is_some_and(|p| !state::is_newer(n, p)) {
                    backwards += 1;
                }
                last = Some(n);
                checked += 1;
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (checked, backwards)
    });
    assert!(checked > 1000, "only {checked} frames");
    assert_eq!(
        backwards, 0,
        "{backwards} of {checked} frames came after a newer one"
    );
}
