"""`pip install ./python` bundles the library and the headers: the module imports from any
directory with no environment variables, and loads its own copy of the library."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import ensight_grpc_shmem as shm
from ensight_grpc_shmem._libname import library_filename
from conftest import REPO


def installed_package() -> Path:
    pkg = Path(shm.__file__).resolve().parent
    assert "site-packages" in str(pkg) or "dist-packages" in str(pkg), (
        f"tests must run against the installed package (pip install ./python), not {pkg}"
    )
    return pkg


def test_installed_package_uses_its_bundled_library() -> None:
    pkg = installed_package()
    assert Path(shm.library_path).resolve() == pkg / library_filename()


def test_installed_package_bundles_the_headers_it_was_built_with() -> None:
    pkg = installed_package()
    assert Path(shm.get_include()) == pkg / "include"
    for name in ("shared_memory_image_client.h", "shared_memory_image_client_priv.h"):
        bundled = (pkg / "include" / name).read_text()
        assert bundled == (REPO / "include" / name).read_text(), (
            f"{name} changed since the package was installed: reinstall it (pip install ./python)"
        )


def test_imports_anywhere_without_environment_variables(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHMIMG", "PYTHONPATH", "LD_LIBRARY", "ENSIGHT"))}
    r = subprocess.run(
        [sys.executable, "-c", "import ensight_grpc_shmem as m; print(m.version, m.library_path)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("1.0 ")


def test_environment_variable_overrides_the_library(tmp_path) -> None:
    env = dict(os.environ, SHMIMG_LIBRARY=str(tmp_path / "nope.so"))
    r = subprocess.run([sys.executable, "-c", "import ensight_grpc_shmem"], env=env, capture_output=True, text=True)
    assert r.returncode != 0
    assert "SHMIMG_LIBRARY" in r.stderr and "nope.so" in r.stderr
