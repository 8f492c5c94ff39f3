"""The C API for cffi: the shipped headers, and the declarations cffi's ``cdef`` accepts.

cffi's ``cdef`` takes plain C declarations, but not preprocessor directives beyond
``#define NAME <integer>``; the headers have include guards, ``extern "C"`` blocks for C++, an
``#include`` of the public header and one macro that is an expression. :func:`cdef` turns the
bundled headers into what cdef accepts: the directives go, the comments go, every integer macro
is kept with its value computed, and the string macro ``IMAGESTREAM_API_VERSION`` is left out
(it is the module's ``version``).
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path
from typing import Dict, List

PUBLIC_HEADER = "shared_memory_image_client.h"
PRIV_HEADER = "shared_memory_image_client_priv.h"


def get_include() -> str:
    """The folder holding the C headers this package was built with
    (``shared_memory_image_client.h`` and ``shared_memory_image_client_priv.h``), for a C
    compiler's ``-I`` or for the ``cc -E -P`` recipe of cffi."""
    here = Path(__file__).resolve().parent
    bundled = here / "include"
    if (bundled / PRIV_HEADER).exists():
        return str(bundled)
    for parent in here.parents:  # a source tree, for development
        if (parent / "include" / PRIV_HEADER).exists() and (parent / "Cargo.toml").exists():
            return str(parent / "include")
    raise FileNotFoundError(
        f"the C headers are not bundled with this installation of ensight_grpc_shmem ({bundled})"
    )


_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_DEFINE = re.compile(r"#\s*define\s+(\w+)(?:\s+(.*))?$")
_CONDITIONAL = re.compile(r"#\s*(if|ifdef|ifndef)\b")


def _int_value(expr: str, known: Dict[str, int]) -> "int | None":
    """The value of a macro body made of integer literals, known macro names, parentheses and
    the operators ``| & ^ + - ~ << >>``; ``None`` for anything else (strings, casts, calls)."""
    def literal(m: "re.Match[str]") -> str:
        digits = m.group(1)
        if len(digits) > 1 and digits[0] == "0" and digits[1] not in "xX":
            return str(int(digits, 8))  # C octal
        return digits

    text = re.sub(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]*\b", literal, expr.strip())
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return None
    allowed_ops = (ast.BitOr, ast.BitAnd, ast.BitXor, ast.Add, ast.Sub, ast.LShift, ast.RShift)

    def ev(node: ast.AST) -> int:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.Name) and node.id in known:
            return known[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Invert)):
            v = ev(node.operand)
            if isinstance(node.op, ast.USub):
                return -v
            return ~v if isinstance(node.op, ast.Invert) else v
        if isinstance(node, ast.BinOp) and isinstance(node.op, allowed_ops):
            a, b = ev(node.left), ev(node.right)
            return {
                ast.BitOr: a | b, ast.BitAnd: a & b, ast.BitXor: a ^ b, ast.Add: a + b,
                ast.Sub: a - b, ast.LShift: a << b, ast.RShift: a >> b,
            }[type(node.op)]
        raise ValueError("not an integer expression")

    try:
        return ev(tree)
    except (ValueError, KeyError):
        return None


def _declarations(path: Path, known: Dict[str, int], seen: List[str]) -> List[str]:
    """The cdef lines of one header, with local ``#include "..."`` files inlined once."""
    if path.name in seen:
        return []
    seen.append(path.name)
    text = _COMMENT.sub("", path.read_text(encoding="utf-8"))
    text = text.replace("\\\n", " ")
    out: List[str] = []
    skipping = 0  # nesting depth inside a dropped conditional block (C++ only code)
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith("#"):
            if not skipping and line:
                out.append(raw.rstrip())
            continue
        if _CONDITIONAL.match(line):
            if skipping or "__cplusplus" in line:
                skipping += 1
            continue
        if re.match(r"#\s*endif\b", line):
            if skipping:
                skipping -= 1
            continue
        if skipping:
            continue
        include = re.match(r'#\s*include\s+"([^"]+)"', line)
        if include:
            out.extend(_declarations(path.parent / include.group(1), known, seen))
            continue
        define = _DEFINE.match(line)
        if define and define.group(2):
            value = _int_value(define.group(2), known)
            if value is not None:
                known[define.group(1)] = value
                out.append(f"#define {define.group(1)} {value}")
        # Anything else (include guards, system includes, #else) is dropped.
    return out


@lru_cache(maxsize=None)
def cdef() -> str:
    """The whole C API (both headers, the extensions included) as declarations that
    ``cffi.FFI().cdef()`` accepts, for cffi's ABI mode::

        import cffi, ensight_grpc_shmem as shm
        ffi = cffi.FFI()
        ffi.cdef(shm.cdef())
        lib = ffi.dlopen(shm.library_path)

    Integer macros (``IMAGESTREAM_NOERROR``, ``IMAGESTREAM_OPTIONS_SERVER``, ...) become
    ``#define NAME value`` lines, which cffi turns into ``lib`` attributes."""
    lines = _declarations(Path(get_include()) / PRIV_HEADER, {}, [])
    return "\n".join(lines) + "\n"
