"""Throughput of the batched multiverse kernels (issue 4).

Prints ``name: value unit`` lines. Data mimic the paper: n = 47 patients,
a binary exposure (~28 % exposed), baseline MADRS and BAI, a response rate of
~28 %, and a different inclusion mask per specification (populations).
Baselines are plain Python loops on a subset of 100 specifications, per fit:
statsmodels ``Logit`` on numpy arrays (the fastest possible loop), the
formula interface on a DataFrame (the usual hand-written multiverse), and
firthmodels with its LRT (numpy backend, and its numba backend).
The compiled kernels' agreement with the reference implementation
(``stats.logistic``) is a test (tests/test_multiverse_reference.py), not a
benchmark. Numba's compile time is measured in fresh
interpreters with an empty and with a filled cache (``NUMBA_CACHE_DIR``).
Timings are the best of a few repeats; the machine is shared, expect noise.

Run: ``.venv/bin/python benchmarks/bench_kernels.py`` (a few minutes).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from firthmodels import FirthLogisticRegression
from scipy.special import expit

from ketamine_bzd.multiverse import fit_firth, fit_logit, fit_ols, permute_within_strata, roc_auc
from ketamine_bzd.multiverse.kernels import roc_cutoff

N = 47
N_SPECS = 1_000
N_PERMS = 100
LOOP_SUBSET = 100
SEED = 20200801


def make_specs(B: int, p: int, rng: np.random.Generator):
    X = np.ones((B, N, p))
    X[:, :, 1] = rng.random((B, N)) < 0.28
    if p > 2:
        X[:, :, 2] = np.round(rng.normal(24, 6.3, (B, N)))
    if p > 3:
        X[:, :, 3] = np.round(rng.normal(20, 11, (B, N)))
    xc = X[:, :, 2:] - X[:, :, 2:].mean(axis=1, keepdims=True)
    eta = -0.6 - 1.5 * X[:, :, 1] - 0.05 * xc.sum(axis=2)
    y = (rng.random((B, N)) < expit(eta)).astype(float)
    mask = rng.random((B, N)) < 0.9
    return X, y, mask


def best_time(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def report(name: str, value: float, unit: str) -> None:
    print(f"{name}: {value:.4g} {unit}", flush=True)


COMPILE_SNIPPET = """
import time
t0 = time.perf_counter()
import numpy as np
from ketamine_bzd.multiverse import fit_firth, fit_logit
from ketamine_bzd.multiverse.kernels import roc_cutoff
t1 = time.perf_counter()
rng = np.random.default_rng(0)
X = np.ones((4, 30, 3)); X[:, :, 1] = rng.random((4, 30)) < 0.4; X[:, :, 2] = rng.normal(size=(4, 30))
y = (rng.random((4, 30)) < 0.4).astype(float)
fit_logit(X, y, exposure_index=1)
fit_firth(X, y, test_index=1, exposure_index=1, profile_ci=True)
roc_cutoff(X[:, :, 2].copy(), y, np.ones((4, 30), bool))
print(t1 - t0, time.perf_counter() - t1)
"""


def compile_times() -> tuple[float, float, float]:
    """(import s, first calls with an empty numba cache s, first calls from the cache s),
    each in a fresh interpreter, as a workflow job starts."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out = []
        for _ in range(2):
            r = subprocess.run(
                [sys.executable, "-c", COMPILE_SNIPPET], env=env, check=True, capture_output=True, text=True
            )
            out.append([float(v) for v in r.stdout.split()])
    return out[1][0], out[0][1], out[1][1]


def max_rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Largest |a - b| / |b| over entries finite in both (|b| floored at 1e-6, so that
    estimates that are 0 up to rounding count absolutely); inf if NaN patterns differ."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        return float("inf")
    ok = np.isfinite(a) & np.isfinite(b)
    if not ok.any():
        return 0.0
    return float(np.max(np.abs(a[ok] - b[ok]) / np.maximum(np.abs(b[ok]), 1e-6)))


