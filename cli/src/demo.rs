//! `shmimg demo`: a server process and a client process on a fresh file, live statistics while
//! they run, then a summary table and the last frame as a PNG.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Stdio};

use shared_memory_image_client::create_file;

use crate::cli::DemoArgs;
use crate::scratch::Scratch;
use crate::{describe, Failure};

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
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
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
    let len = create_file(&path, a.size.width, a.size.height).map_err(|e| describe(e, &path))?;
    let p = path.display().to_string();
    let secs = format!("{}", a.seconds);
    eprintln!(
        "shmimg demo: {} frames at {} fps for {secs} s through {p} ({:.1} MiB)",
        a.size,
        if a.fps > 0.0 {
            a.fps.to_string()
        } else {
            "max".into()
        },
        len as f64 / 1048576.0
    );
    // The server first (it initialises the file), then the client, which attaches fresh.
    let server = spawn(
        &[
            "serve".into(),
            p.clone(),
            "--size".into(),
            a.size.to_string(),
            "--fps".into(),
            a.fps.to_string(),
            "--seconds".into(),
            secs.clone(),
            "--machine".into(),
            "--quiet".into(),
        ],
        false,
    )?;
    std::thread::sleep(std::time::Duration::from_millis(50));
    let out = a.out.display().to_string();
    let client = spawn(
        &[
            "watch".into(),
            p.clone(),
            "--seconds".into(),
            secs,
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
    let get =
        |m: &HashMap<String, String>, k: &str| m.get(k).cloned().unwrap_or_else(|| "-".into());
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
