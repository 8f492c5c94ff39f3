//! `shmimg demo`: a server process and a client process on a fresh file, live statistics while
//! they run, then a summary table and the last frame as a PNG. With `--readers N`: a broadcast
//! stream, one server process and N viewer processes (`shmimg watch`), their statistics side by
//! side, live and in the summary table.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shared_memory_image_client::broadcast::BroadcastStatus;
use shared_memory_image_client::create_file;

use crate::cli::DemoArgs;
use crate::scratch::Scratch;
use crate::stats::Ticker;
use crate::{describe, kill_now, Failure};

fn spawn(args: &[String], live: bool) -> Result<Child, Failure> {
    let stderr = if live {
        Stdio::inherit()
    } else {
        Stdio::piped()
    };
    crate::spawn_self(args, stderr)
}

fn collect(child: Child, role: &str) -> Result<HashMap<String, String>, Failure> {
    let out = child
        .wait_with_output()
        .map_err(|e| Failure::new(format!("{role} process: {e}")))?;
    if !out.status.success() {
        return Err(Failure::new(format!(
            "the {role} process failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(key_values(&String::from_utf8_lossy(&out.stdout)))
}

/// The `key=value` pairs of a summary.
fn key_values(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The key's value in a process's `key=value` summary, `-` if it has none.
fn get(summary: &HashMap<String, String>, key: &str) -> String {
    summary.get(key).cloned().unwrap_or_else(|| "-".into())
}

/// What both demos derive alike from their arguments.
struct Setup {
    /// The stream file.
    path: PathBuf,
    /// The stream file as an argument of the other processes.
    p: String,
    /// The run length in seconds as an argument of the other processes.
    secs: String,
    /// The frame rate as the opening line gives it: the number, or `max` for no limit.
    rate: String,
    /// Where the last frame goes, as an argument of the (first) viewer.
    out: String,
}

impl Setup {
    /// The arguments of the server process: `serve` at the demo's size, rate and length, on a
    /// broadcast stream of `broadcast` buffers if given.
    fn serve_args(&self, a: &DemoArgs, broadcast: Option<u32>) -> Vec<String> {
        let mut args = vec!["serve".to_string(), self.p.clone()];
        if let Some(buffers) = broadcast {
            args.extend(["--broadcast".into(), buffers.to_string()]);
        }
        args.extend([
            "--size".into(),
            a.size.to_string(),
            "--fps".into(),
            a.fps.to_string(),
            "--seconds".into(),
            self.secs.clone(),
            "--machine".into(),
            "--quiet".into(),
        ]);
        args
    }
}

/// Runs the demo.
pub fn run(a: DemoArgs) -> Result<(), Failure> {
    // Without --file the demo streams through a scratch file, removed when the demo ends (a
    // file given with --file is left alone: the scratch path is then never created).
    let scratch = Scratch::new("shmimg-demo", ".shm");
    let path: PathBuf = a
        .file
        .clone()
        .unwrap_or_else(|| scratch.path().to_path_buf());
    let setup = Setup {
        p: path.display().to_string(),
        path,
        secs: format!("{}", a.seconds),
        rate: if a.fps > 0.0 {
            a.fps.to_string()
        } else {
            "max".into()
        },
        out: a.out.display().to_string(),
    };
    match a.readers {
        Some(readers) => run_broadcast(&a, &setup, readers as usize),
        None => run_two_buffer(&a, &setup),
    }
}

/// The demo on a two-buffer stream: one server process, one client process.
fn run_two_buffer(a: &DemoArgs, setup: &Setup) -> Result<(), Failure> {
    let Setup {
        path,
        p,
        secs,
        rate,
        out,
    } = setup;
    let len = create_file(path, a.size.width, a.size.height).map_err(|e| describe(e, path))?;
    eprintln!(
        "shmimg demo: {} frames at {rate} fps for {secs} s through {p} ({:.1} MiB)",
        a.size,
        len as f64 / 1048576.0
    );
    // The server first (it initialises the file), then the client, which attaches fresh.
    let server = spawn(&setup.serve_args(a, None), false)?;
    std::thread::sleep(std::time::Duration::from_millis(50));
    let client = spawn(
        &[
            "watch".into(),
            p.clone(),
            "--seconds".into(),
            secs.clone(),
            "--snapshot".into(),
            out.clone(),
            "--machine".into(),
        ],
        true,
    );
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            let _ = collect(server, "server");
            return Err(e);
        }
    };
    // The client's live statistics go straight to our stderr while both run.
    let c = collect(client, "client");
    let s = collect(server, "server");
    let (s, c) = (s?, c?);
    println!();
    println!("{:<28} {:>14} {:>14}", "", "server", "client");
    let rows: [(&str, String, String); 8] = [
        ("frames", get(&s, "frames_sent"), get(&c, "frames_received")),
        (
            "delivered / received fps",
            get(&s, "delivered_fps"),
            get(&c, "fps"),
        ),
        (
            "dropped: no free buffer",
            get(&s, "dropped_no_buffer"),
            "".into(),
        ),
        ("dropped: no client yet", get(&s, "unconnected"), "".into()),
        (
            "missed (frame number gaps)",
            "".into(),
            get(&c, "frames_missed"),
        ),
        ("out of order", "".into(), get(&c, "out_of_order")),
        (
            "latency p50/p99 (us, incl. copy)",
            "".into(),
            format!(
                "{} / {}",
                get(&c, "latency_p50_us"),
                get(&c, "latency_p99_us")
            ),
        ),
        ("throughput (MB/s)", get(&s, "throughput_mb_s"), "".into()),
    ];
    for (k, sv, cv) in rows {
        println!("{k:<28} {sv:>14} {cv:>14}");
    }
    println!();
    println!("last frame ({}) written to {out}", get(&c, "size"));
    Ok(())
}

/// What one viewer process reported: its latest progress line and, once it ended, its summary.
#[derive(Debug, Default, Clone)]
struct Viewer {
    progress: HashMap<String, String>,
    summary: HashMap<String, String>,
}

/// Reads a viewer's stdout: `progress k=v ...` lines while it runs, `k=v` lines at the end.
fn follow(stdout: std::process::ChildStdout, into: Arc<Mutex<Vec<Viewer>>>, i: usize) {
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        let mut all = into.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rest) = line.strip_prefix("progress ") {
            all[i].progress = rest
                .split_whitespace()
                .filter_map(|w| w.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        } else if let Some((k, v)) = line.split_once('=') {
            all[i].summary.insert(k.to_string(), v.to_string());
        }
    }
}

/// Waits until a broadcast server has laid `path` out (its process may take a moment to start).
fn wait_for_layout(path: &Path, server: &mut Child) -> Result<(), Failure> {
    let start = Instant::now();
    loop {
        if matches!(BroadcastStatus::read(path), Ok(Some(_))) {
            return Ok(());
        }
        if let Ok(Some(status)) = server.try_wait() {
            return Err(Failure::new(format!(
                "the server process ended before serving ({status})"
            )));
        }
        if start.elapsed() > Duration::from_secs(30) {
            return Err(Failure::new("the server process never laid the file out"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The demo on a broadcast stream: one server process, `n` viewer processes.
fn run_broadcast(a: &DemoArgs, setup: &Setup, n: usize) -> Result<(), Failure> {
    let Setup {
        path,
        p,
        secs,
        rate,
        out,
    } = setup;
    // Two buffers beyond one per viewer: the server always finds a free one.
    let buffers = (n as u32 + 2).clamp(3, 64);
    eprintln!(
        "shmimg demo: a broadcast stream of {} frames at {rate} fps for {secs} s to {n} viewer \
         processes through {p} ({buffers} buffers)",
        a.size,
    );
    let mut server = spawn(&setup.serve_args(a, Some(buffers)), false)?;
    let mut viewers: Vec<Child> = Vec::new();
    let started = wait_for_layout(path, &mut server).and_then(|()| {
        for i in 0..n {
            let mut args = vec![
                "watch".to_string(),
                p.clone(),
                "--seconds".into(),
                secs.clone(),
                "--machine".into(),
                "--quiet".into(),
                "--progress".into(),
            ];
            if i == 0 {
                args.extend(["--snapshot".to_string(), out.clone()]);
            }
            viewers.push(spawn(&args, false)?);
        }
        Ok(())
    });
    if let Err(e) = started {
        viewers
            .iter_mut()
            .chain(std::iter::once(&mut server))
            .for_each(kill_now);
        return Err(e);
    }
    let state = Arc::new(Mutex::new(vec![Viewer::default(); n]));
    let readers: Vec<_> = viewers
        .iter_mut()
        .enumerate()
        .filter_map(|(i, c)| {
            let stdout = c.stdout.take()?;
            let state = Arc::clone(&state);
            Some(std::thread::spawn(move || follow(stdout, state, i)))
        })
        .collect();
    // Live statistics, a line per viewer, while they run.
    let tty = std::io::stderr().is_terminal();
    let mut ticker = Ticker::every(true, Duration::from_millis(if tty { 500 } else { 1000 }));
    let mut drawn = 0;
    while readers.iter().any(|t| !t.is_finished()) {
        std::thread::sleep(Duration::from_millis(100));
        ticker.due(|| {
            let snapshot = state.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let mut err = std::io::stderr().lock();
            if tty && drawn > 0 {
                // Back to the first line of the previous block, to draw over it.
                let _ = write!(err, "\x1b[{drawn}A");
            }
            for (i, v) in snapshot.iter().enumerate() {
                let g = |k: &str| v.progress.get(k).map_or("-", String::as_str);
                let _ = writeln!(
                    err,
                    "{}viewer {i}: {:>6} frames  {:>6} fps  {:>4} missed  {} out of order  latency \
                     p50 {} us  p99 {} us",
                    if tty { "\x1b[2K" } else { "" },
                    g("frames"),
                    g("fps"),
                    g("missed"),
                    g("out_of_order"),
                    g("p50_us"),
                    g("p99_us"),
                );
            }
            drawn = snapshot.len();
            let _ = err.flush();
        });
    }
    for t in readers {
        let _ = t.join();
    }
    // The viewers' exit status and errors, then the server's summary.
    let mut failures = Vec::new();
    for (i, c) in viewers.into_iter().enumerate() {
        match c.wait_with_output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => failures.push(format!(
                "viewer {i} failed ({}): {}",
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => failures.push(format!("viewer {i}: {e}")),
        }
    }
    let s = collect(server, "server")?;
    if !failures.is_empty() {
        return Err(Failure::new(failures.join("; ")));
    }
    let viewers: Vec<HashMap<String, String>> = state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|v| v.summary.clone())
        .collect();
    let mut header = vec![String::new(), "server".to_string()];
    header.extend((0..n).map(|i| format!("viewer {i}")));
    // (row label, the server's cell, the key of each viewer's cell)
    let rows: [(&str, String, Option<&str>); 10] = [
        ("reader slot", "".into(), Some("reader_slot")),
        ("frames", get(&s, "frames_sent"), Some("frames_received")),
        (
            "delivered / received fps",
            get(&s, "delivered_fps"),
            Some("fps"),
        ),
        (
            "dropped: no free buffer",
            get(&s, "dropped_no_buffer"),
            None,
        ),
        ("dropped: no reader yet", get(&s, "unconnected"), None),
        (
            "missed (frame number gaps)",
            "".into(),
            Some("frames_missed"),
        ),
        ("out of order", "".into(), Some("out_of_order")),
        (
            "latency p50 (us, incl. copy)",
            "".into(),
            Some("latency_p50_us"),
        ),
        (
            "latency p99 (us, incl. copy)",
            "".into(),
            Some("latency_p99_us"),
        ),
        ("throughput (MB/s)", get(&s, "throughput_mb_s"), None),
    ];
    let mut table: Vec<Vec<String>> = vec![header];
    for (label, server_cell, key) in rows {
        let mut row = vec![label.to_string(), server_cell];
        row.extend(
            viewers
                .iter()
                .map(|v| key.map_or(String::new(), |k| get(v, k))),
        );
        table.push(row);
    }
    let widths: Vec<usize> = (0..table[0].len())
        .map(|c| table.iter().map(|r| r[c].len()).max().unwrap_or(0).max(8))
        .collect();
    println!();
    for row in &table {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, &w))| {
                if c == 0 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
    println!();
    println!(
        "readers reaped by the server: {}; wake-up calls: {} (one per frame that found a reader \
         waiting, however many)",
        get(&s, "readers_reaped"),
        get(&s, "wake_calls")
    );
    println!(
        "last frame of viewer 0 ({}) written to {out}",
        get(&viewers[0], "size")
    );
    Ok(())
}
