#!/bin/sh
# Prints, sorted, the names of the SharedMemoryImageStream_* functions the two public headers
# declare: what the shared library (.so or .dll) must export, no more and no less. The headers go
# through the C preprocessor first, so names quoted in their comments do not count.
#
# usage: api_functions.sh INCLUDE_DIR     (CC: the compiler used as preprocessor, default cc)
set -eu
inc=${1:?usage: api_functions.sh INCLUDE_DIR}
headers="shared_memory_image_client.h shared_memory_image_client_priv.h"
for h in $headers; do
    [ -f "$inc/$h" ] || { echo "api_functions.sh: no $inc/$h" >&2; exit 1; }
done
names=$(
    for h in $headers; do
        printf '#include "%s"\n' "$h" | ${CC:-cc} -E -P -I "$inc" -x c -
    done | grep -o 'SharedMemoryImageStream_[A-Za-z0-9_]*[[:space:]]*(' | sed 's/[[:space:]]*($//' | sort -u
)
[ -n "$names" ] || { echo "api_functions.sh: no SharedMemoryImageStream_* function declared in $inc" >&2; exit 1; }
printf '%s\n' "$names"
