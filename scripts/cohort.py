"""Snakemake entry point: merge studies, compute dose equivalents, derive the cohort."""

import pandas as pd

from ketamine_bzd.cohort import CohortSettings, add_equivalents, derive, merge, summarize
from ketamine_bzd.equivalents import load_table
from ketamine_bzd.io import read_parquet_metadata, read_study_tables, read_table, write_table
from ketamine_bzd.provenance import (
    KEY_FINGERPRINT_METADATA,
    check_one_key,
    resolve_shared_records,
)
from ketamine_bzd.runner import run


def main(smk, log):
    p = smk.params
    studies = [
        read_study_tables(study, *files)
        for study, files in zip(
            p.studies, zip(smk.input.subjects, smk.input.ratings, smk.input.medication)
        )
    ]
    fingerprint = check_one_key({
        study: read_parquet_metadata(path, KEY_FINGERPRINT_METADATA)
        for study, path in zip(p.studies, smk.input.subjects)
    })
    log.info("pseudonymization key fingerprint %s (all studies)", fingerprint)
    studies, shared = resolve_shared_records(studies, p.overlapping_studies)
    for row in shared.itertuples():
        log.warning("patient %s of %s is %s of %s (overlapping studies): counted once, in %s",
                    row.patient_id, row.study, row.first_patient_id, row.first_study, row.first_study)
    merged = merge(studies)
    diazepam = load_table(smk.input.diazepam_table)
    fluoxetine = load_table(smk.input.fluoxetine_table)
    log.info("equivalence tables: %s, %s", diazepam.name, fluoxetine.name)
    medication = add_equivalents(merged.medication, diazepam, fluoxetine)
    settings = CohortSettings(
        dose_window=tuple(p.dose_window),
        user_max_days_per_week=p.user_max_days_per_week,
        response_min_reduction=p.response_min_reduction,
    )
    cohort = derive(merged, medication, settings)
    write_table(cohort.patients, smk.output.patients, p.data_source)
    write_table(cohort.visits, smk.output.visits, p.data_source)
    write_table(cohort.medication_daily, smk.output.medication_daily, p.data_source)
    summary = summarize(cohort.patients)
    write_table(summary, smk.output.summary, p.data_source)
    provenance = pd.concat([read_table(f) for f in smk.input.ingest_reports], ignore_index=True)
    provenance = provenance[["study", "file", "sha256", "key_fingerprint", "rows_read"]].assign(
        shared_records_dropped=provenance["study"].map(shared["study"].value_counts())
        .fillna(0).astype("int64")
    )
    write_table(provenance, smk.output.provenance, p.data_source)
    log.info("cohort summary:\n%s", summary.to_string(index=False))


run(snakemake, main)  # noqa: F821
