"""The Python examples of the repository README run as written (with their paths moved into a
temporary directory)."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import REPO


def python_blocks() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Python: `ensight_grpc_shmem`", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_readme_examples_run(workdir) -> None:
    blocks = python_blocks()
    assert len(blocks) == 2
    # The object API example creates the file; the zero-copy example then reads from it.
    for code in (blocks[1], blocks[0]):
        code = code.replace("/dev/shm/frames", str(workdir / "frames")).replace("/tmp/", str(workdir) + "/")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    assert list(workdir.glob("frame*.png")), "the object API example saves frames"
