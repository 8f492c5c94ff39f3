"""copy=False: numpy views of shared memory, their lifetime, and blocking locks."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import ensight_grpc_shmem as shm
from conftest import locked_buffer_offset


def test_zero_copy_lock_views_shared_memory(stream_file) -> None:
    s = shm.stream_create(stream_file, shm.OPTIONS_SERVER)
    c = shm.stream_create(stream_file)
    img = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    shm.stream_putframe(s, 64, 48, 9, img)
    d = shm.stream_lock(c, copy=False)
    a = d["pixeldata"]
    assert (a.shape, a.dtype) == ((48, 64, 3), np.uint8)
    assert not a.flags.writeable and not a.flags.owndata
    assert np.array_equal(a, img)
    # Proof that it is a view, not a copy: a byte written into the file shows up in the array.
    off = locked_buffer_offset(stream_file)
    fd = os.open(stream_file, os.O_WRONLY)
    try:
        os.pwrite(fd, bytes([(int(img[0, 0, 0]) + 1) & 0xFF]), off)
    finally:
        os.close(fd)
    assert a[0, 0, 0] == (int(img[0, 0, 0]) + 1) & 0xFF
    with pytest.raises(ValueError):
        a[0, 0, 0] = 1
    shm.stream_unlock(c)
    shm.stream_destroy(c)
    shm.stream_destroy(s)


LIFETIME_SCRIPT = r"""
import os, sys
import numpy as np
import ensight_grpc_shmem as shm
path = sys.argv[1]
s = shm.stream_create(path, shm.OPTIONS_SERVER)
c = shm.stream_create(path)
shm.stream_putframe(s, 32, 16, 1, np.full((16, 32, 3), 7, np.uint8))
a = shm.stream_lock(c, copy=False)["pixeldata"]
shm.stream_unlock(c)
total_after_unlock = int(a.sum())
shm.stream_destroy(c)
shm.stream_destroy(s)
total_after_destroy = int(a.sum())
os.unlink(path)
total_after_unlink = int(a.sum())
# The object API: an array taken from a frame outlives the client.
with open(path, "wb") as f:
    f.truncate(25 * 1024 * 1024)
with shm.Server(path) as srv, shm.Client(path) as cl:
    srv.put_frame(np.full((4, 4, 3), 3, np.uint8))
    with cl.lock(1.0) as fr:
        b = fr.array
print(total_after_unlock, total_after_destroy, total_after_unlink, int(b.sum()))
"""


def test_views_never_crash_after_unlock_destroy_or_unlink(stream_file) -> None:
    # In a child process, so that a crash would fail this test instead of killing pytest.
    r = subprocess.run(
        [sys.executable, "-c", LIFETIME_SCRIPT, str(stream_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(7 * 32 * 16 * 3)] * 3 + [str(3 * 4 * 4 * 3)]


def test_timeout_waits_and_returns_no_frame_available(stream_file) -> None:
    s = shm.stream_create(stream_file, shm.OPTIONS_SERVER)
    c = shm.stream_create(stream_file)
    t = time.monotonic()
    assert shm.stream_lock(c, timeout=0.05) == shm.ERROR_NO_FRAMEAVAILABLE
    assert time.monotonic() - t >= 0.05
    assert shm.stream_lock(c, timeout=0) == shm.ERROR_NO_FRAMEAVAILABLE
    with pytest.raises(ValueError):
        shm.stream_lock(c, timeout=-1)
    shm.stream_destroy(c)
    shm.stream_destroy(s)


def test_timeout_wakes_when_a_frame_arrives_and_releases_the_gil(stream_file) -> None:
    s = shm.stream_create(stream_file, shm.OPTIONS_SERVER)
    c = shm.stream_create(stream_file)

    def put_later() -> None:
        time.sleep(0.05)  # runs only if the waiting thread released the GIL
        shm.stream_putframe(s, 2, 2, 42, b"\5" * 12)

    th = threading.Thread(target=put_later)
    th.start()
    t = time.monotonic()
    d = shm.stream_lock(c, copy=False, timeout=30)
    waited = time.monotonic() - t
    th.join()
    assert isinstance(d, dict) and d["framenumber"] == 42
    assert waited < 20, "woken by the frame, not by the 30 s timeout"
    shm.stream_unlock(c)
    shm.stream_destroy(c)
    shm.stream_destroy(s)
