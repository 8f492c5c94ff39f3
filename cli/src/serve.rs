//! `shmimg serve`: a server streaming the animated test pattern, on the original two-buffer
//! protocol or (with `--broadcast N`) on a broadcast stream of N buffers.

use std::time::{Duration, Instant};

use shared_memory_image_client::{PutOutcome, Server, ServerOptions, StreamKind};

use crate::cli::ServeArgs;
use crate::pattern::Pattern;
use crate::stats::{print_summary, Ticker};
use crate::{describe, signals, Failure};

/// Runs the server until the time or frame limit, or a signal.
pub fn run(a: ServeArgs) -> Result<(), Failure> {
    signals::install();
    let options = ServerOptions {
        flip_vertical: a.flip,
    };
    let (w, h) = (a.size.width, a.size.height);
    let mut server = match a.broadcast {
        // Lays the file out for frames of --size (creating or growing it), or resumes it.
        Some(buffers) => Server::create_broadcast(&a.file, w, h, buffers, options),
        None => Server::with_options(&a.file, options),
    }
    .map_err(|e| describe(e, &a.file))?;
    let kind = server.kind();
    if !a.quiet {
        eprintln!("serving {} ({})", a.file.display(), describe_kind(kind));
    }
    if !server.fits(w, h) {
        return Err(Failure::new(format!(
            "{w}x{h} frames do not fit {} (at width {w} at most {} rows fit); grow it with \
             `shmimg createfile {} --max {w}x{h}`",
            a.file.display(),
            server.max_height_for_width(w),
            a.file.display()
        )));
    }
    let pattern = Pattern::new(w, h);
    let mut frame = vec![0u8; pattern.frame_len()];
    let period = (a.fps > 0.0).then(|| Duration::from_secs_f64(1.0 / a.fps));
    let limit = a.seconds.map(Duration::from_secs_f64);
    let mut ticker = Ticker::new(!a.quiet);
    let (mut delivered, mut dropped, mut unconnected) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    let mut n: u64 = 0;
    while !signals::stop_requested()
        && limit.is_none_or(|l| start.elapsed() < l)
        && a.frames.is_none_or(|f| n < f)
    {
        pattern.render(n, &mut frame);
        match server.put_frame(n as u32, w, h, &frame) {
            Ok(PutOutcome::Delivered) => delivered += 1,
            Ok(PutOutcome::Dropped) => dropped += 1,
            Ok(PutOutcome::Unconnected) => unconnected += 1,
            Err(e) => return Err(describe(e, &a.file)),
        }
        n += 1;
        ticker.tick(|| {
            let secs = start.elapsed().as_secs_f64();
            let readers = match kind {
                StreamKind::TwoBuffer => String::new(),
                StreamKind::Broadcast { .. } => format!(
                    ", {} readers attached, {} dead ones reaped",
                    server.readers_attached(),
                    server.readers_reaped()
                ),
            };
            format!(
                "serve {w}x{h}: frame {n}, {:.1} fps delivered, {dropped} dropped (no buffer), \
                 {unconnected} with no client{readers}",
                delivered as f64 / secs
            )
        });
        if let Some(p) = period {
            let due = start + p.mul_f64(n as f64);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
    }
    ticker.finish();
    let secs = start.elapsed().as_secs_f64();
    let bytes = delivered as f64 * frame.len() as f64;
    print_summary(
        "server summary",
        &[
            ("kind", kind_word(kind).to_string()),
            ("buffers", kind.buffers().to_string()),
            ("frames_sent", n.to_string()),
            ("delivered", delivered.to_string()),
            ("dropped_no_buffer", dropped.to_string()),
            ("unconnected", unconnected.to_string()),
            ("seconds", format!("{secs:.2}")),
            ("delivered_fps", format!("{:.1}", delivered as f64 / secs)),
            ("throughput_mb_s", format!("{:.0}", bytes / secs / 1e6)),
            ("readers_attached", server.readers_attached().to_string()),
            ("readers_reaped", server.readers_reaped().to_string()),
            ("wake_calls", server.wake_stats().calls.to_string()),
        ],
        a.machine,
    );
    Ok(())
}

/// `two-buffer` or `broadcast`: the kind of a stream in summaries.
pub fn kind_word(kind: StreamKind) -> &'static str {
    match kind {
        StreamKind::TwoBuffer => "two-buffer",
        StreamKind::Broadcast { .. } => "broadcast",
    }
}

/// The kind of a stream in words, for the first line of `serve` and `watch`.
pub fn describe_kind(kind: StreamKind) -> String {
    match kind {
        StreamKind::TwoBuffer => "two-buffer stream of the original protocol, one client".into(),
        StreamKind::Broadcast { buffers } => {
            format!("broadcast stream, {buffers} buffers, up to 64 readers")
        }
    }
}
