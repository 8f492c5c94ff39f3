//! File names in the C API on Windows (SPEC section 3): UTF-8, and a name that is not valid
//! UTF-8 is read in the ANSI code page, as `CreateFileA` would.
#![cfg(windows)]

mod common;

use std::ffi::CString;

use shared_memory_image_client::ffi::*;

#[test]
fn utf8_names_reach_the_file_of_that_name() {
    let dir = tempfile::tempdir().unwrap();
    let name = "str\u{f6}m-\u{6587}\u{5b57}-\u{1f3a5}.shm";
    let path = dir.path().join(name);
    let c = common::c_path(&path);
    // SAFETY: a valid C string.
    assert_eq!(
        unsafe { SharedMemoryImageStream_createfile(c.as_ptr(), 8, 8) },
        IMAGESTREAM_NOERROR
    );
    assert!(path.is_file(), "{} was not made", path.display());
    let (rc, s) = common::create(&c, IMAGESTREAM_OPTIONS_SERVER);
    assert_eq!(rc, IMAGESTREAM_NOERROR);
    common::destroy(s);
}

#[test]
fn other_names_are_read_in_the_ansi_code_page_as_createfilea_would() {
    use windows_sys::Win32::Foundation::{CloseHandle, GENERIC_READ, INVALID_HANDLE_VALUE};
    use windows_sys::Win32::Storage::FileSystem::{
        CreateFileA, FILE_ATTRIBUTE_NORMAL, FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE,
        OPEN_EXISTING,
    };
    let dir = tempfile::tempdir().unwrap();
    // 0xE9 alone is not UTF-8; in an ANSI code page it is a letter (e-acute in 1252).
    let mut bytes = dir.path().to_str().unwrap().as_bytes().to_vec();
    bytes.extend_from_slice(b"\\ansi-\xe9.shm");
    assert!(std::str::from_utf8(&bytes).is_err());
    let c = CString::new(bytes).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(
        unsafe { SharedMemoryImageStream_createfile(c.as_ptr(), 8, 8) },
        IMAGESTREAM_NOERROR
    );
    // CreateFileA finds the file under the same bytes.
    // SAFETY: a valid NUL-terminated name; no security attributes or template.
    let h = unsafe {
        CreateFileA(
            c.as_ptr().cast(),
            GENERIC_READ,
            FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
            std::ptr::null(),
            OPEN_EXISTING,
            FILE_ATTRIBUTE_NORMAL,
            std::ptr::null_mut(),
        )
    };
    assert_ne!(
        h, INVALID_HANDLE_VALUE,
        "CreateFileA does not find what createfile made"
    );
    // SAFETY: `h` is an open handle, closed once.
    unsafe { CloseHandle(h) };
    let made: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(made.len(), 1);
}
