"""Synthetic generator and export writers: time, peak RSS and rows/s at 10^4, 10^5, 10^6 patients.

Each size runs in a fresh subprocess, so that its peak RSS (VmHWM from /proc/self/status) is its
own. Steps: ``generate_cohort`` (the 47-patient template search, a fixed cost, timed apart
from the resampling), then writing both studies' exports
(``spss_wide``: .sav + medication CSV; ``ecrf_cz``: four cp1250 CSVs). The fitted exponent is
the least-squares slope of log(time) against log(N) over the sizes run. Prints
`name: value unit`.
Usage: python benchmarks/bench_generator.py [N ...]
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = [10_000, 100_000, 1_000_000]
SEED = 1
FORMATS_OF = {"ket2009": "spss_wide", "ket2013": "ecrf_cz"}


def peak_rss_mb() -> float:
    """VmHWM: the peak resident set size of this process (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def one_size(n: int) -> dict:
    from ketamine_bzd.formats import FORMATS
    from ketamine_bzd.synthetic import cached_template, generate_cohort

    t0 = time.perf_counter()
    cached_template(SEED)  # the 47-patient search: fixed cost, independent of N
    t_tpl = time.perf_counter() - t0
    truth = generate_cohort(n_patients=n, seed=SEED)
    t_gen = time.perf_counter() - t0
    rows = sum(len(t.subjects) + len(t.ratings) + len(t.medication) for t in truth.values())
    prn = sum(int(t.medication["as_needed"].sum()) for t in truth.values())
    with tempfile.TemporaryDirectory() as tmp:
        t1 = time.perf_counter()
        files = {s: FORMATS[f].write(truth[s], Path(tmp) / s) for s, f in FORMATS_OF.items()}
        t_write = time.perf_counter() - t1
        size_mb = sum(p.stat().st_size for f in files.values() for p in f.values()) / 1e6
        prn_rows = len(files["ket2013"]["prn"].read_bytes().splitlines()) - 1
    return {"n": n, "template_s": t_tpl, "resample_s": t_gen - t_tpl, "generate_s": t_gen, "write_exports_s": t_write, "total_s": t_gen + t_write,
            "truth_rows": rows, "prn_rows_truth": prn, "prn_rows_ecrf": prn_rows,
            "exports_mb": size_mb, "peak_rss_mb": peak_rss_mb(),
            "rows_per_s": rows / (t_gen + t_write)}


def exponent(ns: list[int], ts: list[float]) -> float:
    """Least-squares slope of log t on log N."""
    x = [math.log(n) for n in ns]
    y = [math.log(t) for t in ts]
    mx, my = sum(x) / len(x), sum(y) / len(y)
    return sum((a - mx) * (b - my) for a, b in zip(x, y)) / sum((a - mx) ** 2 for a in x)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(one_size(int(sys.argv[2]))))
        return
    sizes = [int(a) for a in sys.argv[1:]] or SIZES
    results = []
    for n in sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(n)], check=True,
                             capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        results.append(r)
        for key, unit in [("template_s", "s"), ("resample_s", "s"), ("generate_s", "s"), ("write_exports_s", "s"), ("total_s", "s"),
                          ("peak_rss_mb", "MB"), ("rows_per_s", "rows/s"),
                          ("truth_rows", "rows"), ("exports_mb", "MB"),
                          ("prn_rows_ecrf", "rows")]:
            print(f"generator_n{n}_{key}: {r[key]:.3f} {unit}")
    if len(results) > 1:
        ns = [r["n"] for r in results]
        for key in ("resample_s", "write_exports_s", "total_s"):
            print(f"generator_{key}_exponent: {exponent(ns, [r[key] for r in results]):.3f} "
                  "(time ~ N^x)")


if __name__ == "__main__":
    main()
