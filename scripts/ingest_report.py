"""Snakemake entry point: one ingest report and one quarantine table for all studies."""

import pandas as pd

from ketamine_bzd.io import read_table, write_table
from ketamine_bzd.runner import run


def main(smk, log):
    report = pd.concat([read_table(p) for p in smk.input.reports], ignore_index=True)
    bad = report[report["rows_read"] != report["rows_accepted"] + report["rows_quarantined"]]
    if len(bad):
        raise ValueError(f"ingest counts do not reconcile:\n{bad.to_string(index=False)}")
    quarantine = pd.concat([read_table(p) for p in smk.input.quarantine], ignore_index=True)
    problems = pd.concat([read_table(p) for p in smk.input.soft_problems], ignore_index=True)
    write_table(report, smk.output.report, smk.params.data_source)
    write_table(quarantine, smk.output.quarantine, smk.params.data_source)
    write_table(problems, smk.output.soft_problems, smk.params.data_source)
    log.info("%d files, %d rows read, %d quarantined, %d soft problems", len(report),
             report["rows_read"].sum(), report["rows_quarantined"].sum(), problems["count"].sum())


run(snakemake, main)  # noqa: F821
