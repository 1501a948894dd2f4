"""Permutation of an exposure within strata (see ``kernels``)."""

from __future__ import annotations

from typing import Any

import numpy as np


def permutation_indices(strata: Any, n_permutations: int,
                        seed: int | np.random.Generator | None) -> np.ndarray:
    """(n_permutations, n) patient indices; row k maps each patient to the
    patient whose exposure it receives, shuffled only within its stratum
    (study), so stratum composition is kept in every permutation.

    Use the same indices for every specification so that joint (multiverse)
    inference compares whole curves under one relabelling (Simonsohn,
    Simmons & Nelson 2020). ``seed`` is passed to numpy.random.default_rng.
    """
    strata = np.asarray(strata)
    if strata.ndim != 1:
        raise ValueError("strata must be one-dimensional (one label per patient)")
    if n_permutations < 1:
        raise ValueError("n_permutations must be >= 1")
    if strata.dtype.kind == "f" and np.isnan(strata).any():
        raise ValueError("strata contain NaN")
    if strata.dtype.kind == "O" and any(v is None or v != v for v in strata):
        raise ValueError("strata contain missing values")
    rng = np.random.default_rng(seed)
    n = strata.shape[0]
    out = np.empty((n_permutations, n), dtype=np.intp)
    for label in np.unique(strata):
        idx = np.flatnonzero(strata == label)
        out[:, idx] = rng.permuted(np.tile(idx, (n_permutations, 1)), axis=1)
    return out


def permute_within_strata(values: Any, strata: Any, n_permutations: int,
                          seed: int | np.random.Generator | None) -> np.ndarray:
    """``values`` ((n,) or (n, k) per patient) permuted within strata:
    returns (n_permutations, n) or (n_permutations, n, k). Columns of a 2-D
    ``values`` move together (e.g. dose and exposure indicator)."""
    values = np.asarray(values)
    if values.shape[0] != np.asarray(strata).shape[0]:
        raise ValueError("values and strata must have the same number of patients")
    return values[permutation_indices(strata, n_permutations, seed)]
