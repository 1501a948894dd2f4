"""What every benchmark measures the same way (imported by the ``bench_*.py`` scripts, which
run as ``python benchmarks/bench_x.py``, so this folder is on ``sys.path``).

Peak memory is the kernel's high-water mark of the process (``VmHWM`` in /proc/self/status),
not Snakemake's benchmark TSV, which samples every 0.5 s for 15 s, then every 30 s, and so
under-reads long jobs (issue 10); ``ru_maxrss`` is not used because Linux carries it across
fork + exec.
"""

from __future__ import annotations

import math
import resource
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (NaN where /proc is not available)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


def cpu_seconds() -> float:
    """CPU seconds of this process (user + system): on a shared machine, steadier than wall."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def fitted_exponent(ns: list[int], seconds: list[float]) -> float:
    """b of time = a N^b: least-squares slope of log(time) on log(N) (1 = linear; NaN with
    fewer than two sizes)."""
    if len(ns) < 2:
        return math.nan
    x = [math.log(n) for n in ns]
    y = [math.log(t) for t in seconds]
    mx, my = sum(x) / len(x), sum(y) / len(y)
    return sum((a - mx) * (b - my) for a, b in zip(x, y)) / sum((a - mx) ** 2 for a in x)


def report(name: str, value: float, unit: str) -> None:
    """One ``name: value unit`` line, the format of every benchmark."""
    print(f"{name}: {value:.4g} {unit}", flush=True)


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, printed with every run (the machine is shared)."""
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])