def main() -> None:
    imp, cold, warm = compile_times()
    report("import_multiverse_kernels", imp, "s")
    report("numba_first_calls_empty_cache", cold, "s (compilation, once per installation)")
    report("numba_first_calls_from_cache", warm, "s")
    rng = np.random.default_rng(SEED)
    rates = {}
    for p in (2, 4):
        X, y, mask = make_specs(N_SPECS, p, rng)
        t = best_time(lambda: fit_logit(X, y, mask, exposure_index=1))
        rates[("ml", p)] = N_SPECS / t
        report(f"ml_logit_fits_per_s_B{N_SPECS}_n{N}_p{p}", N_SPECS / t, "fits/s")
        t = best_time(lambda: fit_firth(X, y, mask, test_index=1, exposure_index=1))
        rates[("firth", p)] = N_SPECS / t
        report(f"firth_fits_with_lrt_per_s_B{N_SPECS}_n{N}_p{p}", N_SPECS / t, "fits/s")
        t = best_time(lambda: fit_firth(X, y, mask, test_index=1, profile_ci=True), repeat=1)
        report(f"firth_fits_with_lrt_and_profile_ci_per_s_B{N_SPECS}_n{N}_p{p}", N_SPECS / t, "fits/s")

    # Plain loops on a subset of the same p = 4 specifications.
    X, y, mask = make_specs(LOOP_SUBSET, 4, np.random.default_rng(SEED + 1))

    def sm_loop():
        # The kernel returns SEs and p values, so the loop asks for them too
        # (statsmodels computes them lazily).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for b in range(LOOP_SUBSET):
                m = mask[b]
                r = sm.Logit(y[b, m], X[b, m]).fit(disp=0)
                r.bse, r.pvalues

    frames = [
        pd.DataFrame(
            {
                "response": y[b, mask[b]],
                "bzd_high": X[b, mask[b], 1],
                "madrs_day0": X[b, mask[b], 2],
                "bai_day0": X[b, mask[b], 3],
            }
        )
        for b in range(LOOP_SUBSET)
    ]

    def formula_loop():
        # The typical hand-written multiverse: one formula fit per specification.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for frame in frames:
                r = smf.logit("response ~ bzd_high + madrs_day0 + bai_day0", frame).fit(disp=0)
                r.bse, r.pvalues

    def firth_loop(backend: str):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for b in range(LOOP_SUBSET):
                m = mask[b]
                FirthLogisticRegression(backend=backend).fit(X[b, m, 1:], y[b, m]).lrt(0)

    sm_rate = LOOP_SUBSET / best_time(sm_loop, repeat=2)
    formula_rate = LOOP_SUBSET / best_time(formula_loop, repeat=2)
    fm_rate = LOOP_SUBSET / best_time(lambda: firth_loop("numpy"), repeat=2)
    firth_loop("numba")  # compile
    fm_numba_rate = LOOP_SUBSET / best_time(lambda: firth_loop("numba"), repeat=2)
    report("statsmodels_logit_loop_fits_per_s_p4", sm_rate, "fits/s")
    report("statsmodels_formula_logit_loop_fits_per_s_p4", formula_rate, "fits/s")
    report("firthmodels_loop_fits_with_lrt_per_s_p4", fm_rate, "fits/s")
    report("firthmodels_numba_backend_loop_fits_with_lrt_per_s_p4", fm_numba_rate, "fits/s")
    report("speedup_firth_vs_firthmodels_numba_loop_p4", rates[("firth", 4)] / fm_numba_rate, "x")
    report("speedup_ml_logit_vs_statsmodels_loop_p4", rates[("ml", 4)] / sm_rate, "x")
    report("speedup_ml_logit_vs_statsmodels_formula_loop_p4", rates[("ml", 4)] / formula_rate, "x")
    report("speedup_firth_vs_firthmodels_loop_p4", rates[("firth", 4)] / fm_rate, "x")

    # Permutation: every specification refitted under each within-study
    # relabelling of the exposure; 100 specifications x 100 permutations per call.
    X, y, mask = make_specs(N_SPECS, 4, np.random.default_rng(SEED + 2))
    strata = np.repeat([0, 1], [20, 27])
    perm = permute_within_strata(np.arange(N), strata, N_PERMS, seed=SEED)
    block = 100

    def permuted_designs(s: int):
        Xb = np.repeat(X[s : s + block], N_PERMS, axis=0)
        Xb[:, :, 1] = X[s : s + block, :, 1][:, perm].reshape(-1, N)
        return Xb, np.repeat(y[s : s + block], N_PERMS, 0), np.repeat(mask[s : s + block], N_PERMS, 0)

    def run_perm(kind: str):
        for s in range(0, N_SPECS, block):
            Xb, yb, mb = permuted_designs(s)
            if kind == "ml":
                fit_logit(Xb, yb, mb, exposure_index=1)
            else:
                fit_firth(Xb, yb, mb, test_index=1, exposure_index=1)

    n_fits = N_SPECS * N_PERMS
    t = best_time(lambda: run_perm("ml"), repeat=1)
    report(f"ml_logit_permutation_fits_per_s_{N_SPECS}x{N_PERMS}_p4", n_fits / t, "fits/s")
    report(f"ml_logit_permutation_wall_{N_SPECS}x{N_PERMS}_p4", t, "s")
    report("speedup_ml_logit_permutation_vs_statsmodels_loop_p4", n_fits / t / sm_rate, "x")
    report("speedup_ml_logit_permutation_vs_statsmodels_formula_loop_p4", n_fits / t / formula_rate, "x")
    t = best_time(lambda: run_perm("firth"), repeat=1)
    report(f"firth_permutation_fits_per_s_{N_SPECS}x{N_PERMS}_p4", n_fits / t, "fits/s")
    report(f"firth_permutation_wall_{N_SPECS}x{N_PERMS}_p4", t, "s")
    report("speedup_firth_permutation_vs_firthmodels_loop_p4", n_fits / t / fm_rate, "x")

    # OLS and AUC over the same 100,000 (specification x permutation) rows.
    Xb, yb, mb = permuted_designs(0)
    Xb = np.repeat(Xb, N_SPECS // block, axis=0)
    cont = np.repeat(np.random.default_rng(1).normal(size=(N_PERMS * block, N)), N_SPECS // block, 0)
    mb = np.repeat(mb, N_SPECS // block, axis=0)
    t = best_time(lambda: fit_ols(Xb, cont, mb), repeat=2)
    report(f"ols_fits_per_s_B{n_fits}_p4", n_fits / t, "fits/s")
    labels = np.repeat(yb, N_SPECS // block, axis=0)
    t = best_time(lambda: roc_auc(cont, labels, mb), repeat=2)
    report(f"roc_auc_youden_per_s_B{n_fits}", n_fits / t, "curves/s")
    t = best_time(lambda: roc_cutoff(cont, labels, mb), repeat=2)
    report(f"roc_youden_cutoff_only_compiled_per_s_B{n_fits}", n_fits / t, "curves/s")


if __name__ == "__main__":
    main()
