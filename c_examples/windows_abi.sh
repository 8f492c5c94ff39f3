#!/bin/sh
# Checks the Windows distribution folder made by `make windows-dist` (mk/windows.mk):
#
# - the DLL exports exactly the SharedMemoryImageStream_* functions the headers declare
#   (api_functions.sh), nothing else;
# - the .def file names the DLL and lists the same functions;
# - both import libraries (GNU .dll.a, MSVC-style .lib) provide an import for each of them, and
#   only for them;
# - the DLL imports only Windows system DLLs (pe.sh imports).
#
# usage: windows_abi.sh DIST_DIR INCLUDE_DIR
# CC (the preprocessor for api_functions.sh), OBJDUMP and NM: default the MinGW-w64 tools.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dist=${1:?usage: windows_abi.sh DIST_DIR INCLUDE_DIR}
inc=${2:?usage: windows_abi.sh DIST_DIR INCLUDE_DIR}
nm=${NM:-x86_64-w64-mingw32-nm}
export OBJDUMP=${OBJDUMP:-x86_64-w64-mingw32-objdump}
export CC=${CC:-x86_64-w64-mingw32-gcc}
name=shared_memory_image_client
dll=$dist/$name.dll
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0

# Compares a list of names with the expected one; prints the difference.
same() { # WHAT FILE
    if ! diff -u "$work/expected" "$2" > "$work/diff"; then
        echo "FAIL $1: not the functions the headers declare (- missing, + unexpected):"
        sed -n 's/^\([-+]\)\([^-+]\)/  \1\2/p' "$work/diff"
        status=1
    fi
}

"$here/api_functions.sh" "$inc" > "$work/expected"
n=$(wc -l < "$work/expected")

"$here/pe.sh" exports "$dll" > "$work/dll"
same "$name.dll's export table" "$work/dll"

def=$dist/$name.def
grep -qx "LIBRARY $name.dll" "$def" || { echo "FAIL $def does not name $name.dll"; status=1; }
sed -n '/^EXPORTS$/,$ { /^EXPORTS$/d; s/^[[:space:]]*//; s/[[:space:]].*//; p; }' "$def" | sort > "$work/def"
same "$name.def" "$work/def"

for lib in lib$name.dll.a $name.lib; do
    "$nm" "$dist/$lib" | sed -n 's/^.* I __imp_//p' | sort -u > "$work/lib"
    same "the imports in $lib" "$work/lib"
done

"$here/pe.sh" imports "$dll" || status=1

[ $status -eq 0 ] && echo "windows-abi: $name.dll, .def, .dll.a and .lib: exactly the $n functions the headers declare; system DLL imports only"
exit $status
