"""The multiverse stage in the default workflow: one specification on demand equals its row."""

import json

import pandas as pd
import pytest
import yaml

from ketamine_bzd.multiverse.grid import build_grid

from workflow_helpers import snakemake

pytestmark = pytest.mark.slow

PAPER = ("gt8mg", "response_any", "mean_dm1_d7", "paper", "all", "adjusted", "ml")


@pytest.mark.integration
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


@pytest.mark.integration
def test_an_excluded_specification_says_why(default_run_copy):
    excluded = ("roc_youden", "rel_change_day7", "mean_dm1_d7", "paper", "all", "unadjusted", "ml")
    proc = snakemake(default_run_copy, "results/multiverse/one/" + "/".join(excluded) + ".json", check=False)
    assert proc.returncode != 0
    assert "ROC cut-off needs a binary status" in proc.stderr


def test_grid_size_and_outputs(default_run):
    """Every specification of the run's grid (tests/config-test.yaml trims it) has its row."""
    config = yaml.safe_load((default_run / "config.yaml").read_text())
    tables = list(config["equivalents"]["diazepam_tables"])
    grid = build_grid(config["multiverse"], tables, list(config["studies"]))
    specs = pd.read_parquet(default_run / "results/multiverse/specifications.parquet")
    assert sorted(specs["spec_id"]) == sorted(grid.specifications["spec_id"])
    assert len(specs) == 2 * 480
    assert specs["spec_id"].is_unique and specs["is_paper"].sum() == 1
    joint = json.loads((default_run / "results/multiverse/joint_inference.json").read_text())
    assert joint["data_source"].startswith("synthetic")
