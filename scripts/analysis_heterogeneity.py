"""Snakemake entry point: study heterogeneity of the paper's adjusted OR, and its forest plot."""

from pathlib import Path

from ketamine_bzd import analysis as a
from ketamine_bzd import figures as f
from ketamine_bzd import heterogeneity as h
from ketamine_bzd.io import read_table, write_json
from ketamine_bzd.runner import run


def main(smk, log):
    p = smk.params
    settings = a.AnalysisSettings.from_config(p.analysis)
    patients = a.add_groups(read_table(smk.input.patients), settings.bzd_cutoff_mg)
    result = h.study_heterogeneity(patients, settings)
    for w in result["warnings"]:
        log.warning(w)
    if result["pooled"]["estimable"] and result["pooled"]["reml"]["estimable"]:
        reml = result["pooled"]["reml"]
        log.info(
            "%d studies: Q = %.3f (df %d, p = %.4f), I2 (REML) = %.1f %%, pooled OR (REML) %.3f",
            result["n_studies_pooled"],
            reml["q"],
            reml["q_df"],
            reml["q_p_value"],
            reml["i2_percent"],
            reml["odds_ratio"],
        )
    write_json({"settings": settings.to_dict(), **result}, smk.output.heterogeneity, p.data_source)
    stem = Path(smk.output.forest_png).with_suffix("")
    for path in f.save(h.forest_figure(result, p.data_source), stem, p.analysis["figures"]["dpi"]):
        log.info("wrote %s", path)


run(snakemake, main)  # noqa: F821
