"""The multiverse stage in the default workflow: one specification on demand equals its row."""

import json

import pandas as pd
import pytest

from workflow_helpers import snakemake

pytestmark = pytest.mark.slow

PAPER = ("gt8mg", "response_any", "mean_dm1_d7", "paper", "all", "adjusted", "ml")


def test_one_specification_on_demand_matches_the_grid(default_run_copy):
    target = "results/multiverse/one/" + "/".join(PAPER) + ".json"
    snakemake(default_run_copy, target)
    one = json.loads((default_run_copy / target).read_text())
    grid = pd.read_parquet(default_run_copy / "results/multiverse/specifications.parquet")
    row = grid[grid["spec_id"] == "|".join(PAPER)].iloc[0]
    assert one["data_source"].startswith("synthetic")
    for key in ("estimate", "ci_low", "ci_high", "p_value", "n", "n_exposed", "n_events"):
        assert one[key] == pytest.approx(row[key], rel=1e-9), key
    assert bool(row["is_paper"])


def test_an_excluded_specification_says_why(default_run_copy):
    excluded = ("roc_youden", "rel_change_day7", "mean_dm1_d7", "paper", "all", "unadjusted", "ml")
    proc = snakemake(default_run_copy, "results/multiverse/one/" + "/".join(excluded) + ".json", check=False)
    assert proc.returncode != 0
    assert "ROC cut-off needs a binary status" in proc.stderr


def test_default_grid_size_and_outputs(default_run):
    specs = pd.read_parquet(default_run / "results/multiverse/specifications.parquet")
    assert len(specs) >= 1000
    assert specs["spec_id"].is_unique and specs["is_paper"].sum() == 1
    joint = json.loads((default_run / "results/multiverse/joint_inference.json").read_text())
    assert joint["data_source"].startswith("synthetic")
