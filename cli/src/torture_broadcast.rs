//! `shmimg torture --broadcast`: a broadcast stream under fire. A server process publishes frames
//! of varying size whose content derives from the frame number, as fast as it can; several
//! reader processes check every byte of every frame they get and the order of the frames; and
//! this process kills readers (SIGKILL on Unix, TerminateProcess on Windows) at random moments,
//! every other one while it holds a frame, and starts new ones in their place.
//!
//! For every kill it measures the time the server takes to give the dead reader's slot and
//! holds back (from the kill to the moment the server reaps the slot, as the server reports it),
//! checks that the slot and its holds are really free afterwards, that the server went on
//! delivering, and that the new reader attached.
//!
//! The peers are `shmimg torture-peer broadcast-server FILE SECONDS --buffers N` ([`serve`])
//! and `shmimg torture-peer check FILE SECONDS` ([`check`]). They talk to this process in lines
//! on their stdout.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use shared_memory_image_client::broadcast::BroadcastStatus;
use shared_memory_image_client::{monotonic_ns, Client, PutOutcome, Server, ServerOptions};

use crate::cli::TortureArgs;
use crate::inspect_broadcast::held_by;
use crate::scratch::Scratch;
use crate::stats::print_summary;
use crate::torture::{publish_frame, spawn_peer, Content, Rng, Tally, MAX_H, MAX_W};
use crate::{describe, kill_now, Failure};

/// The longest a dead reader's holds may stay taken (SPEC section 7: "within 1 second").
const GIVE_BACK_LIMIT: Duration = Duration::from_secs(1);

/// How long this process waits for something a peer should do at once before calling it a
/// failure (generous: a process under Wine takes a while to start).
const PATIENCE: Duration = Duration::from_secs(20);

/// How long past its time a reader that has not checked a frame yet goes on waiting for one,
/// and the server goes on serving while readers are attached (a starved machine may start the
/// last readers late).
const OVERTIME: Duration = Duration::from_secs(30);

/// What one reader process (one incarnation) reported.
#[derive(Debug, Default, Clone)]
struct ReaderView {
    /// Its reader slot, once attached.
    slot: Option<usize>,
    /// Its latest tally: frames and bytes checked, torn, out of order, missed.
    checked: u64,
    bytes: u64,
    torn: u64,
    out_of_order: u64,
    missed: u64,
    /// Whether it said it holds a frame for a while now.
    holding: bool,
    /// Whether it ended by itself and said so.
    done: bool,
}

/// What the server process reported.
#[derive(Debug, Default, Clone)]
struct ServerView {
    ready: bool,
    /// Frames delivered, as of its latest progress line.
    delivered: u64,
    /// Progress lines seen.
    progress_lines: u64,
    /// Every time the count of reaped readers went up: (new count, monotonic ns, delivered).
    reaps: Vec<(u64, u64, u64)>,
    /// Its closing `key=value` summary.
    summary: HashMap<String, String>,
}

/// Everything the peers reported, filled in by one thread per peer.
#[derive(Debug, Default)]
struct Reports {
    server: ServerView,
    readers: Vec<ReaderView>,
}

type Shared = Arc<Mutex<Reports>>;

fn lock(shared: &Shared) -> MutexGuard<'_, Reports> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

fn parse_u64s<'a>(words: impl Iterator<Item = &'a str>) -> Vec<u64> {
    words.map(|w| w.parse().unwrap_or(0)).collect()
}

/// Follows the server's lines.
fn follow_server(stdout: ChildStdout, shared: Shared) {
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        let mut words = line.split_whitespace();
        let mut r = lock(&shared);
        match words.next() {
            Some("ready") => r.server.ready = true,
            Some("progress") => {
                if let [delivered, ..] = parse_u64s(words)[..] {
                    r.server.delivered = delivered;
                    r.server.progress_lines += 1;
                }
            }
            Some("reaped") => {
                if let [count, at, delivered] = parse_u64s(words)[..] {
                    r.server.reaps.push((count, at, delivered));
                }
            }
            _ => {
                if let Some((k, v)) = line.split_once('=') {
                    r.server.summary.insert(k.to_string(), v.to_string());
                }
            }
        }
    }
}

