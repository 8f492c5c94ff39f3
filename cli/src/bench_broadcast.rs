//! The broadcast section of `shmimg bench`: one server, 1, 2, 4 and 8 readers. Each figure is
//! printed beside its baseline from the same run:
//!
//! - putframe of a 4K frame against memcpy of the same bytes into the same mapping (and the
//!   two-buffer putframe), with the readers attached and locking every frame;
//! - lock+unlock of a ready frame per reader, against the two-buffer client's;
//! - the wake-up of the slowest reader (publish to "the last reader holds the frame") with the
//!   readers in separate processes waiting in lockwait, and their CPU while they wait, against
//!   one two-buffer client process measured by the same code.
//!
//! The reader processes are `shmimg bench-peer reader FILE SIZE lockwait SECONDS` ([`reader`]).

use std::collections::HashMap;
use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use shared_memory_image_client::{Client, PutOutcome, Server, ServerOptions};

use crate::bench::{median, ns_per_iter, spawn_peer, stream_file, table};
use crate::cli::BenchPeerArgs;
use crate::pattern::{monotonic_ns, read_stamp};
use crate::stats::{or_dash, Latency};
use crate::{describe, kill_now, Failure};

/// The reader counts of every table.
const READERS: [usize; 4] = [1, 2, 4, 8];

/// The frame number that tells reader processes the measurement is over.
const END_MARKER: u32 = u32::MAX;

/// Frames per second of the wake-up measurement.
const WAKE_RATE: f64 = 200.0;

/// Buffers of the broadcast streams: enough that the server never drops a frame while every
/// reader holds one.
fn buffers_for(readers: usize) -> u32 {
    (readers as u32 + 2).max(4)
}

fn broadcast_server(path: &Path, w: u32, h: u32, readers: usize) -> Result<Server, Failure> {
    Server::create_broadcast(path, w, h, buffers_for(readers), ServerOptions::default())
        .map_err(|e| describe(e, path))
}

fn attach_readers(path: &Path, n: usize) -> Result<Vec<Client>, Failure> {
    (0..n)
        .map(|_| Client::attach(path).map_err(|e| describe(e, path)))
        .collect()
}

/// Every reader locks the newest frame and unlocks it.
fn read_all(readers: &mut [Client]) -> Result<(), Failure> {
    for r in readers {
        drop(r.lock().map_err(|e| Failure::new(format!("bench: {e}")))?);
    }
    Ok(())
}

/// `pairs` putframes and `pairs` memcpys into a buffer the server took, in turn (the memcpy
/// first when `copy_first`): the nanoseconds of each pair. The memcpy'd frame is published too
/// (untimed), so that both walk through the buffers alike, and the readers lock every frame
/// (untimed).
fn put_and_copy(
    server: &mut Server,
    readers: &mut [Client],
    src: &[u8],
    (w, h): (u32, u32),
    pairs: u64,
    copy_first: bool,
) -> Result<Vec<(f64, f64)>, Failure> {
    let mut out = Vec::new();
    let mut pair = (0.0, 0.0);
    for i in 0..2 * pairs {
        let n = i as u32;
        if (i % 2 == 0) != copy_first {
            let t = Instant::now();
            let r = server.put_frame(n, w, h, black_box(src));
            pair.0 = t.elapsed().as_nanos() as f64;
            if r != Ok(PutOutcome::Delivered) {
                return Err(Failure::new(format!("bench: putframe gave {r:?}")));
            }
        } else {
            let Ok(Ok(mut wr)) = server.frame(w, h) else {
                return Err(Failure::new(
                    "bench: no free buffer for the memcpy baseline",
                ));
            };
            let t = Instant::now();
            wr.copy_from_slice(black_box(src));
            pair.1 = t.elapsed().as_nanos() as f64;
            wr.publish(n);
        }
        read_all(readers)?;
        if i % 2 == 1 {
            out.push(pair);
        }
    }
    Ok(out)
}

