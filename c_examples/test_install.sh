#!/usr/bin/env bash
# Installs the library into temporary prefixes (directly, and staged with DESTDIR), checks what
# was installed, then builds the examples against the installation with the plain Makefile and
# with CMake, shared and static, through pkg-config, and runs them. Run from anywhere after
# `make build`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
lib=$prefix/lib
fail() { echo "FAIL test_install: $*"; exit 1; }

make -s -C "$root" install PREFIX="$prefix" >/dev/null
[[ -f $lib/libshared_memory_image_client.so.1.0.0 && ! -L $lib/libshared_memory_image_client.so.1.0.0 ]] || fail "no real .so.1.0.0"
[[ $(readlink "$lib/libshared_memory_image_client.so.1") == libshared_memory_image_client.so.1.0.0 ]] || fail ".so.1 link"
[[ $(readlink "$lib/libshared_memory_image_client.so") == libshared_memory_image_client.so.1 ]] || fail ".so link"
[[ -f $lib/libshared_memory_image_client.a ]] || fail "no .a"
for h in shared_memory_image_client.h shared_memory_image_client_priv.h; do
  cmp -s "$root/include/$h" "$prefix/include/$h" || fail "$h not installed as committed"
done
grep -q '_MAJOR\|_MINOR\|_PATCH' "$prefix/include/shared_memory_image_client.h" && fail "version macros added to the header"
pc="$lib/pkgconfig/shared_memory_image_client.pc"
[[ -f $pc ]] || fail "no .pc"
export PKG_CONFIG_PATH=$lib/pkgconfig
[[ $(pkg-config --modversion shared_memory_image_client) == 1.0.0 ]] || fail "pkg-config version"
expected_private=$(cat "$root/target/release/native-static-libs.txt")
[[ $(pkg-config --variable=prefix shared_memory_image_client) == "$prefix" ]] || fail "pc prefix"
grep -qx "Libs.private: $expected_private" "$pc" || fail "Libs.private is not rustc's native-static-libs ($expected_private)"
echo "ok   install: .so.1.0.0 + SONAME links, .a, headers as committed, .pc (Libs.private: $expected_private)"

# DESTDIR stages the same tree under another root, with the final prefix inside the .pc.
make -s -C "$root" install DESTDIR="$work/stage" PREFIX=/opt/shmimg >/dev/null
grep -qx 'prefix=/opt/shmimg' "$work/stage/opt/shmimg/lib/pkgconfig/shared_memory_image_client.pc" || fail "DESTDIR .pc prefix"
[[ -L $work/stage/opt/shmimg/lib/libshared_memory_image_client.so.1 ]] || fail "DESTDIR links"
make -s -C "$root" uninstall DESTDIR="$work/stage" PREFIX=/opt/shmimg
[[ -z $(find "$work/stage" -type f -o -type l) ]] || fail "uninstall left files"
echo "ok   install with DESTDIR=... PREFIX=/opt/shmimg, and uninstall"

# A static link with exactly what pkg-config --static says.
static_libs=$(pkg-config --static --libs shared_memory_image_client)
cc -std=c99 -Wall -Wextra -pedantic -Werror $(pkg-config --cflags shared_memory_image_client) \
   "$here/api_test.c" -o "$work/api_test_static" ${static_libs/-lshared_memory_image_client/-l:libshared_memory_image_client.a}
ldd "$work/api_test_static" | grep -q libshared_memory_image_client && fail "static link still needs the .so"
printf 'ok   static link with pkg-config --static --libs (%s): ' "$static_libs"
"$work/api_test_static" "$work"

# The plain Makefile against the prefix.
make -s -C "$here" PREFIX="$prefix" BUILD="$work/make" all >/dev/null
for v in shared static; do
  printf 'ok   Makefile PREFIX=... [%s] api_test: ' "$v"; "$work/make/$v/api_test" "$work"
  "$here/run_pair.sh" "$work/make/$v"
done
ldd "$work/make/shared/api_test" | grep -q "$lib/libshared_memory_image_client.so.1" || fail "Makefile build does not use the installed .so"

# CMake, shared and static.
for mode in OFF ON; do
  b=$work/cmake-$mode
  cmake -S "$here" -B "$b" -DCMAKE_PREFIX_PATH="$prefix" -DSHMIMG_STATIC=$mode >/dev/null
  cmake --build "$b" -j 2 >/dev/null
  if [[ $mode == ON ]]; then
    ldd "$b/api_test" | grep -q libshared_memory_image_client && fail "CMake static build needs the .so"
  else
    ldd "$b/api_test" | grep -q "$lib/libshared_memory_image_client.so.1" || fail "CMake build does not use the installed .so"
  fi
  printf 'ok   CMake SHMIMG_STATIC=%s api_test: ' "$mode"; "$b/api_test" "$work"
  mkdir -p "$work/cm-bin-$mode" && cp "$b/server" "$b/client" "$b/client_cpp" "$work/cm-bin-$mode/"
  "$here/run_pair.sh" "$work/cm-bin-$mode"
done
