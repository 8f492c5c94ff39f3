//! `shmimg bench`: the performance suite. Every figure is printed beside its baseline, measured
//! in the same run: putframe against memcpy into the same mapping, idle lock against an
//! uncontended mutex, lockwait against a spinning lock loop, copy against zero-copy frames.
//! Cross-process parts run the server side in a child process (`shmimg bench-peer`). The
//! broadcast section is in [`crate::bench_broadcast`].

use std::ffi::CString;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use shared_memory_image_client::ffi::*;
use shared_memory_image_client::{create_file, Client, PutOutcome, Server, ServerOptions};

use crate::cli::{BenchArgs, BenchPeerArgs, PeerMode};
use crate::pattern::{monotonic_ns, read_stamp, stamp};
use crate::scratch::Scratch;
use crate::stats::{or_dash, Latency};
use crate::{describe, Failure};

/// Median of a list of samples.
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs `f` over `iters` iterations `rounds` times; median nanoseconds per iteration.
pub(crate) fn ns_per_iter(rounds: usize, iters: u64, mut f: impl FnMut(u64)) -> f64 {
    f(0); // warm-up
    median(
        (0..rounds)
            .map(|_| {
                let t = Instant::now();
                for i in 0..iters {
                    f(i);
                }
                t.elapsed().as_nanos() as f64 / iters as f64
            })
            .collect(),
    )
}

/// Creates (or grows) `dir/name` for frames up to `w` x `h`.
pub(crate) fn stream_file(dir: &Path, name: &str, w: u32, h: u32) -> Result<PathBuf, Failure> {
    let p = dir.join(name);
    create_file(&p, w, h).map_err(|e| describe(e, &p))?;
    Ok(p)
}

/// Prints a titled table, the first column left-aligned and the others right-aligned.
pub(crate) fn table(title: &str, header: &[&str], rows: &[Vec<String>]) {
    println!("\n{title}");
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len())
                .chain(std::iter::once(header[c].len()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 0 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect();
        println!("  {}", parts.join("  "));
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

/// putframe (and FLIPVERTICAL putframe) against memcpy of the same bytes into the same mapping.
/// The three are interleaved in every repetition so that drift hits them alike.
fn bench_putframe(dir: &Path, quick: bool) -> Result<(), Failure> {
    let mut rows = Vec::new();
    for (w, h) in [(640u32, 480u32), (1920, 1080), (3840, 2160)] {
        let len = (w * h * 3) as usize;
        let src: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        let mut pairs = Vec::new();
        for (name, flip) in [("put.shm", false), ("flip.shm", true)] {
            let path = stream_file(dir, name, w, h)?;
            let server = Server::with_options(
                &path,
                ServerOptions {
                    flip_vertical: flip,
                },
            )
            .map_err(|e| describe(e, &path))?;
            let client = Client::attach(&path).map_err(|e| describe(e, &path))?;
            pairs.push((server, client));
        }
        let reps = if quick { 5 } else { 11 };
        let iters = (100_000_000 / len as u64).clamp(4, 1000) / if quick { 3 } else { 1 };
        let mut samples: [Vec<f64>; 3] = Default::default();
        for _ in 0..reps {
            for (k, (server, client)) in pairs.iter_mut().enumerate() {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    let t = Instant::now();
                    let r = server.put_frame(i as u32, w, h, black_box(&src));
                    total += t.elapsed();
                    if r != Ok(PutOutcome::Delivered) {
                        return Err(Failure::new(format!("bench: putframe gave {r:?}")));
                    }
                    drop(client.lock().map_err(|e| Failure::new(e.to_string()))?);
                }
                samples[k].push(total.as_nanos() as f64 / iters as f64);
            }
            // Baseline: memcpy into the payload a put would fill (taken and given back unpublished).
            let server = &mut pairs[0].0;
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let Ok(Ok(mut wr)) = server.frame(w, h) else {
                    return Err(Failure::new(
                        "bench: no free buffer for the memcpy baseline",
                    ));
                };
                let t = Instant::now();
                wr.copy_from_slice(black_box(&src));
                total += t.elapsed();
            }
            samples[2].push(total.as_nanos() as f64 / iters as f64);
        }
        let [put, flip, copy] = samples.map(median);
        rows.push(vec![
            format!("{w}x{h}"),
            format!("{:.1}", len as f64 / 1e6),
            format!("{:.1}", copy / 1e3),
            format!("{:.1}", put / 1e3),
            format!("{:.2}", put / copy),
            format!("{:.1}", flip / 1e3),
            format!("{:.2}", flip / copy),
            format!("{:.1}", len as f64 / put),
        ]);
    }
    table(
        "putframe vs memcpy into the same mapping (median per frame)",
        &[
            "frame",
            "MB",
            "memcpy us",
            "putframe us",
            "ratio",
            "flipped us",
            "ratio",
            "GB/s",
        ],
        &rows,
    );
    Ok(())
}

