"""The original module's surface: names, keywords, return values and exceptions."""

from __future__ import annotations

import numpy as np
import pytest

import ensight_grpc_shmem as shm


def test_constants_have_the_original_values() -> None:
    assert shm.version == "1.0"
    assert (shm.OPTIONS_NONE, shm.OPTIONS_SERVER, shm.OPTIONS_FLIPVERTICAL) == (0, 3, 0x100)
    assert (shm.ERROR_NOERROR, shm.ERROR_NO_BUFFERAVAILABLE, shm.ERROR_NO_FRAMEAVAILABLE) == (0, 1, 2)
    assert (shm.ERROR_RECONNECTING, shm.ERROR_UNCONNECTED) == (3, 4)
    assert shm.IMAGESTREAM_OPTIONS_SERVER == 3
    assert shm.IMAGESTREAM_OPTIONS_NONE == 0
    assert shm.IMAGESTREAM_OPTIONS_FLIPVERTICAL == 0x100
    assert shm.IMAGESTREAM_BAD_ARGS == -1 and shm.IMAGESTREAM_LOCKED == -11
    assert shm.IMAGESTREAM_API_VERSION == "1.0"


def test_round_trip_with_keywords(stream_file) -> None:
    s = shm.stream_create(filename=str(stream_file), options=shm.OPTIONS_SERVER)
    c = shm.stream_create(filename=str(stream_file))
    px = bytes(range(256)) * 3  # 16x16x3 = 768 bytes
    assert shm.stream_putframe(stream_id=s, width=16, height=16, framenumber=5, pixeldata=px) == 0
    d = shm.stream_lock(stream_id=c)
    assert type(d) is dict
    assert list(d) == ["width", "height", "framenumber", "pixeldata"]
    assert (d["width"], d["height"], d["framenumber"]) == (16, 16, 5)
    assert type(d["pixeldata"]) is bytes and d["pixeldata"] == px
    assert shm.stream_unlock(stream_id=c) == 0
    assert shm.stream_lock(c) == shm.ERROR_NO_FRAMEAVAILABLE
    assert shm.stream_destroy(stream_id=c) == 0
    assert shm.stream_putframe(s, 16, 16, 6, px) == shm.ERROR_UNCONNECTED
    assert shm.stream_destroy(s) == 0


def test_no_buffer_available_and_reconnecting(stream_file) -> None:
    s = shm.stream_create(stream_file, shm.OPTIONS_SERVER)
    c = shm.stream_create(stream_file)
    px = b"\0" * 12
    assert shm.stream_putframe(s, 2, 2, 1, px) == 0
    assert shm.stream_putframe(s, 2, 2, 2, px) == 0
    assert shm.stream_putframe(s, 2, 2, 3, px) == shm.ERROR_NO_BUFFERAVAILABLE
    # A second client attaching to a stream in progress still gets an id (the original
    # module returned 3 and leaked the stream).
    c2 = shm.stream_create(stream_file)
    assert isinstance(c2, int) and c2 not in (s, c)
    for i in (c2, c, s):
        shm.stream_destroy(i)


def test_library_errors_raise_runtime_error_with_the_library_message(stream_file, workdir) -> None:
    with pytest.raises(RuntimeError, match="10 MiB"):
        shm.stream_create(workdir / "missing.bin")
    small = workdir / "small.bin"
    small.write_bytes(b"\0" * 1000)
    with pytest.raises(RuntimeError, match="10 MiB"):
        shm.stream_create(small, shm.OPTIONS_SERVER)
    with pytest.raises(RuntimeError, match="opened"):
        shm.stream_create(workdir)
    with pytest.raises(RuntimeError, match="invalid argument"):
        shm.stream_create(stream_file, 0x200)
    with pytest.raises(RuntimeError, match="invalid argument"):
        shm.stream_create(stream_file, -1)
    s = shm.stream_create(stream_file, shm.OPTIONS_SERVER)
    c = shm.stream_create(stream_file)
    with pytest.raises(RuntimeError, match="server stream") as e:
        shm.stream_lock(s)
    assert e.value.code == shm.IMAGESTREAM_IS_SERVER
    with pytest.raises(RuntimeError, match="server stream"):
        shm.stream_unlock(s)
    with pytest.raises(RuntimeError, match="client stream"):
        shm.stream_putframe(c, 2, 2, 0, b"\0" * 12)
    with pytest.raises(RuntimeError, match="no frame is locked"):
        shm.stream_unlock(c)
    with pytest.raises(RuntimeError, match="larger than the buffer"):
        shm.stream_putframe(s, 8000, 8000, 0, np.zeros((8000, 8000, 3), np.uint8))
    shm.stream_putframe(s, 2, 2, 0, b"\0" * 12)
    shm.stream_lock(c)
    with pytest.raises(RuntimeError, match="locked"):
        shm.stream_lock(c)
    shm.stream_destroy(c)
    shm.stream_destroy(s)


