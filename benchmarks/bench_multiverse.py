"""Throughput and wall time of the multiverse (issue 4) on the synthetic default cohort.

Prints ``name: value unit`` lines:
- observed specifications per second (the whole default grid, Firth profile CIs included);
- specification fits per second under permutation (as the joint inference runs them);
- the ratio against a plain loop calling statsmodels (ML logit, OLS) / firthmodels (Firth
  with its LRT; numpy backend as before numba was a dependency, and its numba backend) per
  specification on the same grid (timed on a random subset, per fit);
- wall time and peak memory of the whole default multiverse with the configured 1,000
  permutations, run as the workflow runs it: one fresh process per equivalence-table slice
  (spawned, so imports and numba's cache load count), two in parallel (2 cores), then the
  bootstrap and the combine step; once with an empty numba cache (first run after
  installation: compilation counts) and once from the filled cache (every later run).
The machine is shared; expect noise. Run: ``.venv/bin/python benchmarks/bench_multiverse.py
[--firth-test wald]`` (default: ``multiverse.permutation_firth_test`` of config.yaml).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm
import yaml
from firthmodels import FirthLogisticRegression
from measure import peak_rss_mb, report

from ketamine_bzd.cohort import CohortSettings, add_equivalents, derive, merge
from ketamine_bzd.equivalents import load_table
from ketamine_bzd.multiverse.bootstrap import cutoff_bootstrap
from ketamine_bzd.multiverse.engine import evaluate, prepare_data, specification_table
from ketamine_bzd.multiverse.grid import build_grid
from ketamine_bzd.multiverse.inference import joint_inference, permutation_curves
from ketamine_bzd.synthetic import generate_cohort

REPO = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
MV = CONFIG["multiverse"]
TABLES = {k: str(REPO / v) for k, v in CONFIG["equivalents"]["diazepam_tables"].items()}
STUDIES = list(CONFIG["studies"])
LOOP_SUBSET = 150
BENCH_PERMS = 32


def cohort(tmp: Path) -> tuple[Path, Path]:
    merged = merge(list(generate_cohort().values()))
    med = add_equivalents(
        merged.medication,
        load_table(TABLES["paper"]),
        load_table(REPO / "resources/equivalents/fluoxetine_hayasaka2015.csv"),
    )
    c = derive(merged, med, CohortSettings())
    p, m = tmp / "patients.parquet", tmp / "medication_daily.parquet"
    c.patients.to_parquet(p)
    c.medication_daily.to_parquet(m)
    return p, m


def run_slice(args):
    """What rule multiverse_slice does, for one table."""
    t0 = time.perf_counter()
    table, patients, medication, firth_test = args
    grid = build_grid({**MV, "tables": [table]}, [table], STUDIES)
    data = prepare_data(pd.read_parquet(patients), pd.read_parquet(medication), grid, {table: TABLES[table]})
    specs = specification_table(grid, data, alpha=MV["alpha"])
    curves = permutation_curves(
        grid,
        data,
        grid.specifications,
        MV["n_permutations"],
        MV["permutation_seed"],
        alpha=MV["alpha"],
        firth_test=firth_test,
    )
    return specs, curves, peak_rss_mb(), time.perf_counter() - t0


def loop_time(grid, data, specs: pd.DataFrame, firth_backend: str = "numpy") -> float:
    """Seconds per specification of a plain per-specification loop (statsmodels/firthmodels)
    on the same designs the batched engine builds (exposures taken from the engine so the
    loop times the fits only)."""
    r = evaluate(grid, data, specs, detail=False)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, row in enumerate(specs.itertuples()):
            X, y = _design(grid, data, row)
            try:
                if row.outcome_kind == "relative_change":
                    sm.OLS(y, X).fit()
                elif row.estimator == "ml":
                    sm.Logit(y, X).fit(method="newton", disp=0, maxiter=50)
                else:
                    FirthLogisticRegression(backend=firth_backend).fit(X[:, 1:], y).lrt(0)
            except Exception:  # noqa: BLE001 - separation etc.: a loop would catch and go on
                pass
    del r
    return (time.perf_counter() - t0) / len(specs)


def _design(grid, data, row):
    dose = data.dose[(row.table, row.window)]
    y = data.outcome[row.outcome]
    covs = [data.covariate[c] for c in grid.adjustments[row.adjustment]]
    pop = grid.populations[row.population]
    keep = {
        "all": np.ones(data.n, bool),
        "exclude_as_needed_only": ~data.as_needed_only,
        "bzd_users": data.bzd_user,
        "study": data.study == pop.study,
    }[pop.kind]
    keep = keep & np.isfinite(y) & np.all([np.isfinite(c) for c in covs] or [keep], axis=0)
    e = grid.exposures[row.exposure]
    x = {"log1p": np.log1p(dose), "per_10mg": dose / 10}.get(e.kind, dose > (e.mg if e.mg is not None else 8))
    X = np.column_stack([np.ones(data.n), x, *covs])[keep].astype(float)
    return X, y[keep]


def main() -> None:
    firth_test = (
        sys.argv[sys.argv.index("--firth-test") + 1]
        if "--firth-test" in sys.argv
        else MV.get("permutation_firth_test", "lrt")
    )
    with tempfile.TemporaryDirectory() as tmp:
        patients, medication = cohort(Path(tmp))
        grid = build_grid(MV, list(TABLES), STUDIES)
        data = prepare_data(pd.read_parquet(patients), pd.read_parquet(medication), grid, TABLES)
        S = len(grid.specifications)
        report("specifications", S, "specs")
        # numba: load from the cache or compile every kernel before timing (the cost of that
        # is reported by bench_kernels.py and by the empty-cache run below)
        evaluate(grid, data, grid.specifications.iloc[:200])
        permutation_curves(grid, data, grid.specifications, 2, 0)
        t0 = time.perf_counter()
        specification_table(grid, data)
        dt = time.perf_counter() - t0
        report("observed_specifications_per_s", S / dt, "specs/s")
        t0 = time.perf_counter()
        evaluate(grid, data, detail=False)
        dt_fast = time.perf_counter() - t0
        report("observed_specifications_per_s_without_profile_ci", S / dt_fast, "specs/s")
        pc = permutation_curves(grid, data, grid.specifications, BENCH_PERMS, 1)
        perm_rate = BENCH_PERMS * S / float(pc["seconds"])
        report("permutation_spec_fits_per_s", perm_rate, "fits/s")
        pcw = permutation_curves(grid, data, grid.specifications, BENCH_PERMS, 1, firth_test="wald")
        report("permutation_spec_fits_per_s_firth_wald", BENCH_PERMS * S / float(pcw["seconds"]), "fits/s")
        sub = grid.specifications.sample(LOOP_SUBSET, random_state=1)
        per_spec = loop_time(grid, data, sub)
        report("statsmodels_loop_specs_per_s", 1 / per_spec, "specs/s")
        report("speedup_vs_statsmodels_loop_permutation", per_spec * perm_rate, "x")
        report("speedup_vs_statsmodels_loop_observed_without_profile_ci", per_spec * S / dt_fast, "x")
        loop_time(grid, data, sub, firth_backend="numba")  # firthmodels compiles per design shape
        per_spec_nb = loop_time(grid, data, sub, firth_backend="numba")
        report("statsmodels_firthmodels_numba_loop_specs_per_s", 1 / per_spec_nb, "specs/s")
        report("speedup_vs_statsmodels_firthmodels_numba_loop_permutation", per_spec_nb * perm_rate, "x")

        # The whole default multiverse as the workflow runs it (two slices in parallel).
        with tempfile.TemporaryDirectory() as cache:
            for label in ("empty_numba_cache", "numba_cache"):
                wall, parts = whole_multiverse(grid, data, patients, medication, firth_test, cache)
                report(
                    f"whole_multiverse_wall_time_{label}",
                    wall,
                    f"s ({MV['n_permutations']} permutations, 2 processes, Firth {firth_test})",
                )
                report(
                    f"whole_multiverse_slice_seconds_{label}",
                    max(p[3] for p in parts),
                    "s (slowest slice: import, observed, permutations)",
                )
                report(f"whole_multiverse_peak_memory_per_process_{label}", max(p[2] for p in parts), "MB")
        report("main_process_peak_memory", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MB")


def whole_multiverse(grid, data, patients, medication, firth_test, cache_dir):
    """Wall time of the slices (fresh spawned processes, numba cache in ``cache_dir``), the
    bootstrap and the combine step; returns (seconds, slice results)."""
    os.environ["NUMBA_CACHE_DIR"] = cache_dir  # inherited by the spawned slices
    t0 = time.perf_counter()
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = list(pool.map(run_slice, [(t, patients, medication, firth_test) for t in grid.tables]))
    paper = MV["paper"]
    Z = np.column_stack([data.covariate[c] for c in grid.adjustments[paper["adjustment"]]])
    cutoff_bootstrap(
        data.dose[(paper["table"], paper["window"])],
        data.outcome[paper["outcome"]],
        Z,
        n_boot=MV["bootstrap"]["n"],
        seed=MV["bootstrap"]["seed"],
    )
    specs = pd.concat([p[0] for p in parts], ignore_index=True)
    perm = {k: np.concatenate([p[1][k] for p in parts], axis=1) for k in ("estimate", "z", "p_value")}
    joint_inference(
        specs,
        perm,
        grid,
        alpha=MV["alpha"],
        n_permutations=MV["n_permutations"],
        seed=MV["permutation_seed"],
        firth_test=firth_test,
    )
    return time.perf_counter() - t0, parts


if __name__ == "__main__":
    sys.exit(main())
