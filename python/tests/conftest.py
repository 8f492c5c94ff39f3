"""Fixtures: temporary stream files and the C example programs; helpers for the tests that
drive the C API through cffi."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Iterator, Tuple

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
C_BUILD = REPO / "c_examples" / "build" / "shared"


def _base_dir() -> str:
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(dir=_base_dir()) as d:
        yield Path(d)


@pytest.fixture
def stream_file(workdir: Path) -> Path:
    """A zero-filled 25 MiB file, as the original Python client writes it."""
    p = workdir / "shmem.bin"
    with open(p, "wb") as f:
        f.truncate(25 * 1024 * 1024)
    return p


def c_program(name: str) -> Path:
    p = C_BUILD / name
    if not p.exists():
        pytest.fail(f"{p} is not built; run `make -C c_examples` (make test does)")
    return p


def pattern(frame: int, width: int, height: int) -> np.ndarray:
    """The test pattern of c_examples/pattern.h, as a (height, width, 3) uint8 array."""
    x = np.arange(width, dtype=np.uint32)[None, :, None]
    y = np.arange(height, dtype=np.uint32)[:, None, None]
    c = np.arange(3, dtype=np.uint32)[None, None, :]
    return ((x * (c + 1) + y * 3 + frame * 7 + c * 85) & 0xFF).astype(np.uint8)


def locked_buffer_offset(path: Path, state: int = 3) -> int:
    """File offset of the pixels of the buffer whose state byte is `state`."""
    size = path.stat().st_size
    payload = ((size - 48) // 2) & ~7
    with open(path, "rb") as f:
        data0 = f.read(24)
        f.seek(24 + payload)
        data1 = f.read(24)
    hits = [b for b, h in enumerate((data0, data1)) if h[20] == state]
    assert len(hits) == 1, f"expected one buffer in state {state}: {hits}"
    return hits[0] * (24 + payload) + 24


def cffi_api() -> Tuple[Any, Any]:
    """cffi in ABI mode over the package's library: ``(ffi, lib)`` with the declarations of
    ``cdef()``. Skips the test if cffi is not installed."""
    cffi = pytest.importorskip("cffi")
    import ensight_grpc_shmem as shm

    ffi = cffi.FFI()
    ffi.cdef(shm.cdef())
    return ffi, ffi.dlopen(shm.library_path)


def cffi_broadcast_server(ffi: Any, lib: Any, path: Path, width: int, height: int) -> Any:
    """A broadcast stream file at `path` (4 buffers, default options) created through the C
    API, for frames up to `width` x `height`; returns the ``SharedMemoryImageStream *`` of its
    server (``server[0]`` is the stream)."""
    server = ffi.new("SharedMemoryImageStream *")
    assert lib.SharedMemoryImageStream_createbroadcast(str(path).encode(), width, height, 4, 0, server) == 0
    return server


def cffi_frame(ffi: Any, number: int, image: np.ndarray) -> Any:
    """A ``struct _SharedMemoryFrame *`` for putframe: frame `number`, the size of the
    (height, width, 3) uint8 array `image`, and its pixels in place (not copied: `image` must
    outlive the frame)."""
    height, width = image.shape[:2]
    return ffi.new(
        "struct _SharedMemoryFrame *",
        {"iFrame": number, "iWidth": width, "iHeight": height, "buffer": ffi.from_buffer("uint8_t[]", image)},
    )
