"""The Python examples of the repository README (its Python section) and of the package README
run as written, with their paths moved into a temporary directory. Among them is a frame round
trip through cffi."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

import ensight_grpc_shmem as shm
from conftest import REPO

PYTHON_SECTION = "## Python: `ensight_grpc_shmem`"


def python_blocks(text: str) -> List[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def repository_blocks() -> List[str]:
    text = (REPO / "README.md").read_text()
    section = text.split(PYTHON_SECTION, 1)[1].split("\n## ", 1)[0]
    return python_blocks(section)


def package_blocks() -> List[str]:
    return python_blocks((REPO / "python" / "README.md").read_text())


def run_blocks(blocks: List[str], workdir: Path) -> None:
    assert blocks
    # Examples may read a stream file made by an earlier example; make it first.
    shm.create_file(workdir / "frames", 1920, 1080)
    for code in blocks:
        code = code.replace("/dev/shm/", str(workdir) + "/").replace("/tmp/", str(workdir) + "/")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"{code}\n{r.stderr}"


def has_cffi_round_trip(blocks: List[str]) -> bool:
    return any("cffi" in b and "cdef()" in b and "_lock(" in b and "putframe" in b for b in blocks)


def test_repository_readme_examples_run(workdir) -> None:
    run_blocks(repository_blocks(), workdir)


def test_package_readme_examples_run(workdir) -> None:
    run_blocks(package_blocks(), workdir)


@pytest.mark.parametrize("readme", ["repository", "package"])
def test_readme_has_a_cffi_round_trip_example(readme) -> None:
    blocks = repository_blocks() if readme == "repository" else package_blocks()
    assert has_cffi_round_trip(blocks), f"the {readme} README shows no frame round trip through cffi"