/// Follows one reader incarnation's lines.
fn follow_reader(stdout: ChildStdout, shared: Shared, i: usize) {
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        let mut words = line.split_whitespace();
        let mut r = lock(&shared);
        let v = &mut r.readers[i];
        match words.next() {
            Some("attached") => v.slot = words.next().and_then(|s| s.parse().ok()),
            Some("holding") => v.holding = true,
            Some("released") => v.holding = false,
            Some("tally") => {
                if let [checked, bytes, torn, ooo, missed] = parse_u64s(words)[..] {
                    (v.checked, v.bytes, v.torn, v.out_of_order, v.missed) =
                        (checked, bytes, torn, ooo, missed);
                }
            }
            Some("done") => v.done = true,
            _ => {}
        }
    }
}

/// Polls `cond` every millisecond for up to `limit`; whether it became true.
fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A running reader incarnation.
struct Running {
    child: Child,
    /// Index into [`Reports::readers`].
    view: usize,
}

/// Starts a reader incarnation that runs until `deadline`.
fn start_reader(path: &Path, shared: &Shared, deadline: Instant) -> Result<Running, Failure> {
    let secs = deadline
        .saturating_duration_since(Instant::now())
        .as_secs_f64();
    let mut child = spawn_peer(&["check", &format!("{secs:.3}")], path, Stdio::inherit())?;
    let view = {
        let mut r = lock(shared);
        r.readers.push(ReaderView::default());
        r.readers.len() - 1
    };
    if let Some(out) = child.stdout.take() {
        let shared = Arc::clone(shared);
        std::thread::spawn(move || follow_reader(out, shared, view));
    }
    Ok(Running { child, view })
}

/// What the kills showed.
#[derive(Debug, Default)]
struct KillLog {
    killed: u64,
    /// Kills of a reader that the file showed holding a frame when it died.
    killed_holding: u64,
    /// Kills aimed at a reader that had said it holds a frame.
    aimed_at_holders: u64,
    /// Kill to "the server reaped the slot", milliseconds, one per kill it was seen for.
    give_back_ms: Vec<f64>,
    /// Kills after which the slot and every hold of the dead reader were seen free.
    holds_freed: u64,
    /// Kills after which the server delivered more frames.
    followed_by_delivery: u64,
    /// New readers started in the place of killed ones, and those that attached.
    restarted: u64,
    restarted_attached: u64,
    failures: Vec<String>,
}

/// Kills one reader and measures what follows. `expect_reaps` is the server's reap count this
/// kill should bring.
fn kill_and_measure(
    path: &Path,
    shared: &Shared,
    victim: &mut Running,
    aimed: bool,
    expect_reaps: u64,
    log: &mut KillLog,
) {
    let slot = lock(shared).readers[victim.view].slot;
    let killed_at = monotonic_ns();
    let t = Instant::now();
    kill_now(&mut victim.child);
    log.killed += 1;
    if aimed {
        log.aimed_at_holders += 1;
    }
    let Some(slot) = slot else {
        log.failures
            .push("a reader was killed before it said which slot it had".into());
        return;
    };
    // What the file says the dead reader left (before the server reaps it, most of the time).
    if let Ok(Some(status)) = BroadcastStatus::read(path) {
        let dead_holds = !held_by(&status.buffers, slot).is_empty();
        if status.readers.iter().any(|r| r.slot == slot && !r.alive) && dead_holds {
            log.killed_holding += 1;
        }
    }
    // The server notices within its reaping interval.
    let reaped = wait_until(PATIENCE, || {
        lock(shared)
            .server
            .reaps
            .iter()
            .any(|&(n, _, _)| n >= expect_reaps)
    });
    if !reaped {
        log.failures.push(format!(
            "the server never reaped reader slot {slot} ({:.1} s after the kill)",
            t.elapsed().as_secs_f64()
        ));
        return;
    }
    let (reaped_at, delivered_then) = {
        let r = lock(shared);
        let &(_, at, delivered) = r
            .server
            .reaps
            .iter()
            .find(|&&(n, _, _)| n >= expect_reaps)
            .unwrap_or(&(0, killed_at, 0));
        (at, delivered)
    };
    let ms = reaped_at.saturating_sub(killed_at) as f64 / 1e6;
    log.give_back_ms.push(ms);
    if ms > GIVE_BACK_LIMIT.as_secs_f64() * 1e3 {
        log.failures.push(format!(
            "reader slot {slot}'s holds were given back {ms:.0} ms after the kill"
        ));
    }
    // The slot and its holds are free now (nobody else takes the slot before the restart).
    match BroadcastStatus::read(path) {
        Ok(Some(status)) => {
            let held = !held_by(&status.buffers, slot).is_empty();
            let attached = status.readers.iter().any(|r| r.slot == slot);
            if held || attached {
                log.failures.push(format!(
                    "after the server reaped reader slot {slot}, the slot is {} and its holds \
                     are {}",
                    if attached { "still attached" } else { "free" },
                    if held { "still set" } else { "clear" }
                ));
            } else {
                log.holds_freed += 1;
            }
        }
        other => log
            .failures
            .push(format!("cannot read the stream's status: {other:?}")),
    }
    // The server goes on delivering.
    if wait_until(PATIENCE, || lock(shared).server.delivered > delivered_then) {
        log.followed_by_delivery += 1;
    } else {
        log.failures.push(format!(
            "the server delivered nothing after reaping slot {slot}"
        ));
    }
}

