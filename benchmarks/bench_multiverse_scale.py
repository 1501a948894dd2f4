"""The multiverse at registry scale (issue 10): one shard's cost at N patients, and the projected
wall time of the whole multiverse on a cluster of K nodes.

For each N (argv; default 2,000 and 10^4) a cohort of N synthetic patients (generator truth ->
merge -> equivalents -> derive, as the cohort rule does; not timed) is written as Parquet, then
in fresh subprocesses, each what one Snakemake job runs:

- ``slice``: rule ``multiverse_slice`` for one equivalence table (the observed fits of every
  specification, profile CIs included);
- ``shard``: rule ``multiverse_permutations`` for one shard, run with ``MEASURED_PERMUTATIONS``
  permutations; its cost per permutation (after the job's fixed start-up: imports, reading,
  numba cache load, measured with 0 permutations) is what a shard of P/K permutations takes;
- ``combine``: rule ``multiverse_combine``'s joint inference on the joined arrays.

Printed per N: each job's wall seconds and peak RSS (VmHWM), seconds per permutation, the
projected shard time for the configured P = multiverse.n_permutations split in K = 1, 4, 16
shards, and the projected wall time on K nodes (slices in parallel, then the shards of both
tables in parallel across the K nodes, then the combine step). Usage:
``python benchmarks/bench_multiverse_scale.py [N ...] [--permutations M] [--sample S]``.

``--sample S`` fits a random sample of S specifications of the grid (seed 0; a systematic
every-k-th sample would alias with the grid's order: every 20th specification is an ML fit of two
populations only) and scales the slice and per-permutation times by total / fitted
specifications: each distinct specification is refitted on its own, so at a fixed N a table's
cost is the sum of its specifications' (the full grid shares a few more identical fits, so the
projection errs high). This is how 10^5 patients fits in a benchmark run; the printed figures
say which times are projected.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from measure import peak_rss_mb, report

REPO = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
MV = CONFIG["multiverse"]
TABLES = {k: str(REPO / v) for k, v in CONFIG["equivalents"]["diazepam_tables"].items()}
STUDIES = list(CONFIG["studies"])
# 10^5 is not in the default: a job's memory grows with N x specifications of one batch
# (2.9 GB per shard at 10^4, docs/performance.md), about 29 GB at 10^5 on this engine
SIZES = [2_000, 10_000]
MEASURED_PERMUTATIONS = 4  # --permutations M: fewer at large N (the cost is linear in M)
NODES = (1, 4, 16)


def write_cohort(n: int, folder: Path) -> None:
    from ketamine_bzd.cohort import CohortSettings, add_equivalents, derive, merge
    from ketamine_bzd.equivalents import load_table
    from ketamine_bzd.synthetic import generate_cohort

    merged = merge(list(generate_cohort(n_patients=n, seed=1).values()))
    fluoxetine = REPO / "resources/equivalents/fluoxetine_hayasaka2015.csv"
    med = add_equivalents(merged.medication, load_table(TABLES["paper"]), load_table(fluoxetine))
    cohort = derive(merged, med, CohortSettings())
    cohort.patients.to_parquet(folder / "patients.parquet")
    cohort.medication_daily.to_parquet(folder / "medication_daily.parquet")


def job(kind: str, folder: Path, table: str, n_perm: int, sample: int = 0) -> dict:
    """One job, in this (fresh) process: what the rule's script computes (on a random
    ``sample`` of the specifications; 0: all)."""
    t0 = time.perf_counter()
    import numpy as np
    import pandas as pd

    from ketamine_bzd.multiverse.engine import prepare_data, specification_table
    from ketamine_bzd.multiverse.grid import build_grid
    from ketamine_bzd.multiverse.inference import joint_inference, permutation_curves

    tables = list(TABLES) if kind == "combine" else [table]
    grid = build_grid({**MV, "tables": tables}, tables, STUDIES)
    data = prepare_data(
        pd.read_parquet(folder / "patients.parquet"),
        pd.read_parquet(folder / "medication_daily.parquet"),
        grid,
        {t: TABLES[t] for t in tables},
    )
    firth_test = MV.get("permutation_firth_test", "lrt")
    specs = grid.specifications
    if 0 < sample < len(specs):
        specs = specs.sample(n=sample, random_state=0).sort_index()
    specs = specs.reset_index(drop=True)

    def permute(n: int) -> dict:
        return permutation_curves(
            grid,
            data,
            specs,
            n,
            MV["permutation_seed"],
            alpha=MV["alpha"],
            firth_test=firth_test,
        )

    out = {"specifications": len(grid.specifications), "fitted": len(specs)}
    if kind == "slice":
        specification_table(grid, data, specs, alpha=MV["alpha"])
    elif kind == "shard":
        t1 = time.perf_counter()
        if n_perm:
            permute(n_perm)
        out["permutation_s"] = time.perf_counter() - t1
    else:  # combine: the joint inference on arrays shaped as the shards deliver them
        observed = specification_table(grid, data, specs, alpha=MV["alpha"])
        curves = permute(n_perm)
        perm = {k: np.asarray(curves[k]) for k in ("estimate", "z", "p_value")}
        t1 = time.perf_counter()
        joint_inference(
            observed,
            perm,
            grid,
            alpha=MV["alpha"],
            n_permutations=n_perm,
            seed=MV["permutation_seed"],
            firth_test=firth_test,
        )
        out["joint_inference_s"] = time.perf_counter() - t1
    out.update(wall_s=time.perf_counter() - t0, peak_rss_mb=peak_rss_mb())
    return out


def spawn(*args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--job", *args], check=True, capture_output=True, text=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def one_size(n: int, measured: int, sample: int | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        write_cohort(n, folder)
        report(f"multiverse_n{n}_cohort_setup_s", time.perf_counter() - t0, "s (not part of the multiverse)")
        table = MV["paper"]["table"]
        args = (str(folder), table)
        k = str(sample or 0)
        spawn("shard", *args, "1", k)  # fills the numba cache for this N's shapes
        sl = spawn("slice", *args, "0", k)
        base = spawn("shard", *args, "0", k)
        shard = spawn("shard", *args, str(measured), k)
        comb = spawn("combine", *args, str(measured), k)
        # the fitting scales with the specifications fitted; the start-up does not
        scale = sl["specifications"] / sl["fitted"]
        projected = " projected from a sample" if scale > 1 else ""
        sl["wall_s"] = base["wall_s"] + (sl["wall_s"] - base["wall_s"]) * scale
        per_perm = shard["permutation_s"] / measured * scale
        fixed = base["wall_s"]
        P = MV["n_permutations"]
        # the combine job reads the shards' arrays and runs the joint inference, O(P x specs)
        # (the bench's combine job computes its inputs first; only its joint inference counts)
        combine_s = fixed + comb["joint_inference_s"] * scale * P / measured
        report(f"multiverse_n{n}_specifications_per_table", sl["specifications"], "specs")
        report(f"multiverse_n{n}_specifications_fitted", sl["fitted"], "specs (a random sample)")
        report(f"multiverse_n{n}_slice_s", sl["wall_s"], f"s (one table, observed fits{projected})")
        report(f"multiverse_n{n}_slice_peak_rss", sl["peak_rss_mb"], "MB")
        report(f"multiverse_n{n}_shard_fixed_s", fixed, "s (imports, reading, data preparation)")
        report(
            f"multiverse_n{n}_seconds_per_permutation",
            per_perm,
            f"s (all specifications of a table{projected})",
        )
        report(f"multiverse_n{n}_shard_peak_rss", shard["peak_rss_mb"], "MB")
        report(
            f"multiverse_n{n}_combine_joint_inference_s",
            comb["joint_inference_s"],
            f"s (at {measured} permutations)",
        )
        n_tables = len(TABLES)
        for k in NODES:
            shard_s = fixed + per_perm * math.ceil(P / k)
            # the slices of all tables (in parallel up to k nodes), then n_tables * k shards on k
            # nodes (n_tables waves), then the combine step
            wall = math.ceil(n_tables / k) * sl["wall_s"] + n_tables * shard_s + combine_s
            report(f"multiverse_n{n}_shard_s_K{k}", shard_s, f"s ({math.ceil(P / k)} permutations)")
            report(
                f"multiverse_n{n}_projected_wall_s_on_{k}_nodes",
                wall,
                f"s ({n_tables} tables x {k} shards, P = {P})",
            )


def main() -> None:
    if sys.argv[1:2] == ["--job"]:
        kind, folder, table, n_perm, sample = sys.argv[2:7]
        print(json.dumps(job(kind, Path(folder), table, int(n_perm), int(sample))))
        return
    args = sys.argv[1:]
    measured = MEASURED_PERMUTATIONS
    if "--permutations" in args:
        i = args.index("--permutations")
        measured = int(args[i + 1])
        del args[i : i + 2]
    sample = None
    if "--sample" in args:
        i = args.index("--sample")
        sample = int(args[i + 1])
        del args[i : i + 2]
    with open("/proc/loadavg") as fh:
        print(f"# load average at start: {fh.read().split()[:3]}")
    for n in [int(a) for a in args] or SIZES:
        one_size(n, measured, sample)


if __name__ == "__main__":
    main()