/// putframe ns, memcpy ns, and the ratio within each pair (which drift and bursts of competing
/// memory traffic affect least): medians over `reps` repetitions of 4 pairs, after a warm-up that
/// writes every buffer twice (the first write of each page of a fresh mapping takes a page
/// fault). Every other repetition starts with the memcpy, so that neither always lands in the
/// same buffers (with an even number of buffers, strict alternation would give each its own
/// half of them).
fn put_vs_copy(
    server: &mut Server,
    readers: &mut [Client],
    src: &[u8],
    size: (u32, u32),
    reps: usize,
) -> Result<(f64, f64, f64), Failure> {
    let buffers = server.kind().buffers() as u64;
    put_and_copy(server, readers, src, size, buffers, false)?;
    let mut pairs = Vec::new();
    for rep in 0..reps {
        pairs.extend(put_and_copy(server, readers, src, size, 4, rep % 2 == 1)?);
    }
    Ok((
        median(pairs.iter().map(|p| p.0).collect()),
        median(pairs.iter().map(|p| p.1).collect()),
        median(pairs.iter().map(|p| p.0 / p.1).collect()),
    ))
}

/// putframe of 4K frames against memcpy, for each reader count and for the two-buffer stream.
fn bench_putframe(dir: &Path, quick: bool) -> Result<(), Failure> {
    let (w, h) = (3840u32, 2160u32);
    let len = (w * h * 3) as usize;
    let src: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
    let reps = if quick { 7 } else { 15 };
    let mut rows = Vec::new();
    // The two-buffer stream first: its putframe against its memcpy.
    let path = stream_file(dir, "bput2.shm", w, h)?;
    let mut server = Server::create(&path).map_err(|e| describe(e, &path))?;
    let mut client = attach_readers(&path, 1)?;
    let (put2, copy2, ratio2) = put_vs_copy(&mut server, &mut client, &src, (w, h), reps)?;
    rows.push(vec![
        "two-buffer, 1 client (baseline)".into(),
        format!("{:.0}", copy2 / 1e3),
        format!("{:.0}", put2 / 1e3),
        format!("{ratio2:.3}"),
    ]);
    drop((client, server));
    let _ = std::fs::remove_file(&path);
    for n in READERS {
        let path = dir.join("bput.shm");
        let mut server = broadcast_server(&path, w, h, n)?;
        let mut readers = attach_readers(&path, n)?;
        let (put, copy, ratio) = put_vs_copy(&mut server, &mut readers, &src, (w, h), reps)?;
        rows.push(vec![
            format!(
                "broadcast, {n} reader{} ({} buffers)",
                if n == 1 { "" } else { "s" },
                buffers_for(n)
            ),
            format!("{:.0}", copy / 1e3),
            format!("{:.0}", put / 1e3),
            format!("{ratio:.3}"),
        ]);
        drop((readers, server));
        let _ = std::fs::remove_file(&path);
    }
    table(
        "broadcast putframe vs memcpy into the same mapping, 3840x2160 (medians per frame, and \
         of the ratio within each pair of frames; target: ratio at most 1.05)",
        &["stream", "memcpy us", "putframe us", "ratio"],
        &rows,
    );
    Ok(())
}

