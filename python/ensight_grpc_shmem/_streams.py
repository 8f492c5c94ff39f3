"""One open stream as Python sees it: the C handle, plus (on demand) this process's own mapping
of the file, from which zero-copy numpy views are made.

Why a second mapping: a numpy array made from the library's pointer would dangle once the stream
is destroyed (the library unmaps its view of the file), and reading it would crash the
interpreter. Arrays made from a Python ``mmap`` keep that mapping alive for as long as they
exist, so a view used after ``stream_unlock`` or ``stream_destroy`` reads memory that is still
mapped: its contents may have changed, but the interpreter never crashes.
"""

from __future__ import annotations

import ctypes
import math
import mmap
import os
import struct
import threading
import time
import weakref
from typing import Any, Optional, Tuple

import numpy as np

from . import _native as n

HEADER_SIZE = 24
STATE_OFFSET = 20


class StreamError(RuntimeError):
    """A negative result code from the library. ``code`` is the ``IMAGESTREAM_*`` value; the
    message is the library's description (``SharedMemoryImageStream_errorstring``)."""

    def __init__(self, code: int, context: str = "") -> None:
        self.code = code
        msg = n.errorstring(code)
        super().__init__(f"{context}: {msg}" if context else msg)


class PixelDataError(ValueError, RuntimeError):
    """Pixel data of the wrong size, layout or type. A ``ValueError``, and also a
    ``RuntimeError`` as the original module raised for these cases."""


def check(code: int, context: str = "") -> int:
    """Returns non-negative codes, raises :class:`StreamError` for negative ones."""
    if code < 0:
        raise StreamError(code, context)
    return code


