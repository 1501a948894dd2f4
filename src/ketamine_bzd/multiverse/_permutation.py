"""Permutation of an exposure within strata (see ``kernels``)."""

from __future__ import annotations

from typing import Any

import numpy as np


def permutation_indices(
    strata: Any, n_permutations: int, seed: int | np.random.Generator | None, *, first: int = 0
) -> np.ndarray:
    """(n_permutations, n) patient indices; row k maps each patient to the
    patient whose exposure it receives, shuffled only within its stratum
    (study), so stratum composition is kept in every permutation.

    Use the same indices for every specification so that joint (multiverse)
    inference compares whole curves under one relabelling (Simonsohn,
    Simmons & Nelson 2020). Row k is permutation number ``first + k``, drawn
    from its own stream ``SeedSequence(seed, spawn_key=(first + k,))``
    (numpy's independent child streams), so permutation i depends only on
    (seed, i): any split of 0..P-1 into shards computed separately joins to
    the same P rows. A ``Generator`` (or None) seed gives the entropy drawn
    from it (or fresh entropy).
    """
    strata = np.asarray(strata)
    if strata.ndim != 1:
        raise ValueError("strata must be one-dimensional (one label per patient)")
    if n_permutations < 1:
        raise ValueError("n_permutations must be >= 1")
    if first < 0:
        raise ValueError("first must be >= 0")
    if strata.dtype.kind == "f" and np.isnan(strata).any():
        raise ValueError("strata contain NaN")
    if strata.dtype.kind == "O" and any(v is None or v != v for v in strata):
        raise ValueError("strata contain missing values")
    if isinstance(seed, np.random.Generator):
        entropy = int(seed.integers(2**63))
    elif seed is None:
        entropy = np.random.SeedSequence().entropy
    else:
        entropy = int(seed)
    groups = [np.flatnonzero(strata == label) for label in np.unique(strata)]
    out = np.empty((n_permutations, strata.shape[0]), dtype=np.intp)
    for k in range(n_permutations):
        rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(first + k,)))
        for idx in groups:
            out[k, idx] = rng.permutation(idx)
    return out


def permute_within_strata(
    values: Any, strata: Any, n_permutations: int, seed: int | np.random.Generator | None
) -> np.ndarray:
    """``values`` ((n,) or (n, k) per patient) permuted within strata:
    returns (n_permutations, n) or (n_permutations, n, k). Columns of a 2-D
    ``values`` move together (e.g. dose and exposure indicator)."""
    values = np.asarray(values)
    if values.shape[0] != np.asarray(strata).shape[0]:
        raise ValueError("values and strata must have the same number of patients")
    return values[permutation_indices(strata, n_permutations, seed)]
