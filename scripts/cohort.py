"""Snakemake entry point: merge studies, compute dose equivalents, derive the cohort."""

from ketamine_bzd.cohort import CohortSettings, add_equivalents, derive, merge, summarize
from ketamine_bzd.equivalents import load_table
from ketamine_bzd.io import read_study_tables, write_table
from ketamine_bzd.runner import run


def main(smk, log):
    p = smk.params
    studies = [
        read_study_tables(study, *files)
        for study, files in zip(
            p.studies, zip(smk.input.subjects, smk.input.ratings, smk.input.medication)
        )
    ]
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
    log.info("cohort summary:\n%s", summary.to_string(index=False))


run(snakemake, main)  # noqa: F821
