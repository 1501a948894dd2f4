"""Snakemake entry point: the partitions' cohorts joined into one (the patients as one file,
streamed; the visits and intakes as Parquet datasets of the partitions' files), records shared
between studies dropped, the cohort summary and provenance."""

import pandas as pd

from ketamine_bzd.cohort import SUMMARY_INPUT_COLUMNS, summarize
from ketamine_bzd.io import DATA_SOURCE_COLUMN, read_parquet_metadata, read_table, write_table
from ketamine_bzd.parts import shared_records_of, write_dataset, write_merged_parquet
from ketamine_bzd.provenance import KEY_FINGERPRINT_METADATA, check_one_key, check_shared_records
from ketamine_bzd.runner import run


def main(smk, log):
    p = smk.params
    fingerprint = check_one_key(
        {
            f"partition {i}": read_parquet_metadata(path, KEY_FINGERPRINT_METADATA)
            for i, path in enumerate(smk.input.signatures)
        }
    )
    log.info(
        "pseudonymization key fingerprint %s (all %d partitions)", fingerprint, len(smk.input.signatures)
    )
    signatures = pd.concat([pd.read_parquet(f) for f in smk.input.signatures], ignore_index=True)
    shared = check_shared_records(shared_records_of(signatures, p.studies), p.overlapping_studies)
    del signatures
    for row in shared.itertuples():
        log.warning(
            "patient %s of %s is %s of %s (overlapping studies): counted once, in %s",
            row.patient_id,
            row.study,
            row.first_patient_id,
            row.first_study,
            row.first_study,
        )
    # the patients are sorted by study, then pseudonym (as each partition's file is)
    n = write_merged_parquet(
        smk.input.patients, smk.output.patients, p.studies_in_row_order, shared, unique_text=["patient_id"]
    )
    log.info("patients: %d rows from %d partition(s)", n, len(smk.input.patients))
    # the large tables stay the partitions' files (copied; written again only without shared
    # records): no row of the tens of millions at registry scale is decoded or encoded here
    for name in ("visits", "medication_daily"):
        n = write_dataset(smk.input[name], smk.output[name], shared)
        log.info("%s: %d rows in %d file(s)", name, n, len(smk.input[name]))
    patients = pd.read_parquet(smk.output.patients, columns=SUMMARY_INPUT_COLUMNS)
    summary = summarize(patients)
    write_table(summary, smk.output.summary, p.data_source)
    report = read_table(smk.input.ingest_report).drop(columns=[DATA_SOURCE_COLUMN])
    provenance = report[["study", "file", "sha256", "key_fingerprint", "rows_read"]].assign(
        shared_records_dropped=report["study"].map(shared["study"].value_counts()).fillna(0).astype("int64")
    )
    write_table(provenance, smk.output.provenance, p.data_source)
    log.info("cohort summary:\n%s", summary.to_string(index=False))


run(snakemake, main)  # noqa: F821
