"""Builds the wheel with setuptools-rust: cargo builds the library crate (``../library``) as a
plain cdylib (no Python bindings: the package loads it with ctypes), and the wheel carries it
under its native name next to the Python code, with the C headers.

The wheel is tagged for a platform but for no Python version or ABI (``py3-none-<platform>``):
the package uses no Python C API. ``pip install ./python`` and ``pip wheel ./python`` need
cargo; the wheel they make does not. Cross-compiling: with ``CARGO_BUILD_TARGET`` set (for
instance ``x86_64-pc-windows-gnu``), cargo builds for that target and the wheel gets the
matching platform tag (``win_amd64``).

Everything about the build is declared in pyproject.toml; this file holds only what a
declaration cannot say (the library's file name per platform, the wheel tag, the headers).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Optional, Tuple

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools_rust import Binding, RustExtension, Strip
from setuptools_rust.build import build_rust

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel  # type: ignore[no-redef]

HERE = Path(__file__).resolve().parent
CRATE = HERE.parent / "library"
HEADERS = HERE.parent / "include"
PACKAGE = "ensight_grpc_shmem"


def _load_libname():  # type: ignore[no-untyped-def]
    """The package's own naming rules (ensight_grpc_shmem/_libname.py), loaded on their own so
    that the build does not import the package."""
    spec = importlib.util.spec_from_file_location("_libname", HERE / PACKAGE / "_libname.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


libname = _load_libname()

# Wheel platform tags for the cross-compilation targets we build wheels for.
TARGET_PLATFORMS = {
    "x86_64-pc-windows-gnu": "win_amd64",
    "x86_64-pc-windows-msvc": "win_amd64",
    "aarch64-pc-windows-msvc": "win_arm64",
}


def cargo_target() -> Optional[str]:
    return os.environ.get("CARGO_BUILD_TARGET") or None


class BuildRust(build_rust):
    """Names the library as the platform does (``libshared_memory_image_client.so``,
    ``shared_memory_image_client.dll``, ``libshared_memory_image_client.dylib``) instead of
    as a Python extension module."""

    def get_dylib_ext_path(self, ext: RustExtension, target_fname: str) -> str:
        default = Path(super().get_dylib_ext_path(ext, target_fname))
        target = self.target if isinstance(self.target, str) else None
        return str(default.parent / libname.library_filename_for_target(target))


class BuildPy(build_py):
    """Also copies the C headers into the package (``ensight_grpc_shmem/include``), for
    ``get_include()``, ``cdef()`` and the cffi recipe."""

    def run(self) -> None:
        super().run()
        # A build folder reused across targets must not carry another platform's library.
        for name in {libname.WINDOWS, libname.MACOS, libname.UNIX}:
            (Path(self.build_lib) / PACKAGE / name).unlink(missing_ok=True)
        dest = Path(self.build_lib) / PACKAGE / "include"
        dest.mkdir(parents=True, exist_ok=True)
        for name in ("shared_memory_image_client.h", "shared_memory_image_client_priv.h"):
            source = HEADERS / name
            if not source.exists():
                raise SystemExit(f"cannot find {source}: build from the shmimg source tree")
            shutil.copy2(source, dest / name)


class PlatformWheel(bdist_wheel):
    """Tags the wheel ``py3-none-<platform>``: any Python 3, one platform."""

    def finalize_options(self) -> None:
        target = cargo_target()
        if target and not self.plat_name:
            if target not in TARGET_PLATFORMS:
                raise SystemExit(f"no wheel platform tag known for CARGO_BUILD_TARGET={target}")
            self.plat_name = TARGET_PLATFORMS[target]
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self) -> Tuple[str, str, str]:
        _, _, plat = super().get_tag()
        return "py3", "none", plat


def cargo_env() -> dict:
    """The environment cargo runs in: this one, building in target/python unless
    CARGO_TARGET_DIR says otherwise, so that a wheel build (cdylib only, without debug
    information) never replaces what `cargo build --release` left in target/release."""
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", str(HERE.parent / "target" / "python"))
    return env


if not (CRATE / "Cargo.toml").exists():
    raise SystemExit(
        f"cannot find the library crate in {CRATE}: ensight_grpc_shmem builds from the shmimg "
        "source tree (pip install ./python), or install a wheel"
    )

setup(
    rust_extensions=[
        RustExtension(
            f"{PACKAGE}.{libname.BASE_NAME}",
            path=str(CRATE / "Cargo.toml"),
            binding=Binding.NoBinding,
            strip=Strip.No,
            rustc_flags=["-Cstrip=debuginfo"],
            env=cargo_env(),
        )
    ],
    cmdclass={"build_rust": BuildRust, "build_py": BuildPy, "bdist_wheel": PlatformWheel},
    zip_safe=False,
)