/// lock+unlock of a ready frame per reader, against the two-buffer client's; and the idle lock.
///
/// Each pass publishes a frame in place (begin/end, no pixels written) and lets every reader
/// lock and unlock it. The readers' share is the pass minus what the server's part costs alone:
/// on a broadcast stream, begin/end with the readers attached but not locking (exactly the
/// server's part); on a two-buffer stream, where the server cannot publish twice without the
/// client reading, begin/abandon (as the two-buffer table above does), which leaves the
/// publish's own few nanoseconds in the client's figure.
fn bench_lock(dir: &Path, quick: bool) -> Result<(), Failure> {
    let iters = if quick { 100_000 } else { 300_000 };
    let rounds = if quick { 7 } else { 15 };
    let (w, h) = (64u32, 64u32);
    // Rounds of the pass and of the server's part alone, taken in turn so that drift hits both
    // alike; the readers' share is the median of the differences within each round.
    let measure = |server: &mut Server, readers: &mut [Client]| -> (f64, f64, f64) {
        let two_buffer = server.kind() == shared_memory_image_client::StreamKind::TwoBuffer;
        let (mut shares, mut passes) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let pass = ns_per_iter(1, iters, |i| {
                let _ = server.begin_frame(w, h);
                let _ = server.end_frame(i as u32);
                for r in readers.iter_mut() {
                    let _ = black_box(r.lock_frame());
                    let _ = r.unlock_frame();
                }
            });
            let server_alone = ns_per_iter(1, iters, |i| {
                let _ = server.begin_frame(w, h);
                if two_buffer {
                    server.abandon_frame();
                } else {
                    let _ = server.end_frame(i as u32);
                }
            });
            shares.push((pass - server_alone).max(0.0) / readers.len() as f64);
            passes.push(pass);
        }
        // Take the last frame, so that each idle lock finds nothing new.
        for r in readers.iter_mut() {
            if let Ok(Some(_)) = r.lock_frame() {
                let _ = r.unlock_frame();
            }
        }
        let idle = ns_per_iter(rounds, iters * 5, |_| {
            black_box(readers[0].lock_frame().ok());
        });
        (median(shares), idle, median(passes))
    };
    let path = stream_file(dir, "block2.shm", w, h)?;
    let mut server = Server::create(&path).map_err(|e| describe(e, &path))?;
    let mut client = attach_readers(&path, 1)?;
    let (base, base_idle, base_handoff) = measure(&mut server, &mut client);
    drop((client, server));
    let _ = std::fs::remove_file(&path);
    let mut rows = vec![vec![
        "two-buffer, 1 client (baseline)".into(),
        format!("{base:.1}"),
        "1.00".into(),
        format!("{base_idle:.1}"),
        format!("{base_handoff:.1}"),
    ]];
    for n in READERS {
        let path = dir.join("block.shm");
        let mut server = broadcast_server(&path, w, h, n)?;
        let mut readers = attach_readers(&path, n)?;
        let (per_reader, idle, handoff) = measure(&mut server, &mut readers);
        rows.push(vec![
            format!("broadcast, {n} reader{}", if n == 1 { "" } else { "s" }),
            format!("{per_reader:.1}"),
            format!("{:.2}", per_reader / base),
            format!("{idle:.1}"),
            format!("{handoff:.1}"),
        ]);
        drop((readers, server));
        let _ = std::fs::remove_file(&path);
    }
    table(
        "broadcast lock+unlock of a ready frame, per reader (median ns; readers in one thread; \
         target: at most twice the two-buffer client's)",
        &[
            "stream",
            "lock+unlock ns",
            "x baseline",
            "idle lock ns",
            "begin+end+all locks ns",
        ],
        &rows,
    );
    Ok(())
}

/// What one reader process reported.
#[derive(Debug, Default)]
struct ReaderReport {
    /// Latency of each frame it got, by frame number.
    latency_ns: HashMap<u32, u64>,
    /// Its CPU time over the measurement, as a fraction of the wall time.
    cpu: f64,
}

fn parse_report(out: &[u8]) -> ReaderReport {
    let mut r = ReaderReport::default();
    let (mut cpu, mut wall) = (0u64, 0u64);
    for line in String::from_utf8_lossy(out).lines() {
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("lat"), Some(n), Some(ns)) => {
                if let (Ok(n), Ok(ns)) = (n.parse(), ns.parse()) {
                    r.latency_ns.insert(n, ns);
                }
            }
            (Some("cpu_ns"), Some(v), None) => cpu = v.parse().unwrap_or(0),
            (Some("wall_ns"), Some(v), None) => wall = v.parse().unwrap_or(0),
            _ => {}
        }
    }
    r.cpu = if wall > 0 {
        cpu as f64 / wall as f64
    } else {
        0.0
    };
    r
}

