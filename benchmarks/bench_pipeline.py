"""The real workflow from raw exports to the merged cohort (issue 10, item 7), at 10^4, 10^5 and
10^6 patients: wall time per stage, peak RSS per job, rows per second and the fitted exponent of
time against N.

Each size runs in a fresh copy of the workflow (git-tracked files) with ``synthetic.n_patients =
N``; the synthetic exports are written first by the workflow's own ``synthetic_exports`` rule
(not timed), then ``snakemake --cores 2`` makes the cohort (``results/cohort/provenance.csv``,
``results/qc/soft_problems.csv``), timed. Per job, the time and the true peak RSS come from the
job's log (``runner``: ``finished in X s (process CPU Y s)``, ``peak RSS (VmHWM) N MB``; the CPU
is the process's, imports included, not Snakemake's sampled benchmark file); a stage's wall time
runs from its first job's start to its last job's end. Prints ``name: value unit`` lines.

Usage: python benchmarks/bench_pipeline.py [N ...] [--per PATIENTS_PER_PARTITION] [--keep]
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml
from measure import fitted_exponent

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from workflow_helpers import copy_workflow  # noqa: E402 (what a fresh clone holds)

SIZES = [10_000, 100_000, 1_000_000]
STAGES = ("ingest", "cohort", "ingest_report", "cohort_merge")
TARGETS = ("results/cohort/provenance.csv", "results/qc/soft_problems.csv")
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
_FINISHED = re.compile(r"finished in ([0-9.]+) s")
_CPU = re.compile(r"process CPU ([0-9.]+) s")
_PEAK = re.compile(r"peak RSS \(VmHWM\) (\d+) MB")


def snakemake(workdir: Path, *args: str) -> float:
    env = {**os.environ, "KETAMINE_BZD_KEY": "bench-key", "PYTHONPATH": str(REPO / "src")}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "--profile", "profiles/default", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        raise RuntimeError(
            f"snakemake {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return time.perf_counter() - t0


def job_logs(workdir: Path) -> pd.DataFrame:
    """One row per job: stage, log, start and end (datetime), seconds, peak RSS in MB."""
    logs = {
        "ingest": sorted((workdir / "results/logs/ingest").glob("*.log")),
        "cohort": sorted((workdir / "results/logs/cohort").glob("part-*.log")),
        "ingest_report": [workdir / "results/logs/ingest_report.log"],
        "cohort_merge": [workdir / "results/logs/cohort_merge.log"],
    }
    rows = []
    for stage, paths in logs.items():
        for path in paths:
            lines = path.read_text().splitlines()
            stamps = [
                dt.datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S,%f")
                for line in lines
                if (m := _STAMP.match(line))
            ]
            text = "\n".join(lines)
            seconds = float(_FINISHED.search(text)[1])
            peak = int(_PEAK.search(text)[1])
            # the first line is logged a moment after the job starts: the end minus its time
            end = stamps[-1]
            rel = path.relative_to(workdir / "results/logs")
            # CPU seconds of the job (Snakemake's benchmark file): under load, wall time is not
            # CPU seconds of the job's process, imports included (``runner``): under load, wall
            # time is mostly waiting
            cpu = float(_CPU.search(text)[1])
            rows.append((stage, rel.as_posix(), end - dt.timedelta(seconds=seconds), end, seconds, cpu, peak))
    return pd.DataFrame(rows, columns=["stage", "log", "start", "end", "seconds", "cpu_s", "peak_rss_mb"])


def one_size(n: int, per: int | None, keep: bool) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-pipeline-{n}-"))
    try:
        workdir = copy_workflow(tmp / "wf", small=False)
        config = yaml.safe_load((workdir / "config.yaml").read_text())
        config["synthetic"]["n_patients"] = n
        if per is not None:
            config["partitioning"]["patients_per_partition"] = per
        (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        exports = [p for s in config["studies"].values() for p in s["files"].values()]
        t0 = time.perf_counter()
        snakemake(workdir, *exports)
        t_exports = time.perf_counter() - t0
        load_start = os.getloadavg()
        called = dt.datetime.now()
        wall = snakemake(workdir, *TARGETS)
        returned = dt.datetime.now()
        load_end = os.getloadavg()
        jobs = job_logs(workdir)
        report = pd.read_csv(workdir / "results/qc/ingest_report.csv")
        k = config["partitioning"]["patients_per_partition"]
        return {
            "n": n,
            "partitions": max(1, math.ceil(n / k)),
            "exports_s": t_exports,
            "wall_s": wall,
            "rows_read": int(report["rows_read"].sum()),
            "jobs": jobs,
            # Snakemake's own time: parsing and DAG before the first job, bookkeeping after the last
            "before_first_job_s": (jobs["start"].min() - called).total_seconds(),
            "after_last_job_s": (returned - jobs["end"].max()).total_seconds(),
            "load": (load_start, load_end),
            "workdir": workdir if keep else None,
        }
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    args = sys.argv[1:]
    keep = "--keep" in args
    per = None
    if "--per" in args:
        i = args.index("--per")
        per = int(args[i + 1])
        args = args[:i] + args[i + 2 :]
    sizes = [int(a) for a in args if a != "--keep"] or SIZES
    print(f"# load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results = []
    for n in sizes:
        r = one_size(n, per, keep)
        results.append(r)
        tag = f"pipeline_n{n}"
        print(f"{tag}_partitions: {r['partitions']} partitions")
        print(f"{tag}_write_exports: {r['exports_s']:.2f} s (not timed below)")
        print(f"{tag}_raw_exports_to_cohort: {r['wall_s']:.2f} s")
        print(f"{tag}_rows_per_s: {r['rows_read'] / r['wall_s']:.0f} rows/s ({r['rows_read']} raw rows read)")
        print(f"{tag}_patients_per_s: {n / r['wall_s']:.0f} patients/s")
        print(f"{tag}_load_average: {r['load'][0][0]:.2f} at the start, {r['load'][1][0]:.2f} at the end")
        print(f"{tag}_snakemake_before_first_job: {r['before_first_job_s']:.2f} s (parse, DAG)")
        print(f"{tag}_snakemake_after_last_job: {r['after_last_job_s']:.2f} s")
        jobs = r["jobs"]
        r["stage_wall"] = {}
        for stage in STAGES:
            of = jobs[jobs["stage"] == stage]
            wall = (of["end"].max() - of["start"].min()).total_seconds()
            r["stage_wall"][stage] = wall
            print(
                f"{tag}_{stage}_wall: {wall:.2f} s ({len(of)} jobs, "
                f"{of['seconds'].sum():.2f} s of job time, {of['cpu_s'].sum():.2f} s CPU, "
                f"{r['rows_read'] / max(wall, 1e-9):.0f} raw rows/s)"
            )
            print(f"{tag}_{stage}_peak_rss_max: {of['peak_rss_mb'].max()} MB per job")
        for job in jobs.itertuples():
            print(
                f"{tag}_job_{job.log.removesuffix('.log').replace('/', '_')}: "
                f"{job.seconds:.2f} s ({job.cpu_s:.2f} s CPU), peak RSS {job.peak_rss_mb} MB"
            )
        if r["workdir"]:
            print(f"# kept: {r['workdir']}")
    if len(results) > 1:
        ns = [r["n"] for r in results]
        print(
            f"pipeline_time_exponent: {fitted_exponent(ns, [r['wall_s'] for r in results]):.2f} "
            f"(log time on log N, N = {', '.join(map(str, ns))})"
        )
        for stage in STAGES:
            of = [r["jobs"][r["jobs"]["stage"] == stage] for r in results]
            print(
                f"pipeline_{stage}_time_exponent: "
                f"{fitted_exponent(ns, [r['stage_wall'][stage] for r in results]):.2f} (stage wall), "
                f"{fitted_exponent(ns, [j['seconds'].sum() for j in of]):.2f} (job time), "
                f"{fitted_exponent(ns, [j['cpu_s'].sum() for j in of]):.2f} (CPU time)"
            )
    print(f"# load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
