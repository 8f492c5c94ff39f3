//! `cargo bench`: runs the performance suite of `shmimg bench` (same tables, same code), built
//! with the bench profile. Pass `-- --quick` for the short version.

use std::process::Command;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shmimg"));
    cmd.arg("bench");
    if quick {
        cmd.arg("--quick");
    }
    let status = cmd.status().expect("run shmimg bench");
    std::process::exit(status.code().unwrap_or(1));
}