@pytest.mark.parametrize("bad", [None, -1, 10**9, "1", 1.0])
def test_unknown_ids(bad) -> None:
    for fn in (shm.stream_lock, shm.stream_unlock, shm.stream_destroy):
        with pytest.raises(RuntimeError, match="Unknown stream id"):
            fn(bad)
    with pytest.raises(RuntimeError, match="Unknown stream id"):
        shm.stream_putframe(bad, 1, 1, 0, b"\0\0\0")


def test_ids_are_never_reused_and_there_is_no_limit_of_50(stream_file) -> None:
    s = shm.stream_create(stream_file, shm.OPTIONS_SERVER)
    ids = [shm.stream_create(stream_file) for _ in range(60)]
    assert len(set(ids)) == 60
    old = ids[0]
    shm.stream_destroy(old)
    new = shm.stream_create(stream_file)
    assert new not in ids and new != s
    with pytest.raises(RuntimeError, match="Unknown stream id"):
        shm.stream_lock(old)
    for i in ids[1:] + [new, s]:
        shm.stream_destroy(i)


@pytest.mark.parametrize(
    "make",
    [
        lambda b: b,
        bytearray,
        memoryview,
        lambda b: np.frombuffer(b, np.uint8).reshape(4, 4, 3),
        lambda b: np.frombuffer(b, np.uint8).copy(),
        lambda b: memoryview(np.frombuffer(b, np.uint8).reshape(4, 12)),
    ],
    ids=["bytes", "bytearray", "memoryview", "ndarray3d", "ndarray1d", "memoryview2d"],
)
def test_putframe_takes_any_contiguous_byte_buffer(stream_file, make) -> None:
    s = shm.stream_create(stream_file, shm.OPTIONS_SERVER)
    c = shm.stream_create(stream_file)
    px = bytes(range(48))
    assert shm.stream_putframe(s, 4, 4, 1, make(px)) == 0
    assert shm.stream_lock(c)["pixeldata"] == px
    shm.stream_unlock(c)
    shm.stream_destroy(c)
    shm.stream_destroy(s)


def test_putframe_rejects_bad_pixel_data_with_value_errors(stream_file) -> None:
    s = shm.stream_create(stream_file, shm.OPTIONS_SERVER)
    c = shm.stream_create(stream_file)
    img = np.zeros((4, 8, 3), np.uint8)
    cases = [
        (b"\0" * 10, "needs 96"),
        (img[:, ::2], "C-contiguous"),
        (np.zeros((4, 8, 4), np.uint8), r"shape \(4, 8, 4\)"),
        (np.zeros((8, 4, 3), np.uint8), r"\(4, 8, 3\)"),
        (np.zeros((4, 8, 3), np.float32), "uint8"),
        ([0] * 96, "not list"),
        ("abc", "not str"),
    ]
    for data, message in cases:
        with pytest.raises(ValueError, match=message) as e:
            shm.stream_putframe(s, 8, 4, 0, data)
        assert isinstance(e.value, RuntimeError), "the original raised RuntimeError here"
    for w, h in [(0, 4), (8, 0), (-1, 4)]:
        with pytest.raises(ValueError, match="Invalid frame size"):
            shm.stream_putframe(s, w, h, 0, img)
    # Longer buffers are accepted, as the original did (only the frame's bytes are used).
    assert shm.stream_putframe(s, 8, 4, 0, b"\1" * 200) == 0
    assert shm.stream_lock(c)["pixeldata"] == b"\1" * 96
    shm.stream_unlock(c)
    shm.stream_destroy(c)
    shm.stream_destroy(s)


def test_flipvertical_option(stream_file) -> None:
    s = shm.stream_create(stream_file, shm.OPTIONS_SERVER | shm.OPTIONS_FLIPVERTICAL)
    c = shm.stream_create(stream_file)
    img = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(3, 2, 3)
    shm.stream_putframe(s, 2, 3, 0, img)
    got = shm.stream_lock(c, copy=False)["pixeldata"]
    assert np.array_equal(got, img[::-1])
    shm.stream_unlock(c)
    shm.stream_destroy(c)
    shm.stream_destroy(s)
