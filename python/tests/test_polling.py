"""Polling: back-to-back stream_lock calls that find no frame wait (GIL released) for the next
frame, so the published client loop costs next to no CPU; calls after a frame or after idle time
return at once; the wait can be switched off.

Behaviour is asserted here; the timing targets are measured by python/bench_lock.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

import ensight_grpc_shmem as shm

# The client loop published with the original module, verbatim.
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

# Runs the published loop with two stand-ins: `print` records the frame numbers, and the module
# name the loop uses counts stream_lock calls. Prints what it saw as JSON.
CLIENT_SCRIPT = (
    r'''
import json, resource, sys, time
import ensight_grpc_shmem as _module


class _Counting:
    """The module, with stream_lock calls counted."""

    def __init__(self):
        self.calls = 0

    def __getattr__(self, name):
        return getattr(_module, name)

    def stream_lock(self, *args, **kw):
        self.calls += 1
        return _module.stream_lock(*args, **kw)


ensight_grpc_shmem = _Counting()
_frames = []


def print(*args, **kw):
    _frames.append(int(str(args[0]).split()[1]))
'''
    + PUBLISHED_CLIENT
    + r'''

def _cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


_c0, _t0 = _cpu(), time.monotonic()
run_client(int(sys.argv[1]))
sys.stdout.write(json.dumps({"frames": _frames, "calls": ensight_grpc_shmem.calls,
                             "cpu": _cpu() - _c0, "wall": time.monotonic() - _t0}))
'''
)

# The published server's pattern (sleep 1/60 s, putframe of a 1920x1080 frame), until the client
# has come and gone. Prints the result codes it got while a client was attached.
SERVER_SCRIPT = r'''
import json, sys, time
import ensight_grpc_shmem

s = ensight_grpc_shmem.stream_create("shmem.bin", ensight_grpc_shmem.IMAGESTREAM_OPTIONS_SERVER)
img = b"\0" * 1920 * 1080 * 3
codes = []
deadline = time.monotonic() + 120
i = 0
while time.monotonic() < deadline:
    time.sleep(1. / 60.)
    err = ensight_grpc_shmem.stream_putframe(s, 1920, 1080, i, img)
    if codes or err == 0:
        codes.append(err)
    if codes and err == ensight_grpc_shmem.ERROR_UNCONNECTED:
        break
    i += 1
ensight_grpc_shmem.stream_destroy(s)
sys.stdout.write(json.dumps(codes))
'''


def run_published_pair(stream_file: Path, num: int, env: Dict[str, str]) -> Dict[str, Any]:
    """Runs the server and client scripts in the folder of `stream_file` (the ``shmem.bin`` of
    the fixture, the name both scripts open); returns the client's JSON with the server's
    result codes under ``codes``."""
    workdir = stream_file.parent
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER_SCRIPT], cwd=workdir, stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        client = subprocess.run(
            [sys.executable, "-c", CLIENT_SCRIPT, str(num)],
            cwd=workdir, capture_output=True, text=True, env=env, timeout=120,
        )
        out, _ = server.communicate(timeout=120)
    finally:
        if server.poll() is None:
            server.kill()
    assert client.returncode == 0, client.stderr
    assert server.returncode == 0
    result: Dict[str, Any] = json.loads(client.stdout)
    result["codes"] = json.loads(out)
    return result


def env_with(**extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ENSIGHT_GRPC_SHMEM_POLL_WAIT_MS"}
    env.update(extra)
    return env


@pytest.mark.skipif(sys.platform == "win32", reason="measures CPU time with resource")
def test_published_loop_gets_every_frame_and_sleeps_between_them(stream_file) -> None:
    num = 90
    r = run_published_pair(stream_file, num, env_with())
    frames = r["frames"]
    # Every frame received: num + 1 frames, consecutive numbers, and the server never found
    # both buffers still full.
    assert len(frames) == num + 1
    assert frames == list(range(frames[0], frames[0] + num + 1))
    assert shm.ERROR_NO_BUFFERAVAILABLE not in r["codes"]
    # It sleeps: a few stream_lock calls per frame (a spinning loop makes thousands), and the
    # client's CPU time is a small part of the time it ran (generous bounds for a loaded
    # machine; bench_lock.py measures the real figures).
    assert r["calls"] / len(frames) < 20, r
    assert r["cpu"] < 0.5 * r["wall"], r


@pytest.mark.skipif(sys.platform == "win32", reason="measures CPU time with resource")
def test_control_with_polling_switched_off_the_loop_spins(stream_file) -> None:
    """The measure above tells the two apart: without the wait, the loop calls stream_lock
    hundreds of times per frame."""
    r = run_published_pair(stream_file, 12, env_with(ENSIGHT_GRPC_SHMEM_POLL_WAIT_MS="0"))
    assert len(r["frames"]) == 13
    assert r["calls"] / len(r["frames"]) > 100, r


@pytest.fixture
def polling() -> Iterator[None]:
    """Restores the polling settings after a test."""
    saved = shm.get_polling()
    yield
    shm.set_polling(saved.enabled, max_wait=saved.max_wait, idle=saved.idle)


@pytest.fixture
def pair(stream_file) -> Iterator[tuple]:
    s = shm.stream_create(stream_file, shm.OPTIONS_SERVER)
    c = shm.stream_create(stream_file)
    yield s, c
    shm.stream_destroy(c)
    shm.stream_destroy(s)


def timed(fn: Any) -> tuple:
    t = time.monotonic()
    r = fn()
    return r, time.monotonic() - t


def test_a_call_right_after_no_frame_waits_with_the_gil_released(pair, polling) -> None:
    s, c = pair
    shm.set_polling(True, max_wait=0.2, idle=0.05)
    r, first = timed(lambda: shm.stream_lock(c))
    assert r == shm.ERROR_NO_FRAMEAVAILABLE
    ticks = []
    stop = threading.Event()

    def count() -> None:
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.001)

    th = threading.Thread(target=count)
    th.start()
    r, second = timed(lambda: shm.stream_lock(c))
    stop.set()
    th.join()
    assert r == shm.ERROR_NO_FRAMEAVAILABLE
    assert second >= 0.19, "the back-to-back call waited for a frame"
    assert len(ticks) >= 10, "another thread ran while it waited"


def test_a_frame_ends_the_wait_at_once(pair, polling) -> None:
    s, c = pair
    shm.set_polling(True, max_wait=1.0, idle=0.5)
    assert shm.stream_lock(c) == shm.ERROR_NO_FRAMEAVAILABLE

    def put_later() -> None:
        time.sleep(0.05)
        shm.stream_putframe(s, 2, 2, 7, b"\1" * 12)

    th = threading.Thread(target=put_later)
    th.start()
    d, waited = timed(lambda: shm.stream_lock(c))
    th.join()
    assert isinstance(d, dict) and d["framenumber"] == 7
    assert waited < 0.9, "woken by the frame, not by the end of the wait"
    shm.stream_unlock(c)


def test_calls_after_a_frame_or_after_idle_time_return_at_once(pair, polling) -> None:
    s, c = pair
    shm.set_polling(True, max_wait=1.0, idle=0.05)
    # After a frame.
    shm.stream_putframe(s, 2, 2, 1, b"\1" * 12)
    assert isinstance(shm.stream_lock(c), dict)
    shm.stream_unlock(c)
    r, t = timed(lambda: shm.stream_lock(c))
    assert r == shm.ERROR_NO_FRAMEAVAILABLE and t < 0.5
    # After idle time (longer than `idle` since the last "no frame").
    time.sleep(0.1)
    r, t = timed(lambda: shm.stream_lock(c, copy=False))
    assert r == shm.ERROR_NO_FRAMEAVAILABLE and t < 0.5
    # An explicit timeout=0 never waits.
    r, t = timed(lambda: shm.stream_lock(c, timeout=0))
    assert r == shm.ERROR_NO_FRAMEAVAILABLE and t < 0.5


def test_the_wait_is_per_stream(stream_file, workdir, polling) -> None:
    other = workdir / "other.bin"
    shm.create_file(other, 16, 16)
    shm.set_polling(True, max_wait=1.0, idle=0.5)
    with shm.Server(stream_file), shm.Server(other):
        a = shm.stream_create(stream_file)
        b = shm.stream_create(other)
        assert shm.stream_lock(a) == shm.ERROR_NO_FRAMEAVAILABLE
        r, t = timed(lambda: shm.stream_lock(b))  # b's first call: no wait
        assert r == shm.ERROR_NO_FRAMEAVAILABLE and t < 0.5
        shm.stream_destroy(a)
        shm.stream_destroy(b)


def test_switched_off_nothing_waits(pair, polling) -> None:
    s, c = pair
    shm.set_polling(False)
    assert shm.get_polling().enabled is False
    t = time.monotonic()
    for _ in range(50):
        assert shm.stream_lock(c) == shm.ERROR_NO_FRAMEAVAILABLE
    assert time.monotonic() - t < 0.5
    shm.set_polling(True)
    assert shm.get_polling().enabled is True


def test_the_object_api_polls_too(stream_file, polling) -> None:
    shm.set_polling(True, max_wait=0.2, idle=0.05)
    with shm.Server(stream_file), shm.Client(stream_file) as cl:
        assert cl.lock() is None
        r, t = timed(cl.lock)
        assert r is None and t >= 0.19


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        shm.set_polling(True, max_wait=0)
    with pytest.raises(ValueError):
        shm.set_polling(True, max_wait=5)
    with pytest.raises(ValueError):
        shm.set_polling(True, idle=-1)


@pytest.mark.parametrize("value, enabled, max_wait", [("0", False, 0.02), ("5", True, 0.005), ("", True, 0.02)])
def test_environment_variable_sets_the_wait(value, enabled, max_wait) -> None:
    r = subprocess.run(
        [sys.executable, "-c", "import ensight_grpc_shmem as m; p = m.get_polling(); print(p.enabled, p.max_wait)"],
        env=env_with(ENSIGHT_GRPC_SHMEM_POLL_WAIT_MS=value),
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(enabled), str(max_wait)]