/// A stream of the wake-up measurement: its file, its server and its reader processes.
struct WakeStream {
    path: PathBuf,
    server: Server,
    readers: usize,
}

/// One wake-up run: reader processes on every stream, served at [`WAKE_RATE`] for `secs`. Each
/// tick stamps one time into a frame for every stream and publishes them in turn, so the
/// latency of a reader of the last stream includes the publishes before it. Returns the table
/// row.
fn wake_run(
    label: String,
    mut streams: Vec<WakeStream>,
    secs: f64,
) -> Result<Vec<String>, Failure> {
    let (w, h) = (64u32, 64u32);
    let mut children: Vec<Child> = Vec::new();
    for s in &streams {
        for _ in 0..s.readers {
            match spawn_peer(&[
                "reader".into(),
                s.path.display().to_string(),
                format!("{w}x{h}"),
                "lockwait".into(),
                (secs + 30.0).to_string(),
            ]) {
                Ok(c) => children.push(c),
                Err(e) => {
                    children.iter_mut().for_each(kill_now);
                    return Err(e);
                }
            }
        }
    }
    // Every reader says when it has attached (a Windows process may take a while to start).
    for i in 0..children.len() {
        let mut line = String::new();
        if let Some(out) = children[i].stdout.as_mut() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        if !line.starts_with("attached") {
            children.iter_mut().for_each(kill_now);
            return Err(Failure::new("bench: a reader process did not attach"));
        }
    }
    let src = vec![0x55u8; (w * h * 3) as usize];
    let publish = |server: &mut Server, n: u32, sent: u64| {
        if let Ok(Ok(mut wr)) = server.frame(w, h) {
            wr.copy_from_slice(&src);
            wr[..8].copy_from_slice(&sent.to_le_bytes());
            wr.publish(n);
        }
    };
    let wake_calls = |streams: &[WakeStream]| -> u64 {
        streams.iter().map(|s| s.server.wake_stats().calls).sum()
    };
    let wake0 = wake_calls(&streams);
    let start = Instant::now();
    let period = Duration::from_secs_f64(1.0 / WAKE_RATE);
    let mut n = 0u32;
    while start.elapsed().as_secs_f64() < secs {
        n += 1;
        let sent = monotonic_ns();
        for s in &mut streams {
            publish(&mut s.server, n, sent);
        }
        let due = start + period.mul_f64(f64::from(n));
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
    }
    let wake_calls = wake_calls(&streams) - wake0;
    for s in &mut streams {
        publish(&mut s.server, END_MARKER, monotonic_ns());
    }
    let mut reports = Vec::new();
    for c in children {
        let out = c
            .wait_with_output()
            .map_err(|e| Failure::new(format!("bench: {e}")))?;
        reports.push(parse_report(&out.stdout));
    }
    for s in streams {
        drop(s.server);
        let _ = std::fs::remove_file(&s.path);
    }
    // The slowest reader of each frame that every reader got.
    let mut slowest = Latency::default();
    for f in 1..=n {
        let all: Option<Vec<u64>> = reports
            .iter()
            .map(|r| r.latency_ns.get(&f).copied())
            .collect();
        if let Some(v) = all {
            slowest.record(v.into_iter().max().unwrap_or(0));
        }
    }
    let each_p50: Vec<f64> = reports
        .iter()
        .map(|r| {
            let mut l = Latency::default();
            r.latency_ns.values().for_each(|&ns| l.record(ns));
            l.quantile_us(0.5).unwrap_or(0) as f64
        })
        .collect();
    let cpu_max = reports.iter().map(|r| r.cpu).fold(0.0, f64::max);
    Ok(vec![
        label,
        n.to_string(),
        slowest.count().to_string(),
        or_dash(slowest.quantile_us(0.5)),
        or_dash(slowest.quantile_us(0.99)),
        if each_p50.is_empty() {
            "-".into()
        } else {
            format!("{:.0}", median(each_p50))
        },
        format!("{:.2}", cpu_max * 100.0),
        format!("{:.2}", wake_calls as f64 / f64::from(n.max(1))),
    ])
}

