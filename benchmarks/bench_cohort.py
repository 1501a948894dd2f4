"""Ingest-to-cohort time and peak memory for synthetic cohorts of 47, 10,000 and 100,000 patients.

Each size runs in a fresh subprocess so that its peak RSS is its own. Prints `name: value unit`.
Usage: python benchmarks/bench_cohort.py [N ...]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = [47, 10_000, 100_000]


def one_size(n: int) -> dict:
    from ketamine_bzd.cohort import CohortSettings, add_equivalents, derive, merge
    from ketamine_bzd.equivalents import load_table
    from ketamine_bzd.formats import FORMATS
    from ketamine_bzd.io import write_table
    from ketamine_bzd.synthetic import generate_cohort

    formats = {"ket2009": "spss_wide", "ket2013": "ecrf_cz"}
    t0 = time.perf_counter()
    truth = generate_cohort(n_patients=n, seed=1)
    t_gen = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        files = {s: FORMATS[f].write(truth[s], Path(tmp) / s) for s, f in formats.items()}
        t_write = time.perf_counter() - t0 - t_gen
        t1 = time.perf_counter()
        studies = [FORMATS[f].read(s, files[s], b"bench-key").tables for s, f in formats.items()]
        t_ingest = time.perf_counter() - t1
        merged = merge(studies)
        med = add_equivalents(
            merged.medication,
            load_table("resources/equivalents/diazepam_paper.csv"),
            load_table("resources/equivalents/fluoxetine_hayasaka2015.csv"),
        )
        cohort = derive(merged, med, CohortSettings())
        write_table(cohort.patients, Path(tmp) / "patients.parquet", "bench")
        t_total = time.perf_counter() - t1
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "n": n,
        "generate_s": t_gen,
        "write_exports_s": t_write,
        "ingest_s": t_ingest,
        "ingest_to_cohort_s": t_total,
        "peak_rss_mb": peak_mb,
        "patients_per_s": n / t_total,
    }


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(one_size(int(sys.argv[2]))))
        return
    sizes = [int(a) for a in sys.argv[1:]] or SIZES
    for n in sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(n)], check=True, capture_output=True, text=True
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        for key, unit in [
            ("generate_s", "s"),
            ("write_exports_s", "s"),
            ("ingest_s", "s"),
            ("ingest_to_cohort_s", "s"),
            ("peak_rss_mb", "MB"),
            ("patients_per_s", "patients/s"),
        ]:
            print(f"cohort_n{n}_{key}: {r[key]:.3f} {unit}")


if __name__ == "__main__":
    main()
