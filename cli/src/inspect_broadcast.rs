//! `shmimg inspect` on a broadcast file (SPEC section 7): the layout, the server, every buffer
//! with its holders, the reader table with dead readers marked, and a diagnosis. The snapshot
//! comes from the library's [`BroadcastStatus`], which reads the file and probes the liveness
//! locks without changing a byte.

use std::fmt::Write as _;
use std::path::Path;

use shared_memory_image_client::broadcast::{BroadcastStatus, BufferPhase, BufferStatus};

/// The slots whose bits are set in `mask`, as `0, 3, 17` (`-` for none).
pub fn slot_list(mask: u64) -> String {
    if mask == 0 {
        return "-".into();
    }
    (0..64)
        .filter(|i| mask & (1u64 << i) != 0)
        .map(|i: u32| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn phase_name(phase: Option<BufferPhase>) -> &'static str {
    match phase {
        Some(BufferPhase::Free) => "FREE",
        Some(BufferPhase::Writing) => "WRITING",
        Some(BufferPhase::Ready) => "READY",
        None => "INVALID",
    }
}

/// How long ago a frame published at `ns` (the clock of `BroadcastStatus::now_ns`) was, in words; `None`
/// before the first frame, or for a time that is not on this machine's clock.
fn age(published_ns: u64, now: u64) -> Option<String> {
    if published_ns == 0 || published_ns > now {
        return None;
    }
    let secs = (now - published_ns) as f64 / 1e9;
    Some(if secs < 1.0 {
        format!("{:.1} ms ago", secs * 1e3)
    } else if secs < 3600.0 {
        format!("{secs:.1} s ago")
    } else {
        format!("{:.1} h ago", secs / 3600.0)
    })
}

/// The buffers reader slot `slot` holds, by the holder bits.
pub fn held_by(buffers: &[BufferStatus], slot: usize) -> Vec<usize> {
    buffers
        .iter()
        .enumerate()
        .filter(|(_, b)| b.holders & (1u64 << slot) != 0)
        .map(|(i, _)| i)
        .collect()
}

fn buffer_list(list: &[usize]) -> String {
    match list {
        [] => "-".into(),
        [b] => format!("buffer {b}"),
        many => format!(
            "buffers {}",
            many.iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// What the snapshot says about the stream, in plain words: the first line sums it up.
pub fn diagnose(s: &BroadcastStatus, now: u64) -> Vec<String> {
    let mut notes = Vec::new();
    let (pid, server_alive) = s.server;
    let live_readers = s.readers.iter().filter(|r| r.alive).count();
    let newest_age = s
        .latest
        .and_then(|(_, b)| s.buffers.get(b))
        .and_then(|b| age(b.published_ns, now));
    // The summary.
    notes.push(if !server_alive {
        if pid != 0 {
            format!(
                "no server is alive: the server (pid {pid}) ended without closing the stream \
                 (killed or crashed); readers keep waiting, and a server started on this file \
                 with the same size and buffers (`shmimg serve FILE --broadcast N --size WxH`) \
                 resumes the stream for them"
            )
        } else {
            "no server is alive (the last one closed the stream, or none has served it yet); \
             readers wait until one starts"
                .into()
        }
    } else if s.readers.is_empty() {
        "a server is alive and no reader is attached: its frames are dropped (UNCONNECTED) \
         until one attaches"
            .into()
    } else {
        match &newest_age {
            Some(a) => format!(
                "a server is alive and {live_readers} reader(s) are attached; the newest frame \
                 was published {a}"
            ),
            None => format!(
                "a server is alive and {live_readers} reader(s) are attached; no frame has been \
                 published yet"
            ),
        }
    });
    if !server_alive && s.readers.is_empty() {
        notes.push("no reader is attached either".into());
    }
    for r in s.readers.iter().filter(|r| !r.alive) {
        let held = held_by(&s.buffers, r.slot);
        let what = if held.is_empty() {
            "holds nothing".to_string()
        } else {
            format!("still holds {}", buffer_list(&held))
        };
        let when = if server_alive {
            "the server gives the slot (and what it holds) back within 250 ms of its next frame"
        } else {
            "the next server gives the slot (and what it holds) back when it publishes"
        };
        notes.push(format!(
            "reader slot {} (pid {}) is DEAD (its process is gone) and {what}: {when}",
            r.slot, r.pid
        ));
    }
    let attached: u64 = s.readers.iter().map(|r| 1u64 << r.slot).sum();
    for (i, b) in s.buffers.iter().enumerate() {
        match b.tag.phase {
            None => notes.push(format!(
                "buffer {i} has an invalid tag: the file is corrupt or was written by something \
                 else; `shmimg serve FILE --broadcast N` with another geometry lays it out anew"
            )),
            Some(BufferPhase::Writing) if !server_alive => notes.push(format!(
                "buffer {i} was being written when the server died: the next server frees it"
            )),
            _ => {}
        }
        let stray = b.holders & !attached;
        if stray != 0 {
            notes.push(format!(
                "buffer {i} is marked held by slot(s) {} that no reader owns (unexpected: a \
                 reader attaching to such a slot clears the mark)",
                slot_list(stray)
            ));
        }
    }
    let newest = s.latest.map(|(_, b)| b);
    let others: Vec<&BufferStatus> = s
        .buffers
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != newest)
        .map(|(_, b)| b)
        .collect();
    if !s.readers.is_empty() && others.iter().all(|b| b.holders != 0) {
        notes.push(
            "every buffer but the newest frame's is held by readers: the server drops frames \
             (NO_BUFFERAVAILABLE) until a reader lets one go"
                .into(),
        );
    }
    if s.waiting != 0 {
        notes.push(format!(
            "reader slot(s) {} are waiting for a frame (lockwait)",
            slot_list(s.waiting)
        ));
    }
    notes
}

/// Prints the report of a broadcast file.
pub fn print(path: &Path, s: &BroadcastStatus) {
    let now = s.now_ns;
    let l = &s.layout;
    let mut out = String::new();
    let _ = writeln!(out, "file      {}", path.display());
    let _ = writeln!(
        out,
        "kind      broadcast stream (one server, up to 64 readers), epoch {:#010x}",
        s.epoch
    );
    let _ = writeln!(
        out,
        "length    {} bytes ({:.1} MiB); {} buffers of {} bytes",
        l.file_len(),
        l.file_len() as f64 / (1024.0 * 1024.0),
        l.buffers(),
        l.payload_size()
    );
    let rows = |w: u64| l.payload_size() as u64 / (w * 3);
    let _ = writeln!(
        out,
        "fits      1920x{} 3840x{} (rows that fit at those widths)",
        rows(1920),
        rows(3840)
    );
    let (pid, alive) = s.server;
    let _ = writeln!(
        out,
        "server    {}",
        match (pid, alive) {
            (0, true) => "alive (pid not recorded yet)".to_string(),
            (0, false) => "none running".to_string(),
            (p, true) => format!("pid {p}, alive"),
            (p, false) => format!("pid {p}, DEAD (no process holds the server lock)"),
        }
    );
    let _ = writeln!(out, "frames    {} published", s.last_seq);
    match s
        .latest
        .and_then(|(seq, b)| Some((seq, b, s.buffers.get(b)?)))
    {
        Some((seq, b, st)) => {
            let _ = writeln!(
                out,
                "latest    seq {seq} in buffer {b}: frame {}, {}x{}{}",
                st.frame.0,
                st.frame.1,
                st.frame.2,
                age(st.published_ns, now).map_or(String::new(), |a| format!(", published {a}"))
            );
        }
        None => {
            let _ = writeln!(out, "latest    no frame published yet");
        }
    }
    let _ = writeln!(
        out,
        "waiting   {}",
        if s.waiting == 0 {
            "no reader sleeps in lockwait".to_string()
        } else {
            format!("reader slot(s) {}", slot_list(s.waiting))
        }
    );

    let _ = writeln!(out);
    let newest = s.latest.map(|(_, b)| b);
    let mut table = vec![[
        "buffer".to_string(),
        "phase".into(),
        "seq".into(),
        "frame".into(),
        "size".into(),
        "published".into(),
        "held by slots".into(),
    ]];
    for (i, b) in s.buffers.iter().enumerate() {
        let has_frame = b.tag.seq != 0;
        table.push([
            i.to_string(),
            format!(
                "{}{}",
                phase_name(b.tag.phase),
                if newest == Some(i) { " (newest)" } else { "" }
            ),
            b.tag.seq.to_string(),
            if has_frame {
                b.frame.0.to_string()
            } else {
                "-".into()
            },
            if has_frame {
                format!("{}x{}", b.frame.1, b.frame.2)
            } else {
                "-".into()
            },
            age(b.published_ns, now).unwrap_or_else(|| "-".into()),
            slot_list(b.holders),
        ]);
    }
    print_table(&mut out, &table);

    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "readers   {} attached, {} dead",
        s.readers.len(),
        s.readers.iter().filter(|r| !r.alive).count()
    );
    if !s.readers.is_empty() {
        let mut table = vec![[
            "slot".to_string(),
            "pid".into(),
            "last seq".into(),
            "holds".into(),
            "state".into(),
        ]];
        for r in &s.readers {
            table.push([
                r.slot.to_string(),
                r.pid.to_string(),
                r.last_seq.to_string(),
                buffer_list(&held_by(&s.buffers, r.slot)),
                if r.alive { "alive" } else { "DEAD" }.into(),
            ]);
        }
        print_table(&mut out, &table);
    }
    let _ = writeln!(out);
    for note in diagnose(s, now) {
        let _ = writeln!(out, "diagnosis: {note}");
    }
    print!("{out}");
}

/// Appends rows of cells in columns, the first row being the header: columns of numbers
/// right-aligned, others left-aligned.
fn print_table<const N: usize>(out: &mut String, rows: &[[String; N]]) {
    let widths: Vec<usize> = (0..N)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let numeric: Vec<bool> = (0..N)
        .map(|c| {
            rows.iter()
                .skip(1)
                .all(|r| r[c] == "-" || r[c].parse::<u64>().is_ok())
        })
        .collect();
    for r in rows {
        let cells: Vec<String> = (0..N)
            .map(|c| {
                let (cell, w) = (&r[c], widths[c]);
                if numeric[c] {
                    format!("{cell:>w$}")
                } else {
                    format!("{cell:<w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "  {}", cells.join("  ").trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_lists() {
        assert_eq!(slot_list(0), "-");
        assert_eq!(slot_list(0b1001), "0, 3");
        assert_eq!(slot_list(1 << 63), "63");
    }

    #[test]
    fn ages() {
        assert_eq!(age(0, 5), None);
        assert_eq!(age(10, 5), None);
        assert_eq!(age(1_000_000, 3_500_000).as_deref(), Some("2.5 ms ago"));
        assert_eq!(age(1, 2_000_000_001).as_deref(), Some("2.0 s ago"));
    }
}
