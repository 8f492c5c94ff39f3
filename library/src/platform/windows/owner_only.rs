//! Creating a file that only the current user can open: a protected access list (no inherited
//! entries) with one entry granting the user full access.

use std::fs::File;
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::os::windows::io::FromRawHandle;
use std::path::Path;

use windows_sys::Win32::Foundation::{
    CloseHandle, GENERIC_READ, GENERIC_WRITE, HANDLE, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::Security::{
    AddAccessAllowedAce, GetLengthSid, GetTokenInformation, InitializeAcl,
    InitializeSecurityDescriptor, SetSecurityDescriptorControl, SetSecurityDescriptorDacl,
    TokenUser, ACL, ACL_REVISION, SECURITY_ATTRIBUTES, SECURITY_DESCRIPTOR, SE_DACL_PROTECTED,
    TOKEN_QUERY, TOKEN_USER,
};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, CREATE_NEW, FILE_ALL_ACCESS, FILE_ATTRIBUTE_NORMAL,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

const SECURITY_DESCRIPTOR_REVISION: u32 = 1;

/// The current user's token information (`TOKEN_USER` followed by the SID it points to).
fn current_user() -> io::Result<Vec<u64>> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: GetCurrentProcess returns a pseudo handle; `token` is writable.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // u64 elements keep the buffer aligned for TOKEN_USER.
    let mut buf = vec![0u64; 64];
    let mut needed = 0u32;
    // SAFETY: `token` is an open token handle; `buf` is writable for the byte length passed.
    let ok = unsafe {
        GetTokenInformation(
            token,
            TokenUser,
            buf.as_mut_ptr().cast(),
            (buf.len() * 8) as u32,
            &mut needed,
        )
    };
    let err = io::Error::last_os_error();
    // SAFETY: `token` was opened above and is closed once.
    unsafe { CloseHandle(token) };
    if ok == 0 {
        return Err(err);
    }
    Ok(buf)
}

/// Creates `path` (failing with `AlreadyExists` when it exists) for reading and writing, with
/// an access list that grants the current user alone.
pub(super) fn create_new(path: &Path, share: u32) -> io::Result<File> {
    let user = current_user()?;
    // SAFETY: `user` holds a TOKEN_USER written by GetTokenInformation (aligned: u64 buffer).
    let sid = unsafe { (*(user.as_ptr() as *const TOKEN_USER)).User.Sid };
    // SAFETY: `sid` points into `user`, a valid SID.
    let sid_len = unsafe { GetLengthSid(sid) } as usize;
    // ACL header + one ACCESS_ALLOWED_ACE (header, mask, then the SID in place of SidStart).
    let acl_len = std::mem::size_of::<ACL>() + 8 + sid_len;
    let mut acl_buf = vec![0u64; acl_len.div_ceil(8)];
    let acl = acl_buf.as_mut_ptr() as *mut ACL;
    // SAFETY: all-zero is a valid SECURITY_DESCRIPTOR to initialise.
    let mut sd: SECURITY_DESCRIPTOR = unsafe { std::mem::zeroed() };
    let psd = (&mut sd as *mut SECURITY_DESCRIPTOR).cast();
    // SAFETY: `acl` points to `acl_len` writable, 8-byte aligned bytes; `sid` is a valid SID;
    // `psd` points to a writable SECURITY_DESCRIPTOR; the ACL outlives every use of `sd` below.
    let built = unsafe {
        InitializeAcl(acl, acl_len as u32, ACL_REVISION) != 0
            && AddAccessAllowedAce(acl, ACL_REVISION, FILE_ALL_ACCESS, sid) != 0
            && InitializeSecurityDescriptor(psd, SECURITY_DESCRIPTOR_REVISION) != 0
            && SetSecurityDescriptorDacl(psd, 1, acl, 0) != 0
            && SetSecurityDescriptorControl(psd, SE_DACL_PROTECTED, SE_DACL_PROTECTED) != 0
    };
    if !built {
        return Err(io::Error::last_os_error());
    }
    let attrs = SECURITY_ATTRIBUTES {
        nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: psd,
        bInheritHandle: 0,
    };
    let wide: Vec<u16> = path.as_os_str().encode_wide().chain([0]).collect();
    // SAFETY: `wide` is NUL-terminated; `attrs` and the descriptor and ACL it points to live
    // until the call returns.
    let h = unsafe {
        CreateFileW(
            wide.as_ptr(),
            GENERIC_READ | GENERIC_WRITE,
            share,
            &attrs,
            CREATE_NEW,
            FILE_ATTRIBUTE_NORMAL,
            std::ptr::null_mut(),
        )
    };
    if h == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `h` is a new, open file handle that nothing else owns.
    Ok(unsafe { File::from_raw_handle(h) })
}
