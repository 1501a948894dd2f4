"""Snakemake entry point: ingest one study's raw export into validated, pseudonymized Parquet."""

from pathlib import Path

from ketamine_bzd.formats import FORMATS
from ketamine_bzd.io import write_study_tables, write_table
from ketamine_bzd.pseudonym import load_key
from ketamine_bzd.runner import run


def main(smk, log):
    study = smk.wildcards.study
    files = {role: Path(smk.input[role]) for role in smk.params.roles}
    result = FORMATS[smk.params.format].read(study, files, load_key(smk.params.key_file))
    for warning in result.warnings:
        log.warning(warning)
    write_study_tables(result.tables, smk.output)
    write_table(result.quarantine, smk.output.quarantine)
    write_table(result.report, smk.output.report)
    for row in result.report.itertuples():
        log.info("%s: read %d, accepted %d, quarantined %d", row.file, row.rows_read,
                 row.rows_accepted, row.rows_quarantined)
    log.info("%s: %d patients, %d rating rows, %d medication rows", study,
             len(result.tables.subjects), len(result.tables.ratings), len(result.tables.medication))


run(snakemake, main)  # noqa: F821
