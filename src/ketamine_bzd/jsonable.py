"""Plain JSON values from the package's results: the one place where a number that is not finite
(NaN, +-inf) becomes ``null``.

``finite_json`` does it and records every replacement with its reason (``io.write_json`` adds
them to the file's ``warnings``); ``to_jsonable`` turns result dataclasses and frames into plain
dicts and lists and hands them to ``finite_json`` (``stats`` results' ``to_dict()``, the
analysis blocks).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd

NOT_ESTIMABLE = "not estimable"


def _nearest_reason(stack: list[dict]) -> str | None:
    """The reason an analysis gave next to a value: the nearest enclosing object's ``error``,
    ``reason`` or ``warnings`` (a list or a "; "-joined string)."""
    for obj in reversed(stack):
        for key in ("error", "reason", "warnings"):
            v = obj.get(key)
            if isinstance(v, list) and v:
                return "; ".join(map(str, v))
            if isinstance(v, str) and v:
                return v
    return None


def finite_json(obj, reasons: dict[str, str] | None = None) -> tuple[object, list[dict]]:
    """``obj`` with every non-finite float (NaN, +-inf) replaced by ``None``, and one record
    ``{"path", "value", "reason"}`` per replacement.

    The reason is, in this order: ``reasons[prefix]`` for the longest matching path prefix
    (given by the caller), the nearest enclosing object's ``error``/``reason``/``warnings``,
    or a plain "no reason given". numpy scalars become Python numbers.
    """
    reasons = reasons or {}
    found: list[dict] = []

    def reason_for(path: str, stack: list[dict]) -> str:
        prefixes = [p for p in reasons if path == p or path.startswith((p + ".", p + "["))]
        if prefixes:
            return reasons[max(prefixes, key=len)]
        return _nearest_reason(stack) or "no reason given by the analysis"

    def walk(value, path: str, stack: list[dict]):
        if isinstance(value, dict):
            inner = stack + [value]
            return {str(k): walk(v, f"{path}.{k}" if path else str(k), inner) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(v, f"{path}[{i}]", stack) for i, v in enumerate(value)]
        if isinstance(value, np.ndarray):
            return walk(value.tolist(), path, stack)
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, np.integer):
            return int(value)
        if isinstance(value, (float, np.floating)):
            v = float(value)
            if math.isfinite(v):
                return v
            found.append({"path": path, "value": str(v), "reason": reason_for(path, stack)})
            return None
        return value

    return walk(obj, "", []), found


def _plain(value: Any) -> Any:
    """Dataclasses, frames, dicts and sequences as plain dicts and lists; ``pd.NA`` as None.
    Numbers are left to ``finite_json``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, pd.DataFrame):
        return [_plain(r) for r in value.to_dict(orient="records")]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if value is pd.NA:
        return None
    return value


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON values: dataclasses and frames (records) as dicts and lists,
    numpy scalars as Python numbers, NaN and infinity as None (by ``finite_json``)."""
    return finite_json(_plain(value))[0]
