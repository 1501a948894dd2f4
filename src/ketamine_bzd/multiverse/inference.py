"""Joint inference over a specification curve under the null (Simonsohn, Simmons & Nelson 2020).

Simonsohn U, Simmons JP, Nelson LD (2020). Specification curve analysis. Nature Human
Behaviour 4:1208-1214: the curve's summary statistics are compared with their distribution
over datasets in which the null is true by construction. Here the null is made by permuting
the BZD medication record within study (``engine.PatientData.permuted``); the same
relabellings are used for every specification, so whole curves are compared.

Statistics (each computed identically on the data and on every permutation):
- ``median_z``: median over specifications of the direction-aligned test statistic
  (estimate / SE, sign flipped where the hypothesis predicts a negative estimate); the
  estimates themselves live on different scales (odds ratio per exposed or per dose unit,
  mean difference), so their medians are reported per effect scale (``median_estimate``);
- ``share_significant``: share of specifications with p < alpha in the expected direction;
- ``stouffer_z``: mean of the aligned z converted from the one-sided p values (SSN's third).
Permutation p = (1 + #{permutations with statistic >= observed}) / (1 + P) (Phipson & Smyth
2010). Specifications without an estimate (separated ML fits, failed tables) count as not
significant and are left out of medians.
"""

from __future__ import annotations

import itertools
import logging
import time
import warnings as _warnings

import numpy as np
import pandas as pd
from scipy import stats

from .engine import PatientData, design_keys, evaluate, expected_sign
from .grid import Grid
from .kernels import permutation_indices

log = logging.getLogger(__name__)