class FileMapping:
    """This process's own shared mapping of a stream file (read-only for clients)."""

    def __init__(self, path: bytes, writable: bool, identity: Tuple[int, int]) -> None:
        fd = os.open(path, os.O_RDWR if writable else os.O_RDONLY)
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != identity:
                raise OSError("the stream file was replaced since the stream was created")
            self.size = st.st_size
            access = mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ
            self.mm = mmap.mmap(fd, self.size, access=access)
        finally:
            os.close(fd)
        self.payload = ((self.size - 2 * HEADER_SIZE) // 2) & ~7

    def header_offset(self, buffer: int) -> int:
        return buffer * (HEADER_SIZE + self.payload)

    def find_buffer(self, state: int, frame: Optional[Tuple[int, int, int]] = None) -> Optional[int]:
        """The buffer whose state byte is ``state`` (and whose header describes ``frame`` =
        (number, width, height), when given); ``None`` unless exactly one matches."""
        hits = []
        for b in (0, 1):
            off = self.header_offset(b)
            if self.mm[off + STATE_OFFSET] != state:
                continue
            if frame is not None and struct.unpack_from("=III", self.mm, off) != frame:
                continue
            hits.append(b)
        return hits[0] if len(hits) == 1 else None

    def array(self, buffer: int, width: int, height: int) -> np.ndarray:
        """A ``(height, width, 3)`` uint8 view of a buffer's pixels (read-only unless the
        mapping is writable)."""
        off = self.header_offset(buffer) + HEADER_SIZE
        flat = np.frombuffer(self.mm, dtype=np.uint8, count=width * height * 3, offset=off)
        return flat.reshape(height, width, 3)

    def release(self) -> None:
        """Unmaps now if no array uses the mapping; otherwise the last array unmaps it."""
        try:
            self.mm.close()
        except BufferError:
            pass


_live: "weakref.WeakSet[Stream]" = weakref.WeakSet()


class Stream:
    """An open stream handle. Thread-safe: the library serialises calls on one handle."""

    def __init__(self, filename: "str | bytes | os.PathLike[str]", options: int) -> None:
        if not isinstance(options, int) or not 0 <= options <= 0xFFFFFFFF:
            raise StreamError(n.BAD_ARGS, f"options {options!r}")
        self.path = n.fspath_bytes(filename)
        self.handle = n.Handle()
        code = n.lib.SharedMemoryImageStream_create(self.path, options, ctypes.byref(self.handle))
        check(code, os.fsdecode(self.path))
        self.status = code
        self.is_server = bool(options & n.OPTIONS_INITBUFFERHEADERS)
        st = os.stat(self.path)
        self.identity = (st.st_dev, st.st_ino)
        self._mapping: Optional[FileMapping] = None
        self._mapping_lock = threading.Lock()
        self.closed = False
        _live.add(self)

    def mapping(self) -> Optional[FileMapping]:
        """This process's own mapping of the file, made on first use; ``None`` if the file can
        no longer be mapped (for instance it was replaced)."""
        with self._mapping_lock:
            if self._mapping is None and not self.closed:
                try:
                    self._mapping = FileMapping(self.path, self.is_server, self.identity)
                except (OSError, ValueError):
                    return None
            return self._mapping

    def view(self, frame: n.SharedMemoryFrame, state: int, match_header: bool) -> np.ndarray:
        """A zero-copy ``(height, width, 3)`` array of the frame the library handed out, made
        from this process's own mapping; falls back to a copy when the buffer cannot be told
        apart (a foreign writer changed both headers)."""
        w, h = frame.iWidth, frame.iHeight
        m = self.mapping()
        if m is not None:
            b = m.find_buffer(state, (frame.iFrame, w, h) if match_header else None)
            if b is not None:
                return m.array(b, w, h)
        if self.is_server:
            raise RuntimeError(
                "cannot locate the begun buffer in the file (its state bytes were changed by "
                "someone else); abort the frame"
            )
        data = ctypes.string_at(frame.buffer, w * h * 3)
        arr = np.frombuffer(data, dtype=np.uint8).reshape(h, w, 3)
        return arr

    def close(self) -> int:
        """Destroys the handle (once) and releases this process's mapping."""
        if self.closed:
            return n.NOERROR
        self.closed = True
        code = n.lib.SharedMemoryImageStream_destroy(self.handle)
        with self._mapping_lock:
            if self._mapping is not None:
                self._mapping.release()
                self._mapping = None
        _live.discard(self)
        return code

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def close_all() -> None:
    """Destroys every stream still open (run at interpreter exit, as the original module does)."""
    for s in list(_live):
        s.close()


def timeout_ms(timeout: Optional[float]) -> Optional[int]:
    """A timeout in seconds as whole milliseconds (rounded up), ``None`` for no waiting."""
    if timeout is None:
        return None
    if timeout != timeout or timeout < 0:
        raise ValueError(f"timeout must be a non-negative number of seconds, not {timeout!r}")
    return math.ceil(timeout * 1000) if timeout != math.inf else -1


def lock(stream: Stream, timeout: Optional[float]) -> Tuple[int, Optional[n.SharedMemoryFrame]]:
    """Locks a frame, waiting up to ``timeout`` seconds (``None``: do not wait; ``math.inf``:
    wait for ever). Waits in slices of at most 100 ms so that Ctrl-C is noticed."""
    ptr = n.FramePtr()
    ms = timeout_ms(timeout)
    if not ms:
        code = n.lib.SharedMemoryImageStream_lock(stream.handle, ctypes.byref(ptr))
    else:
        deadline = None if ms < 0 else time.monotonic() + ms / 1000.0
        while True:
            left = 100 if deadline is None else max(0, math.ceil((deadline - time.monotonic()) * 1000))
            code = n.lib.SharedMemoryImageStream_lockwait(
                stream.handle, ctypes.byref(ptr), min(left, 100)
            )
            if code != n.NO_FRAMEAVAILABLE or (deadline is not None and time.monotonic() >= deadline):
                break
    if code != n.NOERROR:
        return check(code), None
    return code, ptr.contents


def pixel_pointer(pixeldata: Any, width: int, height: int) -> Tuple[int, Any]:
    """The address of ``pixeldata``'s bytes (no copy) and an object to keep alive while the
    address is used. Accepts any C-contiguous buffer of bytes holding at least
    ``width * height * 3`` bytes; a 3-dimensional array must be ``(height, width, 3)``."""
    need = width * height * 3
    try:
        mv = memoryview(pixeldata)
    except TypeError:
        raise PixelDataError(
            "pixeldata must be a buffer of bytes (bytes, bytearray, memoryview or numpy array), "
            f"not {type(pixeldata).__name__}"
        ) from None
    if mv.itemsize != 1:
        raise PixelDataError(
            f"pixeldata must hold single bytes (uint8), not items of {mv.itemsize} bytes "
            f"(format {mv.format!r})"
        )
    if not mv.c_contiguous:
        raise PixelDataError(
            "pixeldata must be C-contiguous; pass numpy.ascontiguousarray(pixels)"
        )
    if mv.ndim == 3 and tuple(mv.shape) != (height, width, 3):
        raise PixelDataError(
            f"pixeldata has shape {tuple(mv.shape)}; a {width}x{height} RGB frame is "
            f"({height}, {width}, 3)"
        )
    if mv.nbytes < need:
        raise PixelDataError(
            f"pixeldata has {mv.nbytes} bytes; a {width}x{height} RGB frame needs {need}"
        )
    flat = np.frombuffer(mv.cast("B") if mv.ndim != 1 or mv.format != "B" else mv, dtype=np.uint8)
    return flat.ctypes.data, (mv, flat)
