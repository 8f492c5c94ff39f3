/* Test-only stand-in for Windows' bcryptprimitives.dll, which Rust's standard library imports
 * (for ProcessPrng) and which Debian's Wine 8 lacks. Installed into the Wine prefix by
 * wine/run.sh so that Rust-built programs load under Wine; never shipped. Windows 10 and later
 * have the real DLL. */
#include <windows.h>

/* RtlGenRandom, exported by advapi32 under this name. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