/// Idle lock and lock+unlock through the C API, against an uncontended mutex.
fn bench_lock(dir: &Path, quick: bool) -> Result<(), Failure> {
    let path = stream_file(dir, "lock.shm", 3840, 2160)?;
    let c = CString::new(path.to_str().unwrap_or_default()).unwrap_or_default();
    let mut server: SharedMemoryImageStream = std::ptr::null_mut();
    let mut client: SharedMemoryImageStream = std::ptr::null_mut();
    // SAFETY: valid C string and out-pointers; the handles are destroyed below.
    unsafe {
        SharedMemoryImageStream_create(c.as_ptr(), IMAGESTREAM_OPTIONS_SERVER, &mut server);
        SharedMemoryImageStream_create(c.as_ptr(), IMAGESTREAM_OPTIONS_NONE, &mut client);
    }
    let iters = if quick { 1_000_000 } else { 5_000_000 };
    let rounds = if quick { 5 } else { 9 };
    let mut frame: SharedMemoryFrame = std::ptr::null_mut();
    let mutex = Mutex::new(0u64);
    let baseline = ns_per_iter(rounds, iters, |i| {
        *black_box(&mutex).lock().unwrap() += i;
    });
    // SAFETY (all closures below): valid handles and out-pointers.
    let idle = ns_per_iter(rounds, iters, |_| unsafe {
        black_box(SharedMemoryImageStream_lock(black_box(client), &mut frame));
    });
    let mut rust_client = Client::attach(&path).map_err(|e| describe(e, &path))?;
    let idle_rust = ns_per_iter(rounds, iters, |_| {
        black_box(rust_client.lock_frame().ok());
    });
    drop(rust_client);
    // A frame ready each time: begin/end (no pixels written), then lock+unlock.
    let cycle_iters = iters / 5;
    let mut wframe: SharedMemoryFrame = std::ptr::null_mut();
    // SAFETY: valid handles and out-pointers; the frames are not dereferenced.
    let handoff = ns_per_iter(rounds, cycle_iters, |i| unsafe {
        SharedMemoryImageStream_beginframe(server, 3840, 2160, &mut wframe);
        SharedMemoryImageStream_endframe(server, i as u32);
        SharedMemoryImageStream_lock(client, &mut frame);
        SharedMemoryImageStream_unlock(client);
    });
    // beginframe+abortframe costs what beginframe+endframe does minus the publish; the rest of
    // the handoff is the client's lock+unlock of a ready frame.
    // SAFETY: as above.
    let begin_abort = ns_per_iter(rounds, cycle_iters, |_| unsafe {
        SharedMemoryImageStream_beginframe(server, 3840, 2160, &mut wframe);
        SharedMemoryImageStream_abortframe(server);
    });
    // SAFETY: handles from create above.
    unsafe {
        SharedMemoryImageStream_destroy(client);
        SharedMemoryImageStream_destroy(server);
    }
    let row = |name: &str, v: f64| {
        vec![
            name.to_string(),
            format!("{v:.1}"),
            format!("{baseline:.1}"),
        ]
    };
    table(
        "lock paths (median ns per call; baseline: lock+unlock of an uncontended std Mutex)",
        &["operation", "ns", "baseline ns"],
        &[
            row("idle lock, C API (nothing new)", idle),
            row("idle lock, Rust API", idle_rust),
            row(
                "lock+unlock of a ready frame (handoff - begin/abort)",
                (handoff - begin_abort).max(0.0),
            ),
            row(
                "4K zero-copy handoff: beginframe+endframe+lock+unlock",
                handoff,
            ),
            row("beginframe+abortframe", begin_abort),
        ],
    );
    Ok(())
}

