"""Snakemake entry point: ingest one study's raw export into validated, pseudonymized Parquet
(the patients of one partition)."""

import sys
from pathlib import Path

from ketamine_bzd.ingest import ingest_study
from ketamine_bzd.io import write_study_tables, write_table
from ketamine_bzd.provenance import KEY_FINGERPRINT_METADATA
from ketamine_bzd.runner import run
from ketamine_bzd.soft_problems import summary_line


def main(smk, log):
    study = smk.wildcards.study
    done = ingest_study(
        study,
        smk.params.format,
        {role: Path(smk.input[role]) for role in smk.params.roles},
        smk.params.key_file,
        smk.params.key_fingerprint,
        smk.params.raw_sha256,
        smk.params.options,
        {
            "drugs.csv": smk.input.drugs,
            "brands_cz.csv": smk.input.brands,
            "max_daily_doses.csv": smk.input.dose_limits,
            "sdtm_cmdecod.csv": smk.input.cmdecod,
        },
        partition=tuple(smk.params.partition),
    )
    tables = done.result.tables
    for warning in done.result.warnings:
        log.warning(warning)
    write_study_tables(tables, smk.output, {KEY_FINGERPRINT_METADATA: done.key_fingerprint})
    write_table(done.result.quarantine, smk.output.quarantine)
    write_table(done.report, smk.output.report)
    write_table(done.soft_problems, smk.output.soft_problems)
    for row in done.report.itertuples():
        log.info(
            "%s: read %d, accepted %d, quarantined %d, sha256 %s",
            row.file,
            row.rows_read,
            row.rows_accepted,
            row.rows_quarantined,
            row.sha256,
        )
    log.info(
        "%s, partition %d of %d: %d patients, %d rating rows, %d medication rows; key fingerprint %s",
        study,
        smk.params.partition[0],
        smk.params.partition[1],
        len(tables.subjects),
        len(tables.ratings),
        len(tables.medication),
        done.key_fingerprint,
    )
    # one line on the console, so soft problems are seen without opening the log
    print(summary_line(study, done.soft_problems), file=sys.stderr)


run(snakemake, main)  # noqa: F821
