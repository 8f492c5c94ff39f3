#!/usr/bin/env bash
# Runs the example server and clients in BINDIR as separate processes on a fresh stream file:
# server -> C client (every frame checked, last frame saved as PPM), then server -> C++ client.
# Prints one result line per pair; exits non-zero on the first failure.
# WRAP (e.g. "valgrind -q --error-exitcode=99") runs every program under a tool; FRAMES and
# SIZE ("W H") make the run shorter for slow tools.
set -euo pipefail
read -r -a wrap <<< "${WRAP:-}"
frames=${FRAMES:-60}
read -r width height <<< "${SIZE:-320 240}"
bindir=${1:?usage: run_pair.sh BINDIR}
name=$(basename "$bindir")
base=/dev/shm
[[ -d $base && -w $base ]] || base=${TMPDIR:-/tmp}
work=$(mktemp -d "$base/shmimg-pair.XXXXXX")
trap 'rm -rf "$work"' EXIT
file=$work/stream.shm

run_one() { # CLIENT_DESCRIPTION CLIENT_COMMAND...
  local what=$1; shift
  rm -f "$file"
  "${wrap[@]}" "$bindir/server" "$file" "$width" "$height" 300 60 >"$work/server.out" 2>&1 &
  local spid=$!
  for _ in $(seq 1000); do [[ -s $file ]] && break; sleep 0.01; done
  local rc=0
  "$@" >"$work/client.out" 2>&1 || rc=$?
  local src=0
  wait "$spid" || src=$?
  if [[ $rc -ne 0 || $src -ne 0 ]]; then
    echo "FAIL [$name] $what: client exit $rc, server exit $src"
    sed 's/^/  client: /' "$work/client.out" | tail -20
    sed 's/^/  server: /' "$work/server.out" | tail -20
    exit 1
  fi
  echo "ok   [$name] $what: $(tail -1 "$work/client.out") / $(tail -1 "$work/server.out")"
}

run_one "server -> C client" "${wrap[@]}" "$bindir/client" -v "$file" "$frames" "$work/last.ppm"
header="P6
$width $height
255
"
head -c ${#header} "$work/last.ppm" | cmp -s - <(printf '%s' "$header") || { echo "FAIL [$name] no PPM written"; exit 1; }
[[ $(stat -c %s "$work/last.ppm") -eq $((width * height * 3 + ${#header})) ]] || { echo "FAIL [$name] PPM size"; exit 1; }
run_one "server -> C++ client" "${wrap[@]}" "$bindir/client_cpp" "$file" "$frames"
