#!/usr/bin/env bash
# Runs the example server and clients in BINDIR as separate processes on a fresh stream file:
# server -> C client (every frame checked, last frame saved as PPM), then server -> C++ client,
# then the wake-up test (wake_test server -> wake_test client: the waiting client is woken by the
# server in the other process), when BINDIR has wake_test.
# Prints one result line per pair; exits non-zero on the first failure.
#
# WRAP (e.g. "valgrind -q --error-exitcode=99", or wine/run.sh for Windows programs) runs every
# program under a tool; EXE is the programs' file name suffix (".exe" for Windows programs); NAME
# labels the output (default: BINDIR's name). FRAMES and SIZE ("W H") make the run shorter for
# slow tools. PAIRS chooses the pairs, in order (default "c cpp wake"); "nowake" is the wake-up
# test's control: a server that writes frames without waking anyone, which the client must
# report as never woken.
set -euo pipefail
read -r -a wrap <<< "${WRAP:-}"
exe=${EXE:-}
frames=${FRAMES:-60}
read -r width height <<< "${SIZE:-320 240}"
read -r -a pairs <<< "${PAIRS:-c cpp wake}"
bindir=${1:?usage: run_pair.sh BINDIR}
name=${NAME:-$(basename "$bindir")}
base=/dev/shm
[[ -d $base && -w $base ]] || base=${TMPDIR:-/tmp}
work=$(mktemp -d "$base/shmimg-pair.XXXXXX")
trap 'rm -rf "$work"' EXIT
file=$work/stream.shm

# Starts the server, waits for it to create the file, runs the client; both must exit with the
# given statuses (the client's status is 0 unless CLIENT_STATUS says otherwise).
run_one() { # DESCRIPTION SERVER_COMMAND... -- CLIENT_COMMAND...
  local what=$1; shift
  local server=()
  while [[ $1 != -- ]]; do server+=("$1"); shift; done
  shift
  rm -f "$file"
  "${wrap[@]}" "${server[@]}" >"$work/server.out" 2>&1 &
  local spid=$!
  for _ in $(seq 1000); do [[ -s $file ]] && break; sleep 0.01; done
  local rc=0
  "${wrap[@]}" "$@" >"$work/client.out" 2>&1 || rc=$?
  local src=0
  wait "$spid" || src=$?
  if [[ $rc -ne ${CLIENT_STATUS:-0} || $src -ne 0 ]]; then
    echo "FAIL [$name] $what: client exit $rc, server exit $src"
    sed 's/^/  client: /' "$work/client.out" | tail -20
    sed 's/^/  server: /' "$work/server.out" | tail -20
    exit 1
  fi
  echo "ok   [$name] $what: $(tail -1 "$work/client.out") / $(tail -1 "$work/server.out")"
}

for pair in "${pairs[@]}"; do
  case $pair in
  c)
    run_one "server -> C client" "$bindir/server$exe" "$file" "$width" "$height" 300 60 -- \
      "$bindir/client$exe" -v "$file" "$frames" "$work/last.ppm"
    header="P6
$width $height
255
"
    head -c ${#header} "$work/last.ppm" | cmp -s - <(printf '%s' "$header") || { echo "FAIL [$name] no PPM written"; exit 1; }
    [[ $(stat -c %s "$work/last.ppm") -eq $((width * height * 3 + ${#header})) ]] || { echo "FAIL [$name] PPM size"; exit 1; }
    ;;
  cpp)
    run_one "server -> C++ client" "$bindir/server$exe" "$file" "$width" "$height" 300 60 -- \
      "$bindir/client_cpp$exe" "$file" "$frames"
    ;;
  wake)
    [[ -f $bindir/wake_test$exe ]] || continue
    run_one "wake-up across processes" "$bindir/wake_test$exe" server "$file" -- \
      "$bindir/wake_test$exe" client "$file"
    sed -n 's/^  /     /p' "$work/client.out"
    ;;
  nowake)
    CLIENT_STATUS=1 run_one "wake-up test control (server wakes nobody: must fail)" \
      "$bindir/wake_test$exe" server --no-wake "$file" -- "$bindir/wake_test$exe" client "$file"
    grep -q 'never woken' "$work/client.out" || { echo "FAIL [$name] the control failed for another reason"; exit 1; }
    sed -n 's/^  /     /p' "$work/client.out"
    ;;
  *)
    echo "run_pair.sh: unknown pair '$pair'" >&2
    exit 2
    ;;
  esac
done
