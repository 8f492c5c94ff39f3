"""Benchmarks of ensight_grpc_shmem: what a lock costs, and what a polling client costs.

    python3 python/bench_lock.py                      # after `pip install ./python`
    python3 python/bench_lock.py --quick              # shorter runs, rougher numbers
    python3 python/bench_lock.py --original PATH      # also measure another build of the module

Three parts (``--only locks|poll|thread`` runs one):

locks   ``stream_lock(id, copy=False)`` (zero copy) on 1080p and 4K frames: the median over
        every lock, and the mean over 40 locks counting the first lock of a fresh process; next
        to it the copying ``stream_lock(id)`` of this module (and of ``--original``). Each run
        is a fresh process.
poll    The polling loop published with the original module, verbatim, in a client process,
        against a server process that puts a 1920x1080 frame every 1/60 s: the client
        process's CPU use (as a share of one core, after the first 30 frames), the frames
        received, and each frame's age (from the server's putframe call to the loop holding
        the bytes). With polling (the default), without (``ENSIGHT_GRPC_SHMEM_POLL_WAIT_MS=0``),
        with ``--original``, and, for comparison, the loop with ``copy=False`` (what the loop
        costs without the copy of the pixels it asks for).
thread  The same loop in a thread of a process whose main thread does pure-Python work: how
        much slower the main thread runs, compared with phases without the loop.

``--original PATH`` loads a compiled module named ``ensight_grpc_shmem`` from PATH (for
instance the original C extension built against this library) and measures it beside this
package. Linux only (it reads the CPU time with ``resource``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, List, Optional, Tuple

# Measure the installed package: the folder of this script holds the package's sources, which
# would otherwise shadow it (sys.path[0] is the script's folder).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

SIZES = {"1080p": (1920, 1080), "4K": (3840, 2160)}
FILE_SIZE = 25 * 1024 * 1024  # what the published client writes
LOCKS_PER_RUN = 40
WARM_FRAMES = 30

# The client loop published with the original module, verbatim. The benchmark runs it with its
# own `print`, which records when each frame arrived.
PUBLISHED_CLIENT = '''
def run_client(num=200):
    c = ensight_grpc_shmem.stream_create("shmem.bin")
    count = 0
    while True:
        img = ensight_grpc_shmem.stream_lock(c)
        if type(img) is dict:
            print("Frame: {} {} {} {}".format(img['framenumber'], img['width'], img['height'],count))
            ensight_grpc_shmem.stream_unlock(c)
            count += 1
        if count > num:
            break
    ensight_grpc_shmem.stream_destroy(c)
'''


def load_module(original: Optional[str]) -> ModuleType:
    """This package, or the compiled module at ``original``."""
    if not original:
        import ensight_grpc_shmem

        return ensight_grpc_shmem
    spec = importlib.util.spec_from_file_location("original.ensight_grpc_shmem", original)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {original}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cpu_seconds() -> float:
    """CPU time of this process so far (every thread, user and system)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def scratch_dir() -> "tempfile.TemporaryDirectory[str]":
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    return tempfile.TemporaryDirectory(prefix="shmimg-bench-", dir=base)