/// Writes `line` to stdout and flushes it at once: a peer's report to the process that follows
/// its lines.
fn say(line: impl std::fmt::Display) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
    let _ = o.flush();
}

/// Runs the broadcast torture.
pub fn run(a: &TortureArgs) -> Result<(), Failure> {
    let seconds = a.run_seconds();
    crate::signals::install();
    let scratch = Scratch::new("shmimg-torture-bc", ".shm");
    let path = scratch.path();
    let shared: Shared = Arc::default();
    let start = Instant::now();
    // The server outlives the readers, so that none of them ever runs without one.
    let mut server = spawn_peer(
        &[
            "broadcast-server",
            &format!("{:.3}", seconds + 1.0),
            "--buffers",
            &a.buffers.to_string(),
        ],
        path,
        Stdio::inherit(),
    )?;
    if let Some(out) = server.stdout.take() {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || follow_server(out, shared));
    }
    if !wait_until(PATIENCE, || lock(&shared).server.ready) {
        kill_now(&mut server);
        return Err(Failure::new("the broadcast server process never started"));
    }
    let end = start + Duration::from_secs_f64(seconds);
    let mut readers: Vec<Running> = Vec::new();
    let mut log = KillLog::default();
    let mut result = (|| -> Result<(), Failure> {
        for _ in 0..a.readers {
            readers.push(start_reader(path, &shared, end)?);
        }
        for r in &readers {
            if !wait_until(PATIENCE, || lock(&shared).readers[r.view].slot.is_some()) {
                return Err(Failure::new("a reader process never attached"));
            }
        }
        let mut rng = Rng::new(std::process::id() ^ 0xB0AD);
        let mut last_report = Instant::now();
        // Kills end early enough for the last new reader to attach and read before the end.
        let kills_until = end - Duration::from_secs_f64((seconds * 0.2).min(1.0));
        while Instant::now() < kills_until {
            if crate::signals::stop_requested() {
                return Err(Failure::new("interrupted"));
            }
            std::thread::sleep(Duration::from_millis(20 + rng.below(180)));
            let i = rng.below(readers.len() as u64) as usize;
            let view = readers[i].view;
            // Every other kill waits for the victim to hold a frame (it does every few
            // milliseconds, unless the machine is starved of CPU).
            let aimed = log.killed % 2 == 0
                && wait_until(Duration::from_secs(2), || {
                    lock(&shared).readers[view].holding
                });
            kill_and_measure(
                path,
                &shared,
                &mut readers[i],
                aimed,
                log.killed + 1,
                &mut log,
            );
            if !log.failures.is_empty() {
                break;
            }
            readers[i] = start_reader(path, &shared, end)?;
            log.restarted += 1;
            let view = readers[i].view;
            if wait_until(PATIENCE, || lock(&shared).readers[view].slot.is_some()) {
                log.restarted_attached += 1;
            } else {
                log.failures.push("a new reader never attached".into());
                break;
            }
            if !a.quiet && last_report.elapsed() >= Duration::from_secs(5) {
                last_report = Instant::now();
                let r = lock(&shared);
                eprintln!(
                    "torture --broadcast: {:.0}/{seconds:.0} s, {} frames checked, {} torn, {} \
                     out of order, {} readers killed",
                    start.elapsed().as_secs_f64(),
                    r.readers.iter().map(|v| v.checked).sum::<u64>(),
                    r.readers.iter().map(|v| v.torn).sum::<u64>(),
                    r.readers.iter().map(|v| v.out_of_order).sum::<u64>(),
                    log.killed
                );
            }
        }
        Ok(())
    })();
    // The last readers end by themselves at `end`, then the server.
    let mut final_readers_reading = 0u64;
    for r in &mut readers {
        let finished = wait_until(
            end.saturating_duration_since(Instant::now()) + OVERTIME + PATIENCE,
            || matches!(r.child.try_wait(), Ok(Some(_))),
        );
        if !finished {
            kill_now(&mut r.child);
        }
    }
    // Their last lines may still be on their way.
    let views: Vec<usize> = readers.iter().map(|r| r.view).collect();
    wait_until(Duration::from_secs(2), || {
        let rep = lock(&shared);
        views.iter().all(|&v| rep.readers[v].done)
    });
    for &v in &views {
        if lock(&shared).readers[v].checked > 0 {
            final_readers_reading += 1;
        }
    }
    let server_ok = wait_until(Duration::from_secs(2) + OVERTIME + PATIENCE, || {
        matches!(server.try_wait(), Ok(Some(_)))
    });
    if !server_ok {
        kill_now(&mut server);
    }
    let server_status = server.wait().ok();
    wait_until(Duration::from_secs(2), || {
        lock(&shared).server.summary.contains_key("delivered")
    });
    let rep = lock(&shared);
    let sum = |f: fn(&ReaderView) -> u64| rep.readers.iter().map(f).sum::<u64>();
    let (checked, torn, ooo) = (sum(|v| v.checked), sum(|v| v.torn), sum(|v| v.out_of_order));
    let mut give_back = log.give_back_ms.clone();
    give_back.sort_by(f64::total_cmp);
    let ms = |v: Option<&f64>| v.map_or("-".into(), |v| format!("{v:.1}"));
    let server_get = |k: &str| rep.server.summary.get(k).cloned().unwrap_or("-".into());
    print_summary(
        "torture --broadcast summary",
        &[
            ("seconds", format!("{:.1}", start.elapsed().as_secs_f64())),
            ("readers", a.readers.to_string()),
            ("buffers", a.buffers.to_string()),
            ("frames_checked", checked.to_string()),
            ("bytes_checked", sum(|v| v.bytes).to_string()),
            ("torn", torn.to_string()),
            ("out_of_order", ooo.to_string()),
            ("missed", sum(|v| v.missed).to_string()),
            ("readers_killed", log.killed.to_string()),
            ("killed_aimed_at_holders", log.aimed_at_holders.to_string()),
            ("killed_while_holding", log.killed_holding.to_string()),
            ("give_back_measured", log.give_back_ms.len().to_string()),
            (
                "give_back_ms_median",
                ms(give_back.get(give_back.len() / 2)),
            ),
            ("give_back_ms_max", ms(give_back.last())),
            ("holds_freed", log.holds_freed.to_string()),
            (
                "kills_followed_by_delivery",
                log.followed_by_delivery.to_string(),
            ),
            ("readers_restarted", log.restarted.to_string()),
            ("restarted_attached", log.restarted_attached.to_string()),
            ("final_readers_reading", final_readers_reading.to_string()),
            ("server_delivered", server_get("delivered")),
            ("server_dropped_no_buffer", server_get("dropped")),
            ("server_unconnected", server_get("unconnected")),
            ("server_readers_reaped", server_get("reaped")),
            ("server_max_delivery_gap_ms", server_get("max_gap_ms")),
            ("failures", log.failures.len().to_string()),
        ],
        a.machine,
    );
    for f in &log.failures {
        eprintln!("torture --broadcast: {f}");
    }
    if result.is_ok() && !server_status.is_some_and(|s| s.success()) {
        result = Err(Failure::new("the server process failed"));
    }
    result?;
    if torn > 0 || ooo > 0 || checked == 0 || !log.failures.is_empty() {
        return Err(Failure::new(format!(
            "torture --broadcast failed: {torn} torn, {ooo} out of order, {checked} checked, {} \
             failures",
            log.failures.len()
        )));
    }
    Ok(())
}

