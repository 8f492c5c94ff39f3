//! The short modes of `shmimg torture` (every frame checked whole across two processes),
//! `shmimg torture --broadcast` (several reader processes checking every frame while they are
//! killed at random and restarted) and `shmimg crashtest` (clients holding frames and servers
//! mid-stream killed with SIGKILL, again and again). The long modes are `shmimg torture --long`
//! and `shmimg torture --broadcast --long` (10 minutes each).

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

/// The broadcast torture's promises, whatever its configuration.
fn check_broadcast_torture(m: &HashMap<String, String>, readers: u64) {
    assert_eq!(num(m, "failures"), 0, "{m:?}");
    assert_eq!(num(m, "torn"), 0, "{m:?}");
    assert_eq!(num(m, "out_of_order"), 0, "{m:?}");
    assert!(num(m, "frames_checked") > 10, "{m:?}");
    let killed = num(m, "readers_killed");
    assert!(killed > 0, "{m:?}");
    // Some of the kills hit a reader while the file showed it holding a frame.
    assert!(num(m, "killed_while_holding") > 0, "{m:?}");
    // Every killed reader's slot and holds were given back, within the second SPEC section 7
    // allows, and the server went on delivering each time.
    assert_eq!(num(m, "give_back_measured"), killed, "{m:?}");
    let max_ms: f64 = m["give_back_ms_max"].parse().unwrap();
    assert!(max_ms < 1000.0, "{m:?}");
    assert_eq!(num(m, "holds_freed"), killed, "{m:?}");
    assert_eq!(num(m, "server_readers_reaped"), killed, "{m:?}");
    assert_eq!(num(m, "kills_followed_by_delivery"), killed, "{m:?}");
    // New readers attached in the place of every killed one, and the last ones read frames.
    assert_eq!(num(m, "readers_restarted"), killed, "{m:?}");
    assert_eq!(num(m, "restarted_attached"), killed, "{m:?}");
    assert_eq!(num(m, "final_readers_reading"), readers, "{m:?}");
}

#[test]
fn broadcast_torture_with_readers_killed_while_every_buffer_is_taken() {
    // Three readers on four buffers: the server often finds every buffer held and drops frames,
    // and looks for dead readers as soon as it does.
    let m = run(&[
        "torture",
        "--broadcast",
        "--readers",
        "3",
        "--buffers",
        "4",
        "--seconds",
        "3",
        "--quiet",
        "--machine",
    ]);
    check_broadcast_torture(&m, 3);
}

#[test]
fn broadcast_torture_with_readers_killed_while_buffers_are_free() {
    // Four readers on eight buffers: the server always finds a free buffer, so only its
    // periodic look for dead readers gives their holds back.
    let m = run(&[
        "torture",
        "--broadcast",
        "--readers",
        "4",
        "--buffers",
        "8",
        "--seconds",
        "3",
        "--quiet",
        "--machine",
    ]);
    check_broadcast_torture(&m, 4);
}