/// Starts `shmimg bench-peer ARGS...` (stdout piped, stderr inherited).
pub(crate) fn spawn_peer(args: &[String]) -> Result<std::process::Child, Failure> {
    crate::spawn_self(
        std::iter::once("bench-peer").chain(args.iter().map(String::as_str)),
        Stdio::inherit(),
    )
}

/// Cross-process latency and client CPU, lockwait against a spinning lock loop.
fn bench_latency(dir: &Path, quick: bool) -> Result<(), Failure> {
    let mut rows = Vec::new();
    let secs = if quick { 1.0 } else { 2.5 };
    for (w, h, rate) in [
        (64u32, 64u32, 1000u32),
        (64, 64, 200),
        (1920, 1080, 200),
        (1920, 1080, 1000),
    ] {
        let path = stream_file(dir, "lat.shm", w, h)?;
        for spin in [false, true] {
            let mut client = Client::attach(&path).map_err(|e| describe(e, &path))?;
            let peer = spawn_peer(&[
                "latency".into(),
                path.display().to_string(),
                format!("{w}x{h}"),
                rate.to_string(),
                secs.to_string(),
            ])?;
            let mut lat = Latency::default();
            let mut frames = 0u64;
            // Wait for the peer's first frame before measuring CPU.
            let _ = client.lock_timeout(Duration::from_secs(5));
            let cpu0 = crate::sys::thread_cpu();
            let t0 = Instant::now();
            let end = t0 + Duration::from_secs_f64(secs - 0.2);
            while Instant::now() < end {
                let got = if spin {
                    client.lock().map_err(|e| describe(e, &path))?
                } else {
                    client
                        .lock_timeout(end.saturating_duration_since(Instant::now()))
                        .map_err(|e| describe(e, &path))?
                };
                if let Some(f) = got {
                    let now = monotonic_ns();
                    if let Some(sent) = read_stamp(&f) {
                        lat.record(now.saturating_sub(sent));
                    }
                    frames += 1;
                } else if spin {
                    std::hint::spin_loop();
                }
            }
            let cpu = (crate::sys::thread_cpu() - cpu0).as_secs_f64() / t0.elapsed().as_secs_f64();
            drop(client);
            let _ = peer.wait_with_output();
            rows.push(vec![
                format!("{w}x{h} @ {rate} Hz"),
                if spin {
                    "spinning lock loop".into()
                } else {
                    "lockwait".into()
                },
                frames.to_string(),
                or_dash(lat.quantile_us(0.5)),
                or_dash(lat.quantile_us(0.99)),
                format!("{:.1}", cpu * 100.0),
            ]);
        }
    }
    table(
        "cross-process delivery latency (publish -> client holds the frame) and client CPU",
        &[
            "stream",
            "client",
            "frames",
            "p50 us",
            "p99 us",
            "client CPU %",
        ],
        &rows,
    );
    Ok(())
}

