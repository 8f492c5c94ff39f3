//! Build script: generates the two C headers with cbindgen (rewriting them only when their text
//! changes) and gives the shared library its SONAME.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

/// The ABI version: the `N` of `libshared_memory_image_client.so.N`.
const ABI_MAJOR: u32 = 1;
const LIB: &str = "libshared_memory_image_client.so";

/// Items that belong to the server header (`_priv.h`); everything else exported goes to the
/// public header.
const PRIV_ITEMS: &[&str] = &[
    "IMAGESTREAM_OPTIONS_INITBUFFERHEADERS",
    "IMAGESTREAM_OPTIONS_NOTHREADS",
    "IMAGESTREAM_OPTIONS_SERVER",
    "IMAGESTREAM_BUFFER_STATE_SERVER",
    "IMAGESTREAM_BUFFER_STATE_SERVER_LOCKED",
    "IMAGESTREAM_BUFFER_STATE_CLIENT",
    "IMAGESTREAM_BUFFER_STATE_CLIENT_LOCKED",
    "IMAGESTREAM_BUFFER_STATE_INIT",
    "IMAGESTREAM_TOO_MANY_READERS",
    "BufferHeader",
    "SharedMemoryImageStream_putframe",
    "SharedMemoryImageStream_createfile",
    "SharedMemoryImageStream_createfilemode",
    "SharedMemoryImageStream_lockwait",
    "SharedMemoryImageStream_beginframe",
    "SharedMemoryImageStream_endframe",
    "SharedMemoryImageStream_abortframe",
    "_SharedMemoryMapping",
    "SharedMemoryMapping",
    "SharedMemoryImageStream_retainmapping",
    "SharedMemoryImageStream_releasemapping",
    "SharedMemoryImageStream_createbroadcast",
];

/// Items of the public header (excluded from the server header, which includes it).
const PUBLIC_ITEMS: &[&str] = &[
    "IMAGESTREAM_UNCONNECTED",
    "IMAGESTREAM_RECONNECTING",
    "IMAGESTREAM_NO_FRAMEAVAILABLE",
    "IMAGESTREAM_NO_BUFFERAVAILABLE",
    "IMAGESTREAM_NOERROR",
    "IMAGESTREAM_BAD_ARGS",
    "IMAGESTREAM_NOT_LOCKED",
    "IMAGESTREAM_BAD_FILE_SIZE",
    "IMAGESTREAM_UNABLE_TO_OPEN_FILE",
    "IMAGESTREAM_UNABLE_TO_MAP_FILE",
    "IMAGESTREAM_MEMORY_ALLOC_ERROR",
    "IMAGESTREAM_THREAD_CREATE_ERROR",
    "IMAGESTREAM_IS_SERVER",
    "IMAGESTREAM_IS_NOTSERVER",
    "IMAGESTREAM_FRAME_TOO_LARGE",
    "IMAGESTREAM_LOCKED",
    "IMAGESTREAM_OPTIONS_NONE",
    "IMAGESTREAM_OPTIONS_FLIPVERTICAL",
    "SharedMemoryImageError",
    "_SharedMemoryImageStream",
    "SharedMemoryImageStream",
    "_SharedMemoryFrame",
    "SharedMemoryFrame",
    "SharedMemoryImageStream_create",
    "SharedMemoryImageStream_lock",
    "SharedMemoryImageStream_unlock",
    "SharedMemoryImageStream_destroy",
    "SharedMemoryImageStream_errorstring",
];

const GENERATED_NOTE: &str =
    "/* Generated from the Rust sources (src/ffi) by cbindgen in build.rs. Do not edit. */";

fn base_config(guard: &str) -> cbindgen::Config {
    let mut c = cbindgen::Config {
        language: cbindgen::Language::C,
        cpp_compat: true,
        no_includes: true,
        include_guard: Some(guard.to_string()),
        autogen_warning: Some(GENERATED_NOTE.to_string()),
        documentation: true,
        documentation_style: cbindgen::DocumentationStyle::Doxy,
        sort_by: cbindgen::SortKey::None,
        usize_is_size_t: true,
        ..Default::default()
    };
    c.parse.parse_deps = false;
    c
}

