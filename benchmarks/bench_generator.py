"""Synthetic generator and export writers: time, peak RSS and rows/s at 10^4, 10^5, 10^6 patients.

Each size runs in a fresh subprocess, so that its peak RSS (VmHWM from /proc/self/status) is its
own. Steps: the 47-patient template search (a fixed cost), the resampling and writing both
studies' exports (``spss_wide``: .sav + medication CSV; ``ecrf_cz``: four cp1250 CSVs), part by
part (``generate_cohort_parts`` + ``write_parts``, memory bounded by a part) and, up to 10^5,
also whole (``generate_cohort`` + ``write``). The fitted exponent is
the least-squares slope of log(time) against log(N) over the sizes run. Prints
`name: value unit`.
Usage: python benchmarks/bench_generator.py [N ...]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measure import fitted_exponent, peak_rss_mb

SIZES = [10_000, 100_000, 1_000_000]
SEED = 1
FORMATS_OF = {"ket2009": "spss_wide", "ket2013": "ecrf_cz"}


def one_size(n: int, mode: str) -> dict:
    """``mode`` "parts": ``generate_cohort_parts`` + ``write_parts`` (memory bounded by a part
    of ``PATIENTS_PER_PART`` patients); "whole": ``generate_cohort`` + ``write``."""
    from ketamine_bzd.formats import FORMATS
    from ketamine_bzd.synthetic import cached_template, generate_cohort, generate_cohort_parts

    cpu0, t0 = time.process_time(), time.perf_counter()
    cached_template(SEED)  # the 47-patient search: fixed cost, independent of N
    t_tpl = time.perf_counter() - t0
    spent = {"generate": 0.0}
    counts = {"rows": 0, "prn": 0}

    def timed(parts):
        """Time spent making the parts (the rest of write_parts is writing)."""
        it = iter(parts)
        while True:
            t = time.perf_counter()
            try:
                part = next(it)
            except StopIteration:
                spent["generate"] += time.perf_counter() - t
                return
            spent["generate"] += time.perf_counter() - t
            counts["rows"] += len(part.subjects) + len(part.ratings) + len(part.medication)
            counts["prn"] += int(part.medication["as_needed"].sum())
            yield part

    with tempfile.TemporaryDirectory() as tmp:
        t1 = time.perf_counter()
        if mode == "parts":
            parts = generate_cohort_parts(n, SEED)
            spent["generate"] += time.perf_counter() - t1
            files = {s: FORMATS[f].write_parts(timed(parts[s]), Path(tmp) / s) for s, f in FORMATS_OF.items()}
        else:
            truth = generate_cohort(n_patients=n, seed=SEED)
            spent["generate"] += time.perf_counter() - t1
            files = {
                s: FORMATS[f].write(next(timed([truth[s]])), Path(tmp) / s) for s, f in FORMATS_OF.items()
            }
        t_all = time.perf_counter() - t1
        size_mb = sum(p.stat().st_size for f in files.values() for p in f.values()) / 1e6
        prn_rows = len(files["ket2013"]["prn"].read_bytes().splitlines()) - 1
    total = t_tpl + t_all
    return {
        "n": n,
        "mode": mode,
        "template_s": t_tpl,
        "resample_s": spent["generate"],
        "write_exports_s": t_all - spent["generate"],
        "total_s": total,
        "cpu_s": time.process_time() - cpu0,
        "truth_rows": counts["rows"],
        "prn_rows_truth": counts["prn"],
        "prn_rows_ecrf": prn_rows,
        "exports_mb": size_mb,
        "peak_rss_mb": peak_rss_mb(),
        "rows_per_s": counts["rows"] / total,
    }


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        print(json.dumps(one_size(int(sys.argv[2]), sys.argv[3])))
        return
    sizes = [int(a) for a in sys.argv[1:]] or SIZES
    print(f"generator_load_average: {os.getloadavg()[0]:.2f} (1 min, before the runs)")
    results = []
    for n in sizes:
        # the whole cohort in memory needs ~7.5 GB at 10^6: measured up to 10^5 only
        for mode in ("parts", "whole") if n <= 100_000 else ("parts",):
            out = subprocess.run(
                [sys.executable, __file__, "--one", str(n), mode], check=True, capture_output=True, text=True
            ).stdout
            r = json.loads(out.strip().splitlines()[-1])
            if mode == "parts":
                results.append(r)
            for key, unit in [
                ("template_s", "s"),
                ("resample_s", "s"),
                ("write_exports_s", "s"),
                ("total_s", "s"),
                ("cpu_s", "s"),
                ("peak_rss_mb", "MB"),
                ("rows_per_s", "rows/s"),
                ("truth_rows", "rows"),
                ("exports_mb", "MB"),
                ("prn_rows_ecrf", "rows"),
            ]:
                print(f"generator_{mode}_n{n}_{key}: {r[key]:.3f} {unit}")
    print(f"generator_load_average_after: {os.getloadavg()[0]:.2f} (1 min)")
    if len(results) > 1:
        ns = [r["n"] for r in results]
        for key in ("resample_s", "write_exports_s", "total_s"):
            print(
                f"generator_parts_{key}_exponent: {fitted_exponent(ns, [r[key] for r in results]):.3f} (time ~ N^x)"
            )


if __name__ == "__main__":
    main()
