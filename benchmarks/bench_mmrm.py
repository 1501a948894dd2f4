"""MMRM fit time (REML, unstructured 3 x 3 covariance, exact Satterthwaite df) and peak memory for
simulated cohorts of 47, 1,000 and 10,000 patients with ~10 % missing post-baseline visits.

Each size runs in a fresh subprocess so that its peak RSS is its own. Prints `name: value unit`.
Usage: python benchmarks/bench_mmrm.py [N ...]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

SIZES = [47, 1_000, 10_000]


def one_size(n: int) -> dict:
    import numpy as np
    import pandas as pd

    from ketamine_bzd.stats.mmrm import mmrm

    rng = np.random.default_rng(n)
    base = rng.normal(24, 6, n).round()
    group = rng.random(n) < 0.3
    cov = np.array([[60.0, 50, 45], [50, 80, 65], [45, 65, 100]])
    change = (
        rng.multivariate_normal([-7, -7, -8], cov, n)
        + np.outer(group, [3, 7, 6])
        - 0.5 * (base - 24)[:, None]
    )
    change[rng.random((n, 3)) < 0.1] = np.nan
    frame = pd.DataFrame(
        {
            "patient_id": [f"P{i}" for i in range(n)],
            "bzd_group": np.where(group, "BZD+", "BZD-"),
            "madrs_day0": base,
        }
    )
    for j, v in enumerate(("day1", "day3", "day7")):
        frame[f"madrs_{v}"] = base + change[:, j]
    t0 = time.perf_counter()
    res = mmrm(
        frame,
        subject="patient_id",
        group="bzd_group",
        baseline="madrs_day0",
        columns=["madrs_day1", "madrs_day3", "madrs_day7"],
        groups=["BZD+", "BZD-"],
        visits=["day1", "day3", "day7"],
    )
    seconds = time.perf_counter() - t0
    assert res.converged
    return {
        "seconds": seconds,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "observations": res.n_observations,
    }


def main(sizes: list[int]) -> None:
    for n in sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(n)], check=True, capture_output=True, text=True
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"mmrm_fit_n{n}: {r['seconds']:.2f} s")
        print(f"mmrm_peak_rss_n{n}: {r['peak_mb']:.0f} MB")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(one_size(int(sys.argv[2]))))
    else:
        main([int(a) for a in sys.argv[1:]] or SIZES)
