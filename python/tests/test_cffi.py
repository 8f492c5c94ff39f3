"""cffi in ABI mode: the declarations the package hands out, the usual recipe over the shipped
headers (`cc -E -P`, then `ffi.cdef`), and a frame round trip through each."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest

import ensight_grpc_shmem as shm
from conftest import REPO, cffi_api, cffi_broadcast_server, cffi_frame

cffi = pytest.importorskip("cffi")

PRIV = "shared_memory_image_client_priv.h"
CC = shutil.which("cc") or shutil.which("gcc")
needs_cc = pytest.mark.skipif(CC is None, reason="needs a C compiler's preprocessor")


def preprocessed(include: Path) -> str:
    """The usual recipe: run the C preprocessor over the header, hand the output to cdef."""
    r = subprocess.run([CC, "-E", "-P", str(include / PRIV)], capture_output=True, text=True, check=True)
    return r.stdout


def macros(include: Path) -> Dict[str, int]:
    """The integer macros of the headers, as the C preprocessor defines them."""
    probe = "\n".join(
        f'long long v_{name} = {name};'
        for name in re.findall(r"#define (IMAGESTREAM_\w+) ", (include / PRIV).read_text()
                               + (include / "shared_memory_image_client.h").read_text())
        if name != "IMAGESTREAM_API_VERSION"
    )
    r = subprocess.run(
        [CC, "-E", "-P", "-include", str(include / PRIV), "-"], input=probe, capture_output=True, text=True, check=True
    )
    values = {}
    for m in re.finditer(r"long long v_(\w+) = (.+);", r.stdout):
        values[m.group(1)] = int(eval(m.group(2), {"__builtins__": {}}))  # noqa: S307 - C integer expressions
    return values


def canonical(ffi: Any, ct: Any) -> Any:
    """A C type as something comparable between two FFI objects: the same type spelled
    ``uint32_t`` by one and ``unsigned int`` by the other compares equal."""
    if ct.kind == "primitive":
        if ct.cname in ("char", "float", "double", "_Bool"):
            return ct.cname
        return ("int", ffi.sizeof(ct), int(ffi.cast(ct, -1)) < 0)
    if ct.kind == "pointer":
        return ("pointer", canonical(ffi, ct.item))
    if ct.kind == "array":
        return ("array", ct.length, canonical(ffi, ct.item))
    if ct.kind == "function":
        return ("function", canonical(ffi, ct.result), [canonical(ffi, a) for a in ct.args], ct.ellipsis)
    return (ct.kind, ct.cname)


def round_trip(ffi: Any, lib: Any, path: Path) -> bytes:
    """A server and a client through the C API: put a 4x2 frame, lock it, copy its pixels."""
    assert lib.SharedMemoryImageStream_createfile(str(path).encode(), 64, 64) == 0
    server = ffi.new("SharedMemoryImageStream *")
    client = ffi.new("SharedMemoryImageStream *")
    assert lib.SharedMemoryImageStream_create(str(path).encode(), 3, server) == 0
    assert lib.SharedMemoryImageStream_create(str(path).encode(), 0, client) == 0
    pixels = ffi.new("uint8_t[]", bytes(range(24)))
    frame = ffi.new("struct _SharedMemoryFrame *", {"iFrame": 5, "iWidth": 4, "iHeight": 2, "buffer": pixels})
    assert lib.SharedMemoryImageStream_putframe(server[0], frame) == 0
    locked = ffi.new("SharedMemoryFrame *")
    assert lib.SharedMemoryImageStream_lock(client[0], locked) == 0
    f = locked[0]
    assert (f.iFrame, f.iWidth, f.iHeight) == (5, 4, 2)
    data = bytes(ffi.buffer(f.buffer, f.iWidth * f.iHeight * 3))
    assert lib.SharedMemoryImageStream_unlock(client[0]) == 0
    assert lib.SharedMemoryImageStream_destroy(client[0]) == 0
    assert lib.SharedMemoryImageStream_destroy(server[0]) == 0
    return data


def test_cdef_is_accepted_and_round_trips_a_frame(workdir) -> None:
    ffi, lib = cffi_api()
    assert round_trip(ffi, lib, workdir / "cffi.bin") == bytes(range(24))
    assert lib.IMAGESTREAM_OPTIONS_SERVER == shm.OPTIONS_SERVER == 3
    assert lib.IMAGESTREAM_BAD_ARGS == -1
    assert ffi.string(lib.SharedMemoryImageStream_errorstring(-3)).decode() == shm.errorstring(-3)
    assert ffi.sizeof("BufferHeader") == 24


def test_cffi_and_the_module_share_one_stream_file(workdir) -> None:
    """A cffi server, the module's zero-copy client."""
    ffi, lib = cffi_api()
    path = workdir / "mixed.bin"
    shm.create_file(path, 8, 8)
    server = ffi.new("SharedMemoryImageStream *")
    assert lib.SharedMemoryImageStream_create(str(path).encode(), lib.IMAGESTREAM_OPTIONS_SERVER, server) == 0
    with shm.Client(path) as client:
        begun = ffi.new("SharedMemoryFrame *")
        assert lib.SharedMemoryImageStream_beginframe(server[0], 2, 2, begun) == 0
        ffi.memmove(begun[0].buffer, b"\x07" * 12, 12)
        assert lib.SharedMemoryImageStream_endframe(server[0], 11) == 0
        with client.lock(1.0) as frame:
            assert frame.frame_number == 11 and np.all(frame.array == 7)
    assert lib.SharedMemoryImageStream_destroy(server[0]) == 0


