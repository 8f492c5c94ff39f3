//! `shmimg`: the command-line tool of the shared memory image transport. Streams test frames
//! (on the original two-buffer protocol or on broadcast streams), watches streams, inspects
//! stuck files of both kinds, creates stream files, runs demos, stress tests and benchmarks.

mod bench;
mod bench_broadcast;
mod cli;
mod demo;
mod image_out;
mod inspect;
mod inspect_broadcast;
mod pattern;
mod scratch;
mod serve;
mod signals;
mod stats;
mod sys;
mod torture;
mod torture_broadcast;
mod watch;

use std::process::ExitCode;

use clap::Parser;

use shared_memory_image_client::{create_file_with_mode, Error};

/// A failure that ends the program: the message for the user and the exit code.
#[derive(Debug)]
pub struct Failure {
    /// What went wrong, in words that say what to do about it.
    pub message: String,
    /// Process exit code: 1 for runtime failures, 2 for bad usage.
    pub code: u8,
}

impl Failure {
    /// A runtime failure (exit code 1).
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code: 1,
        }
    }
}

/// Starts this executable again with `args` (stdin closed, stdout piped): the other process of
/// the demo, the benchmarks and the torture and crash tests.
pub fn spawn_self<I, S>(
    args: I,
    stderr: std::process::Stdio,
) -> Result<std::process::Child, Failure>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let exe = std::env::current_exe()
        .map_err(|e| Failure::new(format!("cannot find the shmimg executable: {e}")))?;
    std::process::Command::new(exe)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| Failure::new(format!("cannot start a child process: {e}")))
}

/// Kills a child at once (SIGKILL on Unix, TerminateProcess on Windows) and reaps it.
pub fn kill_now(child: &mut std::process::Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Explains a library error about `path` in words a user can act on.
pub fn describe(err: Error, path: &std::path::Path) -> Failure {
    let p = path.display();
    let message = match err {
        Error::BadFileSize if !path.exists() => format!(
            "{p} does not exist; create it first, e.g. `shmimg createfile {p} --max 1920x1080`"
        ),
        Error::BadFileSize => {
            let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            format!(
                "{p} is {len} bytes, smaller than the 10 MiB (10485760 bytes) minimum; \
                 grow it with `shmimg createfile {p} --max 1920x1080`"
            )
        }
        Error::UnableToOpenFile => format!(
            "{p} cannot be opened for reading and writing (is it a directory, or not yours?)"
        ),
        Error::FrameTooLarge => format!(
            "the frame does not fit the buffers of {p}; grow it with `shmimg createfile {p} --max WxH`"
        ),
        Error::IsServer => format!(
            "another server is serving the broadcast stream {p}; stop it first (`shmimg inspect \
             {p}` shows its process id)"
        ),
        Error::TooManyReaders => {
            format!("{p} already has 64 readers attached, as many as a broadcast stream takes")
        }
        other => format!("{p}: {other}"),
    };
    Failure::new(message)
}

fn run(cli: cli::Cli) -> Result<(), Failure> {
    match cli.command {
        cli::Command::Demo(a) => demo::run(a),
        cli::Command::Serve(a) => serve::run(a),
        cli::Command::Watch(a) => watch::run(a),
        cli::Command::Inspect(a) => inspect::run(a),
        cli::Command::Bench(a) => bench::run(a),
        cli::Command::Torture(a) => torture::run(a),
        cli::Command::TorturePeer(a) => torture::peer(a),
        cli::Command::Crashtest(a) => torture::crash(a),
        cli::Command::BenchPeer(a) => bench::peer(a.resolve().map_err(Failure::new)?),
        cli::Command::Createfile(a) => {
            let len = create_file_with_mode(&a.file, a.max.width, a.max.height, a.mode)
                .map_err(|e| describe(e, &a.file))?;
            println!(
                "{}: {len} bytes, frames up to {}x{} fit",
                a.file.display(),
                a.max.width,
                a.max.height
            );
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("shmimg: error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}