/// The server process: lays out a broadcast stream of `buffers` buffers for frames up to
/// 640x480 and publishes checkable frames of varying size for `seconds` (and then while readers
/// are still attached, up to [`OVERTIME`] more), alternating putframe with writing in place. Reports `ready`, `progress DELIVERED` every 50 ms, `reaped COUNT NS
/// DELIVERED` whenever it gives back dead readers, and a `key=value` summary.
pub fn serve(path: &Path, seconds: f64, buffers: u32) -> Result<(), Failure> {
    let mut server =
        Server::create_broadcast(path, MAX_W, MAX_H, buffers, ServerOptions::default())
            .map_err(|e| describe(e, path))?;
    say("ready");
    let content = Content::new();
    let mut scratch = vec![0u8; (MAX_W * MAX_H * 3) as usize];
    let (mut delivered, mut dropped, mut unconnected) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(seconds);
    let mut last_progress = start;
    let mut last_delivery: Option<Instant> = None;
    let mut max_gap = Duration::ZERO;
    let mut reaped = 0;
    let mut n = 0u32;
    loop {
        let now = Instant::now();
        if now >= end && (server.readers_attached() == 0 || now >= end + OVERTIME) {
            break;
        }
        n = n.wrapping_add(1);
        let outcome = publish_frame(&mut server, &content, n, &mut scratch, path)?;
        let now = Instant::now();
        match outcome {
            PutOutcome::Delivered => {
                delivered += 1;
                if let Some(t) = last_delivery {
                    max_gap = max_gap.max(now - t);
                }
                last_delivery = Some(now);
            }
            PutOutcome::Dropped => dropped += 1,
            PutOutcome::Unconnected => {
                unconnected += 1;
                // Nobody to deliver to: not a gap of the server's making.
                last_delivery = None;
                std::thread::yield_now();
            }
        }
        if server.readers_reaped() != reaped {
            reaped = server.readers_reaped();
            say(format!("reaped {reaped} {} {delivered}", monotonic_ns()));
        }
        if now - last_progress >= Duration::from_millis(50) {
            last_progress = now;
            say(format!("progress {delivered} {dropped} {unconnected}"));
        }
    }
    say(format!(
        "progress {delivered} {dropped} {unconnected}\ndelivered={delivered}\ndropped={dropped}\n\
         unconnected={unconnected}\nreaped={reaped}\nmax_gap_ms={:.1}",
        max_gap.as_secs_f64() * 1e3
    ));
    Ok(())
}

