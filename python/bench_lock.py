"""Benchmark: the original module's copying stream_lock against the zero-copy lock, and
putframe from a numpy array against a plain numpy copy of the same frame, for 1080p and 4K
frames. Prints a table.

    python3 python/bench_lock.py            # after `pip install ./python`
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

import numpy as np

import ensight_grpc_shmem as shm

SIZES = [(1920, 1080), (3840, 2160)]
ROUNDS = 7


def per_call_us(fn, iters: int) -> float:
    """Median over ROUNDS rounds of the mean time of `fn(timed)` per call, in microseconds;
    `fn` returns the seconds it spent in the measured part."""
    fn()  # warm-up
    samples = []
    for _ in range(ROUNDS):
        samples.append(sum(fn() for _ in range(iters)) / iters * 1e6)
    return statistics.median(samples)


def main() -> None:
    base = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
    rows = []
    with tempfile.TemporaryDirectory(dir=base) as d:
        for w, h in SIZES:
            path = os.path.join(d, f"bench_{w}x{h}.bin")
            shm.create_file(path, w, h)
            srv = shm.Server(path)
            c = shm.stream_create(path)
            img = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
            iters = 20 if w > 2000 else 60

            def put() -> float:
                t = time.perf_counter()
                srv.put_frame(img)
                dt = time.perf_counter() - t
                shm.stream_lock(c, copy=False)
                shm.stream_unlock(c)
                return dt

            def lock(copy: bool) -> float:
                # Publish without touching the pixels, so that the timed lock is not disturbed
                # by the write-back of a frame just copied.
                writer = srv.frame(w, h)
                assert writer is not None
                writer.publish()
                t = time.perf_counter()
                d = shm.stream_lock(c, copy=copy)
                dt = time.perf_counter() - t
                assert isinstance(d, dict)
                shm.stream_unlock(c)
                return dt

            def memcpy() -> float:
                dst = np.empty_like(img)
                t = time.perf_counter()
                np.copyto(dst, img)
                return time.perf_counter() - t

            copy_us = per_call_us(lambda: lock(True), iters)
            zero_us = per_call_us(lambda: lock(False), iters)
            put_us = per_call_us(put, iters)
            memcpy_us = per_call_us(memcpy, iters)
            rows.append((f"{w}x{h}", f"{img.nbytes / 1e6:.1f}", copy_us, zero_us, put_us, memcpy_us))
            shm.stream_destroy(c)
            srv.close()

    print("ensight_grpc_shmem: median microseconds per call")
    header = ("frame", "MB", "stream_lock copy", "stream_lock copy=False", "putframe(ndarray)", "numpy copy (baseline)")
    print("  " + "  ".join(f"{x:>{len(x) if i else 9}}" for i, x in enumerate(header)))
    for r in rows:
        cells = [f"{r[0]:>9}", f"{r[1]:>2}"] + [f"{v:>{len(header[i + 2])}.1f}" for i, v in enumerate(r[2:])]
        print("  " + "  ".join(cells))
    print(f"  zero-copy speed-up over the copying lock: "
          + ", ".join(f"{r[0]} {r[2] / r[3]:.0f}x" for r in rows))


if __name__ == "__main__":
    main()
