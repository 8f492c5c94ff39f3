"""The file name of the shmimg shared library on each platform.

Kept free of side effects and of imports beyond the standard library, so that ``setup.py`` can
load this file on its own to name the library it bundles, and tests can ask for any platform.
"""

from __future__ import annotations

import sys
from typing import Optional

#: The library's base name, as the linker knows it (``-lshared_memory_image_client``).
BASE_NAME = "shared_memory_image_client"

WINDOWS = f"{BASE_NAME}.dll"
MACOS = f"lib{BASE_NAME}.dylib"
UNIX = f"lib{BASE_NAME}.so"


def library_filename(platform: Optional[str] = None) -> str:
    """The file name of the library for a ``sys.platform`` value (default: this interpreter's).

    ``shared_memory_image_client.dll`` on Windows (``win32``, and ``cygwin``, whose Python
    loads native Windows DLLs), ``libshared_memory_image_client.dylib`` on macOS (``darwin``),
    ``libshared_memory_image_client.so`` everywhere else (Linux, the BSDs).
    """
    p = sys.platform if platform is None else platform
    if p.startswith(("win32", "cygwin")):
        return WINDOWS
    if p.startswith("darwin"):
        return MACOS
    return UNIX


def library_filename_for_target(triple: Optional[str]) -> str:
    """The file name of the library cargo builds for a Rust target triple (``None``: the
    host), for example ``shared_memory_image_client.dll`` for ``x86_64-pc-windows-gnu``."""
    if not triple:
        return library_filename()
    if "-windows" in triple:
        return WINDOWS
    if "-apple-" in triple:
        return MACOS
    return UNIX
