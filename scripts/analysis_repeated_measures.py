"""Snakemake entry point: RM-ANOVA (BZD group x visit), post hoc tests, linear mixed model."""

from ketamine_bzd import analysis as a
from ketamine_bzd.io import read_table, write_json, write_table
from ketamine_bzd.runner import run


def main(smk, log):
    p = smk.params
    settings = a.AnalysisSettings.from_config(p.analysis)
    patients = a.add_groups(read_table(smk.input.patients), settings.bzd_cutoff_mg)
    rm, posthoc, mixed = a.repeated_measures(patients, settings)
    for w in a.collect_warnings(rm, "rm_anova") + a.collect_warnings(mixed, "mixed_model"):
        log.warning(w)
    if rm["estimable"]:
        gxt = rm["effects"]["group_x_time"]
        log.info(
            "group x time: F(%s,%s) = %s, p = %s, p_GG = %s",
            gxt["df1"],
            gxt["df2"],
            gxt["f"],
            gxt["p_value"],
            gxt["p_gg"],
        )
    write_json({"settings": settings.to_dict(), **rm}, smk.output.rm_anova, p.data_source)
    write_table(posthoc, smk.output.posthoc, p.data_source)
    write_json({"settings": settings.to_dict(), **mixed}, smk.output.mixed, p.data_source)


run(snakemake, main)  # noqa: F821
