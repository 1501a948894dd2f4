"""Snakemake entry point: bootstrap of the ROC cut-off and optimism-corrected AUC (paper's spec)."""

import numpy as np
import pandas as pd

from ketamine_bzd.io import read_table, write_json, write_table
from ketamine_bzd.multiverse.bootstrap import cutoff_bootstrap
from ketamine_bzd.multiverse.engine import population_masks, prepare_data
from ketamine_bzd.multiverse.grid import build_grid
from ketamine_bzd.multiverse.plots import cutoff_bootstrap_plot
from ketamine_bzd.runner import run


def main(smk, log):
    p = smk.params
    mv = p.multiverse
    paper = mv["paper"]
    grid = build_grid({**mv, "tables": [paper["table"]]}, [paper["table"]], p.studies)
    data = prepare_data(
        read_table(smk.input.patients),
        read_table(smk.input.medication_daily),
        grid,
        {paper["table"]: smk.input.table},
    )
    if data.failed_tables:
        raise ValueError(next(iter(data.failed_tables.values())))
    dose = data.dose[(paper["table"], paper["window"])]
    y = data.outcome[paper["outcome"]]
    cols = grid.adjustments[paper["adjustment"]]
    Z = np.column_stack([data.covariate[c] for c in cols]) if cols else np.empty((data.n, 0))
    pop = population_masks(
        grid, [paper["population"]], data.bzd_user[None], data.as_needed_only[None], data.study
    )[0, 0]
    keep = pop & np.isfinite(y) & np.isfinite(Z).all(axis=1)
    n_missing = int((pop & ~keep).sum())
    if n_missing:
        log.warning("%d patients of the population left out (missing outcome or covariate)", n_missing)
    b = mv["bootstrap"]
    method = (
        "stratified bootstrap of the Youden cut-off (nonresponse); Harrell's optimism "
        "correction of the AUC of cut-off + adjusted logistic model"
    )
    head = {
        "method": method,
        "specification": paper,
        "n_patients": int(keep.sum()),
        "n_left_out_missing": n_missing,
    }
    try:
        r = cutoff_bootstrap(dose[keep], y[keep], Z[keep], n_boot=b["n"], seed=b["seed"], alpha=mv["alpha"])
    except ValueError as err:  # e.g. one outcome class only: nothing to discriminate
        log.warning("cut-off bootstrap not estimable: %s", err)
        write_table(
            pd.DataFrame({"resample": pd.Series(dtype="int64"), "cutoff_mg": pd.Series(dtype=float)}),
            smk.output.resamples,
            p.data_source,
        )
        write_json(
            {
                **head,
                "estimable": False,
                "error": str(err),
                "warnings": [f"cut-off bootstrap not computed: {err}"],
            },
            smk.output.summary,
            p.data_source,
        )
        cutoff_bootstrap_plot(
            pd.DataFrame({"cutoff_mg": []}),
            float("nan"),
            smk.output.figure,
            corrected_auc=float("nan"),
            apparent_auc=float("nan"),
            dpi=p.dpi,
        )
        return
    write_table(r.resamples, smk.output.resamples, p.data_source)
    summary = {k: v for k, v in r.__dict__.items() if k != "resamples"}
    summary = {
        **head,
        "estimable": True,
        **{k: (list(v) if isinstance(v, tuple) else v) for k, v in summary.items()},
    }
    write_json(summary, smk.output.summary, p.data_source)
    cutoff_bootstrap_plot(
        r.resamples,
        r.observed_cutoff_mg,
        smk.output.figure,
        corrected_auc=r.corrected_auc_model,
        apparent_auc=r.apparent_auc_model,
        dpi=p.dpi,
    )


run(snakemake, main)  # noqa: F821
