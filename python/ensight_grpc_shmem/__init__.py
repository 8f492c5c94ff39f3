"""ensight_grpc_shmem: the shared memory image transport for Python.

A drop-in replacement for the original ``ensight_grpc_shmem`` extension module, built on the
shmimg library with ctypes. The original functions keep their names, keywords, return values and
exceptions::

    import ensight_grpc_shmem as shm
    s = shm.stream_create("frames.bin", shm.IMAGESTREAM_OPTIONS_SERVER)
    shm.stream_putframe(s, 1920, 1080, 0, pixels)          # bytes, bytearray, numpy, ...
    c = shm.stream_create("frames.bin")
    frame = shm.stream_lock(c)                            # dict, or 2 when nothing is new
    shm.stream_unlock(c)

and there is more: ``stream_lock(c, copy=False)`` returns the pixels as a read-only numpy
array viewing shared memory (no copy, kept mapped by the library for as long as the array
lives), ``stream_lock(c, timeout=0.5)`` waits for a frame, a loop calling ``stream_lock``
without a pause waits for frames instead of spinning (:func:`set_polling`), :func:`cdef` hands
the C API to cffi, and :class:`Server`, :class:`Client` and :func:`create_file` form an object
API with context managers.
"""

from __future__ import annotations

import atexit
import ctypes
import itertools
import os
import threading
from typing import Any, Dict, Optional, Union

from . import _native as _n
from ._cffi import cdef, get_include
from ._native import errorstring, library_path
from ._streams import PixelDataError, PollingSettings, Stream as _Stream, StreamError
from ._streams import check as _check, close_all as _close_all, get_polling, lock as _lock
from ._streams import pixel_pointer as _pixel_pointer, set_polling
from ._objects import Client, Frame, FrameWriter, Server, create_file, save_png

__all__ = [
    "stream_create",
    "stream_lock",
    "stream_unlock",
    "stream_putframe",
    "stream_destroy",
    "Server",
    "Client",
    "Frame",
    "FrameWriter",
    "create_file",
    "save_png",
    "errorstring",
    "StreamError",
    "PixelDataError",
    "library_path",
    "set_polling",
    "get_polling",
    "PollingSettings",
    "cdef",
    "get_include",
]

#: API version of the transport (``IMAGESTREAM_API_VERSION``).
version = "1.0"
IMAGESTREAM_API_VERSION = version

# Names of the original module.
OPTIONS_NONE = _n.OPTIONS_NONE
OPTIONS_SERVER = _n.OPTIONS_SERVER
OPTIONS_FLIPVERTICAL = _n.OPTIONS_FLIPVERTICAL
ERROR_NOERROR = _n.NOERROR
ERROR_NO_BUFFERAVAILABLE = _n.NO_BUFFERAVAILABLE
ERROR_NO_FRAMEAVAILABLE = _n.NO_FRAMEAVAILABLE
ERROR_RECONNECTING = _n.RECONNECTING
ERROR_UNCONNECTED = _n.UNCONNECTED

# The C header's spellings, as used in published examples.
IMAGESTREAM_OPTIONS_NONE = _n.OPTIONS_NONE
IMAGESTREAM_OPTIONS_SERVER = _n.OPTIONS_SERVER
IMAGESTREAM_OPTIONS_FLIPVERTICAL = _n.OPTIONS_FLIPVERTICAL
IMAGESTREAM_OPTIONS_INITBUFFERHEADERS = _n.OPTIONS_INITBUFFERHEADERS
IMAGESTREAM_OPTIONS_NOTHREADS = _n.OPTIONS_NOTHREADS
IMAGESTREAM_UNCONNECTED = _n.UNCONNECTED
IMAGESTREAM_RECONNECTING = _n.RECONNECTING
IMAGESTREAM_NO_FRAMEAVAILABLE = _n.NO_FRAMEAVAILABLE
IMAGESTREAM_NO_BUFFERAVAILABLE = _n.NO_BUFFERAVAILABLE
IMAGESTREAM_NOERROR = _n.NOERROR
IMAGESTREAM_BAD_ARGS = _n.BAD_ARGS
IMAGESTREAM_NOT_LOCKED = _n.NOT_LOCKED
IMAGESTREAM_BAD_FILE_SIZE = _n.BAD_FILE_SIZE
IMAGESTREAM_UNABLE_TO_OPEN_FILE = _n.UNABLE_TO_OPEN_FILE
IMAGESTREAM_UNABLE_TO_MAP_FILE = _n.UNABLE_TO_MAP_FILE
IMAGESTREAM_MEMORY_ALLOC_ERROR = _n.MEMORY_ALLOC_ERROR
IMAGESTREAM_THREAD_CREATE_ERROR = _n.THREAD_CREATE_ERROR
IMAGESTREAM_IS_SERVER = _n.IS_SERVER
IMAGESTREAM_IS_NOTSERVER = _n.IS_NOTSERVER
IMAGESTREAM_FRAME_TOO_LARGE = _n.FRAME_TOO_LARGE
IMAGESTREAM_LOCKED = _n.LOCKED

# Stream ids are never reused, so an id kept after stream_destroy can never reach a newer stream.
_stream_table: Dict[int, _Stream] = {}
_table_lock = threading.Lock()
_next_id = itertools.count(1)

PathLike = Union[str, bytes, "os.PathLike[str]"]


