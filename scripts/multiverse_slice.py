"""Snakemake entry point: all specifications of one equivalence table on the observed data."""

from ketamine_bzd.io import read_table, write_table
from ketamine_bzd.multiverse.engine import prepare_data, specification_table
from ketamine_bzd.multiverse.grid import build_grid
from ketamine_bzd.runner import run


def main(smk, log):
    p = smk.params
    mv = p.multiverse
    grid = build_grid({**mv, "tables": [p.table]}, [p.table], p.studies)
    log.info(
        "table %s: %d specifications (%d excluded by rules)",
        p.table,
        len(grid.specifications),
        len(grid.excluded),
    )
    data = prepare_data(
        read_table(smk.input.patients),
        read_table(smk.input.medication_daily),
        grid,
        {p.table: smk.input.table},
    )
    for table, reason in data.failed_tables.items():
        log.warning("%s: its specifications are reported as failed", reason)
    specs = specification_table(grid, data, alpha=mv["alpha"])
    write_table(specs, smk.output.specifications, p.data_source)
    write_table(grid.excluded, smk.output.excluded, p.data_source)


run(snakemake, main)  # noqa: F821
