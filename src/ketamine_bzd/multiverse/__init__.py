"""Multiverse (specification-curve) analysis of the paper's choices (issue 4).

The numerical kernels live in :mod:`ketamine_bzd.multiverse.kernels`; see its
docstring for the API and references.
"""

from .kernels import (
    AUCResult,
    FirthResult,
    LogitResult,
    OLSResult,
    fit_firth,
    fit_logit,
    fit_ols,
    midranks,
    permutation_indices,
    permute_within_strata,
    roc_auc,
)

__all__ = [
    "AUCResult",
    "FirthResult",
    "LogitResult",
    "OLSResult",
    "fit_firth",
    "fit_logit",
    "fit_ols",
    "midranks",
    "permutation_indices",
    "permute_within_strata",
    "roc_auc",
]
