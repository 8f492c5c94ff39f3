//! Files the library creates are readable and writable by their owner only, whatever the umask
//! (SPEC section 5, createfile); `createfilemode` chooses other bits for groups that share
//! streams on purpose; existing files keep their permissions.

mod common;

use common::*;
use shared_memory_image_client::ffi::*;

fn createfile(path: &std::path::Path, mode: Option<u32>) -> i32 {
    let cp = c_path(path);
    // SAFETY: a valid C string.
    unsafe {
        match mode {
            None => SharedMemoryImageStream_createfile(cp.as_ptr(), 64, 64),
            Some(m) => SharedMemoryImageStream_createfilemode(cp.as_ptr(), 64, 64, m),
        }
    }
}

#[test]
fn createfilemode_rejects_modes_that_lock_the_owner_out_or_have_stray_bits() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.shm");
    for bad in [0o000, 0o400, 0o200, 0o1600, 0o4660, 0xFFFF_FFFF] {
        assert_eq!(createfile(&p, Some(bad)), IMAGESTREAM_BAD_ARGS, "{bad:o}");
        assert!(!p.exists(), "{bad:o} created the file");
    }
    // SAFETY: NULL is accepted and rejected.
    assert_eq!(
        unsafe { SharedMemoryImageStream_createfilemode(std::ptr::null(), 1, 1, 0o600) },
        IMAGESTREAM_BAD_ARGS
    );
}

#[test]
#[cfg(unix)]
fn new_files_get_exactly_their_mode_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    let dir = tempfile::tempdir().unwrap();
    // The umask is process-wide, so every umask case runs in this one test.
    let set_umask = |m: libc::mode_t| {
        // SAFETY: umask has no memory preconditions.
        unsafe { libc::umask(m) }
    };
    let old = set_umask(0o000);
    let open_umask = dir.path().join("open-umask.shm");
    assert_eq!(createfile(&open_umask, None), IMAGESTREAM_NOERROR);
    set_umask(0o077);
    let group = dir.path().join("group.shm");
    assert_eq!(createfile(&group, Some(0o660)), IMAGESTREAM_NOERROR);
    set_umask(0o277);
    let strict_umask = dir.path().join("strict-umask.shm");
    assert_eq!(createfile(&strict_umask, None), IMAGESTREAM_NOERROR);
    set_umask(old);
    assert_eq!(mode(&open_umask), 0o600, "umask 000 must not widen it");
    assert_eq!(mode(&group), 0o660, "umask 077 must not narrow it");
    assert_eq!(
        mode(&strict_umask),
        0o600,
        "umask 277 must not lock the owner out"
    );

    // An existing file keeps its permissions when it is grown.
    let existing = dir.path().join("existing.shm");
    std::fs::write(&existing, b"small").unwrap();
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(createfile(&existing, None), IMAGESTREAM_NOERROR);
    assert_eq!(mode(&existing), 0o644);
    assert!(std::fs::metadata(&existing).unwrap().len() >= 10 * 1024 * 1024);
}

/// The security identifier "Everyone" (S-1-1-0) in its binary form.
#[cfg(windows)]
const EVERYONE: [u8; 12] = [1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];

/// Whether a file's access list is protected from inheritance, and its entries as (access mask,
/// binary SID).
#[cfg(windows)]
fn access_list(p: &std::path::Path) -> (bool, Vec<(u32, Vec<u8>)>) {
    use std::os::windows::ffi::OsStrExt;
    use windows_sys::Win32::Security::{
        GetFileSecurityW, GetSecurityDescriptorControl, GetSecurityDescriptorDacl, ACL,
        DACL_SECURITY_INFORMATION, SE_DACL_PROTECTED,
    };
    let wide: Vec<u16> = p.as_os_str().encode_wide().chain([0]).collect();
    let mut buf = vec![0u64; 512];
    let mut needed = 0u32;
    // SAFETY: `wide` is NUL-terminated; `buf` is writable for the length passed; every pointer
    // read below points into `buf` (the descriptor, its ACL and the ACL's entries, walked by
    // their recorded sizes within the ACL's recorded size), which outlives this block.
    unsafe {
        let ok = GetFileSecurityW(
            wide.as_ptr(),
            DACL_SECURITY_INFORMATION,
            buf.as_mut_ptr().cast(),
            (buf.len() * 8) as u32,
            &mut needed,
        );
        assert_ne!(ok, 0, "GetFileSecurityW failed");
        let (mut control, mut revision) = (0u16, 0u32);
        GetSecurityDescriptorControl(buf.as_mut_ptr().cast(), &mut control, &mut revision);
        let (mut present, mut defaulted) = (0, 0);
        let mut acl: *mut ACL = std::ptr::null_mut();
        GetSecurityDescriptorDacl(
            buf.as_mut_ptr().cast(),
            &mut present,
            &mut acl,
            &mut defaulted,
        );
        assert!(present != 0 && !acl.is_null(), "no access list");
        let mut entries = Vec::new();
        let mut at = acl.cast::<u8>().add(8);
        for _ in 0..(*acl).AceCount {
            // ACE header: type, flags, size (u16); then the access mask and the SID.
            let size = u16::from_ne_bytes([*at.add(2), *at.add(3)]) as usize;
            let mask =
                u32::from_ne_bytes(std::slice::from_raw_parts(at.add(4), 4).try_into().unwrap());
            entries.push((
                mask,
                std::slice::from_raw_parts(at.add(8), size - 8).to_vec(),
            ));
            at = at.add(size);
        }
        (control & SE_DACL_PROTECTED != 0, entries)
    }
}

#[test]
#[cfg(windows)]
fn new_files_get_an_owner_only_access_list_on_windows() {
    let dir = tempfile::tempdir().unwrap();
    let owner = dir.path().join("owner.shm");
    assert_eq!(createfile(&owner, None), IMAGESTREAM_NOERROR);
    let (protected, entries) = access_list(&owner);
    println!("owner-only file: protected {protected}, entries {entries:?}");
    assert!(
        entries
            .iter()
            .all(|(mask, sid)| *mask == 0 || sid[..] != EVERYONE),
        "everyone may open it: {entries:?}"
    );
    if under_wine() {
        // Wine keeps no access lists: it turns the one given at creation into Unix permission
        // bits (here without any for others) and shows lists derived from those bits.
        println!("under Wine: only the absence of an entry for everyone is checked");
    } else {
        assert!(protected, "the list must not inherit entries");
        assert_eq!(entries.len(), 1, "one entry, for the owner: {entries:?}");
    }
    let shared = dir.path().join("shared.shm");
    assert_eq!(createfile(&shared, Some(0o660)), IMAGESTREAM_NOERROR);
    assert!(
        !access_list(&shared).0,
        "0660 inherits its folder's access list"
    );
}
