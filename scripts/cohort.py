"""Snakemake entry point: the cohort of one partition of patients (merge studies, compute dose
equivalents, derive); records shared between studies are resolved in ``cohort_merge``."""

import pandas as pd

from ketamine_bzd.cohort import CohortSettings, add_equivalents, derive, merge
from ketamine_bzd.equivalents import load_table
from ketamine_bzd.io import (
    read_parquet_metadata,
    read_study_tables,
    write_parquet_with_metadata,
    write_table,
    write_table_from_categories,
)
from ketamine_bzd.parts import SIGNATURE_COLUMNS
from ketamine_bzd.provenance import KEY_FINGERPRINT_METADATA, check_one_key, record_signatures
from ketamine_bzd.runner import run


def signature_rows(tables) -> pd.DataFrame:
    """``SIGNATURE_COLUMNS`` of one study's patients, built column-wise (no row loop)."""
    sig = record_signatures(tables)
    study, patient_id, signature = SIGNATURE_COLUMNS
    return pd.DataFrame({study: tables.study, patient_id: sig.index, signature: sig.to_numpy()}, dtype="str")


def main(smk, log):
    p = smk.params
    studies = [
        read_study_tables(study, *files, text_as_categories=True)
        for study, files in zip(p.studies, zip(smk.input.subjects, smk.input.ratings, smk.input.medication))
    ]
    fingerprint = check_one_key(
        {
            study: read_parquet_metadata(path, KEY_FINGERPRINT_METADATA)
            for study, path in zip(p.studies, smk.input.subjects)
        }
    )
    log.info(
        "partition %s: pseudonymization key fingerprint %s (all studies)", smk.wildcards.part, fingerprint
    )
    # a shared record has another pseudonym (and so partition) in each study: cohort_merge
    # compares these signatures over all partitions
    signatures = pd.concat([signature_rows(t) for t in studies], ignore_index=True)
    write_parquet_with_metadata(signatures, smk.output.signatures, {KEY_FINGERPRINT_METADATA: fingerprint})
    merged = merge(studies)
    del studies  # memory: the merged tables are a copy
    diazepam = load_table(smk.input.diazepam_table)
    fluoxetine = load_table(smk.input.fluoxetine_table)
    log.info("equivalence tables: %s, %s", diazepam.name, fluoxetine.name)
    # text columns as categoricals: the sort takes codes, not millions of strings, and the
    # file is written from them (write_table_from_categories)
    medication = add_equivalents(merged.medication, diazepam, fluoxetine, text_as_categories=True)
    merged.medication = merged.medication.iloc[:0]  # derive reads the sorted copy only
    settings = CohortSettings(
        dose_window=tuple(p.dose_window),
        user_max_days_per_week=p.user_max_days_per_week,
        response_min_reduction=p.response_min_reduction,
    )
    cohort = derive(merged, medication, settings, text_as_categories=True)
    write_table(cohort.patients, smk.output.patients, p.data_source)
    # one visits file per study: the merged visits are sorted by study first (cohort_merge)
    study = cohort.visits["study"]
    for name, path in zip(p.studies, smk.output.visits):
        write_table_from_categories(cohort.visits[(study == name).to_numpy()], path, p.data_source)
    write_table_from_categories(cohort.medication_daily, smk.output.medication_daily, p.data_source)
    log.info(
        "partition %s: %d patients, %d visit rows, %d medication rows",
        smk.wildcards.part,
        len(cohort.patients),
        len(cohort.visits),
        len(cohort.medication_daily),
    )


run(snakemake, main)  # noqa: F821
