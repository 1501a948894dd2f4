"""Snakemake entry point: one ingest report and one quarantine table for all studies, summed
over the partitions."""

from ketamine_bzd.io import read_table, write_table
from ketamine_bzd.parts import combine_quarantine, combine_reports, combine_soft_problems
from ketamine_bzd.runner import run


def main(smk, log):
    report = combine_reports([read_table(p) for p in smk.input.reports])
    bad = report[report["rows_read"] != report["rows_accepted"] + report["rows_quarantined"]]
    if len(bad):
        raise ValueError(f"ingest counts do not reconcile:\n{bad.to_string(index=False)}")
    quarantine = combine_quarantine([read_table(p) for p in smk.input.quarantine], smk.params.n_partitions)
    problems = combine_soft_problems([read_table(p) for p in smk.input.soft_problems])
    write_table(report, smk.output.report, smk.params.data_source)
    write_table(quarantine, smk.output.quarantine, smk.params.data_source)
    write_table(problems, smk.output.soft_problems, smk.params.data_source)
    log.info(
        "%d files in %d partition(s), %d rows read, %d quarantined, %d soft problems",
        len(report),
        smk.params.n_partitions,
        report["rows_read"].sum(),
        report["rows_quarantined"].sum(),
        problems["count"].sum(),
    )


run(snakemake, main)  # noqa: F821
