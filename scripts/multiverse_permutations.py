"""Snakemake entry point: one shard of the permutations of one equivalence table's specifications."""

import numpy as np

from ketamine_bzd.io import read_table
from ketamine_bzd.multiverse.engine import prepare_data
from ketamine_bzd.multiverse.grid import build_grid
from ketamine_bzd.multiverse.inference import permutation_curves, shard_bounds
from ketamine_bzd.runner import run


def main(smk, log):
    p = smk.params
    mv = p.multiverse
    first, stop = shard_bounds(mv["n_permutations"], p.n_shards)[p.shard]
    grid = build_grid({**mv, "tables": [p.table]}, [p.table], p.studies)
    data = prepare_data(
        read_table(smk.input.patients),
        read_table(smk.input.medication_daily),
        grid,
        {p.table: smk.input.table},
    )
    specs = grid.specifications
    curves = permutation_curves(
        grid,
        data,
        specs,
        stop - first,
        mv["permutation_seed"],
        alpha=mv["alpha"],
        firth_test=mv.get("permutation_firth_test", "lrt"),
        first=first,
    )
    log.info(
        "table %s, shard %d of %d: permutations %d..%d x %d specifications in %.1f s",
        p.table,
        p.shard + 1,
        p.n_shards,
        first,
        stop - 1,
        len(specs),
        float(curves["seconds"]),
    )
    np.savez_compressed(
        smk.output.permutations,
        spec_id=specs["spec_id"].to_numpy(str),
        first=np.array(first),
        **{k: v for k, v in curves.items() if k != "seconds"},
    )


run(snakemake, main)  # noqa: F821
