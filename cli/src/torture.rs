//! `shmimg torture`: a server process pushes frames as fast as it can while this process reads
//! them, and every frame is checked whole. Frame sizes vary with the frame number and the
//! server alternates between putframe and writing in place (beginframe/endframe); the client now
//! and then holds a frame for a while so that both buffers fill up and frames get dropped.
//!
//! A frame's content and size are derived from its number, so the client can tell a torn frame
//! (bytes of two frames, or a header that does not match its pixels) from a good one. Torn and
//! out-of-order frames are failures; dropped frames are counted (they are the protocol working).
//!
//! The peer modes (`shmimg torture-peer ...`) are the other processes of this command and of the
//! crash tests: `server FILE SECONDS` streams checkable frames, `hold FILE` attaches, locks one
//! frame, says so, and waits to be killed. `torture --broadcast` and its peers
//! (`broadcast-server`, `check`) are in [`crate::torture_broadcast`].

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use shared_memory_image_client::{create_file, state, Client, PutOutcome, Server};

use crate::cli::{TortureArgs, TorturePeerArgs};
use crate::scratch::Scratch;
use crate::stats::print_summary;
use crate::{describe, kill_now, Failure};

/// Largest frame of the torture stream.
pub const MAX_W: u32 = 640;
/// Largest frame of the torture stream.
pub const MAX_H: u32 = 480;

/// A 64-bit mix of `n` (splitmix64): the noise of the frame content and the random numbers of
/// the torture and crash tests.
pub(crate) fn mix(n: u32) -> u64 {
    let mut x = u64::from(n).wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The random numbers of the torture and crash tests: a state stepped through [`mix`].
pub(crate) struct Rng(u64);

impl Rng {
    /// A sequence seeded by `seed` (a process id, so that every process draws its own).
    pub(crate) fn new(seed: u32) -> Rng {
        Rng(mix(seed))
    }

    /// The next random number.
    pub(crate) fn step(&mut self) -> u64 {
        self.0 = mix(self.0 as u32 ^ (self.0 >> 32) as u32);
        self.0
    }

    /// The next random number below `m` (0 if `m` is 0).
    pub(crate) fn below(&mut self, m: u64) -> u64 {
        self.step() % m.max(1)
    }
}

/// The size of frame `n`: anything from 1x1 to 640x480, the extremes included now and then.
pub fn frame_size(n: u32) -> (u32, u32) {
    let h = mix(n);
    match h % 16 {
        0 => (MAX_W, MAX_H),
        1 => (1, 1),
        _ => (1 + (h >> 8) as u32 % MAX_W, 1 + (h >> 32) as u32 % MAX_H),
    }
}

/// Checkable frame content: 8-byte words of fixed noise XORed with a key derived from the frame
/// number (a bijection, so two different frames differ in every word).
pub struct Content {
    noise: Vec<u64>,
}

impl Content {
    /// Noise for frames up to the largest size.
    pub fn new() -> Content {
        let words = (MAX_W * MAX_H * 3) as usize / 8 + 1;
        Content {
            noise: (0..words as u32).map(mix).collect(),
        }
    }

    fn key(n: u32) -> u64 {
        u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1
    }

    /// Writes frame `n`'s content into `out`.
    pub fn fill(&self, n: u32, out: &mut [u8]) {
        let key = Self::key(n);
        let last = (self.noise[out.len() / 8] ^ key).to_ne_bytes();
        let mut words = out.chunks_exact_mut(8);
        for (w, noise) in (&mut words).zip(&self.noise) {
            w.copy_from_slice(&(noise ^ key).to_ne_bytes());
        }
        let tail = words.into_remainder();
        let len = tail.len();
        tail.copy_from_slice(&last[..len]);
    }

    /// Whether `data` is exactly frame `n`'s content.
    pub fn check(&self, n: u32, data: &[u8]) -> bool {
        let key = Self::key(n);
        let mut words = data.chunks_exact(8);
        let body_ok = (&mut words)
            .zip(&self.noise)
            .all(|(w, noise)| u64::from_ne_bytes(w.try_into().unwrap_or([0; 8])) == noise ^ key);
        let tail = words.remainder();
        let last = (self.noise[data.len() / 8] ^ key).to_ne_bytes();
        body_ok && tail == &last[..tail.len()]
    }
}

/// What a checking client saw.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Frames locked and checked.
    pub checked: u64,
    /// Pixel bytes checked.
    pub bytes: u64,
    /// Frames whose size or content did not match their number.
    pub torn: u64,
    /// Frames not newer than the one before.
    pub out_of_order: u64,
    /// Frame numbers skipped (dropped by the server or superseded).
    pub missed: u64,
    last: Option<u32>,
    history: Vec<String>,
}

