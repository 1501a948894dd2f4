"""Errors and quarantine records shared by every ingest adapter.

A hard error stops the run with one message naming the file, row, column and value; a soft
problem keeps the row (flagged) or moves it to the quarantine table with its reason, so that
rows read = rows accepted + rows quarantined for every file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

QUARANTINE_COLUMNS = ["study", "file", "row", "column", "value", "reason"]


class IngestError(ValueError):
    """A raw export that cannot be ingested. ``row`` is the 1-based data row (header excluded)."""

    def __init__(self, file, reason, row=None, column=None, value=None):
        self.file, self.reason, self.row, self.column, self.value = (
            str(file),
            reason,
            row,
            column,
            value,
        )
        where = [f"file {self.file}"]
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        if value is not None:
            where.append(f"value {value!r}")
        super().__init__(f"{', '.join(where)}: {reason}")


@dataclass
class Quarantine:
    """Rows excluded at ingest, each with its reason (never silently dropped)."""

    study: str
    records: list[dict] = field(default_factory=list)

    def add(self, file, row, column, value, reason) -> None:
        self.records.append(
            {
                "study": self.study,
                "file": str(file),
                "row": int(row),
                "column": column,
                "value": None if value is None else str(value),
                "reason": reason,
            }
        )

    def count(self, file) -> int:
        return sum(1 for r in self.records if r["file"] == str(file))

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.records, columns=QUARANTINE_COLUMNS).astype(
            {"row": "int64"}
        )
