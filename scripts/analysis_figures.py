"""Snakemake entry point: Figure 1 (ROC), Figure 2 (MADRS course), dose-response plot."""

import json
from pathlib import Path

from ketamine_bzd import analysis as a
from ketamine_bzd import figures as f
from ketamine_bzd.io import read_table
from ketamine_bzd.runner import run


def main(smk, log):
    p = smk.params
    settings = a.AnalysisSettings.from_config(p.analysis)
    patients = a.add_groups(read_table(smk.input.patients), settings.bzd_cutoff_mg)
    roc = json.loads(Path(smk.input.roc).read_text())
    logistic = json.loads(Path(smk.input.logistic).read_text())
    coordinates = read_table(smk.input.coordinates)
    posthoc = read_table(smk.input.posthoc)
    dpi = p.analysis["figures"]["dpi"]
    figures = {
        "figure1": f.roc_figure(coordinates, roc, p.data_source),
        "figure2": f.madrs_course_figure(
            patients, posthoc, p.data_source, cutoff_mg=settings.bzd_cutoff_mg, alpha=settings.alpha
        ),
        "dose_response": f.dose_response_figure(
            patients, p.data_source, settings.bzd_cutoff_mg, logistic["dose_correlation_day7"]["all"]
        ),
    }
    for name, fig in figures.items():
        stem = Path(smk.output[f"{name}_png"]).with_suffix("")
        for path in f.save(fig, stem, dpi):
            log.info("wrote %s", path)


run(snakemake, main)  # noqa: F821
