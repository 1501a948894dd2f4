"""Every analysis rule of the paper at registry scale (issue 10): N = 10^4, 10^5, 10^6 patients.

The patients table at N is drawn with replacement (seed 0) from a synthetic cohort of 10^4
patients (``generate_cohort(n_patients=10_000, seed=1)`` through ingest-free merge/derive), with
new patient ids, and written as Parquet once per N. Each rule's computation (what its script
calls, figures aside) then runs in a fresh subprocess that reads that file, as the Snakemake
job would; its peak RSS is the kernel's high-water mark of that process (``VmHWM`` in
/proc/self/status), not Snakemake's sampled benchmark TSV. Prints ``name: value unit`` lines:
seconds, peak RSS and patients per second per rule and N, and the fitted exponent b of
time = a N^b (least squares on log-log) per rule.

Usage: python benchmarks/bench_analysis.py [N ...]   (default 10000 100000 1000000)
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
RULES = [
    "analysis_tables",
    "analysis_roc",
    "analysis_response_logistic",
    "analysis_repeated_measures",
    "analysis_paper_comparison",
]
BASE_N = 10_000


def make_patients(n: int, path: Path, base: Path) -> None:
    import numpy as np
    import pandas as pd

    if not base.exists():
        from ketamine_bzd.cohort import CohortSettings, add_equivalents, derive, merge
        from ketamine_bzd.equivalents import load_table
        from ketamine_bzd.synthetic import generate_cohort

        merged = merge(list(generate_cohort(n_patients=BASE_N, seed=1).values()))
        med = add_equivalents(
            merged.medication,
            load_table("resources/equivalents/diazepam_paper.csv"),
            load_table("resources/equivalents/fluoxetine_hayasaka2015.csv"),
        )
        derive(merged, med, CohortSettings()).patients.to_parquet(base)
    p = pd.read_parquet(base)
    p = p.iloc[np.random.default_rng(0).integers(0, len(p), n)].reset_index(drop=True)
    p["patient_id"] = [f"R{i:07d}" for i in range(n)]
    p.to_parquet(path)


def run_rule(rule: str, path: Path) -> dict:
    """What the rule's script computes (outputs not written)."""
    from ketamine_bzd import analysis as a
    from ketamine_bzd import paper
    from ketamine_bzd.io import read_table

    t0 = time.perf_counter()
    s = a.AnalysisSettings()
    patients = a.add_groups(read_table(path), s.bzd_cutoff_mg)
    if rule == "analysis_tables":
        for group, groups, rows in (
            ("response_group", (a.RESPONDERS, a.NONRESPONDERS), paper.TABLE1_ROWS),
            ("bzd_group", (a.BZD_PLUS, a.BZD_MINUS), paper.TABLE2_ROWS),
        ):
            a.comparison_table(patients, group, groups, rows)
    elif rule == "analysis_roc":
        a.roc(patients, s)
    elif rule == "analysis_response_logistic":
        a.response(patients, s)
        a.logistic(patients, s)
    elif rule == "analysis_repeated_measures":
        a.repeated_measures(patients, s)
    elif rule == "analysis_paper_comparison":
        a.cohort_facts(patients)
    return {"seconds": time.perf_counter() - t0, "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    if sys.argv[1:2] == ["--make"]:
        make_patients(int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
        return
    if sys.argv[1:2] == ["--rule"]:
        print(json.dumps(run_rule(sys.argv[2], Path(sys.argv[3]))))
        return
    sizes = [int(v) for v in sys.argv[1:]] or SIZES
    print(f"# load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    times: dict[str, list[float]] = {r: [] for r in RULES}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base.parquet"
        for n in sizes:
            path = Path(tmp) / f"patients_{n}.parquet"
            subprocess.run([sys.executable, __file__, "--make", str(n), str(path), str(base)], check=True)
            for rule in RULES:
                out = subprocess.run(
                    [sys.executable, __file__, "--rule", rule, str(path)],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                r = json.loads(out.strip().splitlines()[-1])
                times[rule].append(r["seconds"])
                print(f"{rule}_n{n}_time: {r['seconds']:.2f} s", flush=True)
                print(f"{rule}_n{n}_peak_rss: {r['peak_rss_mb']:.0f} MB", flush=True)
                print(f"{rule}_n{n}_rows_per_s: {n / r['seconds']:.0f} patients/s", flush=True)
    for rule in RULES:
        print(f"{rule}_time_exponent: {fitted_exponent(sizes, times[rule]):.2f} (time ~ N^b)")
    print(f"# load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)


if __name__ == "__main__":
    main()
