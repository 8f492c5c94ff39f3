//! `shmimg watch`: a client that reads frames, checks their numbering, measures latency and
//! can save the last frame. Works on both kinds of stream: the original two-buffer file (as its
//! one client) and a broadcast file (as one of its readers).

use std::io::Write;
use std::time::{Duration, Instant};

use shared_memory_image_client::{state, Attach, Client, StreamKind};

use crate::cli::WatchArgs;
use crate::image_out;
use crate::pattern::{monotonic_ns, read_stamp};
use crate::serve::{describe_kind, kind_word};
use crate::stats::{or_dash, print_summary, Latency, Ticker};
use crate::{describe, signals, Failure};

/// How long one wait for a frame may take before the loop checks its limits again.
const WAIT_SLICE: Duration = Duration::from_millis(50);

/// Runs the client until the time or frame limit, or a signal.
pub fn run(a: WatchArgs) -> Result<(), Failure> {
    signals::install();
    let mut client = Client::attach(&a.file).map_err(|e| describe(e, &a.file))?;
    let attach = client.attach_status();
    let kind = client.kind();
    let slot = client.reader_slot();
    if !a.quiet {
        let how = match (kind, slot) {
            (StreamKind::Broadcast { .. }, Some(slot)) => format!("reader slot {slot}"),
            (_, _) if attach == Attach::Fresh => "attached to a freshly initialised stream".into(),
            _ => "reconnected: the file was already carrying a stream".into(),
        };
        eprintln!(
            "watching {} ({}; {how})",
            a.file.display(),
            describe_kind(kind)
        );
    }
    // The live line: on stderr for a person, or as key=value progress lines on stdout for the
    // demo that runs several watchers side by side.
    let mut ticker = Ticker::new(!a.quiet && !a.progress);
    let mut progress = Ticker::new(a.progress);
    let limit = a.seconds.map(Duration::from_secs_f64);
    let mut latency = Latency::default();
    let mut received = 0u64;
    let mut missed = 0u64;
    let mut out_of_order = 0u64;
    let mut first_number: Option<u32> = None;
    let mut last_number: Option<u32> = None;
    let mut last_size = (0u32, 0u32);
    let mut snapshot: Vec<u8> = Vec::new();
    let start = Instant::now();
    let mut first_frame_at: Option<Instant> = None;
    while !signals::stop_requested()
        && limit.is_none_or(|l| start.elapsed() < l)
        && a.frames.is_none_or(|f| received < f)
    {
        let remaining = limit.map_or(WAIT_SLICE, |l| l.saturating_sub(start.elapsed()));
        let frame = client
            .lock_timeout(remaining.min(WAIT_SLICE))
            .map_err(|e| describe(e, &a.file))?;
        if let Some(frame) = frame {
            let now = monotonic_ns();
            if let Some(sent) = read_stamp(&frame) {
                latency.record(now.saturating_sub(sent));
            }
            let n = frame.frame_number();
            if let Some(prev) = last_number {
                if state::is_newer(n, prev) {
                    missed += u64::from(n.wrapping_sub(prev) - 1);
                } else {
                    out_of_order += 1;
                }
            }
            last_number = Some(n);
            first_number.get_or_insert(n);
            last_size = (frame.width(), frame.height());
            if a.snapshot.is_some() {
                snapshot.clear();
                snapshot.extend_from_slice(&frame);
            }
            received += 1;
            first_frame_at.get_or_insert_with(Instant::now);
        }
        let fps = || first_frame_at.map_or(0.0, |t| received as f64 / t.elapsed().as_secs_f64());
        progress.due(|| {
            println!(
                "progress frames={received} fps={:.1} missed={missed} out_of_order={out_of_order} \
                 p50_us={} p99_us={}",
                fps(),
                or_dash(latency.quantile_us(0.5)),
                or_dash(latency.quantile_us(0.99)),
            );
            let _ = std::io::stdout().flush();
        });
        ticker.tick(|| {
            let fps = fps();
            format!(
                "watch: {received} frames ({}x{}), {fps:.1} fps, {missed} missed, latency p50 {} us p99 {} us",
                last_size.0,
                last_size.1,
                or_dash(latency.quantile_us(0.5)),
                or_dash(latency.quantile_us(0.99)),
            )
        });
    }
    ticker.finish();
    drop(client); // detach before reporting
    let active = first_frame_at.map_or(0.0, |t| t.elapsed().as_secs_f64());
    if let Some(path) = &a.snapshot {
        if received == 0 {
            return Err(Failure::new(format!(
                "no frame arrived, so there is nothing to save to {}",
                path.display()
            )));
        }
        image_out::save(path, last_size.0, last_size.1, &snapshot)
            .map_err(|e| Failure::new(format!("cannot write {}: {e}", path.display())))?;
    }
    print_summary(
        "client summary",
        &[
            ("kind", kind_word(kind).to_string()),
            ("reader_slot", or_dash(slot)),
            ("attach", format!("{attach:?}").to_lowercase()),
            ("frames_received", received.to_string()),
            ("frames_missed", missed.to_string()),
            ("out_of_order", out_of_order.to_string()),
            ("first_frame", or_dash(first_number)),
            ("last_frame", or_dash(last_number)),
            ("size", format!("{}x{}", last_size.0, last_size.1)),
            (
                "fps",
                format!(
                    "{:.1}",
                    if active > 0.0 {
                        received as f64 / active
                    } else {
                        0.0
                    }
                ),
            ),
            ("latency_p50_us", or_dash(latency.quantile_us(0.5))),
            ("latency_p99_us", or_dash(latency.quantile_us(0.99))),
            (
                "latency_max_us",
                if latency.count() > 0 {
                    latency.max_us().to_string()
                } else {
                    "-".into()
                },
            ),
            (
                "snapshot",
                or_dash(a.snapshot.as_ref().map(|p| p.display())),
            ),
        ],
        a.machine,
    );
    Ok(())
}
