//! Server and client in two real processes: the `shmimg` binary on one side, this test process
//! (through the Rust API) on the other.

#[path = "../../library/tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use shared_memory_image_client::{state, Client, PutOutcome, Server};

const SHMIMG: &str = env!("CARGO_BIN_EXE_shmimg");

fn summary(stdout: &[u8]) -> HashMap<String, String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn shmimg_serve_to_a_rust_client() {
    let f = TempStreamFile::min();
    let child = Command::new(SHMIMG)
        .args([
            "serve",
            f.path.to_str().unwrap(),
            "--size",
            "320x240",
            "--fps",
            "500",
        ])
        .args(["--seconds", "3", "--quiet", "--machine"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut client = Client::attach(&f.path).unwrap();
    let mut numbers = Vec::new();
    let start = Instant::now();
    while numbers.len() < 50 && start.elapsed() < Duration::from_secs(10) {
        if let Some(frame) = client.lock_timeout(Duration::from_millis(100)).unwrap() {
            assert_eq!((frame.width(), frame.height()), (320, 240));
            assert_eq!(frame.len(), 320 * 240 * 3);
            numbers.push(frame.frame_number());
        }
    }
    drop(client);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(numbers.len() >= 50, "got {} frames", numbers.len());
    for w in numbers.windows(2) {
        assert!(
            state::is_newer(w[1], w[0]),
            "frames out of order: {numbers:?}"
        );
    }
    let s = summary(&out.stdout);
    assert!(s["delivered"].parse::<u64>().unwrap() >= 50, "{s:?}");
    assert_eq!(s["kind"], "two-buffer", "{s:?}");
    assert_eq!(s["buffers"], "2", "{s:?}");
}

#[test]
fn rust_server_to_shmimg_watch() {
    let f = TempStreamFile::min();
    let snap = f.path.with_extension("ppm");
    let mut server = Server::create(&f.path).unwrap();
    let child = Command::new(SHMIMG)
        .args([
            "watch",
            f.path.to_str().unwrap(),
            "--frames",
            "20",
            "--seconds",
            "20",
        ])
        .args(["--quiet", "--machine", "--snapshot", snap.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (w, h) = (64u32, 16u32);
    let mut sent = Vec::new();
    let start = Instant::now();
    let mut n = 0u32;
    let mut child = Some(child);
    let mut status = None;
    while start.elapsed() < Duration::from_secs(20) {
        let px = pattern(n, w, h);
        if server.put_frame(n, w, h, &px).unwrap() == PutOutcome::Delivered {
            sent.push(px);
        }
        n += 1;
        std::thread::sleep(Duration::from_millis(2));
        if let Some(st) = child.as_mut().unwrap().try_wait().unwrap() {
            status = Some(st);
            break;
        }
    }
    let out = child.take().unwrap().wait_with_output().unwrap();
    assert!(status.unwrap_or(out.status).success());
    let s = summary(&out.stdout);
    assert_eq!(s["frames_received"], "20", "{s:?}");
    assert_eq!(s["kind"], "two-buffer", "{s:?}");
    assert_eq!(s["reader_slot"], "-", "{s:?}");
    assert_eq!(s["out_of_order"], "0");
    assert_eq!(s["size"], "64x16");
    // The snapshot is one of the frames we delivered, byte for byte.
    let ppm = std::fs::read(&snap).unwrap();
    let header = b"P6\n64 16\n255\n";
    assert!(ppm.starts_with(header));
    assert!(sent.iter().any(|p| p[..] == ppm[header.len()..]));
    let _ = std::fs::remove_file(&snap);
    // The client detached when it finished.
    assert_eq!(f.raw_states(), [4, 4]);
}
