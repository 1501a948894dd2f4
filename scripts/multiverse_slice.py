"""Snakemake entry point: all specifications of one equivalence table, observed and permuted."""

import numpy as np

from ketamine_bzd.io import read_table, write_table
from ketamine_bzd.multiverse.engine import prepare_data, specification_table
from ketamine_bzd.multiverse.grid import build_grid
from ketamine_bzd.multiverse.inference import permutation_curves
from ketamine_bzd.runner import run


def main(smk, log):
    p = smk.params
    mv = p.multiverse
    grid = build_grid({**mv, "tables": [p.table]}, [p.table], p.studies)
    log.info("table %s: %d specifications (%d excluded by rules)", p.table,
             len(grid.specifications), len(grid.excluded))
    data = prepare_data(read_table(smk.input.patients), read_table(smk.input.medication_daily),
                        grid, {p.table: smk.input.table})
    for table, reason in data.failed_tables.items():
        log.warning("%s: its specifications are reported as failed", reason)
    specs = specification_table(grid, data, alpha=mv["alpha"])
    write_table(specs, smk.output.specifications, p.data_source)
    write_table(grid.excluded, smk.output.excluded, p.data_source)
    curves = permutation_curves(grid, data, grid.specifications, mv["n_permutations"],
                                mv["permutation_seed"], alpha=mv["alpha"],
                                firth_test=mv.get("permutation_firth_test", "lrt"))
    log.info("%d permutations x %d specifications in %.1f s", mv["n_permutations"],
             len(specs), float(curves["seconds"]))
    np.savez_compressed(smk.output.permutations, spec_id=specs["spec_id"].to_numpy(str),
                        **{k: v for k, v in curves.items() if k != "seconds"})


run(snakemake, main)  # noqa: F821
