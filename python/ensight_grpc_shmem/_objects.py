"""The object API: :class:`Server`, :class:`Client`, :class:`Frame`, :class:`FrameWriter`,
:func:`create_file` and :func:`save_png`."""

from __future__ import annotations

import ctypes
import math
import os
import struct
import zlib
from typing import Any, Iterator, Optional, TypeVar

import numpy as np

from . import _native as n
from ._streams import PixelDataError, Stream, StreamError, check, lock, pixel_pointer


def create_file(
    path: "str | bytes | os.PathLike[str]",
    max_width: int,
    max_height: int,
    mode: Optional[int] = None,
) -> int:
    """Creates ``path`` (or grows an existing file) so that frames up to ``max_width`` x
    ``max_height`` fit, never below the 10 MiB minimum, with its space really allocated.
    A new file is readable and writable by its owner only (0600), or gets exactly ``mode``
    (for instance ``0o660`` for a group sharing streams; it must include 0600); an existing
    file keeps its permissions. Returns the file's length. Raises :class:`StreamError` on
    failure."""
    raw = n.fspath_bytes(path)
    if mode is None:
        code = n.lib.SharedMemoryImageStream_createfile(raw, max_width, max_height)
    else:
        code = n.lib.SharedMemoryImageStream_createfilemode(raw, max_width, max_height, mode)
    check(code, os.fsdecode(raw))
    return os.stat(path).st_size


def save_png(path: "str | os.PathLike[str]", rgb: np.ndarray) -> None:
    """Writes a ``(height, width, 3)`` uint8 array as an 8-bit RGB PNG (no dependencies)."""
    a = np.ascontiguousarray(rgb, dtype=np.uint8)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected a (height, width, 3) array, not shape {a.shape}")
    h, w = a.shape[:2]
    raw = np.zeros((h, w * 3 + 1), dtype=np.uint8)  # filter byte 0 per row
    raw[:, 1:] = a.reshape(h, w * 3)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw.tobytes(), 3)))
        f.write(chunk(b"IEND", b""))


class Frame:
    """A locked frame of a :class:`Client`. Unlock it with :meth:`unlock` or by leaving a
    ``with`` block; :meth:`Client.frames` unlocks each frame when it moves to the next."""

    def __init__(self, stream: Stream, frame: n.SharedMemoryFrame) -> None:
        self._stream = stream
        self._frame = frame
        self.width: int = frame.iWidth
        self.height: int = frame.iHeight
        self.frame_number: int = frame.iFrame
        self._array: Optional[np.ndarray] = None
        self.locked = True

    @property
    def array(self) -> np.ndarray:
        """The pixels as a read-only ``(height, width, 3)`` uint8 numpy array viewing shared
        memory (no copy). It shows the frame until :meth:`unlock`; afterwards the server may
        overwrite what it shows, but using it never crashes (it keeps the library's mapping
        alive, even after the client is closed or the file truncated)."""
        if self._array is None:
            if not self.locked:
                raise ValueError("the frame is unlocked; take the array before unlocking")
            self._array = self._stream.view(self._frame.buffer, self.width, self.height)
        return self._array

    def tobytes(self) -> bytes:
        """A copy of the pixels (``width * height * 3`` bytes)."""
        if not self.locked:
            raise ValueError("the frame is unlocked")
        return ctypes.string_at(self._frame.buffer, self.width * self.height * 3)

    def save_png(self, path: "str | os.PathLike[str]") -> None:
        """Writes the frame as a PNG file."""
        save_png(path, self.array)

    def unlock(self) -> None:
        """Gives the buffer back to the server. Calling it again does nothing."""
        if self.locked:
            self.locked = False
            if not self._stream.closed:
                check(n.quick.SharedMemoryImageStream_unlock(self._stream.handle))

    def __enter__(self) -> "Frame":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.unlock()

    def __repr__(self) -> str:
        state = "locked" if self.locked else "unlocked"
        return f"<Frame {self.frame_number} {self.width}x{self.height} {state}>"


_Owner = TypeVar("_Owner", bound="_StreamOwner")


class _StreamOwner:
    """What Client and Server share: one stream, closed by :meth:`close` or a ``with`` block."""

    _stream: Stream

    def close(self) -> None:
        """Closes the stream: a client detaches (the server then sees no client), a server gives
        back a frame begun and not published. Calling it again does nothing."""
        self._stream.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._stream.closed

    def __enter__(self: _Owner) -> _Owner:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Client(_StreamOwner):
    """The reading side of a stream.

    ``Client(path)`` attaches to ``path`` (which must exist, at least 10 MiB);
    ``reconnected`` tells whether the file was already carrying a stream. Use it as a context
    manager, or call :meth:`close`.
    """

    def __init__(self, path: "str | bytes | os.PathLike[str]") -> None:
        self._stream = Stream(path, n.OPTIONS_NONE)
        self.reconnected: bool = self._stream.status == n.RECONNECTING
        self._current: Optional[Frame] = None

    def lock(self, timeout: Optional[float] = None) -> Optional[Frame]:
        """Locks the newest frame, waiting up to ``timeout`` seconds (``math.inf``: for ever;
        ``None``: do not wait, except for the short polling wait right after a lock that found
        nothing, see :func:`set_polling`). Returns ``None`` when no frame came. Raises
        :class:`StreamError` when a frame is already locked."""
        if self._stream.closed:
            raise ValueError("the client is closed")
        code, frame = lock(self._stream, timeout)
        return None if frame is None else Frame(self._stream, frame)

    def frames(self, timeout: Optional[float] = None) -> Iterator[Frame]:
        """Yields frames as they arrive, each unlocked when the next one is requested (or when
        the loop ends). Stops when no frame arrives within ``timeout`` seconds; with
        ``timeout=None`` it waits for ever (stop it with ``break``)."""
        wait = math.inf if timeout is None else timeout
        while True:
            frame = self.lock(wait)
            if frame is None:
                return
            try:
                yield frame
            finally:
                frame.unlock()


