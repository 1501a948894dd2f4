"""Ingest (``read()`` of each raw export format) time, peak memory and rows per second at
N = 10^4, 10^5 and 10^6 patients, and the fitted exponent of time against N (issue 10).

Exports are written by the formats' own writers from the synthetic cohort. The writers take
minutes at 10^6 patients (their speed is a separate item of issue 10), so above ``--base``
patients (default 100,000) the base export is replicated: copy k of every patient gets the ID
suffix ``_k`` in every file, the rows are otherwise the base export's (so the number of distinct
values of most columns stays that of the base: the per-distinct-value checks are measured at
base size, the per-row work at full size). Each (study, N) is read in a fresh subprocess;
its peak RSS is the kernel's high-water mark (VmHWM), not a sample.

Prints ``name: value unit`` lines. Usage:
    python benchmarks/bench_ingest.py [N ...] [--base N] [--exports DIR] [--partitions K]
``--exports DIR`` keeps the exports there (reused by a later run) instead of a temp folder;
``--partitions K`` reads each study as K partition jobs (``read(..., partition=(i, K))``), each
in its own process: the peak RSS is then that of the largest job.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measure import cpu_seconds, fitted_exponent

SIZES = [10_000, 100_000, 1_000_000]
STUDIES = {"ket2009": "spss_wide", "ket2013": "ecrf_cz"}
SEED = 20200819


def write_exports(n: int, outdir: Path) -> None:
    from ketamine_bzd.formats import FORMATS
    from ketamine_bzd.synthetic import generate_cohort

    truth = generate_cohort(n_patients=n, seed=SEED)
    for study, fmt in STUDIES.items():
        FORMATS[fmt].write(truth[study], outdir / study)


def replicate(base: Path, copies: int, outdir: Path) -> None:
    """``copies`` copies of every patient of the base export, IDs suffixed ``_k`` (k >= 1)."""
    import pandas as pd
    import pyreadstat

    from ketamine_bzd.formats import FORMATS

    for study, fmt in STUDIES.items():
        (outdir / study).mkdir(parents=True, exist_ok=True)
        for role, name in FORMATS[fmt].DEFAULT_FILENAMES.items():
            src, dst = base / study / name, outdir / study / name
            if name.endswith(".sav"):
                frame, meta = pyreadstat.read_sav(str(src), user_missing=True)
                frames = [frame] + [
                    frame.assign(ID=frame["ID"].astype(str) + f"_{k}") for k in range(1, copies)
                ]
                pyreadstat.write_sav(
                    pd.concat(frames, ignore_index=True),
                    str(dst),
                    column_labels=meta.column_names_to_labels,
                    variable_value_labels=meta.variable_value_labels,
                    missing_ranges={k: [r["lo"] for r in v] for k, v in meta.missing_ranges.items()},
                )
                continue
            data = src.read_bytes()
            header, _, body = data.partition(b"\n")
            sep = b";" if fmt == "ecrf_cz" else b","
            first_field = re.compile(rb"(?m)^([^" + sep + rb"\r\n]+)" + re.escape(sep))
            with open(dst, "wb") as fh:
                fh.write(header + b"\n" + body)
                for k in range(1, copies):
                    fh.write(first_field.sub(rb"\1_" + str(k).encode() + sep, body))


def exports_for(n: int, base: int, root: Path) -> Path:
    out = root / f"n{n}"
    if (out / "ket2013").is_dir():
        return out
    if n <= base:
        write_exports(n, out)
        return out
    if n % base:
        raise SystemExit(f"N = {n} must be a multiple of --base {base}")
    replicate(exports_for(base, base, root), n // base, out)
    return out


def one_read(study: str, directory: Path, partition: tuple[int, int] | None = None) -> dict:
    from ketamine_bzd.formats import FORMATS

    fmt = STUDIES[study]
    files = {r: directory / study / name for r, name in FORMATS[fmt].DEFAULT_FILENAMES.items()}
    t0, c0 = time.perf_counter(), cpu_seconds()
    result = FORMATS[fmt].read(study, files, b"bench-key", partition=partition)
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    status = Path("/proc/self/status").read_text()
    hwm_kb = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))
    return {
        "read_s": seconds,
        "read_cpu_s": cpu,
        "peak_rss_mb": hwm_kb / 1024,
        "rows": int(result.report["rows_read"].sum()),
        "patients": len(result.tables.subjects),
    }


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["--one"]:
        part = (int(args[3]), int(args[4])) if len(args) > 3 else None
        print(json.dumps(one_read(args[1], Path(args[2]), part)))
        return
    base, keep, parts = 100_000, None, 1
    if "--base" in args:
        i = args.index("--base")
        base = int(args[i + 1])
        del args[i : i + 2]
    if "--partitions" in args:
        i = args.index("--partitions")
        parts = int(args[i + 1])
        del args[i : i + 2]
    if "--exports" in args:
        i = args.index("--exports")
        keep = Path(args[i + 1])
        del args[i : i + 2]
    sizes = [int(a) for a in args] or SIZES
    print(f"ingest_load_average_1min: {os.getloadavg()[0]:.1f} (2 cores here)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = keep or Path(tmp)
        times: dict[str, list[float]] = {s: [] for s in STUDIES}
        for n in sizes:
            t0 = time.perf_counter()
            directory = exports_for(n, base, root)
            print(f"ingest_exports_n{n}: {time.perf_counter() - t0:.1f} s", flush=True)
            total = 0.0
            for study in STUDIES:
                runs = []
                for p in range(parts):  # one job per partition, one after the other here
                    extra = [str(p), str(parts)] if parts > 1 else []
                    out = subprocess.run(
                        [sys.executable, __file__, "--one", study, str(directory), *extra],
                        check=True,
                        capture_output=True,
                        text=True,
                    ).stdout
                    runs.append(json.loads(out.strip().splitlines()[-1]))
                seconds = sum(r["read_s"] for r in runs)
                times[study].append(seconds)
                total += seconds
                name = f"ingest_{study}_n{n}" + (f"_{parts}_partitions" if parts > 1 else "")
                print(
                    f"{name}_read: {seconds:.2f} s (all partitions one after the other)"
                    if parts > 1
                    else f"{name}_read: {seconds:.2f} s"
                )
                if parts > 1:
                    print(f"{name}_slowest_partition_read: {max(r['read_s'] for r in runs):.2f} s")
                print(f"{name}_read_cpu: {sum(r.get('read_cpu_s', 0) for r in runs):.2f} s")
                print(
                    f"{name}_peak_rss: {max(r['peak_rss_mb'] for r in runs):.0f} MB"
                    + (" (largest partition job)" if parts > 1 else "")
                )
                rows = sum(r["rows"] for r in runs)
                print(f"{name}_rows_per_s: {rows / seconds:.0f} rows/s")
                print(f"{name}_patients: {sum(r['patients'] for r in runs)} patients", flush=True)
            print(f"ingest_both_studies_n{n}_read: {total:.2f} s", flush=True)
            print(f"ingest_load_average_1min_after_n{n}: {os.getloadavg()[0]:.1f}", flush=True)
        if len(sizes) > 1:
            for study in STUDIES:
                print(
                    f"ingest_{study}_time_exponent: {fitted_exponent(sizes, times[study]):.2f} (time ~ N^x)"
                )


if __name__ == "__main__":
    main()
