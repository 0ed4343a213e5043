"""What the numbers were measured on: BLAS kernel and threads, CPU, memory high-water mark."""
from __future__ import annotations

import os
import platform
import resource
import sys

BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def peak_rss_mib() -> float:
    """This process's resident-set high-water mark in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1024 * 1024) if sys.platform == "darwin" else r / 1024


def blas_info() -> list[dict]:
    """threadpoolctl's view of the loaded BLAS/OpenMP libraries (empty list if not installed)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keep = ("user_api", "internal_api", "prefix", "version", "architecture", "num_threads",
            "threading_layer", "filepath")
    return [{k: d.get(k) for k in keep if k in d} for d in threadpool_info()]


def blas_summary(info: list[dict]) -> str:
    """``openblas 0.3.31 SkylakeX, 2 threads`` for the BLAS entries (and OpenMP thread pools)."""
    parts = []
    for d in info:
        if d.get("user_api") == "blas":
            parts.append(f"{d.get('internal_api')} {d.get('version')} {d.get('architecture') or ''}".strip()
                         + f", {d.get('num_threads')} threads ({d.get('prefix')})")
    return "; ".join(parts) or "unknown (pip install threadpoolctl)"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_env() -> dict:
    return {k: os.environ.get(k) for k in BLAS_VARS}


class CpuMeter:
    """How busy the machine was, apart from one child process, between ``start()`` and ``stop()``.

    Reads the aggregate line of /proc/stat (all CPUs) and this process's RUSAGE_CHILDREN, so
    ``foreign`` = (machine CPU seconds used - the child's CPU seconds) / (wall seconds * cores):
    0 on a quiet machine, 0.5 when other work took half of the cores. Linux only; None elsewhere.
    """

    def __init__(self) -> None:
        self.ncpu = os.cpu_count() or 1
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def _stat(self) -> tuple[float, float] | None:
        try:
            with open("/proc/stat") as f:
                fields = [float(v) for v in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
        return sum(fields[:8]) / self.tick, idle / self.tick

    @staticmethod
    def _children_cpu() -> float:
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return ru.ru_utime + ru.ru_stime

    def busy_now(self, seconds: float = 0.5) -> float | None:
        """Fraction of all cores busy over the next ``seconds`` (nothing of ours running)."""
        import time
        a = self._stat()
        time.sleep(seconds)
        b = self._stat()
        if a is None or b is None or b[0] <= a[0]:
            return None
        total, idle = b[0] - a[0], b[1] - a[1]
        return max(0.0, 1.0 - idle / total)

    def start(self) -> None:
        import time
        self._t0, self._s0, self._c0 = time.perf_counter(), self._stat(), self._children_cpu()

    def stop(self) -> dict:
        import time
        wall = time.perf_counter() - self._t0
        s1, c1 = self._stat(), self._children_cpu()
        child = c1 - self._c0
        out = {"child_cpu_s": child, "wall_s": wall}
        if self._s0 is not None and s1 is not None and wall > 0:
            total, idle = s1[0] - self._s0[0], s1[1] - self._s0[1]
            busy = max(0.0, total - idle)
            out["foreign_cpu"] = max(0.0, busy - child) / (wall * self.ncpu)
        return out
