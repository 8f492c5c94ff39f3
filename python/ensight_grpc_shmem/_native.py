"""Loading the shmimg shared library and declaring its C functions for ctypes.

The library (``libshared_memory_image_client.so`` on Linux, ``shared_memory_image_client.dll``
on Windows, ``libshared_memory_image_client.dylib`` on macOS) is looked up, in order: the path
in the ``SHMIMG_LIBRARY`` environment variable (and nothing else when it is set), the copy
bundled in this package by ``pip install`` or the wheel, the ``target/release`` folder of the
source tree this package sits in (for development), and the system's library path.

ctypes releases the GIL during every call made through :data:`lib`, so a thread blocked in
``SharedMemoryImageStream_lockwait`` lets the other threads run. The calls that never block and
take microseconds (lock, unlock, the mapping references) go through :data:`quick`, the same
library seen through ``ctypes.PyDLL``, which keeps the GIL: giving the GIL up and taking it back
costs more than such a call, and while another thread runs Python code, a thread that gave the
GIL up waits up to a whole switch interval (5 ms by default) to get it back.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path
from typing import List, Optional

from ._libname import BASE_NAME, library_filename

#: Result codes of the C API.
NOERROR = 0
NO_BUFFERAVAILABLE = 1
NO_FRAMEAVAILABLE = 2
RECONNECTING = 3
UNCONNECTED = 4
BAD_ARGS = -1
NOT_LOCKED = -2
BAD_FILE_SIZE = -3
UNABLE_TO_OPEN_FILE = -4
UNABLE_TO_MAP_FILE = -5
MEMORY_ALLOC_ERROR = -6
THREAD_CREATE_ERROR = -7
IS_SERVER = -8
IS_NOTSERVER = -9
FRAME_TOO_LARGE = -10
LOCKED = -11

OPTIONS_NONE = 0x00000000
OPTIONS_INITBUFFERHEADERS = 0x00000001
OPTIONS_NOTHREADS = 0x00000002
OPTIONS_SERVER = OPTIONS_INITBUFFERHEADERS | OPTIONS_NOTHREADS
OPTIONS_FLIPVERTICAL = 0x00000100


class SharedMemoryFrame(ctypes.Structure):
    """``struct _SharedMemoryFrame``."""

    _fields_ = [
        ("iFrame", ctypes.c_uint32),
        ("iWidth", ctypes.c_uint32),
        ("iHeight", ctypes.c_uint32),
        ("buffer", ctypes.c_void_p),
    ]


FramePtr = ctypes.POINTER(SharedMemoryFrame)
#: ``SharedMemoryImageStream`` and ``SharedMemoryMapping``: opaque handles.
Handle = ctypes.c_void_p
MappingHandle = ctypes.c_void_p

ENV_LIBRARY = "SHMIMG_LIBRARY"


def candidates(platform: Optional[str] = None) -> List[str]:
    """The files the library is looked for in, in order (the system's search comes after
    them). ``platform`` is a ``sys.platform`` value (default: this interpreter's)."""
    env = os.environ.get(ENV_LIBRARY)
    if env:
        return [env]
    name = library_filename(platform)
    here = Path(__file__).resolve().parent
    found = [str(here / name)]
    for parent in here.parents:
        if (parent / "Cargo.toml").exists():
            found.append(str(parent / "target" / "release" / name))
            break
    return found


def _load() -> ctypes.CDLL:
    tried = []
    explicit = bool(os.environ.get(ENV_LIBRARY))
    for path in candidates():
        if not explicit and not os.path.exists(path):
            tried.append(f"{path}: not found")
            continue
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{path}: {e}")
    if not explicit:
        # Only now ask the system: find_library may start a compiler or ldconfig.
        system = ctypes.util.find_library(BASE_NAME)
        if system:
            try:
                return ctypes.CDLL(system)
            except OSError as e:
                tried.append(f"{system}: {e}")
    raise ImportError(
        "ensight_grpc_shmem cannot find the shmimg shared library "
        f"({library_filename()}); install the package with `pip install ./python` from the "
        f"source tree or from a wheel, or set {ENV_LIBRARY} to the library's path. Tried:\n  "
        + "\n  ".join(tried)
    )


lib = _load()
#: Where the library was loaded from.
library_path: str = getattr(lib, "_name", "")

_c_int = ctypes.c_int
_u32 = ctypes.c_uint32
_signatures = {
    "SharedMemoryImageStream_create": (_c_int, [ctypes.c_char_p, _u32, ctypes.POINTER(Handle)]),
    "SharedMemoryImageStream_lock": (_c_int, [Handle, ctypes.POINTER(FramePtr)]),
    "SharedMemoryImageStream_lockwait": (_c_int, [Handle, ctypes.POINTER(FramePtr), _u32]),
    "SharedMemoryImageStream_unlock": (_c_int, [Handle]),
    "SharedMemoryImageStream_destroy": (_c_int, [Handle]),
    "SharedMemoryImageStream_errorstring": (ctypes.c_char_p, [_c_int]),
    "SharedMemoryImageStream_putframe": (_c_int, [Handle, FramePtr]),
    "SharedMemoryImageStream_createfile": (_c_int, [ctypes.c_char_p, _u32, _u32]),
    "SharedMemoryImageStream_createfilemode": (_c_int, [ctypes.c_char_p, _u32, _u32, _u32]),
    "SharedMemoryImageStream_beginframe": (_c_int, [Handle, _u32, _u32, ctypes.POINTER(FramePtr)]),
    "SharedMemoryImageStream_endframe": (_c_int, [Handle, _u32]),
    "SharedMemoryImageStream_abortframe": (_c_int, [Handle]),
    "SharedMemoryImageStream_retainmapping": (_c_int, [Handle, ctypes.POINTER(MappingHandle)]),
    "SharedMemoryImageStream_releasemapping": (_c_int, [MappingHandle]),
}
for _name, (_res, _args) in _signatures.items():
    _fn = getattr(lib, _name)
    _fn.restype = _res
    _fn.argtypes = _args

_QUICK = (
    "SharedMemoryImageStream_lock",
    "SharedMemoryImageStream_unlock",
    "SharedMemoryImageStream_retainmapping",
    "SharedMemoryImageStream_releasemapping",
)


def _quick_view() -> ctypes.CDLL:
    """The library through ctypes.PyDLL (calls keep the GIL), or :data:`lib` itself where
    PyDLL is missing."""
    try:
        q = ctypes.PyDLL(library_path)
    except (AttributeError, OSError):
        return lib
    for name in _QUICK:
        fn = getattr(q, name)
        fn.restype, fn.argtypes = _signatures[name]
    return q


#: The same library, for the calls in ``_QUICK``: they keep the GIL.
quick = _quick_view()


def errorstring(code: int) -> str:
    """The library's description of a result code."""
    raw = lib.SharedMemoryImageStream_errorstring(code)
    return raw.decode("utf-8") if raw else f"error {code}"


def fspath_bytes(path: "str | os.PathLike[str] | bytes") -> bytes:
    """A path as the bytes the C API takes (UTF-8 on Windows, as the library expects)."""
    return os.fsencode(path)
