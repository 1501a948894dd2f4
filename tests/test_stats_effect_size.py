"""Hedges' g and t tests vs R effectsize::hedges_g / t.test (tests/reference/out)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ketamine_bzd.stats.effect_size import group_difference_tests, hedges_g

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "out" / "effect_size.json").read_text())
COLS = ["madrs_rel_change_day1", "madrs_rel_change_day3", "madrs_rel_change_day7"]


@pytest.mark.parametrize("name", ["paper_shaped", "ties_zeros"])
def test_relative_change_matches_effectsize(name):
    d = pd.read_csv(REF / "data" / f"{name}.csv")
    tab = group_difference_tests(d, "bzd_plus", COLS, groups=[False, True])
    for _, row in tab.iterrows():
        ref = R[name][row["variable"]]
        assert row["hedges_g"] == pytest.approx(ref["g"], abs=1e-9)
        assert row["cohen_d"] == pytest.approx(ref["d"], abs=1e-9)
        # effectsize inverts the noncentral t with its own root finder (tolerance ~1e-7)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(tuple(ref["ci"]), abs=1e-6)
        assert row["t"] == pytest.approx(ref["t"], abs=1e-9)
        assert row["p_value"] == pytest.approx(ref["p"], abs=1e-9)
        assert row["p_welch"] == pytest.approx(ref["p_welch"], abs=1e-9)
    normal = group_difference_tests(d, "bzd_plus", COLS, groups=[False, True], ci_method="normal")
    for _, row in normal.iterrows():
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(
            tuple(R[name][row["variable"]]["ci_normal"]), abs=1e-9
        )


def test_small_example():
    r = hedges_g([1, 2, 3, 4, 5], [3, 4, 5, 6, 7, 9])
    ref = R["small"]
    assert r.hedges_g == pytest.approx(ref["g"], abs=1e-9)
    assert r.ci == pytest.approx(tuple(ref["ci"]), abs=1e-6)
    json.dumps(r.to_dict())


def test_bad_input():
    with pytest.raises(ValueError, match="at least 2"):
        hedges_g([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="pooled SD is 0"):
        hedges_g([1.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="missing"):
        hedges_g([1.0, np.nan, 2.0], [1.0, 2.0])
    d = pd.DataFrame({"g": [True] * 3, "v": [1.0, 2.0, 3.0]})
    # an empty group keeps its row, statistics undefined and the reason in `warnings`
    row = group_difference_tests(d, "g", ["v"], groups=[False, True]).iloc[0]
    assert (row["n_1"], row["n_2"]) == (0, 3) and "hedges_g" not in row.index
    assert row["warnings"] == "not estimable: hedges_g needs at least 2 patients per group, got 0 and 3"
