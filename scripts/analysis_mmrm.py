"""Snakemake entry point: MMRM of the MADRS change from baseline and its LS-mean figure."""

from pathlib import Path

from ketamine_bzd import analysis as a
from ketamine_bzd import figures as f
from ketamine_bzd.io import read_table, write_json
from ketamine_bzd.runner import run


def main(smk, log):
    p = smk.params
    settings = a.AnalysisSettings.from_config(p.analysis)
    patients = a.add_groups(read_table(smk.input.patients), settings.bzd_cutoff_mg)
    result = a.mmrm_analysis(patients, settings)
    for w in a.collect_warnings(result, "mmrm"):
        log.warning(w)
    if result.get("estimable") and result.get("converged"):
        for c in result["contrasts"]:
            log.info(
                "%s: %s - %s = %.3f (SE %.3f, df %.2f), p = %.4f",
                c["visit"],
                c["group_1"],
                c["group_2"],
                c["estimate"],
                c["se"],
                c["df"],
                c["p_value"],
            )
    write_json({"settings": settings.to_dict(), **result}, smk.output.mmrm, p.data_source)
    fig = f.mmrm_figure(result, p.data_source, settings.bzd_cutoff_mg)
    for path in f.save(fig, Path(smk.output.figure_png).with_suffix(""), p.analysis["figures"]["dpi"]):
        log.info("wrote %s", path)


run(snakemake, main)  # noqa: F821