def shard_bounds(n_permutations: int, n_shards: int) -> list[tuple[int, int]]:
    """Split permutations 0..P-1 into ``n_shards`` contiguous ranges [first, stop) whose sizes
    differ by at most one (``multiverse.permutation_shards``); K is capped at P, so no shard
    is empty."""
    if n_permutations < 1 or n_shards < 1:
        raise ValueError("n_permutations and n_shards must be >= 1")
    k = min(n_shards, n_permutations)
    cuts = [i * n_permutations // k for i in range(k + 1)]
    return list(itertools.pairwise(cuts))


def permutation_curves(
    grid: Grid,
    data: PatientData,
    specs: pd.DataFrame,
    n_permutations: int,
    seed: int,
    *,
    alpha: float = 0.05,
    chunk: int = 16,
    firth_test: str = "lrt",
    first: int = 0,
) -> dict[str, np.ndarray]:
    """Estimates, aligned z and p of every specification under ``n_permutations`` within-study
    relabellings, numbers ``first`` .. ``first + n_permutations - 1`` (float32, shape (P, S)).
    Deterministic for a seed; relabelling i depends only on the studies, the seed and i, and each
    is fitted on its own, so slices of the grid and shards of the permutations computed
    separately combine to the unsharded arrays bit for bit. The relabellings are drawn per chunk,
    so memory is O(chunk x patients), not O(P x patients)."""
    S = len(specs)
    out = {k: np.empty((n_permutations, S), np.float32) for k in ("estimate", "z", "p_value")}
    sign = expected_sign(grid, specs.reset_index(drop=True))
    t0 = time.perf_counter()
    # Identical fits are identical under every relabelling: key them once.
    keys = design_keys(grid, data, specs.reset_index(drop=True))
    for start in range(0, n_permutations, chunk):
        stop = min(start + chunk, n_permutations)
        perms = permutation_indices(data.study, stop - start, seed, first=first + start)
        r = evaluate(grid, data, specs, perms, alpha=alpha, firth_test=firth_test, keys=keys)
        sl = slice(start, stop)
        out["estimate"][sl] = r.estimate
        with np.errstate(invalid="ignore", divide="ignore"):
            out["z"][sl] = sign * r.estimate / r.se
        out["p_value"][sl] = r.p_value
        done = stop
        # a long step: its progress goes to the rule's log
        if done == n_permutations or done // chunk % max(1, n_permutations // chunk // 10) == 0:
            log.info("permutations %d/%d (%.1f s)", done, n_permutations, time.perf_counter() - t0)
    out["seconds"] = np.array(time.perf_counter() - t0)
    return out


def join_permutation_shards(tables: list[list[dict[str, np.ndarray]]]) -> dict[str, np.ndarray]:
    """The (P, S) arrays of the whole grid from per-table lists of permutation shards (each a
    mapping with ``spec_id``, ``first`` and the ``estimate``/``z``/``p_value`` rows of its
    permutations): shards stacked in permutation order within a table, tables side by side.
    Raises ``ValueError`` when shards of a table are missing, overlap or disagree on the
    specifications, or tables have different numbers of permutations."""
    keys = ("estimate", "z", "p_value")
    per_table, ids = [], []
    for shards in tables:
        shards = sorted(shards, key=lambda a: int(a["first"]))
        expect = 0
        for a in shards:
            if int(a["first"]) != expect:
                raise ValueError(
                    f"permutation shards do not tile 0..P-1: expected a shard from {expect}, "
                    f"got one from {int(a['first'])}"
                )
            expect += a["estimate"].shape[0]
            if not np.array_equal(a["spec_id"], shards[0]["spec_id"]):
                raise ValueError("permutation shards of one table list different specifications")
        per_table.append({k: np.concatenate([a[k] for a in shards], axis=0) for k in keys})
        ids.append(shards[0]["spec_id"])
    if len({t["z"].shape[0] for t in per_table}) > 1:
        raise ValueError("tables have different numbers of permutations")
    out = {k: np.concatenate([t[k] for t in per_table], axis=1) for k in keys}
    out["spec_id"] = np.concatenate(ids)
    return out


def curve_statistics(z: np.ndarray, p: np.ndarray, alpha: float) -> dict[str, np.ndarray]:
    """Per row (curve) of aligned z and p: median_z, share_significant, stouffer_z."""
    z = np.atleast_2d(z).astype(float)
    p = np.atleast_2d(p).astype(float)
    sig = (p < alpha) & (z > 0)
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore", RuntimeWarning)
        median_z = np.nanmedian(z, axis=1)
        one_sided = np.where(z > 0, p / 2, 1 - p / 2)
        zz = stats.norm.isf(np.clip(one_sided, 1e-300, 1 - 1e-16))
        stouffer = np.nansum(zz, axis=1) / np.sqrt(np.sum(np.isfinite(zz), axis=1))
    return {
        "median_z": median_z,
        "share_significant": np.nanmean(np.where(np.isnan(p), False, sig), axis=1),
        "stouffer_z": stouffer,
    }


def joint_inference(
    observed: pd.DataFrame,
    perm: dict[str, np.ndarray],
    grid: Grid,
    *,
    alpha: float,
    n_permutations: int,
    seed: int,
    firth_test: str = "lrt",
) -> dict:
    """``joint_inference.json``: observed curve statistics and their permutation p values.

    ``observed`` is the specification table (rows in the same order as ``perm`` columns).
    ``firth_test`` must be the one the permutations used: with ``wald`` the observed Firth
    p values are recomputed as Wald p from ``statistic`` so both sides use the same test.
    """
    if firth_test not in ("lrt", "wald"):
        raise ValueError("firth_test must be 'lrt' or 'wald'")
    p_obs = observed["p_value"].to_numpy(float)
    if firth_test == "wald":
        firth = (
            (observed["estimator"] == "firth") & (observed["outcome_kind"] != "relative_change")
        ).to_numpy()
        p_obs = np.where(firth, 2 * stats.norm.sf(np.abs(observed["statistic"].to_numpy(float))), p_obs)
    sign = expected_sign(grid, observed)
    binary = (observed["outcome_kind"] != "relative_change").to_numpy()
    est = observed["estimate"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        log_est = np.where(binary, np.log(np.where(binary, est, 1.0)), est)
    z_obs = sign * observed["statistic"].to_numpy(float)
    obs = curve_statistics(z_obs, p_obs, alpha)
    null = curve_statistics(perm["z"], perm["p_value"], alpha)
    P = perm["z"].shape[0]
    result = {
        "method": "Simonsohn, Simmons & Nelson (2020) specification-curve inference; null by "
        "permutation of the BZD medication record within study",
        "n_specifications": int(len(observed)),
        "n_estimable": int(np.isfinite(observed["estimate"]).sum()),
        "n_permutations": int(P),
        "permutation_seed": int(seed),
        "firth_test": firth_test,
        "alpha": alpha,
        "expected_direction": "odds ratio of nonresponse > 1; mean difference in relative MADRS change < 0",
        "statistics": {},
        "median_estimate": {},
    }
    for name in ("median_z", "share_significant", "stouffer_z"):
        o = float(obs[name][0])
        n_ge = int(np.sum(null[name] >= o - 1e-12))
        with _warnings.catch_warnings():  # every relabelling without a curve: NaN, as null
            _warnings.simplefilter("ignore", RuntimeWarning)
            null_median = float(np.nanmedian(null[name]))
            null_95 = float(np.nanpercentile(null[name], 95))
        result["statistics"][name] = {
            "observed": o,
            "null_median": null_median,
            "null_95th_percentile": null_95,
            "permutation_p": (1 + n_ge) / (1 + P),
        }
    result["n_significant_expected_direction"] = int(round(obs["share_significant"][0] * len(observed)))
    # Median estimate per effect scale (comparable units only), with its own permutation p.
    fam = (
        observed["outcome_kind"].where(~binary, "binary")
        + ":"
        + observed["exposure_kind"].map(lambda k: k if k in ("log1p", "per_10mg") else "binary_exposure")
    )
    for key in sorted(fam.unique()):
        cols = (fam == key).to_numpy()
        sgn = sign[cols][0]
        with _warnings.catch_warnings():  # all-NaN columns give NaN (null), not a warning
            _warnings.simplefilter("ignore", RuntimeWarning)
            o = float(np.nanmedian(log_est[cols]))
            nul = np.nanmedian(perm["estimate"][:, cols], axis=1)
            null_median = np.nanmedian(nul)
        n_ge = int(np.sum(sgn * nul >= sgn * o - 1e-12))
        outcome, exposure = key.split(":")
        scale = "odds ratio" if outcome == "binary" else "mean difference"
        tr = np.exp if outcome == "binary" else (lambda v: v)
        result["median_estimate"][key] = {
            "scale": scale + ("" if exposure == "binary_exposure" else f" per unit of {exposure}"),
            "n_specifications": int(cols.sum()),
            "observed": float(tr(o)),
            "null_median": float(tr(null_median)),
            "permutation_p": (1 + n_ge) / (1 + P),
        }
    return result