fn public_config() -> cbindgen::Config {
    let mut c = base_config("SHARED_MEMORY_IMAGE_CLIENT_H");
    // Struct tags plus pointer typedefs, as in the original header
    // (`typedef struct _SharedMemoryFrame {...} *SharedMemoryFrame;`).
    c.style = cbindgen::Style::Tag;
    c.sys_includes = vec!["stdint.h".into()];
    c.header = Some(
        "/* shared_memory_image_client.h: the shared memory image transport, client API. */".into(),
    );
    c.after_includes = Some(
        "\n/* API version string of this interface. */\n#define IMAGESTREAM_API_VERSION \"1.0\"\n"
            .into(),
    );
    c.export.exclude = PRIV_ITEMS.iter().map(|s| s.to_string()).collect();
    c
}

fn priv_config() -> cbindgen::Config {
    let mut c = base_config("SHARED_MEMORY_IMAGE_CLIENT_PRIV_H");
    // `typedef struct BufferHeader {...} BufferHeader;` so C code can name it without `struct`.
    c.style = cbindgen::Style::Both;
    c.includes = vec!["shared_memory_image_client.h".into()];
    c.header = Some(
        "/* shared_memory_image_client_priv.h: server-side API and extensions of the shared memory\n * image transport. Includes the client API. */".into(),
    );
    c.export.exclude = PUBLIC_ITEMS.iter().map(|s| s.to_string()).collect();
    c.export.include = vec!["BufferHeader".into()];
    c
}

/// Touches up cbindgen's macros: negative values are parenthesised (`#define X (-1)`), so a
/// macro can never combine with a neighbouring token, and option bit masks are written in hex as
/// in the original header (`0x00000100` rather than `256`).
fn polish_defines(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.lines() {
        let mut parts = line.splitn(3, ' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("#define"), Some(name), Some(value))
                if value.starts_with('-') && value[1..].bytes().all(|b| b.is_ascii_digit()) =>
            {
                out.push_str(&format!("#define {name} ({value})"));
            }
            (Some("#define"), Some(name), Some(value))
                if name.starts_with("IMAGESTREAM_OPTIONS_") && value.parse::<u32>().is_ok() =>
            {
                let v: u32 = value.parse().expect("checked");
                out.push_str(&format!("#define {name} 0x{v:08X}"));
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

fn generate(crate_dir: &Path, config: cbindgen::Config) -> String {
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .unwrap_or_else(|e| panic!("cbindgen failed: {e}"));
    let mut buf = Vec::new();
    bindings.write(&mut buf);
    polish_defines(&String::from_utf8(buf).expect("cbindgen writes UTF-8"))
}

fn write_if_changed(path: &Path, text: &str) {
    if fs::read_to_string(path)
        .map(|old| old == text)
        .unwrap_or(false)
    {
        return;
    }
    fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../include");

    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("set by cargo"));
    for (name, config) in [
        ("shared_memory_image_client.h", public_config()),
        ("shared_memory_image_client_priv.h", priv_config()),
    ] {
        let text = generate(&crate_dir, config);
        // The copy in OUT_DIR lets the header test compare the committed file with what this
        // build generated, even where include/ cannot be written.
        write_if_changed(&out_dir.join(name), &text);
        write_if_changed(&crate_dir.join("../include").join(name), &text);
    }

    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" {
        let soname = format!("{LIB}.{ABI_MAJOR}");
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
        // Programs linked against target/<profile>/libshared_memory_image_client.so record the
        // SONAME; a link of that name next to the library lets them run with just an rpath to
        // that folder. OUT_DIR is target/<profile>/build/<pkg>-<hash>/out.
        if let Some(profile_dir) = out_dir.ancestors().nth(3) {
            let link = profile_dir.join(&soname);
            if fs::symlink_metadata(&link).is_err() {
                let _ = std::os::unix::fs::symlink(LIB, &link);
            }
        }
    }
}
