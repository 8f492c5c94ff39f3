"""Across processes: the original module's published usage (servers and clients that poll),
Python to C and C to Python."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np

import ensight_grpc_shmem as shm
from conftest import c_program, cffi_api, cffi_broadcast_server, cffi_frame, pattern

# The calls of the example published with the original module, in the same style: a server
# pushing zero-filled bytes at 60 Hz with a pause after the first frame, and a client that polls
# stream_lock, checks `type(img) is dict`, reads the keys and unlocks. Shortened to keep the
# test quick.
PUBLISHED_STYLE = r"""
import sys, time
import ensight_grpc_shmem

def server(dx=640, dy=360, n=120):
    s = ensight_grpc_shmem.stream_create("shmem.bin", ensight_grpc_shmem.IMAGESTREAM_OPTIONS_SERVER)
    img = b'\0' * dx * dy * 3
    for i in range(n):
        time.sleep(1. / 60.)
        err = ensight_grpc_shmem.stream_putframe(s, dx, dy, i, img)
        print("Frame: {} {}".format(i, err))
        if i == 0:
            time.sleep(1)
    ensight_grpc_shmem.stream_destroy(s)

def client(num=40):
    c = ensight_grpc_shmem.stream_create("shmem.bin")
    count = 0
    while True:
        img = ensight_grpc_shmem.stream_lock(c)
        if type(img) is dict:
            print("Frame: {} {} {} {}".format(img['framenumber'], img['width'], img['height'], count))
            ensight_grpc_shmem.stream_unlock(c)
            count += 1
        if count > num:
            break
    ensight_grpc_shmem.stream_destroy(c)

server() if sys.argv[1] == "server" else client()
"""


def test_published_usage_runs_as_two_processes(stream_file) -> None:
    workdir = stream_file.parent
    srv = subprocess.Popen(
        [sys.executable, "-c", PUBLISHED_STYLE, "server"], cwd=workdir, stdout=subprocess.PIPE, text=True
    )
    time.sleep(0.2)
    cli = subprocess.run(
        [sys.executable, "-c", PUBLISHED_STYLE, "client"], cwd=workdir, capture_output=True, text=True, timeout=60
    )
    out, _ = srv.communicate(timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert srv.returncode == 0
    lines = cli.stdout.split("\n")
    assert sum(1 for l in lines if l.startswith("Frame: ")) == 41
    first = lines[0].split()
    assert first[2:4] == ["640", "360"]
    numbers = [int(l.split()[1]) for l in lines if l.startswith("Frame: ")]
    assert numbers == sorted(numbers)
    codes = [int(l.split()[2]) for l in out.splitlines()]
    assert codes.count(0) >= 41 and set(codes) <= {0, 1, 4}


def test_python_server_to_c_client(workdir) -> None:
    path = workdir / "py2c.bin"
    shm.create_file(path, 320, 240)
    with shm.Server(path) as srv:
        cli = subprocess.Popen([str(c_program("client")), "-v", str(path), "30"], stdout=subprocess.PIPE, text=True)
        n = 0
        deadline = time.monotonic() + 30
        while cli.poll() is None and time.monotonic() < deadline:
            srv.put_frame(pattern(n, 320, 240), frame_number=n)
            n += 1
            time.sleep(0.003)
        out, _ = cli.communicate(timeout=30)
    assert cli.returncode == 0, out
    assert "30 frames received, all checked" in out


def test_c_server_to_python_client(workdir) -> None:
    path = workdir / "c2py.bin"
    srv = subprocess.Popen([str(c_program("server")), str(path), "320", "240", "300", "30"], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while not (path.exists() and path.stat().st_size > 0) and time.monotonic() < deadline:
        time.sleep(0.01)
    checked = 0
    last = -1
    with shm.Client(path) as cl:
        for frame in cl.frames(timeout=10):
            assert frame.frame_number > last
            last = frame.frame_number
            assert np.array_equal(frame.array, pattern(frame.frame_number, 320, 240))
            checked += 1
            if checked == 30:
                break
    out, _ = srv.communicate(timeout=30)
    assert checked == 30
    assert srv.returncode == 0, out


# A reader of a broadcast stream written against the original API: stream_create, stream_lock
# (zero copy and copying, in turn), every byte checked against the pattern of its frame number,
# frame numbers never going backwards. Prints its frame count and the last frame number.
BROADCAST_READER = r"""
import sys
import numpy as np
import ensight_grpc_shmem as shm

path, want = sys.argv[1], int(sys.argv[2])
x = np.arange(64, dtype=np.uint32)[None, :, None]
y = np.arange(48, dtype=np.uint32)[:, None, None]
c3 = np.arange(3, dtype=np.uint32)[None, None, :]
s = shm.stream_create(path)
got, last, views = 0, -1, []
while got < want:
    d = shm.stream_lock(s, copy=(got % 2 == 1), timeout=5.0)
    assert isinstance(d, dict), d
    n = d["framenumber"]
    pixels = np.asarray(d["pixeldata"]) if got % 2 == 0 else np.frombuffer(d["pixeldata"], np.uint8)
    expect = ((x * (c3 + 1) + y * 3 + n * 7 + c3 * 85) & 0xFF).astype(np.uint8)
    assert np.array_equal(pixels.reshape(48, 64, 3), expect), n
    assert n > last, (n, last)
    if got % 2 == 0:
        views.append(d["pixeldata"])   # zero-copy views kept past unlock and destroy
    last = n
    shm.stream_unlock(s)
    got += 1
shm.stream_destroy(s)
assert all(v.shape == (48, 64, 3) for v in views)
print(got, last)
"""


def test_three_reader_processes_read_one_broadcast_stream(workdir) -> None:
    ffi, lib = cffi_api()
    path = workdir / "broadcast.bin"
    server = cffi_broadcast_server(ffi, lib, path, 64, 48)
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", BROADCAST_READER, str(path), "30"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        n = 0
        deadline = time.monotonic() + 60
        while any(r.poll() is None for r in readers) and time.monotonic() < deadline:
            image = pattern(n, 64, 48)
            frame = cffi_frame(ffi, n, image)
            assert lib.SharedMemoryImageStream_putframe(server[0], frame) >= 0
            n += 1
            time.sleep(0.01)
        results = [r.communicate(timeout=10) for r in readers]
    finally:
        for r in readers:
            if r.poll() is None:
                r.kill()
        lib.SharedMemoryImageStream_destroy(server[0])
    for r, (out, err) in zip(readers, results):
        assert r.returncode == 0, err
        got, last = map(int, out.split())
        assert got == 30 and 29 <= last < n
