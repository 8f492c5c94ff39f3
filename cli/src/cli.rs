//! Command-line arguments.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, Parser, Subcommand};

/// Shared memory image transport: stream RGB frames between processes through a mapped file.
#[derive(Debug, Parser)]
#[command(name = "shmimg", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Stream an animated pattern from a server process to a client process and report.
    Demo(DemoArgs),
    /// Be a server: stream an animated test pattern into FILE.
    Serve(ServeArgs),
    /// Be a client: read frames from FILE and show live statistics.
    Watch(WatchArgs),
    /// Show what FILE holds, decoded, without changing anything: both buffer headers of a
    /// two-buffer stream; the buffers, holders and reader table of a broadcast stream.
    Inspect(InspectArgs),
    /// Create (or grow) FILE so that frames up to --max fit.
    Createfile(CreatefileArgs),
    /// Run the performance benchmarks and print their tables (about 30 s).
    Bench(BenchArgs),
    /// Stress a stream across processes and check every frame whole (with --broadcast: several
    /// readers, killed and restarted at random).
    Torture(TortureArgs),
    /// Kill clients holding frames and servers mid-stream with SIGKILL, repeatedly, and check
    /// that the stream recovers every time.
    Crashtest(CrashtestArgs),
    /// The other processes of `shmimg torture` and of the crash tests.
    #[command(hide = true)]
    TorturePeer(TorturePeerArgs),
    /// The server side of the cross-process benchmarks (started by `shmimg bench`).
    #[command(hide = true)]
    BenchPeer(BenchPeerArgs),
}

/// `shmimg torture`.
#[derive(Debug, Args)]
pub struct TortureArgs {
    /// How long to run (default 3 s, or 600 s with --long).
    #[arg(long)]
    pub seconds: Option<f64>,
    /// The long run: 10 minutes unless --seconds says otherwise.
    #[arg(long)]
    pub long: bool,
    /// No progress lines.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the summary as key=value lines.
    #[arg(long)]
    pub machine: bool,
    /// Torture a broadcast stream: a server process, several checking reader processes, and
    /// readers killed at random moments (some while they hold a frame) and restarted.
    #[arg(long)]
    pub broadcast: bool,
    /// Reader processes of the broadcast torture.
    #[arg(long, default_value_t = 3, requires = "broadcast", value_parser = clap::value_parser!(u32).range(2..=32))]
    pub readers: u32,
    /// Buffers of the broadcast torture's stream (3 to 64; few buffers make the server drop
    /// frames while readers hold theirs).
    #[arg(long, default_value_t = 4, requires = "broadcast", value_parser = clap::value_parser!(u32).range(3..=64))]
    pub buffers: u32,
}

impl TortureArgs {
    /// How long the run lasts in seconds: `--seconds`, else 600 with `--long` and 3 without.
    pub fn run_seconds(&self) -> f64 {
        self.seconds.unwrap_or(if self.long { 600.0 } else { 3.0 })
    }
}

/// `shmimg crashtest`.
#[derive(Debug, Args)]
pub struct CrashtestArgs {
    /// Kills of each kind.
    #[arg(long, default_value_t = 20)]
    pub rounds: u32,
    /// Print the summary as key=value lines.
    #[arg(long)]
    pub machine: bool,
}

/// `shmimg torture-peer MODE FILE [SECONDS]`.
#[derive(Debug, Args)]
pub struct TorturePeerArgs {
    /// `server`, `hold`, `broadcast-server` or `check`.
    pub mode: String,
    /// Stream file.
    pub file: PathBuf,
    /// How long the server runs.
    pub seconds: Option<f64>,
    /// Buffers of the stream a `broadcast-server` lays out.
    #[arg(long, default_value_t = 4)]
    pub buffers: u32,
}

/// `shmimg bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Fewer repetitions (about 30 s instead of about a minute and a half).
    #[arg(long)]
    pub quick: bool,
    /// Run only the broadcast section (1, 2, 4 and 8 readers).
    #[arg(long)]
    pub broadcast: bool,
}

/// What the benchmark peer does.
#[derive(Debug, Clone, Copy)]
pub enum PeerMode {
    /// Paced frames written in place and stamped just before publishing.
    Latency {
        /// Frames per second.
        rate: u32,
    },
    /// putframe as fast as possible.
    Copy,
    /// beginframe/endframe as fast as possible.
    ZeroCopy,
    /// A reader process: lockwait until the end marker frame, then print what it saw.
    Reader,
}

/// `shmimg bench-peer MODE FILE SIZE ARG SECONDS`.
#[derive(Debug, Args)]
pub struct BenchPeerArgs {
    /// `latency`, `throughput` or `reader`.
    kind: String,
    /// Stream file.
    pub file: PathBuf,
    /// Frame size.
    pub size: Size,
    /// Rate (latency), `copy`/`zerocopy` (throughput) or `lockwait` (reader).
    arg: String,
    /// How long to run.
    pub seconds: f64,
    /// Parsed from `kind` and `arg`.
    #[arg(skip = PeerMode::Copy)]
    pub mode: PeerMode,
}