/// Sustained 4K frames per second between two processes, copy against zero copy.
fn bench_throughput(dir: &Path, quick: bool) -> Result<(), Failure> {
    let (w, h) = (3840u32, 2160u32);
    let path = stream_file(dir, "tput.shm", w, h)?;
    let secs = if quick { 1.5 } else { 3.0 };
    let mut rows = Vec::new();
    for mode in ["copy", "zerocopy"] {
        let mut client = Client::attach(&path).map_err(|e| describe(e, &path))?;
        let peer = spawn_peer(&[
            "throughput".into(),
            path.display().to_string(),
            format!("{w}x{h}"),
            mode.into(),
            secs.to_string(),
        ])?;
        let _ = client.lock_timeout(Duration::from_secs(5));
        let t0 = Instant::now();
        let mut frames = 0u64;
        while t0.elapsed() < Duration::from_secs_f64(secs - 0.3) {
            if client
                .lock_timeout(Duration::from_millis(100))
                .map_err(|e| describe(e, &path))?
                .is_some()
            {
                frames += 1;
            }
        }
        let fps = frames as f64 / t0.elapsed().as_secs_f64();
        drop(client);
        let out = peer
            .wait_with_output()
            .map_err(|e| Failure::new(format!("bench: {e}")))?;
        let served = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let delivered = served.split('/').nth(1).unwrap_or("-").to_string();
        rows.push(if mode == "copy" {
            vec![
                "putframe (copies 24.9 MB)".into(),
                format!("{fps:.0}"),
                format!("{:.1}", fps * (w * h * 3) as f64 / 1e9),
                delivered,
            ]
        } else {
            vec![
                "beginframe/endframe (writes nothing)".into(),
                format!("{fps:.0}"),
                "handoff only".into(),
                delivered,
            ]
        });
    }
    table(
        "sustained 3840x2160 frames between two processes (client locks and unlocks each frame)",
        &[
            "server side",
            "frames/s received",
            "GB/s copied",
            "frames delivered",
        ],
        &rows,
    );
    Ok(())
}

/// Runs the suite.
pub fn run(a: BenchArgs) -> Result<(), Failure> {
    let scratch = Scratch::new("shmimg-bench", "");
    let dir = scratch.path().to_path_buf();
    std::fs::create_dir_all(&dir).map_err(|e| Failure::new(format!("bench: {e}")))?;
    let t = Instant::now();
    println!(
        "shmimg bench{} on {} cores ({})",
        if a.quick { " --quick" } else { "" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(
                |s| s.lines().find(|l| l.starts_with("model name")).map(|l| l
                    .split(':')
                    .nth(1)
                    .unwrap_or("")
                    .trim()
                    .to_string())
            )
            .unwrap_or_else(|| "unknown CPU".into())
    );
    if !a.broadcast {
        bench_putframe(&dir, a.quick)?;
        bench_lock(&dir, a.quick)?;
        bench_latency(&dir, a.quick)?;
        bench_throughput(&dir, a.quick)?;
    }
    crate::bench_broadcast::run(&dir, a.quick)?;
    println!("\n(total {:.1} s)", t.elapsed().as_secs_f64());
    Ok(())
}

/// The other side of the cross-process benchmarks: a server, or a broadcast reader.
pub fn peer(a: BenchPeerArgs) -> Result<(), Failure> {
    if let PeerMode::Reader = a.mode {
        return crate::bench_broadcast::reader(a);
    }
    let mut server = Server::create(&a.file).map_err(|e| describe(e, &a.file))?;
    let (w, h) = (a.size.width, a.size.height);
    let len = (w * h * 3) as usize;
    let src: Vec<u8> = (0..len).map(|i| (i * 13) as u8).collect();
    let start = Instant::now();
    let limit = Duration::from_secs_f64(a.seconds);
    let (mut offered, mut delivered) = (0u64, 0u64);
    let mut n = 0u32;
    while start.elapsed() < limit {
        n = n.wrapping_add(1);
        offered += 1;
        match a.mode {
            PeerMode::Latency { rate } => {
                // Fill the frame in place, stamp it last, publish: latency is publish -> lock.
                if let Ok(Ok(mut wr)) = server.frame(w, h) {
                    wr.copy_from_slice(&src);
                    stamp(&mut wr);
                    if wr.publish(n) == PutOutcome::Delivered {
                        delivered += 1;
                    }
                }
                let due = start + Duration::from_secs_f64(offered as f64 / f64::from(rate));
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
            }
            PeerMode::Copy => {
                if server.put_frame(n, w, h, &src) == Ok(PutOutcome::Delivered) {
                    delivered += 1;
                }
            }
            PeerMode::ZeroCopy => {
                if let Ok(Ok(wr)) = server.frame(w, h) {
                    if wr.publish(n) == PutOutcome::Delivered {
                        delivered += 1;
                    }
                }
            }
            PeerMode::Reader => unreachable!("handled above"),
        }
    }
    println!("{offered}/{delivered}");
    Ok(())
}
