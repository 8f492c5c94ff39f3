//! The `shmimg` command line: clear messages and non-zero exits for bad input, and `inspect`
//! decoding a file.

#[path = "../../library/tests/common/mod.rs"]
mod common;

use std::process::{Command, Output};

use common::*;

const SHMIMG: &str = env!("CARGO_BIN_EXE_shmimg");

fn run(args: &[&str]) -> Output {
    Command::new(SHMIMG).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn missing_and_small_files_fail_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.shm");
    for cmd in ["serve", "watch", "inspect"] {
        let o = run(&[cmd, missing.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{cmd}");
        assert!(
            stderr(&o).contains("does not exist"),
            "{cmd}: {}",
            stderr(&o)
        );
        assert!(stderr(&o).contains("shmimg createfile"), "{cmd}");
    }
    let small = TempStreamFile::with_len(4096);
    for cmd in ["serve", "watch", "inspect"] {
        let o = run(&[cmd, small.path.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{cmd}");
        assert!(
            stderr(&o).contains("smaller than the 10 MiB"),
            "{cmd}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn bad_arguments_exit_with_usage_errors() {
    for args in [
        &["createfile", "x.shm", "--max", "0x10"][..],
        &["createfile", "x.shm", "--max", "1920"],
        &["createfile", "x.shm"],
        &["serve"],
        &["frobnicate"],
        &["serve", "f", "--fps", "fast"],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(!stderr(&o).is_empty());
    }
}

#[test]
fn frame_too_large_for_the_file_is_explained() {
    let f = TempStreamFile::min();
    let o = run(&[
        "serve",
        f.path.to_str().unwrap(),
        "--size",
        "3840x2160",
        "--frames",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("do not fit"), "{}", stderr(&o));
}

#[test]
fn createfile_then_inspect_shows_states_and_diagnosis() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.shm");
    let ps = p.to_str().unwrap();
    let o = run(&["createfile", ps, "--max", "3840x2160"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::metadata(&p).unwrap().len(),
        48 + 2 * 3840 * 2160 * 3
    );

    let f = TempStreamFile::min();
    let s = server(&f);
    let o = run(&["inspect", f.path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    assert!(text.contains("4 INIT"), "{text}");
    assert!(text.contains("no client is attached"), "{text}");
    let (_, c) = client(&f);
    put(s, 42, 2, 2, &pattern(42, 2, 2));
    f.write_raw_state(1, 3);
    let text =
        String::from_utf8_lossy(&run(&["inspect", f.path.to_str().unwrap()]).stdout).into_owned();
    assert!(text.contains("2 CLIENT"), "{text}");
    assert!(text.contains("frame_number   42"), "{text}");
    assert!(text.contains("client holds a frame locked"), "{text}");
    f.write_raw_state(1, 200);
    let text =
        String::from_utf8_lossy(&run(&["inspect", f.path.to_str().unwrap()]).stdout).into_owned();
    assert!(text.contains("invalid state byte 200"), "{text}");
    // inspect changes nothing.
    assert_eq!(f.raw_states()[1], 200);
    destroy(c);
    destroy(s);
}

#[test]
fn createfile_makes_owner_only_files_unless_given_a_mode() {
    let dir = tempfile::tempdir().unwrap();
    let own = dir.path().join("own.shm");
    let group = dir.path().join("group.shm");
    let o = run(&["createfile", own.to_str().unwrap(), "--max", "64x64"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&[
        "createfile",
        group.to_str().unwrap(),
        "--max",
        "64x64",
        "--mode",
        "0660",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&own), 0o600);
        assert_eq!(mode(&group), 0o660);
    }
    for bad in ["0400", "0o1660", "rw-rw----", "8"] {
        let p = dir.path().join("bad.shm");
        let o = run(&[
            "createfile",
            p.to_str().unwrap(),
            "--max",
            "64x64",
            "--mode",
            bad,
        ]);
        assert_eq!(o.status.code(), Some(2), "--mode {bad}: {}", stderr(&o));
        assert!(stderr(&o).contains("mode"), "{}", stderr(&o));
        assert!(!p.exists());
    }
}
