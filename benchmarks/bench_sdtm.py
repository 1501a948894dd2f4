"""SDTM ingest: write and read time and peak memory of the ``sdtm`` format for the ket2013 part
of synthetic cohorts of 47 and 2,000 patients (27 and 1,149 SDTM subjects: 8 domains,
MADRS totals, BDI-II/BAI items, so QS holds about 160 records per subject).

Each size runs in a fresh subprocess so that its peak RSS is its own. Prints `name: value unit`.
Usage: python benchmarks/bench_sdtm.py [N ...]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = [47, 2_000]


def one_size(n: int) -> dict:
    from ketamine_bzd.formats import sdtm
    from ketamine_bzd.synthetic import generate_cohort

    truth = generate_cohort(n_patients=n, seed=1)["ket2013"]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        files = sdtm.write(truth, Path(tmp))
        t_write = time.perf_counter() - t0
        qs_mb = files["qs"].stat().st_size / 2**20
        t1 = time.perf_counter()
        result = sdtm.read("ket2013", files, b"bench-key")
        t_read = time.perf_counter() - t1
    subjects = len(result.tables.subjects)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "subjects": subjects,
        "write_s": t_write,
        "ingest_s": t_read,
        "qs_mb": qs_mb,
        "peak_rss_mb": peak_mb,
        "subjects_per_s": subjects / t_read,
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
            ("subjects", "subjects"),
            ("write_s", "s"),
            ("ingest_s", "s"),
            ("qs_mb", "MB"),
            ("peak_rss_mb", "MB"),
            ("subjects_per_s", "subjects/s"),
        ]:
            print(f"sdtm_n{n}_{key}: {r[key]:.3f} {unit}")


if __name__ == "__main__":
    main()
