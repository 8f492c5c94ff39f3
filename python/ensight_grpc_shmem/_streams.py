"""One open stream as Python sees it: the C handle, a counted reference to the library's
mapping of the file, the zero-copy numpy views made from the library's pointers, and the lock
calls (with the polling wait of :func:`set_polling`).

Zero-copy views: a numpy array made from a frame pointer would dangle once the library unmaps
the file (at ``stream_destroy``), and reading it would crash the interpreter. So every stream
holds one reference taken with ``SharedMemoryImageStream_retainmapping``, and every array made
from one of its pointers holds that reference in turn (through the array's ``base``). The library
keeps every address the stream handed out mapped until the last reference is released, and
reads through it are covered by its truncation protection: a file truncated under the stream
reads as zeros instead of raising SIGBUS. This package neither maps the file itself nor knows
its layout.
"""

from __future__ import annotations

import ctypes
import math
import os
import threading
import time
import weakref
from typing import Any, Dict, NamedTuple, Optional, Tuple

import numpy as np

from . import _native as n

# lock never blocks. With polling on it keeps the GIL (the loop sleeps in lockwait instead);
# with polling off it gives the GIL up, so that a loop spinning on it lets other threads run.
_lock_keep_gil = n.quick.SharedMemoryImageStream_lock
_lock_fn = n.lib.SharedMemoryImageStream_lock
_lockwait_fn = n.lib.SharedMemoryImageStream_lockwait  # may sleep: releases the GIL
_monotonic = time.monotonic


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


# --- Polling ---------------------------------------------------------------------------------

ENV_POLL_WAIT_MS = "ENSIGHT_GRPC_SHMEM_POLL_WAIT_MS"
DEFAULT_POLL_WAIT = 0.020
DEFAULT_POLL_IDLE = 0.001


class PollingSettings(NamedTuple):
    """How a lock without a timeout behaves right after a lock that found no frame (see
    :func:`set_polling`)."""

    #: Whether such a lock waits at all.
    enabled: bool
    #: The longest it waits, in seconds.
    max_wait: float
    #: A lock that comes later than this (seconds) after the "no frame" answer does not wait.
    idle: float


def _initial_wait_ms() -> int:
    raw = os.environ.get(ENV_POLL_WAIT_MS, "").strip()
    if raw:
        try:
            return max(0, min(int(raw), 1000))
        except ValueError:
            pass
    return round(DEFAULT_POLL_WAIT * 1000)


_poll_wait_ms: int = _initial_wait_ms()
_poll_idle: float = DEFAULT_POLL_IDLE
_poll_last_on: int = _poll_wait_ms or round(DEFAULT_POLL_WAIT * 1000)


def set_polling(
    enabled: bool = True, *, max_wait: Optional[float] = None, idle: Optional[float] = None
) -> None:
    """Switches the polling wait on or off, for every stream of this process.

    With polling on (the default), a lock without a timeout (``stream_lock(id)``,
    ``Client.lock()``) that comes right after a lock of the same stream that found no frame
    (less than ``idle`` seconds after it returned) waits up to ``max_wait`` seconds for the next
    frame, with the GIL released, and returns as soon as the server publishes one. So a loop
    that calls ``stream_lock`` with no pause costs next to no CPU and still gets each frame at
    once. A lock that follows a frame, or a pause of more than ``idle``, never waits.

    ``set_polling(False)`` restores the original module's behaviour: every lock without a
    timeout returns at once. The environment variable ``ENSIGHT_GRPC_SHMEM_POLL_WAIT_MS`` sets
    ``max_wait`` in milliseconds when the module is imported (``0`` turns polling off), for
    programs that cannot be changed.

    ``max_wait``: 0.001 to 1 second (default 0.020); ``idle``: 0 to 1 second (default 0.001).
    """
    global _poll_wait_ms, _poll_idle, _poll_last_on
    if max_wait is not None:
        if not 0.001 <= max_wait <= 1.0:
            raise ValueError(f"max_wait must be between 0.001 and 1 second, not {max_wait!r}")
        _poll_last_on = round(max_wait * 1000)
    if idle is not None:
        if not 0.0 <= idle <= 1.0:
            raise ValueError(f"idle must be between 0 and 1 second, not {idle!r}")
        _poll_idle = float(idle)
    _poll_wait_ms = _poll_last_on if enabled else 0


def get_polling() -> PollingSettings:
    """The current polling settings (see :func:`set_polling`)."""
    return PollingSettings(_poll_wait_ms > 0, _poll_last_on / 1000.0, _poll_idle)


# --- Keeping the library's mapping alive ----------------------------------------------------


