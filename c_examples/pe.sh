#!/bin/sh
# Reads the tables of Windows executables and DLLs with `objdump -p`.
#
#   pe.sh exports DLL       the names the DLL exports, sorted
#   pe.sh def DLL           a module-definition (.def) file for the DLL's exports
#   pe.sh imports [-a NAME]... FILE...
#                           prints the DLLs each file imports and fails when one of them is not
#                           a Windows system DLL: what is built here must not need the MinGW
#                           runtime (libgcc_s*, libstdc++*, libwinpthread*) or any other DLL at
#                           run time. -a NAME also allows NAME (e.g. shared_memory_image_client.dll
#                           for programs linked to it).
#
# OBJDUMP: default x86_64-w64-mingw32-objdump
set -eu
objdump=${OBJDUMP:-x86_64-w64-mingw32-objdump}
# Windows' own DLLs, in lower case; the API sets (api-ms-win-*) are allowed as well.
system="kernel32.dll kernelbase.dll ntdll.dll msvcrt.dll ucrtbase.dll advapi32.dll userenv.dll
        ws2_32.dll bcrypt.dll bcryptprimitives.dll dbghelp.dll"

usage() {
    echo "usage: pe.sh exports DLL | def DLL | imports [-a NAME]... FILE..." >&2
    exit 2
}

dump() {
    "$objdump" -p "$1" || { echo "pe.sh: cannot read $1" >&2; exit 1; }
}

# The export name table: the lines after "[Ordinal/Name Pointer] Table" up to a blank line,
# each ending in a name.
exports() {
    dump "$1" | awk '/\[Ordinal\/Name Pointer\] Table/ { on = 1; next }
                     on && NF == 0 { on = 0 }
                     on { print $NF }' | sort
}

[ $# -ge 1 ] || usage
command=$1
shift
case $command in
exports)
    [ $# -eq 1 ] || usage
    exports "$1"
    ;;
def)
    [ $# -eq 1 ] || usage
    names=$(exports "$1")
    [ -n "$names" ] || { echo "pe.sh: $1 exports nothing" >&2; exit 1; }
    printf 'LIBRARY %s\nEXPORTS\n' "$(basename "$1")"
    printf '%s\n' "$names" | sed 's/^/    /'
    ;;
imports)
    extra=""
    while [ $# -gt 0 ] && [ "$1" = -a ]; do
        [ $# -ge 2 ] || usage
        extra="$extra $(printf '%s' "$2" | tr 'A-Z' 'a-z')"
        shift 2
    done
    [ $# -gt 0 ] || usage
    status=0
    for f in "$@"; do
        dlls=$(dump "$f" | sed -n 's/^[[:space:]]*DLL Name:[[:space:]]*//p' | tr 'A-Z' 'a-z' | sort -u)
        [ -n "$dlls" ] || { echo "pe.sh: $f imports nothing (not a PE file?)" >&2; exit 1; }
        bad=""
        for d in $dlls; do
            case " $(echo $system) $extra " in
            *" $d "*) ;;
            *) case $d in api-ms-win-*.dll) ;; *) bad="$bad $d" ;; esac ;;
            esac
        done
        echo "  $(basename "$f") imports: $(echo $dlls)"
        if [ -n "$bad" ]; then
            echo "FAIL $(basename "$f") imports DLLs that are not part of Windows:$bad"
            status=1
        fi
    done
    exit $status
    ;;
*)
    usage
    ;;
esac
