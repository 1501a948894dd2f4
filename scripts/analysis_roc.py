"""Snakemake entry point: ROC of the diazepam-equivalent dose for nonresponse (each population)."""

from ketamine_bzd import analysis as a
from ketamine_bzd.io import read_table, write_json, write_table
from ketamine_bzd.runner import run


def main(smk, log):
    p = smk.params
    settings = a.AnalysisSettings.from_config(p.analysis)
    patients = a.add_groups(read_table(smk.input.patients), settings.bzd_cutoff_mg)
    result, coordinates = a.roc(patients, settings)
    for w in result["warnings"]:
        log.warning(w)
    for pop, block in result["populations"].items():
        if block.get("estimable"):
            log.info(
                "%s: AUC %.3f, criterion %s, p %.3g", pop, block["auc"], block["criterion"], block["p_value"]
            )
    write_json({"settings": settings.to_dict(), **result}, smk.output.roc, p.data_source)
    write_table(coordinates, smk.output.coordinates, p.data_source)


run(snakemake, main)  # noqa: F821
