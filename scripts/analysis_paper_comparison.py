"""Snakemake entry point: every number the paper reports next to the reproduced value."""

import json
from pathlib import Path

from ketamine_bzd import analysis as a
from ketamine_bzd import paper
from ketamine_bzd.io import read_table, write_table
from ketamine_bzd.runner import run
from ketamine_bzd.shipped import use_resources


def main(smk, log):
    with use_resources({paper.PAPER_NUMBERS_FILE: smk.input.paper_numbers}):  # the rule's input
        compare(smk, log)


def compare(smk, log):
    p = smk.params
    settings = a.AnalysisSettings.from_config(p.analysis)
    patients = a.add_groups(read_table(smk.input.patients), settings.bzd_cutoff_mg)
    loaded = {
        k: json.loads(Path(smk.input[k]).read_text()) for k in ("roc", "response", "logistic", "rm_anova")
    }
    quantities = paper.reproduced_quantities(
        facts=a.cohort_facts(patients),
        table1=read_table(smk.input.table1),
        table2=read_table(smk.input.table2),
        posthoc=read_table(smk.input.posthoc),
        **loaded,
    )
    comparison = paper.compare(quantities)
    missing = comparison["reproduced_value"].isna().sum()
    if missing:
        log.warning("%d paper number(s) not reproduced (see the note column)", missing)
    agree = comparison["agrees_at_printed_precision"]
    log.info(
        "%d paper numbers: %d agree at printed precision, %d differ, %d not compared",
        len(comparison),
        int((agree == True).sum()),  # noqa: E712 (a nullable column: NA is neither)
        int((agree == False).sum()),  # noqa: E712
        int(agree.isna().sum()),
    )
    write_table(comparison, smk.output.comparison, p.data_source)


run(snakemake, main)  # noqa: F821
