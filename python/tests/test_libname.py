"""The library's file name on each platform, and where the loader looks for it (the platform
is passed in or mocked: these checks run anywhere)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ensight_grpc_shmem import _libname, _native


@pytest.mark.parametrize(
    "platform, name",
    [
        ("linux", "libshared_memory_image_client.so"),
        ("freebsd14", "libshared_memory_image_client.so"),
        ("darwin", "libshared_memory_image_client.dylib"),
        ("win32", "shared_memory_image_client.dll"),
        ("cygwin", "shared_memory_image_client.dll"),
    ],
)
def test_library_filename_per_platform(platform, name) -> None:
    assert _libname.library_filename(platform) == name


@pytest.mark.parametrize(
    "triple, name",
    [
        ("x86_64-pc-windows-gnu", "shared_memory_image_client.dll"),
        ("x86_64-pc-windows-msvc", "shared_memory_image_client.dll"),
        ("aarch64-apple-darwin", "libshared_memory_image_client.dylib"),
        ("x86_64-unknown-linux-gnu", "libshared_memory_image_client.so"),
        ("x86_64-unknown-freebsd", "libshared_memory_image_client.so"),
    ],
)
def test_library_filename_per_cargo_target(triple, name) -> None:
    assert _libname.library_filename_for_target(triple) == name


def test_loader_looks_for_the_dll_on_windows(monkeypatch) -> None:
    monkeypatch.delenv(_native.ENV_LIBRARY, raising=False)
    monkeypatch.setattr(sys, "platform", "win32")
    paths = _native.candidates()
    assert paths, "at least the copy bundled in the package"
    package_dir = Path(_native.__file__).resolve().parent
    assert paths[0] == str(package_dir / "shared_memory_image_client.dll")
    assert all(Path(p).name == "shared_memory_image_client.dll" for p in paths)


@pytest.mark.parametrize("platform, name", [("linux", "libshared_memory_image_client.so"), ("darwin", "libshared_memory_image_client.dylib")])
def test_loader_looks_for_the_platform_name(monkeypatch, platform, name) -> None:
    monkeypatch.delenv(_native.ENV_LIBRARY, raising=False)
    paths = _native.candidates(platform)
    assert [Path(p).name for p in paths] == [name] * len(paths)


def test_environment_variable_is_the_only_candidate(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(_native.ENV_LIBRARY, str(tmp_path / "x.dll"))
    assert _native.candidates("win32") == [str(tmp_path / "x.dll")]