impl BenchPeerArgs {
    /// Resolves `mode` from the positional words.
    pub fn resolve(mut self) -> Result<BenchPeerArgs, String> {
        self.mode = match (self.kind.as_str(), self.arg.as_str()) {
            ("latency", rate) => PeerMode::Latency {
                rate: rate.parse().map_err(|_| format!("bad rate `{rate}`"))?,
            },
            ("throughput", "copy") => PeerMode::Copy,
            ("throughput", "zerocopy") => PeerMode::ZeroCopy,
            ("reader", "lockwait") => PeerMode::Reader,
            (k, a) => return Err(format!("unknown peer mode `{k} {a}`")),
        };
        Ok(self)
    }
}

/// A frame size, `WIDTHxHEIGHT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
}

impl FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Size, String> {
        let (w, h) = s
            .split_once(['x', 'X'])
            .ok_or_else(|| format!("`{s}` is not a size; write WIDTHxHEIGHT, e.g. 1920x1080"))?;
        let parse = |v: &str, what: &str| -> Result<u32, String> {
            match v.trim().parse::<u32>() {
                Ok(0) | Err(_) => Err(format!(
                    "`{v}` is not a valid {what} (a whole number from 1)"
                )),
                Ok(n) => Ok(n),
            }
        };
        Ok(Size {
            width: parse(w, "width")?,
            height: parse(h, "height")?,
        })
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// `shmimg demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How long to stream, in seconds.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Frame size.
    #[arg(long, default_value = "1920x1080")]
    pub size: Size,
    /// Frames per second the server aims for (0: as fast as possible).
    #[arg(long, default_value_t = 60.0)]
    pub fps: f64,
    /// Where to write the last received frame (PNG).
    #[arg(long, default_value = "shmimg-demo.png")]
    pub out: PathBuf,
    /// Stream file to use (default: a new file under /dev/shm, removed afterwards).
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Serve a broadcast stream to this many viewer processes and show their statistics side
    /// by side (default: the original protocol, one viewer).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=32))]
    pub readers: Option<u32>,
}

/// `shmimg serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Stream file (must exist; see `shmimg createfile`; with --broadcast it is created or
    /// grown).
    pub file: PathBuf,
    /// Serve a broadcast stream with this many buffers (3 to 64) to any number of readers
    /// (up to 64), laying FILE out for --size frames; a broadcast file of the same geometry is
    /// resumed with its readers. Without it: the original two-buffer protocol (and a broadcast
    /// file is resumed as it is).
    #[arg(long, value_name = "BUFFERS", value_parser = clap::value_parser!(u32).range(3..=64))]
    pub broadcast: Option<u32>,
    /// Frame size.
    #[arg(long, default_value = "1920x1080")]
    pub size: Size,
    /// Frames per second to aim for (0: as fast as possible).
    #[arg(long, default_value_t = 60.0)]
    pub fps: f64,
    /// Stop after this many seconds (default: run until interrupted).
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Stop after this many frames.
    #[arg(long)]
    pub frames: Option<u64>,
    /// Store rows bottom-up (IMAGESTREAM_OPTIONS_FLIPVERTICAL).
    #[arg(long)]
    pub flip: bool,
    /// Print no live statistics.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the final summary as key=value lines on stdout (for scripts).
    #[arg(long)]
    pub machine: bool,
}

/// `shmimg watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Stream file (must exist).
    pub file: PathBuf,
    /// Stop after this many seconds (default: run until interrupted).
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Stop after this many frames.
    #[arg(long)]
    pub frames: Option<u64>,
    /// Save the last frame received to this file (.png or .ppm).
    #[arg(long)]
    pub snapshot: Option<PathBuf>,
    /// Print no live statistics.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the final summary as key=value lines (for scripts).
    #[arg(long)]
    pub machine: bool,
    /// Print `progress key=value ...` lines on stdout twice a second (for `shmimg demo`).
    #[arg(long, hide = true)]
    pub progress: bool,
}

/// `shmimg inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Stream file.
    pub file: PathBuf,
}

/// `shmimg createfile`.
#[derive(Debug, Args)]
pub struct CreatefileArgs {
    /// File to create or grow.
    pub file: PathBuf,
    /// Largest frame that must fit, WIDTHxHEIGHT.
    #[arg(long)]
    pub max: Size,
    /// Permission bits of a new file, in octal (default 0600: the owner only; 0660 lets a
    /// group share the stream). An existing file keeps its own.
    #[arg(long, default_value = "0600", value_parser = parse_mode)]
    pub mode: u32,
}

/// An octal permission mode (`0660`, `660` or `0o660`) that grants the owner read and write.
fn parse_mode(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    let mode = u32::from_str_radix(digits, 8)
        .map_err(|_| format!("{s:?} is not an octal mode such as 0600 or 0660"))?;
    if mode & !0o777 != 0 || mode & 0o600 != 0o600 {
        return Err(format!(
            "mode {s} must grant the owner read and write (0600) and have no bits beyond 0777"
        ));
    }
    Ok(mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_parses_and_rejects() {
        assert_eq!(
            "3840x2160".parse::<Size>(),
            Ok(Size {
                width: 3840,
                height: 2160
            })
        );
        assert_eq!(
            "64X48".parse::<Size>(),
            Ok(Size {
                width: 64,
                height: 48
            })
        );
        assert!("0x10".parse::<Size>().is_err());
        assert!("10".parse::<Size>().is_err());
        assert!("axb".parse::<Size>().is_err());
        assert!("99999999999x1".parse::<Size>().is_err());
    }
}
