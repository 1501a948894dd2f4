"""Snakemake entry point: response by BZD group (Fisher) and the logistic regressions."""

from ketamine_bzd import analysis as a
from ketamine_bzd.io import read_table, write_json
from ketamine_bzd.runner import run


def main(smk, log):
    p = smk.params
    settings = a.AnalysisSettings.from_config(p.analysis)
    patients = a.add_groups(read_table(smk.input.patients), settings.bzd_cutoff_mg)
    response = a.response(patients, settings)
    logistic = a.logistic(patients, settings)
    for w in response["warnings"] + logistic["warnings"]:
        log.warning(w)
    r = response["response_by_bzd_group"]
    log.info("response BZD+ vs BZD-: %s, Fisher p %s", r["table"], r["p_value"])
    write_json({"settings": settings.to_dict(), **response}, smk.output.response, p.data_source)
    write_json({"settings": settings.to_dict(), **logistic}, smk.output.logistic, p.data_source)


run(snakemake, main)  # noqa: F821