def _get(stream_id: int) -> _Stream:
    # A dict lookup is atomic under the GIL; the table lock only orders creation and removal.
    s = _stream_table.get(stream_id) if isinstance(stream_id, int) else None
    if s is None:
        raise RuntimeError("Unknown stream id")
    return s


def stream_create(filename: PathLike, options: int = OPTIONS_NONE) -> int:
    """Opens a stream on ``filename`` (which must exist and be at least 10 MiB) and returns its
    id. ``options``: ``OPTIONS_NONE`` for a client, ``OPTIONS_SERVER`` (optionally with
    ``OPTIONS_FLIPVERTICAL``) for a server.

    A client that finds the file already carrying a stream still gets an id (the library says
    ``IMAGESTREAM_RECONNECTING``, which is not an error). Raises ``RuntimeError`` (a
    :class:`StreamError`) with the library's message for a missing or small file, bad options,
    or a file that cannot be opened or mapped.
    """
    s = _Stream(filename, options)
    with _table_lock:
        stream_id = next(_next_id)
        _stream_table[stream_id] = s
    return stream_id


def stream_lock(
    stream_id: int, copy: bool = True, timeout: Optional[float] = None
) -> Union[Dict[str, Any], int]:
    """Locks the newest frame of a client stream.

    Returns a dict with ``width``, ``height``, ``framenumber`` and ``pixeldata``, or the
    positive code ``ERROR_NO_FRAMEAVAILABLE`` (2) when there is no new frame. Keep the frame
    locked until :func:`stream_unlock`.

    - ``copy=True`` (the original behaviour): ``pixeldata`` is a ``bytes`` copy.
    - ``copy=False``: ``pixeldata`` is a read-only numpy array of shape ``(height, width, 3)``
      and dtype uint8 viewing shared memory, without a copy. Its contents are the frame until
      :func:`stream_unlock`; after that the server may overwrite them. Using it later, even
      after :func:`stream_destroy`, after the file was deleted or after it was truncated,
      never crashes: the array holds a reference that keeps the library's mapping alive, and
      pages the file lost read as zeros.
    - ``timeout``: seconds to wait for a frame (0: do not wait; ``math.inf``: wait for ever).
      The wait uses no CPU, does not hold the GIL, and returns as soon as the server
      publishes.
    - ``timeout=None`` (the default) does not wait either, with one exception that makes a
      polling loop cheap: a call that comes right after a call on this stream that found no
      frame waits up to 20 ms for the next frame (GIL released). See :func:`set_polling`.

    Raises ``RuntimeError`` for an unknown id or a library error (for instance a server
    stream, or a frame already locked).
    """
    # _get() inlined: this is the hot path of a polling loop.
    s = _stream_table.get(stream_id) if isinstance(stream_id, int) else None
    if s is None:
        raise RuntimeError("Unknown stream id")
    code, frame = _lock(s, timeout)
    if frame is None:
        return code
    w = frame.iWidth
    h = frame.iHeight
    if copy:
        pixels: Any = ctypes.string_at(frame.buffer, w * h * 3)
    else:
        pixels = s.view(frame.buffer, w, h)
    return {"width": w, "height": h, "framenumber": frame.iFrame, "pixeldata": pixels}


def stream_unlock(stream_id: int) -> int:
    """Unlocks the frame locked with :func:`stream_lock`. Returns ``ERROR_NOERROR``; raises
    ``RuntimeError`` when nothing is locked or the stream is a server."""
    return _check(_n.quick.SharedMemoryImageStream_unlock(_get(stream_id).handle))


def stream_putframe(
    stream_id: int, width: int, height: int, framenumber: int, pixeldata: Any
) -> int:
    """Copies a ``width`` x ``height`` RGB frame into the stream (server only) and returns
    ``ERROR_NOERROR``, ``ERROR_NO_BUFFERAVAILABLE`` (both buffers busy, frame dropped) or
    ``ERROR_UNCONNECTED`` (no client).

    ``pixeldata`` may be any C-contiguous buffer of bytes (bytes, bytearray, memoryview, numpy
    uint8 array) of at least ``width * height * 3`` bytes, rows top first; it is read in place,
    not copied first. A 3-dimensional array must have shape ``(height, width, 3)``. Wrong
    sizes, layouts or types raise :class:`PixelDataError` (a ``ValueError`` and a
    ``RuntimeError``); library errors raise :class:`StreamError`.
    """
    s = _get(stream_id)
    if not isinstance(width, int) or not isinstance(height, int) or width <= 0 or height <= 0:
        raise PixelDataError(f"Invalid frame size {width!r}x{height!r}")
    addr, keep = _pixel_pointer(pixeldata, width, height)
    frame = _n.SharedMemoryFrame(int(framenumber) & 0xFFFFFFFF, width, height, addr)
    code = _n.lib.SharedMemoryImageStream_putframe(s.handle, frame)
    del keep
    return _check(code)


def stream_destroy(stream_id: int) -> int:
    """Destroys a stream (a client detaches). Returns ``ERROR_NOERROR``; the id is unknown
    afterwards."""
    with _table_lock:
        s = _stream_table.pop(stream_id, None) if isinstance(stream_id, int) else None
    if s is None:
        raise RuntimeError("Unknown stream id")
    return _check(s.close())


atexit.register(_close_all)
