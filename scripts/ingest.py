"""Snakemake entry point: ingest one study's raw export into validated, pseudonymized Parquet,
one set of files per partition of patients (the raw files are decoded once)."""

import sys
from pathlib import Path

from ketamine_bzd.ingest import ingest_partitions
from ketamine_bzd.io import write_study_tables, write_table
from ketamine_bzd.parts import combine_soft_problems
from ketamine_bzd.provenance import KEY_FINGERPRINT_METADATA
from ketamine_bzd.runner import run
from ketamine_bzd.soft_problems import summary_line


def main(smk, log):
    study = smk.wildcards.study
    count = smk.params.n_partitions
    ingested = ingest_partitions(
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
        count=count,
        text_as_categories=True,  # the large tables written from their codes
    )
    outputs = ("subjects", "ratings", "medication", "quarantine", "report", "soft_problems")
    problems = []
    for part, done in enumerate(ingested):
        paths = {name: smk.output[name][part] for name in outputs}
        write_partition(done, paths, log)
        log.info(
            "%s, partition %d of %d: %d patients, %d rating rows, %d medication rows; key fingerprint %s",
            study,
            part,
            count,
            len(done.result.tables.subjects),
            len(done.result.tables.ratings),
            len(done.result.tables.medication),
            done.key_fingerprint,
        )
        problems.append(done.soft_problems)
        del done  # one partition's tables in memory at a time
    # one line on the console, so soft problems are seen without opening the log
    print(summary_line(study, combine_soft_problems(problems)), file=sys.stderr)


def write_partition(done, paths, log):
    tables = done.result.tables
    for warning in done.result.warnings:
        log.warning(warning)
    write_study_tables(tables, paths, {KEY_FINGERPRINT_METADATA: done.key_fingerprint})
    write_table(done.result.quarantine, paths["quarantine"])
    write_table(done.report, paths["report"])
    write_table(done.soft_problems, paths["soft_problems"])
    for row in done.report.itertuples():
        log.info(
            "%s: read %d, accepted %d, quarantined %d, sha256 %s",
            row.file,
            row.rows_read,
            row.rows_accepted,
            row.rows_quarantined,
            row.sha256,
        )


run(snakemake, main)  # noqa: F821