impl Tally {
    /// Checks one locked frame.
    pub fn check(&mut self, content: &Content, n: u32, w: u32, h: u32, pixels: &[u8]) {
        self.checked += 1;
        self.bytes += pixels.len() as u64;
        if (w, h) != frame_size(n) || !content.check(n, pixels) {
            self.torn += 1;
        }
        if let Some(prev) = self.last {
            if state::is_newer(n, prev) {
                self.missed += u64::from(n.wrapping_sub(prev) - 1);
            } else {
                self.out_of_order += 1;
                if std::env::var_os("SHMIMG_TORTURE_DEBUG").is_some() {
                    eprintln!("out of order: frame {n} after {prev}; before that:");
                    for e in &self.history {
                        eprintln!("  {e}");
                    }
                }
            }
        }
        self.last = Some(n);
        self.note(format!("frame {n}"));
    }

    /// Remembers an event for the debug dump (SHMIMG_TORTURE_DEBUG); cheap otherwise.
    pub fn note(&mut self, event: String) {
        if self.history.len() == 12 {
            self.history.remove(0);
        }
        self.history.push(event);
    }

    /// Checks one locked frame of a client.
    pub fn check_frame(
        &mut self,
        content: &Content,
        frame: &shared_memory_image_client::Frame<'_>,
    ) {
        self.check(
            content,
            frame.frame_number(),
            frame.width(),
            frame.height(),
            frame,
        );
    }

    /// Forgets the last frame number: a new server numbers its frames from the start again.
    pub fn restart_sequence(&mut self) {
        self.last = None;
    }
}