/// Wake-up of the slowest reader and reader CPU, readers in separate processes: for each
/// reader count, first the way to reach that many readers without broadcast (as many two-buffer
/// streams, one client each, published one after the other), then one broadcast stream.
fn bench_wake(dir: &Path, quick: bool) -> Result<(), Failure> {
    let secs = if quick { 1.0 } else { 2.5 };
    let (w, h) = (64u32, 64u32);
    let mut rows = Vec::new();
    for n in READERS {
        let mut streams = Vec::new();
        for i in 0..n {
            let path = stream_file(dir, &format!("bwake2-{i}.shm"), w, h)?;
            let server = Server::create(&path).map_err(|e| describe(e, &path))?;
            streams.push(WakeStream {
                path,
                server,
                readers: 1,
            });
        }
        rows.push(wake_run(
            format!(
                "{n} two-buffer stream{}, 1 client each (baseline)",
                if n == 1 { "" } else { "s" }
            ),
            streams,
            secs,
        )?);
        let path: PathBuf = dir.join("bwake.shm");
        let server = broadcast_server(&path, w, h, n)?;
        rows.push(wake_run(
            format!("broadcast, {n} reader{}", if n == 1 { "" } else { "s" }),
            vec![WakeStream {
                path,
                server,
                readers: n,
            }],
            secs,
        )?);
    }
    table(
        &format!(
            "lockwait wake-up, publish -> the slowest reader holds the frame (64x64 at {WAKE_RATE} \
             Hz, readers in separate processes; target: p50 at most 30 us with 8 readers)"
        ),
        &[
            "stream",
            "frames",
            "got by all",
            "slowest p50 us",
            "slowest p99 us",
            "median reader p50 us",
            "reader CPU % (max)",
            "wake calls/frame",
        ],
        &rows,
    );
    Ok(())
}

/// Runs the broadcast section.
pub fn run(dir: &Path, quick: bool) -> Result<(), Failure> {
    bench_putframe(dir, quick)?;
    bench_lock(dir, quick)?;
    bench_wake(dir, quick)
}

/// A reader process of the wake-up benchmark: attaches (and says so), waits for frames with
/// lockwait until the end marker, then prints its CPU and wall time over the measurement and
/// the latency of every frame (`lat NUMBER NS`).
pub fn reader(a: BenchPeerArgs) -> Result<(), Failure> {
    let mut client = Client::attach(&a.file).map_err(|e| describe(e, &a.file))?;
    println!("attached");
    let _ = std::io::stdout().flush();
    let limit = Instant::now() + Duration::from_secs_f64(a.seconds);
    let mut seen: Vec<(u32, u64)> = Vec::with_capacity(4096);
    let mut window: Option<(Duration, Instant)> = None;
    let mut end = None;
    while Instant::now() < limit {
        let left = limit.saturating_duration_since(Instant::now());
        let Some(frame) = client
            .lock_timeout(left)
            .map_err(|e| describe(e, &a.file))?
        else {
            continue;
        };
        let now = monotonic_ns();
        let n = frame.frame_number();
        let sent = read_stamp(&frame);
        drop(frame);
        if n == END_MARKER {
            end = Some((crate::sys::thread_cpu(), Instant::now()));
            break;
        }
        // The measurement window starts at the first frame (the process has started by then).
        window.get_or_insert_with(|| (crate::sys::thread_cpu(), Instant::now()));
        if let Some(sent) = sent {
            seen.push((n, now.saturating_sub(sent)));
        }
    }
    drop(client);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if let (Some((cpu0, t0)), Some((cpu1, t1))) = (window, end) {
        let _ = writeln!(out, "cpu_ns {}", (cpu1 - cpu0).as_nanos());
        let _ = writeln!(out, "wall_ns {}", (t1 - t0).as_nanos());
    }
    for (n, ns) in seen {
        let _ = writeln!(out, "lat {n} {ns}");
    }
    let _ = out.flush();
    Ok(())
}