class MappingRef:
    """One counted reference to a stream's mapping (``SharedMemoryImageStream_retainmapping``),
    released when this object is garbage collected. While it exists, every frame address the
    stream handed out stays mapped and readable, even after the stream is destroyed."""

    __slots__ = ("_handle", "__weakref__")

    def __init__(self, stream_handle: Any) -> None:
        handle = n.MappingHandle()
        check(n.quick.SharedMemoryImageStream_retainmapping(stream_handle, ctypes.byref(handle)))
        self._handle: Optional[Any] = handle

    def __del__(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            try:
                n.quick.SharedMemoryImageStream_releasemapping(handle)
            except Exception:  # interpreter shutdown: the process unmaps everything anyway
                pass


class _Pixels:
    """What a zero-copy array views: one frame's pixels, exported to numpy through the array
    interface, together with the mapping reference that keeps them mapped. numpy keeps this
    object as the array's ``base``, so the reference lives exactly as long as the array."""

    __slots__ = ("__array_interface__", "mapping")

    def __init__(
        self, address: int, width: int, height: int, readonly: bool, mapping: MappingRef
    ) -> None:
        self.__array_interface__ = {
            "version": 3,
            "shape": (height, width, 3),
            "typestr": "|u1",
            "data": (address, readonly),
        }
        self.mapping = mapping


_live: "weakref.WeakSet[Stream]" = weakref.WeakSet()
_VIEW_CACHE_SIZE = 8


class Stream:
    """An open stream handle. Thread-safe: the library serialises calls on one handle."""

    __slots__ = (
        "path",
        "handle",
        "status",
        "closed",
        "empty_at",
        "_mapping",
        "_views",
        "_close_lock",
        "__weakref__",
    )

    def __init__(self, filename: "str | bytes | os.PathLike[str]", options: int) -> None:
        if not isinstance(options, int) or not 0 <= options <= 0xFFFFFFFF:
            raise StreamError(n.BAD_ARGS, f"options {options!r}")
        self.path = n.fspath_bytes(filename)
        self.handle = n.Handle()
        self.closed = True
        self._close_lock = threading.Lock()
        self._mapping: Optional[MappingRef] = None
        # Base arrays by (address, width, height, writable): a stream hands out few distinct
        # addresses (one per buffer), so each lock makes a view of a cached array.
        self._views: Dict[Tuple[int, int, int, bool], np.ndarray] = {}
        code = n.lib.SharedMemoryImageStream_create(self.path, options, ctypes.byref(self.handle))
        check(code, os.fsdecode(self.path))
        self.closed = False
        self.status = code
        #: When the last lock without a frame returned (``time.monotonic()``), else ``None``.
        self.empty_at: Optional[float] = None
        # One reference for the stream's lifetime; each view holds it too. None only if the
        # library's table of references is full (views are then copies).
        try:
            self._mapping = MappingRef(self.handle)
        except StreamError:
            self._mapping = None
        _live.add(self)

    def view(self, address: int, width: int, height: int, writable: bool = False) -> np.ndarray:
        """A ``(height, width, 3)`` uint8 array of the frame pixels at ``address`` (a pointer
        this stream handed out), without a copy. It keeps the library's mapping alive, so it
        can be read (and, if writable, written) at any later time without crashing."""
        key = (address, width, height, writable)
        base = self._views.get(key)
        if base is None:
            base = self._new_view(key)
        return base.view()

    def _new_view(self, key: Tuple[int, int, int, bool]) -> np.ndarray:
        address, width, height, writable = key
        mapping = self._mapping
        if mapping is None or self.closed:
            if writable:
                raise StreamError(n.MEMORY_ALLOC_ERROR, "cannot keep the stream's mapping alive")
            data = ctypes.string_at(address, width * height * 3)
            return np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3)
        base = np.asarray(_Pixels(address, width, height, not writable, mapping))
        if len(self._views) >= _VIEW_CACHE_SIZE:
            self._views.clear()
        self._views[key] = base
        return base

    def close(self) -> int:
        """Destroys the handle (once) and drops the stream's own mapping reference; views
        still in use keep theirs."""
        with self._close_lock:
            if self.closed:
                return n.NOERROR
            self.closed = True
        code = n.lib.SharedMemoryImageStream_destroy(self.handle)
        self._views = {}
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
    """A timeout in seconds as whole milliseconds (rounded up), ``None`` for no waiting and
    ``-1`` for ``math.inf``."""
    if timeout is None:
        return None
    if timeout != timeout or timeout < 0:
        raise ValueError(f"timeout must be a non-negative number of seconds, not {timeout!r}")
    return math.ceil(timeout * 1000) if timeout != math.inf else -1


def _lock_waiting(stream: Stream, out: Any, timeout: float) -> int:
    """lockwait for up to ``timeout`` seconds, in slices of at most 100 ms so that Ctrl-C is
    noticed."""
    ms = timeout_ms(timeout)
    if not ms:
        return _lock_fn(stream.handle, out)
    deadline = None if ms < 0 else _monotonic() + ms / 1000.0
    while True:
        left = 100 if deadline is None else max(0, math.ceil((deadline - _monotonic()) * 1000))
        code = _lockwait_fn(stream.handle, out, min(left, 100))
        if code != n.NO_FRAMEAVAILABLE or (deadline is not None and _monotonic() >= deadline):
            return code


def lock(stream: Stream, timeout: Optional[float]) -> Tuple[int, Optional[n.SharedMemoryFrame]]:
    """Locks a frame: ``(NOERROR, frame)`` or ``(NO_FRAMEAVAILABLE, None)``; raises
    :class:`StreamError` for library errors.

    ``timeout``: seconds to wait (``math.inf``: for ever). ``None`` does not wait, except for
    the polling wait (see :func:`set_polling`) when the previous lock of this stream found no
    frame less than the idle time ago."""
    ptr = n.FramePtr()
    out = ctypes.byref(ptr)
    if timeout is None:
        empty_at = stream.empty_at
        if not _poll_wait_ms:
            code = _lock_fn(stream.handle, out)
        elif empty_at is not None and _monotonic() - empty_at < _poll_idle:
            code = _lockwait_fn(stream.handle, out, _poll_wait_ms)
        else:
            code = _lock_keep_gil(stream.handle, out)
    else:
        code = _lock_waiting(stream, out, timeout)
    if code == n.NOERROR:
        stream.empty_at = None
        return code, ptr.contents
    if code == n.NO_FRAMEAVAILABLE:
        stream.empty_at = _monotonic()
        return code, None
    stream.empty_at = None
    if code == n.BAD_ARGS and stream.closed:
        # Destroyed by another thread while this one waited.
        raise RuntimeError("Unknown stream id")
    return check(code), None


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
