//! `shmimg inspect`: both buffer headers decoded, with a diagnosis of what the stream is doing.
//! Reads a two-buffer file with plain reads; never maps it, never changes it. A broadcast file
//! (recognised by its marker) is reported by [`crate::inspect_broadcast`].

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use shared_memory_image_client::broadcast::{layout as broadcast_layout, BroadcastStatus};
use shared_memory_image_client::layout::{self, Layout};
use shared_memory_image_client::{BufferState, Header};

use crate::cli::InspectArgs;
use crate::{describe, Failure};

fn state_meaning(s: Option<BufferState>) -> &'static str {
    match s {
        Some(BufferState::Server) => "free for the server to fill",
        Some(BufferState::ServerLocked) => "the server is writing a frame",
        Some(BufferState::Client) => "holds a complete frame not yet read",
        Some(BufferState::ClientLocked) => "the client is reading it",
        Some(BufferState::Init) => "initialised by a server, no client attached",
        None => "INVALID: not a state of the protocol",
    }
}

/// What the pair of states says about the stream, in plain words.
fn diagnose(h: &[Header; 2], l: &Layout) -> Vec<String> {
    let s = [h[0].buffer_state(), h[1].buffer_state()];
    let mut notes = Vec::new();
    for (b, hd) in h.iter().enumerate() {
        if hd.buffer_state().is_none() {
            notes.push(format!(
                "buffer {b} has the invalid state byte {}: the file is corrupt or was written by \
                 something else; a server's create resets it",
                hd.state
            ));
        }
        if matches!(
            s[b],
            Some(BufferState::Client) | Some(BufferState::ClientLocked)
        ) && !l.fits(hd.width, hd.height)
        {
            notes.push(format!(
                "buffer {b} describes a {}x{} frame that does not fit the {}-byte payload; a \
                 client of this library will skip it",
                hd.width,
                hd.height,
                l.payload_size()
            ));
        }
        if hd.pad[0] != 0 {
            notes.push(format!(
                "{} client(s) waiting for a frame in buffer {b}",
                hd.pad[0]
            ));
        }
    }
    use BufferState::*;
    let summary = match s {
        [Some(Init), Some(Init)] => {
            "a server initialised the file and no client is attached: the server gets \
             UNCONNECTED until one attaches"
        }
        [Some(Server), Some(Server)] => {
            "a client is attached and both buffers are free: the server is not sending (a \
             zero-filled file that no server initialised also looks like this)"
        }
        _ if s.contains(&Some(ClientLocked)) => {
            "a client holds a frame locked; if this does not change, the client died or never \
             unlocks (a new client attaches with RECONNECTING and frees the buffer)"
        }
        _ if s.contains(&Some(ServerLocked)) => {
            "the server is writing a frame; if this does not change, the server died mid-frame \
             (a new server's create resets the file)"
        }
        [Some(Client), Some(Client)] => {
            "two complete frames wait unread: the client is not reading, or it went away \
             without detaching"
        }
        _ if s.contains(&Some(Client)) => "a frame is waiting for the client",
        _ if s.contains(&Some(Init)) => "a client is detaching or attaching (mixed INIT state)",
        _ => "",
    };
    if !summary.is_empty() {
        notes.insert(0, summary.to_string());
    }
    notes
}

/// Prints the report.
pub fn run(a: InspectArgs) -> Result<(), Failure> {
    let meta = std::fs::metadata(&a.file)
        .map_err(|_| describe(shared_memory_image_client::Error::BadFileSize, &a.file))?;
    if !meta.is_file() {
        return Err(Failure::new(format!(
            "{} is not a regular file",
            a.file.display()
        )));
    }
    let l = Layout::for_file_len(meta.len()).map_err(|e| describe(e, &a.file))?;
    let mut file = File::open(&a.file)
        .map_err(|e| Failure::new(format!("cannot read {}: {e}", a.file.display())))?;
    // A broadcast file carries its marker after the decoy header.
    let mut magic = [0u8; 8];
    file.seek(SeekFrom::Start(broadcast_layout::MAGIC_OFFSET as u64))
        .and_then(|_| file.read_exact(&mut magic))
        .map_err(|e| Failure::new(format!("cannot read {}: {e}", a.file.display())))?;
    if magic == broadcast_layout::MAGIC_LAYING_OUT {
        println!(
            "note: a server is laying {} out as a broadcast stream (or died doing so); its \
             two-buffer view follows\n",
            a.file.display()
        );
    }
    if magic == broadcast_layout::MAGIC {
        match BroadcastStatus::read(&a.file) {
            Ok(Some(status)) => {
                crate::inspect_broadcast::print(&a.file, &status);
                return Ok(());
            }
            Ok(None) => println!(
                "note: {} carries the broadcast marker but no broadcast layout this version \
                 reads (another version, a damaged file, or pixels that happen to spell the \
                 marker); its two-buffer view follows\n",
                a.file.display()
            ),
            Err(e) => {
                return Err(Failure::new(format!(
                    "{} is a broadcast stream file, but its status cannot be read: {e} \
                     (reading it takes read and write access)",
                    a.file.display()
                )))
            }
        }
    }
    let mut headers = [Header::default(); 2];
    for (b, h) in headers.iter_mut().enumerate() {
        let mut bytes = [0u8; 24];
        file.seek(SeekFrom::Start(l.header_offset(b) as u64))
            .and_then(|_| file.read_exact(&mut bytes))
            .map_err(|e| Failure::new(format!("cannot read {}: {e}", a.file.display())))?;
        *h = Header::from_bytes(&bytes);
    }
    println!("file      {}", a.file.display());
    println!(
        "length    {} bytes ({:.1} MiB); payload per buffer {} bytes",
        l.file_len(),
        l.file_len() as f64 / (1024.0 * 1024.0),
        l.payload_size()
    );
    println!(
        "fits      1920x{} 3840x{} (rows that fit at those widths)",
        l.max_height_for_width(1920),
        l.max_height_for_width(3840)
    );
    for (b, h) in headers.iter().enumerate() {
        let name = h.buffer_state().map_or("?", BufferState::name);
        println!();
        println!(
            "buffer {b}  header at offset {}, pixels at {}",
            l.header_offset(b),
            l.pixels_offset(b)
        );
        println!(
            "  state          {} {name} ({})",
            h.state,
            state_meaning(h.buffer_state())
        );
        println!("  frame_number   {}", h.frame_number);
        match layout::frame_len(h.width, h.height) {
            None if h.width == 0 || h.height == 0 => {
                println!("  size           {}x{} (no frame)", h.width, h.height)
            }
            len => println!(
                "  size           {}x{} ({} bytes{})",
                h.width,
                h.height,
                len.map_or("too many to count".into(), |n| n.to_string()),
                if l.fits(h.width, h.height) {
                    ""
                } else {
                    ", does not fit"
                }
            ),
        }
        println!("  offset         {}", h.offset);
        println!("  num_scanlines  {}", h.num_scanlines);
        println!(
            "  pad            {:02x} {:02x} {:02x}",
            h.pad[0], h.pad[1], h.pad[2]
        );
    }
    println!();
    for note in diagnose(&headers, &l) {
        println!("diagnosis: {note}");
    }
    Ok(())
}
