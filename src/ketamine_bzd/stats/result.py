"""Shared by the statistics modules: JSON-able result dataclasses and input checks."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ..jsonable import to_jsonable


class Result:
    """Mixin for result dataclasses: ``to_dict()`` gives snake_case JSON-able output."""

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)


def require_columns(frame: pd.DataFrame, columns: list[str] | tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"missing column(s) {missing}; available: {list(frame.columns)}")


def clopper_pearson(k: float, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact (Clopper-Pearson 1934) binomial CI; ``k`` may be non-integer (MedCalc AUC CI)."""
    from scipy.stats import beta

    if n <= 0:
        return (math.nan, math.nan)
    lo = 0.0 if k <= 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k >= n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return (lo, hi)
