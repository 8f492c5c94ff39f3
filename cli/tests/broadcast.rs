//! The CLI on broadcast streams (SPEC section 7): `serve --broadcast` feeding several `watch`
//! processes, `inspect` on a broadcast file with live and dead readers (and without a server),
//! and `demo --readers`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use shared_memory_image_client::broadcast::BroadcastStatus;
use shared_memory_image_client::{PutOutcome, Server, ServerOptions};

const SHMIMG: &str = env!("CARGO_BIN_EXE_shmimg");

/// A temporary directory on a tmpfs where there is one, and a stream file path in it.
fn temp_stream() -> (tempfile::TempDir, PathBuf) {
    let dir = if cfg!(unix) && Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm")
    } else {
        tempfile::tempdir()
    }
    .unwrap();
    let path = dir.path().join("broadcast.shm");
    (dir, path)
}

fn summary(stdout: &[u8]) -> HashMap<String, String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn inspect(path: &Path) -> String {
    let o: Output = Command::new(SHMIMG)
        .args(["inspect", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "inspect failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Polls `cond` every 5 ms; panics with `what` after 30 s.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn spawn(args: &[&str], stderr: Stdio) -> Child {
    Command::new(SHMIMG)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

#[test]
fn serve_broadcast_feeds_several_watch_processes() {
    let (_dir, path) = temp_stream();
    let p = path.to_str().unwrap();
    // The file does not exist: serve --broadcast creates it for the frame size.
    let server = spawn(
        &[
            "serve",
            p,
            "--broadcast",
            "5",
            "--size",
            "64x48",
            "--fps",
            "200",
            "--seconds",
            "60",
            "--frames",
            "4000",
            "--machine",
            "--quiet",
        ],
        Stdio::piped(),
    );
    wait_for("the server lays the file out", || {
        matches!(BroadcastStatus::read(&path), Ok(Some(_)))
    });
    let watchers: Vec<Child> = (0..3)
        .map(|_| {
            spawn(
                &["watch", p, "--frames", "60", "--seconds", "60", "--machine"],
                Stdio::piped(),
            )
        })
        .collect();
    let mut slots = Vec::new();
    for w in watchers {
        let out = w.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "watch failed: {err}");
        // It says what it attached to.
        assert!(
            err.contains("broadcast stream, 5 buffers") && err.contains("reader slot"),
            "{err}"
        );
        let s = summary(&out.stdout);
        assert_eq!(s["kind"], "broadcast", "{s:?}");
        assert_eq!(s["frames_received"], "60", "{s:?}");
        assert_eq!(s["out_of_order"], "0", "{s:?}");
        assert_eq!(s["size"], "64x48", "{s:?}");
        let first: u32 = s["first_frame"].parse().unwrap();
        let last: u32 = s["last_frame"].parse().unwrap();
        assert!(last >= first + 59, "{s:?}");
        slots.push(s["reader_slot"].clone());
    }
    // Three readers at once, each in a slot of its own.
    slots.sort();
    slots.dedup();
    assert_eq!(slots.len(), 3, "{slots:?}");
    // A second server on the same file is refused while the first is alive.
    let o = Command::new(SHMIMG)
        .args(["serve", p, "--broadcast", "5", "--size", "64x48"])
        .args(["--frames", "1", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("another server is serving"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut server = server;
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn serve_broadcast_summary_counts_readers() {
    let (_dir, path) = temp_stream();
    let p = path.to_str().unwrap();
    let server = spawn(
        &[
            "serve",
            p,
            "--broadcast",
            "3",
            "--size",
            "32x32",
            "--fps",
            "500",
            "--seconds",
            "30",
            "--frames",
            "1500",
            "--machine",
            "--quiet",
        ],
        Stdio::piped(),
    );
    wait_for("the server lays the file out", || {
        matches!(BroadcastStatus::read(&path), Ok(Some(_)))
    });
    let watcher = spawn(
        &["watch", p, "--seconds", "60", "--quiet", "--machine"],
        Stdio::null(),
    );
    let out = server.wait_with_output().unwrap();
    assert!(out.status.success());
    let s = summary(&out.stdout);
    assert_eq!(s["kind"], "broadcast", "{s:?}");
    assert_eq!(s["buffers"], "3", "{s:?}");
    assert_eq!(s["frames_sent"], "1500", "{s:?}");
    assert!(s["delivered"].parse::<u64>().unwrap() > 0, "{s:?}");
    assert_eq!(s["readers_attached"], "1", "{s:?}");
    let mut watcher = watcher;
    watcher.kill().unwrap();
    watcher.wait().unwrap();
}

/// Starts `shmimg torture-peer hold FILE`: attaches, locks a frame and keeps it.
fn holder(path: &Path) -> Child {
    spawn(
        &["torture-peer", "hold", path.to_str().unwrap()],
        Stdio::null(),
    )
}

#[test]
fn inspect_shows_buffers_readers_and_dead_readers_without_changing_the_file() {
    let (_dir, path) = temp_stream();
    let mut server = Server::create_broadcast(&path, 64, 48, 4, ServerOptions::default()).unwrap();
    let text = inspect(&path);
    assert!(text.contains("broadcast stream"), "{text}");
    assert!(text.contains("4 buffers of 9216 bytes"), "{text}");
    assert!(
        text.contains(&format!("pid {}, alive", std::process::id())),
        "{text}"
    );
    assert!(text.contains("no frame published yet"), "{text}");
    assert!(text.contains("no reader is attached"), "{text}");

    // Two reader processes, each holding a frame.
    let mut a = holder(&path);
    let mut b = holder(&path);
    let pixels = vec![9u8; 64 * 48 * 3];
    let mut n = 0;
    for child in [&mut a, &mut b] {
        // Publish until this holder says it has locked a frame.
        let out = child.stdout.take().unwrap();
        let said = std::thread::spawn(move || {
            let mut line = String::new();
            BufReader::new(out).read_line(&mut line).unwrap();
            line
        });
        while !said.is_finished() {
            n += 1;
            let _ = server.put_frame(n, 64, 48, &pixels).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        let line = said.join().unwrap();
        assert!(line.starts_with("locked"), "{line}");
    }
    let status = BroadcastStatus::read(&path).unwrap().unwrap();
    assert_eq!(status.readers.len(), 2);
    let slot_of = |pid: u32| {
        status
            .readers
            .iter()
            .find(|r| r.pid == pid)
            .map(|r| r.slot)
            .unwrap()
    };
    let (slot_a, slot_b) = (slot_of(a.id()), slot_of(b.id()));
    let text = inspect(&path);
    assert!(text.contains("2 attached, 0 dead"), "{text}");
    assert!(!text.contains("DEAD"), "{text}");

    // Kill one: the server has not published since, so it has not reaped it yet.
    let pid_a = a.id();
    a.kill().unwrap();
    a.wait().unwrap();
    let before = std::fs::read(&path).unwrap();
    let text = inspect(&path);
    let after = std::fs::read(&path).unwrap();
    assert!(before == after, "inspect changed the file");
    assert!(text.contains("2 attached, 1 dead"), "{text}");
    let dead_row = text
        .lines()
        .find(|l| l.contains("DEAD") && l.contains(&pid_a.to_string()))
        .unwrap_or_else(|| panic!("no DEAD row for pid {pid_a}:\n{text}"));
    assert!(dead_row.contains("buffer "), "{dead_row}");
    assert!(
        text.contains(&format!("reader slot {slot_a} (pid {pid_a}) is DEAD")),
        "{text}"
    );
    assert!(text.contains("within 250 ms"), "{text}");
    let live_row = text
        .lines()
        .find(|l| {
            l.contains(&b.id().to_string()) && l.trim_start().starts_with(&slot_b.to_string())
        })
        .unwrap_or_else(|| panic!("no row for the live reader:\n{text}"));
    assert!(live_row.contains("alive"), "{live_row}");

    // The server's next frame after its reaping interval gives the dead reader's slot back.
    let t = Instant::now();
    wait_for("the server reaps the dead reader", || {
        n += 1;
        assert_ne!(
            server.put_frame(n, 64, 48, &pixels).unwrap(),
            PutOutcome::Unconnected
        );
        server.readers_reaped() == 1
    });
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    let text = inspect(&path);
    assert!(text.contains("1 attached, 0 dead"), "{text}");
    assert!(!text.contains("DEAD"), "{text}");

    // No server: said so, and a reader that dies now stays listed as dead.
    drop(server);
    let pid_b = b.id();
    b.kill().unwrap();
    b.wait().unwrap();
    let text = inspect(&path);
    assert!(text.contains("server    none running"), "{text}");
    assert!(text.contains("no server is alive"), "{text}");
    assert!(
        text.contains(&format!("reader slot {slot_b} (pid {pid_b}) is DEAD")),
        "{text}"
    );
    assert!(text.contains("the next server gives the slot"), "{text}");
}

#[test]
fn demo_with_readers_shows_every_viewer_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("demo.png");
    let o = Command::new(SHMIMG)
        .args([
            "demo",
            "--readers",
            "3",
            "--seconds",
            "2",
            "--size",
            "160x120",
        ])
        .args(["--fps", "100", "--out", png.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{stdout}\n{stderr}");
    // Live lines for every viewer.
    for i in 0..3 {
        assert!(stderr.contains(&format!("viewer {i}:")), "{stderr}");
    }
    let row = |label: &str| -> Vec<String> {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no row {label}:\n{stdout}"));
        line[label.len()..]
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    let header: Vec<String> = stdout
        .lines()
        .find(|l| l.contains("server") && l.contains("viewer 0"))
        .unwrap_or_else(|| panic!("no header:\n{stdout}"))
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    assert_eq!(
        header,
        ["server", "viewer 0", "viewer 1", "viewer 2"],
        "{stdout}"
    );
    // A column per viewer, each with frames, in order, from a slot of its own.
    let frames = row("frames");
    assert_eq!(frames.len(), 4, "{stdout}");
    assert!(
        frames.iter().all(|f| f.parse::<u64>().unwrap() > 0),
        "{stdout}"
    );
    assert_eq!(row("out of order"), ["0", "0", "0"], "{stdout}");
    let mut slots = row("reader slot");
    slots.sort();
    slots.dedup();
    assert_eq!(slots.len(), 3, "{stdout}");
    assert!(png.exists());
}
