"""Checks a Windows wheel built by cross-compiling (it cannot be run here): its tag, that it
carries the DLL under the name the loader looks for and no other platform's library, that the
DLL is an x86-64 PE image, and that it exports every function the bundled headers declare.

    python3 python/tools/check_windows_wheel.py target/wheelhouse/ensight_grpc_shmem-*-win_amd64.whl
"""

from __future__ import annotations

import re
import struct
import sys
import zipfile
from typing import List, Set

DLL = "ensight_grpc_shmem/shared_memory_image_client.dll"
PRIV = "ensight_grpc_shmem/include/shared_memory_image_client_priv.h"
PUBLIC = "ensight_grpc_shmem/include/shared_memory_image_client.h"


def pe_exports(image: bytes) -> Set[str]:
    """The names in a PE image's export table."""
    if image[:2] != b"MZ":
        raise SystemExit("the DLL is not a PE image (no MZ header)")
    pe = struct.unpack_from("<I", image, 0x3C)[0]
    if image[pe : pe + 4] != b"PE\0\0":
        raise SystemExit("the DLL has no PE signature")
    machine, sections, _, _, _, opt_size, _ = struct.unpack_from("<HHIIIHH", image, pe + 4)
    if machine != 0x8664:
        raise SystemExit(f"the DLL is for machine {machine:#x}, not x86-64")
    opt = pe + 24
    if struct.unpack_from("<H", image, opt)[0] != 0x20B:
        raise SystemExit("the DLL is not a PE32+ image")
    export_rva = struct.unpack_from("<I", image, opt + 112)[0]
    table = []
    for i in range(sections):
        s = opt + opt_size + 40 * i
        vsize, va, rsize, raw = struct.unpack_from("<IIII", image, s + 8)
        table.append((va, max(vsize, rsize), raw))

    def offset(rva: int) -> int:
        for va, size, raw in table:
            if va <= rva < va + size:
                return rva - va + raw
        raise SystemExit(f"RVA {rva:#x} is in no section")

    e = offset(export_rva)
    number_of_names = struct.unpack_from("<I", image, e + 24)[0]
    names_rva = struct.unpack_from("<I", image, e + 32)[0]
    names = set()
    for i in range(number_of_names):
        name_off = offset(struct.unpack_from("<I", image, offset(names_rva) + 4 * i)[0])
        names.add(image[name_off : image.index(b"\0", name_off)].decode())
    return names


def main(paths: List[str]) -> None:
    if len(paths) != 1:
        raise SystemExit(f"expected one wheel, got {paths}")
    wheel = paths[0]
    if not wheel.endswith("-py3-none-win_amd64.whl"):
        raise SystemExit(f"{wheel} is not tagged py3-none-win_amd64")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        libraries = [n for n in names if re.search(r"\.(so|dylib|dll)$", n)]
        if libraries != [DLL]:
            raise SystemExit(f"expected exactly {DLL} in the wheel, found {libraries}")
        exports = pe_exports(z.read(DLL))
        headers = z.read(PRIV).decode() + z.read(PUBLIC).decode()
    declared = set(re.findall(r"\b(SharedMemoryImageStream_\w+)\s*\(", headers))
    missing = declared - exports
    if missing:
        raise SystemExit(f"the DLL does not export {sorted(missing)}")
    print(f"Windows wheel OK: {wheel}: {DLL} exports all {len(declared)} declared functions")


if __name__ == "__main__":
    main(sys.argv[1:])
