"""Shared helpers: JSON-able result dataclasses and input checks."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd


def to_jsonable(value: Any) -> Any:
    """Convert numpy/pandas scalars, tuples and NaN to plain JSON values (NaN -> None)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, pd.DataFrame):
        return [to_jsonable(r) for r in value.to_dict(orient="records")]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return None if not math.isfinite(v) else v
    if value is pd.NA or value is None:
        return None
    return value


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