class FrameWriter:
    """A frame a :class:`Server` renders straight into shared memory (no copy). Write into
    :attr:`array`, then :meth:`publish`; leaving a ``with`` block publishes, or gives the
    buffer back unpublished when the block raised."""

    def __init__(self, server: "Server", stream: Stream, frame: n.SharedMemoryFrame) -> None:
        self._server = server
        self._stream = stream
        self.width: int = frame.iWidth
        self.height: int = frame.iHeight
        #: The frame's pixels, a writable ``(height, width, 3)`` uint8 array in shared memory.
        self.array: np.ndarray = stream.view(
            frame.buffer, frame.iWidth, frame.iHeight, writable=True
        )
        self.open = True

    def publish(self, frame_number: Optional[int] = None) -> int:
        """Hands the frame to the client as ``frame_number`` (default: the server's next
        number). Returns ``ERROR_NOERROR``."""
        if not self.open:
            raise ValueError("the frame was already published or aborted")
        self.open = False
        number = self._server._take_number(frame_number)
        return check(n.lib.SharedMemoryImageStream_endframe(self._stream.handle, number))

    def abort(self) -> None:
        """Gives the buffer back without publishing."""
        if self.open:
            self.open = False
            check(n.lib.SharedMemoryImageStream_abortframe(self._stream.handle))

    def __enter__(self) -> np.ndarray:
        return self.array

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is None:
            if self.open:
                self.publish()
        else:
            self.abort()


class Server(_StreamOwner):
    """The writing side of a stream.

    ``Server(path, flip_vertical=False)`` initialises ``path`` (which must exist; see
    :func:`create_file`). Frame numbers count up from 0 unless given. Use it as a context
    manager, or call :meth:`close`.
    """

    def __init__(self, path: "str | bytes | os.PathLike[str]", flip_vertical: bool = False) -> None:
        options = n.OPTIONS_SERVER | (n.OPTIONS_FLIPVERTICAL if flip_vertical else 0)
        self._stream = Stream(path, options)
        self.next_frame_number = 0

    def _take_number(self, frame_number: Optional[int]) -> int:
        number = self.next_frame_number if frame_number is None else int(frame_number)
        self.next_frame_number = (number + 1) & 0xFFFFFFFF
        return number & 0xFFFFFFFF

    def put_frame(
        self,
        pixels: Any,
        width: Optional[int] = None,
        height: Optional[int] = None,
        frame_number: Optional[int] = None,
    ) -> int:
        """Copies a frame into the stream. ``pixels`` is a ``(height, width, 3)`` uint8 array
        (size taken from it) or any buffer of bytes with ``width`` and ``height`` given.
        Returns ``ERROR_NOERROR``, ``ERROR_NO_BUFFERAVAILABLE`` or ``ERROR_UNCONNECTED``."""
        if width is None or height is None:
            shape = getattr(pixels, "shape", None)
            if shape is None or len(shape) != 3:
                raise PixelDataError("give width and height, or a (height, width, 3) array")
            height, width = int(shape[0]), int(shape[1])
        if width <= 0 or height <= 0:
            raise PixelDataError(f"Invalid frame size {width}x{height}")
        addr, keep = pixel_pointer(pixels, width, height)
        number = self._take_number(frame_number)
        frame = n.SharedMemoryFrame(number, width, height, addr)
        code = n.lib.SharedMemoryImageStream_putframe(self._stream.handle, frame)
        del keep
        return check(code)

    def frame(self, width: int, height: int) -> Optional[FrameWriter]:
        """Takes a free buffer to render a ``width`` x ``height`` frame into, or returns
        ``None`` when none is free (no client, or both buffers busy)."""
        ptr = n.FramePtr()
        code = n.lib.SharedMemoryImageStream_beginframe(
            self._stream.handle, width, height, ctypes.byref(ptr)
        )
        if code in (n.UNCONNECTED, n.NO_BUFFERAVAILABLE):
            return None
        check(code)
        return FrameWriter(self, self._stream, ptr.contents)


__all__ = ["Client", "Frame", "FrameWriter", "Server", "create_file", "save_png", "StreamError"]
