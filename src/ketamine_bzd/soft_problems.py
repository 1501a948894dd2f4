"""Soft problems found at ingest, counted by kind for ``results/qc/soft_problems.csv``.

Adapters report soft problems (rows kept, but something is off) as one line each of the form
``<file> row <n>: <what>`` (``formats.common.IngestResult.warnings``, free of raw identifiers).
Here they are classified and counted per kind and study, with the first occurrence as an
example location (file name and row number only), so that they reach QC and the report, not
only the rule log.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

SOFT_PROBLEM_COLUMNS = ["kind", "study", "count", "example"]
_LINE = re.compile(r"^(?P<file>.+?) row (?P<row>\d+): (?P<what>.*)$", re.S)
# kind -> pattern of the adapter's message (first match wins)
KINDS = {
    "off-schedule visit (dated > 2 days from its nominal study day or across the infusion)": re.compile(
        r"^visit .* dated study day"
    ),
    "prescription clipped to the study period": re.compile(r"clipped to the study period"),
    # sdtm (docs/data-contract.md, section 6)
    "partial medication date imputed (SDTM CM)": re.compile(r"^partial CM(ST|EN)DTC .* imputed"),
    "rating total missing: partial item set (SDTM QS)": re.compile(r"has no total record and items"),
    "RFSTDTC differs from the first study-drug exposure (SDTM)": re.compile(r"^RFSTDTC .* differs"),
    "subject not exposed to the study drug, not analysed (SDTM)": re.compile(
        r"not exposed to the study drug"
    ),
}
OTHER = "other"


def classify(warning: str) -> tuple[str, str]:
    """(kind, example location "file row n") of one adapter warning."""
    m = _LINE.match(warning)
    what = m["what"] if m else warning
    # without a location, the (capped) message itself is the example
    where = f"{Path(m['file']).name} row {m['row']}" if m else what[:80]
    for kind, pattern in KINDS.items():
        if pattern.search(what):
            return kind, where
    return OTHER, where


def count_soft_problems(study: str, warnings: list[str]) -> pd.DataFrame:
    """One row per kind: how many, and where the first one is."""
    rows: dict[str, list] = {}
    for w in warnings:
        kind, where = classify(w)
        if kind in rows:
            rows[kind][2] += 1
        else:
            rows[kind] = [kind, study, 1, where]
    frame = pd.DataFrame(list(rows.values()), columns=SOFT_PROBLEM_COLUMNS)
    return frame.astype({"count": "int64"}).sort_values("kind", ignore_index=True)


def summary_line(study: str, problems: pd.DataFrame) -> str:
    """One line for the console, e.g. ``ingest ket2013: 2 soft problems (off-schedule ...: 2)``."""
    total = int(problems["count"].sum()) if len(problems) else 0
    if not total:
        return f"ingest {study}: no soft problems"
    kinds = ", ".join(f"{k}: {n}" for k, n in zip(problems["kind"], problems["count"]))
    return (
        f"ingest {study}: {total} soft problem(s) ({kinds}); rows kept, listed in "
        "results/qc/soft_problems.csv"
    )