/// A reader process: attaches (and says which slot it has), then until `seconds` pass (and
/// until it has checked a frame, up to [`OVERTIME`] more) locks frames (mostly waiting for them, sometimes polling), checks every byte and the order, and
/// now and then holds a frame for a few milliseconds (saying so, so that it can be killed
/// then). Reports its tally every 100 ms, at once after a torn or out-of-order frame, and at
/// the end.
pub fn check(path: &Path, seconds: f64) -> Result<(), Failure> {
    let mut client = Client::attach(path).map_err(|e| describe(e, path))?;
    say(format!(
        "attached {}",
        client.reader_slot().unwrap_or(usize::MAX)
    ));
    let content = Content::new();
    let mut tally = Tally::default();
    let tally_line = |t: &Tally| {
        format!(
            "tally {} {} {} {} {}",
            t.checked, t.bytes, t.torn, t.out_of_order, t.missed
        )
    };
    let mut rng = Rng::new(std::process::id());
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let mut last_report = Instant::now();
    loop {
        let now = Instant::now();
        if now >= end && (tally.checked > 0 || now >= end + OVERTIME) {
            break;
        }
        let poll = rng.below(4) == 0;
        let frame = if poll {
            client.lock()
        } else {
            client.lock_timeout(Duration::from_millis(50))
        }
        .map_err(|e| describe(e, path))?;
        if let Some(frame) = frame {
            let (torn, ooo) = (tally.torn, tally.out_of_order);
            tally.check_frame(&content, &frame);
            if rng.below(8) == 0 {
                say("holding");
                std::thread::sleep(Duration::from_millis(5 + rng.below(25)));
                say("released");
            }
            drop(frame);
            if tally.torn != torn || tally.out_of_order != ooo {
                say(tally_line(&tally));
            }
        } else if poll {
            std::thread::yield_now();
        }
        if last_report.elapsed() >= Duration::from_millis(100) {
            last_report = Instant::now();
            say(tally_line(&tally));
        }
    }
    drop(client);
    say(tally_line(&tally));
    say("done");
    Ok(())
}
