"""Snakemake entry point: ingest one study's raw export into validated, pseudonymized Parquet."""

import sys
from pathlib import Path

from ketamine_bzd.checksum import file_sha256
from ketamine_bzd.formats import FORMATS
from ketamine_bzd.io import write_study_tables, write_table
from ketamine_bzd.provenance import KEY_FINGERPRINT_METADATA
from ketamine_bzd.pseudonym import key_fingerprint, load_key
from ketamine_bzd.runner import run
from ketamine_bzd.shipped import use_resources
from ketamine_bzd.soft_problems import count_soft_problems, summary_line


def main(smk, log):
    study = smk.wildcards.study
    files = {role: Path(smk.input[role]) for role in smk.params.roles}
    key = load_key(smk.params.key_file)
    fingerprint = key_fingerprint(key)
    if fingerprint != smk.params.key_fingerprint:
        raise ValueError(
            f"the pseudonymization key changed while the workflow ran (fingerprint "
            f"{fingerprint}, expected {smk.params.key_fingerprint}); rerun the workflow"
        )
    # checksums before reading: what the results are built from (rules/common.smk compares the
    # configured user files' checksums at parse time, so that an edit reruns ingest)
    sha256 = {str(path): file_sha256(path) for path in files.values()}
    for role, path in files.items():
        expected = smk.params.raw_sha256.get(role)
        if expected is not None and expected != sha256[str(path)]:
            raise ValueError(f"study {study}, file {role} ({path}) changed while the workflow ran; "
                             "rerun the workflow")
    module = FORMATS[smk.params.format]
    # only formats with an Options class (sdtm) take options; the schema documents each key
    if smk.params.options and not hasattr(module, "Options"):
        raise ValueError(f"config: study {study!r}: format {smk.params.format} takes no options")
    options = {"options": dict(smk.params.options)} if smk.params.options else {}
    registers = {"drugs.csv": smk.input.drugs, "brands_cz.csv": smk.input.brands,
                 "max_daily_doses.csv": smk.input.dose_limits, "sdtm_cmdecod.csv": smk.input.cmdecod}
    with use_resources(registers):  # the rule's inputs, not the package's own copy
        result = module.read(study, files, key, **options)
    for warning in result.warnings:
        log.warning(warning)
    write_study_tables(result.tables, smk.output, {KEY_FINGERPRINT_METADATA: fingerprint})
    write_table(result.quarantine, smk.output.quarantine)
    report = result.report.assign(
        sha256=result.report["file"].map(sha256), key_fingerprint=fingerprint
    )
    write_table(report, smk.output.report)
    problems = count_soft_problems(study, result.warnings)
    write_table(problems, smk.output.soft_problems)
    for row in report.itertuples():
        log.info("%s: read %d, accepted %d, quarantined %d, sha256 %s", row.file, row.rows_read,
                 row.rows_accepted, row.rows_quarantined, row.sha256)
    log.info("%s: %d patients, %d rating rows, %d medication rows; key fingerprint %s", study,
             len(result.tables.subjects), len(result.tables.ratings), len(result.tables.medication),
             fingerprint)
    # one line on the console, so soft problems are seen without opening the log
    print(summary_line(study, problems), file=sys.stderr)


run(snakemake, main)  # noqa: F821