def run_child(*args: str, env: Optional[Dict[str, str]] = None, cwd: Optional[str] = None) -> Any:
    out = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600
    )
    if out.returncode != 0:
        raise SystemExit(f"benchmark child {args[0]} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- locks ------------------------------------------------------------------------------------


def child_locks(directory: str, width: int, height: int, original: str) -> None:
    """One fresh process: 40 zero-copy locks (the first lock of the process among them), then
    40 copying locks, then 40 copying locks of the original module."""
    import ensight_grpc_shmem as shm

    path = os.path.join(directory, "ours.bin")
    srv = shm.Server(path)
    c = shm.stream_create(path)

    def publish(server: Any) -> None:
        # Publishes without touching the pixels (no cache effects from writing them).
        writer = server.frame(width, height)
        assert writer is not None
        writer.publish()

    def timed(lock: Any, unlock: Any, stream: Any, server: Any, **kw: Any) -> List[float]:
        times = []
        for _ in range(LOCKS_PER_RUN):
            publish(server)
            t = time.perf_counter()
            d = lock(stream, **kw)
            times.append(time.perf_counter() - t)
            assert type(d) is dict, d
            unlock(stream)
        return times

    result = {"zero": timed(shm.stream_lock, shm.stream_unlock, c, srv, copy=False)}
    result["copy"] = timed(shm.stream_lock, shm.stream_unlock, c, srv)
    shm.stream_destroy(c)
    srv.close()
    if original:
        orig = load_module(original)
        path2 = os.path.join(directory, "original.bin")
        srv2 = shm.Server(path2)
        c2 = orig.stream_create(path2)
        result["original"] = timed(orig.stream_lock, orig.stream_unlock, c2, srv2)
        orig.stream_destroy(c2)
        srv2.close()
    print(json.dumps(result))


def bench_locks(runs: int, original: str) -> List[Dict[str, Any]]:
    import ensight_grpc_shmem as shm

    rows = []
    for label, (w, h) in SIZES.items():
        per_run: Dict[str, List[List[float]]] = {"zero": [], "copy": [], "original": []}
        with scratch_dir() as d:
            for name in ("ours.bin", "original.bin"):
                shm.create_file(os.path.join(d, name), w, h)
            for _ in range(runs):
                r = run_child("_locks", d, str(w), str(h), original or "")
                for k, v in r.items():
                    per_run[k].append(v)
        row: Dict[str, Any] = {"frame": label}
        for k, runs_times in per_run.items():
            if not runs_times:
                continue
            pooled = [t for times in runs_times for t in times]
            means = [sum(times) / len(times) for times in runs_times]
            row[k] = {
                "median_us": statistics.median(pooled) * 1e6,
                "mean40_us": statistics.median(means) * 1e6,
                "mean40_max_us": max(means) * 1e6,
                "first_us": statistics.median(times[0] for times in runs_times) * 1e6,
            }
        rows.append(row)
    return rows


# --- the polling loop -------------------------------------------------------------------------


def child_server(directory: str, width: int, height: int, keep: bool) -> None:
    """Puts frames at 60 Hz (as the published server does: sleep 1/60 s, put) until the client
    detaches (or, with ``keep``, until a file named "stop" appears); prints when each frame was
    put and the result codes."""
    import ensight_grpc_shmem as shm

    os.chdir(directory)
    s = shm.stream_create("shmem.bin", shm.IMAGESTREAM_OPTIONS_SERVER)
    img = b"\0" * width * height * 3
    put: Dict[int, List[float]] = {}
    codes: Dict[int, int] = {}
    connected = False
    deadline = time.monotonic() + 300
    i = 0
    while time.monotonic() < deadline:
        time.sleep(1.0 / 60.0)
        t = time.monotonic()
        err = shm.stream_putframe(s, width, height, i, img)
        if err == shm.ERROR_NOERROR:
            put[i] = [t, time.monotonic()]
            connected = True
        if connected:
            codes[err] = codes.get(err, 0) + 1
        i += 1
        if keep:
            if os.path.exists("stop"):
                break
        elif connected and err == shm.ERROR_UNCONNECTED:
            break
    shm.stream_destroy(s)
    print(json.dumps({"put": put, "codes": codes}))


class Recorder:
    """Stands in for `print` in the published loop: notes when each frame arrived, and the
    process's CPU time at the warm-up frame."""

    def __init__(self, warm: int) -> None:
        self.frames: List[List[float]] = []
        self.warm = warm
        self.cpu0 = 0.0
        self.t0 = 0.0

    def __call__(self, *args: Any, **kw: Any) -> None:
        t = time.monotonic()
        parts = str(args[0]).split()
        self.frames.append([int(parts[1]), t])
        if len(self.frames) == self.warm:
            self.cpu0 = cpu_seconds()
            self.t0 = t


def published_loop(module: ModuleType, recorder: Recorder) -> Any:
    namespace: Dict[str, Any] = {"ensight_grpc_shmem": module, "print": recorder}
    exec(PUBLISHED_CLIENT, namespace)
    return namespace["run_client"]


class NoCopy:
    """The module, with ``stream_lock(c)`` made ``stream_lock(c, copy=False)``: the loop's cost
    without the copy of the pixels it asks for (not the published loop; for comparison)."""

    def __init__(self, module: ModuleType) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def stream_lock(self, stream_id: int) -> Any:
        return self._module.stream_lock(stream_id, copy=False)


def child_client(directory: str, num: int, original: str, variant: str) -> None:
    module: Any = load_module(original)
    if variant == "nocopy":
        module = NoCopy(module)
    os.chdir(directory)
    rec = Recorder(WARM_FRAMES)
    published_loop(module, rec)(num)
    cpu1, t1 = cpu_seconds(), time.monotonic()
    print(json.dumps({"frames": rec.frames, "cpu": cpu1 - rec.cpu0, "wall": t1 - rec.t0}))


def ages_ms(frames: List[List[float]], put: Dict[str, List[float]], since: int = 0) -> List[float]:
    """Each frame's age in ms when the loop held it: since the server called putframe
    (``since=0``) or since putframe returned (``since=1``)."""
    return [(t - put[str(fn)][since]) * 1000 for fn, t in frames if str(fn) in put]


def missed(frames: List[List[float]]) -> int:
    """Frames missing between the first and the last received."""
    numbers = [int(fn) for fn, _ in frames]
    return (numbers[-1] - numbers[0] + 1) - len(set(numbers)) if numbers else 0


def against_server(cfg: Dict[str, Any], keep: bool, cmd: str, *child_args: str) -> Tuple[Any, Any]:
    """Runs the child ``cmd`` (given a scratch folder, then ``child_args``) against a
    ``_server`` child that puts 1920x1080 frames into the folder's fresh 25 MiB ``shmem.bin``,
    both with the environment of ``cfg``. The server stops when the client detaches, or, with
    ``keep``, when told to after the client child has ended; it is killed if it is still
    running on the way out. Returns the JSON results of the client and of the server."""
    with scratch_dir() as d:
        with open(os.path.join(d, "shmem.bin"), "wb") as f:
            f.truncate(FILE_SIZE)
        env = dict(os.environ, **cfg.get("env", {}))
        server = subprocess.Popen(
            [sys.executable, __file__, "_server", d, "1920", "1080", "keep" if keep else ""],
            stdout=subprocess.PIPE, text=True, env=env,
        )
        try:
            time.sleep(0.5)
            client = run_child(cmd, d, *child_args, env=env)
            if keep:
                Path(d, "stop").touch()
            out, _ = server.communicate(timeout=120)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
        return client, json.loads(out.strip().splitlines()[-1])


def bench_poll(num: int, configs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    rows = []
    for cfg in configs:
        client, srv = against_server(
            cfg, False, "_client", str(num), cfg.get("original", ""), cfg.get("variant", "")
        )
        ages = ages_ms(client["frames"], srv["put"])
        published = ages_ms(client["frames"], srv["put"], since=1)
        rows.append({
            "config": cfg["label"],
            "cpu_pct": 100 * client["cpu"] / client["wall"],
            "frames": len(client["frames"]),
            "missed": missed(client["frames"]),
            "dropped": srv["codes"].get("1", 0),
            "age_p50_ms": percentile(ages, 50),
            "age_p99_ms": percentile(ages, 99),
            "age_max_ms": max(ages) if ages else float("nan"),
            "published_p99_ms": percentile(published, 99),
        })
    return rows


# --- the loop in a thread beside pure-Python work ---------------------------------------------


def python_work() -> int:
    s = 0
    for i in range(2000):
        s += i * i
    return s


def child_threaded(
    directory: str, phases: int, seconds: float, original: str, switch_interval: float
) -> None:
    """Alternates phases of pure-Python work alone and with the published loop in a thread
    (each loop phase receives about `seconds` worth of 60 Hz frames)."""
    if switch_interval:
        sys.setswitchinterval(switch_interval)
    module = load_module(original)
    os.chdir(directory)
    rec = Recorder(1)
    run_client = published_loop(module, rec)
    alone: List[float] = []
    beside: List[float] = []
    for phase in range(2 * phases + 1):
        with_loop = phase % 2 == 1
        th = None
        if with_loop:
            th = threading.Thread(target=run_client, args=(int(60 * seconds),), daemon=True)
            th.start()
        n = 0
        t0 = time.perf_counter()
        while (th.is_alive() if th else time.perf_counter() - t0 < seconds):
            python_work()
            n += 1
        rate = n / (time.perf_counter() - t0)
        (beside if with_loop else alone).append(rate)
    print(json.dumps({"alone": alone, "beside": beside, "frames": rec.frames}))


def bench_thread(
    phases: int, seconds: float, configs: List[Dict[str, Any]], switch_interval: float
) -> List[Dict[str, Any]]:
    rows = []
    for cfg in configs:
        r, srv = against_server(
            cfg, True, "_threaded", str(phases), str(seconds), cfg.get("original", ""),
            str(switch_interval),
        )
        ages = ages_ms(r["frames"], srv["put"])
        rows.append({
            "config": cfg["label"],
            "slowdown_pct": 100 * (1 - statistics.mean(r["beside"]) / statistics.mean(r["alone"])),
            "frames": len(r["frames"]),
            "age_p50_ms": percentile(ages, 50),
            "age_p99_ms": percentile(ages, 99),
        })
    return rows


# --- report -----------------------------------------------------------------------------------


def report_locks(rows: List[Dict[str, Any]], original: str) -> None:
    print("\nLocks (microseconds; mean of 40 counts the first lock of a fresh process)")
    head = f"  {'frame':>6} {'zero-copy median':>17} {'zero-copy mean40':>17} {'(worst run)':>12} " \
           f"{'copying lock':>13}"
    if original:
        head += f" {'original copying':>17} {'ratio':>7}"
    print(head)
    for r in rows:
        z, c = r["zero"], r["copy"]
        line = f"  {r['frame']:>6} {z['median_us']:>17.1f} {z['mean40_us']:>17.1f} " \
               f"{z['mean40_max_us']:>12.1f} {c['median_us']:>13.0f}"
        if "original" in r:
            o = r["original"]
            line += f" {o['median_us']:>17.0f} {o['median_us'] / z['median_us']:>6.0f}x"
        print(line)


def report_poll(rows: List[Dict[str, Any]]) -> None:
    print("\nPublished polling loop against a 1920x1080 60 Hz server (client process)")
    print("  (age: from the server's putframe call, which copies the frame, to the loop holding")
    print("  the bytes; the last column from putframe's return, when the frame is published)")
    print(f"  {'module':<38} {'CPU % of a core':>15} {'frames':>7} {'missed':>6} "
          f"{'age p50 ms':>10} {'p99 ms':>7} {'max ms':>7} {'p99 from return':>15}")
    for r in rows:
        print(f"  {r['config']:<38} {r['cpu_pct']:>15.1f} {r['frames']:>7} {r['missed']:>6} "
              f"{r['age_p50_ms']:>10.2f} {r['age_p99_ms']:>7.2f} {r['age_max_ms']:>7.2f} "
              f"{r['published_p99_ms']:>15.2f}")


def report_thread(rows: List[Dict[str, Any]], switch_interval: float) -> None:
    interval = f"{switch_interval * 1000:g} ms" if switch_interval else "Python's default"
    print(f"\nPublished loop in a thread beside a main thread doing pure-Python work "
          f"(switch interval: {interval})")
    print(f"  {'module':<38} {'main thread slower by %':>23} {'frames':>7} {'age p50 ms':>10} "
          f"{'p99 ms':>7}")
    for r in rows:
        print(f"  {r['config']:<38} {r['slowdown_pct']:>23.1f} {r['frames']:>7} "
              f"{r['age_p50_ms']:>10.2f} {r['age_p99_ms']:>7.2f}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        cmd, args = sys.argv[1], sys.argv[2:]
        if cmd == "_locks":
            child_locks(args[0], int(args[1]), int(args[2]), args[3])
        elif cmd == "_server":
            child_server(args[0], int(args[1]), int(args[2]), bool(args[3]))
        elif cmd == "_client":
            child_client(args[0], int(args[1]), args[2], args[3])
        elif cmd == "_threaded":
            child_threaded(args[0], int(args[1]), float(args[2]), args[3], float(args[4]))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer runs and frames")
    p.add_argument("--only", choices=["locks", "poll", "thread"])
    p.add_argument("--original", default="", help="path of another compiled ensight_grpc_shmem module")
    p.add_argument("--switch-interval", type=float, default=0.0,
                   help="sys.setswitchinterval() for the thread part (default: Python's, 5 ms)")
    a = p.parse_args()
    original = os.path.abspath(a.original) if a.original else ""
    import ensight_grpc_shmem as shm

    print(f"ensight_grpc_shmem from {Path(shm.__file__).parent}, library {shm.library_path}")
    configs: List[Dict[str, Any]] = [
        {"label": "ensight_grpc_shmem (polling on)"},
        {"label": "ensight_grpc_shmem (polling off)", "env": {"ENSIGHT_GRPC_SHMEM_POLL_WAIT_MS": "0"}},
    ]
    if original:
        configs.append({"label": f"original ({Path(original).name[:20]})", "original": original})
    if a.only in (None, "locks"):
        report_locks(bench_locks(3 if a.quick else 9, original), original)
    if a.only in (None, "poll"):
        nocopy = {"label": "ensight_grpc_shmem, loop with copy=False", "variant": "nocopy"}
        report_poll(bench_poll(120 if a.quick else 330, configs + [nocopy]))
    if a.only in (None, "thread"):
        rows = bench_thread(1 if a.quick else 2, 1.5 if a.quick else 2.5, configs, a.switch_interval)
        report_thread(rows, a.switch_interval)


if __name__ == "__main__":
    main()
