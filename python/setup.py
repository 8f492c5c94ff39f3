"""Builds the shmimg shared library with cargo and bundles it into the package, so that after
`pip install ./python` the module works from any directory without environment variables.

The Rust crate is the folder above this one. The wheel is tagged for this platform (it carries
a native library) but not for a Python version (the module uses ctypes, no C API)."""

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

try:
    from wheel.bdist_wheel import bdist_wheel
except ImportError:  # pragma: no cover - wheel is a build requirement
    bdist_wheel = None

HERE = Path(__file__).resolve().parent
CRATE = HERE.parent
LIBRARY = "libshared_memory_image_client.so"


def build_library() -> Path:
    """Runs `cargo build --release --lib` in the crate and returns the built library."""
    if not (CRATE / "Cargo.toml").exists():
        raise SystemExit(f"cannot find the shmimg crate (Cargo.toml) in {CRATE}")
    cargo = os.environ.get("CARGO", "cargo")
    target = Path(os.environ.get("CARGO_TARGET_DIR", CRATE / "target"))
    try:
        subprocess.run([cargo, "build", "--release", "--lib"], cwd=CRATE, check=True)
    except FileNotFoundError:
        raise SystemExit("building ensight_grpc_shmem needs cargo (the Rust toolchain) on PATH")
    lib = target / "release" / LIBRARY
    if not lib.exists():
        raise SystemExit(f"cargo did not produce {lib}")
    return lib


class BuildWithLibrary(build_py):
    """build_py that also places the freshly built shared library in the package."""

    def run(self):
        super().run()
        lib = build_library()
        dest = Path(self.build_lib) / "ensight_grpc_shmem" / LIBRARY
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(lib, dest)


cmdclass = {"build_py": BuildWithLibrary}

if bdist_wheel is not None:

    class PlatformWheel(bdist_wheel):
        """Marks the wheel as platform-specific, for any Python 3."""

        def finalize_options(self):
            super().finalize_options()
            self.root_is_pure = False

        def get_tag(self):
            _, _, plat = super().get_tag()
            return "py3", "none", plat

    cmdclass["bdist_wheel"] = PlatformWheel

setup(cmdclass=cmdclass)
