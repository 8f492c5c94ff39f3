//! The short modes of `shmimg torture` (every frame checked whole across two processes) and
//! `shmimg crashtest` (clients holding frames and servers mid-stream killed with SIGKILL, again
//! and again). The long mode is `shmimg torture --long` (10 minutes).

use std::collections::HashMap;
use std::process::Command;

const SHMIMG: &str = env!("CARGO_BIN_EXE_shmimg");

fn run(args: &[&str]) -> HashMap<String, String> {
    let out = Command::new(SHMIMG).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "shmimg {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn num(m: &HashMap<String, String>, k: &str) -> u64 {
    m.get(k)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {k} in {m:?}"))
}

#[test]
fn torture_short_run_has_no_torn_or_out_of_order_frames() {
    let m = run(&["torture", "--seconds", "3", "--quiet", "--machine"]);
    assert_eq!(num(&m, "torn"), 0);
    assert_eq!(num(&m, "out_of_order"), 0);
    assert!(num(&m, "frames_checked") > 100, "{m:?}");
    assert!(
        num(&m, "server_dropped_no_buffer") > 0,
        "the run should also exercise dropped frames: {m:?}"
    );
}

#[test]
fn killed_clients_and_servers_never_wedge_the_stream() {
    let m = run(&["crashtest", "--rounds", "25", "--machine"]);
    assert_eq!(num(&m, "failures"), 0, "{m:?}");
    assert_eq!(num(&m, "torn"), 0);
    assert_eq!(num(&m, "out_of_order"), 0);
    assert_eq!(num(&m, "client_kills"), 25);
    assert_eq!(num(&m, "server_kills"), 25);
    assert!(num(&m, "frames_checked") >= 25 * 21, "{m:?}");
}