@needs_cc
@pytest.mark.parametrize("where", ["repository", "package"])
def test_the_usual_recipe_works_with_the_shipped_headers(workdir, where) -> None:
    include = REPO / "include" if where == "repository" else Path(shm.get_include())
    ffi = cffi.FFI()
    ffi.cdef(preprocessed(include))
    lib = ffi.dlopen(shm.library_path)
    assert round_trip(ffi, lib, workdir / f"recipe-{where}.bin") == bytes(range(24))


@needs_cc
def test_cdef_declares_what_the_headers_declare() -> None:
    include = Path(shm.get_include())
    ours, lib_ours = cffi_api()
    recipe = cffi.FFI()
    recipe.cdef(preprocessed(include))
    lib_recipe = recipe.dlopen(shm.library_path)
    functions = set(re.findall(r"\b(SharedMemoryImageStream_\w+)\s*\(", preprocessed(include)))
    assert "SharedMemoryImageStream_retainmapping" in functions
    assert functions == set(re.findall(r"\b(SharedMemoryImageStream_\w+)\s*\(", shm.cdef()))
    exported = {name for name in functions if hasattr(shm._native.lib, name)}
    for name in exported:
        a = canonical(ours, ours.typeof(getattr(lib_ours, name)))
        b = canonical(recipe, recipe.typeof(getattr(lib_recipe, name)))
        assert a == b, name
    for struct in ("struct _SharedMemoryFrame", "BufferHeader"):
        assert ours.sizeof(struct) == recipe.sizeof(struct)
        for field, _ in recipe.typeof(struct).fields:
            assert ours.offsetof(struct, field) == recipe.offsetof(struct, field)
    for name, value in macros(include).items():
        assert getattr(lib_ours, name) == value, name


@pytest.mark.skipif(
    not hasattr(shm._native.lib, "SharedMemoryImageStream_createbroadcast"),
    reason="library without broadcast streams",
)
def test_module_clients_read_a_broadcast_stream_zero_copy(workdir) -> None:
    """A broadcast server through cffi, three of the module's clients: each gets the frame as
    a view, and the views outlive the streams."""
    ffi, lib = cffi_api()
    path = workdir / "broadcast.bin"
    server = cffi_broadcast_server(ffi, lib, path, 64, 64)
    readers = [shm.stream_create(path) for _ in range(3)]
    image = np.full((8, 8, 3), 5, np.uint8)
    frame = cffi_frame(ffi, 1, image)
    assert lib.SharedMemoryImageStream_putframe(server[0], frame) == 0
    views = []
    for r in readers:
        d = shm.stream_lock(r, copy=False, timeout=1.0)
        assert isinstance(d, dict) and d["framenumber"] == 1
        views.append(d["pixeldata"])
        shm.stream_unlock(r)
    assert all(np.array_equal(v, image) for v in views)
    for r in readers:
        shm.stream_destroy(r)
    assert lib.SharedMemoryImageStream_destroy(server[0]) == 0
    assert all(np.array_equal(v, image) for v in views)
