"""Export the columns the logistic reference needs from a workflow ``patients.parquet``.

The synthetic cohorts behind ``data/synthetic_*.csv`` come from the workflow itself (in a
scratch copy of the repository, not in a shared checkout whose ``results/`` others use)::

    printf 'synthetic:\\n  enabled: true\\n  seed: 7\\n  n_patients: 30\\n' > /tmp/s7.yaml
    snakemake --cores 1 results/cohort/patients.parquet --configfile config.yaml /tmp/s7.yaml
    python tests/reference/export_synthetic.py results/cohort/patients.parquet synthetic_seed7_n30.csv

(``synthetic_default_n47.csv``: the same without the overlay, i.e. seed 20200819, 47 patients.)
``synthetic_default_n47_study.csv`` (the heterogeneity reference, ``meta.R``) adds the ``study``
column: ``python tests/reference/export_synthetic.py patients.parquet synthetic_default_n47_study.csv --study``
(exported at commit 446fbcd; the synthetic cohort differs from the 1270ba3 snapshot).
``bzd_plus`` is added as the analysis stage adds it (``analysis.add_groups``, cut-off 8 mg).
Floats are written with full precision so R reads the same numbers.
"""

from __future__ import annotations

import sys

import pandas as pd

from ketamine_bzd.analysis import add_groups

COLUMNS = ["patient_id", "responder", "diazepam_eq_mg", "bzd_plus", "madrs_day0", "bai_day0"]


def main(src: str, dst: str, with_study: bool = False) -> None:
    patients = add_groups(pd.read_parquet(src), 8)
    columns = [*COLUMNS[:1], "study", *COLUMNS[1:]] if with_study else COLUMNS
    patients[columns].to_csv(dst, index=False)


if __name__ == "__main__":
    main(*sys.argv[1:3], with_study="--study" in sys.argv[3:])
