"""The object API: Server, Client, Frame, FrameWriter, create_file, save_png."""

from __future__ import annotations

import os
import stat
import struct
import sys
import zlib

import numpy as np
import pytest

import ensight_grpc_shmem as shm


def test_create_file_sizes(workdir) -> None:
    p = workdir / "made.bin"
    assert shm.create_file(p, 3840, 2160) == 48 + 2 * 3840 * 2160 * 3
    assert shm.create_file(p, 16, 16) == 48 + 2 * 3840 * 2160 * 3  # never shrinks
    with pytest.raises(shm.StreamError, match="invalid argument"):
        shm.create_file(workdir / "x.bin", 0, 10)


def test_server_and_client_context_managers(stream_file) -> None:
    with shm.Server(stream_file) as srv:
        with shm.Client(stream_file) as cl:
            assert not cl.reconnected
            img = np.full((3, 5, 3), 200, np.uint8)
            assert srv.put_frame(img) == shm.ERROR_NOERROR
            with cl.lock() as f:
                assert (f.width, f.height, f.frame_number) == (5, 3, 0)
                assert np.array_equal(f.array, img)
                assert f.tobytes() == img.tobytes()
            assert not f.locked
            assert cl.lock() is None
        assert cl.closed
        # The client detached when its block ended.
        assert srv.put_frame(img) == shm.ERROR_UNCONNECTED
        assert srv.next_frame_number == 2
    assert srv.closed


def test_frames_iterator_unlocks_each_frame(stream_file) -> None:
    with shm.Server(stream_file) as srv, shm.Client(stream_file) as cl:
        seen = []
        srv.put_frame(np.zeros((2, 2, 3), np.uint8), frame_number=10)
        for frame in cl.frames(timeout=0.2):
            seen.append(frame.frame_number)
            if frame.frame_number < 12:
                # Both buffers are free again only if the previous frame was unlocked.
                srv.put_frame(np.zeros((2, 2, 3), np.uint8), frame_number=frame.frame_number + 1)
        assert seen == [10, 11, 12]
        assert not frame.locked


def test_frame_writer_publishes_or_aborts(stream_file) -> None:
    with shm.Server(stream_file) as srv, shm.Client(stream_file) as cl:
        w = srv.frame(4, 2)
        assert w is not None and w.array.flags.writeable
        with w as a:
            a[:] = 77
        with cl.lock() as f:
            assert f.frame_number == 0 and np.all(f.array == 77)
        with pytest.raises(KeyError):
            with srv.frame(4, 2) as a:
                a[:] = 1
                raise KeyError("renderer failed")
        assert cl.lock() is None, "an aborted frame is never shown"
        w = srv.frame(4, 2)
        w.array[:] = 5
        assert w.publish(frame_number=99) == 0
        with cl.lock() as f:
            assert f.frame_number == 99 and np.all(f.array == 5)
        # No client: no buffer to render into.
        cl.close()
        assert srv.frame(4, 2) is None


def test_frame_array_taken_after_unlock_is_refused(stream_file) -> None:
    with shm.Server(stream_file) as srv, shm.Client(stream_file) as cl:
        srv.put_frame(np.zeros((2, 2, 3), np.uint8))
        f = cl.lock()
        f.unlock()
        f.unlock()  # idempotent
        with pytest.raises(ValueError):
            _ = f.array
        with pytest.raises(ValueError):
            f.tobytes()


def test_save_png_writes_a_valid_image(stream_file, workdir) -> None:
    img = np.random.default_rng(3).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    with shm.Server(stream_file) as srv, shm.Client(stream_file) as cl:
        srv.put_frame(img)
        with cl.lock(1.0) as f:
            f.save_png(workdir / "f.png")
    data = (workdir / "f.png").read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    w, h, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert (w, h, depth, colour) == (5, 7, 8, 2)
    idat_len = struct.unpack(">I", data[33:37])[0]
    raw = zlib.decompress(data[41 : 41 + idat_len])
    rows = np.frombuffer(raw, np.uint8).reshape(7, 1 + 15)
    assert np.all(rows[:, 0] == 0) and np.array_equal(rows[:, 1:].reshape(7, 5, 3), img)


@pytest.mark.skipif(sys.platform == "win32", reason="Unix permission bits")
def test_create_file_permissions(workdir) -> None:
    private = workdir / "private.bin"
    shm.create_file(private, 16, 16)
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    shared = workdir / "group.bin"
    shm.create_file(shared, 16, 16, mode=0o660)
    assert stat.S_IMODE(os.stat(shared).st_mode) == 0o660
    with pytest.raises(shm.StreamError, match="invalid argument"):
        shm.create_file(workdir / "bad.bin", 16, 16, mode=0o444)
