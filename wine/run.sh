#!/bin/sh
# Runs a Windows program under Wine: cargo's runner for x86_64-pc-windows-gnu (see
# .cargo/config.toml), also used by the Makefiles for the C examples.
#
# It keeps a Wine prefix of its own (WINEPREFIX, default target/wine-prefix), initialised on
# first use, and installs there a test-only stand-in for bcryptprimitives.dll (built from
# wine/bcryptprimitives.c with MinGW): Rust's standard library imports ProcessPrng from it,
# which every Windows 10 and later has but Debian's Wine 8 does not. It is never shipped.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
: "${WINEPREFIX:=$root/target/wine-prefix}"
: "${WINEDEBUG:=-all}"
export WINEPREFIX WINEDEBUG
WINE=${WINE:-$(command -v wine64 || command -v wine)}
mkdir -p "$WINEPREFIX"
# One wine server for the whole test run: started here with a minute's persistence, it stays up
# between the many short programs of a run, so that none of them races the shutdown of a server
# whose last client just left (Wine reports that as "recvmsg: Connection reset by peer"). When
# a server is already running, this second one exits at once.
"${WINESERVER:-wineserver}" -p60 >/dev/null 2>&1 || true
sys32="$WINEPREFIX/drive_c/windows/system32"
stub="$sys32/bcryptprimitives.dll"
if [ ! -f "$stub" ]; then
    mkdir -p "$(dirname "$WINEPREFIX")"
    # A lock directory, so that parallel first runs initialise the prefix once.
    lock="$WINEPREFIX.init-lock"
    while ! mkdir "$lock" 2>/dev/null; do sleep 0.2; done
    trap 'rmdir "$lock"' EXIT
    if [ ! -f "$stub" ]; then
        "$WINE" wineboot --init >/dev/null 2>&1 || true
        "${MINGW_CC:-x86_64-w64-mingw32-gcc}" -O2 -Wall -Wextra -Werror -shared \
            -o "$stub.tmp" "$here/bcryptprimitives.c" "$here/bcryptprimitives.def" -ladvapi32
        mv "$stub.tmp" "$stub"
    fi
    rmdir "$lock"
    trap - EXIT
fi
exec "$WINE" "$@"
