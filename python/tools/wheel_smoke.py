"""Checks an installed wheel in a fresh virtual environment: run with that environment's
Python, from outside the source tree, with no Rust toolchain on PATH.

    target/python-venv/bin/python python/tools/wheel_smoke.py
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path


def main() -> None:
    for tool in ("cargo", "rustc"):
        if shutil.which(tool):
            raise SystemExit(f"{tool} is on PATH: this check must run without a Rust toolchain")
    import numpy as np

    import ensight_grpc_shmem as shm

    pkg = Path(shm.__file__).resolve().parent
    prefix = Path(sys.prefix).resolve()
    if prefix not in pkg.parents:
        raise SystemExit(f"ensight_grpc_shmem comes from {pkg}, not from the environment {prefix}")
    if Path(shm.library_path).resolve().parent != pkg:
        raise SystemExit(f"the library comes from {shm.library_path}, not from the wheel")
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(dir=base) as d:
        path = os.path.join(d, "frames")
        shm.create_file(path, 320, 240)
        img = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
        with shm.Server(path) as server:
            c = shm.stream_create(path)
            server.put_frame(img, frame_number=3)
            frame = shm.stream_lock(c, copy=False)
            assert isinstance(frame, dict) and frame["framenumber"] == 3
            view = frame["pixeldata"]
            assert np.array_equal(view, img)
            shm.stream_unlock(c)
            shm.stream_destroy(c)
        assert np.array_equal(view, img), "the view outlives the stream"
    assert "SharedMemoryImageStream_retainmapping" in shm.cdef()
    assert (Path(shm.get_include()) / "shared_memory_image_client_priv.h").exists()
    print(f"wheel OK: {pkg} (library {Path(shm.library_path).name}), Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
