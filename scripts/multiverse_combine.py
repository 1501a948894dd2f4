"""Snakemake entry point: the whole specification table, joint inference and the figures."""

from pathlib import Path

import numpy as np
import pandas as pd

from ketamine_bzd.io import read_table, write_json, write_table
from ketamine_bzd.multiverse.grid import build_grid
from ketamine_bzd.multiverse.inference import join_permutation_shards, joint_inference
from ketamine_bzd.multiverse.plots import (
    forest_plot,
    one_at_a_time,
    specification_curve,
)
from ketamine_bzd.runner import run


def main(smk, log):
    p = smk.params
    mv = p.multiverse
    grid = build_grid(mv, p.tables, p.studies)
    specs = pd.concat(
        [read_table(f).drop(columns="data_source") for f in smk.input.specifications], ignore_index=True
    )
    shards = {t: [] for t in p.tables}  # a table's shards are files slices/<table>/permutations/<k>.npz
    for f in smk.input.permutations:
        shards[Path(f).parent.parent.name].append(dict(np.load(f)))
    perm = join_permutation_shards([shards[t] for t in p.tables])
    ids = perm.pop("spec_id")
    if not (ids == specs["spec_id"].to_numpy(str)).all():
        raise ValueError("permutation arrays and specification tables are out of step")
    if len(specs) != len(grid.specifications):
        raise ValueError(
            f"{len(specs)} specifications from the slices, grid declares {len(grid.specifications)}"
        )
    write_table(specs, smk.output.parquet, p.data_source)
    write_table(specs, smk.output.csv, p.data_source)
    result = joint_inference(
        specs,
        perm,
        grid,
        alpha=mv["alpha"],
        n_permutations=mv["n_permutations"],
        seed=mv["permutation_seed"],
        firth_test=mv.get("permutation_firth_test", "lrt"),
    )
    result["n_failed"] = int((specs["status"] == "failed").sum())
    result["n_not_estimable"] = int((specs["status"] == "not_estimable").sum())
    result["n_excluded_by_rules"] = int(len(grid.excluded))
    result["paper_specification"] = specs.loc[
        specs["is_paper"], ["spec_id", "status", "estimate", "ci_low", "ci_high", "p_value", "warnings"]
    ].to_dict("records")
    # the curve statistics are medians / shares over specifications (and permutations): with
    # no finite estimate among them they are undefined, and the JSON writer says so
    why = (
        f"undefined: {len(specs) - result['n_estimable']} of {len(specs)} specifications have no finite "
        "estimate (status not_estimable or failed in specifications.csv, with their warnings)"
    )
    write_json(result, smk.output.joint, p.data_source, reasons={"statistics": why, "median_estimate": why})
    log.info("joint inference: %s", result["statistics"])
    write_table(one_at_a_time(specs), smk.output.one_at_a_time, p.data_source)
    specification_curve(
        specs,
        smk.output.curve,
        alpha=mv["alpha"],
        dpi=p.dpi,
        title=f"Specification curve — {p.data_source}",
        joint=result,
    )
    forest_plot(specs, smk.output.forest, dpi=p.dpi)


run(snakemake, main)  # noqa: F821
