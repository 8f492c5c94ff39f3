"""copy=False: numpy views of the library's own mapping, how long they stay usable (after
unlock, destroy, unlink, truncation: each in a child process that must exit 0), and blocking
locks."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
import time
import weakref

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
    with pytest.raises(ValueError):
        a.flags.writeable = True
    shm.stream_unlock(c)
    shm.stream_destroy(c)
    shm.stream_destroy(s)


def test_each_lock_returns_its_own_array_object(stream_file) -> None:
    with shm.Server(stream_file) as srv:
        c = shm.stream_create(stream_file)
        arrays = []
        for i in range(4):
            srv.put_frame(np.full((2, 3, 3), i, np.uint8))
            arrays.append(shm.stream_lock(c, copy=False)["pixeldata"])
            shm.stream_unlock(c)
        assert len({id(a) for a in arrays}) == 4
        arrays[0].shape = (3, 2, 3)  # reshaping one array leaves the next lock alone
        srv.put_frame(np.full((2, 3, 3), 9, np.uint8))
        assert shm.stream_lock(c, copy=False)["pixeldata"].shape == (2, 3, 3)
        shm.stream_destroy(c)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_the_package_maps_no_file_itself(stream_file) -> None:
    """One mapping of the file per stream, all of them the library's."""

    def mappings() -> int:
        with open("/proc/self/maps") as f:
            return sum(1 for line in f if line.rstrip().endswith(str(stream_file)))

    with shm.Server(stream_file) as srv, shm.Client(stream_file) as cl:
        srv.put_frame(np.zeros((4, 4, 3), np.uint8))
        with cl.lock() as f:
            a = f.array
        writer = srv.frame(4, 4)
        assert writer is not None
        writer.array[:] = 1
        writer.publish()
        c = shm.stream_create(stream_file)  # a second client (reconnecting)
        assert mappings() == 3
        shm.stream_destroy(c)
    assert a.shape == (4, 4, 3)


def test_views_keep_the_mapping_reference_and_release_it(stream_file) -> None:
    from ensight_grpc_shmem._streams import MappingRef

    with shm.Server(stream_file) as srv:
        c = shm.stream_create(stream_file)
        srv.put_frame(np.full((2, 2, 3), 4, np.uint8))
        a = shm.stream_lock(c, copy=False)["pixeldata"]
        base = a
        while not isinstance(getattr(base, "mapping", None), MappingRef):
            base = base.base
        ref = weakref.ref(base.mapping)
        shm.stream_unlock(c)
        shm.stream_destroy(c)
        gc.collect()
        assert ref() is not None, "the array keeps the mapping alive after destroy"
        assert int(a.sum()) == 4 * 12
        del a, base
        gc.collect()
        assert ref() is None, "the reference is released with the last array"


# Each scenario runs in a child process, so that a crash (SIGBUS, SIGSEGV) fails the test
# instead of killing pytest; the child prints what its arrays read.
LIFETIME_SCRIPT = r"""
import os, sys
import numpy as np
import ensight_grpc_shmem as shm

path, scenario = sys.argv[1], sys.argv[2]
s = shm.stream_create(path, shm.OPTIONS_SERVER)
c = shm.stream_create(path)
shm.stream_putframe(s, 32, 16, 1, np.full((16, 32, 3), 7, np.uint8))
a = shm.stream_lock(c, copy=False)["pixeldata"]
if scenario == "unlock":
    shm.stream_unlock(c)
elif scenario == "destroy":
    shm.stream_unlock(c)
    shm.stream_destroy(c)
    shm.stream_destroy(s)
elif scenario == "unlink":
    shm.stream_destroy(c)
    shm.stream_destroy(s)
    os.unlink(path)
elif scenario == "truncate":
    # Truncated under live streams, while the frame is still locked.
    os.truncate(path, 0)
    try:
        shm.stream_unlock(c)
    except RuntimeError as e:
        print("unlock:", e, file=sys.stderr)
elif scenario == "truncate-after-destroy":
    shm.stream_destroy(c)
    shm.stream_destroy(s)
    os.truncate(path, 0)
print(int(a.sum()), int(a.max()), a.shape)
"""


@pytest.mark.parametrize(
    "scenario, expected",
    [
        ("unlock", [str(7 * 32 * 16 * 3), "7"]),
        ("destroy", [str(7 * 32 * 16 * 3), "7"]),
        ("unlink", [str(7 * 32 * 16 * 3), "7"]),
        ("truncate", ["0", "0"]),
        ("truncate-after-destroy", ["0", "0"]),
    ],
)
def test_a_view_read_later_never_crashes(stream_file, scenario, expected) -> None:
    r = subprocess.run(
        [sys.executable, "-c", LIFETIME_SCRIPT, str(stream_file), scenario],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr}"
    assert r.stdout.split()[:2] == expected


WRITER_SCRIPT = r"""
import os, sys
import numpy as np
import ensight_grpc_shmem as shm

path = sys.argv[1]
with shm.Server(path) as srv, shm.Client(path) as cl:
    w = srv.frame(8, 4)
    a = w.array
    a[:] = 3
    w.publish()
    with cl.lock(1.0) as f:
        seen = int(f.array.sum())
        b = f.array
a[:] = 5        # after endframe and close: writes into memory still mapped
after_close = int(a.sum())
os.truncate(path, 0)
a[:] = 9        # after truncation: the lost pages are replaced by zeros, then written
print(seen, after_close, int(a.sum()), int(b.sum()) in (0, 9 * 96))
"""


def test_a_writer_array_used_after_publish_close_and_truncation_never_crashes(stream_file) -> None:
    r = subprocess.run(
        [sys.executable, "-c", WRITER_SCRIPT, str(stream_file)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr}"
    assert r.stdout.split() == [str(3 * 96), str(5 * 96), str(9 * 96), "True"]


def test_truncation_is_reported_by_the_next_call_not_by_a_crash(stream_file) -> None:
    script = r"""
import os, sys
import numpy as np
import ensight_grpc_shmem as shm
path = sys.argv[1]
s = shm.stream_create(path, shm.OPTIONS_SERVER)
c = shm.stream_create(path)
shm.stream_putframe(s, 4, 4, 1, np.ones((4, 4, 3), np.uint8))
os.truncate(path, 0)
for call in (lambda: shm.stream_lock(c), lambda: shm.stream_lock(c, copy=False),
             lambda: shm.stream_putframe(s, 4, 4, 2, b"\0" * 48)):
    try:
        call()
        print("no error")
    except RuntimeError as e:
        print(type(e).__name__, getattr(e, "code", None))
"""
    r = subprocess.run(
        [sys.executable, "-c", script, str(stream_file)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"StreamError {shm.IMAGESTREAM_BAD_FILE_SIZE}"] * 3


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
