"""Snakemake entry point: Table 1 (responders vs nonresponders) and Table 2 (BZD+ vs BZD-)."""

from pathlib import Path

from ketamine_bzd import analysis as a
from ketamine_bzd import paper
from ketamine_bzd.io import read_table, write_table
from ketamine_bzd.runner import run


def main(smk, log):
    p = smk.params
    settings = a.AnalysisSettings.from_config(p.analysis)
    patients = a.add_groups(read_table(smk.input.patients), settings.bzd_cutoff_mg)
    tables = {
        "table1": ("response_group", (a.RESPONDERS, a.NONRESPONDERS), paper.TABLE1_ROWS, paper.TABLE1_TITLE),
        "table2": (
            "bzd_group",
            (a.BZD_PLUS, a.BZD_MINUS),
            paper.TABLE2_ROWS,
            paper.TABLE2_TITLE.replace("cut-off", f"{settings.bzd_cutoff_mg:g}"),
        ),
    }
    for name, (group, groups, rows, title) in tables.items():
        table, warnings = a.comparison_table(patients, group, groups, rows)
        for w in warnings + [f"{r.variable}: {r.warnings}" for r in table.itertuples() if r.warnings]:
            log.warning("%s: %s", name, w)
        write_table(table, smk.output[f"{name}_csv"], p.data_source)
        Path(smk.output[f"{name}_md"]).write_text(a.table_markdown(table, title, warnings, p.data_source))
        log.info("%s: %d rows, groups %s", name, len(table), groups)


run(snakemake, main)  # noqa: F821
