"""Snakemake entry point: one specification of the multiverse, addressed by its dimensions."""

import json

from ketamine_bzd.io import read_table, write_json
from ketamine_bzd.multiverse.engine import prepare_data, specification_table
from ketamine_bzd.multiverse.grid import DIMENSIONS, build_grid
from ketamine_bzd.runner import run


def main(smk, log):
    p = smk.params
    wanted = {d: smk.wildcards[d] for d in DIMENSIONS}
    grid = build_grid({**p.multiverse, "tables": [wanted["table"]]}, [wanted["table"]], p.studies)
    spec_id = "|".join(wanted[d] for d in DIMENSIONS)
    excluded = grid.excluded[grid.excluded["spec_id"] == spec_id]
    if len(excluded):
        raise ValueError(f"specification {spec_id} is excluded: {excluded['reason'].iloc[0]}")
    row = grid.specifications[grid.specifications["spec_id"] == spec_id]
    if row.empty:
        raise ValueError(f"specification {spec_id} is not in the grid of config.yaml: multiverse")
    data = prepare_data(
        read_table(smk.input.patients),
        read_table(smk.input.medication_daily),
        grid,
        {wanted["table"]: smk.input.table},
    )
    result = specification_table(grid, data, row, alpha=p.multiverse["alpha"]).iloc[0]
    log.info("%s: estimate %s, p %s", spec_id, result["estimate"], result["p_value"])
    # pandas' JSON turns numpy scalars into JSON values and NaN into null
    write_json(
        json.loads(result.drop("data_source", errors="ignore").to_json()), smk.output[0], p.data_source
    )


run(snakemake, main)  # noqa: F821
