"""Sharded permutations (issue 10): permutation i depends only on (seed, i), so shards of the
permutations computed separately, with chunk boundaries anywhere, join to the unsharded arrays
bit for bit; the joint inference is then the same."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import yaml

from ketamine_bzd.cohort import CohortSettings, add_equivalents, derive, merge
from ketamine_bzd.equivalents import load_table
from ketamine_bzd.multiverse.engine import prepare_data, specification_table
from ketamine_bzd.multiverse.grid import build_grid
from ketamine_bzd.multiverse.inference import (
    join_permutation_shards,
    joint_inference,
    permutation_curves,
    shard_bounds,
)
from ketamine_bzd.multiverse.kernels import permutation_indices
from ketamine_bzd.synthetic import generate_cohort

REPO = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
TABLES = {k: str(REPO / v) for k, v in CONFIG["equivalents"]["diazepam_tables"].items()}
KEYS = ("estimate", "z", "p_value")


@pytest.fixture(scope="module")
def observed():
    merged = merge(list(generate_cohort().values()))
    med = add_equivalents(
        merged.medication,
        load_table(TABLES["paper"]),
        load_table(REPO / "resources/equivalents/fluoxetine_hayasaka2015.csv"),
    )
    c = derive(merged, med, CohortSettings())
    grid = build_grid(CONFIG["multiverse"], list(TABLES), list(CONFIG["studies"]))
    data = prepare_data(c.patients, c.medication_daily, grid, TABLES)
    specs = grid.specifications.iloc[::30]
    return grid, data, specs, specification_table(grid, data, specs)


def test_shard_bounds_tile_the_permutations():
    assert shard_bounds(10, 4) == [(0, 2), (2, 5), (5, 7), (7, 10)]
    assert shard_bounds(3, 8) == [(0, 1), (1, 2), (2, 3)]
    assert shard_bounds(1000, 1) == [(0, 1000)]
    for p, k in ((1000, 4), (7, 3), (5, 5)):
        b = shard_bounds(p, k)
        assert b[0][0] == 0 and b[-1][1] == p and all(x[1] == y[0] for x, y in itertools.pairwise(b))
    with pytest.raises(ValueError):
        shard_bounds(10, 0)


def test_permutation_i_depends_only_on_seed_and_i():
    strata = np.repeat(["a", "b", "c"], [5, 9, 4])
    whole = permutation_indices(strata, 12, 7)
    np.testing.assert_array_equal(
        np.vstack([permutation_indices(strata, 5, 7), permutation_indices(strata, 7, 7, first=5)]), whole
    )
    np.testing.assert_array_equal(permutation_indices(strata, 1, 7, first=11)[0], whole[11])
    assert not np.array_equal(whole, permutation_indices(strata, 12, 8))
    for row in whole:  # within-stratum permutations
        for s in np.unique(strata):
            idx = np.flatnonzero(strata == s)
            assert sorted(row[idx]) == list(idx)


def test_sharded_curves_equal_unsharded(observed):
    grid, data, specs, sub = observed
    n_perm, seed = 7, 13
    whole = permutation_curves(grid, data, specs, n_perm, seed, chunk=4)
    shards = []
    for first, stop in shard_bounds(n_perm, 3):  # 2 + 2 + 3: chunk boundaries differ from the whole run
        part = permutation_curves(grid, data, specs, stop - first, seed, chunk=4, first=first)
        shards.append({"first": first, "spec_id": sub["spec_id"].to_numpy(str), **{k: part[k] for k in KEYS}})
    joined = join_permutation_shards([shards[::-1]])  # order of the files does not matter
    for k in KEYS:
        np.testing.assert_array_equal(joined[k], whole[k])
    a = joint_inference(sub, whole, grid, alpha=0.05, n_permutations=n_perm, seed=seed)
    b = joint_inference(sub, joined, grid, alpha=0.05, n_permutations=n_perm, seed=seed)
    assert a == b


def test_join_rejects_gaps_and_mismatches():
    ids = np.array(["s1", "s2"])
    shard = {"spec_id": ids, **{k: np.zeros((2, 2), np.float32) for k in KEYS}}
    with pytest.raises(ValueError, match="do not tile"):
        join_permutation_shards([[{**shard, "first": 0}, {**shard, "first": 3}]])
    with pytest.raises(ValueError, match="different specifications"):
        join_permutation_shards([[{**shard, "first": 0}, {**shard, "first": 2, "spec_id": ids[::-1]}]])
    with pytest.raises(ValueError, match="different numbers"):
        join_permutation_shards([[{**shard, "first": 0}], [{**shard, "first": 0}, {**shard, "first": 2}]])
    two = join_permutation_shards(
        [[{**shard, "first": 0}], [{**shard, "first": 0, "spec_id": np.array(["s3", "s4"])}]]
    )
    assert two["z"].shape == (2, 4) and list(two["spec_id"]) == ["s1", "s2", "s3", "s4"]


@pytest.mark.slow  # the observed fits with profile CIs, three times
def test_specification_blocks_give_the_results_of_one_batch(observed, monkeypatch):
    """Memory-bounded batches (engine.BATCH_MEMORY_BYTES): fitting the specifications in blocks
    of 5, 13 or all gives the same arrays bit for bit, observed (with the profile CIs and
    warnings) and under permutation."""
    from ketamine_bzd.multiverse import engine

    grid, data, specs, _ = observed
    perms = permutation_indices(data.study, 3, 11)
    whole_obs = engine.evaluate(grid, data, specs)
    whole_perm = engine.evaluate(grid, data, specs, perms)
    assert engine.specification_block(3, data.n) >= len(specs)  # the default: one batch here
    assert engine.specification_block(16, 100_000) == 2**28 // (16 * 100_000 * 64)
    assert engine.specification_block(16, 10**7) == 1
    for block in (5, 13):
        monkeypatch.setattr(engine, "specification_block", lambda n_relabel, n, b=block: b)
        for whole, got in (
            (whole_obs, engine.evaluate(grid, data, specs)),
            (whole_perm, engine.evaluate(grid, data, specs, perms)),
        ):
            for name in (
                "estimate",
                "se",
                "p_value",
                "ci_low",
                "ci_high",
                "n",
                "n_exposed",
                "n_events",
                "cutoff_mg",
            ):
                np.testing.assert_array_equal(getattr(got, name), getattr(whole, name), err_msg=name)
            assert list(got.method) == list(whole.method)
            assert got.warnings == whole.warnings