/// Runs the torture test (the broadcast one with `--broadcast`).
pub fn run(a: TortureArgs) -> Result<(), Failure> {
    if a.broadcast {
        return crate::torture_broadcast::run(&a);
    }
    let seconds = a.run_seconds();
    let scratch = Scratch::new("shmimg-torture", ".shm");
    let path = scratch.path();
    create_file(path, MAX_W, MAX_H).map_err(|e| describe(e, path))?;
    // Attach first, so the server's create (INIT) is followed by our re-attach.
    let mut client = Client::attach(path).map_err(|e| describe(e, path))?;
    let mut peer = spawn_peer(&["server", &seconds.to_string()], path, Stdio::inherit())?;
    let content = Content::new();
    let mut tally = Tally::default();
    let start = Instant::now();
    let mut last_report = Instant::now();
    crate::signals::install();
    let mut rng = Rng::new(std::process::id());
    loop {
        if peer
            .try_wait()
            .map_err(|e| Failure::new(e.to_string()))?
            .is_some()
        {
            break;
        }
        if crate::signals::stop_requested() {
            kill_now(&mut peer);
            return Err(Failure::new("interrupted"));
        }
        if let Some(frame) = client
            .lock_timeout(Duration::from_millis(50))
            .map_err(|e| describe(e, path))?
        {
            tally.check_frame(&content, &frame);
            // Now and then keep the frame a while, so that both buffers fill up.
            let r = rng.step();
            if r % 64 == 0 {
                std::thread::sleep(Duration::from_micros(r % 2000));
            }
        }
        if !a.quiet && last_report.elapsed() >= Duration::from_secs(5) {
            last_report = Instant::now();
            eprintln!(
                "torture: {:.0}/{seconds:.0} s, {} frames checked, {} torn, {} out of order",
                start.elapsed().as_secs_f64(),
                tally.checked,
                tally.torn,
                tally.out_of_order
            );
        }
    }
    // Frames published just before the server ended.
    while let Some(frame) = client.lock().map_err(|e| describe(e, path))? {
        tally.check_frame(&content, &frame);
    }
    let out = peer
        .wait_with_output()
        .map_err(|e| Failure::new(e.to_string()))?;
    let server = String::from_utf8_lossy(&out.stdout);
    let get = |k: &str| {
        server
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")).map(str::to_string))
            .unwrap_or_else(|| "-".into())
    };
    print_summary(
        "torture summary",
        &[
            ("seconds", format!("{:.1}", start.elapsed().as_secs_f64())),
            ("frames_checked", tally.checked.to_string()),
            ("bytes_checked", tally.bytes.to_string()),
            ("torn", tally.torn.to_string()),
            ("out_of_order", tally.out_of_order.to_string()),
            ("missed", tally.missed.to_string()),
            ("server_delivered", get("delivered")),
            ("server_dropped_no_buffer", get("dropped")),
            ("server_unconnected", get("unconnected")),
        ],
        a.machine,
    );
    if !out.status.success() {
        return Err(Failure::new("the server process failed"));
    }
    if tally.torn > 0 || tally.out_of_order > 0 || tally.checked == 0 {
        return Err(Failure::new(format!(
            "torture failed: {} torn, {} out of order, {} checked",
            tally.torn, tally.out_of_order, tally.checked
        )));
    }
    Ok(())
}

/// The other processes of the torture and crash tests.
pub fn peer(a: TorturePeerArgs) -> Result<(), Failure> {
    match a.mode.as_str() {
        "server" => serve(&a.file, a.seconds.unwrap_or(3.0)),
        "hold" => hold(&a.file),
        "broadcast-server" => {
            crate::torture_broadcast::serve(&a.file, a.seconds.unwrap_or(3.0), a.buffers)
        }
        "check" => crate::torture_broadcast::check(&a.file, a.seconds.unwrap_or(3.0)),
        other => Err(Failure::new(format!("unknown torture-peer mode `{other}`"))),
    }
}

fn serve(path: &Path, seconds: f64) -> Result<(), Failure> {
    let mut server = Server::create(path).map_err(|e| describe(e, path))?;
    let content = Content::new();
    let mut scratch = vec![0u8; (MAX_W * MAX_H * 3) as usize];
    let (mut delivered, mut dropped, mut unconnected) = (0u64, 0u64, 0u64);
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let mut n = 0u32;
    while Instant::now() < end {
        n = n.wrapping_add(1);
        let outcome = publish_frame(&mut server, &content, n, &mut scratch, path)?;
        match outcome {
            PutOutcome::Delivered => delivered += 1,
            PutOutcome::Dropped => dropped += 1,
            PutOutcome::Unconnected => {
                unconnected += 1;
                std::thread::yield_now();
            }
        }
    }
    println!("delivered={delivered}\ndropped={dropped}\nunconnected={unconnected}");
    Ok(())
}

/// Publishes torture frame `n` (its size and content derived from `n`), by `putframe` from
/// `scratch` for even numbers and written in place for odd ones.
pub(crate) fn publish_frame(
    server: &mut Server,
    content: &Content,
    n: u32,
    scratch: &mut [u8],
    path: &Path,
) -> Result<PutOutcome, Failure> {
    let (w, h) = frame_size(n);
    let len = (w * h * 3) as usize;
    if n % 2 == 0 {
        content.fill(n, &mut scratch[..len]);
        return server
            .put_frame(n, w, h, &scratch[..len])
            .map_err(|e| describe(e, path));
    }
    Ok(match server.frame(w, h).map_err(|e| describe(e, path))? {
        Ok(mut writer) => {
            content.fill(n, &mut writer);
            writer.publish(n)
        }
        Err(outcome) => outcome,
    })
}

