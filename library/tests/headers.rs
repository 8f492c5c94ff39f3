//! The committed C headers are exactly what the build generates, and carry the names and values
//! of SPEC sections 1 and 2.

use std::path::Path;
use std::process::Command;

const HEADERS: [&str; 2] = [
    "shared_memory_image_client.h",
    "shared_memory_image_client_priv.h",
];

fn committed(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../include")
            .join(name),
    )
    .unwrap()
}

#[test]
fn committed_headers_match_the_generated_ones() {
    for name in HEADERS {
        let generated = std::fs::read_to_string(Path::new(env!("OUT_DIR")).join(name)).unwrap();
        assert!(
            committed(name) == generated,
            "include/{name} differs from what build.rs generated; rebuild and commit it"
        );
    }
    // In a git checkout the generated text must also be what is committed (build.rs rewrites
    // include/ when it differs, which shows up here as a modified file).
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let in_git = Command::new("git")
        .args(["-C", root, "rev-parse", "--is-inside-work-tree"])
        .output()
        .is_ok_and(|o| o.status.success());
    if in_git {
        let o = Command::new("git")
            .args(["-C", root, "status", "--porcelain", "--", "include"])
            .output()
            .unwrap();
        let changes = String::from_utf8_lossy(&o.stdout);
        assert!(
            changes.trim().is_empty(),
            "include/ differs from the committed headers; commit the regenerated files:\n{changes}"
        );
    }
}

#[test]
fn public_header_has_the_spec_names_and_values() {
    let h = committed("shared_memory_image_client.h");
    for (name, value) in [
        ("IMAGESTREAM_API_VERSION", "\"1.0\""),
        ("IMAGESTREAM_UNCONNECTED", "4"),
        ("IMAGESTREAM_RECONNECTING", "3"),
        ("IMAGESTREAM_NO_FRAMEAVAILABLE", "2"),
        ("IMAGESTREAM_NO_BUFFERAVAILABLE", "1"),
        ("IMAGESTREAM_NOERROR", "0"),
        ("IMAGESTREAM_BAD_ARGS", "(-1)"),
        ("IMAGESTREAM_NOT_LOCKED", "(-2)"),
        ("IMAGESTREAM_BAD_FILE_SIZE", "(-3)"),
        ("IMAGESTREAM_UNABLE_TO_OPEN_FILE", "(-4)"),
        ("IMAGESTREAM_UNABLE_TO_MAP_FILE", "(-5)"),
        ("IMAGESTREAM_MEMORY_ALLOC_ERROR", "(-6)"),
        ("IMAGESTREAM_THREAD_CREATE_ERROR", "(-7)"),
        ("IMAGESTREAM_IS_SERVER", "(-8)"),
        ("IMAGESTREAM_IS_NOTSERVER", "(-9)"),
        ("IMAGESTREAM_FRAME_TOO_LARGE", "(-10)"),
        ("IMAGESTREAM_LOCKED", "(-11)"),
        ("IMAGESTREAM_OPTIONS_NONE", "0x00000000"),
        ("IMAGESTREAM_OPTIONS_FLIPVERTICAL", "0x00000100"),
    ] {
        let line = format!("#define {name} {value}\n");
        assert!(h.contains(&line), "missing `{}`", line.trim());
    }
    for decl in [
        "typedef int SharedMemoryImageError;",
        "typedef struct _SharedMemoryImageStream *SharedMemoryImageStream;",
        "typedef struct _SharedMemoryFrame *SharedMemoryFrame;",
        "SharedMemoryImageError SharedMemoryImageStream_unlock(SharedMemoryImageStream stream);",
        "SharedMemoryImageError SharedMemoryImageStream_destroy(SharedMemoryImageStream stream);",
        "const char *SharedMemoryImageStream_errorstring(SharedMemoryImageError err);",
    ] {
        assert!(h.contains(decl), "missing `{decl}`");
    }
    let includes: Vec<&str> = h.lines().filter(|l| l.starts_with("#include")).collect();
    assert_eq!(includes, ["#include <stdint.h>"]);
}

#[test]
fn priv_header_has_the_server_names() {
    let h = committed("shared_memory_image_client_priv.h");
    assert!(h.contains("#include \"shared_memory_image_client.h\""));
    for (name, value) in [
        ("IMAGESTREAM_OPTIONS_INITBUFFERHEADERS", "0x00000001"),
        ("IMAGESTREAM_OPTIONS_NOTHREADS", "0x00000002"),
        (
            "IMAGESTREAM_OPTIONS_SERVER",
            "(IMAGESTREAM_OPTIONS_INITBUFFERHEADERS | IMAGESTREAM_OPTIONS_NOTHREADS)",
        ),
        ("IMAGESTREAM_BUFFER_STATE_SERVER", "0"),
        ("IMAGESTREAM_BUFFER_STATE_SERVER_LOCKED", "1"),
        ("IMAGESTREAM_BUFFER_STATE_CLIENT", "2"),
        ("IMAGESTREAM_BUFFER_STATE_CLIENT_LOCKED", "3"),
        ("IMAGESTREAM_BUFFER_STATE_INIT", "4"),
    ] {
        let line = format!("#define {name} {value}\n");
        assert!(h.contains(&line), "missing `{}`", line.trim());
    }
    assert!(h.contains("} BufferHeader;"));
    assert!(h.contains("SharedMemoryImageStream_putframe(SharedMemoryImageStream stream,"));
}
