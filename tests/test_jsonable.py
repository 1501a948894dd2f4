"""One place turns non-finite numbers into JSON null (ketamine_bzd.jsonable.finite_json): the
stats results' ``to_dict()``, the analysis blocks and ``io.write_json`` all go through it."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ketamine_bzd import jsonable
from ketamine_bzd.io import write_json
from ketamine_bzd.stats.result import Result


@dataclass
class _Fit(Result):
    estimate: float
    ci: tuple[float, float]
    n: np.int64
    table: pd.DataFrame
    flag: np.bool_


def _fit() -> _Fit:
    return _Fit(
        np.float64("nan"),
        (0.5, math.inf),
        np.int64(3),
        pd.DataFrame({"x": [1.0, np.nan], "g": ["a", pd.NA]}),
        np.bool_(True),
    )


def test_to_jsonable_gives_plain_json_with_null_for_every_non_finite_number():
    d = _fit().to_dict()
    assert d == {
        "estimate": None,
        "ci": [0.5, None],
        "n": 3,
        "table": [{"x": 1.0, "g": "a"}, {"x": None, "g": None}],
        "flag": True,
    }
    assert type(d["n"]) is int and type(d["flag"]) is bool
    json.dumps(d, allow_nan=False)


def test_the_null_comes_from_finite_json(monkeypatch):
    seen = []
    real = jsonable.finite_json

    def spy(obj, reasons=None):
        out = real(obj, reasons)
        seen.extend(r["path"] for r in out[1])
        return out

    monkeypatch.setattr(jsonable, "finite_json", spy)
    _fit().to_dict()
    assert seen[:3] == ["estimate", "ci[1]", "table[1].x"]


def test_write_json_gives_the_same_values_with_reasons(tmp_path):
    raw = {"estimate": np.float64("nan"), "warnings": ["no events"]}
    write_json(raw, tmp_path / "a.json")
    written = json.loads((tmp_path / "a.json").read_text())
    assert written["estimate"] is None and jsonable.to_jsonable(raw)["estimate"] is None
    assert written["warnings"] == ["no events", "estimate: not estimable (nan) - no events"]
