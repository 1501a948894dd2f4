"""Multiverse (specification-curve) analysis of the paper's choices (issue 4).

The numerical kernels live in :mod:`ketamine_bzd.multiverse.kernels`; see its
docstring for the API and references. The grid (:mod:`.grid`), batched engine
(:mod:`.engine`), joint inference (:mod:`.inference`), cut-off bootstrap
(:mod:`.bootstrap`) and figures (:mod:`.plots`, imported on demand: matplotlib)
are described in ``docs/multiverse.md``.
"""

from . import kernels
from .bootstrap import CutoffBootstrapResult, cutoff_bootstrap
from .engine import PatientData, evaluate, prepare_data, specification_table
from .grid import DIMENSIONS, Grid, build_grid
from .inference import joint_inference, permutation_curves
from .kernels import *  # noqa: F403 - the kernels' names (kernels.__all__) are the package's too

__all__ = [
    "DIMENSIONS",
    "CutoffBootstrapResult",
    "Grid",
    "PatientData",
    "build_grid",
    "cutoff_bootstrap",
    "evaluate",
    "joint_inference",
    "permutation_curves",
    "prepare_data",
    "specification_table",
    *kernels.__all__,
]