fn hold(path: &Path) -> Result<(), Failure> {
    let mut client = Client::attach(path).map_err(|e| describe(e, path))?;
    let frame = loop {
        if let Some(info) = client.lock_frame().map_err(|e| describe(e, path))? {
            break info;
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    println!("locked {}", frame.frame_number);
    let _ = std::io::stdout().flush();
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Starts `shmimg torture-peer MODE FILE [ARGS]` (`args[0]` is the mode).
pub(crate) fn spawn_peer(
    args: &[&str],
    path: &Path,
    stderr: Stdio,
) -> Result<std::process::Child, Failure> {
    let words = [
        std::ffi::OsStr::new("torture-peer"),
        args[0].as_ref(),
        path.as_os_str(),
    ];
    crate::spawn_self(
        words
            .into_iter()
            .chain(args[1..].iter().map(|a| a.as_ref())),
        stderr,
    )
}

/// `shmimg crashtest`: peers killed with SIGKILL, again and again.
pub fn crash(a: crate::cli::CrashtestArgs) -> Result<(), Failure> {
    use std::io::BufRead;
    let scratch = Scratch::new("shmimg-crash", ".shm");
    let path = scratch.path();
    create_file(path, MAX_W, MAX_H).map_err(|e| describe(e, path))?;
    let content = Content::new();
    let mut rng = Rng::new(std::process::id() ^ 0x5EED);
    let mut tally = Tally::default();
    let mut failures: Vec<String> = Vec::new();

    // (a) A client killed while it holds a frame, then a new client.
    let mut server = spawn_peer(&["server", "3600"], path, Stdio::null())?;
    let mut reattach_ms = Vec::new();
    for round in 0..a.rounds {
        let mut holder = spawn_peer(&["hold"], path, Stdio::null())?;
        let mut line = String::new();
        let stdout = holder
            .stdout
            .take()
            .ok_or_else(|| Failure::new("no stdout"))?;
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| Failure::new(e.to_string()))?;
        if !line.starts_with("locked") {
            failures.push(format!(
                "client round {round}: the holder never locked a frame"
            ));
        }
        std::thread::sleep(Duration::from_millis(rng.below(20)));
        kill_now(&mut holder);
        let t = Instant::now();
        let mut client = Client::attach(path).map_err(|e| describe(e, path))?;
        if client.attach_status() != shared_memory_image_client::Attach::Reconnected {
            failures.push(format!("client round {round}: attach was not RECONNECTING"));
        }
        match client
            .lock_timeout(Duration::from_secs(5))
            .map_err(|e| describe(e, path))?
        {
            Some(f) => {
                reattach_ms.push(t.elapsed().as_secs_f64() * 1e3);
                tally.restart_sequence();
                tally.check_frame(&content, &f);
            }
            None => failures.push(format!(
                "client round {round}: no frame within 5 s after re-attaching"
            )),
        };
    }
    kill_now(&mut server);

    // (b) Servers killed mid-stream and restarted under one live client.
    let mut client = Client::attach(path).map_err(|e| describe(e, path))?;
    let mut resume_ms = Vec::new();
    let mut killed_mid_frame = 0u32;
    for round in 0..a.rounds {
        let mut server = spawn_peer(&["server", "3600"], path, Stdio::null())?;
        let t = Instant::now();
        let mut got = 0;
        tally.restart_sequence();
        tally.note(format!(
            "round {round} starts, states {:?}",
            client.buffer_states()
        ));
        while got < 20 && t.elapsed() < Duration::from_secs(10) {
            if let Some(f) = client
                .lock_timeout(Duration::from_millis(100))
                .map_err(|e| describe(e, path))?
            {
                if got == 0 {
                    resume_ms.push(t.elapsed().as_secs_f64() * 1e3);
                }
                tally.check_frame(&content, &f);
                got += 1;
            }
        }
        if got < 20 {
            failures.push(format!(
                "server round {round}: the client got only {got} frames"
            ));
        }
        // Keep reading for a random moment, so that the server is busy writing, then kill it:
        // most often it dies in the middle of a frame.
        let until = Instant::now() + Duration::from_micros(rng.below(5000));
        while Instant::now() < until {
            if let Some(f) = client.lock().map_err(|e| describe(e, path))? {
                tally.check_frame(&content, &f);
            }
        }
        kill_now(&mut server);
        tally.note(format!("killed, states {:?}", client.buffer_states()));
        if client.buffer_states().is_some_and(|states| {
            states.contains(&Some(shared_memory_image_client::BufferState::ServerLocked))
        }) {
            killed_mid_frame += 1;
        }
        // The client keeps polling a dead stream without error.
        for _ in 0..3 {
            if let Some(f) = client.lock().map_err(|e| describe(e, path))? {
                tally.note(format!("after kill: frame {}", f.frame_number()));
                tally.check_frame(&content, &f);
            }
        }
    }
    drop(client);

    let summary = |v: &[f64]| {
        if v.is_empty() {
            return "-".to_string();
        }
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        format!("{:.1}/{:.1}", s[s.len() / 2], s[s.len() - 1])
    };
    print_summary(
        "crash test summary",
        &[
            ("client_kills", a.rounds.to_string()),
            ("server_kills", a.rounds.to_string()),
            ("server_killed_mid_frame", killed_mid_frame.to_string()),
            ("frames_checked", tally.checked.to_string()),
            ("torn", tally.torn.to_string()),
            ("out_of_order", tally.out_of_order.to_string()),
            ("reattach_to_frame_ms_median_max", summary(&reattach_ms)),
            ("restart_to_frame_ms_median_max", summary(&resume_ms)),
            ("failures", failures.len().to_string()),
        ],
        a.machine,
    );
    for f in &failures {
        eprintln!("crashtest: {f}");
    }
    if !failures.is_empty() || tally.torn > 0 || tally.out_of_order > 0 {
        return Err(Failure::new("crash test failed"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_detects_other_frames_and_torn_mixtures() {
        let c = Content::new();
        for len in [1usize, 3, 8, 9, 27, 1000, 921_600] {
            let mut a = vec![0u8; len];
            let mut b = vec![0u8; len];
            c.fill(5, &mut a);
            c.fill(6, &mut b);
            assert!(c.check(5, &a) && c.check(6, &b));
            assert!(!c.check(6, &a) && !c.check(5, &b));
            if len > 1 {
                let mut torn = a.clone();
                torn[len / 2..].copy_from_slice(&b[len / 2..]);
                assert!(!c.check(5, &torn), "{len}");
            }
        }
    }

    #[test]
    fn frame_sizes_fit_and_vary() {
        let sizes: std::collections::HashSet<_> = (0..1000).map(frame_size).collect();
        assert!(sizes.len() > 500);
        assert!(sizes
            .iter()
            .all(|&(w, h)| (1..=MAX_W).contains(&w) && (1..=MAX_H).contains(&h)));
        assert!(sizes.contains(&(MAX_W, MAX_H)) && sizes.contains(&(1, 1)));
    }

    #[test]
    fn tally_counts_gaps_and_order() {
        let c = Content::new();
        let mut t = Tally::default();
        for n in [1u32, 2, 5, 4] {
            let (w, h) = frame_size(n);
            let mut px = vec![0u8; (w * h * 3) as usize];
            c.fill(n, &mut px);
            t.check(&c, n, w, h, &px);
        }
        assert_eq!((t.checked, t.torn, t.missed, t.out_of_order), (4, 0, 2, 1));
        t.check(&c, 9, 1, 1, &[0, 0, 0]);
        assert_eq!(t.torn, 1);
    }
}
